//! Real HTTP servers on loopback: request metrics by route pattern and the health endpoints.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::dev::{ServerHandle, Service as _};
use actix_web::{web, App, HttpResponse, HttpServer};
use observability::health::{self, FixedReadiness, Health, HealthPaths, ReadinessCheck};
use observability::server::{self, ErrorStyle, ServerLimits};
use observability::HttpMetrics;
use serde_json::{json, Value};
use store::Readiness;

struct TestServer {
    base: String,
    handle: ServerHandle,
    client: reqwest::Client,
}

impl TestServer {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self, paths: HealthPaths) -> String {
        let res = self.get(paths.metrics).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
        res.text().await.unwrap()
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}

fn ready(applied: usize) -> Readiness {
    let names: Vec<String> = (1..=applied).map(|i| format!("V{i}__m")).collect();
    Readiness {
        ready: true,
        database_reachable: true,
        applied: names,
        applied_count: applied,
        expected_count: applied,
        pending: vec![],
        error: None,
    }
}

fn pending() -> Readiness {
    Readiness {
        ready: false,
        database_reachable: true,
        applied: vec!["V1__init".into()],
        applied_count: 1,
        expected_count: 3,
        pending: vec!["V2__two".into(), "V3__three".into()],
        error: Some("2 of 3 migrations pending".into()),
    }
}

/// Never answers.
struct Hung;

impl ReadinessCheck for Hung {
    fn check(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

async fn serve(prefix: &'static str, health: Health, paths: HealthPaths) -> TestServer {
    let http = HttpServer::new(move || {
        let health = health.clone();
        App::new()
            // Inner middleware failing with an `Err` (not a response) for one path.
            .wrap_fn(|req, srv| {
                let fail = req.path() == "/mw-error";
                let fut = srv.call(req);
                async move {
                    if fail {
                        Err(actix_web::error::ErrorImATeapot("refused"))
                    } else {
                        fut.await
                    }
                }
            })
            .wrap(HttpMetrics::new(prefix))
            .configure(|cfg| health::mount(cfg, health, paths))
            .route(
                "/things/{id}",
                web::get().to(|id: web::Path<String>| async move {
                    HttpResponse::Ok().json(json!({ "id": id.into_inner() }))
                }),
            )
            .route(
                "/fail/{n}",
                web::get().to(|| async {
                    Err::<HttpResponse, _>(actix_web::error::ErrorBadRequest("bad"))
                }),
            )
            .default_service(server::not_found_json(ErrorStyle::Registry))
    })
    .workers(1)
    .disable_signals();
    let server = server::apply_limits(http, &ServerLimits::default())
        .bind(("127.0.0.1", 0))
        .unwrap();
    let addr: SocketAddr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    TestServer {
        base: format!("http://{addr}"),
        handle,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(prefix) && !l.starts_with('#'))
        .collect()
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern() {
    let prefix = "t_pattern";
    let health = Health::new("svc", prefix, FixedReadiness(ready(2)));
    let srv = serve(prefix, health, HealthPaths::RUNTIME).await;

    for id in ["a", "b", "c"] {
        let res = srv.get(&format!("/things/{id}")).await;
        assert_eq!(res.status(), 200);
    }
    let text = srv.metrics(HealthPaths::RUNTIME).await;

    let requests = series(&text, "t_pattern_http_requests_total{");
    let things: Vec<&&str> = requests
        .iter()
        .filter(|l| l.contains("route=\"/things/{id}\""))
        .collect();
    assert_eq!(
        things,
        [&"t_pattern_http_requests_total{method=\"GET\",route=\"/things/{id}\",status=\"200\"} 3"],
        "{text}"
    );
    assert!(
        text.contains(
            "t_pattern_http_request_duration_seconds_count{method=\"GET\",route=\"/things/{id}\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "t_pattern_http_request_duration_seconds_bucket{method=\"GET\",route=\"/things/{id}\",status=\"200\",le=\"0.0005\"}"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE t_pattern_http_request_duration_seconds histogram"));
    for id in ["\"/things/a\"", "\"/things/b\"", "\"/things/c\""] {
        assert!(!text.contains(id), "{text}");
    }

    // The previous scrape itself is counted under its own pattern.
    let text = srv.metrics(HealthPaths::RUNTIME).await;
    assert!(
        text.contains(
            "t_pattern_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"} 1"
        ),
        "{text}"
    );
    srv.stop().await;
}

#[actix_web::test]
async fn unmatched_paths_never_become_labels() {
    let prefix = "t_unmatched";
    let health = Health::new("svc", prefix, FixedReadiness(ready(1)));
    let srv = serve(prefix, health, HealthPaths::RUNTIME).await;

    let res = srv.get("/definitely/not/here/123").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"error": "not found"})
    );
    let res = srv.get("/definitely/not/here/456").await;
    assert_eq!(res.status(), 404);

    let text = srv.metrics(HealthPaths::RUNTIME).await;
    assert!(
        text.contains(
            "t_unmatched_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2"
        ),
        "{text}"
    );
    assert!(!text.contains("definitely"), "{text}");
    assert!(!text.contains("here/123"), "{text}");
    assert!(!text.contains("here/456"), "{text}");
    srv.stop().await;
}

#[actix_web::test]
async fn methods_and_errors_have_bounded_labels() {
    let prefix = "t_labels";
    let health = Health::new("svc", prefix, FixedReadiness(ready(1)));
    let srv = serve(prefix, health, HealthPaths::RUNTIME).await;

    // A made-up method on a matched resource: method="OTHER".
    let method = reqwest::Method::from_bytes(b"BREWCOFFEE").unwrap();
    let res = srv
        .client
        .request(method, format!("{}/things/x", srv.base))
        .send()
        .await
        .unwrap();
    // The resource matched but none of its routes: the app default answers 404, and the
    // series keeps the resource pattern.
    assert_eq!(res.status(), 404);
    // A handler error becomes a response: its status, its route.
    assert_eq!(srv.get("/fail/1").await.status(), 400);
    assert_eq!(srv.get("/fail/2").await.status(), 400);
    // An inner middleware's `Err`: the error's status, route unknown.
    assert_eq!(srv.get("/mw-error").await.status(), 418);

    let text = srv.metrics(HealthPaths::RUNTIME).await;
    for line in [
        "t_labels_http_requests_total{method=\"OTHER\",route=\"/things/{id}\",status=\"404\"} 1",
        "t_labels_http_requests_total{method=\"GET\",route=\"/fail/{n}\",status=\"400\"} 2",
        "t_labels_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"418\"} 1",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(!text.contains("BREWCOFFEE"), "{text}");
    assert!(!text.contains("mw-error"), "{text}");
    srv.stop().await;
}

#[actix_web::test]
async fn liveness_reports_service_and_extra_fields() {
    let prefix = "t_live";
    let health = Health::new("anip-registry", prefix, Hung)
        .with_extra("signing_mode", "local")
        .with_extra("active_key_id", "k1")
        .with_extra("status", "spoofed");
    let srv = serve(prefix, health, HealthPaths::REGISTRY).await;

    let started = Instant::now();
    let res = srv.get("/registry-api/v1/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    // Liveness touches no readiness source (this one never answers).
    assert!(started.elapsed() < Duration::from_secs(1));
    let text = res.text().await.unwrap();
    assert_eq!(
        text,
        r#"{"status":"ok","service":"anip-registry","signing_mode":"local","active_key_id":"k1"}"#
    );

    let res = srv
        .client
        .head(format!("{}/registry-api/v1/healthz", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().is_empty());
    srv.stop().await;
}

#[actix_web::test]
async fn readiness_ok_when_ready() {
    let prefix = "t_ready_ok";
    let health = Health::new("studio-api", prefix, FixedReadiness(ready(3)));
    let srv = serve(prefix, health, HealthPaths::STUDIO).await;

    let res = srv.get("/api/readyz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({
            "status": "ok",
            "service": "studio-api",
            "database": "ok",
            "migration": {"applied": true, "applied_count": 3, "expected_count": 3}
        })
    );
    assert_eq!(srv.get("/api/health").await.status(), 200);

    let text = srv.metrics(HealthPaths::STUDIO).await;
    for line in [
        "t_ready_ok_readiness_checks_total{status=\"ok\"} 1",
        "t_ready_ok_ready 1",
        "t_ready_ok_migrations_applied 1",
        "t_ready_ok_migrations_expected 3",
        "t_ready_ok_migrations_applied_count 3",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    assert!(!text.contains("t_ready_ok_readiness_checks_total{status=\"error\"}"));
    srv.stop().await;
}

#[actix_web::test]
async fn readiness_503_when_not_ready() {
    let prefix = "t_ready_err";
    let health = Health::new("anip-runtime", prefix, FixedReadiness(pending()));
    let srv = serve(prefix, health, HealthPaths::RUNTIME).await;

    for _ in 0..2 {
        let res = srv.get("/readyz").await;
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({
                "status": "error",
                "service": "anip-runtime",
                "error": "2 of 3 migrations pending",
                "database": "ok",
                "migration": {
                    "applied": false,
                    "applied_count": 1,
                    "expected_count": 3,
                    "pending": ["V2__two", "V3__three"]
                }
            })
        );
    }

    let text = srv.metrics(HealthPaths::RUNTIME).await;
    for line in [
        "t_ready_err_readiness_checks_total{status=\"error\"} 2",
        "t_ready_err_ready 0",
        "t_ready_err_migrations_applied 0",
        "t_ready_err_migrations_expected 3",
        "t_ready_err_migrations_applied_count 1",
        "t_ready_err_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"503\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    srv.stop().await;
}

#[actix_web::test]
async fn hung_readiness_is_bounded() {
    let prefix = "t_hung";
    let health = Health::new("svc", prefix, Hung).with_check_timeout(Duration::from_millis(200));
    let srv = serve(prefix, health, HealthPaths::RUNTIME).await;

    let started = Instant::now();
    let res = srv.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(
        body["error"].as_str().unwrap().contains("timed out"),
        "{body}"
    );
    assert_eq!(body["migration"]["applied"], false);
    // A database that did not answer says nothing of which migrations are pending.
    assert_eq!(body["database"], "unreachable");
    assert!(body["migration"].get("pending").is_none(), "{body}");

    let text = srv.metrics(HealthPaths::RUNTIME).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    for line in [
        "t_hung_ready 0",
        "t_hung_migrations_applied 0",
        "t_hung_migrations_expected 0",
        "t_hung_migrations_applied_count 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    srv.stop().await;
}

/// A handler that has not answered within the deadline gets 503 in the service's error style,
/// with `Retry-After`, counted by the metrics; a quick one is untouched.
#[actix_web::test]
async fn a_request_past_its_deadline_is_answered_503() {
    let prefix = "t_deadline";
    let http = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(|req, next| {
                server::deadline(req, next, Duration::from_millis(300), ErrorStyle::Studio)
            }))
            .wrap(HttpMetrics::new(prefix))
            .configure(|cfg| {
                health::mount(
                    cfg,
                    Health::new("svc", prefix, FixedReadiness(ready(1))),
                    HealthPaths::RUNTIME,
                )
            })
            .route(
                "/slow",
                web::get().to(|| async {
                    actix_web::rt::time::sleep(Duration::from_secs(30)).await;
                    HttpResponse::Ok().finish()
                }),
            )
            .route(
                "/quick",
                web::get().to(|| async { HttpResponse::Ok().finish() }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr: SocketAddr = http.addrs()[0];
    let running = http.run();
    let srv = TestServer {
        base: format!("http://{addr}"),
        handle: running.handle(),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    actix_web::rt::spawn(running);

    let res = srv.get("/slow").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": "the request was not answered within 0.3 s; retry later"})
    );
    assert_eq!(srv.get("/quick").await.status(), 200);
    let text = srv.metrics(HealthPaths::RUNTIME).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("t_deadline_http_requests_total{")
                && l.contains("status=\"503\"")),
        "{text}"
    );
    srv.stop().await;
}
