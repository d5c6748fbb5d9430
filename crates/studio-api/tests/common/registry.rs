//! The real Registry (crates/registry-api) served in-process on loopback against its own
//! database, for the tests that publish to it. Included with `#[path]` by the test binaries
//! that need it, so the others do not link the Registry.

use std::net::TcpListener;

use clap::Parser as _;

/// The Registry's publish token in these tests.
pub const TOKEN: &str = "registry-publish-token-0123456789abcdef";

/// A running Registry.
pub struct Registry {
    running: Option<registry_api::app::Running>,
    /// `http://127.0.0.1:<port>/registry-api/v1`.
    pub api: String,
    _db: store::testing::TestDatabase,
}

impl Registry {
    /// Starts a Registry on a fresh database.
    pub async fn start() -> Registry {
        let db = store::testing::test_database(&registry_api::MIGRATIONS).await;
        let config = registry_api::config::Config::try_parse_from([
            "anip-registry",
            "--database-url",
            &db.url,
            "--publish-token",
            TOKEN,
            "--publisher-id",
            "studio-tests",
            "--publisher-type",
            "organization",
        ])
        .expect("registry config");
        let state = registry_api::app::build_state(&config, db.pool())
            .await
            .expect("registry state");
        let running = registry_api::app::start(
            state,
            TcpListener::bind("127.0.0.1:0").expect("bind loopback"),
            &observability::ServerLimits::default(),
            false,
        )
        .expect("registry server");
        let api = format!("{}/registry-api/v1", running.base_url());
        Registry {
            running: Some(running),
            api,
            _db: db,
        }
    }

    /// The id of the key the Registry signs receipts with.
    pub async fn active_key_id(&self) -> String {
        let keys: serde_json::Value = reqwest::get(format!("{}/keys", self.api))
            .await
            .expect("GET keys")
            .json()
            .await
            .expect("keys JSON");
        keys["active_key_id"]
            .as_str()
            .expect("active_key_id")
            .to_owned()
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("registry shutdown");
        }
    }
}
