//! The route table. Every route is registered through [`Routes`], which mounts it with actix
//! and remembers which methods each path pattern answers, so that the one default service
//! ([`fallback`]) can tell a path that exists under another method (405 with `Allow`) from a
//! path that does not exist (404). Actix itself cannot: `ServiceConfig::route` makes one
//! resource per method, guarded by that method, so a wrong method falls through to the
//! default service like an unknown path. Resources mounted whole (the health endpoints, a
//! route with its own data) answer a wrong method themselves, with an empty 405:
//! [`method_not_allowed_json`] gives those the same body and `Allow`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder, Route};
use observability::ErrorStyle;

/// A route and the methods it answers.
pub struct MethodRoute {
    methods: &'static [Method],
    route: Route,
}

impl MethodRoute {
    /// The route with `handler`, like [`Route::to`].
    pub fn to<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        MethodRoute {
            methods: self.methods,
            route: self.route.to(handler),
        }
    }
}

/// GET, and HEAD with the same handler ([`observability::server::get_or_head`]).
pub fn get() -> MethodRoute {
    MethodRoute {
        methods: &[Method::GET, Method::HEAD],
        route: observability::server::get_or_head(),
    }
}

/// POST.
pub fn post() -> MethodRoute {
    MethodRoute {
        methods: &[Method::POST],
        route: web::post(),
    }
}

/// PUT.
pub fn put() -> MethodRoute {
    MethodRoute {
        methods: &[Method::PUT],
        route: web::put(),
    }
}

/// DELETE.
pub fn delete() -> MethodRoute {
    MethodRoute {
        methods: &[Method::DELETE],
        route: web::delete(),
    }
}

/// Registers routes on a `ServiceConfig` and records the methods of each path pattern.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    table: Vec<(String, Vec<Method>)>,
}

impl<'a> Routes<'a> {
    /// A table registering on `cfg`.
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Routes {
            cfg,
            table: Vec::new(),
        }
    }

    /// Mounts `route` at `path`.
    pub fn route(&mut self, path: &str, route: MethodRoute) -> &mut Self {
        self.record(path, route.methods);
        self.cfg.route(path, route.route);
        self
    }

    /// Mounts `route` at `path` with its own `data` (e.g. a larger body limit).
    pub fn route_with_data<D: 'static>(
        &mut self,
        path: &str,
        data: D,
        route: MethodRoute,
    ) -> &mut Self {
        self.record(path, route.methods);
        self.cfg
            .service(web::resource(path).app_data(data).route(route.route));
        self
    }

    /// Application data for every route, like [`web::ServiceConfig::app_data`].
    pub fn app_data<D: 'static>(&mut self, data: D) -> &mut Self {
        self.cfg.app_data(data);
        self
    }

    /// Records the methods of a path mounted elsewhere (the health endpoints).
    pub fn record(&mut self, path: &str, methods: &[Method]) -> &mut Self {
        match self.table.iter_mut().find(|(p, _)| p == path) {
            Some((_, known)) => {
                for method in methods {
                    if !known.contains(method) {
                        known.push(method.clone());
                    }
                }
            }
            None => self.table.push((path.to_owned(), methods.to_vec())),
        }
        self
    }

    /// The table of what was registered, for [`fallback`] (as application data).
    pub fn finish(self) -> AllowTable {
        AllowTable {
            entries: self
                .table
                .into_iter()
                .map(|(path, methods)| (ResourceDef::new(path), methods))
                .collect(),
        }
    }
}

/// Path patterns and the methods they answer.
#[derive(Debug)]
pub struct AllowTable {
    entries: Vec<(ResourceDef, Vec<Method>)>,
}

/// The order methods are listed in `Allow`.
const METHOD_ORDER: [Method; 5] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
];

impl AllowTable {
    /// The methods some route answers at `path` (empty: no route has the path), in a fixed
    /// order, for `Allow`.
    pub fn allowed(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = Vec::new();
        for (pattern, known) in &self.entries {
            if pattern.is_match(path) {
                for method in known {
                    if !methods.contains(method) {
                        methods.push(method.clone());
                    }
                }
            }
        }
        methods.sort_by_key(|m| METHOD_ORDER.iter().position(|o| o == m));
        methods
    }
}

/// The default service: 405 `{"detail":"Method Not Allowed"}` with `Allow` when the path exists
/// under other methods, else 404 `{"detail":"Not Found"}`.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    let style = ErrorStyle::Studio;
    let allowed = req
        .app_data::<web::Data<AllowTable>>()
        .map(|table| table.allowed(req.path()))
        .unwrap_or_default();
    if allowed.is_empty() {
        return style.response(StatusCode::NOT_FOUND, style.not_found_message());
    }
    let mut response = style.response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Middleware: a 405 that a resource answered itself (actix's, without a body) gets the JSON
/// body and `Allow` that [`fallback`] gives.
pub async fn method_not_allowed_json<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let response = next.call(req).await?;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return Ok(response.map_into_left_body());
    }
    let (req, _) = response.into_parts();
    let answer = fallback(req.clone()).await;
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_unions_every_matching_pattern_in_a_fixed_order() {
        let table = AllowTable {
            entries: vec![
                (ResourceDef::new("/a/{id}"), vec![Method::PUT]),
                (ResourceDef::new("/a/{id}"), vec![Method::GET, Method::HEAD]),
                (ResourceDef::new("/a/{id}/b"), vec![Method::POST]),
                (ResourceDef::new("/a/fixed"), vec![Method::DELETE]),
            ],
        };
        assert_eq!(
            table.allowed("/a/fixed"),
            [Method::GET, Method::HEAD, Method::PUT, Method::DELETE]
        );
        assert_eq!(table.allowed("/a/x/b"), [Method::POST]);
        assert!(table.allowed("/a").is_empty());
        assert!(table.allowed("/a/x/c").is_empty());
    }
}
