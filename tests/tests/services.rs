//! The three binaries, started for real against a private Postgres: health, readiness, metrics,
//! migrate-only mode, configuration errors and graceful shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{free_port, wait_for_status, Running, Service};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Every service starts, migrates, becomes ready, counts requests by route pattern (never the
/// raw path of an unmatched request) and exits cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread")]
async fn each_service_serves_health_metrics_and_stops_on_sigterm() {
    let http = client();
    for service in Service::ALL {
        let db = store::testing::empty_database().await;
        let port = free_port();
        let running = Running::spawn(service, service.command(&db.url, port), port);
        let [live, ready, metrics] = service.health_paths();

        wait_for_status(&http, &running.url(ready), 200, Duration::from_secs(30)).await;
        // The container health check: the binary itself, no shell, no configuration.
        let check = std::process::Command::new(common::binary(service.binary()))
            .args(["healthcheck", &running.url(ready)])
            .env_clear()
            .output()
            .unwrap();
        assert!(check.status.success(), "{service:?} healthcheck: {check:?}");
        let dead = std::process::Command::new(common::binary(service.binary()))
            .args(["healthcheck", &format!("http://127.0.0.1:{}/", free_port())])
            .env_clear()
            .output()
            .unwrap();
        assert!(
            !dead.status.success(),
            "{service:?} healthcheck of a closed port"
        );
        let body: serde_json::Value = http
            .get(running.url(live))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["status"], "ok", "{service:?} liveness: {body}");

        let ready_body: serde_json::Value = http
            .get(running.url(ready))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            ready_body["migration"]["applied"], true,
            "{service:?}: {ready_body}"
        );

        let stray = "/no/such/route/4b1d-secret-looking-path";
        let resp = http.get(running.url(stray)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{service:?}");
        let not_found: serde_json::Value = resp.json().await.unwrap();
        assert!(not_found.is_object(), "{service:?}: 404 body is JSON");

        let text = http
            .get(running.url(metrics))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let prefix = service.metrics_prefix();
        let counter = format!("{prefix}_http_requests_total");
        assert!(
            text.lines().any(|l| l.starts_with(&counter)
                && l.contains(&format!("route=\"{live}\""))
                && l.contains("status=\"200\"")),
            "{service:?}: no request counter for {live}:\n{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with(&counter) && l.contains("route=\"unmatched\"")),
            "{service:?}: the unmatched request is not counted under one label"
        );
        assert!(
            !text.contains("4b1d"),
            "{service:?}: a raw path reached a metric label"
        );
        assert!(
            text.contains(&format!("{prefix}_migrations_applied 1")),
            "{service:?}"
        );

        let out = running.terminate();
        assert!(
            out.status.success(),
            "{service:?} exit on SIGTERM: {:?}",
            out.status
        );
        let logs = String::from_utf8_lossy(&out.stdout);
        for line in logs.lines().filter(|l| !l.trim().is_empty()) {
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
            assert!(
                parsed.is_ok(),
                "{service:?}: a log line is not JSON: {line}"
            );
        }
    }
}

/// Migrate-only mode applies every migration and exits 0 without serving.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_only_applies_and_exits() {
    for service in Service::ALL {
        let db = store::testing::empty_database().await;
        let out = service
            .command(&db.url, free_port())
            .env(service.migrate_only_var(), "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{service:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let client = db.pool().get().await.unwrap();
        let history = format!(
            "{}_schema_history",
            match service {
                Service::Registry => "registry",
                Service::Studio => "studio",
                Service::Runtime => "runtime",
            }
        );
        let row = client
            .query_one(&format!("SELECT count(*) FROM {history}"), &[])
            .await
            .unwrap();
        let applied: i64 = row.get(0);
        assert!(applied >= 1, "{service:?}: nothing applied");
    }
}

/// An unreachable database stops migrate-only with a clear message and a non-zero exit, and the
/// password in the URL appears nowhere in the output.
#[test]
fn migrate_only_against_an_unreachable_database_fails_clearly() {
    let port = free_port();
    for service in Service::ALL {
        let url = format!("postgres://anip:hunter2-very-secret@127.0.0.1:{port}/nothing");
        let out = service
            .command(&url, free_port())
            .env(service.migrate_only_var(), "1")
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{service:?} succeeded against a closed port"
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("unreachable"), "{service:?}: {all}");
        assert!(
            all.contains(&format!("127.0.0.1:{port}")),
            "{service:?}: {all}"
        );
        assert!(
            !all.contains("hunter2"),
            "{service:?} leaked the password: {all}"
        );
    }
}

/// A service started without running migrations reports 503 with the pending list, and turns
/// ready as soon as a migrate-only job has run, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_is_503_while_a_migration_is_pending_and_200_after() {
    let http = client();
    for service in Service::ALL {
        let db = store::testing::empty_database().await;
        let port = free_port();
        let mut cmd = service.command(&db.url, port);
        cmd.env(service.run_migrations_var(), "0");
        let running = Running::spawn(service, cmd, port);
        let [_, ready, _] = service.health_paths();

        let resp = http.get(running.url(ready)).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{service:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "error", "{service:?}: {body}");
        assert!(
            !body["migration"]["pending"].as_array().unwrap().is_empty(),
            "{service:?}: {body}"
        );

        let job = service
            .command(&db.url, free_port())
            .env(service.migrate_only_var(), "1")
            .output()
            .unwrap();
        assert!(job.status.success(), "{service:?} migrate job failed");
        wait_for_status(&http, &running.url(ready), 200, Duration::from_secs(10)).await;
        let _ = running.terminate();
    }
}

/// A boolean variable with an unclear value stops the service at start, naming the setting.
#[test]
fn an_invalid_boolean_is_refused_at_start() {
    for service in Service::ALL {
        let out = service
            .command("postgres://postgres@127.0.0.1:1/x", free_port())
            .env(service.run_migrations_var(), "maybe")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{service:?} accepted 'maybe'");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("maybe"), "{service:?}: {err}");
        assert!(
            err.contains(service.run_migrations_var()),
            "{service:?}: the error does not name the variable: {err}"
        );
    }
}

/// A backend call that gets no answer is counted by connection and reason (the only labels:
/// nothing of the call, URL or credential, reaches the metric).
#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_counts_backend_failures_by_connection_and_reason() {
    let http = client();
    let db = store::testing::empty_database().await;
    let port = free_port();
    let closed = free_port();
    let mut command = Service::Runtime.command(&db.url, port);
    command
        .env(
            "ANIP_RUNTIME_API_KEY_HASHES",
            format!(
                "human:ops@example.com={}",
                signing::secret::token_hash("ops-key")
            ),
        )
        .env(
            "ANIP_RUNTIME_BACKEND_URLS",
            format!("flight_backend=http://127.0.0.1:{closed}"),
        );
    let running = Running::spawn(Service::Runtime, command, port);
    wait_for_status(&http, &running.url("/readyz"), 200, Duration::from_secs(30)).await;

    let issued: serde_json::Value = http
        .post(running.url("/anip/tokens"))
        .bearer_auth("ops-key")
        .json(&serde_json::json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invoked = http
        .post(running.url("/anip/invoke/search_flights"))
        .bearer_auth(issued["token"].as_str().unwrap())
        .json(&serde_json::json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(invoked.status(), 503);

    let text = http
        .get(running.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("anip_runtime_backend_failures_total{"))
        .collect();
    assert_eq!(
        counted,
        ["anip_runtime_backend_failures_total{connection=\"flight_backend\",reason=\"connect\"} 1"],
        "{text}"
    );
    assert!(!text.contains("platform-test-backend-key"));
    let out = running.terminate();
    assert!(out.status.success(), "{:?}", out.status);
}
