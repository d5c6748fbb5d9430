//! Checkpoints verified from the outside: signatures with the published audit key, the
//! previous-checkpoint hash chain, RFC 6962 inclusion proofs for every entry and a consistency
//! proof between checkpoints; retention makes proofs unavailable but never breaks production or
//! the chain; one producer at a time through the lease.

use std::time::Duration;

use serde_json::{json, Value};
use signing::digest::{hex, sha256};
use signing::es256::Es256PublicKey;
use signing::gojson::{to_go_json, GoJsonOptions};
use signing::{jws, Jwks};
use time::OffsetDateTime;

use runtime_service::audit::AuditWriter;
use runtime_service::audit::{checkpoint, merkle, retention, sinks};
use runtime_service::db;
use runtime_service::keys::Keys;

use crate::audit_chain::{all_entries, verify_chain};
use crate::audit_writer::entry;
use crate::support::{
    flight_runtime, free_port, search_token, spawn_flight_backend, Flight, RuntimeProcess,
};

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut input = vec![1u8];
    input.extend_from_slice(left);
    input.extend_from_slice(right);
    sha256(&input)
}

fn from_hex(text: &str) -> [u8; 32] {
    let text = text.trim_start_matches("sha256:");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Independent RFC 6962 inclusion check: the entry's canonical bytes, folded with the path.
fn included(entry: &Value, proof: &Value) -> bool {
    let mut without = entry.as_object().unwrap().clone();
    without.remove("signature");
    let canonical = to_go_json(&Value::Object(without), GoJsonOptions::DIGEST);
    let mut leaf_input = vec![0u8];
    leaf_input.extend_from_slice(canonical.as_bytes());
    let mut current = sha256(&leaf_input);
    for step in proof["path"].as_array().unwrap() {
        let sibling = from_hex(step["hash"].as_str().unwrap());
        current = if step["side"] == "left" {
            node(&sibling, &current)
        } else {
            node(&current, &sibling)
        };
    }
    format!("sha256:{}", hex(&current)) == proof["merkle_root"].as_str().unwrap()
}

pub(crate) fn verify_signature(checkpoint: &Value, jwks: &Jwks) {
    let mut body = checkpoint.as_object().unwrap().clone();
    let signature = body.remove("signature").unwrap();
    let canonical = to_go_json(&Value::Object(body), GoJsonOptions::DIGEST);
    let audit = jwks
        .keys
        .iter()
        .find(|k| k.key_use.as_deref() == Some("audit"))
        .unwrap();
    jws::verify_detached(
        &Es256PublicKey::from_jwk(audit).unwrap(),
        canonical.as_bytes(),
        signature.as_str().unwrap(),
    )
    .expect("checkpoint signature");
}

async fn search(flight: &Flight, jwt: &str, times: usize) {
    for _ in 0..times {
        let (status, body) = flight.invoke(jwt, "search_flights", json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}})).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Settings for a producer of the flight service's checkpoints that the test drives round by
/// round (the 60 s cadence never fires by itself).
pub fn producer_settings(max_lag: Option<i64>) -> checkpoint::ProducerSettings {
    checkpoint::ProducerSettings {
        service_id: "flight-service".into(),
        cadence: Duration::from_secs(60),
        max_lag,
        holder: "t".into(),
        check_every: checkpoint::check_interval(Duration::from_secs(60)),
    }
}

#[actix_web::test]
async fn checkpoints_and_proofs_verify_and_survive_retention() {
    let flight = Flight::start().await;
    let pool = flight.db.pool();
    let keys = flight.served.runtime.keys.clone();
    let settings = producer_settings(Some(1000));
    let (_, jwt) = flight
        .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .await;

    let (status, empty) = flight.get("/anip/checkpoints").await;
    assert_eq!(
        (status, empty["checkpoints"].as_array().unwrap().len()),
        (200, 0)
    );
    search(&flight, &jwt, 5).await;
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        checkpoint::produce_if_due(&pool, &keys, &settings, now)
            .await
            .unwrap(),
        checkpoint::Round::Produced("ckpt-1".into())
    );
    // Not due again before the cadence (and below max_lag).
    search(&flight, &jwt, 6).await;
    assert_eq!(
        checkpoint::produce_if_due(&pool, &keys, &settings, now + time::Duration::seconds(1))
            .await
            .unwrap(),
        checkpoint::Round::NotDue
    );
    let later = now + time::Duration::minutes(2);
    assert_eq!(
        checkpoint::produce_if_due(&pool, &keys, &settings, later)
            .await
            .unwrap(),
        checkpoint::Round::Produced("ckpt-2".into())
    );

    let (_, keyset) = flight.get("/.well-known/jwks.json").await;
    let jwks: Jwks = serde_json::from_value(keyset).unwrap();
    let (_, list) = flight.get("/anip/checkpoints").await;
    let list = list["checkpoints"].as_array().unwrap().clone();
    assert_eq!(
        list.iter()
            .map(|c| c["checkpoint_id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ckpt-2", "ckpt-1"]
    );
    for checkpoint in &list {
        verify_signature(checkpoint, &jwks);
    }
    let mut first_body = list[1].as_object().unwrap().clone();
    first_body.remove("signature");
    let first_hash = format!(
        "sha256:{}",
        hex(&sha256(
            to_go_json(&Value::Object(first_body), GoJsonOptions::DIGEST).as_bytes()
        ))
    );
    assert_eq!(list[0]["previous_checkpoint"], first_hash);
    assert_eq!(
        list[0]["range"],
        json!({"first_sequence": 1, "last_sequence": 11})
    );

    let entries = all_entries(&flight, &jwt).await;
    assert_eq!(entries.len(), 11);
    for (index, entry) in entries.iter().enumerate() {
        let response = flight
            .http
            .get(flight.url(&format!(
                "/anip/checkpoints/ckpt-2?include_proof=true&leaf_index={index}"
            )))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("x-anip-signature"));
        let detail: Value = response.json().await.unwrap();
        let proof = &detail["inclusion_proof"];
        assert_eq!(proof["merkle_root"], list[0]["merkle_root"]);
        assert!(included(entry, proof), "entry {index} is not included");
        assert!(!included(&entries[(index + 1) % entries.len()], proof));
    }
    let (_, detail) = flight
        .get("/anip/checkpoints/ckpt-2?consistency_from=ckpt-1")
        .await;
    let consistency = &detail["consistency_proof"];
    assert_eq!(
        (
            consistency["old_root"].clone(),
            consistency["new_root"].clone()
        ),
        (
            list[1]["merkle_root"].clone(),
            list[0]["merkle_root"].clone()
        )
    );
    let path: Vec<String> = consistency["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert!(merkle::verify_consistency(
        5,
        11,
        consistency["old_root"].as_str().unwrap(),
        consistency["new_root"].as_str().unwrap(),
        &path
    ));
    let (status, _) = flight.get("/anip/checkpoints/ckpt-9").await;
    assert_eq!(status, 404);

    // Retention deletes an expired, checkpointed entry: proofs become unavailable, production
    // and the chain go on.
    let client = pool.get().await.unwrap();
    client.execute("UPDATE runtime_audit_log SET expires_at = now() - interval '1 day' WHERE sequence_number = 1", &[]).await.unwrap();
    assert_eq!(
        retention::sweep(&pool, OffsetDateTime::now_utc(), true)
            .await
            .unwrap(),
        1
    );
    let (status, detail) = flight
        .get("/anip/checkpoints/ckpt-2?include_proof=true&leaf_index=3")
        .await;
    assert_eq!(
        (status, detail["proof_unavailable"].as_str()),
        (200, Some("audit_entries_expired"))
    );
    assert!(detail.get("inclusion_proof").is_none());
    search(&flight, &jwt, 3).await;
    assert_eq!(
        checkpoint::produce_if_due(&pool, &keys, &settings, later + time::Duration::minutes(2))
            .await
            .unwrap(),
        checkpoint::Round::Produced("ckpt-3".into())
    );
    let (_, ckpt3) = flight.get("/anip/checkpoints/ckpt-3").await;
    assert_eq!(ckpt3["checkpoint"]["entry_count"], 14);
    let mut remaining = all_entries(&flight, &jwt).await;
    assert_eq!(remaining[0]["sequence_number"], 2);
    // The chain from entry 2 on still links, starting from the deleted entry's hash.
    let hash_of_first = {
        let mut without = entries[0].as_object().unwrap().clone();
        without.remove("signature");
        format!(
            "sha256:{}",
            hex(&sha256(
                to_go_json(&Value::Object(without), GoJsonOptions::DIGEST).as_bytes()
            ))
        )
    };
    assert_eq!(
        remaining[0]["previous_hash"].as_str(),
        Some(hash_of_first.as_str())
    );
    remaining.insert(0, entries[0].clone());
    verify_chain(&remaining, &jwks);
}

#[actix_web::test]
async fn one_producer_at_a_time_and_a_takeover_after_expiry() {
    let flight = Flight::start().await;
    let pool = flight.db.pool();
    let ttl = Duration::from_millis(800);
    assert!(
        db::leases::try_acquire(&pool, checkpoint::LEASE, "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        !db::leases::try_acquire(&pool, checkpoint::LEASE, "replica-b", ttl)
            .await
            .unwrap()
    );
    assert!(
        db::leases::try_acquire(&pool, checkpoint::LEASE, "replica-a", ttl)
            .await
            .unwrap(),
        "the holder renews"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        db::leases::try_acquire(&pool, checkpoint::LEASE, "replica-b", ttl)
            .await
            .unwrap(),
        "b takes over once a is gone"
    );
    assert!(
        !db::leases::try_acquire(&pool, checkpoint::LEASE, "replica-a", ttl)
            .await
            .unwrap()
    );
}

/// Who holds `key` in `runtime_leases`, if anyone.
async fn lease_holder(pool: &store::Pool, key: &str) -> Option<String> {
    pool.get()
        .await
        .unwrap()
        .query_opt(
            "SELECT holder FROM runtime_leases WHERE lease_key = $1",
            &[&key],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

/// Polls until `holder` holds `key`; panics with `context` after a minute (a safety bound only).
async fn wait_for_holder(
    pool: &store::Pool,
    key: &str,
    holder: &str,
    context: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while lease_holder(pool, key).await.as_deref() != Some(holder) {
        assert!(
            std::time::Instant::now() < deadline,
            "{holder} never held {key} (holder: {:?}):\n{}",
            lease_holder(pool, key).await,
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first entry of a quiet log is checkpointed at once: after a round that found every entry
/// covered, the producer also wakes when the replica's writer commits, not only at its next tick
/// (an hour away here). The upstream conformance suite looks for a checkpoint a moment after a
/// fresh service's first invocations.
#[actix_web::test]
async fn a_quiet_logs_next_entry_is_checkpointed_without_waiting_for_a_tick() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let pool = db.pool();
    let keys = Keys::load_or_create(&pool).await.unwrap();
    let writer = AuditWriter::spawn(pool.clone(), keys.clone());
    let settings = checkpoint::ProducerSettings {
        check_every: Duration::from_secs(3600),
        ..producer_settings(None)
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let job = checkpoint::spawn(
        pool.clone(),
        keys,
        settings,
        writer.appended(),
        stopped.into(),
    );
    // The first round takes the lease and finds the (empty) log covered.
    wait_for_holder(&pool, checkpoint::LEASE, "t", String::new).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(db::checkpoints::latest(&pool).await.unwrap().is_none());

    let recorded = writer.record(entry(1)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let checkpoint = loop {
        if let Some(checkpoint) = db::checkpoints::latest(&pool).await.unwrap() {
            break checkpoint;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint 30 s after the first entry (the next tick is an hour away)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (checkpoint.checkpoint_id.as_str(), checkpoint.last_sequence),
        ("ckpt-1", recorded.sequence_number)
    );
    stop.send(true).unwrap();
    job.await.unwrap();
}

#[actix_web::test]
async fn release_all_releases_only_what_the_holder_holds() {
    let flight = Flight::start().await;
    let pool = flight.db.pool();
    let ttl = Duration::from_secs(60);
    assert!(
        db::leases::try_acquire(&pool, checkpoint::LEASE, "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        db::leases::try_acquire(&pool, retention::LEASE, "replica-b", ttl)
            .await
            .unwrap()
    );
    let both = [checkpoint::LEASE, retention::LEASE];
    let released = db::leases::release_all(&pool, &both, "replica-a")
        .await
        .unwrap();
    assert_eq!(released, 1);
    assert_eq!(lease_holder(&pool, checkpoint::LEASE).await, None);
    assert_eq!(
        lease_holder(&pool, retention::LEASE).await.as_deref(),
        Some("replica-b"),
        "another replica's lease stays"
    );
    assert_eq!(
        db::leases::release_all(&pool, &both, "replica-a")
            .await
            .unwrap(),
        0
    );
}

/// A rolling restart: the replica producing checkpoints is stopped with SIGTERM. It releases
/// its leases on the way out, so the other replica produces the next checkpoint at its next
/// tick instead of once the lease (15 s for the example's 5 s cadence) expires.
#[actix_web::test]
async fn a_replica_stopped_with_sigterm_hands_the_checkpoint_lease_over() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let pool = db.pool();
    let backend_key = runtime_service::ids::random_hex(16);
    let backend_url = spawn_flight_backend(&backend_key);
    let replica = |id: &str, port: u16| {
        let mut command = flight_runtime(&db.url, port, &backend_url, &backend_key);
        command.env("ANIP_RUNTIME_REPLICA_ID", id);
        command
    };

    // The leader takes the three role leases at its first tick (the retention sweeper's lease lasts
    // two minutes with the default one-minute interval).
    let port = free_port();
    let mut leader = RuntimeProcess::start(replica("replica-a", port), port).await;
    wait_for_holder(&pool, checkpoint::LEASE, "replica-a", || leader.log()).await;
    wait_for_holder(&pool, retention::LEASE, "replica-a", || leader.log()).await;
    wait_for_holder(&pool, sinks::LEASE, "replica-a", || leader.log()).await;
    let port = free_port();
    let follower = RuntimeProcess::start(replica("replica-b", port), port).await;

    // Entries for the leader to checkpoint; the follower only follows.
    let http = reqwest::Client::new();
    let jwt = search_token(&http, &leader.url).await;
    for _ in 0..3 {
        let (status, body) = invoke_search(&http, &leader.url, &jwt).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        lease_holder(&pool, checkpoint::LEASE).await.as_deref(),
        Some("replica-a"),
        "the leader renews its lease while the follower runs"
    );

    let status = leader.terminate().await;
    assert!(status.success(), "{status}:\n{}", leader.log());
    let log = leader.log();
    for line in log.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
    }
    let released = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["event"] == "runtime_leases_released")
        .unwrap_or_else(|| panic!("no runtime_leases_released event:\n{log}"));
    // The checkpoint producer's, the sink publisher's and the retention sweeper's.
    assert_eq!(released["released"], 3, "{released}");
    assert!(log.contains("runtime_stopped"), "{log}");
    // Released before the exit: no lease names the stopped replica any more.
    let named: i64 = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FROM runtime_leases WHERE holder = 'replica-a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(named, 0, "the stopped replica still holds a lease");

    // The follower takes the checkpoint role at one of its next ticks and checkpoints what it
    // records.
    wait_for_holder(&pool, checkpoint::LEASE, "replica-b", || follower.log()).await;
    let (status, body) = invoke_search(&http, &follower.url, &jwt).await;
    assert_eq!(status, 200, "{body}");
    let head: i64 = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT max(sequence_number) FROM runtime_audit_log", &[])
        .await
        .unwrap()
        .get(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list: Value = http
            .get(format!("{}/anip/checkpoints", follower.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let covered = list["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["range"]["last_sequence"].as_i64())
            .max();
        if covered >= Some(head) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the follower never checkpointed sequence {head}: {list}\n{}",
            follower.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        follower.log().contains("checkpoint_created"),
        "{}",
        follower.log()
    );
}

pub(crate) async fn invoke_search(http: &reqwest::Client, url: &str, jwt: &str) -> (u16, Value) {
    let response = http
        .post(format!("{url}/anip/invoke/search_flights"))
        .bearer_auth(jwt)
        .json(&json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
