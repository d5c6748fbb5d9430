//! HTTP server lifecycle: limits, a JSON 404 default service and the shutdown signal.
//!
//! # Graceful shutdown
//!
//! The service binaries rely on actix-web's own signal handling: on SIGTERM or SIGINT (Ctrl-C) the
//! server stops accepting connections, lets in-flight requests finish within
//! [`ServerLimits::shutdown_timeout`], then `Server::run().await` returns and `main` exits.
//! SIGQUIT stops it immediately. Nothing else has to be wired for that.
//!
//! [`shutdown_signal`] is the same trigger as a future, for code that is not an actix server:
//! xtask, background tasks, or a server built with `HttpServer::shutdown_signal`.

use std::fmt;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{Request, Response};
use actix_service::IntoServiceFactory;
use actix_web::dev::{AppConfig, Service, ServiceFactory};
use actix_web::dev::{AppService, HttpServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{guard, web, Error, HttpResponse, HttpServer, Route};
use actix_web::{FromRequest, Handler, Resource, Responder};
use serde_json::{Map, Value};

/// Connection and lifecycle limits for an actix-web server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time allowed for a client to send the full request head; 408 after that. Also bounds how
    /// long an idle new connection is kept before its first request.
    pub client_request_timeout: Duration,
    /// Time allowed for a connection to shut down cleanly once the response is sent.
    pub client_disconnect_timeout: Duration,
    /// How long an idle keep-alive connection is kept open (zero disables keep-alive).
    pub keep_alive: Duration,
    /// How long in-flight requests may run after SIGTERM/SIGINT before workers are dropped.
    pub shutdown_timeout: Duration,
    /// Per-worker cap on concurrent connections (actix's default is 25,000).
    pub max_connections: Option<usize>,
    /// Worker threads (actix's default is the number of physical cores).
    pub workers: Option<usize>,
    /// Listen backlog (actix's default is 1024).
    pub backlog: Option<u32>,
    /// Time a request may take, from its head being read to its response head (reading the
    /// body and handling it included), before it is answered 503 by [`deadline`]: what bounds
    /// how long a stalled dependency, such as a database that stops answering without closing
    /// its connections, holds a client.
    pub request_deadline: Duration,
}

impl Default for ServerLimits {
    /// Request head 10 s, disconnect 5 s, keep-alive 75 s (longer than the 60 s idle timeout of
    /// common load balancers, so the server is not the side that races to close), shutdown 30 s,
    /// request deadline 30 s (the server-side statement timeout of pooled connections, see
    /// `store::PoolOptions`); actix's defaults for the rest.
    fn default() -> Self {
        Self {
            client_request_timeout: Duration::from_secs(10),
            client_disconnect_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(75),
            shutdown_timeout: Duration::from_secs(30),
            max_connections: None,
            workers: None,
            backlog: None,
            request_deadline: Duration::from_secs(30),
        }
    }
}

/// Applies `limits` to `server`. Call before `bind` (the backlog only applies to later binds).
///
/// Zero `workers` or `max_connections` are ignored (actix panics on zero workers, and zero
/// connections would accept nothing). The shutdown timeout is rounded up to whole seconds.
pub fn apply_limits<F, I, S, B>(
    server: HttpServer<F, I, S, B>,
    limits: &ServerLimits,
) -> HttpServer<F, I, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let shutdown_secs =
        limits.shutdown_timeout.as_secs() + u64::from(limits.shutdown_timeout.subsec_nanos() > 0);
    let mut server = server
        .client_request_timeout(limits.client_request_timeout)
        .client_disconnect_timeout(limits.client_disconnect_timeout)
        .keep_alive(limits.keep_alive)
        .shutdown_timeout(shutdown_secs);
    if let Some(n) = limits.max_connections.filter(|n| *n > 0) {
        server = server.max_connections(n);
    }
    if let Some(n) = limits.workers.filter(|n| *n > 0) {
        server = server.workers(n);
    }
    if let Some(n) = limits.backlog {
        server = server.backlog(n);
    }
    server
}

/// The JSON error body shape of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error": msg}`; not found is `{"error":"not found"}`.
    Registry,
    /// `{"detail": msg}` (FastAPI style); not found is `{"detail":"Not Found"}`.
    Studio,
    /// `{"error": msg}`; not found is `{"error":"not found"}`.
    Runtime,
}

impl ErrorStyle {
    /// The key holding the message.
    pub fn key(self) -> &'static str {
        match self {
            ErrorStyle::Registry | ErrorStyle::Runtime => "error",
            ErrorStyle::Studio => "detail",
        }
    }

    /// The not-found message.
    pub fn not_found_message(self) -> &'static str {
        match self {
            ErrorStyle::Registry | ErrorStyle::Runtime => "not found",
            ErrorStyle::Studio => "Not Found",
        }
    }

    /// The error body for `message`.
    pub fn body(self, message: impl Into<String>) -> Value {
        let mut body = Map::with_capacity(1);
        body.insert(self.key().to_owned(), Value::String(message.into()));
        Value::Object(body)
    }

    /// A JSON error response with `status` and `message`.
    pub fn response(self, status: StatusCode, message: impl Into<String>) -> HttpResponse {
        HttpResponse::build(status).json(self.body(message))
    }
}

/// Answers a request 503 with `style`'s error body, and a `Retry-After`, when the service has
/// not produced its response head within `limit`; the handler's future is dropped, so a
/// transaction it held open rolls back. For `actix_web::middleware::from_fn`:
/// `from_fn(move |req, next| deadline(req, next, limit, style))`. A response already started
/// (a download's body, an event stream) is not bounded by it.
///
/// The 503 is returned as an error (its response inside): the request belongs to the dropped
/// handler, and actix's router needs it unshared, so the middleware cannot keep a copy to build
/// a response of its own. Layers outside see an error: `HttpMetrics` counts it (as an unmatched
/// route); a layer that propagates errors with `?` does not see the request end, so the
/// deadline logs it itself.
pub async fn deadline<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
    limit: Duration,
    style: ErrorStyle,
) -> Result<ServiceResponse<B>, Error> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(response) => response,
        Err(_) => {
            let seconds = limit.as_secs_f64();
            let path: String = uri.path().chars().take(200).collect();
            tracing::warn!(
                event = "request_deadline_exceeded",
                method = %method,
                path = %path,
                limit_s = seconds,
                "request not answered within its deadline"
            );
            Err(DeadlineExceeded { style, seconds }.into())
        }
    }
}

/// What [`deadline`] answers: 503, `style`'s error body, `Retry-After: 5`. (An error type
/// rather than a stored response: every layer that asks for the response gets it whole.)
#[derive(Debug)]
struct DeadlineExceeded {
    style: ErrorStyle,
    seconds: f64,
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request was not answered within {} s; retry later",
            self.seconds
        )
    }
}

impl actix_web::ResponseError for DeadlineExceeded {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.style.response(self.status_code(), self.to_string());
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("5"),
        );
        response
    }
}

/// The route of every read: GET, and HEAD with the same handler. Actix matches methods
/// exactly, so a plain `web::get()` route answers HEAD with 404 or 405; the HTTP/1 codec sends
/// a HEAD answer's headers (with the GET's `Content-Length`) and drops its body. Read handlers
/// never write, so running one for HEAD is as safe as for GET (a handler with a side effect,
/// such as counting a download, checks the method).
pub fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// One path's routes. Any other method is answered 405 in the service's error style, with an
/// `Allow` header naming the methods the path has (RFC 9110 §15.5.6); `Allow` is built from the
/// routes themselves, so the two cannot drift. Register it with `.service(endpoint)`.
pub struct Endpoint {
    resource: Resource,
    allow: Vec<&'static str>,
    style: ErrorStyle,
}

impl Endpoint {
    pub fn new(path: impl Into<String>, style: ErrorStyle) -> Self {
        Endpoint {
            resource: web::resource(path.into()),
            allow: Vec::new(),
            style,
        }
    }

    /// GET and HEAD ([`get_or_head`]).
    pub fn read<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(&["GET", "HEAD"], get_or_head().to(handler))
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(&["POST"], web::post().to(handler))
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(&["PUT"], web::put().to(handler))
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(&["PATCH"], web::patch().to(handler))
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(&["DELETE"], web::delete().to(handler))
    }

    fn route(mut self, methods: &[&'static str], route: Route) -> Self {
        self.resource = self.resource.route(route);
        self.allow.extend_from_slice(methods);
        self
    }

    /// The resource, its default service answering 405.
    pub fn into_resource(self) -> Resource {
        let allow = self.allow.join(", ");
        let style = self.style;
        self.resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                let mut response =
                    style.response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }))
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        self.into_resource().register(config);
    }
}

/// A default service answering 404 with the style's not-found body, for
/// `App::default_service(not_found_json(style))`.
///
/// Requests it answers are recorded by [`crate::HttpMetrics`] as `route="unmatched"`.
pub fn not_found_json(style: ErrorStyle) -> Route {
    web::to(move || async move { style.response(StatusCode::NOT_FOUND, style.not_found_message()) })
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C).
///
/// If a signal handler cannot be installed, that signal is logged and ignored (the other still
/// works). Needs a Tokio runtime with signal support (actix's runtime is one).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(event = "signal_handler_failed", signal = "SIGINT", error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::warn!(event = "signal_handler_failed", signal = "SIGTERM", error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => tracing::info!(event = "shutdown_signal", signal = "SIGINT", "shutting down"),
        () = terminate => tracing::info!(event = "shutdown_signal", signal = "SIGTERM", "shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test as atest, App};

    #[test]
    fn defaults() {
        let l = ServerLimits::default();
        assert_eq!(l.client_request_timeout, Duration::from_secs(10));
        assert_eq!(l.keep_alive, Duration::from_secs(75));
        assert_eq!(l.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(l.workers, None);
    }

    #[test]
    fn bodies_by_style() {
        assert_eq!(
            ErrorStyle::Registry.body("not found").to_string(),
            r#"{"error":"not found"}"#
        );
        assert_eq!(
            ErrorStyle::Studio.body("Not Found").to_string(),
            r#"{"detail":"Not Found"}"#
        );
        assert_eq!(ErrorStyle::Runtime.key(), "error");
    }

    #[actix_web::test]
    async fn default_service_answers_json_404() {
        for (style, expected) in [
            (ErrorStyle::Registry, r#"{"error":"not found"}"#),
            (ErrorStyle::Studio, r#"{"detail":"Not Found"}"#),
            (ErrorStyle::Runtime, r#"{"error":"not found"}"#),
        ] {
            let app = atest::init_service(App::new().default_service(not_found_json(style))).await;
            let req = atest::TestRequest::post().uri("/nope/1").to_request();
            let res = atest::call_service(&app, req).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
            assert_eq!(
                res.headers().get("content-type").unwrap(),
                "application/json"
            );
            let body = atest::read_body(res).await;
            assert_eq!(body, expected.as_bytes());
        }
    }
}
