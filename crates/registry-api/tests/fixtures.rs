//! The upstream bundles: imported, they come back out with upstream's digests and receipts;
//! republished, our pipeline reproduces upstream's definition and manifest digests.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

/// Which digests reproduce from each bundle's content (shared/fixtures/upstream/README.md).
fn reproducible(name: &str) -> &'static [&'static str] {
    match name {
        "finance-operations-showcase-0.1.0"
        | "gitlab-fronting-showcase-0.2.0"
        | "linear-fronting-showcase-0.2.0"
        | "slack-fronting-showcase-0.2.0" => &["manifest", "service_definition", "lock"],
        "gtm-pipeline-q2-review-0.2.0" => &["manifest", "lock"],
        "gtm-pipeline-q2-review-0.3.5" => &[],
        other => panic!("unknown bundle {other}"),
    }
}

fn documents(record: &Value) -> [(&'static str, &Value, &str); 3] {
    [
        (
            "manifest",
            &record["manifest"],
            record["manifest_digest"].as_str().unwrap(),
        ),
        (
            "service_definition",
            &record["service_definition"],
            record["definition_digest"].as_str().unwrap(),
        ),
        (
            "lock",
            &record["recommended_lock"],
            record["lock_digest"].as_str().unwrap(),
        ),
    ]
}

#[tokio::test]
async fn every_bundle_imports_and_downloads_with_upstream_digests_and_receipts() {
    let (app, _db) = spawn_app().await;
    for (name, bundle) in bundles() {
        let (status, imported) = app.import(&bundle).await;
        assert_eq!(status, 201, "{name}: {imported}");
        let package = &bundle["package"];
        let id = package["package_id"].as_str().unwrap();
        let version = package["package_version"].as_str().unwrap();

        let response = app.get(&format!("packages/{id}/{version}/download")).await;
        assert_eq!(response.status(), 200, "{name}");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        let bytes = response.bytes().await.unwrap();
        assert_eq!(
            etag,
            format!("\"{}\"", signing::sha256_hex(&bytes)),
            "{name}"
        );
        let downloaded: Value = serde_json::from_slice(&bytes).unwrap();

        // The recorded digests come back exactly as upstream published them.
        for (field, bundle_field) in [
            ("manifest_digest", "manifest"),
            ("definition_digest", "service_definition"),
            ("lock_digest", "lock"),
        ] {
            assert_eq!(downloaded[field], package[field], "{name}: {field}");
            assert_eq!(
                downloaded[field], bundle["digests"][bundle_field],
                "{name}: {field}"
            );
        }
        // The content is upstream's, so the digests that reproduce upstream reproduce here.
        for (document, value, recorded) in documents(&downloaded) {
            let recomputed = signing::digest_value(value);
            if reproducible(&name).contains(&document) {
                assert_eq!(
                    recomputed, recorded,
                    "{name}: the {document} digest does not reproduce"
                );
            } else {
                assert_ne!(
                    recomputed, recorded,
                    "{name}: the {document} digest unexpectedly reproduces"
                );
            }
        }
        let expected_mismatches: Vec<&str> = ["manifest", "service_definition", "lock"]
            .into_iter()
            .filter(|d| !reproducible(&name).contains(d))
            .collect();
        assert_eq!(
            imported["digest_mismatches"],
            json!(expected_mismatches),
            "{name}"
        );

        // The receipt verifies with the registry's advertised keys, as a client would check.
        let (status, receipt) = app
            .get_json(&format!("packages/{id}/{version}/receipt"))
            .await;
        assert_eq!(status, 200);
        let keys = key_set(&app).await;
        let version_used = verify_receipt(&downloaded, &receipt, &keys);
        if name.starts_with("finance") {
            // A local Studio export carries no signature: the registry signed its own receipt.
            assert_eq!(imported["resigned"], true);
            assert_eq!(version_used, signing::PayloadVersion::Current);
        } else {
            // Upstream's own receipt is kept, byte for byte; these predate the execution
            // signature, so only the legacy payload verifies.
            assert_eq!(imported["resigned"], false, "{name}");
            assert_eq!(
                receipt["registry_signature"], bundle["receipt"]["registry_signature"],
                "{name}"
            );
            assert_eq!(
                receipt["receipt_id"], bundle["receipt"]["receipt_id"],
                "{name}"
            );
            assert_eq!(
                receipt["issued_at"], bundle["receipt"]["issued_at"],
                "{name}"
            );
            assert_eq!(version_used, signing::PayloadVersion::Legacy, "{name}");
        }
        // Importing again conflicts.
        let (status, _) = app.import(&bundle).await;
        assert_eq!(status, 409, "{name}");
    }
    let (_, list) = app.get_json("publications").await;
    assert_eq!(list["total"], 6);
    // Upstream's dev key is advertised (dev mode) because it verified the imported receipts.
    let (_, keys) = app.get_json("keys").await;
    assert!(keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["key_id"] == "anip-registry-dev-ed25519-v1"));
}

#[tokio::test]
async fn a_tampered_bundle_is_refused() {
    let (app, _db) = spawn_app().await;
    let mut bundle = bundle("gitlab-fronting-showcase-0.2.0");
    bundle["package"]["contract_signature"] = json!("sha256:tampered");
    let (status, error) = app.import(&bundle).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "receipt.registry_signature");
    let (status, _) = app
        .post_json("admin/imports", Some(PUBLISH_TOKEN), &bundle)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn production_registries_resign_dev_key_bundles() {
    let db = database().await;
    let seed = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    };
    let app = spawn_on(
        &db.url,
        &[
            "--mode",
            "production",
            "--key-id",
            "prod-test-1",
            "--ed25519-private-key",
            &seed,
        ],
    )
    .await;
    let bundle = bundle("slack-fronting-showcase-0.2.0");
    let (status, imported) = app.import(&bundle).await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["resigned"], true);
    assert_eq!(imported["receipt"]["key_id"], "prod-test-1");
    let (_, keys) = app.get_json("keys").await;
    assert_eq!(keys["signing_mode"], "production");
    assert!(keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["key_id"] != "anip-registry-dev-ed25519-v1"));
    let (_, downloaded) = app
        .get_json("packages/slack-fronting-showcase/0.2.0/download")
        .await;
    assert_eq!(
        downloaded["manifest_digest"],
        bundle["package"]["manifest_digest"]
    );
    let (_, receipt) = app
        .get_json("packages/slack-fronting-showcase/0.2.0/receipt")
        .await;
    verify_receipt(&downloaded, &receipt, &key_set(&app).await);
}

/// Turns a bundle back into the publish request upstream Studio sent.
fn publish_body_from(bundle: &Value) -> Value {
    let package = &bundle["package"];
    let publication = &bundle["publication"];
    let pick = |key: &str| {
        package
            .get(key)
            .or_else(|| publication.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "package_id": pick("package_id"),
        "package_version": pick("package_version"),
        "project_ref": pick("project_ref"),
        "product_revision_ref": pick("product_revision_ref"),
        "developer_revision_ref": pick("developer_revision_ref"),
        "contract_signature": pick("contract_signature"),
        "lineage": pick("lineage"),
        "schema_version": pick("schema_version"),
        "manifest": package["manifest"],
        "service_definition": package["service_definition"],
        "recommended_lock": package["recommended_lock"],
        "readme": package.get("readme").cloned().unwrap_or(json!("")),
    })
}

#[tokio::test]
async fn republishing_upstream_content_reproduces_upstream_digests() {
    let (app, _db) = spawn_app().await;
    for name in [
        "gitlab-fronting-showcase-0.2.0",
        "linear-fronting-showcase-0.2.0",
        "slack-fronting-showcase-0.2.0",
    ] {
        let bundle = bundle(name);
        let (status, body) = app.publish(&publish_body_from(&bundle)).await;
        assert_eq!(status, 201, "{name}: {body}");
        let package = &body["package"];
        let upstream = &bundle["package"];
        // The definition is signed as is.
        assert_eq!(
            package["definition_digest"], upstream["definition_digest"],
            "{name}"
        );
        // The current pipeline adds the package execution signature (these bundles predate it);
        // without it, manifest and lock are upstream's byte for byte.
        for (document, digest) in [
            ("manifest", "manifest_digest"),
            ("recommended_lock", "lock_digest"),
        ] {
            let mut value = package[document].clone();
            assert!(
                value["package_execution_signature"].is_string(),
                "{name}: {document}"
            );
            value
                .as_object_mut()
                .unwrap()
                .remove("package_execution_signature");
            assert_eq!(
                signing::digest_value(&value),
                upstream[digest].as_str().unwrap(),
                "{name}: {digest}"
            );
        }
        // And the new digests reproduce from the served content.
        let id = upstream["package_id"].as_str().unwrap();
        let (_, downloaded) = app.get_json(&format!("packages/{id}/0.2.0/download")).await;
        for (document, value, recorded) in documents(&downloaded) {
            assert_eq!(signing::digest_value(value), recorded, "{name}: {document}");
        }
        let (_, receipt) = app.get_json(&format!("packages/{id}/0.2.0/receipt")).await;
        assert_eq!(
            verify_receipt(&downloaded, &receipt, &key_set(&app).await),
            signing::PayloadVersion::Current
        );
    }
}

#[tokio::test]
async fn seed_demo_imports_a_directory_once() {
    let db = database().await;
    let app = spawn_on(&db.url, &[]).await;
    let dir = shared_dir().join("fixtures/upstream/registry-bundles");
    let imported = registry_api::seed::seed_demo(app.state(), &dir)
        .await
        .unwrap();
    assert_eq!(imported, 6);
    let again = registry_api::seed::seed_demo(app.state(), &dir)
        .await
        .unwrap();
    assert_eq!(again, 0);
    let (_, list) = app.get_json("publications").await;
    assert_eq!(list["total"], 6);
}
