//! End to end against a real Registry: the registry-api app on 127.0.0.1:0 in this process,
//! on its own Postgres database (`store::testing`), driven by the real `anip` binary and the
//! `registry-client` library. A production key from `anip keygen` signs; packages are
//! published, verified online and offline, pulled, rotated past, yanked and taken down.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;

use clap::Parser as _;
use registry_api::app::{self, Running};
use registry_api::config::Config;
use registry_client::{
    fetch_and_verify, CheckName, CheckStatus, LifecycleUpdate, ListQuery, RegistryClient,
    SigningMode, VerifyPolicy,
};
use serde_json::{json, Value};
use signing::{PayloadVersion, PublicKeySet, Secret};
use store::testing::TestDatabase;

const PUBLISH_TOKEN: &str = "e2e-publish-token-0123456789abcdef0123456789";
const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef0123456789ab";
const PACKAGE: &str = "gitlab-fronting-showcase";

/// A key as `anip keygen` prints it.
struct Key {
    id: String,
    seed: String,
    /// The `ANIP_REGISTRY_EXTRA_PUBLIC_KEYS` entry, `id=public`.
    entry: String,
}

async fn anip(args: &[&str], envs: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_anip"))
        .args(args)
        .env_remove("ANIP_REGISTRY_PUBLISH_TOKEN")
        .envs(envs.iter().copied())
        .output()
        .await
        .unwrap()
}

/// Runs `anip`, asserts the exit code, returns stdout.
async fn run(args: &[&str], envs: &[(&str, &str)], code: i32) -> String {
    let output = anip(args, envs).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "anip {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout + &stderr
}

async fn keygen(id: &str) -> Key {
    let out = run(&["keygen", "--key-id", id], &[], 0).await;
    let line = |prefix: &str| {
        out.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap()
            .to_owned()
    };
    Key {
        id: line("ANIP_REGISTRY_KEY_ID="),
        seed: line("ANIP_REGISTRY_ED25519_PRIVATE_KEY="),
        entry: line("# ANIP_REGISTRY_EXTRA_PUBLIC_KEYS="),
    }
}

/// Starts a production registry on `db` signing with `key`, also verifying `extra` keys.
async fn start(db: &TestDatabase, key: &Key, extra: Option<&str>) -> Running {
    let mut args = vec![
        "anip-registry",
        "--database-url",
        &db.url,
        "--mode",
        "production",
        "--key-id",
        &key.id,
        "--ed25519-private-key",
        &key.seed,
        "--publish-token",
        PUBLISH_TOKEN,
        "--admin-token",
        ADMIN_TOKEN,
        "--publisher-id",
        "e2e-publisher",
        "--publisher-type",
        "organization",
    ];
    if let Some(extra) = extra {
        args.extend(["--extra-public-keys", extra]);
    }
    let config = Config::try_parse_from(args).unwrap();
    let pool = store::connect_pool(&db.url, &store::PoolOptions::default()).unwrap();
    let state = app::build_state(&config, pool).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    app::start(
        state,
        listener,
        &observability::ServerLimits::default(),
        false,
    )
    .unwrap()
}

fn fixture_package() -> Value {
    let shared = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let path = shared.join(
        "fixtures/upstream/registry-bundles/gitlab-fronting-showcase-0.2.0.anip-package.json",
    );
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("fixture {} is required: {err}", path.display()));
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    bundle["package"].clone()
}

/// A publish request for the upstream gitlab showcase at `version`.
fn publish_request(version: &str) -> Value {
    let package = fixture_package();
    let mut manifest = package["manifest"].clone();
    let mut lock = package["recommended_lock"].clone();
    manifest["package_version"] = json!(version);
    manifest["version"] = json!(version);
    lock["package_version"] = json!(version);
    let mut request = json!({
        "package_version": version,
        "manifest": manifest,
        "recommended_lock": lock,
    });
    for field in [
        "package_id",
        "project_ref",
        "product_revision_ref",
        "developer_revision_ref",
        "contract_signature",
        "lineage",
        "schema_version",
        "service_definition",
        "readme",
    ] {
        request[field] = package[field].clone();
    }
    request
}

fn temp_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("anip-cli-registry-e2e");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_request(dir: &std::path::Path, version: &str) -> String {
    let path = dir.join(format!("publish-{version}.json"));
    std::fs::write(
        &path,
        serde_json::to_vec(&publish_request(version)).unwrap(),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_verify_pull_rotate_and_retire_against_a_running_registry() {
    let dir = temp_dir();
    let key_a = keygen("e2e-registry-a").await;
    let db = store::testing::test_database(&registry_api::MIGRATIONS).await;
    let running = start(&db, &key_a, None).await;
    // The CLI gets the host root (it adds the API prefix); the library gets the API base.
    let root = running.base_url();
    let api = format!("{root}/registry-api/v1");
    let token_env = [("E2E_PUBLISH_TOKEN", PUBLISH_TOKEN)];
    let package_ref = format!("{PACKAGE}@0.2.0");

    // Publish with the real binary; the receipt is printed.
    let request = write_request(&dir, "0.2.0");
    let publish = [
        "package",
        "publish",
        "--registry-url",
        &root,
        "--token-env",
        "E2E_PUBLISH_TOKEN",
        "--file",
        &request,
    ];
    let out = run(&publish, &token_env, 0).await;
    let receipt: Value = serde_json::from_str(out.split("published ").next().unwrap()).unwrap();
    assert_eq!(receipt["key_id"], "e2e-registry-a");
    assert_eq!(receipt["signature_algorithm"], "ed25519");
    // The same version again is refused (409), as is a wrong token (401): exit 1.
    let out = run(&publish, &token_env, 1).await;
    assert!(out.contains("409"), "{out}");
    let out = run(&publish, &[("E2E_PUBLISH_TOKEN", "wrong-token")], 1).await;
    assert!(out.contains("401"), "{out}");

    // Verify online under the strictest policy: every check passes.
    let strict = [
        "--require-mode",
        "production",
        "--trusted-key-id",
        "e2e-registry-a",
        "--trusted-key",
        &key_a.entry,
        "--require-execution-signature",
    ];
    let mut verify = vec![
        "package",
        "verify",
        "--registry-url",
        &root,
        "--package",
        &package_ref,
    ];
    verify.extend(strict);
    let mut verify_json = verify.clone();
    verify_json.push("--json");
    let report: Value = serde_json::from_str(&run(&verify_json, &[], 0).await).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["signed_payload"], "current");
    for (name, status) in statuses(&report) {
        assert_eq!(status, "pass", "{name}: {report:#}");
    }
    // Online there is no bundle, so no bundle_contents: the other 14 checks.
    assert_eq!(statuses(&report).len(), 14);
    let text = run(&verify, &[], 0).await;
    assert!(text.contains("PASS  execution_signature"), "{text}");

    // Pull writes a verified bundle, which then verifies offline under the same policy (the
    // bundle records the registry's signing mode).
    let bundle_path = dir.join("pulled.anip-package.json");
    let bundle_file = bundle_path.to_str().unwrap();
    let mut pull = vec![
        "package",
        "pull",
        "--registry-url",
        &root,
        "--package",
        &package_ref,
        "--out",
        bundle_file,
    ];
    pull.extend(strict);
    run(&pull, &[], 0).await;
    let mut offline = vec!["package", "verify", "--bundle", bundle_file];
    offline.extend(strict);
    let out = run(&offline, &[], 0).await;
    assert!(out.contains("PASS  required_mode"), "{out}");
    assert!(out.contains("PASS  bundle_contents"), "{out}");

    // The library against the same registry.
    let client = RegistryClient::new(&api).unwrap();
    let keys = client.keys().await.unwrap();
    assert_eq!(keys.signing_mode, "production");
    assert_eq!(keys.active_key_id, "e2e-registry-a");
    let listed = client
        .publications(&ListQuery {
            q: Some("gitlab".into()),
            limit: Some(10),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(listed
        .items
        .iter()
        .any(|p| p.package_id == PACKAGE && p.package_version == "0.2.0"));
    let record = client.package(PACKAGE, "0.2.0").await.unwrap();
    let lock = client.lock(PACKAGE, "0.2.0").await.unwrap();
    assert_eq!(lock.registry_signing_mode, "production");
    assert_eq!(lock.manifest_digest, record.str("manifest_digest"));
    assert!(lock.package_execution_signature.starts_with("sha256:"));
    assert_eq!(
        lock.package_execution_signature,
        record.str("package_execution_signature")
    );
    let policy = VerifyPolicy {
        required_mode: Some(SigningMode::Production),
        trusted_keys: Some(PublicKeySet::parse_list(&key_a.entry).unwrap()),
        require_execution_signature: true,
        ..VerifyPolicy::default()
    };
    let (bundle, report) = fetch_and_verify(&client, PACKAGE, "0.2.0", &policy)
        .await
        .unwrap();
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.signed_payload, Some(PayloadVersion::Current));
    assert_eq!(bundle.registry_signing_mode, "production");
    let missing = client.package(PACKAGE, "9.9.9").await.unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");

    // Rotate: a new active key, the old one kept verifiable through the keygen EXTRA entry.
    running.shutdown().await.unwrap();
    let key_b = keygen("e2e-registry-b").await;
    let running = start(&db, &key_b, Some(&key_a.entry)).await;
    let root = running.base_url();
    let mut verify = vec![
        "package",
        "verify",
        "--registry-url",
        &root,
        "--package",
        &package_ref,
    ];
    verify.extend(strict);
    let out = run(&verify, &[], 0).await;
    assert!(out.contains("key e2e-registry-a is advertised"), "{out}");
    // A new version is signed by the new key, which the old pin does not trust.
    let request = write_request(&dir, "0.2.1");
    let publish = [
        "package",
        "publish",
        "--registry-url",
        &root,
        "--token-env",
        "E2E_PUBLISH_TOKEN",
        "--file",
        &request,
    ];
    run(&publish, &token_env, 0).await;
    let newer = format!("{PACKAGE}@0.2.1");
    let mut verify_newer = vec![
        "package",
        "verify",
        "--registry-url",
        &root,
        "--package",
        &newer,
    ];
    verify_newer.extend(strict);
    let out = run(&verify_newer, &[], 1).await;
    assert!(out.contains("FAIL  trusted_key_id"), "{out}");
    assert!(out.contains("FAIL  trusted_key "), "{out}");

    // Yank the old version: verification fails on lifecycle unless yanked packages are allowed.
    let api = format!("{root}/registry-api/v1");
    let admin = RegistryClient::builder(&api)
        .token(Secret::new(ADMIN_TOKEN))
        .build()
        .unwrap();
    let yank = LifecycleUpdate {
        status: "yanked".into(),
        reason: "e2e: broken build".into(),
        replacement_package_id: PACKAGE.into(),
        replacement_package_version: "0.2.1".into(),
    };
    admin.set_lifecycle(PACKAGE, "0.2.0", &yank).await.unwrap();
    let out = run(&verify, &[], 1).await;
    assert!(out.contains("FAIL  lifecycle"), "{out}");
    assert!(out.contains("e2e: broken build"), "{out}");
    let mut allowed = verify.clone();
    allowed.push("--allow-yanked");
    let out = run(&allowed, &[], 0).await;
    assert!(out.contains("WARN  lifecycle"), "{out}");
    // Without the admin token the change is refused.
    let anonymous = RegistryClient::new(&api).unwrap();
    let refused = anonymous
        .set_lifecycle(PACKAGE, "0.2.0", &yank)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(401), "{refused}");

    // Taken down: the registry refuses the download (410); the CLI reports the lifecycle.
    let takedown = LifecycleUpdate {
        status: "takedown".into(),
        reason: "e2e: legal request".into(),
        ..LifecycleUpdate::default()
    };
    admin
        .set_lifecycle(PACKAGE, "0.2.0", &takedown)
        .await
        .unwrap();
    let out = run(&allowed, &[], 1).await;
    assert_eq!(
        out,
        format!(
            "FAIL  lifecycle            the registry refuses {package_ref}: takedown: e2e: legal request\n\
             NOT VERIFIED: lifecycle failed\n"
        )
    );
    let mut as_json = allowed.clone();
    as_json.push("--json");
    let report: Value = serde_json::from_str(&run(&as_json, &[], 1).await).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["checks"],
        json!([{
            "name": "lifecycle",
            "status": "fail",
            "reason": format!("the registry refuses {package_ref}: takedown: e2e: legal request"),
        }])
    );
    let gone = fetch_and_verify(&anonymous, PACKAGE, "0.2.0", &VerifyPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(gone.status(), Some(410));
    assert_eq!(gone.lifecycle().unwrap().status, "takedown");
    let pulled_again = dir.join("taken-down.anip-package.json");
    let out = run(
        &[
            "package",
            "pull",
            "--registry-url",
            &root,
            "--package",
            &package_ref,
            "--out",
            pulled_again.to_str().unwrap(),
        ],
        &[],
        1,
    )
    .await;
    assert!(out.contains("FAIL  lifecycle"), "{out}");
    assert!(!pulled_again.exists());

    // The bundle pulled before the takedown still verifies offline: it is what was signed.
    let report = registry_client::verify_bundle(
        &registry_client::PackageBundle::read(&bundle_path).unwrap(),
        &policy,
    );
    assert_eq!(
        report.check(CheckName::Lifecycle).unwrap().status,
        CheckStatus::Pass
    );

    running.shutdown().await.unwrap();
}
