//! Real parts for the runtime tests: a Postgres database per test (`store::testing`), the real
//! flight backend and the real runtime app, each served on 127.0.0.1 with an OS-chosen port.

use std::collections::BTreeMap;
use std::path::PathBuf;

use actix_web::{web, App, HttpServer};
use runtime_service::app::{self, Background};
use runtime_service::auth::parse_api_key_hashes;
use runtime_service::backend::client::{trusted_roots, BackendClient};
use runtime_service::package::{self, LoadOptions, Package};
use runtime_service::runtime::Runtime;
use serde_json::{json, Value};
use signing::secret::token_hash;
use store::testing::TestDatabase;

/// The bootstrap keys the tests use and the principals they stand for.
pub const ANA_KEY: &str = "ana-bootstrap-key";
pub const ANA: &str = "human:ana@example.com";
pub const BOB_KEY: &str = "bob-bootstrap-key";
pub const BOB: &str = "human:bob@example.com";

/// The example flight service definition, as committed.
pub fn flight_definition() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/flight-service/service-definition.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("example definition"))
        .expect("example definition is JSON")
}

/// Serves an app made of `routes` on loopback with one worker; returns its base URL.
pub fn spawn_backend<F>(routes: F) -> String
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind backend");
    let address = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{address}")
}

/// Serves the real flight backend with `api_key`; returns its base URL.
pub fn spawn_flight_backend(api_key: &str) -> String {
    let backend = flight_backend::Backend::new(Some(signing::Secret::new(api_key)));
    spawn_backend(move |cfg| flight_backend::configure(backend.clone())(cfg))
}

/// Writes `secret` to a private temporary file and returns its path.
pub fn secret_file(secret: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "anip-test-secret-{}",
        runtime_service::ids::random_hex(8)
    ));
    std::fs::write(&path, secret).expect("write secret file");
    path
}

/// The example definition with its backend credential read from a file instead of the
/// environment (tests must not share process-wide variables).
pub fn with_credential_file(mut definition: Value, path: &std::path::Path) -> Value {
    definition["integration_fronting"]["connections"][0]["credentials"] =
        json!({"scheme": "header", "header": "X-Api-Key", "file": path});
    definition
}

/// Loads `definition` as the runtime would, with the connection pointed at `backend_url`.
pub fn load(definition: &Value, backend_url: &str) -> Package {
    let options = LoadOptions {
        service: None,
        backend_urls: BTreeMap::from([("flight_backend".to_owned(), backend_url.to_owned())]),
        validate_only: false,
    };
    package::load_definition(definition, &options).expect("package loads")
}

/// A served runtime.
pub struct Served {
    pub url: String,
    pub runtime: Runtime,
}

/// Assembles and serves a runtime for `package` on `pool` (no background jobs: tests drive
/// checkpoints and retention themselves), with the request deadline the binary would use.
pub async fn serve(pool: store::Pool, package: Package) -> Served {
    let deadline = app::request_deadline(
        &package,
        observability::ServerLimits::default().request_deadline,
    );
    serve_with_deadline(pool, package, deadline).await
}

/// [`serve`] with the request deadline `deadline` (the real app, as the binary builds it).
pub async fn serve_with_deadline(
    pool: store::Pool,
    package: Package,
    deadline: std::time::Duration,
) -> Served {
    let backends =
        BackendClient::new(trusted_roots(None).expect("webpki roots")).expect("backend client");
    serve_with(pool, package, deadline, backends).await
}

/// [`serve_with_deadline`] calling backends with `backends`.
pub async fn serve_with(
    pool: store::Pool,
    package: Package,
    deadline: std::time::Duration,
    backends: BackendClient,
) -> Served {
    let keys = parse_api_key_hashes(&format!(
        "{ANA}={},{BOB}={}",
        token_hash(ANA_KEY),
        token_hash(BOB_KEY)
    ))
    .expect("key hashes");
    let background = Background {
        holder: format!("test-{}", runtime_service::ids::random_hex(4)),
        checkpoints: false,
        retention_every: None,
        sinks: Vec::new(),
    };
    // No background jobs were started: nothing to stop.
    let (runtime, _jobs) = app::assemble(pool, package, keys, backends, &background)
        .await
        .expect("assemble runtime");
    let served = runtime.clone();
    let server = HttpServer::new(move || app::app(served.clone(), deadline))
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("bind runtime");
    let address = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    Served {
        url: format!("http://{address}"),
        runtime,
    }
}

/// A database, a flight backend and a runtime serving the example package.
pub struct Flight {
    pub db: TestDatabase,
    pub served: Served,
    pub http: reqwest::Client,
}

impl Flight {
    /// Everything started fresh.
    pub async fn start() -> Flight {
        let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
        let key = runtime_service::ids::random_hex(16);
        let backend_url = spawn_flight_backend(&key);
        let definition = with_credential_file(flight_definition(), &secret_file(&key));
        let served = serve(db.pool(), load(&definition, &backend_url)).await;
        Flight {
            db,
            served,
            http: reqwest::Client::new(),
        }
    }

    /// The runtime URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.url)
    }

    /// `POST /anip/tokens` with `bearer`; returns status and body.
    pub async fn token_request(&self, bearer: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/anip/tokens"))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .expect("tokens");
        (
            response.status().as_u16(),
            response.json().await.expect("json"),
        )
    }

    /// A root token for Ana; panics unless issued. Returns `(token_id, jwt)`.
    pub async fn token(&self, body: Value) -> (String, String) {
        let (status, issued) = self.token_request(ANA_KEY, body).await;
        assert_eq!(status, 200, "{issued}");
        (
            issued["token_id"].as_str().expect("token_id").to_owned(),
            issued["token"].as_str().expect("token").to_owned(),
        )
    }

    /// `POST /anip/invoke/{capability}`; returns status and body.
    pub async fn invoke(&self, jwt: &str, capability: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(&format!("/anip/invoke/{capability}")))
            .bearer_auth(jwt)
            .json(&body)
            .send()
            .await
            .expect("invoke");
        (
            response.status().as_u16(),
            response.json().await.expect("json"),
        )
    }

    /// `POST` with a bearer and no body, e.g. permissions and audit.
    pub async fn post(&self, jwt: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(jwt)
            .send()
            .await
            .expect("post");
        (
            response.status().as_u16(),
            response.json().await.expect("json"),
        )
    }

    /// `GET` a JSON resource.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("get");
        (
            response.status().as_u16(),
            response.json().await.expect("json"),
        )
    }

    /// A fresh quote for AA100 on 2026-03-10 from a real search.
    pub async fn quote(&self) -> Value {
        let (_, jwt) = self
            .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
            .await;
        let (status, body) = self.invoke(&jwt, "search_flights", json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}})).await;
        assert_eq!(status, 200, "{body}");
        body["result"]["flights"][0]["quote"].clone()
    }
}

/// Asserts the failure invariants: type, detail, resolution with a canonical recovery class,
/// retry, and terminal ⇒ no retry. Returns the failure type.
pub fn failure_type(body: &Value) -> String {
    assert_eq!(body["success"], false, "{body}");
    let failure = &body["failure"];
    for key in ["type", "detail", "resolution", "retry"] {
        assert!(failure.get(key).is_some(), "failure lacks {key}: {body}");
    }
    let class = failure["resolution"]["recovery_class"]
        .as_str()
        .expect("recovery_class");
    assert!(
        [
            "retry_now",
            "wait_then_retry",
            "refresh_then_retry",
            "redelegation_then_retry",
            "revalidate_then_retry",
            "terminal"
        ]
        .contains(&class),
        "{class}"
    );
    if class == "terminal" {
        assert_eq!(failure["retry"], false, "{body}");
    }
    failure["type"].as_str().expect("type").to_owned()
}

/// The example package as committed: an unsigned local `anip-package-bundle/v1`.
pub fn example_bundle_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/flight-service/flight-service.anip-package.json")
}

/// A private file under the test target directory for one process's logs.
fn log_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-logs");
    std::fs::create_dir_all(&dir).expect("log directory");
    dir.join(format!(
        "{name}-{}.log",
        runtime_service::ids::random_hex(6)
    ))
}

/// The real `anip-runtime` binary on `database_url`, bound to 127.0.0.1:`port`, with the flight
/// example's backend credential set (the package names `FLIGHT_BACKEND_API_KEY`). Nothing else
/// of the test process's `ANIP_RUNTIME_*` environment leaks in.
pub fn runtime_command(database_url: &str, port: u16) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_anip-runtime"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ANIP_RUNTIME_") {
            command.env_remove(name);
        }
    }
    command
        .env("ANIP_RUNTIME_DATABASE_URL", database_url)
        .env("ANIP_RUNTIME_BIND", "127.0.0.1")
        .env("ANIP_RUNTIME_PORT", port.to_string())
        .env("FLIGHT_BACKEND_API_KEY", "unused-backend-key")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// [`runtime_command`] serving the committed flight example (anchored: a checkpoint every 5 s
/// or 25 entries), its backend at `backend_url` with `backend_key`, with Ana's bootstrap key.
pub fn flight_runtime(
    database_url: &str,
    port: u16,
    backend_url: &str,
    backend_key: &str,
) -> tokio::process::Command {
    let mut command = runtime_command(database_url, port);
    command
        .env("ANIP_RUNTIME_BUNDLE", example_bundle_path())
        .env(
            "ANIP_RUNTIME_BACKEND_URLS",
            format!("flight_backend={backend_url}"),
        )
        .env("FLIGHT_BACKEND_API_KEY", backend_key)
        .env(
            "ANIP_RUNTIME_API_KEY_HASHES",
            format!("{ANA}={}", token_hash(ANA_KEY)),
        );
    command
}

/// A free loopback port for the runtime to take (`store::free_port`).
pub fn free_port() -> u16 {
    store::free_port().expect("a free port")
}

/// Runs `command` expecting it to refuse to start: returns its exit status and its output
/// (JSON log lines on stdout, then stderr). Panics if it is still running after a minute,
/// which means it started serving instead of refusing.
pub async fn run_to_exit(
    mut command: tokio::process::Command,
) -> (std::process::ExitStatus, String) {
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("spawn anip-runtime");
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("anip-runtime kept running instead of refusing to start")
        .expect("anip-runtime output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

/// A running `anip-runtime` process, killed when dropped.
pub struct RuntimeProcess {
    pub child: tokio::process::Child,
    pub url: String,
    log: PathBuf,
}

impl RuntimeProcess {
    /// Starts `command` (from [`runtime_command`] on `port`) with its output in a log file, and
    /// waits until `/readyz` answers 200. Panics with the log if it exits first.
    pub async fn start(mut command: tokio::process::Command, port: u16) -> RuntimeProcess {
        let log = log_file("anip-runtime");
        let file = std::fs::File::create(&log).expect("log file");
        command
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command.spawn().expect("spawn anip-runtime");
        let mut process = RuntimeProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = process.child.try_wait().expect("try_wait") {
                panic!(
                    "anip-runtime exited during start ({status}):\n{}",
                    process.log()
                );
            }
            if let Ok(response) = http.get(format!("{}/readyz", process.url)).send().await {
                if response.status().as_u16() == 200 {
                    return process;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "anip-runtime was not ready within a minute:\n{}",
                process.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as an orchestrator stops a replica, then waits (at most a minute) for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the runtime is still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}: {sent}");
        tokio::time::timeout(std::time::Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "anip-runtime did not stop within a minute of SIGTERM:\n{}",
                    self.log()
                )
            })
            .expect("wait for the stopped runtime")
    }

    /// SIGKILL: no drain, no flush, no shutdown hook.
    pub async fn kill_9(&mut self) -> std::process::ExitStatus {
        self.child.start_kill().expect("SIGKILL");
        self.child
            .wait()
            .await
            .expect("wait for the killed runtime")
    }
}

/// `GET url`, answered with JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// The body of `GET url` as text.
pub async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// A search token for Ana from the runtime at `url`.
pub async fn search_token(http: &reqwest::Client, url: &str) -> String {
    let issued: Value = http
        .post(format!("{url}/anip/tokens"))
        .bearer_auth(ANA_KEY)
        .json(&json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    issued["token"].as_str().expect("token issued").to_owned()
}
