//! Drill 1: `kill -9` of the Registry during a stream of publications, then a restart.
//!
//! Four publishers post realistic packages (upstream bundles of 110 KB to 125 KB) without pause. Once a few are
//! acknowledged the process is killed with SIGKILL (no drain, no flush), and started again on
//! the same port and database. Publishers retry what failed in transit: a retry answered 409
//! means the interrupted attempt had committed after all. Afterwards every acknowledged (201)
//! publication must be served with the receipt it was acknowledged with and verify, every
//! package must be whole (receipt, lineage and ownership rows), and nothing else may exist.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{free_port, wait_for_status, Running, Service};
use crate::support::*;

const PUBLISHERS: usize = 4;
const PER_PUBLISHER: usize = 8;
/// Acknowledged publications before the kill.
const ACKED_BEFORE_KILL: usize = 6;

/// How one publication ended.
#[derive(Debug)]
enum Outcome {
    /// 201 with this receipt.
    Acknowledged(Value),
    /// An attempt was cut off by the kill; a retry answered 409: it had committed.
    CommittedUnacknowledged,
}

struct Publication {
    package_id: String,
    version: String,
    outcome: Outcome,
}

/// Counts of what the publishers saw, for the report and the "the kill hit something" check.
#[derive(Default)]
struct Seen {
    acknowledged: AtomicUsize,
    /// Requests that failed after the connection was made: cut off in flight.
    interrupted: AtomicUsize,
    /// Connections refused while the Registry was down.
    refused: AtomicUsize,
    /// 503 answers while the restarted Registry was not yet ready.
    unavailable: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_killed_mid_publication_stream_keeps_every_acknowledged_package_whole() {
    let dir = work_dir("kill_registry");
    let db = store::testing::empty_database().await;
    let port = free_port();
    let http = http();
    let registry = Running::spawn_logged(
        Service::Registry,
        registry_command(&db.url, port),
        port,
        &dir.join("registry-before-kill.log"),
    );
    wait_for_status(
        &http,
        &registry.url(REGISTRY_READY),
        200,
        Duration::from_secs(60),
    )
    .await;
    let api = registry_api(&registry.base);
    let packages = Arc::new(realistic_packages());
    let seen = Arc::new(Seen::default());

    let mut publishers = tokio::task::JoinSet::new();
    for publisher in 0..PUBLISHERS {
        let (http, api, packages, seen) =
            (http.clone(), api.clone(), packages.clone(), seen.clone());
        publishers.spawn(async move {
            let mut done = Vec::new();
            for i in 0..PER_PUBLISHER {
                let (name, package) = &packages[(publisher + i) % packages.len()];
                let package_id = format!("drill-{publisher}-{name}");
                let version = format!("1.0.{i}");
                let request = publish_request(package, &package_id, &version);
                let outcome = publish_through_outage(&http, &api, &request, &seen).await;
                done.push(Publication {
                    package_id,
                    version,
                    outcome,
                });
            }
            done
        });
    }

    // Kill once enough are acknowledged, while the publishers keep posting.
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.acknowledged.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "publications were not acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = registry.kill_hard();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let acked_at_kill = seen.acknowledged.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Running::spawn_logged(
        Service::Registry,
        registry_command(&db.url, port),
        port,
        &dir.join("registry-after-restart.log"),
    );

    let mut publications = Vec::new();
    while let Some(done) = publishers.join_next().await {
        publications.extend(done.unwrap());
    }
    eprintln!(
        "kill drill: {} publications, {acked_at_kill} acknowledged at the kill, {} acknowledged \
         in all, {} cut off in flight, {} refused, {} answered 503 while starting",
        publications.len(),
        seen.acknowledged.load(Ordering::SeqCst),
        seen.interrupted.load(Ordering::SeqCst),
        seen.refused.load(Ordering::SeqCst),
        seen.unavailable.load(Ordering::SeqCst),
    );
    // The drill means something only if the kill cut publications off in flight.
    assert!(
        seen.interrupted.load(Ordering::SeqCst) >= 1,
        "the kill interrupted no publication"
    );

    // Nothing is half-written, and exactly the attempted publications exist.
    let broken = half_written(&db.url).await;
    assert!(broken.is_empty(), "half-written publications: {broken:?}");
    let expected: BTreeSet<String> = publications
        .iter()
        .map(|p| format!("{}@{}", p.package_id, p.version))
        .collect();
    let stored: BTreeSet<String> = stored_packages(&db.url).await.into_iter().collect();
    assert_eq!(stored, expected);

    // Every acknowledged publication is served with the receipt it was acknowledged with, and
    // every publication verifies (the one verifier, the key pinned).
    for publication in &publications {
        let (package_id, version) = (&publication.package_id, &publication.version);
        let bundle = verify_online(&api, package_id, version).await;
        if let Outcome::Acknowledged(receipt) = &publication.outcome {
            let (status, served) = get_json(
                &http,
                &format!("{api}/packages/{package_id}/{version}/receipt"),
            )
            .await
            .unwrap();
            assert_eq!(status, 200);
            assert_eq!(&served, receipt, "{package_id}@{version}: another receipt");
            assert_eq!(
                receipt["registry_signature"].as_str(),
                Some(bundle.receipt.registry_signature.as_str()),
                "{package_id}@{version}"
            );
        }
    }
    // And the real CLI agrees (for one of them: it runs the same verifier).
    let first = &publications[0];
    cli_verify(
        &restarted.base,
        &format!("{}@{}", first.package_id, first.version),
    )
    .await;

    let out = restarted.terminate();
    assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
}

/// Publishes `request`, retrying while the Registry is down or starting (bounded). Any answer
/// other than 201, 503 or a 409 after an interrupted attempt fails the drill.
async fn publish_through_outage(
    http: &reqwest::Client,
    api: &str,
    request: &Value,
    seen: &Seen,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut interrupted = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "{} never published",
            request["package_id"]
        );
        match publish(http, api, request).await {
            Ok((201, body)) => {
                seen.acknowledged.fetch_add(1, Ordering::SeqCst);
                return Outcome::Acknowledged(body["receipt"].clone());
            }
            Ok((409, body)) if interrupted => {
                assert!(body["error"].is_string(), "409 without an error: {body}");
                return Outcome::CommittedUnacknowledged;
            }
            Ok((503, body)) => {
                assert!(
                    is_outage_answer(503, &body),
                    "503 without JSON error: {body}"
                );
                seen.unavailable.fetch_add(1, Ordering::SeqCst);
            }
            Ok((status, body)) => panic!(
                "publishing {}@{}: {status} {body}",
                request["package_id"], request["package_version"]
            ),
            Err(error) if error.is_connect() => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                interrupted = true;
                seen.interrupted.fetch_add(1, Ordering::SeqCst);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
