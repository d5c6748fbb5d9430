//! Listing and search at 100,000 packages: the statements the registry runs touch a bounded
//! number of rows whatever the catalogue's size (read from their EXPLAIN ANALYZE plans, not from
//! timings), and their pages are exactly what a plain ORDER BY over every row gives.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use registry_api::store::{ListQuery, SEARCH_COUNT_CAP};
use serde_json::Value;

const PACKAGES: i64 = 100_000;

/// Rows the plan's nodes produced or filtered out, summed over loops: the work a statement did,
/// in a unit that does not depend on the machine's speed.
fn rows_touched(plan: &str) -> i64 {
    let number_after = |line: &str, key: &str| -> Option<i64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    plan.lines()
        .map(|line| {
            if let Some(rows) = number_after(line, "rows=") {
                rows * number_after(line, "loops=").unwrap_or(1)
            } else {
                number_after(line, "Rows Removed by Filter: ").unwrap_or(0)
            }
        })
        .sum()
}

/// The page as a plain sort over every matching row gives it: exact id matches first, then most
/// downloaded, newest, id, version.
async fn reference_page(
    client: &deadpool_postgres::Object,
    filter: &str,
    q: &str,
    limit: i64,
    offset: i64,
) -> Vec<String> {
    client
        .query(
            &format!(
                "SELECT package_id FROM registry_packages p \
                 WHERE lifecycle_status <> 'takedown' AND {filter} \
                 ORDER BY lower(package_id) = $1 DESC, download_count DESC, published_at_ts DESC, \
                 package_id ASC, package_version DESC LIMIT $2 OFFSET $3"
            ),
            &[&q, &limit, &offset],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["package_id"].as_str().unwrap().to_owned())
        .collect()
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
             UPDATE registry_counters SET value = {PACKAGES} WHERE name = 'listed_packages';"
        ))
        .await
        .unwrap();
    // What autovacuum does soon after a bulk import: statistics, and the visibility map that
    // lets the listing read its index alone.
    client
        .batch_execute("VACUUM (ANALYZE) registry_packages")
        .await
        .unwrap();

    // The statements the API runs, planned as the API plans them. The bound is far below the
    // catalogue: a page, an offset and the search count cap, not 100,000 rows.
    let app = spawn_on(&db.url, &[]).await;
    let store = &app.state().store;
    for (q, limit, offset) in [
        (None, 50, 0),
        (None, 20, 2000),
        (Some("pkg-4242"), 50, 0),      // rare: 11 matches
        (Some("pkg-42"), 50, 0),        // 1,111 matches, just over the cap
        (Some("package"), 50, 0),       // every package
        (Some("package 99999"), 50, 0), // one match, common trigrams
        (Some("zz"), 50, 0),            // id prefix, no match
        (Some("pk"), 50, 0),            // id prefix, every package
    ] {
        let query = ListQuery {
            q: q.map(str::to_owned),
            limit,
            offset,
        };
        let plan = store.explain_publications(&query).await.unwrap();
        let touched = rows_touched(&plan);
        eprintln!("{q:?} limit {limit} offset {offset}: {touched} rows touched");
        assert!(touched < 15_000, "{q:?}: {touched} rows touched\n{plan}");
        assert!(
            !plan.contains("Seq Scan on registry_packages") || plan.contains("Limit"),
            "{q:?}: unbounded scan\n{plan}"
        );
    }
    let list = store
        .explain_publications(&ListQuery {
            q: None,
            limit: 50,
            offset: 0,
        })
        .await
        .unwrap();
    assert!(
        list.contains("Index Only Scan using registry_packages_listing_search_idx"),
        "{list}"
    );
    let rare = store
        .explain_publications(&ListQuery {
            q: Some("pkg-4242".into()),
            limit: 50,
            offset: 0,
        })
        .await
        .unwrap();
    assert!(rare.contains("registry_packages_search_trgm_idx"), "{rare}");

    // Through the API: totals, the cap, exact id matches first, and pages identical to a plain
    // sort over every row.
    let (status, body): (u16, Value) = app.get_json("publications").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], PACKAGES);
    assert_eq!(body["total_exact"], true);
    assert_eq!(body["items"][0]["download_count"], 999);
    let everything = "true";
    assert_eq!(
        ids(&app.get_json("publications?limit=20&offset=2000").await.1),
        reference_page(&client, everything, "", 20, 2000).await
    );

    let (_, body) = app.get_json("publications?q=PKG-4242").await;
    assert_eq!(body["total"], 11);
    assert_eq!(body["total_exact"], true);
    assert_eq!(body["items"][0]["package_id"], "pkg-4242");
    assert_eq!(
        ids(&body),
        reference_page(&client, "search_text LIKE '%pkg-4242%'", "pkg-4242", 50, 0).await
    );

    let (_, body) = app.get_json("publications?q=pkg-42").await;
    assert_eq!(body["total"], SEARCH_COUNT_CAP);
    assert_eq!(body["total_exact"], false);
    assert_eq!(body["items"][0]["package_id"], "pkg-42");
    assert_eq!(
        ids(&body),
        reference_page(&client, "search_text LIKE '%pkg-42%'", "pkg-42", 50, 0).await
    );

    let (_, body) = app
        .get_json("publications?q=package&limit=20&offset=990")
        .await;
    assert_eq!(body["total"], SEARCH_COUNT_CAP);
    assert_eq!(body["total_exact"], false);
    assert_eq!(
        ids(&body),
        reference_page(&client, "search_text LIKE '%package%'", "package", 20, 990).await
    );

    let (_, body) = app.get_json("publications?q=package%2099999").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["package_id"], "pkg-99999");

    let (_, body) = app.get_json("publications?q=zz").await;
    assert_eq!(body["total"], 0);
    assert_eq!(body["total_exact"], true);
    assert_eq!(body["items"].as_array().unwrap().len(), 0);

    let (_, body) = app.get_json("publications?q=pk&limit=10").await;
    assert_eq!(body["total"], SEARCH_COUNT_CAP);
    assert_eq!(
        ids(&body),
        reference_page(&client, "lower(package_id) LIKE 'pk%'", "pk", 10, 0).await
    );
}
