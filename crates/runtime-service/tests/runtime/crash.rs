//! Durability under a crash: the real `anip-runtime` binary serving the flight example is sent
//! SIGKILL while concurrent invocations are in flight. Every invocation that was answered with
//! success has its audit entry in Postgres, the sequence has no gap, the chain no break, the
//! head row agrees with the last entry, and a replica started afterwards serves the same log and
//! continues the chain.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use serde_json::{json, Value};
use signing::Jwks;

use crate::audit_chain::verify_chain;
use crate::support::{
    flight_runtime, free_port, search_token, spawn_flight_backend, RuntimeProcess,
};

/// Concurrent clients.
const CLIENTS: usize = 8;
/// Invocations each client sends at most (bounds the test if the kill never comes).
const PER_CLIENT: usize = 100;
/// Successful invocations after which the replica is killed.
const KILL_AFTER: usize = 120;

/// How one client's stream ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The connection failed: the replica is gone.
    Cut,
    /// It sent all its invocations.
    Done,
}

fn search() -> Value {
    json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}})
}

/// Every audit row, oldest first, as `/anip/audit` would return it, with its invocation id.
async fn stored_entries(pool: &store::Pool) -> Vec<(String, Value)> {
    let client = pool.get().await.unwrap();
    let rows = client
        .query(
            "SELECT sequence_number, canonical, signature, entry_hash, invocation_id \
             FROM runtime_audit_log ORDER BY sequence_number",
            &[],
        )
        .await
        .unwrap();
    let entries: Vec<(String, Value)> = rows
        .iter()
        .map(|row| {
            let entry = runtime_service::audit::entry_json(row.get(1), row.get(2));
            assert_eq!(
                entry["sequence_number"].as_i64(),
                Some(row.get::<_, i64>(0))
            );
            assert_eq!(
                signing::digest::hex(&signing::digest::sha256(row.get::<_, &str>(1).as_bytes())),
                row.get::<_, &str>(3).trim_start_matches("sha256:"),
                "stored entry_hash of {}",
                row.get::<_, i64>(0)
            );
            (row.get::<_, Option<String>>(4).unwrap_or_default(), entry)
        })
        .collect();
    // The head row every append locks agrees with the last entry.
    let head = client
        .query_one(
            "SELECT last_sequence, last_hash FROM runtime_audit_head WHERE id = 1",
            &[],
        )
        .await
        .unwrap();
    let last = rows.last().expect("entries");
    assert_eq!(
        head.get::<_, i64>(0),
        last.get::<_, i64>(0),
        "head sequence"
    );
    assert_eq!(head.get::<_, &str>(1), last.get::<_, &str>(3), "head hash");
    entries
}

/// The `application_name` of the test's own connections.
const OBSERVER: &str = "anip-crash-test-observer";

/// Waits until no client connection but the test's own is left on the database. A statement the
/// killed replica sent may still commit after the process is gone (the server finishes it and
/// only then finds the client closed): its entry was never acknowledged, but the log is only
/// final once the server has let go of every session of the killed replica.
async fn wait_until_the_killed_sessions_end(pool: &store::Pool) {
    let client = pool.get().await.unwrap();
    for _ in 0..1200 {
        let others: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND backend_type = 'client backend' AND application_name <> $1",
                &[&OBSERVER],
            )
            .await
            .unwrap()
            .get(0);
        if others == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the killed replica's database sessions did not end within a minute");
}

async fn jwks(http: &reqwest::Client, url: &str) -> Jwks {
    http.get(format!("{url}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_replica_killed_mid_stream_loses_no_acknowledged_audit_entry() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let backend_key = runtime_service::ids::random_hex(16);
    let backend_url = spawn_flight_backend(&backend_key);
    let port = free_port();
    let mut doomed = RuntimeProcess::start(
        flight_runtime(&db.url, port, &backend_url, &backend_key),
        port,
    )
    .await;
    let http = reqwest::Client::new();
    let jwt = search_token(&http, &doomed.url).await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, jwt) = (http.clone(), doomed.url.clone(), jwt.clone());
            let (acknowledged, count, reached) =
                (acknowledged.clone(), count.clone(), reached.clone());
            actix_web::rt::spawn(async move {
                for _ in 0..PER_CLIENT {
                    let sent = http
                        .post(format!("{url}/anip/invoke/search_flights"))
                        .bearer_auth(&jwt)
                        .json(&search())
                        .send()
                        .await;
                    let response = match sent {
                        Ok(response) => response,
                        Err(_) => return End::Cut,
                    };
                    let status = response.status().as_u16();
                    let body: Value = match response.json().await {
                        Ok(body) => body,
                        Err(_) => return End::Cut,
                    };
                    // Only an answered success is an acknowledgement.
                    if status == 200 && body["success"] == true {
                        let id = body["invocation_id"].as_str().unwrap().to_owned();
                        acknowledged.lock().unwrap().push(id);
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            reached.notify_one();
                        }
                    } else {
                        panic!("invocation before the kill failed ({status}): {body}");
                    }
                }
                End::Done
            })
        })
        .collect();
    let mut clients = std::pin::pin!(join_all(clients));
    tokio::select! {
        _ = reached.notified() => {}
        _ = &mut clients => panic!("the clients finished before the replica was killed"),
    }
    let killed = doomed.kill_9().await;
    assert!(!killed.success(), "{killed}");
    let ends: Vec<End> = clients.await.into_iter().map(Result::unwrap).collect();
    // The kill cut streams that were still sending.
    assert!(ends.contains(&End::Cut), "{ends:?}");
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER);
    assert!(
        !doomed.log().contains("runtime_stopped"),
        "the replica was killed, not stopped"
    );

    // In Postgres: every acknowledged invocation has its entry; sequence and hashes hold.
    let observer = store::connect_pool(
        &db.url,
        &store::PoolOptions {
            application_name: OBSERVER.to_owned(),
            ..store::PoolOptions::default()
        },
    )
    .unwrap();
    wait_until_the_killed_sessions_end(&observer).await;
    let stored = stored_entries(&observer).await;
    let stored_ids: BTreeSet<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored_ids.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not recorded: {missing:?}"
    );
    assert_eq!(stored_ids.len(), stored.len(), "one entry per invocation");
    assert!(stored.len() >= acknowledged.len());

    // A second replica on the same database: same keys, same log, and the chain verifies from
    // the outside with the published audit key.
    let port = free_port();
    let survivor = RuntimeProcess::start(
        flight_runtime(&db.url, port, &backend_url, &backend_key),
        port,
    )
    .await;
    let keys = jwks(&http, &survivor.url).await;
    let entries: Vec<Value> = stored.iter().map(|(_, entry)| entry.clone()).collect();
    verify_chain(&entries, &keys);
    let audit: Value = http
        .post(format!("{}/anip/audit?limit=1000", survivor.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut served = audit["entries"].as_array().expect("entries").clone();
    served.sort_by_key(|e| e["sequence_number"].as_i64());
    assert_eq!(
        served.len(),
        entries.len(),
        "the survivor serves every stored entry"
    );
    for (served, stored) in served.iter().zip(&entries) {
        assert_eq!(served, stored, "the survivor serves what is stored");
    }
    for id in &acknowledged {
        assert!(
            served.iter().any(|e| e["invocation_id"] == id.as_str()),
            "{id} not served"
        );
    }

    // The survivor appends after the last entry the killed replica committed.
    for _ in 0..5 {
        let response = http
            .post(format!("{}/anip/invoke/search_flights", survivor.url))
            .bearer_auth(&jwt)
            .json(&search())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let after = stored_entries(&observer).await;
    assert_eq!(after.len(), stored.len() + 5);
    let entries: Vec<Value> = after.into_iter().map(|(_, entry)| entry).collect();
    verify_chain(&entries, &keys);
    println!(
        "killed after {} acknowledged invocations; {} entries committed before the kill",
        acknowledged.len(),
        stored.len()
    );
}
