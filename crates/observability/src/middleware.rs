//! Request metrics middleware.
//!
//! [`HttpMetrics`] records, for every request:
//!
//! - `{prefix}_http_requests_total{method,route,status}` (counter)
//! - `{prefix}_http_request_duration_seconds{method,route,status}` (histogram, seconds, with
//!   [`crate::metrics::LATENCY_BUCKETS`])
//!
//! Labels are bounded by construction, so clients cannot grow the number of series:
//!
//! - `route` is the matched resource pattern (`req.match_pattern()`, e.g.
//!   `/registry-api/v1/packages/{id}/{version}`), or `unmatched` when no resource matched
//!   (the app's default service) — never the raw path. A resource that matched but has no route
//!   for the method keeps its pattern.
//! - `method` is one of the nine standard methods, else `OTHER`.
//! - `status` is the response status code (for errors, the status of the error's response).
//!
//! The duration runs from the request reaching the middleware to the response head being ready
//! (time to first byte as seen by the server); streaming the body afterwards is not included.
//!
//! Hot-path cost: each worker keeps its own cache of registered series, so a request costs one
//! pattern lookup (`match_pattern`, which allocates the pattern string), one hash-map lookup, one
//! counter increment and one histogram sample — no label allocation or registry lookup once a
//! series exists. Errors returned by inner middleware (rather than converted to responses by
//! handlers) no longer carry the request, so they are recorded as `route="unmatched"`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use ::metrics::{Counter, Histogram};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::Error;

/// The `route` label for requests no resource pattern matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` labels, indexed by [`method_index`]; the last is for non-standard methods.
const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
];

fn method_index(method: &Method) -> u8 {
    match method.as_str() {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "CONNECT" => 5,
        "OPTIONS" => 6,
        "TRACE" => 7,
        "PATCH" => 8,
        _ => 9,
    }
}

/// The `method` label for `method`: the standard method name, or `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    METHOD_LABELS[usize::from(method_index(method))]
}

/// actix-web middleware recording request counts and latencies by route pattern.
///
/// ```no_run
/// # use actix_web::App;
/// let app = App::new().wrap(observability::HttpMetrics::new("anip_registry"));
/// ```
///
/// Creating it installs the process-wide Prometheus recorder if needed
/// ([`crate::metrics::handle`]), so series are never registered against a no-op recorder.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests_name: String,
    duration_name: String,
}

impl HttpMetrics {
    /// Middleware recording `{prefix}_http_requests_total` and
    /// `{prefix}_http_request_duration_seconds`.
    pub fn new(prefix: &'static str) -> Self {
        let _ = crate::metrics::handle();
        let requests_name = format!("{prefix}_http_requests_total");
        let duration_name = format!("{prefix}_http_request_duration_seconds");
        ::metrics::describe_counter!(
            requests_name.clone(),
            "HTTP requests by method, route pattern and status"
        );
        ::metrics::describe_histogram!(
            duration_name.clone(),
            ::metrics::Unit::Seconds,
            "HTTP request duration until the response head, by method, route pattern and status"
        );
        Self {
            requests_name,
            duration_name,
        }
    }

    /// The counter's metric name.
    pub fn requests_metric(&self) -> &str {
        &self.requests_name
    }

    /// The histogram's metric name.
    pub fn duration_metric(&self) -> &str {
        &self.duration_name
    }
}

impl<S, B> Transform<S, ServiceRequest> for HttpMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = HttpMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(HttpMetricsService {
            service,
            recorder: Rc::new(SeriesCache {
                requests_name: self.requests_name.clone(),
                duration_name: self.duration_name.clone(),
                series: RefCell::default(),
            }),
        }))
    }
}

/// The service [`HttpMetrics`] wraps around the application (one per worker).
pub struct HttpMetricsService<S> {
    service: S,
    recorder: Rc<SeriesCache>,
}

impl<S, B> Service<ServiceRequest> for HttpMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = HttpMetricsFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let method = method_index(req.method());
        HttpMetricsFuture {
            start: Instant::now(),
            method,
            recorder: Rc::clone(&self.recorder),
            inner: self.service.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpMetricsService`]: the inner future, timed.
    pub struct HttpMetricsFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: u8,
        recorder: Rc<SeriesCache>,
    }
}

impl<F, B> Future for HttpMetricsFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let seconds = this.start.elapsed().as_secs_f64();
        match &result {
            Ok(res) => {
                // Must run after routing: the matched resource is recorded on the request then.
                let route = res.request().match_pattern();
                this.recorder
                    .observe(*this.method, route, res.status().as_u16(), seconds);
            }
            Err(err) => {
                let status = err.error_response().status().as_u16();
                this.recorder.observe(*this.method, None, status, seconds);
            }
        }
        Poll::Ready(result)
    }
}

/// One worker's registered series, keyed by route pattern then (method, status).
struct SeriesCache {
    requests_name: String,
    duration_name: String,
    series: RefCell<Routes>,
}

#[derive(Default)]
struct Routes {
    matched: HashMap<String, Vec<Series>>,
    unmatched: Vec<Series>,
}

struct Series {
    method: u8,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl SeriesCache {
    fn observe(&self, method: u8, route: Option<String>, status: u16, seconds: f64) {
        let mut routes = self.series.borrow_mut();
        match route {
            None => self.observe_in(
                &mut routes.unmatched,
                method,
                UNMATCHED_ROUTE,
                status,
                seconds,
            ),
            Some(route) => {
                if let Some(list) = routes.matched.get_mut(route.as_str()) {
                    self.observe_in(list, method, &route, status, seconds);
                } else {
                    let mut list = Vec::with_capacity(2);
                    self.observe_in(&mut list, method, &route, status, seconds);
                    routes.matched.insert(route, list);
                }
            }
        }
    }

    fn observe_in(
        &self,
        list: &mut Vec<Series>,
        method: u8,
        route: &str,
        status: u16,
        seconds: f64,
    ) {
        if let Some(s) = list
            .iter()
            .find(|s| s.method == method && s.status == status)
        {
            s.requests.increment(1);
            s.duration.record(seconds);
            return;
        }
        let method_label = METHOD_LABELS[usize::from(method)];
        let route_label = if route == UNMATCHED_ROUTE {
            ::metrics::SharedString::const_str(UNMATCHED_ROUTE)
        } else {
            ::metrics::SharedString::from_owned(route.to_owned())
        };
        let status_label = status.to_string();
        let requests = ::metrics::counter!(
            self.requests_name.clone(),
            "method" => method_label,
            "route" => route_label.clone(),
            "status" => status_label.clone()
        );
        let duration = ::metrics::histogram!(
            self.duration_name.clone(),
            "method" => method_label,
            "route" => route_label,
            "status" => status_label
        );
        requests.increment(1);
        duration.record(seconds);
        list.push(Series {
            method,
            status,
            requests,
            duration,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").unwrap()),
            "OTHER"
        );
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "OTHER");
    }
}
