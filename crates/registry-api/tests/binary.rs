//! The real `anip-registry` binary: migrate-only, production refusals, and a graceful SIGTERM
//! that flushes download counts.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_anip-registry");

fn registry(envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().env("RUST_LOG", "info");
    for (key, value) in envs {
        command.env(key, value);
    }
    command
}

fn run(envs: &[(&str, &str)]) -> Output {
    registry(envs).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const DEAD_DB: &str = "postgres://registry:pw-not-shown@127.0.0.1:1/registry";

/// Every stdout line of the binary, parsed: stdout carries JSON log lines only.
fn stdout_json(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a stdout line is not JSON ({e}): {line:?}"))
        })
        .collect()
}

/// The one `registry_migrations` event of a migrate-only run.
fn migrations_event(output: &Output) -> serde_json::Value {
    let events: Vec<_> = stdout_json(output)
        .into_iter()
        .filter(|line| line["event"] == "registry_migrations")
        .collect();
    assert_eq!(events.len(), 1, "{}", text(output));
    events.into_iter().next().unwrap()
}

#[tokio::test]
async fn migrate_only_applies_reports_and_exits() {
    let db = store::testing::empty_database().await;
    let first = run(&[
        ("ANIP_REGISTRY_DATABASE_URL", &db.url),
        ("ANIP_REGISTRY_MIGRATE_ONLY", "1"),
    ]);
    assert!(first.status.success(), "{}", text(&first));
    let names: Vec<String> = (registry_api::MIGRATIONS.runner)()
        .get_migrations()
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = names.len();
    let event = migrations_event(&first);
    assert_eq!(event["service"], "anip-registry", "{event}");
    assert_eq!(event["level"], "INFO", "{event}");
    // `applied_now` and `pending` are the lists in debug form, `applied` a count.
    assert_eq!(event["applied_now"], format!("{names:?}"), "{event}");
    assert_eq!(event["applied"], all, "{event}");
    assert_eq!(event["pending"], "[]", "{event}");
    let second = run(&[
        ("ANIP_REGISTRY_DATABASE_URL", &db.url),
        ("ANIP_REGISTRY_MIGRATE_ONLY", "yes"),
    ]);
    assert!(second.status.success(), "{}", text(&second));
    let event = migrations_event(&second);
    assert_eq!(event["applied_now"], "[]", "{event}");
    assert_eq!(event["applied"], all, "{event}");
    assert_eq!(event["pending"], "[]", "{event}");
}

#[test]
fn migrate_only_fails_clearly_when_the_database_is_unreachable() {
    let output = run(&[
        ("ANIP_REGISTRY_DATABASE_URL", DEAD_DB),
        ("ANIP_REGISTRY_MIGRATE_ONLY", "true"),
    ]);
    assert!(!output.status.success());
    let all = text(&output);
    assert!(
        all.contains("unreachable") || all.contains("127.0.0.1:1"),
        "{all}"
    );
    assert!(!all.contains("pw-not-shown"), "the password leaked: {all}");
}

#[test]
fn production_refuses_missing_dev_and_malformed_keys() {
    use base64::Engine as _;
    let dev_seed = base64::engine::general_purpose::STANDARD.encode(signing::digest::sha256(
        signing::ed25519::DEV_KEY_SEED_TEXT.as_bytes(),
    ));
    let malformed = "SECRET-MATERIAL-not-base64!!";
    let good = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![], "ANIP_REGISTRY_KEY_ID", None),
        (
            vec![("ANIP_REGISTRY_KEY_ID", "prod-1")],
            "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
            None,
        ),
        (
            vec![
                ("ANIP_REGISTRY_KEY_ID", "prod-1"),
                ("ANIP_REGISTRY_ED25519_PRIVATE_KEY", &dev_seed),
            ],
            "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
            Some(&dev_seed),
        ),
        (
            vec![
                ("ANIP_REGISTRY_KEY_ID", "prod-1"),
                ("ANIP_REGISTRY_ED25519_PRIVATE_KEY", malformed),
            ],
            "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
            Some(malformed),
        ),
        (
            vec![
                ("ANIP_REGISTRY_KEY_ID", "prod-1"),
                ("ANIP_REGISTRY_ED25519_PRIVATE_KEY", &good),
                ("ANIP_REGISTRY_PUBLISH_TOKEN", "short-secret"),
            ],
            "ANIP_REGISTRY_PUBLISH_TOKEN",
            Some("short-secret"),
        ),
    ];
    for (extra, variable, secret) in cases {
        let mut envs = vec![
            ("ANIP_REGISTRY_DATABASE_URL", DEAD_DB),
            ("ANIP_REGISTRY_MODE", "production"),
        ];
        envs.extend(extra);
        let started = Instant::now();
        let output = run(&envs);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{variable}: {all}");
        assert!(
            all.contains(variable),
            "the message must name {variable}: {all}"
        );
        if let Some(secret) = secret {
            assert!(!all.contains(secret), "the secret leaked: {all}");
        }
        // Refused before touching the (dead) database.
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // An unknown mode and a bad boolean are refused by name too.
    let output = run(&[
        ("ANIP_REGISTRY_DATABASE_URL", DEAD_DB),
        ("ANIP_REGISTRY_MODE", "staging"),
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("ANIP_REGISTRY_MODE") || text(&output).contains("--mode"),
        "{}",
        text(&output)
    );
    let output = run(&[
        ("ANIP_REGISTRY_DATABASE_URL", DEAD_DB),
        ("ANIP_REGISTRY_RUN_MIGRATIONS", "maybe"),
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("run-migrations")
            || text(&output).contains("ANIP_REGISTRY_RUN_MIGRATIONS")
    );
}

#[tokio::test]
async fn serves_and_flushes_download_counts_on_sigterm() {
    let db = database().await;
    let port = store::free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let child = registry(&[
        ("ANIP_REGISTRY_DATABASE_URL", &db.url),
        ("ANIP_REGISTRY_ADDR", &addr),
        ("ANIP_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN),
        ("ANIP_REGISTRY_PUBLISHER_ID", PUBLISHER_ID),
        ("ANIP_REGISTRY_PUBLISHER_TYPE", PUBLISHER_TYPE),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let api = format!("http://{addr}/registry-api/v1");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{api}/readyz")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the registry did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = client
        .post(format!("{api}/publications"))
        .bearer_auth(PUBLISH_TOKEN)
        .json(&publish_request("binary-pkg", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    for _ in 0..3 {
        let response = client
            .get(format!("{api}/packages/binary-pkg/1.0.0/download"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let logs = text(&output);
    assert!(
        !logs.contains(PUBLISH_TOKEN),
        "the publish token leaked into the logs"
    );
    assert!(logs.contains("registry_publish_succeeded"));
    let pool = db.pool();
    let count: i64 = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT download_count FROM registry_packages WHERE package_id = 'binary-pkg'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3, "download counts must survive a graceful shutdown");
}
