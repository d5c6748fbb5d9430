//! A database that stops answering without closing its connections (a frozen server, a stalled
//! disk, a network that drops packets): a request is answered 503 `{"detail": ...}` within the
//! request deadline instead of being held for as long as the stall lasts, liveness stays up,
//! and Studio works again once the database answers.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use store::testing::StallingProxy;
use studio_api::config::Settings;

#[actix_web::test]
async fn a_stalled_database_is_answered_503_within_the_deadline() {
    let db = store::testing::test_database(&studio_api::MIGRATIONS).await;
    let proxy = StallingProxy::in_front_of(&db.url).await;
    let pool = store::connect_pool(proxy.url(), &store::PoolOptions::default()).unwrap();
    let limits = observability::ServerLimits {
        request_deadline: Duration::from_secs(2),
        ..test_limits()
    };
    let (base, handle) = serve_with_limits(pool, Settings::for_tests(), &limits);
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("{base}{path}")).send();
        async move { status_json(request.await.unwrap()).await }
    };
    // Several pooled connections exist before the stall, so requests reach a connection whose
    // query then waits, not only the pool's wait for a new one.
    let warm = futures_util::future::join_all((0..4).map(|_| get("/api/projects"))).await;
    for (status, body) in warm {
        assert_eq!(status, 200, "{body}");
    }

    proxy.stall(true);
    let create = http
        .post(format!("{base}/api/projects"))
        .json(&json!({"name": "Stalled", "domain": "expenses"}))
        .send();
    let answers = tokio::time::timeout(Duration::from_secs(60), async {
        let reads = futures_util::future::join_all((0..3).map(|_| get("/api/projects")));
        let (reads, create) = futures_util::future::join(reads, create).await;
        let create = status_json(create.unwrap()).await;
        reads.into_iter().chain([create]).collect::<Vec<_>>()
    })
    .await
    .expect("requests were held beyond the deadline");
    for (status, body) in answers {
        assert_eq!(status, 503, "{body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.starts_with("the request was not answered within 2 s"),
            "{body}"
        );
    }
    let (status, _) = get("/api/health").await;
    assert_eq!(status, 200, "liveness does not depend on the database");

    proxy.stall(false);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get("/api/readyz").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < until, "readyz stayed {status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = get("/api/projects").await;
    assert_eq!(status, 200, "{body}");
    handle.stop(false).await;
}
