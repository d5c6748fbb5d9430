//! `anip-runtime`: parse configuration, verify the package, migrate, serve.

use std::process::ExitCode;
use std::time::Duration;

use actix_web::HttpServer;
use anyhow::Context;
use clap::Parser;
use observability::server::{self, ErrorStyle, ServerLimits};
use runtime_service::audit::sinks;
use runtime_service::config::{Command, Config};
use runtime_service::package::{self, LoadOptions, SharedVerifier};
use runtime_service::{app, backend, MIGRATIONS};

/// mimalloc: requests allocate many short-lived buffers, and glibc's malloc cost about a fifth
/// of the runtime's CPU per invocation (`cargo xtask bench runtime`: 3,659 → 4,871 invokes/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    // `healthcheck URL` for container health checks: no configuration, no database.
    if let Some(code) = observability::healthcheck::from_args() {
        return code;
    }
    let config = Config::parse();
    observability::logging::init("anip-runtime");
    let outcome = match &config.command {
        Some(Command::Pack {
            definition,
            package_id,
            package_version,
            issued_at,
            out,
        }) => pack(definition, package_id, package_version, issued_at, out),
        None => run(config).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(event = "runtime_start_failed", error = %format!("{error:#}"), "anip-runtime stopped: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn pack(
    definition: &std::path::Path,
    package_id: &str,
    version: &str,
    issued_at: &str,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(definition)
        .with_context(|| format!("reading {}", definition.display()))?;
    let definition: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", definition.display()))?;
    // Refuse to pack what the runtime would refuse to serve.
    package::load_definition(
        &definition,
        &LoadOptions {
            validate_only: true,
            ..LoadOptions::default()
        },
    )?;
    let bundle = package::bundle::pack(&definition, package_id, version, issued_at)?;
    let mut text = serde_json::to_string_pretty(&bundle)?;
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

async fn load_package(config: &Config) -> anyhow::Result<package::Package> {
    let policy = config
        .verify_policy()
        .context("ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS")?;
    let allow_unsigned = !config.require_signed_bundle;
    let options = LoadOptions {
        service: config.service_id.clone(),
        backend_urls: config.backend_urls.0.clone(),
        validate_only: false,
    };
    match (&config.bundle, &config.package.0) {
        (Some(path), _) => {
            let verifier = SharedVerifier::with_policy(policy, allow_unsigned);
            package::load_bundle_file(path, &verifier, &options)
                .with_context(|| format!("ANIP_RUNTIME_BUNDLE {}", path.display()))
        }
        (None, Some(reference)) => {
            let url = config
                .registry_url
                .as_deref()
                .context("ANIP_RUNTIME_REGISTRY_URL is required with ANIP_RUNTIME_PACKAGE")?;
            package::load_from_registry(url, reference, &policy, allow_unsigned, &options)
                .await
                .with_context(|| {
                    format!(
                        "ANIP_RUNTIME_PACKAGE {reference} from {}",
                        registry_client::redact_url(url)
                    )
                })
        }
        (None, None) => anyhow::bail!(
            "no package to serve: set ANIP_RUNTIME_BUNDLE (a bundle file) or ANIP_RUNTIME_PACKAGE \
             and ANIP_RUNTIME_REGISTRY_URL"
        ),
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let database_url = config
        .database_url
        .clone()
        .context("ANIP_RUNTIME_DATABASE_URL is required")?;
    if config.migrate_only {
        store::migrate(&database_url, &MIGRATIONS).await?;
        return Ok(());
    }
    // The package is verified before anything touches the database: a runtime refusing its
    // package leaves the schema as it found it.
    let mut package = load_package(&config).await?;
    let sinks = sinks::effective(&mut package, config.checkpoint_sinks.as_deref())?;
    if package.trust.is_anchored() && !sinks.iter().any(sinks::Sink::qualifies) {
        tracing::warn!(
            event = "checkpoint_sinks_not_external",
            sinks = sinks.len(),
            "an anchored service should publish its checkpoints to an https: sink (SPEC.md §7.6)"
        );
    }
    let roots = backend::client::trusted_roots(config.backend_ca_file.as_deref())
        .context("ANIP_RUNTIME_BACKEND_CA_FILE")?;
    let backends = backend::client::BackendClient::new(roots).context("backend TLS settings")?;
    if config.run_migrations {
        store::migrate(&database_url, &MIGRATIONS).await?;
    }
    tracing::info!(
        event = "package_loaded",
        package_id = %package.package_id,
        package_version = %package.package_version,
        service_id = %package.service_id,
        capabilities = package.declarations.len(),
        "package verified"
    );
    let pool = store::connect_pool(&database_url, &store::PoolOptions::default())?;
    // A replica started before the migration job finished serves health only until the schema
    // is complete: assembling the runtime reads and writes tables (keys, audit head).
    let waiting = observability::startup::wait_until_ready(
        (config.bind.as_str(), config.port),
        observability::Health::new(
            "anip-runtime",
            app::METRICS_PREFIX,
            observability::DbReadiness::new(pool.clone(), &MIGRATIONS),
        ),
        observability::HealthPaths::RUNTIME,
        ErrorStyle::Runtime,
        Duration::from_millis(500),
    )
    .await?;
    if waiting == observability::startup::WaitOutcome::Interrupted {
        tracing::info!(
            event = "runtime_stopped",
            "anip-runtime stopped before it was ready"
        );
        return Ok(());
    }
    let holder = config.replica_id.clone().unwrap_or_else(|| {
        format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            runtime_service::ids::random_hex(4)
        )
    });
    let background = app::Background {
        holder,
        checkpoints: true,
        retention_every: (config.retention_interval_seconds > 0)
            .then(|| Duration::from_secs(config.retention_interval_seconds)),
        sinks,
    };
    let limits = ServerLimits::default();
    // Never shorter than the longest invocation the package allows (see app::request_deadline).
    let deadline = app::request_deadline(&package, limits.request_deadline);
    let (runtime, jobs) = app::assemble(
        pool,
        package,
        config.api_key_hashes.clone(),
        backends,
        &background,
    )
    .await?;
    let served = serve(&config, runtime, deadline, &limits).await;
    // The server has stopped: every request was answered, and each waited for its audit entries
    // to be committed, so the audit writer has nothing left to write. Stop the background jobs
    // and release their leases, so that another replica produces the next checkpoint at its
    // next tick rather than once this replica's lease expires.
    match jobs.stop(BACKGROUND_STOP_GRACE).await {
        Ok(released) => tracing::info!(
            event = "runtime_leases_released",
            released,
            holder = %background.holder,
            "background jobs stopped"
        ),
        Err(error) => tracing::warn!(
            event = "runtime_lease_release_failed",
            error = %error,
            "background jobs stopped; their leases are left to expire"
        ),
    }
    served?;
    tracing::info!(event = "runtime_stopped", "anip-runtime stopped cleanly");
    Ok(())
}

/// How long a stopping replica waits for a background round in progress, and then for the
/// release of its leases.
const BACKGROUND_STOP_GRACE: Duration = Duration::from_secs(5);

/// Serves `runtime` until SIGTERM or SIGINT, then lets in-flight requests finish (actix's
/// graceful shutdown, bounded by `limits.shutdown_timeout`).
async fn serve(
    config: &Config,
    runtime: runtime_service::runtime::Runtime,
    deadline: Duration,
    limits: &ServerLimits,
) -> anyhow::Result<()> {
    let bind = (config.bind.as_str(), config.port);
    tracing::info!(event = "runtime_listening", bind = %config.bind, port = config.port, "anip-runtime listening");
    tracing::info!(
        event = "request_deadline",
        seconds = deadline.as_secs_f64(),
        "requests not answered within the deadline get 503"
    );
    let http = HttpServer::new(move || app::app(runtime.clone(), deadline));
    server::apply_limits(http, limits).bind(bind)?.run().await?;
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".to_owned())
}
