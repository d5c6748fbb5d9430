//! The HTTP application: shared state, the middleware stack (metrics outermost, then the
//! read-only guard, which runs before routing) and every route. The binary and the tests
//! serve exactly this through [`server`].

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer, Route};
use observability::server::{self, ErrorStyle, ServerLimits};
use observability::{health, HttpMetrics};

use crate::config::Settings;
use crate::registry::Registries;
use crate::store::Db;

/// The metrics prefix for every Studio series.
pub const METRICS_PREFIX: &str = "anip_studio";

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Settings from the environment.
    pub settings: Arc<Settings>,
    /// Clients for the configured Registry.
    pub registry: Registries,
}

impl AppState {
    /// State over a pool with the given settings.
    pub fn new(pool: ::store::Pool, settings: Settings) -> Self {
        AppState {
            db: Db::new(pool),
            registry: Registries::new(settings.registry_publish_token.clone()),
            settings: Arc::new(settings),
        }
    }
}

/// The route of every read: GET and HEAD (see [`observability::server::get_or_head`]).
pub fn get() -> Route {
    observability::server::get_or_head()
}

/// Mounts every Studio route: health, JSON API, OpenAPI document and UI.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let health = health::Health::new(
            "studio-api",
            METRICS_PREFIX,
            health::DbReadiness::new(state.db.pool().clone(), &crate::MIGRATIONS),
        );
        health::mount(cfg, health, health::HealthPaths::STUDIO);
        cfg.app_data(web::Data::new(state.clone()));
        crate::api::configure(cfg);
        crate::ui::configure(cfg);
    }
}

/// The request-metrics middleware for Studio.
pub fn metrics() -> HttpMetrics {
    HttpMetrics::new(METRICS_PREFIX)
}

/// One JSON log line per request: method, matched route pattern (never the raw path, which may
/// carry ids of any length), status and duration. No query strings, headers or bodies.
async fn access_log<B: actix_web::body::MessageBody>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| observability::middleware::UNMATCHED_ROUTE.to_owned());
    tracing::info!(
        event = "studio_http_request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(response)
}

/// An HTTP server for `state` on an already bound listener (port 0 in tests).
pub fn server(
    state: AppState,
    listener: TcpListener,
    limits: &ServerLimits,
) -> std::io::Result<actix_web::dev::Server> {
    let http = HttpServer::new(move || {
        let reason: Option<Arc<str>> = state
            .settings
            .read_only
            .then(|| Arc::from(state.settings.read_only_reason.as_str()));
        App::new()
            .wrap(from_fn(move |req, next| {
                crate::read_only::guard(reason.clone(), req, next)
            }))
            .wrap(from_fn(access_log))
            .wrap(metrics())
            .configure(configure(state.clone()))
            .default_service(server::not_found_json(ErrorStyle::Studio))
    });
    Ok(server::apply_limits(http, limits).listen(listener)?.run())
}
