//! Checkpoints published to sinks (SPEC.md §7.6): every checkpoint reaches every sink, in
//! order, byte for byte as signed; a sink that fails is owed its checkpoints until it takes
//! them; the real binary publishes to the sinks the operator configures, and refuses at start a
//! sink it cannot publish to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use signing::Jwks;
use time::OffsetDateTime;

use runtime_service::audit::checkpoint;
use runtime_service::audit::sinks::{self, DeliveryError, Sink};
use runtime_service::backend::client::{trusted_roots, BackendClient};
use runtime_service::db;

use crate::checkpoints::{producer_settings, verify_signature};
use crate::support::{
    flight_definition, flight_runtime, free_port, get_json, get_text, load, run_to_exit,
    search_token, secret_file, spawn_backend, spawn_flight_backend, with_credential_file, Flight,
    RuntimeProcess,
};

/// A loopback sink: answers 503 to the first `failures` deliveries, then 200 with a receipt
/// naming the checkpoint; keeps every body it accepted.
struct SinkServer {
    url: String,
    accepted: Arc<Mutex<Vec<String>>>,
    attempts: Arc<Mutex<usize>>,
}

impl SinkServer {
    fn start(failures: usize) -> SinkServer {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0usize));
        let (kept, tried) = (accepted.clone(), attempts.clone());
        let base = spawn_backend(move |cfg| {
            let (kept, tried) = (kept.clone(), tried.clone());
            cfg.route(
                "/checkpoints",
                web::post().to(move |body: String| {
                    let (kept, tried) = (kept.clone(), tried.clone());
                    async move {
                        let attempt = {
                            let mut tried = tried.lock().unwrap();
                            *tried += 1;
                            *tried
                        };
                        if attempt <= failures {
                            return HttpResponse::ServiceUnavailable().body("busy");
                        }
                        let id = serde_json::from_str::<Value>(&body).unwrap()["body"]
                            ["checkpoint_id"]
                            .clone();
                        kept.lock().unwrap().push(body);
                        HttpResponse::Ok().json(json!({"receipt_for": id, "witness": "test"}))
                    }
                }),
            );
        });
        SinkServer {
            url: format!("{base}/checkpoints"),
            accepted,
            attempts,
        }
    }

    fn accepted(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect()
    }

    fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
}

/// What a sink holds, as the list endpoint shows a checkpoint: the body plus its signature.
fn as_listed(delivered: &Value) -> Value {
    let mut checkpoint = delivered["body"].clone();
    checkpoint["signature"] = delivered["signature"].clone();
    checkpoint
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "anip-sink-{name}-{}",
        runtime_service::ids::random_hex(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[actix_web::test]
async fn every_checkpoint_reaches_every_sink_in_order_and_a_failing_sink_catches_up() {
    let flight = Flight::start().await;
    let pool = flight.db.pool();
    let keys = flight.served.runtime.keys.clone();
    let settings = producer_settings(None);
    let (_, jwt) = flight
        .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .await;
    let search =
        json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}});
    let now = OffsetDateTime::now_utc();
    for (minutes, id) in [(0, "ckpt-1"), (2, "ckpt-2")] {
        let (status, body) = flight.invoke(&jwt, "search_flights", search.clone()).await;
        assert_eq!(status, 200, "{body}");
        let at = now + time::Duration::minutes(minutes);
        let produced = checkpoint::produce_if_due(&pool, &keys, &settings, at)
            .await
            .unwrap();
        assert_eq!(produced, checkpoint::Round::Produced(id.into()));
    }

    let server = SinkServer::start(1);
    let http_sink = Sink::parse(&server.url).unwrap();
    let dir = temp_dir("file");
    let file_sink = Sink::parse(&format!("file://{}", dir.display())).unwrap();
    let client = BackendClient::new(trusted_roots(None).unwrap()).unwrap();

    // The first attempt is refused: nothing is recorded, and both checkpoints stay owed.
    let error = sinks::deliver_owed(&pool, &client, &http_sink)
        .await
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Rejected(503)), "{error}");
    assert!(db::checkpoints::deliveries(&pool, &server.url)
        .await
        .unwrap()
        .is_empty());
    // The next round delivers both, oldest first; then nothing is owed.
    assert_eq!(
        sinks::deliver_owed(&pool, &client, &http_sink)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        sinks::deliver_owed(&pool, &client, &http_sink)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        server.attempts(),
        3,
        "one refused and two accepted deliveries"
    );
    // The file sink is independent of the HTTP sink's failure.
    assert_eq!(
        sinks::deliver_owed(&pool, &client, &file_sink)
            .await
            .unwrap(),
        2
    );

    // What each sink holds is what the runtime lists, and verifies with the published audit key.
    let (_, keyset) = flight.get("/.well-known/jwks.json").await;
    let jwks: Jwks = serde_json::from_value(keyset).unwrap();
    let (_, list) = flight.get("/anip/checkpoints").await;
    let mut listed = list["checkpoints"].as_array().unwrap().clone();
    listed.reverse();
    let received = server.accepted();
    assert_eq!(received.len(), 2);
    for (delivered, listed) in received.iter().zip(&listed) {
        assert_eq!(&as_listed(delivered), listed);
        verify_signature(&as_listed(delivered), &jwks);
        let id = delivered["body"]["checkpoint_id"].as_str().unwrap();
        let file = std::fs::read_to_string(dir.join(format!("{id}.json"))).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&file).unwrap(), *delivered);
    }
    assert_eq!(received[0]["body"]["checkpoint_id"], "ckpt-1");
    assert_eq!(received[1]["body"]["checkpoint_id"], "ckpt-2");

    // Each delivery keeps the sink's receipt.
    let deliveries = db::checkpoints::deliveries(&pool, &server.url)
        .await
        .unwrap();
    let receipts: Vec<(i64, Value)> = deliveries
        .iter()
        .map(|d| {
            (
                d.checkpoint_number,
                serde_json::from_str(&d.receipt).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        receipts,
        vec![
            (1, json!({"receipt_for": "ckpt-1", "witness": "test"})),
            (2, json!({"receipt_for": "ckpt-2", "witness": "test"})),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real binary, its sinks replaced by the operator's: a loopback HTTP sink and a directory.
/// Its checkpoint producer and publisher run as in production; the manifest names the sinks
/// used.
#[actix_web::test]
async fn the_binary_publishes_its_checkpoints_to_the_configured_sinks() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let backend_key = runtime_service::ids::random_hex(16);
    let backend_url = spawn_flight_backend(&backend_key);
    let server = SinkServer::start(0);
    let dir = temp_dir("binary");
    let sinks = format!("{},file://{}", server.url, dir.display());
    let port = free_port();
    let mut command = flight_runtime(&db.url, port, &backend_url, &backend_key);
    command.env("ANIP_RUNTIME_CHECKPOINT_SINKS", &sinks);
    let runtime = RuntimeProcess::start(command, port).await;

    let http = reqwest::Client::new();
    let manifest = get_json(&http, &format!("{}/anip/manifest", runtime.url)).await;
    assert_eq!(
        manifest["trust"]["anchoring"]["sink"],
        json!([server.url, format!("file://{}", dir.display())]),
        "{manifest}"
    );

    let jwt = search_token(&http, &runtime.url).await;
    let (status, body) = crate::checkpoints::invoke_search(&http, &runtime.url, &jwt).await;
    assert_eq!(status, 200, "{body}");
    // The example's cadence is 5 s: ckpt-1 is produced, then published, within seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.accepted().is_empty() || !dir.join("ckpt-1.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "ckpt-1 was not published:\n{}",
            runtime.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let delivered = &server.accepted()[0];
    assert_eq!(delivered["body"]["checkpoint_id"], "ckpt-1");
    let listed = get_json(&http, &format!("{}/anip/checkpoints/ckpt-1", runtime.url)).await;
    assert_eq!(as_listed(delivered), listed["checkpoint"], "{listed}");
    // Metrics name each sink by scheme and host only, never its path.
    let sink_label = server.url.trim_end_matches("/checkpoints");
    let series = [
        format!("anip_runtime_checkpoint_deliveries_total{{sink=\"{sink_label}\"}}"),
        "anip_runtime_checkpoint_deliveries_total{sink=\"file\"}".to_owned(),
        format!("anip_runtime_checkpoint_sink_owed{{sink=\"{sink_label}\"}}"),
    ];
    // The counters move just after each delivery is recorded: poll briefly.
    let metrics = loop {
        let metrics = get_text(&http, &format!("{}/metrics", runtime.url)).await;
        if series.iter().all(|s| metrics.contains(s.as_str())) {
            break metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series:?} not all in:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!metrics.contains(&dir.display().to_string()), "{metrics}");
    assert!(!metrics.contains(&server.url), "{metrics}");
    // Each delivery is logged before it is counted.
    let log = runtime.log();
    assert!(log.contains("checkpoint_delivered"), "{log}");
    // A loopback HTTP sink and a file sink are not external: the runtime says so at start.
    assert!(log.contains("checkpoint_sinks_not_external"), "{log}");
    drop(runtime);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[actix_web::test]
async fn a_sink_the_runtime_cannot_publish_to_stops_it_at_start() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    for (sinks, says) in [
        (
            "witness:rekor.sigstore.dev",
            "witness: sinks are not supported",
        ),
        (
            "http://witness.example.com/checkpoints",
            "plain http: is accepted only to a loopback address",
        ),
        (
            "https://witness.example.com/checkpoints?key=hunter2",
            "may not carry a query",
        ),
    ] {
        let mut command = flight_runtime(&db.url, free_port(), "http://127.0.0.1:9", "key");
        command.env("ANIP_RUNTIME_CHECKPOINT_SINKS", sinks);
        let (status, log) = run_to_exit(command).await;
        // 1: refused with a message, as for any setting the runtime cannot start with (a panic
        // would be 101).
        assert_eq!(status.code(), Some(1), "{sinks}:\n{log}");
        assert!(log.contains("runtime_start_failed"), "{sinks}:\n{log}");
        assert!(
            !log.contains("hunter2"),
            "a refused URI's query is not repeated:\n{log}"
        );
        assert!(log.contains(says), "{sinks}:\n{log}");
        assert!(
            log.contains("ANIP_RUNTIME_CHECKPOINT_SINKS"),
            "{sinks}:\n{log}"
        );
    }
}

/// The package's own sinks are used unless the operator replaces them; a declared sink the
/// runtime cannot publish to is refused with the setting that replaces it; a package that is not
/// anchored has nothing to publish.
#[test]
fn the_package_declares_the_sinks_and_the_operator_may_replace_them() {
    let credential = secret_file("unused-backend-key");
    let definition = || with_credential_file(flight_definition(), &credential);
    let declared = load(&definition(), "http://127.0.0.1:9");
    let sinks = sinks::effective(&mut declared.clone(), None).unwrap();
    assert_eq!(
        sinks,
        vec![Sink::parse("https://witness.example.com/anip/checkpoints").unwrap()]
    );

    let mut replaced = declared.clone();
    let mine = "file:///var/lib/anip/checkpoints";
    let sinks = sinks::effective(&mut replaced, Some(mine)).unwrap();
    assert_eq!(sinks, vec![Sink::parse(mine).unwrap()]);
    assert_eq!(replaced.trust.anchoring.as_ref().unwrap().sink, [mine]);

    let mut definition = definition();
    definition["anip_runtime"]["trust"]["anchoring"]["sink"] =
        json!(["witness:rekor.sigstore.dev"]);
    let mut witness = load(&definition, "http://127.0.0.1:9");
    let error = sinks::effective(&mut witness, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("trust.anchoring.sink"), "{error}");
    assert!(
        error.contains("ANIP_RUNTIME_CHECKPOINT_SINKS replaces"),
        "{error}"
    );
    assert!(sinks::effective(&mut witness, Some(mine)).is_ok());

    let mut definition = with_credential_file(flight_definition(), &credential);
    definition["anip_runtime"]["trust"] = json!({"level": "signed"});
    let mut signed = load(&definition, "http://127.0.0.1:9");
    assert!(sinks::effective(&mut signed, None).unwrap().is_empty());
    let error = sinks::effective(&mut signed, Some(mine))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not anchored"), "{error}");
}
