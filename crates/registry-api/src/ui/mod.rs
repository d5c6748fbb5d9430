//! The browse UI: server-rendered HTML under `/registry` (`/` and `/registry` redirect to the
//! package list).
//!
//! Pages work without JavaScript and on a phone (one inline stylesheet, no external assets).
//! Handlers are thin like the API's: they read through the [`store`](crate::store) (the same
//! indexed listing and search queries as `GET publications`), verify packages with the shared
//! verifier of `registry-client`, and render with maud, which escapes every value.
//!
//! Architecture Invariants: no page ever emits user content as markup (readmes go through
//! [`markdown`], a safe subset that renders text nodes only); only http and https links are
//! ever linked; every response carries [`CSP`], which forbids scripts altogether; a
//! taken-down version shows a notice and never its content. Public pages browse and
//! download only: nothing here changes state.

mod error;
mod layout;
mod markdown;
mod packages;
mod paths;
mod publishers;
mod templates;
mod verification;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, Resource, Route};

use error::UiError;
use paths::UI_PREFIX;

/// The Content-Security-Policy of every UI response: no scripts, no external anything.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// GET and HEAD.
fn page() -> Route {
    observability::server::get_or_head()
}

fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Mounts `/` and every page under `/registry`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/")
            .wrap(from_fn(ui_headers))
            .route(page().to(|| redirect(UI_PREFIX))),
    )
    .service(
        web::scope(UI_PREFIX)
            .wrap(from_fn(ui_headers))
            .service(resource("").route(page().to(|| redirect("/registry/packages"))))
            .service(resource("/").route(page().to(|| redirect("/registry/packages"))))
            .service(resource("/packages").route(page().to(packages::list)))
            .service(resource("/packages/").route(page().to(|| redirect("/registry/packages"))))
            .service(resource("/packages/{package_id}").route(page().to(packages::by_id)))
            .service(
                resource("/packages/{package_id}/{version}")
                    .route(page().to(packages::by_id_version)),
            )
            .service(resource("/packages/{tail:.+}").route(page().to(packages::by_tail)))
            .service(resource("/templates").route(page().to(templates::list)))
            .service(resource("/templates/").route(page().to(|| redirect("/registry/templates"))))
            .service(resource("/templates/{template_id}").route(page().to(templates::by_id)))
            .service(
                resource("/templates/{template_id}/{version}")
                    .route(page().to(templates::by_id_version)),
            )
            .service(resource("/templates/{tail:.+}").route(page().to(templates::by_tail)))
            .service(resource("/publishers/{publisher_id}").route(page().to(publishers::show)))
            .default_service(web::to(not_found)),
    );
}

/// A temporary redirect (the UI's layout may move; nothing should cache it forever).
async fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The HTML 404 of every path under `/registry` that no page matches.
async fn not_found() -> Result<HttpResponse, UiError> {
    Err(UiError::NotFound(
        "There is no page at this address.".to_owned(),
    ))
}

async fn method_not_allowed() -> HttpResponse {
    let mut response = layout::respond(
        StatusCode::METHOD_NOT_ALLOWED,
        layout::error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "These pages can only be read.",
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Security and caching headers of every UI response, errors included. Pages show live
/// download counts and lifecycles, so browsers revalidate instead of caching.
async fn ui_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}
