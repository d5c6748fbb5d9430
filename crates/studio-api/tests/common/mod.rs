//! Test harness: a real Postgres database per test (`store::testing`), the real application
//! served over loopback HTTP in-process, and reqwest as the client.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;

use observability::server::ServerLimits;
use serde_json::{json, Value};
use store::testing::TestDatabase;
use studio_api::app::{self, AppState};
use studio_api::config::Settings;

/// A running Studio.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The test's database.
    pub db: TestDatabase,
    /// A pool on it, for assertions.
    pub pool: store::Pool,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET, returning status and JSON (or `Null`).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        status_json(response).await
    }

    /// A request with a JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        status_json(response).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, body).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> u16 {
        self.http
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
            .status()
            .as_u16()
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// A second server over the same database with other settings (e.g. read-only).
    pub fn serve_again(&self, settings: Settings) -> (String, actix_web::dev::ServerHandle) {
        serve(self.pool.clone(), settings)
    }
}

/// Status and JSON body (`Null` when the body is not JSON).
pub async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The limits tests serve with: the binary's ([`app::server_limits`]), one worker, a short
/// shutdown.
pub fn test_limits() -> ServerLimits {
    ServerLimits {
        workers: Some(1),
        shutdown_timeout: std::time::Duration::from_secs(1),
        ..app::server_limits()
    }
}

fn serve(pool: store::Pool, settings: Settings) -> (String, actix_web::dev::ServerHandle) {
    serve_with_limits(pool, settings, &test_limits())
}

/// Serves Studio over `pool` with `limits` (e.g. a short request deadline).
pub fn serve_with_limits(
    pool: store::Pool,
    settings: Settings,
    limits: &ServerLimits,
) -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    let server = app::server(AppState::new(pool, settings), listener, limits).expect("server");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

/// Starts Studio on a fresh database.
pub async fn spawn(settings: Settings) -> TestApp {
    let db = store::testing::test_database(&studio_api::MIGRATIONS).await;
    let pool = db.pool();
    let (base, handle) = serve(pool.clone(), settings);
    TestApp {
        base,
        http: reqwest::Client::new(),
        db,
        pool,
        handle,
    }
}

/// Starts a writable Studio with default settings.
pub async fn spawn_default() -> TestApp {
    spawn(Settings::for_tests()).await
}

/// The shared fixtures directory: `ANIP_SHARED_DIR`, else `../shared` next to the
/// workspace. Panics (fails the test) when absent: fixtures are never optional.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    assert!(
        dir.join("fixtures/upstream").is_dir(),
        "shared fixtures not found at {}; set ANIP_SHARED_DIR",
        dir.display()
    );
    dir
}

/// A fixture file's JSON.
pub fn fixture(relative: &str) -> Value {
    let path = shared_dir().join("fixtures/upstream").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The two upstream Studio snapshots.
pub const SNAPSHOTS: [&str; 2] = [
    "studio-snapshots/gitlab-fronting-showcase-0.2.0.studio-project-snapshot.json",
    "studio-snapshots/linear-fronting-showcase-0.2.0.studio-project-snapshot.json",
];

/// A Markdown spec the rule-based assistant understands.
pub const SPEC: &str = "# Expense approvals\n\nEmployees submit expense reports; managers approve them within policy.\n\n## Problem\n\nApprovals happen in email and nobody can see the state of a report.\n\n## Goals\n\n- Faster approvals\n- Fewer policy violations\n\n## Actors\n\n- Employee: submits expense reports\n- Manager: approves the reports of their team\n\n## Business areas\n\n- Expenses: reports, receipts and reimbursements\n\n## Permissions\n\n- Managers approve reports of their own team\n- Employees never approve their own reports\n\n## Non-goals\n\n- Payroll\n\n## Success criteria\n\n- 90% of reports approved within two days\n\n## API\n\n- `GET /reports/{report_id}` look up one expense report\n- `POST /reports/{report_id}/approve` approve an expense report\n";

/// Creates a project; returns its id.
pub async fn project(app: &TestApp, name: &str) -> String {
    let (status, body) = app
        .post(
            "/api/projects",
            &json!({"name": name, "domain": "expenses"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// A definition that validates without findings.
pub fn sound_definition() -> Value {
    json!({
        "identity": {"system_name": "expense_approvals", "domain_name": "expenses",
                     "delivery_model": "standalone_service", "architecture_shape": "single_service"},
        "generation": {"protocols": ["http_json"], "layout_strategy": "monorepo", "selected_service_ids": ["expenses-service"]},
        "service_topology_bindings": [{"id": "svc", "service_id": "expenses-service", "service_name": "Expenses",
                                        "formalized_capability_ids": ["expenses.report.lookup", "expenses.report.approve"]}],
        "actor_expectations": [{"id": "a1", "actor_id": "manager", "actor_title": "Manager"}],
        "permission_intent_bindings": [{"id": "p1", "actor_id": "manager", "access_posture": "approval_required",
                                         "governed_outcome_type": "approval_required", "governed_outcome": "Managers approve their team's reports.",
                                         "target_service_ids": ["expenses-service"]}],
        "capability_formalizations": [
            {"id": "c1", "capability_id": "expenses.report.lookup", "service_id": "expenses-service",
             "title": "Look up report", "summary": "Look up one expense report.", "side_effect_level": "read",
             "intent_type": "read_only", "operation_type": "query",
             "inputs": [{"input_name": "report_id", "input_type": "string", "required": true, "summary": "Report id."}]},
            {"id": "c2", "capability_id": "expenses.report.approve", "service_id": "expenses-service",
             "title": "Approve report", "summary": "Approve an expense report.", "side_effect_level": "approval_required",
             "intent_type": "approval_gated", "operation_type": "approval_gated",
             "grant_policy": {"allowed_grant_types": ["one_time"], "default_grant_type": "one_time", "expires_in_seconds": 900, "max_uses": 1},
             "inputs": [{"input_name": "report_id", "input_type": "string", "required": true, "summary": "Report id."}]}
        ],
    })
}

/// Drives a project through sections → product revision → requirements/scenario/shape →
/// baseline → definition → developer revision. Returns the project id.
pub async fn authored_project(app: &TestApp, name: &str) -> String {
    let pid = project(app, name).await;
    let (s, b) = app.put(&format!("/api/projects/{pid}/product/sections/product_summary"),
        &json!({"data": {"product_purpose": "Approve expense reports within policy.", "business_goals": ["Faster approvals"]}})).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .put(
            &format!("/api/projects/{pid}/product/sections/actor_model"),
            &json!({"data": {"actors": [{"actor_id": "manager", "title": "Manager"}]}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .post(
            &format!("/api/projects/{pid}/product/revisions"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, req) = app
        .post(
            &format!("/api/projects/{pid}/requirements"),
            &json!({"title": "Requirements", "data": {"system": {"name": "expenses"}}}),
        )
        .await;
    assert_eq!(s, 201, "{req}");
    let (s, b) = app
        .post(
            &format!("/api/projects/{pid}/scenarios"),
            &json!({"title": "Approve a report", "data": {"scenario": {"name": "approve_report"}}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app.post(&format!("/api/projects/{pid}/shapes"), &json!({"title": "Shape", "requirements_id": req["id"],
        "data": {"shape": {"type": "single_service", "services": [{"id": "expenses-service", "owns_concepts": []}], "domain_concepts": []}}})).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .post(
            &format!("/api/projects/{pid}/developer/baseline"),
            &json!({"note": "handoff"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .put(
            &format!("/api/projects/{pid}/developer/definition"),
            &json!({"data": sound_definition()}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .post(
            &format!("/api/projects/{pid}/developer/definition/revisions"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    pid
}
