//! The operator's trust options, end to end: a real Registry (the registry-api app on
//! 127.0.0.1:0 in this process, on its own test database) holds the flight example, and the real
//! `anip-runtime` binary is started against it. A package that passes the policy is served; one
//! signed by another key than the trusted key id, yanked or taken down, or from a Registry in
//! another signing mode, stops the binary at start with a non-zero exit and a message naming the
//! failed check. The options have the names and meaning of `anip package verify`.

use std::net::TcpListener;

use clap::Parser as _;
use registry_api::app::{self, Running};
use registry_api::config::Config;
use registry_client::{LifecycleUpdate, PackageBundle, RegistryClient};
use runtime_service::package::bundle;
use serde_json::Value;
use signing::{Secret, SigningKey};
use store::testing::TestDatabase;

use crate::support::{
    example_bundle_path, flight_definition, free_port, run_to_exit, runtime_command, RuntimeProcess,
};

const ADMIN_TOKEN: &str = "runtime-trust-admin-token-0123456789abcdef01";
const PUBLISH_TOKEN: &str = "runtime-trust-publish-token-0123456789abcdef";

/// A Registry serving the flight example, and what a runtime operator would pin.
struct Registry {
    running: Running,
    _db: TestDatabase,
    /// The id of the key this Registry signs with.
    key_id: String,
    /// The `ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS` entry for it, `id=public`.
    pinned: String,
}

impl Registry {
    /// Starts a Registry in `mode` (`dev` or `production`) signing with a fresh key named
    /// `key_id`, and imports the flight example as `flight-service` at each of `versions`
    /// (the Registry signs its own receipts for the unsigned local bundles).
    async fn start(mode: &str, key_id: &str, versions: &[&str]) -> Registry {
        let db = store::testing::test_database(&registry_api::MIGRATIONS).await;
        let (key, seed) = SigningKey::generate().unwrap();
        let config = Config::try_parse_from([
            "anip-registry",
            "--database-url",
            &db.url,
            "--mode",
            mode,
            "--key-id",
            key_id,
            "--ed25519-private-key",
            seed.expose(),
            "--publish-token",
            PUBLISH_TOKEN,
            "--admin-token",
            ADMIN_TOKEN,
            "--publisher-id",
            "runtime-trust-tests",
            "--publisher-type",
            "organization",
        ])
        .unwrap();
        let pool = store::connect_pool(&db.url, &store::PoolOptions::default()).unwrap();
        let state = app::build_state(&config, pool).await.unwrap();
        let running = app::start(
            state,
            TcpListener::bind("127.0.0.1:0").unwrap(),
            &observability::ServerLimits::default(),
            false,
        )
        .unwrap();
        let registry = Registry {
            running,
            _db: db,
            key_id: key_id.to_owned(),
            pinned: format!("{key_id}={}", key.verifying_key().to_base64()),
        };
        let admin = registry.admin();
        for version in versions {
            let packed = bundle::pack(
                &flight_definition(),
                "flight-service",
                version,
                "2026-01-01T00:00:00Z",
            )
            .unwrap();
            let packed: PackageBundle = serde_json::from_value(packed).unwrap();
            let imported = admin.import_bundle(&packed).await.unwrap();
            assert_eq!(imported["receipt"]["key_id"], key_id, "{imported}");
        }
        registry
    }

    /// The Registry root, as operators give it (`anip package verify --registry-url`).
    fn root(&self) -> String {
        self.running.base_url()
    }

    fn admin(&self) -> RegistryClient {
        RegistryClient::builder(format!("{}/registry-api/v1", self.root()))
            .token(Secret::new(ADMIN_TOKEN))
            .build()
            .unwrap()
    }

    /// Sets the lifecycle of `flight-service@version`.
    async fn set_lifecycle(&self, version: &str, status: &str, reason: &str) {
        let update = LifecycleUpdate {
            status: status.into(),
            reason: reason.into(),
            ..LifecycleUpdate::default()
        };
        self.admin()
            .set_lifecycle("flight-service", version, &update)
            .await
            .unwrap();
    }

    /// A runtime command for `flight-service@version` from this Registry, on `database_url`.
    fn runtime(&self, database_url: &str, version: &str) -> tokio::process::Command {
        let mut command = runtime_command(database_url, free_port());
        command
            .env("ANIP_RUNTIME_PACKAGE", format!("flight-service@{version}"))
            .env("ANIP_RUNTIME_REGISTRY_URL", self.root());
        command
    }
}

/// Asserts that the runtime exited non-zero, that its output names the failed `check` and holds
/// each of `details`, and that it never started listening.
fn assert_refused(status: std::process::ExitStatus, log: &str, check: &str, details: &[&str]) {
    assert!(!status.success(), "the runtime started:\n{log}");
    let stop = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["event"] == "runtime_start_failed")
        .unwrap_or_else(|| panic!("no runtime_start_failed line:\n{log}"));
    let message = stop["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("not trusted: {check}: "))
            || message.contains(&format!("; {check}: ")),
        "the message does not name {check}: {message}"
    );
    for detail in details {
        assert!(message.contains(detail), "{detail:?} not in: {message}");
    }
    assert!(!log.contains("runtime_listening"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_signed_by_the_trusted_key_in_the_required_mode_is_served() {
    let registry = Registry::start("production", "runtime-trust-prod", &["1.0.0"]).await;
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    // Flags, as `anip package verify` takes them.
    let port = free_port();
    let mut command = runtime_command(&db.url, port);
    command.args([
        "--package",
        "flight-service@1.0.0",
        "--registry-url",
        &registry.root(),
        "--trusted-key-id",
        &registry.key_id,
        "--require-mode",
        "production",
        "--trusted-key",
        &registry.pinned,
    ]);
    let process = RuntimeProcess::start(command, port).await;
    let manifest: Value = reqwest::get(format!("{}/anip/manifest", process.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        manifest["capabilities"]["search_flights"].is_object(),
        "{manifest}"
    );
    let log = process.log();
    assert!(log.contains("\"package_loaded\""), "{log}");
    drop(process);

    // The same policy from the environment.
    let port = free_port();
    let mut command = runtime_command(&db.url, port);
    command
        .env("ANIP_RUNTIME_PACKAGE", "flight-service@1.0.0")
        .env(
            "ANIP_RUNTIME_REGISTRY_URL",
            format!("{}/registry-api/v1", registry.root()),
        )
        .env("ANIP_RUNTIME_TRUSTED_KEY_ID", &registry.key_id)
        .env("ANIP_RUNTIME_REQUIRE_MODE", "production")
        .env("ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS", &registry.pinned)
        .env("ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE", "1");
    let process = RuntimeProcess::start(command, port).await;
    drop(process);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_signed_by_another_key_than_the_trusted_key_id_is_refused_at_start() {
    let registry = Registry::start("production", "runtime-trust-prod", &["1.0.0"]).await;
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;

    // The package and its signature are fine; the key is not the one the operator trusts.
    let mut command = registry.runtime(&db.url, "1.0.0");
    command.env("ANIP_RUNTIME_TRUSTED_KEY_ID", "someone-elses-registry-key");
    let (status, log) = run_to_exit(command).await;
    assert_refused(
        status,
        &log,
        "trusted_key_id",
        &[
            "not trusted",
            "signed by key runtime-trust-prod, not by the trusted key someone-elses-registry-key",
        ],
    );

    // The flag form says the same.
    let mut command = registry.runtime(&db.url, "1.0.0");
    command.args(["--trusted-key-id", "someone-elses-registry-key"]);
    let (status, log) = run_to_exit(command).await;
    assert_refused(
        status,
        &log,
        "trusted_key_id",
        &["someone-elses-registry-key"],
    );

    // A pinned public key under the trusted id that is not the Registry's key is refused too.
    let (other, _) = SigningKey::generate().unwrap();
    let mut command = registry.runtime(&db.url, "1.0.0");
    command
        .env("ANIP_RUNTIME_TRUSTED_KEY_ID", &registry.key_id)
        .env(
            "ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS",
            format!("{}={}", registry.key_id, other.verifying_key().to_base64()),
        );
    let (status, log) = run_to_exit(command).await;
    assert_refused(status, &log, "trusted_key", &["not the pinned one"]);

    // A bundle pulled from the Registry is held to the same option offline.
    let client = RegistryClient::new(&format!("{}/registry-api/v1", registry.root())).unwrap();
    let (pulled, report) = registry_client::fetch_and_verify(
        &client,
        "flight-service",
        "1.0.0",
        &registry_client::VerifyPolicy::default(),
    )
    .await
    .unwrap();
    assert!(report.ok(), "{report:?}");
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "pulled-{}.anip-package.json",
        runtime_service::ids::random_hex(6)
    ));
    pulled.write(&path).unwrap();
    let mut command = runtime_command(&db.url, free_port());
    command
        .env("ANIP_RUNTIME_BUNDLE", &path)
        .env("ANIP_RUNTIME_TRUSTED_KEY_ID", "someone-elses-registry-key");
    let (status, log) = run_to_exit(command).await;
    std::fs::remove_file(&path).unwrap();
    assert_refused(status, &log, "trusted_key_id", &["ANIP_RUNTIME_BUNDLE"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yanked_or_taken_down_package_is_refused_at_start() {
    let registry = Registry::start(
        "production",
        "runtime-trust-prod",
        &["1.0.0", "1.0.1", "1.0.2"],
    )
    .await;
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    registry
        .set_lifecycle("1.0.1", "yanked", "runtime test: broken fares")
        .await;
    registry
        .set_lifecycle("1.0.2", "takedown", "runtime test: legal request")
        .await;

    // The trust options are all satisfied: only the lifecycle refuses.
    let trusted = |version: &str| {
        let mut command = registry.runtime(&db.url, version);
        command
            .env("ANIP_RUNTIME_TRUSTED_KEY_ID", &registry.key_id)
            .env("ANIP_RUNTIME_REQUIRE_MODE", "production")
            .env("ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS", &registry.pinned);
        command
    };
    let (status, log) = run_to_exit(trusted("1.0.1")).await;
    assert_refused(
        status,
        &log,
        "lifecycle",
        &[
            "yanked",
            "runtime test: broken fares",
            "flight-service@1.0.1",
        ],
    );
    let (status, log) = run_to_exit(trusted("1.0.2")).await;
    assert_refused(
        status,
        &log,
        "lifecycle",
        &[
            "takedown",
            "runtime test: legal request",
            "flight-service@1.0.2",
        ],
    );

    // An operator reproducing a pinned build may accept the yanked version; never the taken
    // down one.
    let port = free_port();
    let mut command = trusted("1.0.1");
    command
        .env("ANIP_RUNTIME_PORT", port.to_string())
        .env("ANIP_RUNTIME_ALLOW_YANKED", "1");
    let process = RuntimeProcess::start(command, port).await;
    let log = process.log();
    assert!(
        log.contains("package_verification_warning") && log.contains("runtime test: broken fares"),
        "{log}"
    );
    drop(process);
    let mut command = trusted("1.0.2");
    command.arg("--allow-yanked");
    let (status, log) = run_to_exit(command).await;
    assert_refused(status, &log, "lifecycle", &["takedown"]);

    // The active version beside them is served under the same options.
    let port = free_port();
    let mut command = trusted("1.0.0");
    command.env("ANIP_RUNTIME_PORT", port.to_string());
    drop(RuntimeProcess::start(command, port).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_from_a_registry_in_another_signing_mode_is_refused_at_start() {
    let registry = Registry::start("dev", "runtime-trust-dev", &["1.0.0"]).await;
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;

    // A production runtime pointed at a dev Registry.
    let mut command = registry.runtime(&db.url, "1.0.0");
    command.env("ANIP_RUNTIME_REQUIRE_MODE", "production");
    let (status, log) = run_to_exit(command).await;
    assert_refused(
        status,
        &log,
        "required_mode",
        &["production mode required", "signing mode dev"],
    );
    let mut command = registry.runtime(&db.url, "1.0.0");
    command.args(["--require-mode", "production"]);
    let (status, log) = run_to_exit(command).await;
    assert_refused(status, &log, "required_mode", &["production mode required"]);

    // Requiring a mode requires a registry signature: the unsigned local bundle is refused,
    // although unsigned bundles are otherwise allowed.
    let mut command = runtime_command(&db.url, free_port());
    command
        .env("ANIP_RUNTIME_BUNDLE", example_bundle_path())
        .env("ANIP_RUNTIME_REQUIRE_MODE", "dev");
    let (status, log) = run_to_exit(command).await;
    assert_refused(
        status,
        &log,
        "required_mode",
        &["dev mode required, but the receipt carries no registry signature"],
    );

    // A value that is no mode stops the binary before anything else, naming the variable.
    let mut command = registry.runtime(&db.url, "1.0.0");
    command.env("ANIP_RUNTIME_REQUIRE_MODE", "staging");
    let (status, log) = run_to_exit(command).await;
    assert!(!status.success());
    assert!(log.contains("ANIP_RUNTIME_REQUIRE_MODE"), "{log}");

    // And the dev Registry's package is served when dev is what the operator requires.
    let port = free_port();
    let mut command = registry.runtime(&db.url, "1.0.0");
    command
        .env("ANIP_RUNTIME_PORT", port.to_string())
        .env("ANIP_RUNTIME_REQUIRE_MODE", "dev")
        .env("ANIP_RUNTIME_TRUSTED_KEY_ID", &registry.key_id);
    drop(RuntimeProcess::start(command, port).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_package_leaves_the_database_untouched() {
    let registry = Registry::start("production", "runtime-trust-untouched", &["1.0.0"]).await;
    let db = store::testing::empty_database().await;

    let mut command = registry.runtime(&db.url, "1.0.0");
    command.env("ANIP_RUNTIME_TRUSTED_KEY_ID", "someone-elses-registry-key");
    let (status, log) = run_to_exit(command).await;
    assert_refused(status, &log, "trusted_key_id", &["not trusted"]);

    // The package is checked before migrations run: not even the migration history exists.
    let client = db.pool().get().await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "{log}");
}
