//! `cargo xtask up`: the local platform comes up, Ctrl-C stops everything it started, and a
//! second run reuses the data and the dev secrets.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, free_port};

fn read_env(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn port_is_closed(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn up_starts_everything_stops_on_ctrl_c_and_reuses_data() {
    let state = std::env::temp_dir().join(format!("anip-up-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let up = |extra: &[&str]| {
        let mut cmd = Command::new(binary("xtask"));
        cmd.args(["up", "--no-build", "--state-dir"])
            .arg(&state)
            .args(["--pg-port", &ports[0].to_string()])
            .args(["--registry-port", &ports[1].to_string()])
            .args(["--studio-port", &ports[2].to_string()])
            .args(["--runtime-port", &ports[3].to_string()])
            .args(["--backend-port", &ports[4].to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };

    // First run: wait for local.env, then Ctrl-C (SIGINT to xtask alone, as a terminal's
    // Ctrl-C reaches only xtask: the services run in their own process groups).
    let mut first = up(&[]).spawn().unwrap();
    let env_path = state.join("local.env");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !env_path.exists() {
        assert!(Instant::now() < deadline, "local.env never appeared");
        if let Some(status) = first.try_wait().unwrap() {
            let out = first.wait_with_output().unwrap();
            panic!(
                "xtask up exited early ({status}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let env = read_env(&env_path);
    for key in [
        "ANIP_REGISTRY_URL",
        "ANIP_REGISTRY_PUBLISH_TOKEN",
        "ANIP_REGISTRY_ADMIN_TOKEN",
        "ANIP_REGISTRY_DATABASE_URL",
        "STUDIO_URL",
        "STUDIO_DATABASE_URL",
        "ANIP_RUNTIME_URL",
        "ANIP_RUNTIME_API_KEY",
    ] {
        assert!(env.contains_key(key), "local.env lacks {key}: {env:?}");
    }
    for port in &ports[1..] {
        assert!(
            !port_is_closed(*port),
            "service port {port} is not listening"
        );
    }
    Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "xtask up after Ctrl-C: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for port in &ports {
        assert!(port_is_closed(*port), "port {port} still open after Ctrl-C");
    }
    assert!(
        !state.join("pg/postmaster.pid").exists(),
        "Postgres still running"
    );

    // Second run: the same secrets, the same cluster.
    let out = up(&["--smoke"]).output().unwrap();
    assert!(
        out.status.success(),
        "second xtask up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = read_env(&env_path);
    assert_eq!(
        env["ANIP_REGISTRY_PUBLISH_TOKEN"],
        again["ANIP_REGISTRY_PUBLISH_TOKEN"]
    );
    assert_eq!(env["ANIP_RUNTIME_API_KEY"], again["ANIP_RUNTIME_API_KEY"]);
    for port in &ports {
        assert!(
            port_is_closed(*port),
            "port {port} still open after the smoke run"
        );
    }
    let _ = std::fs::remove_dir_all(&state);
}
