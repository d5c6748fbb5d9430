//! `GET publications` is served from a short-lived in-memory cache, yet a client reads its own
//! writes at once, and a change made through another replica (on the same database) reaches this
//! one's cache through Postgres NOTIFY, not only when the TTL runs out.
//!
//! The replicas here trust a page for ten minutes, so a change that shows up can only have come
//! through invalidation. Waits for another replica are bounded polls, never speed assertions.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{database, publish_request, spawn_on, TestApp, ADMIN_TOKEN, PUBLISHER_ID};
use serde_json::{json, Value};

/// Long enough that nothing in this file expires by TTL.
const LONG_TTL: &[&str] = &["--listing-cache-ttl-ms", "600000"];

/// How long another replica may take to hear of a change before the test fails: a bound for a
/// hung listener on a loaded machine, not a latency target.
const PROPAGATION_BOUND: Duration = Duration::from_secs(30);

async fn listing(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("publications{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn item<'a>(body: &'a Value, package_id: &str) -> Option<&'a Value> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["package_id"] == package_id)
}

/// Polls `app`'s listing until `seen` holds for it, or fails after [`PROPAGATION_BOUND`].
async fn eventually(app: &TestApp, query: &str, what: &str, seen: impl Fn(&Value) -> bool) {
    let started = Instant::now();
    loop {
        let body = listing(app, query).await;
        if seen(&body) {
            return;
        }
        assert!(
            started.elapsed() < PROPAGATION_BOUND,
            "{what}: not visible after {PROPAGATION_BOUND:?}; last page {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_is_listed_at_once_by_the_replica_that_took_it() {
    let db = database().await;
    let app = spawn_on(&db.url, LONG_TTL).await;
    // Cache the empty listing and an empty search first.
    assert_eq!(listing(&app, "").await["total"], 0);
    assert_eq!(listing(&app, "?q=fresh").await["total"], 0);

    let (status, body) = app.publish(&publish_request("fresh-pkg", "1.0.0")).await;
    assert_eq!(status, 201, "{body}");

    let body = listing(&app, "").await;
    assert_eq!(body["total"], 1, "{body}");
    assert!(item(&body, "fresh-pkg").is_some(), "{body}");
    let body = listing(&app, "?q=FRESH").await;
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["items"][0]["package_id"], "fresh-pkg");
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_through_another_replica_reach_this_replicas_cached_pages() {
    let db = database().await;
    let first = spawn_on(&db.url, LONG_TTL).await;
    let second = spawn_on(&db.url, LONG_TTL).await;
    for id in ["alpha-pkg", "beta-pkg"] {
        let (status, body) = first.publish(&publish_request(id, "1.0.0")).await;
        assert_eq!(status, 201, "{body}");
    }
    let body = listing(&first, "").await;
    assert_eq!(body["total"], 2, "{body}");

    // Within the TTL the first replica answers from memory: a change made behind the
    // registry's back (a download count, which no notification announces) is not seen yet.
    // (The replica's listener may still be delivering the notifications of the publishes above,
    // each of which rightly drops the pages; so try until a page outlives the change.)
    let client = first.state().store.pool().get().await.unwrap();
    let started = Instant::now();
    let mut count = 40_i64;
    loop {
        let before = listing(&first, "").await;
        count += 1;
        client
            .execute(
                "UPDATE registry_packages SET download_count = $1 WHERE package_id = 'beta-pkg'",
                &[&count],
            )
            .await
            .unwrap();
        let after = listing(&first, "").await;
        if after == before {
            break;
        }
        assert!(
            started.elapsed() < PROPAGATION_BOUND,
            "no listing page was ever served from memory"
        );
    }

    // A yank through the second replica reaches the first's cached page (with the count
    // written meanwhile, since the page is read again).
    let (status, body) = second
        .patch_json(
            "admin/packages/alpha-pkg/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "yanked", "reason": "broken build"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(&first, "", "a yank through another replica", |body| {
        item(body, "alpha-pkg").unwrap()["lifecycle"]["status"] == "yanked"
    })
    .await;
    let body = listing(&first, "").await;
    assert_eq!(item(&body, "beta-pkg").unwrap()["download_count"], count);
    assert_eq!(
        body["items"][0]["package_id"], "beta-pkg",
        "most downloaded first"
    );

    // A takedown removes the version from the other replica's listing and its search.
    assert_eq!(listing(&first, "?q=alpha").await["total"], 1);
    let (status, body) = second
        .patch_json(
            "admin/packages/alpha-pkg/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "takedown", "reason": "malware"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(
        &first,
        "?q=alpha",
        "a takedown through another replica",
        |body| body["total"] == 0,
    )
    .await;
    eventually(&first, "", "a takedown through another replica", |body| {
        body["total"] == 1 && item(body, "alpha-pkg").is_none()
    })
    .await;

    // A publish through the second replica.
    let (status, body) = second.publish(&publish_request("gamma-pkg", "1.0.0")).await;
    assert_eq!(status, 201, "{body}");
    eventually(&first, "", "a publish through another replica", |body| {
        item(body, "gamma-pkg").is_some()
    })
    .await;

    // A publisher's status, which every listed item shows.
    assert_eq!(
        item(&listing(&first, "").await, "gamma-pkg").unwrap()["publisher"]["status"],
        "active"
    );
    let (status, body) = second
        .patch_json(
            &format!("admin/publishers/{PUBLISHER_ID}/status"),
            Some(ADMIN_TOKEN),
            &json!({"status": "suspended", "reason": "review"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(
        &first,
        "",
        "a publisher suspension through another replica",
        |body| item(body, "gamma-pkg").unwrap()["publisher"]["status"] == "suspended",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browse_ui_lists_through_the_same_cache() {
    let db = database().await;
    let app = spawn_on(&db.url, LONG_TTL).await;
    let ui = format!(
        "{}/registry/packages",
        app.running.as_ref().unwrap().base_url()
    );
    let page = app.client.get(&ui).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(!page.text().await.unwrap().contains("ui-listed-pkg"));
    let (status, body) = app
        .publish(&publish_request("ui-listed-pkg", "1.0.0"))
        .await;
    assert_eq!(status, 201, "{body}");
    let page = app.client.get(&ui).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ui-listed-pkg"));
}
