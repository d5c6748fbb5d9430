//! Starting the real service binaries for cross-service tests.
//!
//! The binaries are found beside the test executable (`target/<profile>/`); `cargo xtask test`
//! builds them before running the tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary, failing with a clear hint when it was not built.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let dir = exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --bins`; `cargo xtask test` does it)",
        path.display()
    );
    path
}

/// The flight example's package bundle, which the runtime serves in these tests.
pub fn example_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/flight-service/flight-service.anip-package.json")
}

/// A free loopback port for a service to take (`store::free_port`).
pub fn free_port() -> u16 {
    store::free_port().expect("a free port")
}

/// One of the three services, as the tests start it.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    Registry,
    Studio,
    Runtime,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Registry, Service::Studio, Service::Runtime];

    pub fn binary(self) -> &'static str {
        match self {
            Service::Registry => "anip-registry",
            Service::Studio => "studio-api",
            Service::Runtime => "anip-runtime",
        }
    }

    pub fn database_var(self) -> &'static str {
        match self {
            Service::Registry => "ANIP_REGISTRY_DATABASE_URL",
            Service::Studio => "DATABASE_URL",
            Service::Runtime => "ANIP_RUNTIME_DATABASE_URL",
        }
    }

    pub fn run_migrations_var(self) -> &'static str {
        match self {
            Service::Registry => "ANIP_REGISTRY_RUN_MIGRATIONS",
            Service::Studio => "STUDIO_RUN_MIGRATIONS",
            Service::Runtime => "ANIP_RUNTIME_RUN_MIGRATIONS",
        }
    }

    pub fn migrate_only_var(self) -> &'static str {
        match self {
            Service::Registry => "ANIP_REGISTRY_MIGRATE_ONLY",
            Service::Studio => "STUDIO_MIGRATE_ONLY",
            Service::Runtime => "ANIP_RUNTIME_MIGRATE_ONLY",
        }
    }

    /// Liveness, readiness and metrics paths.
    pub fn health_paths(self) -> [&'static str; 3] {
        match self {
            Service::Registry => [
                "/registry-api/v1/healthz",
                "/registry-api/v1/readyz",
                "/registry-api/v1/metrics",
            ],
            Service::Studio => ["/api/health", "/api/readyz", "/api/metrics"],
            Service::Runtime => ["/healthz", "/readyz", "/metrics"],
        }
    }

    pub fn metrics_prefix(self) -> &'static str {
        match self {
            Service::Registry => "anip_registry",
            Service::Studio => "anip_studio",
            Service::Runtime => "anip_runtime",
        }
    }

    /// A command for this service against `database_url`, listening on `port`.
    pub fn command(self, database_url: &str, port: u16) -> Command {
        let mut cmd = Command::new(binary(self.binary()));
        cmd.env(self.database_var(), database_url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        match self {
            Service::Registry => {
                // A configured key, as replicated deployments have: a dev-mode Registry without
                // one keeps its generated key in the database, which needs the migrations.
                cmd.env("ANIP_REGISTRY_ADDR", format!("127.0.0.1:{port}"))
                    .env("ANIP_REGISTRY_MODE", "dev")
                    .env("ANIP_REGISTRY_KEY_ID", "platform-test-key")
                    .env(
                        "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
                        "cGxhdGZvcm0tdGVzdC1zZWVkLTMyLWJ5dGVzLWxvbmc=",
                    );
            }
            Service::Studio => {
                // Seeding the built-in showcase writes tables: it must wait for the schema.
                cmd.env("STUDIO_BIND", "127.0.0.1")
                    .env("STUDIO_API_PORT", port.to_string())
                    .env("STUDIO_SEED_SHOWCASES", "1");
            }
            Service::Runtime => {
                cmd.env("ANIP_RUNTIME_BIND", "127.0.0.1")
                    .env("ANIP_RUNTIME_PORT", port.to_string())
                    .env("ANIP_RUNTIME_BUNDLE", example_bundle())
                    .env("FLIGHT_BACKEND_API_KEY", "platform-test-backend-key");
            }
        }
        cmd
    }
}

/// A running service process; killed on drop if the test did not stop it.
pub struct Running {
    child: Option<Child>,
    pub base: String,
    pub service: Service,
    /// The file the output goes to, when started by [`Running::spawn_logged`].
    log: Option<PathBuf>,
}

impl Running {
    /// Starts `cmd` (built by [`Service::command`]) and waits until its port accepts.
    pub fn spawn(service: Service, mut cmd: Command, port: u16) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        let mut running = Running {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            service,
            log: None,
        };
        running.wait_listening();
        running
    }

    /// Like [`Running::spawn`], but stdout and stderr are appended to `log`: a process that
    /// runs under load for a while must never block on a pipe nobody reads.
    pub fn spawn_logged(service: Service, mut cmd: Command, port: u16, log: &Path) -> Running {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        let child = cmd.spawn().unwrap();
        let mut running = Running {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            service,
            log: Some(log.to_path_buf()),
        };
        running.wait_listening();
        running
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kills the process with SIGKILL (no drain, no flush: a crash) and waits for it.
    pub fn kill_hard(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap()
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(self.base.trim_start_matches("http://")).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                let out = self.child.take().unwrap().wait_with_output().unwrap();
                let logged = self
                    .log
                    .as_ref()
                    .map(|log| std::fs::read_to_string(log).unwrap_or_default())
                    .unwrap_or_default();
                panic!(
                    "{:?} exited during start ({status}):\n{}\n{}{logged}",
                    self.service,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{:?} did not start listening within 30 s", self.service);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends SIGTERM and returns the exit output (stdout holds the JSON logs).
    pub fn terminate(mut self) -> Output {
        let child = self.child.take().unwrap();
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `url` until it answers `status`, or panics after `within`.
pub async fn wait_for_status(client: &reqwest::Client, url: &str, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        match client.get(url).send().await {
            Ok(resp) if resp.status().as_u16() == status => return,
            Ok(resp) => last = Some(resp.status().as_u16()),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer {status} within {within:?} (last: {last:?})");
}
