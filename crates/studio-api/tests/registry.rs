//! Publication to the real Registry (crates/registry-api, served in-process on loopback):
//! Studio's packages pass the Registry's validation, its receipts verify, the trust policy is
//! applied and recorded, Registry errors pass through with their status, templates export.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "common/registry.rs"]
mod registry_server;

use common::*;
use registry_server::{Registry, TOKEN};
use serde_json::json;
use studio_api::config::Settings;

fn settings(registry: &Registry, mode: Option<&str>, key: Option<&str>) -> Settings {
    Settings {
        registry_url: Some(registry.api.clone()),
        registry_publish_token: Some(signing::Secret::new(TOKEN)),
        registry_required_mode: mode.map(str::to_owned),
        registry_trusted_key_id: key.map(str::to_owned),
        ..Settings::for_tests()
    }
}

#[actix_web::test]
async fn packages_publish_to_the_registry_and_their_receipts_are_verified() {
    let registry = Registry::start().await;
    let key_id = registry.active_key_id().await;

    let app = spawn(settings(&registry, Some("dev"), Some(&key_id))).await;
    let pid = authored_project(&app, "Registry Bound").await;
    let (status, published) = app
        .post(
            &format!("/api/projects/{pid}/registry-publications"),
            &json!({"package_version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, 201, "{published}");
    assert_eq!(
        published["trust"]["verdict"], "verified",
        "{}",
        published["trust"]
    );
    // The shared verifier's named checks, all passed, are recorded with the publication.
    let checks = published["trust"]["checks"].as_array().unwrap();
    for name in ["identity", "signature", "required_mode", "trusted_key_id"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == name && c["status"] == "pass"),
            "{name}: {checks:?}"
        );
    }
    assert_eq!(published["trust"]["payload_version"], "current");
    assert_eq!(published["package"]["package_id"], "registry-bound");
    assert!(published["record_id"].is_string());

    // The Registry serves what Studio built.
    let (status, record) = status_json(
        reqwest::get(format!("{}/packages/registry-bound/1.0.0", registry.api))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    let (_, package) = app
        .get(&format!(
            "/api/projects/{pid}/package?package_version=1.0.0"
        ))
        .await;
    assert_eq!(
        record["contract_signature"],
        package["request"]["contract_signature"]
    );

    // The same version again: the Registry's 409 passes through, and nothing is recorded.
    let (status, conflict) = app
        .post("/api/registry/publications", &package["request"])
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert!(conflict["detail"].is_string());

    // A policy the Registry does not meet: published, but untrusted, and recorded as such.
    let (base, handle) = app.serve_again(settings(&registry, Some("production"), Some(&key_id)));
    let response = reqwest::Client::new()
        .post(format!("{base}/api/projects/{pid}/registry-publications"))
        .json(&json!({"package_version": "1.0.1"}))
        .send()
        .await
        .unwrap();
    let (status, untrusted) = status_json(response).await;
    assert_eq!(status, 201, "{untrusted}");
    assert_eq!(untrusted["trust"]["verdict"], "untrusted");
    assert!(untrusted["trust"]["summary"]
        .as_str()
        .unwrap()
        .contains("required_mode"));
    handle.stop(false).await;

    let (_, recorded) = app
        .get(&format!("/api/projects/{pid}/registry-publications"))
        .await;
    let verdicts: Vec<&str> = recorded
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["untrusted", "verified"], "{recorded}");
    let (_, all) = app.get("/api/registry/publications").await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    // Templates: export a project, then list it from the Registry.
    let (status, exported) = app
        .post(
            "/api/registry/templates",
            &json!({"project_id": pid, "template_version": "0.1.0"}),
        )
        .await;
    assert_eq!(status, 201, "{exported}");
    let (status, templates) = app.get("/api/registry/templates").await;
    assert_eq!(status, 200);
    assert!(
        templates["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["template_id"] == "registry-bound-starter"),
        "{templates}"
    );

    // A wrong token: the Registry's 401 passes through.
    let wrong = Settings {
        registry_publish_token: Some(signing::Secret::new("not-the-token")),
        ..settings(&registry, None, None)
    };
    let (base, handle) = app.serve_again(wrong);
    let response = reqwest::Client::new()
        .post(format!("{base}/api/projects/{pid}/registry-publications"))
        .json(&json!({"package_version": "2.0.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    handle.stop(false).await;

    registry.stop().await;
}
