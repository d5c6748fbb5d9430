//! What the drills share: service commands with publishing credentials, realistic publish
//! requests, the package verifier, SQL integrity checks and a few HTTP helpers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use registry_client::{
    fetch_and_verify, PackageBundle, RegistryClient, VerificationReport, VerifyPolicy,
};
use serde_json::{json, Value};
use signing::PublicKeySet;

use crate::common::{binary, free_port, Service};

/// The Registry's publish token in the drills.
pub const PUBLISH_TOKEN: &str = "drill-publish-token-0123456789abcdef0123456789";
/// The Registry's admin token in the drills.
pub const ADMIN_TOKEN: &str = "drill-admin-token-0123456789abcdef0123456789ab";
/// The first-party publisher the publish token stands for.
pub const PUBLISHER_ID: &str = "drill-publisher";
/// The signing key id [`Service::command`] configures.
pub const KEY_ID: &str = "platform-test-key";
/// The signing seed [`Service::command`] configures ("platform-test-seed-32-bytes-long").
const KEY_SEED: &[u8; 32] = b"platform-test-seed-32-bytes-long";

/// The runtime's bootstrap API key and the principal it stands for.
pub const RUNTIME_API_KEY: &str = "drill-runtime-bootstrap-key";
pub const RUNTIME_PRINCIPAL: &str = "human:drill@example.com";
/// What the runtime sends to the flight backend and the backend expects.
pub const BACKEND_API_KEY: &str = "platform-test-backend-key";

pub const REGISTRY_READY: &str = "/registry-api/v1/readyz";
pub const STUDIO_READY: &str = "/api/readyz";
pub const RUNTIME_READY: &str = "/readyz";

/// An HTTP client for the drills: bounded timeouts, so a hung service fails the drill.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A fresh directory for one drill's service logs and dumps, kept after the run for inspection.
pub fn work_dir(drill: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fault-drills")
        .join(drill);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The last lines of a log file, for failure messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    format!("{}:\n{}", path.display(), lines[start..].join("\n"))
}

/// The Registry on `db_url` at `port`, with publishing and admin credentials and a small pool
/// (the drills run several processes against one Postgres).
pub fn registry_command(db_url: &str, port: u16) -> Command {
    let mut cmd = Service::Registry.command(db_url, port);
    cmd.env("ANIP_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN)
        .env("ANIP_REGISTRY_PUBLISHER_ID", PUBLISHER_ID)
        .env("ANIP_REGISTRY_PUBLISHER_TYPE", "organization")
        .env("ANIP_REGISTRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ANIP_REGISTRY_DB_POOL_SIZE", "8");
    cmd
}

/// The runtime on `db_url` at `port`, serving the flight example against `backend_url`, with
/// one bootstrap API key (stored as its hash).
pub fn runtime_command(db_url: &str, port: u16, backend_url: &str) -> Command {
    let mut cmd = Service::Runtime.command(db_url, port);
    cmd.env(
        "ANIP_RUNTIME_API_KEY_HASHES",
        format!(
            "{RUNTIME_PRINCIPAL}={}",
            signing::token_hash(RUNTIME_API_KEY)
        ),
    )
    .env(
        "ANIP_RUNTIME_BACKEND_URLS",
        format!("flight_backend={backend_url}"),
    );
    cmd
}

/// Runs `service`'s migrate-only job on `db_url`, as a replicated deployment does before it
/// starts replicas with migrations off.
pub fn migrate_job(service: Service, db_url: &str) {
    let out = service
        .command(db_url, free_port())
        .env(service.migrate_only_var(), "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{service:?} migrate job: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `http://127.0.0.1:port/registry-api/v1`.
pub fn registry_api(base: &str) -> String {
    format!("{base}/registry-api/v1")
}

/// The real flight backend binary; killed on drop.
pub struct FlightBackend {
    child: Child,
    pub url: String,
}

impl FlightBackend {
    pub fn start(log: &Path) -> FlightBackend {
        let port = free_port();
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(binary("flight-backend"))
            .env("FLIGHT_BACKEND_BIND", "127.0.0.1")
            .env("FLIGHT_BACKEND_PORT", port.to_string())
            .env("FLIGHT_BACKEND_API_KEY", BACKEND_API_KEY)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let address = format!("127.0.0.1:{port}");
        // The guard first: a backend that never listens is still killed (on drop).
        let backend = FlightBackend {
            child,
            url: format!("http://{address}"),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(&address).is_ok() {
                return backend;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "flight-backend did not listen within 15 s\n{}",
            log_tail(log)
        );
    }
}

impl Drop for FlightBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shared fixtures directory: `ANIP_SHARED_DIR` or the `shared/` beside the repository.
/// Panics (never skips) when absent.
fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    assert!(
        dir.is_dir(),
        "fixtures directory {} is missing; set ANIP_SHARED_DIR",
        dir.display()
    );
    dir
}

/// The upstream Registry bundles (60 KB to 270 KB), by file stem, read whole.
pub fn upstream_bundles() -> Vec<(String, Value)> {
    let dir = shared_dir().join("fixtures/upstream/registry-bundles");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert_eq!(
        paths.len(),
        6,
        "the six upstream bundles in {}",
        dir.display()
    );
    paths
        .iter()
        .map(|path| {
            let stem = path.file_name().unwrap().to_string_lossy();
            let stem = stem.trim_end_matches(".anip-package.json").to_owned();
            let bundle = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            (stem, bundle)
        })
        .collect()
}

/// Realistic packages to publish (the `package` of a bundle), by package id: the upstream
/// bundles made for the current publish rules, `anip/0.24` (110 KB to 125 KB each). The older
/// upstream bundles (and the flight example, whose capability ids lack the dotted form) are
/// refused by those rules; they reach a Registry through `admin/imports`.
pub fn realistic_packages() -> Vec<(String, Value)> {
    let packages: Vec<(String, Value)> = upstream_bundles()
        .into_iter()
        .map(|(_, bundle)| bundle["package"].clone())
        .filter(|package| package["manifest"]["anip_spec_version"] == "anip/0.24")
        .map(|package| (package["package_id"].as_str().unwrap().to_owned(), package))
        .collect();
    assert_eq!(packages.len(), 3, "the three anip/0.24 upstream bundles");
    packages
}

/// A publish request carrying `package`'s documents under a new id and version (the manifest
/// and lock restate both, so they are rewritten too).
pub fn publish_request(package: &Value, package_id: &str, version: &str) -> Value {
    let mut manifest = package["manifest"].clone();
    let mut lock = package["recommended_lock"].clone();
    for document in [&mut manifest, &mut lock] {
        let Some(map) = document.as_object_mut() else {
            continue;
        };
        if map.contains_key("package_id") {
            map.insert("package_id".to_owned(), json!(package_id));
        }
        for key in ["package_version", "version", "blueprint_version"] {
            if map.contains_key(key) {
                map.insert(key.to_owned(), json!(version));
            }
        }
    }
    let mut request = json!({
        "package_id": package_id,
        "package_version": version,
        "manifest": manifest,
        "recommended_lock": lock,
    });
    for field in [
        "project_ref",
        "product_revision_ref",
        "developer_revision_ref",
        "contract_signature",
        "lineage",
        "schema_version",
        "service_definition",
        "readme",
    ] {
        if !package[field].is_null() {
            request[field] = package[field].clone();
        }
    }
    // Older upstream packages state their revision refs only in the lineage.
    let lineage = &package["lineage"];
    for (field, from) in [
        ("project_ref", &lineage["project_ref"]),
        ("product_revision_ref", &lineage["product_revision"]["ref"]),
        (
            "developer_revision_ref",
            &lineage["developer_revision"]["ref"],
        ),
    ] {
        if request[field].is_null() && from.is_string() {
            request[field] = from.clone();
        }
    }
    request
}

/// `POST publications` with the publish token.
pub async fn publish(
    http: &reqwest::Client,
    api: &str,
    request: &Value,
) -> Result<(u16, Value), reqwest::Error> {
    let response = http
        .post(format!("{api}/publications"))
        .bearer_auth(PUBLISH_TOKEN)
        .json(request)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// `GET` a JSON resource: status, body (`Null` when not JSON) and whether the content type
/// said JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Result<(u16, Value), reqwest::Error> {
    let response = http.get(url).send().await?;
    let status = response.status().as_u16();
    Ok((status, json_body(response).await))
}

/// The body of a response as JSON, or `Null` when it is not JSON (checked by content type).
pub async fn json_body(response: reqwest::Response) -> Value {
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = response.bytes().await.unwrap_or_default();
    if !is_json {
        return Value::Null;
    }
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Whether a response is the documented outage answer: 503 with a JSON error body. The
/// Registry says `{"error": ...}`, Studio (like upstream's) `{"detail": ...}`, the runtime an
/// ANIP failure of type `service_unavailable` that invites a retry, and a readiness body
/// `"status": "error"`.
pub fn is_outage_answer(status: u16, body: &Value) -> bool {
    status == 503
        && (body["error"].is_string()
            || body["error"].is_object()
            || body["detail"].is_string()
            || (body["failure"]["type"] == "service_unavailable"
                && body["failure"]["retry"] == true)
            || body["status"] == "error")
}

/// The verification policy of the drills: the receipt must be signed by the configured key,
/// pinned by its public half.
pub fn verify_policy() -> VerifyPolicy {
    VerifyPolicy {
        trusted_key_id: Some(KEY_ID.to_owned()),
        trusted_keys: Some(PublicKeySet::parse_list(&trusted_key_entry()).unwrap()),
        ..VerifyPolicy::default()
    }
}

/// `KEY_ID=base64 public key`, as `--trusted-key` takes it.
pub fn trusted_key_entry() -> String {
    let public = signing::SigningKey::from_seed(KEY_SEED)
        .verifying_key()
        .to_base64();
    format!("{KEY_ID}={public}")
}

/// Fetches `id@version` from the Registry at `api` and verifies it with the one verifier;
/// panics with the failed checks unless every check passes.
pub async fn verify_online(api: &str, package_id: &str, version: &str) -> PackageBundle {
    verify_online_with(api, package_id, version, &verify_policy()).await
}

/// [`verify_online`] under `policy`.
pub async fn verify_online_with(
    api: &str,
    package_id: &str,
    version: &str,
    policy: &VerifyPolicy,
) -> PackageBundle {
    let (bundle, report) = fetch_report(api, package_id, version, policy).await;
    let failures: Vec<String> = report
        .failures()
        .map(|check| format!("{check:?}"))
        .collect();
    assert!(
        report.ok(),
        "{package_id}@{version} does not verify: {failures:?}"
    );
    bundle
}

/// Fetches `id@version` from the Registry at `api` and runs the one verifier under `policy`,
/// whatever its verdict.
pub async fn fetch_report(
    api: &str,
    package_id: &str,
    version: &str,
    policy: &VerifyPolicy,
) -> (PackageBundle, VerificationReport) {
    let client = RegistryClient::new(api).unwrap();
    fetch_and_verify(&client, package_id, version, policy)
        .await
        .unwrap_or_else(|e| panic!("fetching {package_id}@{version}: {e}"))
}

/// `anip package verify` (the real CLI binary) against the Registry at `root`, with the key
/// pinned; panics unless it exits 0 reporting every check passed.
pub async fn cli_verify(root: &str, package_ref: &str) {
    let out = tokio::process::Command::new(binary("anip"))
        .args([
            "package",
            "verify",
            "--registry-url",
            root,
            "--package",
            package_ref,
            "--trusted-key-id",
            KEY_ID,
            "--trusted-key",
            &trusted_key_entry(),
            "--json",
        ])
        .env_remove("ANIP_REGISTRY_PUBLISH_TOKEN")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "anip package verify {package_ref}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
}

/// Packages that are half-written: a package row without its receipt, lineage or ownership
/// row, or a receipt, lineage or ownership row without its package. Empty when every
/// publication was all or nothing.
pub async fn half_written(db_url: &str) -> Vec<String> {
    let pool = store::connect_pool(db_url, &store::PoolOptions::default()).unwrap();
    let client = pool.get().await.unwrap();
    let rows = client
        .query(
            "SELECT 'package without ' || concat_ws(', ', \
                    CASE WHEN r.package_id IS NULL THEN 'receipt' END, \
                    CASE WHEN l.package_id IS NULL THEN 'lineage' END, \
                    CASE WHEN o.artifact_id IS NULL THEN 'ownership' END) \
                    || ': ' || p.package_id || '@' || p.package_version \
             FROM registry_packages p \
             LEFT JOIN registry_receipts r \
               ON r.package_id = p.package_id AND r.package_version = p.package_version \
             LEFT JOIN registry_lineages l \
               ON l.package_id = p.package_id AND l.package_version = p.package_version \
             LEFT JOIN registry_artifact_ownership o \
               ON o.artifact_kind = 'package' AND o.artifact_id = p.package_id \
             WHERE r.package_id IS NULL OR l.package_id IS NULL OR o.artifact_id IS NULL \
             UNION ALL \
             SELECT 'receipt without package: ' || package_id || '@' || package_version \
             FROM registry_receipts r WHERE NOT EXISTS (SELECT 1 FROM registry_packages p \
               WHERE p.package_id = r.package_id AND p.package_version = r.package_version) \
             UNION ALL \
             SELECT 'lineage without package: ' || package_id || '@' || package_version \
             FROM registry_lineages l WHERE NOT EXISTS (SELECT 1 FROM registry_packages p \
               WHERE p.package_id = l.package_id AND p.package_version = l.package_version) \
             UNION ALL \
             SELECT 'ownership without package: ' || artifact_id \
             FROM registry_artifact_ownership o WHERE o.artifact_kind = 'package' \
               AND NOT EXISTS (SELECT 1 FROM registry_packages p WHERE p.package_id = o.artifact_id)",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// `id@version` of every package row.
pub async fn stored_packages(db_url: &str) -> Vec<String> {
    let pool = store::connect_pool(db_url, &store::PoolOptions::default()).unwrap();
    let client = pool.get().await.unwrap();
    let rows = client
        .query(
            "SELECT package_id || '@' || package_version FROM registry_packages ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}
