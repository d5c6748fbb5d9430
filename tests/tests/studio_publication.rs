//! From authoring to serving, across the real binaries: Studio publishes a project to the
//! Registry and verifies the receipt, the `anip` CLI verifies the package independently, and
//! the runtime starts from that Registry package and serves the project's capabilities.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{binary, free_port, wait_for_status, Running, Service};
use serde_json::{json, Value};

const PUBLISH_TOKEN: &str = "platform-test-publish-token-0123456789abcdef";
const KEY_ID: &str = "platform-test-key";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The shared upstream fixtures (`ANIP_SHARED_DIR`, else `../shared` beside the workspace).
fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("ANIP_SHARED_DIR")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn capability_ids(definition: &Value) -> Vec<String> {
    let mut ids: Vec<String> = definition["capability_formalizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["capability_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Publishes `project_id` through Studio, checks the verdict and the CLI, then serves the
/// package with the runtime and checks discovery and the manifest.
async fn publish_and_serve(
    http: &reqwest::Client,
    registry: &Running,
    studio: &Running,
    project_id: &str,
    package_version: &str,
) {
    let api = registry.url("/registry-api/v1");
    let (status, published) = send(
        http.post(studio.url(&format!("/api/projects/{project_id}/registry-publications")))
            .json(&json!({"package_version": package_version})),
    )
    .await;
    assert_eq!(status, 201, "{project_id}: {published}");
    let trust = &published["trust"];
    assert_eq!(trust["verdict"], "verified", "{project_id}: {trust}");
    assert_eq!(trust["receipt_key_id"], KEY_ID);
    assert_eq!(trust["registry_signing_mode"], "dev");
    let names: Vec<&str> = trust["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in [
        "signature",
        "required_mode",
        "trusted_key_id",
        "contract_signature",
    ] {
        assert!(names.contains(&expected), "{project_id}: {names:?}");
    }
    let package_id = published["package"]["package_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(published["package"]["package_version"], package_version);
    let reference = format!("{package_id}@{package_version}");
    let definition = published["package"]["service_definition"].clone();
    let expected_capabilities = capability_ids(&definition);
    assert!(!expected_capabilities.is_empty());

    // Studio lists the publication as verified.
    let (status, recorded) =
        send(http.get(studio.url(&format!("/api/projects/{project_id}/registry-publications"))))
            .await;
    assert_eq!(status, 200, "{recorded}");
    assert!(
        recorded
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["package_version"] == package_version && r["verdict"] == "verified"),
        "{recorded}"
    );

    // The CLI verifies the same package from the Registry, independently of Studio.
    let cli = Command::new(binary("anip"))
        .args([
            "package",
            "verify",
            "--registry-url",
            &api,
            "--package",
            &reference,
            "--trusted-key-id",
            KEY_ID,
        ])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "anip package verify {reference}: {:?}\n{}\n{}",
        cli.status,
        String::from_utf8_lossy(&cli.stdout),
        String::from_utf8_lossy(&cli.stderr)
    );

    // The runtime serves the package straight from the Registry, pinned to the Registry's key.
    let (status, keys) = send(http.get(format!("{api}/keys"))).await;
    assert_eq!(status, 200, "{keys}");
    let public_key = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == KEY_ID)
        .map(|k| k["public_key"].as_str().unwrap().to_owned())
        .unwrap();
    let db = store::testing::empty_database().await;
    let port = free_port();
    let mut cmd = Command::new(binary(Service::Runtime.binary()));
    cmd.env(Service::Runtime.database_var(), &db.url)
        .env("RUST_LOG", "info")
        .env("ANIP_RUNTIME_BIND", "127.0.0.1")
        .env("ANIP_RUNTIME_PORT", port.to_string())
        .env("ANIP_RUNTIME_PACKAGE", &reference)
        .env("ANIP_RUNTIME_REGISTRY_URL", &api)
        .env(
            "ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS",
            format!("{KEY_ID}={public_key}"),
        )
        .env("ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE", "1");
    let runtime = Running::spawn(Service::Runtime, cmd, port);
    wait_for_status(http, &runtime.url("/readyz"), 200, Duration::from_secs(60)).await;

    let (status, discovery) = send(http.get(runtime.url("/.well-known/anip"))).await;
    assert_eq!(status, 200, "{discovery}");
    let discovered = &discovery["anip_discovery"];
    assert_eq!(discovered["protocol"], "anip/0.24", "{discovery}");
    let mut served: Vec<String> = discovered["capabilities"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    served.sort();
    assert_eq!(served, expected_capabilities, "{project_id}: discovery");

    let response = http
        .get(runtime.url("/anip/manifest"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-anip-signature"));
    let manifest: Value = response.json().await.unwrap();
    let mut in_manifest: Vec<String> = match &manifest["capabilities"] {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => items
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect(),
        other => panic!("manifest capabilities: {other}"),
    };
    in_manifest.sort();
    assert_eq!(in_manifest, expected_capabilities, "{project_id}: manifest");
    for capability in &expected_capabilities {
        let formalization = definition["capability_formalizations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["capability_id"] == capability.as_str())
            .unwrap();
        let declared = &discovered["capabilities"][capability.as_str()];
        assert_eq!(
            declared["description"], formalization["summary"],
            "{project_id}: {capability}"
        );
    }
    let out = runtime.terminate();
    assert!(out.status.success(), "runtime exit: {:?}", out.status);
}

/// The built-in showcase and an imported upstream project, each published through Studio to
/// the Registry, verified by Studio and the CLI, and served by the runtime from the Registry.
#[tokio::test(flavor = "multi_thread")]
async fn a_studio_publication_is_verified_and_served_by_the_runtime() {
    let http = client();

    let registry_db = store::testing::empty_database().await;
    let registry_port = free_port();
    let mut cmd = Service::Registry.command(&registry_db.url, registry_port);
    cmd.env("ANIP_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN)
        .env("ANIP_REGISTRY_PUBLISHER_ID", "platform-tests")
        .env("ANIP_REGISTRY_PUBLISHER_TYPE", "organization");
    let registry = Running::spawn(Service::Registry, cmd, registry_port);
    wait_for_status(
        &http,
        &registry.url("/registry-api/v1/readyz"),
        200,
        Duration::from_secs(60),
    )
    .await;

    let studio_db = store::testing::empty_database().await;
    let studio_port = free_port();
    let mut cmd = Service::Studio.command(&studio_db.url, studio_port);
    cmd.env("STUDIO_REGISTRY_URL", registry.url("/registry-api/v1"))
        .env("STUDIO_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN)
        .env("STUDIO_REGISTRY_REQUIRED_MODE", "dev")
        .env("STUDIO_REGISTRY_TRUSTED_KEY_ID", KEY_ID);
    let studio = Running::spawn(Service::Studio, cmd, studio_port);
    wait_for_status(
        &http,
        &studio.url("/api/readyz"),
        200,
        Duration::from_secs(60),
    )
    .await;

    // The built-in showcase, seeded at start.
    let (status, projects) = send(http.get(studio.url("/api/projects"))).await;
    assert_eq!(status, 200, "{projects}");
    let showcase = projects
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Expense Approvals Showcase")
        .unwrap_or_else(|| panic!("no seeded showcase: {projects}"));
    let showcase_id = showcase["id"].as_str().unwrap().to_owned();
    publish_and_serve(&http, &registry, &studio, &showcase_id, "0.1.0").await;

    // An upstream project imported from its snapshot.
    let path = shared_dir()
        .join("fixtures/upstream/studio-snapshots/gitlab-fronting-showcase-0.2.0.studio-project-snapshot.json");
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}", path.display());
        }))
        .unwrap();
    let (status, imported) = send(
        http.post(studio.url("/api/project-snapshots/import"))
            .json(&snapshot),
    )
    .await;
    assert!(
        status == 200 || status == 201,
        "import: {status} {imported}"
    );
    let imported_id = imported["project"]["id"]
        .as_str()
        .or_else(|| imported["project_id"].as_str())
        .or_else(|| imported["id"].as_str())
        .unwrap_or_else(|| panic!("import answer: {imported}"))
        .to_owned();
    // Upstream's revision records a signature its own data does not reproduce (see
    // studio-api's contract tests), so Studio refuses to publish it as is: the author saves a
    // new revision, which Studio compiles and signs.
    let (status, refused) = send(
        http.post(studio.url(&format!(
            "/api/projects/{imported_id}/registry-publications"
        )))
        .json(&json!({"package_version": "0.2.1"})),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("contract_signature_drift"),
        "{refused}"
    );
    let (status, saved) = send(
        http.post(studio.url(&format!(
            "/api/projects/{imported_id}/developer/definition/revisions"
        )))
        .json(&json!({})),
    )
    .await;
    assert_eq!(status, 201, "{saved}");
    publish_and_serve(&http, &registry, &studio, &imported_id, "0.2.1").await;
}
