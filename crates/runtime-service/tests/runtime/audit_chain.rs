//! The audit log verified from the outside: two replicas against one database, invoked
//! concurrently, keep one gap-free sequence and one unbroken hash chain, and every entry's
//! signature verifies with the published audit key.

use futures_util::future::join_all;
use serde_json::{json, Value};
use signing::Jwks;

use crate::support::{
    flight_definition, get_json, load, secret_file, serve, spawn_flight_backend,
    with_credential_file, Flight,
};

/// The whole chain recomputed from the outside (`anip_conformance::audit::verify_chain`).
pub fn verify_chain(entries: &[Value], jwks: &Jwks) {
    if let Err(broken) = anip_conformance::audit::verify_chain(entries, jwks) {
        panic!("audit chain: {broken}");
    }
}

/// All entries of Ana, oldest first.
pub async fn all_entries(flight: &Flight, jwt: &str) -> Vec<Value> {
    let (status, body) = flight.post(jwt, "/anip/audit?limit=1000").await;
    assert_eq!(status, 200);
    let mut entries = body["entries"].as_array().unwrap().clone();
    entries.sort_by_key(|e| e["sequence_number"].as_i64());
    entries
}

#[actix_web::test]
async fn two_replicas_under_concurrent_load_keep_one_gap_free_unbroken_chain() {
    let flight = Flight::start().await;
    // A second replica: its own app, audit writer and HTTP server, the same database.
    let key = runtime_service::ids::random_hex(16);
    let second_backend = spawn_flight_backend(&key);
    let definition = with_credential_file(flight_definition(), &secret_file(&key));
    let replica = serve(flight.db.pool(), load(&definition, &second_backend)).await;

    let (_, jwt) = flight
        .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .await;
    let params =
        json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}});
    let mut calls = Vec::new();
    for i in 0..60 {
        let base = if i % 2 == 0 {
            flight.served.url.clone()
        } else {
            replica.url.clone()
        };
        let (http, jwt, params) = (flight.http.clone(), jwt.clone(), params.clone());
        calls.push(async move {
            let response = http
                .post(format!("{base}/anip/invoke/search_flights"))
                .bearer_auth(jwt)
                .json(&params)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        });
    }
    let statuses = join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let entries = all_entries(&flight, &jwt).await;
    assert_eq!(entries.len(), 60, "one entry per invocation");
    let (_, keys) = flight.get("/.well-known/jwks.json").await;
    verify_chain(&entries, &serde_json::from_value(keys).unwrap());
    // Both replicas serve the same keys (generated once, stored in Postgres).
    let replica_keys = get_json(
        &flight.http,
        &format!("{}/.well-known/jwks.json", replica.url),
    )
    .await;
    let (_, first_keys) = flight.get("/.well-known/jwks.json").await;
    assert_eq!(replica_keys, first_keys);
}

#[actix_web::test]
async fn a_stalled_database_is_answered_503_and_the_chain_stays_whole() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let proxy = store::testing::StallingProxy::in_front_of(&db.url).await;
    let pool = store::connect_pool(proxy.url(), &store::PoolOptions::default()).unwrap();
    let key = runtime_service::ids::random_hex(16);
    let backend = spawn_flight_backend(&key);
    let definition = with_credential_file(flight_definition(), &secret_file(&key));
    let served = crate::support::serve_with_deadline(
        pool,
        load(&definition, &backend),
        std::time::Duration::from_secs(2),
    )
    .await;
    let flight = Flight {
        db,
        served,
        http: reqwest::Client::new(),
    };
    let (_, jwt) = flight
        .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .await;
    let params =
        json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}});
    for _ in 0..3 {
        let (status, body) = flight.invoke(&jwt, "search_flights", params.clone()).await;
        assert_eq!(status, 200, "{body}");
    }

    proxy.stall(true);
    let answers = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        futures_util::future::join(
            flight.token_request(
                crate::support::ANA_KEY,
                json!({"scope": ["travel.search"], "capability": "search_flights"}),
            ),
            flight.invoke(&jwt, "search_flights", params.clone()),
        )
        .await
    })
    .await
    .expect("requests were held beyond the deadline");
    for (status, body) in [answers.0, answers.1] {
        // The JSON body parsed (token_request and invoke read JSON), and it says why.
        assert_eq!(status, 503, "{body}");
        let said = body["error"]
            .as_str()
            .or_else(|| body["failure"]["type"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            said.starts_with("the request was not answered within 2 s")
                || said == "service_unavailable",
            "{body}"
        );
    }

    proxy.stall(false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = flight.invoke(&jwt, "search_flights", params.clone()).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let entries = all_entries(&flight, &jwt).await;
    assert!(entries.len() >= 4, "{}", entries.len());
    let (_, keys) = flight.get("/.well-known/jwks.json").await;
    verify_chain(&entries, &serde_json::from_value(keys).unwrap());
    let sequence: Vec<i64> = entries
        .iter()
        .map(|e| e["sequence_number"].as_i64().unwrap())
        .collect();
    assert_eq!(
        sequence,
        (1..=entries.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
}
