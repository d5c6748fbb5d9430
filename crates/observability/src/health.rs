//! Liveness, readiness and metrics endpoints as one reusable service set.
//!
//! ```text
//! let health = Health::new("anip-registry", "anip_registry", DbReadiness::new(pool, &MIGRATIONS))
//!     .with_extra("signing_mode", "local")
//!     .with_extra("active_key_id", key_id);
//! App::new().configure(|cfg| health::mount(cfg, health, HealthPaths::REGISTRY));
//! ```
//!
//! - liveness (`GET`/`HEAD`): 200 `{"status":"ok","service":NAME, ...extra}`; touches nothing.
//! - readiness (`GET`/`HEAD`): one [`ReadinessCheck`]; 200
//!   `{"status":"ok","service":NAME,"database":"ok","migration":{"applied":true,"applied_count":n,"expected_count":n}}`
//!   or 503
//!   `{"status":"error","service":NAME,"error":"…","database":"ok"|"unreachable","migration":{"applied":false,"applied_count":n,"expected_count":n,"pending":[…]}}`
//!   (`pending` only when the database answered: otherwise which are pending is unknown);
//!   counts `{prefix}_readiness_checks_total{status="ok"|"error"}`.
//! - metrics (`GET`): refreshes `{prefix}_migrations_applied`, `{prefix}_migrations_expected`,
//!   `{prefix}_migrations_applied_count` and `{prefix}_ready` from one readiness check, then
//!   renders the Prometheus text format.
//!
//! Every check is bounded by [`Health::check_timeout`]; a check that takes longer counts as not
//! ready (readiness answers 503, the gauges drop to 0), so a hung database cannot hang probes or
//! scrapes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use store::Readiness;

use crate::metrics::{PrometheusHandle, CONTENT_TYPE};

/// The default bound on one readiness check (a little above `store::readiness`'s own 2 s, so
/// its more specific error normally wins).
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// A source of readiness: usually the database and its migrations ([`DbReadiness`]).
///
/// Object-safe without `async_trait`: implementations box their future.
pub trait ReadinessCheck: Send + Sync {
    /// Checks readiness once.
    fn check(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>>;
}

/// Readiness of a Postgres database and one service's migrations, via [`store::readiness`].
#[derive(Clone)]
pub struct DbReadiness {
    /// The service's pool.
    pub pool: store::Pool,
    /// The service's embedded migrations.
    pub set: &'static store::MigrationSet,
}

impl DbReadiness {
    /// Readiness of `pool`'s database with `set` applied.
    pub fn new(pool: store::Pool, set: &'static store::MigrationSet) -> Self {
        Self { pool, set }
    }
}

impl From<(store::Pool, &'static store::MigrationSet)> for DbReadiness {
    fn from((pool, set): (store::Pool, &'static store::MigrationSet)) -> Self {
        Self::new(pool, set)
    }
}

impl ReadinessCheck for DbReadiness {
    fn check(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>> {
        Box::pin(store::readiness(&self.pool, self.set))
    }
}

/// A readiness source that always answers the same (for tests and tools).
#[derive(Clone, Debug)]
pub struct FixedReadiness(pub Readiness);

impl ReadinessCheck for FixedReadiness {
    fn check(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>> {
        let readiness = self.0.clone();
        Box::pin(async move { readiness })
    }
}

impl<T: ReadinessCheck + ?Sized> ReadinessCheck for Arc<T> {
    fn check(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>> {
        (**self).check()
    }
}

/// Where the three endpoints are mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPaths {
    /// Liveness path.
    pub liveness: &'static str,
    /// Readiness path.
    pub readiness: &'static str,
    /// Prometheus metrics path.
    pub metrics: &'static str,
}

impl HealthPaths {
    /// The Registry's paths.
    pub const REGISTRY: HealthPaths = HealthPaths {
        liveness: "/registry-api/v1/healthz",
        readiness: "/registry-api/v1/readyz",
        metrics: "/registry-api/v1/metrics",
    };
    /// Studio's paths.
    pub const STUDIO: HealthPaths = HealthPaths {
        liveness: "/api/health",
        readiness: "/api/readyz",
        metrics: "/api/metrics",
    };
    /// The Runtime's paths.
    pub const RUNTIME: HealthPaths = HealthPaths {
        liveness: "/healthz",
        readiness: "/readyz",
        metrics: "/metrics",
    };
}

/// Everything the health endpoints need; cheap to clone (one per worker).
#[derive(Clone)]
pub struct Health {
    /// The service name reported in bodies (e.g. `anip-registry`).
    pub service: &'static str,
    /// The readiness source.
    pub readiness: Arc<dyn ReadinessCheck>,
    /// The metrics prefix (e.g. `anip_registry`).
    pub metrics_prefix: &'static str,
    /// The Prometheus handle rendered by the metrics endpoint.
    pub handle: PrometheusHandle,
    /// Service-specific fields appended to the liveness body (they cannot replace `status` or
    /// `service`).
    pub extra: Map<String, Value>,
    /// The bound on one readiness check (readiness endpoint and metrics gauges).
    pub check_timeout: Duration,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("service", &self.service)
            .field("metrics_prefix", &self.metrics_prefix)
            .field("extra", &self.extra)
            .field("check_timeout", &self.check_timeout)
            .finish_non_exhaustive()
    }
}

/// The outcome of one bounded readiness check.
struct Outcome {
    ready: bool,
    database_reachable: bool,
    applied_count: usize,
    expected_count: usize,
    pending: Vec<String>,
    error: Option<String>,
}

impl Outcome {
    fn from_readiness(r: Readiness) -> Self {
        Self {
            ready: r.ready,
            database_reachable: r.database_reachable,
            applied_count: r.applied_count,
            expected_count: r.expected_count,
            pending: r.pending,
            error: r.error,
        }
    }

    fn timed_out(after: Duration) -> Self {
        Self {
            ready: false,
            database_reachable: false,
            applied_count: 0,
            expected_count: 0,
            pending: Vec::new(),
            error: Some(format!(
                "readiness check timed out after {} ms",
                after.as_millis()
            )),
        }
    }

    /// Whether every expected migration is applied (as far as this check could tell).
    fn migrations_applied(&self) -> bool {
        self.database_reachable
            && self.pending.is_empty()
            && self.applied_count >= self.expected_count
    }

    fn error_message(&self) -> String {
        if let Some(error) = &self.error {
            return error.clone();
        }
        if !self.database_reachable {
            "database unreachable".to_owned()
        } else if !self.pending.is_empty() {
            format!("{} migration(s) pending", self.pending.len())
        } else {
            "not ready".to_owned()
        }
    }
}

impl Health {
    /// Health for `service` with metrics under `metrics_prefix`, using the process-wide
    /// Prometheus handle ([`crate::metrics::handle`]), no extra fields and
    /// [`DEFAULT_CHECK_TIMEOUT`].
    pub fn new(
        service: &'static str,
        metrics_prefix: &'static str,
        readiness: impl ReadinessCheck + 'static,
    ) -> Self {
        Self {
            service,
            readiness: Arc::new(readiness),
            metrics_prefix,
            handle: crate::metrics::handle(),
            extra: Map::new(),
            check_timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }

    /// Adds a service-specific liveness field.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Renders metrics from `handle` instead of the process-wide one.
    pub fn with_handle(mut self, handle: PrometheusHandle) -> Self {
        self.handle = handle;
        self
    }

    /// Bounds each readiness check by `timeout`.
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// The liveness body.
    pub fn liveness_body(&self) -> Value {
        let mut body = Map::with_capacity(2 + self.extra.len());
        body.insert("status".into(), Value::from("ok"));
        body.insert("service".into(), Value::from(self.service));
        for (k, v) in &self.extra {
            if !body.contains_key(k) {
                body.insert(k.clone(), v.clone());
            }
        }
        Value::Object(body)
    }

    async fn run_check(&self) -> Outcome {
        match tokio::time::timeout(self.check_timeout, self.readiness.check()).await {
            Ok(readiness) => Outcome::from_readiness(readiness),
            Err(_) => Outcome::timed_out(self.check_timeout),
        }
    }

    /// Runs one bounded readiness check, counts it, and returns the status and body the
    /// readiness endpoint answers with.
    pub async fn readiness_response(&self) -> (StatusCode, Value) {
        let outcome = self.run_check().await;
        let ok = outcome.ready;
        ::metrics::counter!(
            format!("{}_readiness_checks_total", self.metrics_prefix),
            "status" => if ok { "ok" } else { "error" }
        )
        .increment(1);
        if ok {
            let body = json!({
                "status": "ok",
                "service": self.service,
                "database": "ok",
                "migration": {
                    "applied": true,
                    "applied_count": outcome.applied_count,
                    "expected_count": outcome.expected_count,
                },
            });
            (StatusCode::OK, body)
        } else {
            let error = outcome.error_message();
            tracing::warn!(
                event = "readiness_failed",
                service = self.service,
                error = %error,
                database_reachable = outcome.database_reachable,
                pending = outcome.pending.len(),
                "not ready"
            );
            let mut migration = json!({
                "applied": false,
                "applied_count": outcome.applied_count,
                "expected_count": outcome.expected_count,
            });
            // Which migrations are pending is only known from a database that answered.
            if outcome.database_reachable {
                migration["pending"] = json!(outcome.pending);
            }
            let body = json!({
                "status": "error",
                "service": self.service,
                "error": error,
                "database": if outcome.database_reachable { "ok" } else { "unreachable" },
                "migration": migration,
            });
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }
    }

    /// Refreshes the readiness gauges from one bounded check and renders the Prometheus text.
    pub async fn render_metrics(&self) -> String {
        let outcome = self.run_check().await;
        let prefix = self.metrics_prefix;
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        // Counts are small; the f64 conversion is exact for anything a migration set holds.
        let (applied_count, expected_count) =
            (outcome.applied_count as f64, outcome.expected_count as f64);
        ::metrics::gauge!(format!("{prefix}_migrations_applied"))
            .set(flag(outcome.migrations_applied()));
        ::metrics::gauge!(format!("{prefix}_migrations_expected")).set(expected_count);
        ::metrics::gauge!(format!("{prefix}_migrations_applied_count")).set(applied_count);
        ::metrics::gauge!(format!("{prefix}_ready")).set(flag(outcome.ready));
        self.handle.render()
    }
}

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

async fn liveness(health: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(health.liveness_body())
}

async fn readiness(health: web::Data<Health>) -> HttpResponse {
    let (status, body) = health.readiness_response().await;
    HttpResponse::build(status)
        .insert_header(no_store())
        .json(body)
}

async fn metrics(health: web::Data<Health>) -> HttpResponse {
    let text = health.render_metrics().await;
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header(no_store())
        .body(text)
}

/// Mounts liveness, readiness and metrics at `paths`.
///
/// The [`Health`] is attached to these three resources only, so it does not collide with the
/// service's own `app_data`. Call it inside the `HttpServer::new` factory (once per worker).
pub fn mount(cfg: &mut web::ServiceConfig, health: Health, paths: HealthPaths) {
    let health = web::Data::new(health);
    cfg.service(
        web::resource(paths.liveness)
            .app_data(health.clone())
            .route(web::get().to(liveness))
            .route(web::head().to(liveness)),
    )
    .service(
        web::resource(paths.readiness)
            .app_data(health.clone())
            .route(web::get().to(readiness))
            .route(web::head().to(readiness)),
    )
    .service(
        web::resource(paths.metrics)
            .app_data(health)
            .route(web::get().to(metrics)),
    );
}
