//! The route table of `/registry-api/v1`. Handlers are thin: parse, call a domain function and
//! the store, map to a response.
//!
//! Ids that contain `/` travel as one `%2F`-encoded segment (`packages/acme%2Ftools/1.0.0`).

mod abuse;
mod admin;
mod auth;
mod keys;
mod me;
mod packages;
mod publishing;
mod templates;
mod transfers;
mod users;

use actix_web::web;
use observability::server::{Endpoint, ErrorStyle};

/// The API prefix.
pub const PREFIX: &str = "/registry-api/v1";

/// An API path: `read` is GET and HEAD with the same handler (download handlers don't count a
/// HEAD); any method it lacks is a 405 with `Allow`.
fn resource(path: &str) -> Endpoint {
    Endpoint::new(format!("{PREFIX}{path}"), ErrorStyle::Registry)
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/keys").read(keys::list))
        .service(
            resource("/publications")
                .read(packages::list)
                .post(packages::publish),
        )
        .service(resource("/packages/{package_id}/{version}").read(packages::record))
        .service(resource("/packages/{package_id}/{version}/download").read(packages::download))
        .service(resource("/packages/{package_id}/{version}/lock").read(packages::lock))
        .service(resource("/packages/{package_id}/{version}/receipt").read(packages::receipt))
        .service(
            resource("/templates")
                .read(templates::list)
                .post(templates::publish),
        )
        .service(resource("/templates/{template_id}/{version}").read(templates::record))
        .service(resource("/templates/{template_id}/{version}/download").read(templates::download))
        .service(resource("/templates/{template_id}/{version}/receipt").read(templates::receipt))
        .service(
            resource("/admin/packages/{package_id}/{version}/lifecycle")
                .patch(admin::update_lifecycle),
        )
        .service(resource("/admin/imports").post(admin::import_bundle))
        .service(
            resource("/admin/publishers")
                .read(admin::list_publishers)
                .post(admin::create_publisher),
        )
        .service(
            resource("/admin/publishers/{publisher_id}/status")
                .patch(admin::update_publisher_status),
        )
        .service(
            resource("/admin/publishers/{publisher_id}/tokens").post(admin::create_publisher_token),
        )
        .service(resource("/admin/namespaces").read(admin::list_namespaces))
        .service(resource("/admin/namespaces/{namespace:.+}").patch(admin::update_namespace_status))
        .service(resource("/admin/artifacts").read(admin::list_artifacts))
        .service(resource("/admin/users").read(users::list))
        .service(
            resource("/admin/abuse-reports")
                .read(abuse::list)
                .post(abuse::create),
        )
        .service(resource("/admin/abuse-reports/{report_id}/status").patch(abuse::update_status))
        .service(resource("/admin/abuse-reports/{report_id}/takedown").post(abuse::takedown))
        .service(resource("/admin/namespace-transfer/{namespace:.+}").post(transfers::namespace))
        .service(
            resource("/admin/artifact-transfer/{kind}/{artifact_id:.+}").post(transfers::artifact),
        )
        .service(resource("/auth/github/start").read(auth::start))
        .service(resource("/auth/github/callback").read(auth::callback))
        .service(resource("/auth/session").read(auth::session))
        .service(resource("/auth/logout").post(auth::logout))
        .service(
            resource("/admin/artifact-status/{kind}/{artifact_id:.+}")
                .patch(admin::update_artifact_status),
        )
        .service(
            resource("/me/publisher")
                .read(me::publisher)
                .patch(me::update_publisher),
        )
        .service(
            resource("/me/namespaces")
                .read(me::namespaces)
                .post(me::claim_namespace),
        )
        .service(resource("/me/artifacts").read(me::artifacts))
        .service(
            resource("/me/tokens")
                .read(me::tokens)
                .post(me::create_token),
        )
        .service(resource("/me/tokens/{token_id}").delete(me::revoke_token));
}
