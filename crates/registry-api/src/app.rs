//! Wiring: the shared state, the route table, and a server that can be started on any listener
//! (the binary on its configured address, tests on 127.0.0.1:0).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use observability::server::{apply_limits, not_found_json};
use observability::{DbReadiness, ErrorStyle, Health, HealthPaths, HttpMetrics, ServerLimits};
use signing::{KeySet, Secret};

use crate::auth::FirstParty;
use crate::config::{Config, Mode};
use crate::download_cache::DownloadCache;
use crate::downloads::DownloadCounter;
use crate::listing_cache::ListingCache;
use crate::store::Store;
use crate::MIGRATIONS;

/// Everything the handlers share.
pub struct AppState {
    pub store: Store,
    pub keys: Arc<KeySet>,
    pub mode: Mode,
    pub first_party: FirstParty,
    pub admin_token: Option<Secret>,
    /// `https://registry.example.com` (no trailing slash), if configured.
    pub public_base_url: Option<String>,
    pub downloads: Arc<DownloadCounter>,
    /// Package downloads kept in memory; lifecycle changes evict them in every replica.
    pub download_cache: Arc<DownloadCache>,
    /// Pages of `GET publications` and the browse list kept in memory for a short TTL; writes
    /// that change listings invalidate them in every replica.
    pub listing_cache: Arc<ListingCache>,
    /// The GitHub OAuth app for browser sign-in, if configured.
    pub github: Option<Arc<crate::github::GitHubOAuth>>,
    /// Browser session cookies, admin logins and the accepted origin.
    pub sessions: crate::auth::SessionSettings,
}

impl AppState {
    /// The active key id.
    pub fn active_key_id(&self) -> &str {
        self.keys.active_key_id().as_str()
    }
}

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    GitHub(#[from] crate::github::GitHubError),
}

/// Builds the state from a checked configuration and a pool: resolves the signing keys (the dev
/// key may live in the database) and registers the first-party publisher.
pub async fn build_state(config: &Config, pool: store::Pool) -> Result<AppState, StartupError> {
    let configured = config.check()?;
    let store = Store::new(pool);
    let keys = crate::keys::key_set(config, configured, &store).await?;
    let trust = if config.mode == Mode::Production {
        "official"
    } else {
        "unverified"
    };
    store
        .ensure_publisher(
            config.publisher_id.trim(),
            config.publisher_type.trim(),
            trust,
        )
        .await?;
    crate::metrics::register();
    let download_cache = Arc::new(DownloadCache::new(
        DOWNLOAD_CACHE_TTL,
        config.download_cache_mb.saturating_mul(1024 * 1024),
    ));
    let listing_cache = Arc::new(ListingCache::new(
        std::time::Duration::from_millis(config.listing_cache_ttl_ms),
        crate::listing_cache::DEFAULT_MAX_ENTRIES,
    ));
    if listing_cache.enabled() && config.catalogue_max_versions > 0 {
        tokio::spawn(crate::catalogue::maintain(
            Arc::clone(&listing_cache),
            store.clone(),
            config.catalogue_max_versions,
        ));
    }
    // One LISTEN session serves both caches.
    if config.download_cache_mb > 0 || listing_cache.enabled() {
        tokio::spawn(crate::invalidation::listen_for_lifecycle_changes(
            config.database_url.expose().to_owned(),
            Arc::clone(&download_cache),
            Arc::clone(&listing_cache),
        ));
    }
    Ok(AppState {
        store,
        keys: Arc::new(keys),
        mode: config.mode,
        first_party: FirstParty {
            token: config.publish_token().cloned(),
            publisher_id: config.publisher_id.trim().to_owned(),
            publisher_type: config.publisher_type.trim().to_owned(),
        },
        admin_token: config.admin_token().cloned(),
        public_base_url: config.public_base_url()?,
        downloads: DownloadCounter::new(),
        download_cache,
        listing_cache,
        github: match config.github()? {
            Some(settings) => Some(Arc::new(crate::github::GitHubOAuth::new(settings)?)),
            None => None,
        },
        sessions: config.session_settings()?,
    })
}

/// How long a cached download's lifecycle is trusted without a notification (the bound on
/// staleness when a NOTIFY is missed).
pub const DOWNLOAD_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Largest `POST publications` body (upstream: 5 MiB).
pub const PUBLISH_BODY_LIMIT: usize = crate::validate::MAX_PUBLISH_REQUEST_BYTES;
/// Largest `POST templates` body (upstream: 2 MiB).
pub const TEMPLATE_BODY_LIMIT: usize = crate::validate::MAX_TEMPLATE_PUBLISH_REQUEST_BYTES;
/// Largest `POST admin/imports` body: a bundle repeats manifest, definition and lock.
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Mounts the health endpoints and every API route. Call once per worker.
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    let health = Health::new(
        "anip-registry",
        crate::metrics::PREFIX,
        DbReadiness::new(state.store.pool().clone(), &MIGRATIONS),
    )
    .with_extra("signing_mode", state.mode.as_str())
    .with_extra("active_key_id", state.active_key_id());
    observability::health::mount(cfg, health, HealthPaths::REGISTRY);
    // Bodies are read by `http::read_body` with a limit per route (413 JSON past it) and parsed
    // strictly by `http::parse_json` (400 JSON), so no extractor-level JSON config is needed.
    cfg.app_data(state.clone())
        .configure(crate::routes::configure)
        .configure(crate::ui::configure);
}

/// The complete application for one worker; a request not answered within `deadline` gets 503.
pub fn app(
    state: web::Data<AppState>,
    deadline: std::time::Duration,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(actix_web::middleware::from_fn(
            invalidate_listings_after_writes,
        ))
        .wrap(actix_web::middleware::from_fn(cors))
        .wrap(actix_web::middleware::from_fn(access_log))
        // Outside the access log (which would not see the request end), inside the metrics.
        .wrap(actix_web::middleware::from_fn(move |req, next| {
            observability::server::deadline(req, next, deadline, ErrorStyle::Registry)
        }))
        .wrap(HttpMetrics::new(crate::metrics::PREFIX))
        .configure(|cfg| configure(cfg, &state))
        .default_service(not_found_json(ErrorStyle::Registry))
}

/// A running server and its download flusher.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    flusher: tokio::task::JoinHandle<()>,
    stop_flusher: tokio::sync::watch::Sender<bool>,
    state: web::Data<AppState>,
}

/// Starts the server on `listener` and the download flusher. With `handle_signals`, SIGTERM and
/// SIGINT stop the server gracefully (the binary); without, only [`Running::shutdown`] does
/// (tests, which run several servers in one process).
pub fn start(
    state: AppState,
    listener: TcpListener,
    limits: &ServerLimits,
    handle_signals: bool,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let state = web::Data::new(state);
    let factory_state = state.clone();
    let deadline = limits.request_deadline;
    let mut server = apply_limits(
        HttpServer::new(move || app(factory_state.clone(), deadline)),
        limits,
    );
    if !handle_signals {
        server = server.disable_signals();
    }
    let server = server.listen(listener)?.run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    let (stop_flusher, stop) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(state.downloads.clone().run(state.store.clone(), stop));
    tracing::info!(event = "registry_listening", %addr, signing_mode = state.mode.as_str(), active_key_id = state.active_key_id(), "listening");
    Ok(Running {
        addr,
        handle,
        server,
        flusher,
        stop_flusher,
        state,
    })
}

impl Running {
    /// The shared state (tests inspect the store and counters through it).
    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// `http://addr`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server stops (a signal), then flushes pending download counts.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.server.await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join.to_string())),
        };
        Self::stop_flusher(self.stop_flusher, self.flusher).await;
        result
    }

    /// Stops the server gracefully (in-flight requests finish), then flushes pending download
    /// counts.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.handle.stop(true).await;
        self.wait().await
    }

    async fn stop_flusher(
        stop: tokio::sync::watch::Sender<bool>,
        flusher: tokio::task::JoinHandle<()>,
    ) {
        // The flusher does its final flush when told to stop.
        let _ = stop.send(true);
        if let Err(error) = flusher.await {
            tracing::error!(event = "registry_download_flusher_failed", error = %error, "download flusher task failed");
        }
    }
}

/// CORS as upstream answers it, minus credentials: any origin may read (bearer tokens are not
/// ambient credentials, so `*` exposes nothing), and preflights get 204 without reaching a route.
async fn cors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let headers = [
        ("access-control-allow-origin", "*"),
        (
            "access-control-allow-methods",
            "GET, POST, PATCH, DELETE, OPTIONS",
        ),
        (
            "access-control-allow-headers",
            "Authorization, Content-Type, If-None-Match, X-ANIP-Allow-Yanked-Package",
        ),
        (
            "access-control-expose-headers",
            "ETag, Content-Disposition, X-ANIP-Lifecycle",
        ),
    ];
    let mut response = if req.method() == actix_web::http::Method::OPTIONS {
        req.into_response(actix_web::HttpResponse::NoContent().finish())
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    for (name, value) in headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(response)
}

/// A write that succeeded through this replica invalidates its listing pages before the response
/// leaves, so the client that published (or changed a lifecycle, a publisher, an ownership) lists
/// its own change at once. Other replicas learn of it through the `NOTIFY` the write's
/// transaction sent. Every write is a POST, PATCH, PUT or DELETE; a write that does not change
/// listings (a token, an abuse report) costs only a refill of the pages.
async fn invalidate_listings_after_writes(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::Method;
    let listings = match *req.method() {
        Method::GET | Method::HEAD | Method::OPTIONS => None,
        _ => req
            .app_data::<web::Data<AppState>>()
            .map(|state| Arc::clone(&state.listing_cache)),
    };
    let response = next.call(req).await?;
    if let Some(listings) = listings {
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            listings.invalidate();
        }
    }
    Ok(response)
}

/// Logs one `registry_http_request` event per request, labelled like the metrics: the matched
/// route pattern (never the raw path, which may carry ids or junk) or `unmatched`. Probes and
/// scrapes log at debug level.
async fn access_log(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = observability::middleware::method_label(req.method());
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| observability::middleware::UNMATCHED_ROUTE.to_owned());
    let status = response.status().as_u16();
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let probe = matches!(
        route.as_str(),
        "/registry-api/v1/healthz" | "/registry-api/v1/readyz" | "/registry-api/v1/metrics"
    );
    if probe {
        tracing::debug!(event = "registry_http_request", method, route = %route, status, duration_ms, "registry_http_request");
    } else {
        tracing::info!(event = "registry_http_request", method, route = %route, status, duration_ms, "registry_http_request");
    }
    Ok(response)
}
