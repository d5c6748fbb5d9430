//! A database that stops answering without closing its connections (a frozen server, a stalled
//! disk, a network that drops packets): every request is answered 503 within the request
//! deadline instead of being held for as long as the stall lasts, and nothing half-written
//! survives it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use store::testing::StallingProxy;

/// Polls `path` until it answers `status` (the test fails after a minute rather than hang).
async fn wait_for(app: &TestApp, path: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (got, body) = app.get_json(path).await;
        if got == status {
            return;
        }
        assert!(Instant::now() < deadline, "{path} stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_stalled_database_is_answered_503_and_loses_nothing() {
    let db = database().await;
    let proxy = StallingProxy::in_front_of(&db.url).await;
    let limits = observability::ServerLimits {
        request_deadline: Duration::from_secs(2),
        ..observability::ServerLimits::default()
    };
    // Lists reach the database: no listing cache, no in-memory catalogue.
    let app = spawn_with_limits(
        &db.url,
        proxy.url(),
        &["--listing-cache-ttl-ms", "0"],
        &limits,
    )
    .await;
    let (status, body) = app.publish(&publish_request("stall", "1.0.0")).await;
    assert_eq!(status, 201, "{body}");
    // Several pooled connections exist before the stall, so requests reach a connection whose
    // query then waits, not only the pool's wait for a new one.
    let warm: Vec<String> = (0..6).map(|i| format!("publications?q=warm-{i}")).collect();
    for (status, body) in futures_util::future::join_all(warm.iter().map(|p| app.get_json(p))).await
    {
        assert_eq!(status, 200, "{body}");
    }

    proxy.stall(true);
    let stalled: Vec<String> = (0..4)
        .map(|i| format!("publications?q=stalled-{i}"))
        .collect();
    let second = publish_request("stall", "2.0.0");
    let answers = tokio::time::timeout(Duration::from_secs(60), async {
        let reads = stalled.iter().map(|p| app.get_json(p));
        let publish = app.publish(&second);
        futures_util::future::join(futures_util::future::join_all(reads), publish).await
    })
    .await
    .expect("requests were held beyond the deadline");
    let (reads, publish) = answers;
    for (status, body) in reads.into_iter().chain([publish]) {
        assert_eq!(status, 503, "{body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message == "registry storage unavailable"
                || message.starts_with("the request was not answered within 2 s"),
            "{body}"
        );
    }
    let (status, _) = app.get_json("healthz").await;
    assert_eq!(status, 200, "liveness does not depend on the database");

    proxy.stall(false);
    wait_for(&app, "readyz", 200).await;
    // The stalled publish may have committed once the database answered again (its commit was
    // on the wire): then the retry is a conflict and the version is whole; otherwise the retry
    // publishes it. Either way it is complete and verifies.
    let (status, body) = app.publish(&second).await;
    assert!(status == 201 || status == 409, "{status}: {body}");
    let (status, record) = app.get_json("packages/stall/2.0.0/download").await;
    assert_eq!(status, 200, "{record}");
    let (status, receipt) = app.get_json("packages/stall/2.0.0/receipt").await;
    assert_eq!(status, 200, "{receipt}");
    verify_receipt(&record, &receipt, &key_set(&app).await);
    let (status, list) = app.get_json("publications?q=stall").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], Value::from(2), "{list}");
}
