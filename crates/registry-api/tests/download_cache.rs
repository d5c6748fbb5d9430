//! Downloads are served from memory, yet a lifecycle change made through one replica reaches
//! every other replica's cache at once (Postgres NOTIFY), not after the cache's TTL.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{database, publish_request, spawn_on, ADMIN_TOKEN};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_yank_through_one_replica_stops_downloads_on_another_within_a_second() {
    let db = database().await;
    let first = spawn_on(&db.url, &[]).await;
    let second = spawn_on(&db.url, &[]).await;
    let (status, _) = first.publish(&publish_request("cached-pkg", "1.0.0")).await;
    assert_eq!(status, 201);

    // Warm both replicas' caches.
    let path = "packages/cached-pkg/1.0.0/download";
    for app in [&first, &second] {
        for _ in 0..3 {
            assert_eq!(app.get(path).await.status(), 200);
        }
    }

    let (status, _) = first
        .patch_json(
            "admin/packages/cached-pkg/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "yanked", "reason": "broken build"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        first.get(path).await.status(),
        410,
        "the replica that yanked"
    );

    // The other replica learns of it through NOTIFY, well before the 5 s TTL.
    let started = Instant::now();
    loop {
        let status = second.get(path).await.status();
        if status == 410 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the second replica still served a yanked package after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Reinstating it is seen the same way.
    let (status, _) = second
        .patch_json(
            "admin/packages/cached-pkg/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 200);
    let started = Instant::now();
    while first.get(path).await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
