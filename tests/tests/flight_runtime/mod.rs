//! The flight example as a client sees it: the real `flight-backend` and `anip-runtime`
//! binaries serving the committed package bundle against a fresh database, for the
//! conformance and scenario tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{binary, free_port, wait_for_status, Running, Service};

/// The bootstrap credential the runtime maps to [`PRINCIPAL`].
pub const BOOTSTRAP_KEY: &str = "platform-test-conformance-key";
pub const PRINCIPAL: &str = "human:conformance@example.com";
const BACKEND_KEY: &str = "platform-test-backend-key";

/// A running flight backend and a runtime in front of it; both stop on drop.
pub struct FlightRuntime {
    pub url: String,
    runtime: Running,
    backend: Child,
    _db: store::testing::TestDatabase,
}

impl Drop for FlightRuntime {
    fn drop(&mut self) {
        let _ = self.backend.kill();
        let _ = self.backend.wait();
    }
}

impl FlightRuntime {
    pub async fn start() -> FlightRuntime {
        let http = reqwest::Client::new();
        let backend_port = free_port();
        let mut backend = Command::new(binary("flight-backend"))
            .env("FLIGHT_BACKEND_BIND", "127.0.0.1")
            .env("FLIGHT_BACKEND_PORT", backend_port.to_string())
            .env("FLIGHT_BACKEND_API_KEY", BACKEND_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let backend_url = format!("http://127.0.0.1:{backend_port}");
        wait_for_status(
            &http,
            &format!("{backend_url}/healthz"),
            200,
            Duration::from_secs(30),
        )
        .await;
        if let Ok(Some(status)) = backend.try_wait() {
            panic!("flight-backend exited: {status}");
        }

        let db = store::testing::empty_database().await;
        let port = free_port();
        let mut cmd = Service::Runtime.command(&db.url, port);
        cmd.env(
            "ANIP_RUNTIME_API_KEY_HASHES",
            format!("{PRINCIPAL}={}", signing::token_hash(BOOTSTRAP_KEY)),
        )
        .env(
            "ANIP_RUNTIME_BACKEND_URLS",
            format!("flight_backend={backend_url}"),
        )
        .env("FLIGHT_BACKEND_API_KEY", BACKEND_KEY);
        let log = std::env::temp_dir().join(format!("anip-flight-runtime-{port}.log"));
        let runtime = Running::spawn_logged(Service::Runtime, cmd, port, &log);
        wait_for_status(&http, &runtime.url("/readyz"), 200, Duration::from_secs(60)).await;
        FlightRuntime {
            url: runtime.base.clone(),
            runtime,
            backend,
            _db: db,
        }
    }

    /// The conformance target for this runtime, with the example's sample inputs.
    pub fn target(&self) -> anip_conformance::Target {
        anip_conformance::Target {
            base_url: self.url.clone(),
            bootstrap_bearer: signing::Secret::new(BOOTSTRAP_KEY),
            sample_inputs: serde_json::from_str(
                &std::fs::read_to_string(scenarios_dir().join("sample-inputs.json")).unwrap(),
            )
            .unwrap(),
        }
    }
}

/// `examples/flight-service/scenarios/`.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/flight-service/scenarios")
}
