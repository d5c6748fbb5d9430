//! `anip-registry`: parse the configuration, migrate, serve until SIGTERM, flush, exit.

use std::process::ExitCode;

use clap::Parser as _;
use registry_api::config::Config;
use registry_api::{app, seed, MIGRATIONS};

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
    observability::logging::init("anip-registry");
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(event = "registry_start_failed", error = %format!("{error:#}"), "anip-registry failed");
            eprintln!("anip-registry: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let url = config.database_url.expose().to_owned();
    if config.migrate_only {
        // store::migrate reports what it did as the `registry_migrations` JSON event; stdout
        // carries JSON log lines only.
        store::migrate(&url, &MIGRATIONS).await?;
        return Ok(());
    }
    // Refuse a bad configuration (e.g. production without a proper key) before touching the
    // database.
    config.check()?;
    let listen = config.listen_addr()?;
    if config.run_migrations {
        store::migrate(&url, &MIGRATIONS).await?;
    }
    let pool = store::connect_pool(
        &url,
        &store::PoolOptions {
            max_size: config.db_pool_size.max(1),
            application_name: "anip-registry".to_owned(),
            ..store::PoolOptions::default()
        },
    )?;
    // A replica started before the migration job finished serves health only until the schema
    // is complete: building the state reads and writes tables.
    let waiting = observability::startup::wait_until_ready(
        (listen.host.as_str(), listen.port),
        observability::Health::new(
            "anip-registry",
            registry_api::metrics::PREFIX,
            observability::DbReadiness::new(pool.clone(), &MIGRATIONS),
        ),
        observability::HealthPaths::REGISTRY,
        observability::ErrorStyle::Registry,
        std::time::Duration::from_millis(500),
    )
    .await?;
    if waiting == observability::startup::WaitOutcome::Interrupted {
        tracing::info!(
            event = "registry_stopped",
            "anip-registry stopped before it was ready"
        );
        return Ok(());
    }
    let state = app::build_state(&config, pool).await?;
    if config.seed_demo {
        match config.seed_dir.as_deref().filter(|dir| dir.is_dir()) {
            Some(dir) => {
                let imported = seed::seed_demo(&state, dir).await?;
                tracing::info!(event = "registry_seed_complete", imported, dir = %dir.display(), "demo data seeded");
            }
            None => tracing::warn!(
                event = "registry_seed_skipped",
                "ANIP_REGISTRY_SEED_DEMO is on but ANIP_REGISTRY_SEED_DIR is not a directory; no demo data"
            ),
        }
    }
    let listener = std::net::TcpListener::bind((listen.host.as_str(), listen.port))?;
    let running = app::start(
        state,
        listener,
        &observability::ServerLimits::default(),
        true,
    )?;
    running.wait().await?;
    tracing::info!(event = "registry_stopped", "anip-registry stopped");
    Ok(())
}
