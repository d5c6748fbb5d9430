//! The in-memory catalogue answers every page exactly as the database does: the same items in
//! the same order, the same totals and caps, on rows chosen to tie, collide and surprise
//! (upper-case ids, shared ids across versions, tied counts and times, taken-down and yanked
//! versions, publishers with and without a row, LIKE metacharacters, non-ASCII text). And the
//! running registry serves lists from it, follows writes at once, and stops serving it while
//! the database is unreachable.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use registry_api::catalogue::Snapshot;
use registry_api::store::{ListQuery, Store};
use serde_json::{json, Value};

const ROWS: i64 = 4000;

async fn seed(client: &deadpool_postgres::Object) {
    client
        .batch_execute(&format!(
            "INSERT INTO registry_publishers (publisher_id, publisher_type, display_name, website_url) \
             VALUES ('acme', 'organization', 'Acme Tools', 'https://acme.example') \
             ON CONFLICT DO NOTHING; \
             INSERT INTO registry_packages (package_id, package_version, project_ref, product_revision_ref, \
             developer_revision_ref, contract_signature, schema_version, publisher_id, publisher_type, \
             manifest_digest, definition_digest, lock_digest, name, search_text, published_at, published_at_ts, \
             manifest, service_definition, recommended_lock, record_json, record_etag, download_count, \
             lifecycle_status, lifecycle_reason) \
             SELECT id, version, 'p', 'r', 'd', 'c' || i, 'anip-service-definition/v1', publisher, 'organization', \
             'sha256:m', 'sha256:d', 'sha256:l', 'Package ' || i, \
             lower(id) || ' package ' || i || CASE WHEN i % 5 = 0 THEN ' 100% _under_ café' ELSE '' END \
               || ' ' || publisher, \
             '2026-01-01T00:00:00Z', timestamptz '2026-01-01 00:00:00+00' + ((i % 50) || ' seconds')::interval, \
             '{{}}', '{{}}', '{{}}', '\\x7b7d0a', 'e', i % 7, status, \
             CASE WHEN status = 'active' THEN '' ELSE 'because' END \
             FROM (SELECT i, \
                     CASE WHEN i % 11 = 0 THEN 'PKG-' ELSE 'pkg-' END || (i % 1500) AS id, \
                     (i / 1500) || '.0.' || (i % 3) AS version, \
                     CASE WHEN i % 2 = 0 THEN 'acme' ELSE 'ghost' END AS publisher, \
                     CASE WHEN i % 13 = 0 THEN 'takedown' WHEN i % 17 = 0 THEN 'yanked' \
                          WHEN i % 19 = 0 THEN 'deprecated' ELSE 'active' END AS status \
                   FROM generate_series(1, {ROWS}) AS i) s; \
             UPDATE registry_counters SET value = \
               (SELECT count(*) FROM registry_packages WHERE lifecycle_status <> 'takedown') \
             WHERE name = 'listed_packages';"
        ))
        .await
        .unwrap();
}

fn page_json(page: &registry_api::store::PublicationPage) -> Value {
    json!({"items": page.items, "total": page.total, "total_exact": page.total_exact})
}

#[tokio::test]
async fn the_catalogue_pages_exactly_as_the_database_does() {
    let db = database().await;
    let pool = db.pool();
    seed(&pool.get().await.unwrap()).await;
    let store = Store::new(pool);
    let snapshot = Snapshot::build(0, Instant::now(), store.catalogue_rows().await.unwrap());
    assert_eq!(snapshot.len() as i64, store.listed_count().await.unwrap());
    assert_eq!(
        snapshot.fingerprint(),
        store.catalogue_fingerprint().await.unwrap()
    );

    let searches = [
        None,
        Some("pkg-1"),
        Some("pkg-12"),
        Some("pkg-1499"),
        Some("pkg-44"), // an upper-case id's exact match, among lower-case ones
        Some("p"),
        Some("pk"),
        Some("pkg"),
        Some("package"),
        Some("package 3999"),
        Some("acme"),
        Some("ghost"),
        Some("100%"),
        Some("_under_"),
        Some("0%"),
        Some("_"),
        Some("%"),
        Some("café"),
        Some("é"),
        Some("zz"),
        Some("nothing here"),
        Some("kg-7 package 7"),
    ];
    let pages = [
        (50, 0),
        (1, 0),
        (100, 37),
        (7, 995),
        (20, 1000),
        (10, 3600),
        (5, 100_000),
    ];
    let mut compared = 0;
    for q in searches {
        for (limit, offset) in pages {
            let query = ListQuery {
                q: q.map(str::to_owned),
                limit,
                offset,
            };
            let from_database = store.list_publications_page(&query).await.unwrap();
            let from_catalogue = snapshot.page(&query);
            assert_eq!(
                page_json(&from_catalogue),
                page_json(&from_database),
                "q {q:?}, limit {limit}, offset {offset}"
            );
            compared += from_database.items.len();
        }
    }
    // The comparison saw real pages, not only empty ones.
    assert!(compared > 2000, "{compared} items compared");
}

async fn listing(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("publications{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn metric(app: &TestApp, name: &str) -> Option<f64> {
    let text = app.get("metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

async fn catalogue_pages(app: &TestApp) -> f64 {
    // Absent until the first page (in a test process, the recorder is installed after the
    // series are registered).
    metric(app, "anip_registry_catalogue_pages_total")
        .await
        .unwrap_or(0.0)
}

/// The listing for `query` once the catalogue answers it (it loads at start, and again after
/// every write, at most once a second).
async fn from_catalogue(app: &TestApp, query: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let served = catalogue_pages(app).await;
        let body = listing(app, query).await;
        if catalogue_pages(app).await > served {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the catalogue never answered {query}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_registry_lists_from_the_catalogue_and_follows_writes_at_once() {
    let db = database().await;
    let pool = db.pool();
    seed(&pool.get().await.unwrap()).await;
    let listed = Store::new(pool).listed_count().await.unwrap();
    let app = spawn_on(&db.url, &[]).await;
    // Exact id matches, whatever their case, come first.
    let body = from_catalogue(&app, "?q=PKG-44&limit=4").await;
    let ids: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["package_id"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(ids, ["pkg-44", "pkg-44", "pkg-44", "pkg-447"], "{body}");
    assert_eq!(from_catalogue(&app, "").await["total"], listed);

    // A publish is listed by the very next request (the catalogue is no longer current; the
    // database answers until it reloads), then by the reloaded catalogue.
    let (status, body) = app.publish(&publish_request("fresh-one", "1.0.0")).await;
    assert_eq!(status, 201, "{body}");
    let body = listing(&app, "?q=fresh-one").await;
    assert_eq!(body["total"], 1, "{body}");
    let body = from_catalogue(&app, "?q=fresh-one").await;
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(from_catalogue(&app, "").await["total"], listed + 1);

    // A yank shows at once too.
    let (status, body) = app
        .patch_json(
            "admin/packages/fresh-one/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "yanked", "reason": "broken"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let body = listing(&app, "?q=fresh-one").await;
    assert_eq!(body["items"][0]["lifecycle"]["status"], "yanked", "{body}");
}

#[tokio::test]
async fn a_catalogue_above_its_limit_is_not_held_and_lists_still_answer() {
    let db = database().await;
    let pool = db.pool();
    seed(&pool.get().await.unwrap()).await;
    let listed = Store::new(pool).listed_count().await.unwrap();
    let app = spawn_on(&db.url, &["--catalogue-max-versions", "1000"]).await;
    // Its first load is due at once; give it several ticks.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(app.state().listing_cache.catalogue().current().is_none());
    assert_eq!(listing(&app, "").await["total"], listed);
    let body = listing(&app, "?q=pkg-44&limit=4").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 4, "{body}");
}
