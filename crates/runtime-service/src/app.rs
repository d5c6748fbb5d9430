//! Assembling a runtime from its parts, and the HTTP application: routes, shared state and
//! health endpoints. Used by the binary and by tests that serve the real app.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App};
use observability::server::{not_found_json, ErrorStyle};
use observability::{health, HttpMetrics};

use crate::audit::{checkpoint, retention, sinks, AuditWriter};
use crate::auth::ApiKeyHashes;
use crate::backend::client::BackendClient;
use crate::contract::CapabilityKind;
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
    /// Where to publish checkpoints (with `checkpoints`, when the package is anchored); see
    /// [`sinks::effective`](crate::audit::sinks::effective).
    pub sinks: Vec<crate::audit::sinks::Sink>,
}

/// Tells background jobs to stop; each finishes the round in progress, then returns.
#[derive(Clone, Debug)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl From<tokio::sync::watch::Receiver<bool>> for Stop {
    /// A stop requested when the channel's value becomes `true`.
    fn from(receiver: tokio::sync::watch::Receiver<bool>) -> Self {
        Stop(receiver)
    }
}

impl Stop {
    /// Resolves once a stop is requested. Dropping [`BackgroundJobs`] without
    /// [`BackgroundJobs::stop`] requests nothing: the jobs then run as long as the Tokio runtime.
    pub async fn requested(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The background jobs [`assemble`] started, each with the lease it competes for.
pub struct BackgroundJobs {
    pool: store::Pool,
    holder: String,
    stop: tokio::sync::watch::Sender<bool>,
    jobs: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

/// Why [`BackgroundJobs::stop`] could not release the leases.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("releasing the leases: {0}")]
    Db(#[from] crate::db::DbError),
    #[error("releasing the leases took longer than {0:?}")]
    TimedOut(Duration),
}

impl BackgroundJobs {
    fn new(pool: store::Pool, holder: String) -> Self {
        BackgroundJobs {
            pool,
            holder,
            stop: tokio::sync::watch::channel(false).0,
            jobs: Vec::new(),
        }
    }

    fn signal(&self) -> Stop {
        Stop(self.stop.subscribe())
    }

    /// Stops the jobs, then releases the leases this replica holds, so that another replica
    /// takes each role at its next tick instead of when the lease expires. Each job finishes
    /// the round in progress (a checkpoint being produced is stored), waiting at most `grace`
    /// in all; a job still busy then is aborted. The release is bounded by `grace` too.
    /// Returns how many leases were released.
    pub async fn stop(self, grace: Duration) -> Result<u64, ReleaseError> {
        // Err only when every job has already ended: nothing left to tell.
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        let leases: Vec<&str> = self.jobs.iter().map(|(lease, _)| *lease).collect();
        for (lease, mut job) in self.jobs {
            if tokio::time::timeout_at(deadline, &mut job).await.is_err() {
                tracing::warn!(
                    event = "background_job_aborted",
                    lease,
                    "a background job did not stop in time"
                );
                job.abort();
                let _ = job.await;
            }
        }
        if leases.is_empty() {
            return Ok(0);
        }
        tokio::time::timeout(
            grace,
            crate::db::leases::release_all(&self.pool, &leases, &self.holder),
        )
        .await
        .map_err(|_| ReleaseError::TimedOut(grace))?
        .map_err(ReleaseError::from)
    }
}

/// Why the runtime could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("signing keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
}

/// Loads (or creates) the keys, starts the audit writer and the background jobs, and returns
/// the runtime and the jobs (stop them with [`BackgroundJobs::stop`] once the server has
/// stopped). Must be called inside a Tokio runtime that outlives the server.
pub async fn assemble(
    pool: store::Pool,
    package: Package,
    api_keys: ApiKeyHashes,
    backends: BackendClient,
    background: &Background,
) -> Result<(Runtime, BackgroundJobs), AssembleError> {
    let keys = Keys::load_or_create(&pool).await?;
    let audit = AuditWriter::spawn(pool.clone(), keys.clone());
    let appended = audit.appended();
    let anchoring = package.trust.anchoring.clone();
    let anchored = package.trust.is_anchored();
    let service_id = package.service_id.clone();
    let sink_client = backends.clone();
    let runtime = Runtime::new(
        pool.clone(),
        keys.clone(),
        package,
        audit,
        api_keys,
        backends,
    );
    let mut jobs = BackgroundJobs::new(pool.clone(), background.holder.clone());
    if let (true, true, Some(anchoring)) = (background.checkpoints, anchored, anchoring) {
        let cadence =
            crate::duration::parse_iso8601(&anchoring.cadence).unwrap_or(Duration::from_secs(60));
        let job = checkpoint::spawn(
            pool.clone(),
            keys,
            checkpoint::ProducerSettings {
                service_id,
                cadence,
                max_lag: anchoring.max_lag,
                holder: background.holder.clone(),
                check_every: checkpoint::check_interval(cadence),
            },
            appended,
            jobs.signal(),
        );
        jobs.jobs.push((checkpoint::LEASE, job));
        if !background.sinks.is_empty() {
            let job = sinks::spawn(
                pool.clone(),
                sink_client,
                background.sinks.clone(),
                background.holder.clone(),
                Duration::from_secs(1),
                jobs.signal(),
            );
            jobs.jobs.push((sinks::LEASE, job));
        }
    }
    if let Some(every) = background.retention_every {
        let job = retention::spawn(
            pool,
            background.holder.clone(),
            every,
            anchored,
            jobs.signal(),
        );
        jobs.jobs.push((retention::LEASE, job));
    }
    Ok((runtime, jobs))
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

/// Time allowed, on top of the backend calls, for the database work of one invocation (token
/// chain, lock, audit entries of the invocation and of each composition step).
const DEADLINE_DATABASE_MARGIN: Duration = Duration::from_secs(10);

/// The request deadline for a runtime serving `package`: `floor` (the server default,
/// `ServerLimits::request_deadline`), unless one invocation may legitimately take longer. The
/// longest invocation is the longest sequence of backend calls a capability makes: an atomic
/// capability's one call, or a composition's steps one after another (steps are atomic, so
/// compositions do not nest), each bounded by its binding's `timeout_ms` or else its
/// connection's. The deadline is that plus [`DEADLINE_DATABASE_MARGIN`], so it never cuts short
/// an invocation the package allows, and still answers a stalled database.
pub fn request_deadline(package: &Package, floor: Duration) -> Duration {
    let call = |capability: &str| -> Duration {
        let Some(binding) = package
            .mappings
            .get(capability)
            .and_then(|m| m.http.as_ref())
        else {
            return Duration::ZERO;
        };
        let connection = package
            .connections
            .get(&binding.connection_ref)
            .map_or(Duration::ZERO, |c| c.timeout);
        binding.timeout_ms.map_or(connection, Duration::from_millis)
    };
    let longest = package
        .declarations
        .iter()
        .map(|decl| match (&decl.kind, &decl.composition) {
            (CapabilityKind::Composed, Some(composition)) => composition
                .steps
                .iter()
                .map(|step| call(&step.capability))
                .sum(),
            _ => call(&decl.name),
        })
        .max()
        .unwrap_or(Duration::ZERO);
    floor.max(longest + DEADLINE_DATABASE_MARGIN)
}

/// The complete application for one worker: the protocol routes, a JSON 404, NUL refusal on
/// every URL, the request `deadline` (503 when a request's response head is not produced in
/// time, e.g. while the database is stalled) and the request metrics.
pub fn app(
    runtime: Runtime,
    deadline: Duration,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(middleware::from_fn(crate::http::refuse_nul_in_url))
        // Inside the metrics, so that they count what the deadline answers.
        .wrap(middleware::from_fn(move |req, next| {
            observability::server::deadline(req, next, deadline, ErrorStyle::Runtime)
        }))
        .wrap(metrics())
        .configure(configure(runtime))
        .default_service(not_found_json(ErrorStyle::Runtime))
}
