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

use actix_web::{web, Resource};

use crate::app::method_not_allowed;

/// The API prefix.
pub const PREFIX: &str = "/registry-api/v1";

/// GET, and HEAD with the same handler (download handlers don't count a HEAD).
fn read() -> actix_web::Route {
    observability::server::get_or_head()
}

fn resource(path: &str) -> Resource {
    web::resource(format!("{PREFIX}{path}")).default_service(web::to(method_not_allowed))
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/keys").route(read().to(keys::list)))
        .service(
            resource("/publications")
                .route(read().to(packages::list))
                .route(web::post().to(packages::publish)),
        )
        .service(resource("/packages/{package_id}/{version}").route(read().to(packages::record)))
        .service(
            resource("/packages/{package_id}/{version}/download")
                .route(read().to(packages::download)),
        )
        .service(resource("/packages/{package_id}/{version}/lock").route(read().to(packages::lock)))
        .service(
            resource("/packages/{package_id}/{version}/receipt")
                .route(read().to(packages::receipt)),
        )
        .service(
            resource("/templates")
                .route(read().to(templates::list))
                .route(web::post().to(templates::publish)),
        )
        .service(resource("/templates/{template_id}/{version}").route(read().to(templates::record)))
        .service(
            resource("/templates/{template_id}/{version}/download")
                .route(read().to(templates::download)),
        )
        .service(
            resource("/templates/{template_id}/{version}/receipt")
                .route(read().to(templates::receipt)),
        )
        .service(
            resource("/admin/packages/{package_id}/{version}/lifecycle")
                .route(web::patch().to(admin::update_lifecycle)),
        )
        .service(resource("/admin/imports").route(web::post().to(admin::import_bundle)))
        .service(
            resource("/admin/publishers")
                .route(read().to(admin::list_publishers))
                .route(web::post().to(admin::create_publisher)),
        )
        .service(
            resource("/admin/publishers/{publisher_id}/status")
                .route(web::patch().to(admin::update_publisher_status)),
        )
        .service(
            resource("/admin/publishers/{publisher_id}/tokens")
                .route(web::post().to(admin::create_publisher_token)),
        )
        .service(resource("/admin/namespaces").route(read().to(admin::list_namespaces)))
        .service(
            resource("/admin/namespaces/{namespace:.+}")
                .route(web::patch().to(admin::update_namespace_status)),
        )
        .service(resource("/admin/artifacts").route(read().to(admin::list_artifacts)))
        .service(resource("/admin/users").route(read().to(users::list)))
        .service(
            resource("/admin/abuse-reports")
                .route(read().to(abuse::list))
                .route(web::post().to(abuse::create)),
        )
        .service(
            resource("/admin/abuse-reports/{report_id}/status")
                .route(web::patch().to(abuse::update_status)),
        )
        .service(
            resource("/admin/abuse-reports/{report_id}/takedown")
                .route(web::post().to(abuse::takedown)),
        )
        .service(
            resource("/admin/namespace-transfer/{namespace:.+}")
                .route(web::post().to(transfers::namespace)),
        )
        .service(
            resource("/admin/artifact-transfer/{kind}/{artifact_id:.+}")
                .route(web::post().to(transfers::artifact)),
        )
        .service(resource("/auth/github/start").route(read().to(auth::start)))
        .service(resource("/auth/github/callback").route(read().to(auth::callback)))
        .service(resource("/auth/session").route(read().to(auth::session)))
        .service(resource("/auth/logout").route(web::post().to(auth::logout)))
        .service(
            resource("/admin/artifact-status/{kind}/{artifact_id:.+}")
                .route(web::patch().to(admin::update_artifact_status)),
        )
        .service(
            resource("/me/publisher")
                .route(read().to(me::publisher))
                .route(web::patch().to(me::update_publisher)),
        )
        .service(
            resource("/me/namespaces")
                .route(read().to(me::namespaces))
                .route(web::post().to(me::claim_namespace)),
        )
        .service(resource("/me/artifacts").route(read().to(me::artifacts)))
        .service(
            resource("/me/tokens")
                .route(read().to(me::tokens))
                .route(web::post().to(me::create_token)),
        )
        .service(resource("/me/tokens/{token_id}").route(web::delete().to(me::revoke_token)));
}
