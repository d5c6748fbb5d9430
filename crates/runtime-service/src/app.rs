//! Assembling a runtime from its parts, and the HTTP application: routes, shared state and
//! health endpoints. Used by the binary and by tests that serve the real app.

use std::time::Duration;

use actix_web::web;
use observability::{health, HttpMetrics};

use crate::audit::{checkpoint, retention, AuditWriter};
use crate::auth::ApiKeyHashes;
use crate::keys::Keys;
use crate::package::Package;
use crate::runtime::Runtime;

/// The metrics prefix for every runtime series.
pub const METRICS_PREFIX: &str = "anip_runtime";

/// Which background jobs run in this process.
#[derive(Clone, Debug)]
pub struct Background {
    /// This replica's lease holder id.
    pub holder: String,
    /// Produce checkpoints when the package is anchored.
    pub checkpoints: bool,
    /// Sweep expired audit entries this often (`None`: no sweeper in this process).
    pub retention_every: Option<Duration>,
}

/// Why the runtime could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("signing keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Loads (or creates) the keys, starts the audit writer and the background jobs, and returns
/// the runtime. Must be called inside a Tokio runtime that outlives the server.
pub async fn assemble(
    pool: store::Pool,
    package: Package,
    api_keys: ApiKeyHashes,
    background: &Background,
) -> Result<Runtime, AssembleError> {
    let keys = Keys::load_or_create(&pool).await?;
    let audit = AuditWriter::spawn(pool.clone(), keys.clone());
    let anchoring = package.trust.anchoring.clone();
    let anchored = package.trust.level != "signed";
    let service_id = package.service_id.clone();
    let runtime = Runtime::new(pool.clone(), keys.clone(), package, audit, api_keys)?;
    if let (true, true, Some(anchoring)) = (background.checkpoints, anchored, anchoring) {
        let cadence =
            crate::duration::parse_iso8601(&anchoring.cadence).unwrap_or(Duration::from_secs(60));
        checkpoint::spawn(
            pool.clone(),
            keys,
            checkpoint::ProducerSettings {
                service_id,
                cadence,
                max_lag: anchoring.max_lag,
                holder: background.holder.clone(),
            },
        );
    }
    if let Some(every) = background.retention_every {
        retention::spawn(pool, background.holder.clone(), every, anchored);
    }
    Ok(runtime)
}

/// Mounts health and every protocol route; the runtime becomes shared state.
pub fn configure(runtime: Runtime) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let health = health::Health::new(
            "anip-runtime",
            METRICS_PREFIX,
            health::DbReadiness::new(runtime.pool.clone(), &crate::MIGRATIONS),
        );
        health::mount(cfg, health, health::HealthPaths::RUNTIME);
        cfg.app_data(web::Data::new(runtime));
        crate::http::routes(cfg);
    }
}

/// The request-metrics middleware for runtime.
pub fn metrics() -> HttpMetrics {
    HttpMetrics::new(METRICS_PREFIX)
}
