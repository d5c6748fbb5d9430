//! Starting before the schema is ready.
//!
//! A replica started with migrations disabled (`*_RUN_MIGRATIONS=0`) may come up before the
//! migration job has finished. It must not crash-loop, and it must not touch tables that do not
//! exist yet. So it first serves only the health endpoints — liveness 200, readiness 503 with the
//! pending list, metrics — and polls readiness; once every migration is applied it stops that
//! small server and returns, and the caller bootstraps and starts the real application on the
//! same address.

use std::time::Duration;

use actix_web::{web, App, HttpServer};

use crate::health::{self, Health, HealthPaths};
use crate::server::{self, ErrorStyle, ServerLimits};

/// How the wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Every migration is applied: start the application.
    Ready,
    /// SIGTERM or Ctrl-C arrived while waiting: exit cleanly.
    Interrupted,
}

/// Serves only the health endpoints on `bind` until `health`'s readiness check passes.
///
/// Returns at once (without binding) when the schema is already ready. Polls every
/// `poll_interval`.
pub async fn wait_until_ready(
    bind: (&str, u16),
    health: Health,
    paths: HealthPaths,
    style: ErrorStyle,
    poll_interval: Duration,
) -> std::io::Result<WaitOutcome> {
    if health.readiness.check().await.ready {
        return Ok(WaitOutcome::Ready);
    }
    tracing::warn!(
        event = "startup_waiting_for_migrations",
        service = health.service,
        "migrations are pending; serving health endpoints only until they are applied"
    );
    let probe = health.clone();
    let waiting_room = HttpServer::new(move || {
        App::new()
            .configure(|cfg| health::mount(cfg, probe.clone(), paths))
            .default_service(web::to(move || async move {
                style.response(
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    "service is starting: database migrations are pending",
                )
            }))
    })
    .workers(1)
    .disable_signals();
    let waiting_room = server::apply_limits(waiting_room, &ServerLimits::default())
        .bind(bind)?
        .run();
    let handle = waiting_room.handle();
    let serving = tokio::spawn(waiting_room);

    let outcome = tokio::select! {
        () = poll_until_ready(&health, poll_interval) => WaitOutcome::Ready,
        () = server::shutdown_signal() => WaitOutcome::Interrupted,
    };
    handle.stop(true).await;
    // The server task ends once stopped; its result only repeats what `stop` already did.
    let _ = serving.await;
    if outcome == WaitOutcome::Ready {
        tracing::info!(
            event = "startup_migrations_applied",
            service = health.service,
            "migrations applied; starting"
        );
    }
    Ok(outcome)
}

async fn poll_until_ready(health: &Health, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if health.readiness.check().await.ready {
            return;
        }
    }
}
