//! Listing and search stay index-backed at 100,000 packages: the plans never scan the table,
//! and the API answers within a generous bound.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const PACKAGES: i64 = 100_000;

async fn plan(client: &deadpool_postgres::Object, sql: &str) -> String {
    let rows = client.query(&format!("EXPLAIN {sql}"), &[]).await.unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn listing_and_search_stay_flat_at_100k_packages() {
    let db = database().await;
    let pool = db.pool();
    let client = pool.get().await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO registry_packages (package_id, package_version, project_ref, product_revision_ref, \
             developer_revision_ref, contract_signature, schema_version, publisher_id, publisher_type, \
             manifest_digest, definition_digest, lock_digest, name, search_text, published_at, published_at_ts, \
             manifest, service_definition, recommended_lock, record_json, record_etag, download_count) \
             SELECT 'pkg-' || i, '1.0.0', 'p', 'r', 'd', 'c', 'anip-service-definition/v1', 'bulk', 'organization', \
             'sha256:m', 'sha256:d', 'sha256:l', 'Package ' || i, 'pkg-' || i || ' package ' || i || ' bulk', \
             '2026-01-01T00:00:00Z', now() - (i || ' seconds')::interval, '{{}}', '{{}}', '{{}}', '\\x7b7d0a', 'e', i % 1000 \
             FROM generate_series(1, {PACKAGES}) AS i; \
             UPDATE registry_counters SET value = {PACKAGES} WHERE name = 'listed_packages'; \
             ANALYZE registry_packages;"
        ))
        .await
        .unwrap();

    let columns = "p.package_id, p.download_count";
    let base = format!(
        "SELECT {columns} FROM registry_packages p LEFT JOIN registry_publishers pub ON pub.publisher_id = p.publisher_id \
         WHERE p.lifecycle_status <> 'takedown'"
    );
    let order = "ORDER BY p.download_count DESC, p.published_at_ts DESC, p.package_id ASC, p.package_version DESC";
    let page = plan(&client, &format!("{base} {order} LIMIT 50 OFFSET 100")).await;
    assert!(page.contains("registry_packages_listing_idx"), "{page}");
    assert!(!page.contains("Seq Scan on registry_packages"), "{page}");
    let search = plan(
        &client,
        &format!("{base} AND p.search_text LIKE '%pkg-4242 %' {order} LIMIT 50"),
    )
    .await;
    assert!(
        search.contains("registry_packages_search_trgm_idx"),
        "{search}"
    );
    let prefix = plan(
        &client,
        &format!("{base} AND lower(p.package_id) LIKE 'zz%' {order} LIMIT 50"),
    )
    .await;
    assert!(
        prefix.contains("registry_packages_id_prefix_idx"),
        "{prefix}"
    );
    assert!(
        !prefix.contains("Seq Scan on registry_packages"),
        "{prefix}"
    );

    // Through the API: first page, a deep page and searches all answer quickly.
    let app = spawn_on(&db.url, &[]).await;
    for path in [
        "publications",
        "publications?offset=5000",
        "publications?q=pkg-4242",
        "publications?q=package%2099999",
        "publications?q=zz",
    ] {
        let started = Instant::now();
        let (status, body): (u16, Value) = app.get_json(path).await;
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "{path}: {body}");
        assert!(elapsed < Duration::from_secs(2), "{path} took {elapsed:?}");
        eprintln!("{path}: {elapsed:?}, total {}", body["total"]);
    }
    let (_, body) = app.get_json("publications").await;
    assert_eq!(body["total"], PACKAGES);
    assert_eq!(body["items"][0]["download_count"], 999);
    let (_, body) = app.get_json("publications?q=pkg-4242").await;
    assert!(body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["package_id"] == "pkg-4242"));
}
