//! Drill 4: backup and restore of the Registry database.
//!
//! A live Registry holds realistic packages, published and imported (one deprecated,
//! downloads counted). `pg_dump`
//! (custom format) takes a backup while it serves; `pg_restore` loads it into a fresh
//! database, and a second Registry with the same signing key starts on the copy. The copy must
//! serve the same packages byte for byte: downloads (and their ETags), receipts, locks,
//! records with their counters and lifecycle, the key list and the listing; and every package
//! must verify there with the key pinned.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use registry_client::VerifyPolicy;
use serde_json::json;

use crate::common::{free_port, wait_for_status, Running, Service};
use crate::support::*;

/// Both Registries stand behind the same public address, as a restored deployment does (locks
/// name it).
const PUBLIC_URL: &str = "https://registry.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_backup_serves_the_same_signed_packages() {
    let dir = work_dir("backup_restore");
    let http = http();
    let source = store::testing::empty_database().await;
    let port = free_port();
    let original = Running::spawn_logged(
        Service::Registry,
        public_registry(&source.url, port),
        port,
        &dir.join("registry-original.log"),
    );
    wait_for_status(
        &http,
        &original.url(REGISTRY_READY),
        200,
        Duration::from_secs(60),
    )
    .await;
    let api = registry_api(&original.base);

    // Every realistic package under its own id and version, plus a second version of one.
    let packages = realistic_packages();
    let mut refs: Vec<(String, String)> = Vec::new();
    for (name, package) in &packages {
        let version = package["package_version"].as_str().unwrap().to_owned();
        let (status, body) = publish(&http, &api, &publish_request(package, name, &version))
            .await
            .unwrap();
        assert_eq!(status, 201, "{name}: {body}");
        refs.push((name.clone(), version));
    }
    let (name, package) = &packages[0];
    let (status, body) = publish(&http, &api, &publish_request(package, name, "9.9.9"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    refs.push((name.clone(), "9.9.9".to_owned()));
    // One deprecated: the lifecycle is database state too.
    let response = http
        .patch(format!("{api}/admin/packages/{name}/9.9.9/lifecycle"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"status": "deprecated", "reason": "restore drill"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", json_body(response).await);
    // The older upstream bundles come in through the admin import, with their upstream
    // receipts and keys: those must survive the restore too.
    let mut imported = Vec::new();
    for (stem, bundle) in upstream_bundles() {
        if bundle["package"]["manifest"]["anip_spec_version"] == "anip/0.24" {
            continue;
        }
        let response = http
            .post(format!("{api}/admin/imports"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&bundle)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            matches!(status, 200 | 201),
            "{stem}: {status} {}",
            json_body(response).await
        );
        let package = &bundle["package"];
        imported.push((
            package["package_id"].as_str().unwrap().to_owned(),
            package["package_version"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(imported.len(), 3, "the three older upstream bundles");
    let published = refs.len();
    refs.extend(imported);
    // Downloads, so the counters are not all zero; wait (bounded) until they are flushed.
    for (i, (id, version)) in refs.iter().enumerate() {
        for _ in 0..(i % 3) {
            let response = http
                .get(format!("{api}/packages/{id}/{version}/download"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, (id, version)) in refs.iter().enumerate() {
        loop {
            let (_, record) = get_json(&http, &format!("{api}/packages/{id}/{version}"))
                .await
                .unwrap();
            if record["download_count"].as_u64() == Some((i % 3) as u64) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id}@{version}: counts not flushed: {record}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The backup, taken from the live database, and its restore into a fresh one.
    let dump = dir.join("registry.dump");
    pg_tool(
        "pg_dump",
        &["--format=custom", "--no-owner", "--file"],
        &dump,
        &source.url,
    );
    let restored = store::testing::empty_database().await;
    pg_tool(
        "pg_restore",
        &["--no-owner", "--exit-on-error", "--single-transaction"],
        &dump,
        &restored.url,
    );
    let port = free_port();
    let copy = Running::spawn_logged(
        Service::Registry,
        public_registry(&restored.url, port),
        port,
        &dir.join("registry-restored.log"),
    );
    wait_for_status(
        &http,
        &copy.url(REGISTRY_READY),
        200,
        Duration::from_secs(60),
    )
    .await;
    let copy_api = registry_api(&copy.base);

    // The same state, compared as served (JSON first: downloads below change the counters).
    let mut paths = vec!["keys".to_owned(), "publications".to_owned()];
    for (id, version) in &refs {
        for view in ["", "/receipt", "/lock"] {
            paths.push(format!("packages/{id}/{version}{view}"));
        }
    }
    for path in &paths {
        let (status, before) = get_json(&http, &format!("{api}/{path}")).await.unwrap();
        assert_eq!(status, 200, "{path}: {before}");
        let (status, after) = get_json(&http, &format!("{copy_api}/{path}"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{path} on the copy: {after}");
        if path == "publications" {
            assert_eq!(
                listing_without_counts(&after),
                listing_without_counts(&before),
                "{path} differs after the restore"
            );
        } else {
            assert_eq!(after, before, "{path} differs after the restore");
        }
    }
    let (_, record) = get_json(&http, &format!("{copy_api}/packages/{name}/9.9.9"))
        .await
        .unwrap();
    assert_eq!(record["lifecycle"]["status"], "deprecated", "{record}");
    // Downloads byte for byte, with the same ETag.
    for (id, version) in &refs {
        let path = format!("packages/{id}/{version}/download");
        let (before_etag, before) = download(&http, &format!("{api}/{path}")).await;
        let (after_etag, after) = download(&http, &format!("{copy_api}/{path}")).await;
        assert_eq!(after_etag, before_etag, "{path}: ETag");
        assert!(
            after == before,
            "{path}: the bytes differ after the restore"
        );
    }
    // And they verify against the copy, with the one verifier and with the real CLI.
    // Published packages carry our receipts and verify with the key pinned. Imported ones
    // carry upstream receipts, some of which upstream itself made unverifiable (see the
    // fixtures' README): the verifier must say exactly the same of them before and after.
    for (i, (id, version)) in refs.iter().enumerate() {
        if i < published {
            verify_online(&copy_api, id, version).await;
        } else {
            let policy = VerifyPolicy::default();
            let (_, before) = fetch_report(&api, id, version, &policy).await;
            let (_, after) = fetch_report(&copy_api, id, version, &policy).await;
            assert_eq!(
                after, before,
                "{id}@{version}: verification differs after the restore"
            );
        }
    }
    cli_verify(&copy.base, &format!("{}@{}", refs[1].0, refs[1].1)).await;
    eprintln!(
        "backup drill: {} packages, dump of {} bytes, restored and verified",
        refs.len(),
        std::fs::metadata(&dump).unwrap().len()
    );

    for running in [original, copy] {
        let out = running.terminate();
        assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    }
}

/// The Registry on `db_url` behind [`PUBLIC_URL`].
fn public_registry(db_url: &str, port: u16) -> Command {
    let mut cmd = registry_command(db_url, port);
    cmd.env("ANIP_REGISTRY_PUBLIC_BASE_URL", PUBLIC_URL);
    cmd
}

/// Runs `pg_dump`/`pg_restore` (found next to the server binaries) with `args`, the dump
/// file and the database; panics with its output unless it succeeds.
fn pg_tool(name: &str, args: &[&str], file: &Path, database_url: &str) {
    let program = store::find_pg_bin(name)
        .unwrap_or_else(|| panic!("{name} not found (PATH or /usr/lib/postgresql/*/bin)"));
    let mut cmd = Command::new(program);
    cmd.args(args);
    if name == "pg_dump" {
        cmd.arg(file).arg("--dbname").arg(database_url);
    } else {
        cmd.arg("--dbname").arg(database_url).arg(file);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A download's ETag and bytes; panics unless 200.
async fn download(http: &reqwest::Client, url: &str) -> (Option<String>, Vec<u8>) {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.unwrap().to_vec();
    (etag, bytes)
}

/// A listing as its entries without their download counts, sorted, beside the rest of the
/// answer. A list may show counts up to a minute old (the catalogue refreshes them every 60 s)
/// and orders by them, so the original, whose catalogue may have loaded before the downloads
/// were flushed, can order differently from the freshly started copy. The counts themselves
/// are compared exactly in each version's record.
fn listing_without_counts(listing: &serde_json::Value) -> serde_json::Value {
    let mut listing = listing.clone();
    let mut items = listing["items"].as_array().cloned().unwrap_or_default();
    for item in &mut items {
        item.as_object_mut().unwrap().remove("download_count");
    }
    items.sort_by_key(|item| {
        (
            item["package_id"].to_string(),
            item["package_version"].to_string(),
        )
    });
    listing["items"] = serde_json::Value::Array(items);
    listing
}
