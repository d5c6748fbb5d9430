//! `studio-api`: parse configuration, migrate, seed, serve.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use studio_api::{app, config::Config, service, MIGRATIONS};

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
    observability::logging::init("studio-api");
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(event = "studio_start_failed", error = %error, "studio-api stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let settings = config.settings();
    if config.migrate_only || config.run_migrations {
        store::migrate(&config.database_url, &MIGRATIONS).await?;
        if config.migrate_only {
            return Ok(());
        }
    } else {
        tracing::info!(
            event = "studio_migrations_skipped",
            "STUDIO_RUN_MIGRATIONS=0: not migrating"
        );
    }
    let options = store::PoolOptions {
        application_name: "studio-api".to_owned(),
        ..store::PoolOptions::default()
    };
    let writer = store::connect_pool(&config.database_url, &options)?;
    // A replica started before the migration job finished serves health only until the schema
    // is complete: seeding and serving read and write tables.
    let waiting = observability::startup::wait_until_ready(
        (config.bind.as_str(), config.port),
        observability::Health::new(
            "studio-api",
            app::METRICS_PREFIX,
            observability::DbReadiness::new(writer.clone(), &MIGRATIONS),
        ),
        observability::HealthPaths::STUDIO,
        observability::ErrorStyle::Studio,
        std::time::Duration::from_millis(500),
    )
    .await?;
    if waiting == observability::startup::WaitOutcome::Interrupted {
        tracing::info!(
            event = "studio_stopped",
            "studio-api stopped before it was ready"
        );
        return Ok(());
    }
    if settings.seed_showcases {
        let db = studio_api::store::Db::new(writer.clone());
        let report =
            service::snapshots::seed_showcases(&db, config.showcase_dir.as_deref()).await?;
        for (file, project, status) in &report.snapshots {
            tracing::info!(event = "studio_showcase_seeded", file = %file, project_id = %project, status = %status, "showcase snapshot");
        }
    }
    // In read-only mode the server may run as a role that can only SELECT: migrations and
    // seeding above used the writer; everything below uses this pool.
    let pool = match config
        .read_only_database_url
        .as_deref()
        .filter(|u| settings.read_only && !u.trim().is_empty())
    {
        Some(url) => {
            tracing::info!(
                event = "studio_runtime_database_read_only",
                "serving through the read-only database role"
            );
            store::connect_pool(url, &options)?
        }
        None => writer,
    };
    let state = app::AppState::new(pool, settings);
    let listener = TcpListener::bind((config.bind.as_str(), config.port))?;
    tracing::info!(
        event = "studio_listening",
        bind = %config.bind,
        port = config.port,
        read_only = state.settings.read_only,
        "studio-api listening"
    );
    app::server(state, listener, &app::server_limits())?.await?;
    tracing::info!(event = "studio_stopped", "studio-api stopped cleanly");
    Ok(())
}
