//! `shutdown_signal` resolves on SIGTERM (this binary's only test: it signals its own process).

#![cfg(unix)]

use std::time::Duration;

#[tokio::test]
async fn shutdown_signal_resolves_on_sigterm() {
    let signal = observability::server::shutdown_signal();
    tokio::pin!(signal);
    // First polls install the handlers; nothing has been sent yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut signal)
            .await
            .is_err()
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), signal)
        .await
        .expect("shutdown_signal resolves after SIGTERM");
}
