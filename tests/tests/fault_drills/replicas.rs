//! Drill 3: two replicas of the Registry and two of the runtime, each pair on one database,
//! under concurrent load spread over both, as a load balancer would.
//!
//! Registry: publications, downloads, reads on both replicas; no error answer, and after a
//! clean SIGTERM of both (which flushes the in-memory download counters) the stored counters
//! equal the downloads made. Runtime: invocations spread over both replicas; the audit log,
//! read from the outside (`/anip/audit`, `/.well-known/jwks.json`), is one gap-free sequence
//! and one unbroken hash chain whose every entry is signed with the published audit key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use signing::Jwks;
use tokio::sync::Semaphore;

use crate::common::{free_port, wait_for_status, Running, Service};
use crate::support::*;

/// Registry load: tasks and requests per task.
const REGISTRY_TASKS: usize = 6;
const REGISTRY_ROUNDS: usize = 15;
/// Runtime load: invocations and how many are in flight at once.
const INVOCATIONS: usize = 60;
const IN_FLIGHT: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_registry_replicas_answer_without_error_and_lose_no_download_count() {
    let dir = work_dir("registry_replicas");
    let db = store::testing::empty_database().await;
    let http = http();
    // A migration job first, then replicas with migrations off (the deployment guide's order).
    migrate_job(Service::Registry, &db.url);
    let replicas: Vec<Running> = (0..2)
        .map(|i| {
            let port = free_port();
            let mut cmd = registry_command(&db.url, port);
            cmd.env(Service::Registry.run_migrations_var(), "0");
            Running::spawn_logged(
                Service::Registry,
                cmd,
                port,
                &dir.join(format!("registry-{i}.log")),
            )
        })
        .collect();
    for replica in &replicas {
        wait_for_status(
            &http,
            &replica.url(REGISTRY_READY),
            200,
            Duration::from_secs(60),
        )
        .await;
    }
    let apis: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| registry_api(&r.base)).collect());

    // Three packages to download, published through the first replica.
    let packages = realistic_packages();
    let mut published = Vec::new();
    for (name, package) in &packages {
        let (status, body) = publish(&http, &apis[0], &publish_request(package, name, "1.0.0"))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        published.push(name.clone());
    }
    let published = Arc::new(published);
    let extra = Arc::new(packages[0].1.clone());

    // The load: each task alternates replicas; downloads, reads and a publication per task.
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..REGISTRY_TASKS {
        let (http, apis, published, extra) =
            (http.clone(), apis.clone(), published.clone(), extra.clone());
        tasks.spawn(async move {
            let mut downloads: BTreeMap<String, i64> = BTreeMap::new();
            let mut errors = Vec::new();
            for round in 0..REGISTRY_ROUNDS {
                let api = &apis[(task + round) % apis.len()];
                let name = &published[(task + round) % published.len()];
                let url = format!("{api}/packages/{name}/1.0.0/download");
                let status = http.get(&url).send().await.map(|r| r.status().as_u16());
                match status {
                    Ok(200) => *downloads.entry(name.clone()).or_insert(0) += 1,
                    other => errors.push(format!("{url}: {other:?}")),
                }
                let reads = [
                    format!("{api}/publications"),
                    format!("{api}/packages/{name}/1.0.0"),
                    format!("{api}/packages/{name}/1.0.0/receipt"),
                    format!("{api}/keys"),
                ];
                let read = &reads[round % reads.len()];
                match get_json(&http, read).await {
                    Ok((200, _)) => {}
                    other => errors.push(format!("{read}: {other:?}")),
                }
                if round == task % REGISTRY_ROUNDS {
                    // Publications land on both replicas: task i publishes on replica i % 2.
                    let id = format!("replica-drill-{task}");
                    let api = &apis[task % apis.len()];
                    match publish(&http, api, &publish_request(&extra, &id, "1.0.0")).await {
                        Ok((201, _)) => {}
                        other => errors.push(format!("publish {id}: {other:?}")),
                    }
                }
            }
            (downloads, errors)
        });
    }
    let mut downloads: BTreeMap<String, i64> = BTreeMap::new();
    let mut errors = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (task_downloads, task_errors) = result.unwrap();
        for (name, n) in task_downloads {
            *downloads.entry(name).or_insert(0) += n;
        }
        errors.extend(task_errors);
    }
    assert!(errors.is_empty(), "error answers:\n{}", errors.join("\n"));
    // What one replica published the other serves, and it verifies there.
    for task in 0..REGISTRY_TASKS {
        let other = &apis[(task + 1) % apis.len()];
        verify_online(other, &format!("replica-drill-{task}"), "1.0.0").await;
    }

    // A clean stop of both flushes every pending count.
    for replica in replicas {
        let out = replica.terminate();
        assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    }
    let pool = store::connect_pool(&db.url, &store::PoolOptions::default()).unwrap();
    let client = pool.get().await.unwrap();
    let made: i64 = downloads.values().sum();
    // verify_online downloaded each replica-drill package once; the three loaded ones were
    // downloaded only by the load.
    for name in published.iter() {
        let row = client
            .query_one(
                "SELECT download_count FROM registry_packages \
                 WHERE package_id = $1 AND package_version = '1.0.0'",
                &[name],
            )
            .await
            .unwrap();
        let counted: i64 = row.get(0);
        assert_eq!(
            counted,
            downloads.get(name).copied().unwrap_or(0),
            "{name}: stored count != downloads made"
        );
    }
    eprintln!("registry replicas drill: {made} downloads over two replicas, all counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runtime_replicas_keep_one_gap_free_unbroken_audit_chain() {
    let dir = work_dir("runtime_replicas");
    let db = store::testing::empty_database().await;
    let http = http();
    let backend = FlightBackend::start(&dir.join("flight-backend.log"));
    migrate_job(Service::Runtime, &db.url);
    let replicas: Vec<Running> = (0..2)
        .map(|i| {
            let port = free_port();
            let mut cmd = runtime_command(&db.url, port, &backend.url);
            cmd.env(Service::Runtime.run_migrations_var(), "0")
                .env("ANIP_RUNTIME_REPLICA_ID", format!("drill-replica-{i}"));
            Running::spawn_logged(
                Service::Runtime,
                cmd,
                port,
                &dir.join(format!("runtime-{i}.log")),
            )
        })
        .collect();
    for replica in &replicas {
        wait_for_status(
            &http,
            &replica.url(RUNTIME_READY),
            200,
            Duration::from_secs(60),
        )
        .await;
    }
    let bases: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.base.clone()).collect());

    // Both replicas publish the same keys (made once, kept in Postgres).
    let jwks: Vec<Value> = {
        let mut all = Vec::new();
        for base in bases.iter() {
            let (status, keys) = get_json(&http, &format!("{base}/.well-known/jwks.json"))
                .await
                .unwrap();
            assert_eq!(status, 200);
            all.push(keys);
        }
        all
    };
    assert_eq!(jwks[0], jwks[1], "the replicas publish different keys");

    // A token from each replica; each is used on both.
    let mut tokens = Vec::new();
    for base in bases.iter() {
        let response = http
            .post(format!("{base}/anip/tokens"))
            .bearer_auth(RUNTIME_API_KEY)
            .json(&json!({"scope": ["travel.search"], "capability": "search_flights"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let issued: Value = response.json().await.unwrap();
        tokens.push(issued["token"].as_str().unwrap().to_owned());
    }
    let tokens = Arc::new(tokens);

    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..INVOCATIONS {
        let (http, bases, tokens, gate) =
            (http.clone(), bases.clone(), tokens.clone(), gate.clone());
        calls.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let base = &bases[i % 2];
            let token = &tokens[(i / 2) % 2];
            let response = http
                .post(format!("{base}/anip/invoke/search_flights"))
                .bearer_auth(token)
                .json(&json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = json_body(response).await;
            (status, body)
        });
    }
    while let Some(result) = calls.join_next().await {
        let (status, body) = result.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true, "{body}");
    }

    // The log, read through each replica, is the same one chain with one entry per call.
    let mut logs = Vec::new();
    for base in bases.iter() {
        let response = http
            .post(format!("{base}/anip/audit?limit=1000"))
            .bearer_auth(&tokens[0])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let mut entries = body["entries"].as_array().unwrap().clone();
        entries.sort_by_key(|e| e["sequence_number"].as_i64());
        logs.push(entries);
    }
    assert_eq!(logs[0], logs[1], "the replicas read different logs");
    assert_eq!(logs[0].len(), INVOCATIONS, "one entry per invocation");
    let jwks: Jwks = serde_json::from_value(jwks[0].clone()).unwrap();
    if let Err(broken) = anip_conformance::audit::verify_chain(&logs[0], &jwks) {
        panic!("audit chain: {broken}");
    }
    eprintln!("runtime replicas drill: {INVOCATIONS} invocations over two replicas, chain intact");

    for replica in replicas {
        let out = replica.terminate();
        assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    }
}
