//! Test support: a registry on 127.0.0.1:0 in this process, against its own database.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;

use clap::Parser as _;
use registry_api::app::{self, Running};
use registry_api::config::Config;
use registry_api::MIGRATIONS;
use serde_json::{json, Value};
use store::testing::TestDatabase;

pub const PUBLISH_TOKEN: &str = "test-publish-token-0123456789abcdef";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
pub const PUBLISHER_ID: &str = "studio-test";
pub const PUBLISHER_TYPE: &str = "organization";

/// A running registry.
pub struct TestApp {
    pub running: Option<Running>,
    /// `http://127.0.0.1:port/registry-api/v1`
    pub api: String,
    pub db_url: String,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.api, path.trim_start_matches('/'))
    }

    pub fn state(&self) -> &registry_api::app::AppState {
        self.running.as_ref().unwrap().state()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get_json_with(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.client.patch(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn publish(&self, body: &Value) -> (u16, Value) {
        self.post_json("publications", Some(PUBLISH_TOKEN), body)
            .await
    }

    pub async fn import(&self, bundle: &Value) -> (u16, Value) {
        self.post_json("admin/imports", Some(ADMIN_TOKEN), bundle)
            .await
    }

    /// Stops the server gracefully (flushing download counts).
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

/// The default configuration plus `extra` arguments.
pub fn config(db_url: &str, extra: &[&str]) -> Config {
    let mut args = vec![
        "anip-registry",
        "--database-url",
        db_url,
        "--publish-token",
        PUBLISH_TOKEN,
        "--admin-token",
        ADMIN_TOKEN,
        "--publisher-id",
        PUBLISHER_ID,
        "--publisher-type",
        PUBLISHER_TYPE,
        "--db-pool-size",
        "24",
    ];
    args.extend_from_slice(extra);
    Config::try_parse_from(args).unwrap()
}

/// A fresh database with the registry's migrations.
pub async fn database() -> TestDatabase {
    store::testing::test_database(&MIGRATIONS).await
}

/// A registry on its own fresh database.
pub async fn spawn_app() -> (TestApp, TestDatabase) {
    let db = database().await;
    let app = spawn_on(&db.url, &[]).await;
    (app, db)
}

/// A registry on `db_url` with extra arguments.
pub async fn spawn_on(db_url: &str, extra: &[&str]) -> TestApp {
    spawn_with_pool_url(db_url, db_url, extra).await
}

/// A registry whose pool connects to `pool_url` (e.g. through a proxy) while the configuration
/// names `db_url`.
pub async fn spawn_with_pool_url(db_url: &str, pool_url: &str, extra: &[&str]) -> TestApp {
    spawn_with_limits(
        db_url,
        pool_url,
        extra,
        &observability::ServerLimits::default(),
    )
    .await
}

/// [`spawn_with_pool_url`] with server `limits` (e.g. a short request deadline).
pub async fn spawn_with_limits(
    db_url: &str,
    pool_url: &str,
    extra: &[&str],
    limits: &observability::ServerLimits,
) -> TestApp {
    let config = config(db_url, extra);
    let pool = store::connect_pool(
        pool_url,
        &store::PoolOptions {
            max_size: 24,
            wait_timeout: std::time::Duration::from_secs(2),
            connect_timeout: std::time::Duration::from_secs(2),
            ..store::PoolOptions::default()
        },
    )
    .unwrap();
    let state = app::build_state(&config, pool).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let running = app::start(state, listener, limits, false).unwrap();
    let api = format!("{}/registry-api/v1", running.base_url());
    TestApp {
        running: Some(running),
        api,
        db_url: db_url.to_owned(),
        client: reqwest::Client::new(),
    }
}

/// The shared fixtures directory: ANIP_SHARED_DIR or the repository's `shared/`. Panics (never
/// skips) when absent.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    assert!(
        dir.is_dir(),
        "fixtures directory {} is missing; set ANIP_SHARED_DIR",
        dir.display()
    );
    dir
}

/// The upstream registry bundles, by file stem.
pub fn bundles() -> Vec<(String, Value)> {
    let dir = shared_dir().join("fixtures/upstream/registry-bundles");
    let mut bundles: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".anip-package.json")
                .to_owned();
            let value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (name, value)
        })
        .collect();
    bundles.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        bundles.len(),
        6,
        "expected the six upstream bundles in {}",
        dir.display()
    );
    bundles
}

/// A bundle by file stem.
pub fn bundle(name: &str) -> Value {
    bundles()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no bundle {name}"))
        .1
}

/// A valid publish request (upstream's `validTestPublishPackageRequest`).
pub fn publish_request(package_id: &str, version: &str) -> Value {
    json!({
        "package_id": package_id,
        "package_version": version,
        "project_ref": "work-item-fronting",
        "product_revision_ref": "product-r3",
        "developer_revision_ref": "developer-r5",
        "contract_signature": "sha256:test-signature",
        "schema_version": "anip-service-definition/v1",
        "publisher_id": "someone-else",
        "lineage": {
            "project_ref": "work-item-fronting",
            "product_revision": {"ref": "product-r3", "artifact_id": "product-r3", "revision_number": 3},
            "developer_revision": {
                "ref": "developer-r5", "artifact_id": "developer-r5", "revision_number": 5,
                "contract_signature": "sha256:test-signature"
            }
        },
        "manifest": {
            "name": "Work Item Fronting <&>",
            "anip_spec_version": "anip/0.24",
            "agent_consumption_readiness": {
                "artifact_type": "agent_consumption_readiness",
                "status": "ready",
                "score": 100.0,
                "summary": {"blockers": 0, "warnings": 0, "info": 0, "probes": 1, "required_app_glue": 0},
                "findings": [],
                "probes": [{"id": "probe-1", "expected_outcome": "success"}],
                "required_app_glue": []
            },
            "agent_consumability": {
                "artifact_type": "agent_consumability_metadata",
                "schema_version": "anip-agent-consumability/v0",
                "capabilities": {
                    "test.search": {
                        "intent": {"category": "test.search", "summary": "Governed capability test.search."},
                        "business_effects": {"produces": ["data.read"], "does_not_produce": ["system.mutation"]}
                    }
                }
            }
        },
        "service_definition": {
            "artifact_type": "anip_service_definition",
            "contract_schema_version": "anip-service-definition/v1",
            "compiled_contract_identity": {"signature": "sha256:test-contract", "signature_algorithm": "sha256"},
            "identity": {
                "system_name": "Work Item Fronting", "domain_name": "test",
                "delivery_model": "standalone_service", "architecture_shape": "single_service"
            },
            "service_topology_bindings": [{
                "id": "svc-test", "service_id": "test-service", "service_name": "Work Item Fronting",
                "source_role": "data_access", "source_capabilities": ["test.search"],
                "formalized_capability_ids": ["test.search"], "owned_concept_ids": ["test_record"]
            }],
            "capability_formalizations": [{
                "id": "cap-test-search", "source_kind": "data_access", "service_id": "test-service",
                "capability_id": "test.search", "kind": "atomic", "title": "Search Test Records",
                "summary": "Search test records.", "intent_type": "read_only", "operation_type": "query",
                "side_effect_level": "none", "backend_operation": "searchTestRecords",
                "path_template": "/test/search", "output_shape": "test_search_result",
                "inputs": [{"input_name": "query", "input_type": "string", "required": true, "summary": "Search query."}]
            }]
        },
        "recommended_lock": {
            "build_pack": {"name": "anip-build-pack"},
            "verifier_pack": {"name": "anip-verifier"}
        },
        "readme": "Work Item Fronting package for registry validation tests.",
        "source_links": [{"title": "Test Source", "url": "https://github.com/anip-protocol/anip"}]
    })
}

/// The registry's advertised keys as a verification set.
pub async fn key_set(app: &TestApp) -> signing::PublicKeySet {
    let (status, keys) = app.get_json("keys").await;
    assert_eq!(status, 200);
    let infos: Vec<signing::PublicKeyInfo> = serde_json::from_value(keys["items"].clone()).unwrap();
    signing::PublicKeySet::from_infos(&infos).unwrap()
}

/// Verifies a downloaded record against a receipt the way upstream's client does.
pub fn verify_receipt(
    record: &Value,
    receipt: &Value,
    keys: &signing::PublicKeySet,
) -> signing::PayloadVersion {
    let issued_at = receipt["issued_at"].as_str().unwrap();
    let payload = signing::ReceiptPayload::from_package(record, issued_at);
    payload
        .verify(keys, receipt["registry_signature"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("receipt does not verify: {e}"))
}
