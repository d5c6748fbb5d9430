//! The HTTP application: shared state, the middleware stack (metrics outermost, then the
//! request deadline, the access log, the security headers and the read-only guard, which runs
//! before routing) and every route. The binary and the tests serve exactly this through
//! [`server`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
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

/// What a request's deadline must leave room for beyond the longest outbound call: the
/// database statements around it and writing the answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// The request deadline Studio serves with: the larger of `default` and the longest legitimate
/// request plus [`DEADLINE_MARGIN`]. The longest is an assistant call (one model request, up to
/// [`crate::assistant::openai::REQUEST_TIMEOUT`], 120 s) or a Registry publication (the
/// publication, then the Registry's keys: two calls of up to [`crate::registry::TIMEOUT`],
/// 60 s); package builds are local and bounded by the database's statement timeout. So
/// 150 s: a stalled database is still answered 503, and no legitimate request is cut short.
pub fn request_deadline(default: Duration) -> Duration {
    let longest = crate::assistant::openai::REQUEST_TIMEOUT.max(crate::registry::TIMEOUT * 2);
    default.max(longest + DEADLINE_MARGIN)
}

/// The server limits of the binary: the defaults, with [`request_deadline`].
pub fn server_limits() -> ServerLimits {
    let defaults = ServerLimits::default();
    ServerLimits {
        request_deadline: request_deadline(defaults.request_deadline),
        ..defaults
    }
}

/// The Content-Security-Policy of every response: the UI needs its one inline stylesheet (and
/// one `style` attribute), forms that post to Studio itself, and nothing else: no scripts, no
/// frames, nothing from elsewhere. The Registry UI's policy.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The security headers of every response, the Registry UI's set: a response that already
/// has a Content-Security-Policy (a document download's stricter one) keeps it. JSON answers
/// get them too; they cost nothing there and no HTML response can be missed.
async fn security_headers<B: actix_web::body::MessageBody>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error> {
    use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_SECURITY_POLICY};
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(response)
}

/// Mounts every Studio route: health, JSON API, OpenAPI document and UI.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let health = health::Health::new(
            "studio-api",
            METRICS_PREFIX,
            health::DbReadiness::new(state.db.pool().clone(), &crate::MIGRATIONS),
        );
        let paths = health::HealthPaths::STUDIO;
        health::mount(cfg, health, paths);
        cfg.app_data(web::Data::new(state.clone()));
        let mut routes = crate::routing::Routes::new(cfg);
        routes
            .record(paths.liveness, &[Method::GET, Method::HEAD])
            .record(paths.readiness, &[Method::GET, Method::HEAD])
            .record(paths.metrics, &[Method::GET]);
        crate::api::configure(&mut routes);
        crate::ui::configure(&mut routes);
        let table = routes.finish();
        cfg.app_data(web::Data::new(table));
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

/// An HTTP server for `state` on an already bound listener (port 0 in tests). A request not
/// answered within `limits.request_deadline` gets 503 (the binary uses [`server_limits`]).
pub fn server(
    state: AppState,
    listener: TcpListener,
    limits: &ServerLimits,
) -> std::io::Result<actix_web::dev::Server> {
    let deadline = limits.request_deadline;
    let http = HttpServer::new(move || {
        let reason: Option<Arc<str>> = state
            .settings
            .read_only
            .then(|| Arc::from(state.settings.read_only_reason.as_str()));
        App::new()
            .wrap(from_fn(move |req, next| {
                crate::read_only::guard(reason.clone(), req, next)
            }))
            .wrap(from_fn(crate::routing::method_not_allowed_json))
            .wrap(from_fn(security_headers))
            .wrap(from_fn(access_log))
            // Outside the access log (which would not see the request end), inside the metrics.
            .wrap(from_fn(move |req, next| {
                server::deadline(req, next, deadline, ErrorStyle::Studio)
            }))
            .wrap(metrics())
            .configure(configure(state.clone()))
            .default_service(web::to(crate::routing::fallback))
    });
    Ok(server::apply_limits(http, limits).listen(listener)?.run())
}
