//! Drill 2: Postgres stopped and started again under a request loop.
//!
//! The drill runs its own private cluster (`store::LocalPostgres` in a temporary directory):
//! stopping the shared test server would break every other test. The Registry, Studio and the
//! runtime are started once and never restarted. While Postgres is down every readiness probe
//! and every API request that needs the database must answer 503 with a JSON error; a request
//! may still be served from memory, but then with exactly the bytes it had before. Never a 500,
//! a false 404 or an empty list. Once Postgres is back all three turn ready by themselves and
//! serve reads and writes correctly, and the downloads counted during the outage are not lost.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use store::LocalPostgres;

use crate::common::{free_port, wait_for_status, Running, Service};
use crate::support::*;

/// Bounds of the request loop.
const MAX_ROUNDS: usize = 2_000;
const ROUND_PAUSE: Duration = Duration::from_millis(40);
/// Loop rounds to run while Postgres is down before it is started again.
const ROUNDS_DURING_OUTAGE: usize = 40;

/// The private cluster and its directory; stopped and removed on drop.
struct Cluster {
    postgres: Option<LocalPostgres>,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "anip-drill-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        let start_dir = dir.clone();
        let postgres = tokio::task::spawn_blocking(move || LocalPostgres::start(&start_dir, None))
            .await
            .unwrap()
            .unwrap();
        let port = postgres.port();
        Cluster {
            postgres: Some(postgres),
            dir,
            port,
        }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    async fn stop(&mut self) {
        let postgres = self.postgres.take().unwrap();
        tokio::task::spawn_blocking(move || postgres.stop())
            .await
            .unwrap()
            .unwrap();
    }

    /// Starts the same cluster on the same port.
    async fn restart(&mut self) {
        let (dir, port) = (self.dir.clone(), self.port);
        let postgres = tokio::task::spawn_blocking(move || LocalPostgres::start(&dir, Some(port)))
            .await
            .unwrap()
            .unwrap();
        self.postgres = Some(postgres);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(postgres) = self.postgres.take() {
            let _ = postgres.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request of the loop and what it answered before the outage.
struct Probe {
    service: &'static str,
    url: String,
    /// The body every 200 must have; `None` for readiness, whose body changes.
    expected: Option<Value>,
    /// A download: counted when it succeeds.
    download: bool,
}

/// What the loop saw.
#[derive(Default)]
struct LoopReport {
    rounds: AtomicUsize,
    downloads: AtomicUsize,
    /// 503 answers, by service.
    outage_answers: Mutex<Vec<&'static str>>,
    violations: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_answer_503_while_postgres_is_down_and_recover_without_a_restart() {
    let dir = work_dir("postgres_restart");
    let mut cluster = Cluster::start().await;
    let postgres = cluster.postgres.as_ref().unwrap();
    for database in ["registry", "studio", "runtime"] {
        postgres.ensure_database(database).await.unwrap();
    }
    let backend = FlightBackend::start(&dir.join("flight-backend.log"));
    let http = http();

    let registry_port = free_port();
    let registry = Running::spawn_logged(
        Service::Registry,
        registry_command(&cluster.url("registry"), registry_port),
        registry_port,
        &dir.join("registry.log"),
    );
    let studio_port = free_port();
    let studio = Running::spawn_logged(
        Service::Studio,
        Service::Studio.command(&cluster.url("studio"), studio_port),
        studio_port,
        &dir.join("studio.log"),
    );
    let runtime_port = free_port();
    let runtime = Running::spawn_logged(
        Service::Runtime,
        runtime_command(&cluster.url("runtime"), runtime_port, &backend.url),
        runtime_port,
        &dir.join("runtime.log"),
    );
    let pids = [registry.pid(), studio.pid(), runtime.pid()];
    let ready = [
        registry.url(REGISTRY_READY),
        studio.url(STUDIO_READY),
        runtime.url(RUNTIME_READY),
    ];
    for url in &ready {
        wait_for_status(&http, url, 200, Duration::from_secs(60)).await;
    }

    // Something to serve: a published package (downloaded once, so it is also cached) and
    // Studio's seeded showcase.
    let api = registry_api(&registry.base);
    let (name, package) = realistic_packages().swap_remove(1);
    let (status, body) = publish(&http, &api, &publish_request(&package, &name, "1.0.0"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let package_url = format!("{api}/packages/{name}/1.0.0");
    let download = get_json(&http, &format!("{package_url}/download"))
        .await
        .unwrap();
    assert_eq!(download.0, 200);
    let runtime_token = issue_runtime_token(&http, &runtime.base).await;
    assert_eq!(runtime_token.0, 200, "{}", runtime_token.1);

    let mut probes = Vec::new();
    for (service, url) in [
        ("registry", format!("{api}/publications")),
        ("registry", format!("{package_url}/receipt")),
        ("registry", format!("{package_url}/download")),
        ("studio", studio.url("/api/workspaces")),
        ("studio", studio.url("/api/projects")),
    ] {
        let (status, expected) = get_json(&http, &url).await.unwrap();
        assert_eq!(status, 200, "{url}: {expected}");
        assert_ne!(expected, json!([]), "{url}: nothing to compare with");
        probes.push(Probe {
            service,
            download: url.ends_with("/download"),
            url,
            expected: Some(expected),
        });
    }
    let projects = probes[4].expected.clone().unwrap();
    let project_id = projects[0]["id"].as_str().unwrap();
    let project_url = studio.url(&format!("/api/projects/{project_id}"));
    let (status, project) = get_json(&http, &project_url).await.unwrap();
    assert_eq!(status, 200);
    probes.push(Probe {
        service: "studio",
        url: project_url,
        expected: Some(project),
        download: false,
    });
    for (service, url) in ["registry", "studio", "runtime"].into_iter().zip(&ready) {
        probes.push(Probe {
            service,
            url: url.clone(),
            expected: None,
            download: false,
        });
    }
    // The loop compares the publication list by its items' identities only (see `check`):
    // its own downloads change the counts in it.
    // The request loop, bounded in rounds.
    let report = Arc::new(LoopReport::default());
    let stop = Arc::new(AtomicBool::new(false));
    let probes = Arc::new(probes);
    let request_loop = {
        let (http, report, stop, probes) =
            (http.clone(), report.clone(), stop.clone(), probes.clone());
        tokio::spawn(async move {
            for _ in 0..MAX_ROUNDS {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                for probe in probes.iter() {
                    check(&http, probe, &report).await;
                }
                report.rounds.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(ROUND_PAUSE).await;
            }
        })
    };

    // Postgres goes away.
    let started = Instant::now();
    cluster.stop().await;
    eprintln!("postgres drill: stopped after {:?}", started.elapsed());
    for url in &ready {
        wait_for_status(&http, url, 503, Duration::from_secs(30)).await;
    }
    // Requests that cannot be served from memory: reads and writes in every service.
    let (status, body) = get_json(&http, &format!("{api}/publications?q=drill"))
        .await
        .unwrap();
    assert!(
        is_outage_answer(status, &body),
        "registry list: {status} {body}"
    );
    let (status, body) = publish(&http, &api, &publish_request(&package, &name, "2.0.0"))
        .await
        .unwrap();
    assert!(
        is_outage_answer(status, &body),
        "registry publish: {status} {body}"
    );
    let (status, body) = get_json(&http, &studio.url("/api/workspaces"))
        .await
        .unwrap();
    assert!(
        is_outage_answer(status, &body),
        "studio list: {status} {body}"
    );
    let response = http
        .post(studio.url("/api/workspaces"))
        .json(&json!({"name": "During the outage"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = json_body(response).await;
    assert!(
        is_outage_answer(status, &body),
        "studio create: {status} {body}"
    );
    let (status, body) = issue_runtime_token(&http, &runtime.base).await;
    assert!(
        is_outage_answer(status, &body),
        "runtime token: {status} {body}"
    );
    eprintln!(
        "postgres drill: outage answers checked at {:?}",
        started.elapsed()
    );
    // Let the loop run through the outage for a while (bounded).
    let outage_rounds = report.rounds.load(Ordering::SeqCst) + ROUNDS_DURING_OUTAGE;
    let deadline = Instant::now() + Duration::from_secs(60);
    while report.rounds.load(Ordering::SeqCst) < outage_rounds {
        assert!(
            Instant::now() < deadline,
            "the request loop stalled during the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Postgres comes back; nobody restarts the services.
    eprintln!("postgres drill: restarting at {:?}", started.elapsed());
    cluster.restart().await;
    eprintln!("postgres drill: restarted at {:?}", started.elapsed());
    for url in &ready {
        wait_for_status(&http, url, 200, Duration::from_secs(60)).await;
        eprintln!("postgres drill: {url} ready at {:?}", started.elapsed());
    }
    // A few more rounds against the recovered services, then the loop stops.
    let recovered_rounds = report.rounds.load(Ordering::SeqCst) + 3;
    let deadline = Instant::now() + Duration::from_secs(60);
    while report.rounds.load(Ordering::SeqCst) < recovered_rounds {
        assert!(
            Instant::now() < deadline,
            "the request loop stalled after the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    request_loop.await.unwrap();

    let violations = report.violations.lock().unwrap().clone();
    assert!(
        violations.is_empty(),
        "wrong answers:\n{}",
        violations.join("\n")
    );
    let outage_answers = report.outage_answers.lock().unwrap().clone();
    for service in ["registry", "studio", "runtime"] {
        assert!(
            outage_answers.contains(&service),
            "the loop never saw {service} answer 503"
        );
    }
    eprintln!(
        "postgres drill: {} loop rounds, {} outage answers, {} downloads",
        report.rounds.load(Ordering::SeqCst),
        outage_answers.len(),
        report.downloads.load(Ordering::SeqCst),
    );

    // Writes work again, in every service.
    let (status, body) = publish(&http, &api, &publish_request(&package, &name, "2.0.0"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    verify_online(&api, &name, "2.0.0").await;
    let response = http
        .post(studio.url("/api/workspaces"))
        .json(&json!({"id": "after-the-outage", "name": "After the outage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", json_body(response).await);
    let (_, workspaces) = get_json(&http, &studio.url("/api/workspaces"))
        .await
        .unwrap();
    assert!(
        workspaces
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == "after-the-outage"),
        "{workspaces}"
    );
    let (status, body) = issue_runtime_token(&http, &runtime.base).await;
    assert_eq!(status, 200, "{body}");

    // No download is lost: the two before the loop (the seed and the baseline) plus the
    // loop's, once flushed (about a second; bounded wait).
    let expected_downloads = 2 + report.downloads.load(Ordering::SeqCst) as i64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, record) = get_json(&http, &package_url).await.unwrap();
        if record["download_count"].as_i64() == Some(expected_downloads) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "download count {} != {expected_downloads} downloads made",
            record["download_count"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The same processes served throughout, and each stops cleanly.
    assert_eq!(pids, [registry.pid(), studio.pid(), runtime.pid()]);
    for running in [registry, studio, runtime] {
        let service = running.service;
        let out = running.terminate();
        assert!(out.status.success(), "{service:?} exit: {:?}", out.status);
    }
    cluster.stop().await;
}

/// One request: a 200 must carry the body it had before the outage, a 503 must be the JSON
/// outage answer; anything else is a violation.
async fn check(http: &reqwest::Client, probe: &Probe, report: &LoopReport) {
    let (status, body) = match get_json(http, &probe.url).await {
        Ok(answer) => answer,
        Err(error) => {
            report
                .violations
                .lock()
                .unwrap()
                .push(format!("{}: no answer: {error}", probe.url));
            return;
        }
    };
    let wrong = match (status, &probe.expected) {
        (200, None) => false,
        (200, Some(expected)) if probe.url.ends_with("/publications") => {
            identities(&body) != identities(expected)
        }
        (200, Some(expected)) => &body != expected,
        (503, _) if is_outage_answer(status, &body) => {
            report.outage_answers.lock().unwrap().push(probe.service);
            false
        }
        _ => true,
    };
    if wrong {
        report
            .violations
            .lock()
            .unwrap()
            .push(format!("{}: {status} {body}", probe.url));
    } else if status == 200 && probe.download {
        report.downloads.fetch_add(1, Ordering::SeqCst);
    }
}

/// `id@version` of a publication list's items.
fn identities(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| format!("{}@{}", item["package_id"], item["package_version"]))
                .collect()
        })
        .unwrap_or_default()
}

/// `POST /anip/tokens` on the runtime with the bootstrap API key.
async fn issue_runtime_token(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let response = http
        .post(format!("{base}/anip/tokens"))
        .bearer_auth(RUNTIME_API_KEY)
        .json(&json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, json_body(response).await)
}
