//! The JSON API under `/api`: the route table, extractor error handling, and the OpenAPI
//! document served at `/api/openapi.json`. Handlers parse, call one [`crate::service`]
//! function and map the result; errors are `{"detail": "..."}`.

mod design;
mod developer;
mod documents;
mod misc;
mod openapi;
mod projects;
mod publish;
mod workspaces;

pub use documents::{read_upload, UploadForm};
pub use openapi::ApiDoc;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::Error;
use crate::routing::Routes;

/// Largest JSON body for ordinary requests.
pub const JSON_LIMIT: usize = 8 * 1024 * 1024;
/// Largest snapshot import.
pub const SNAPSHOT_LIMIT: usize = 64 * 1024 * 1024;

fn json_error(error: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            Error::PayloadTooLarge("The request body is larger than allowed.".into()).into()
        }
        JsonPayloadError::ContentType => {
            Error::UnsupportedMediaType("Send JSON with Content-Type: application/json.".into())
                .into()
        }
        JsonPayloadError::Deserialize(e) => {
            Error::BadRequest(format!("Malformed JSON body: {e}")).into()
        }
        other => Error::BadRequest(format!("Unreadable JSON body: {other}")).into(),
    }
}

fn path_error(error: PathError, _req: &HttpRequest) -> actix_web::Error {
    // An id that cannot exist names nothing: 404, saying why.
    Error::NotFound(format!("Not Found ({error})")).into()
}

fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    Error::BadRequest(format!("Invalid query string: {error}")).into()
}

fn form_error(error: UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    match error {
        UrlencodedError::Overflow { .. } => {
            Error::PayloadTooLarge("The form is larger than allowed.".into()).into()
        }
        other => Error::BadRequest(format!("Invalid form: {other}")).into(),
    }
}

/// JSON extraction settings with a body limit.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(json_error)
}

/// 200 with a JSON body.
pub(crate) fn ok<T: Serialize>(value: T) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// 201 with a JSON body.
pub(crate) fn created<T: Serialize>(value: T) -> HttpResponse {
    HttpResponse::Created().json(value)
}

/// 204.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Every JSON route. Read-only mode is enforced in front of this by [`crate::read_only`].
pub fn configure(cfg: &mut Routes) {
    cfg.app_data(json_config(JSON_LIMIT))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(
            web::FormConfig::default()
                .limit(JSON_LIMIT)
                .error_handler(form_error),
        );

    use crate::routing::{delete, get, post, put};
    cfg.route("/api/openapi.json", get().to(openapi::document))
        .route("/api/runtime-status", get().to(misc::runtime_status))
        .route("/api/settings", get().to(misc::settings))
        .route("/api/settings", put().to(misc::update_settings))
        .route(
            "/api/validate/definition",
            post().to(misc::validate_definition),
        )
        .route("/api/validate/shape", post().to(misc::validate_shape))
        // Workspaces and connections.
        .route("/api/workspaces", get().to(workspaces::list))
        .route("/api/workspaces", post().to(workspaces::create))
        .route("/api/workspaces/{workspace_id}", get().to(workspaces::get))
        .route(
            "/api/workspaces/{workspace_id}",
            put().to(workspaces::update),
        )
        .route(
            "/api/workspaces/{workspace_id}",
            delete().to(workspaces::delete),
        )
        .route(
            "/api/workspaces/{workspace_id}/connections",
            get().to(workspaces::connections),
        )
        .route(
            "/api/workspaces/{workspace_id}/connections",
            post().to(workspaces::create_connection),
        )
        .route(
            "/api/workspaces/{workspace_id}/connections/{connection_id}",
            put().to(workspaces::update_connection),
        )
        .route(
            "/api/workspaces/{workspace_id}/connections/{connection_id}",
            delete().to(workspaces::delete_connection),
        )
        // Projects.
        .route("/api/projects", get().to(projects::list))
        .route("/api/projects", post().to(projects::create))
        .route("/api/projects/{project_id}", get().to(projects::get))
        .route("/api/projects/{project_id}", put().to(projects::update))
        .route("/api/projects/{project_id}", delete().to(projects::delete))
        .route(
            "/api/projects/{project_id}/clone",
            post().to(projects::clone),
        )
        .route(
            "/api/projects/{project_id}/export",
            get().to(projects::export),
        )
        .route(
            "/api/projects/{project_id}/history",
            get().to(projects::history),
        )
        .route_with_data(
            "/api/project-snapshots/import",
            json_config(SNAPSHOT_LIMIT),
            post().to(projects::import_snapshot),
        )
        // Source documents.
        .route(
            "/api/projects/{project_id}/documents",
            get().to(documents::list),
        )
        .route(
            "/api/projects/{project_id}/documents",
            post().to(documents::upload),
        )
        .route(
            "/api/projects/{project_id}/documents/{document_id}",
            get().to(documents::get),
        )
        .route(
            "/api/projects/{project_id}/documents/{document_id}",
            delete().to(documents::delete),
        )
        .route(
            "/api/projects/{project_id}/documents/{document_id}/preview",
            get().to(documents::preview),
        )
        .route(
            "/api/projects/{project_id}/documents/{document_id}/download",
            get().to(documents::download),
        );
    design::routes(cfg);
    developer::routes(cfg);
    publish::routes(cfg);
    misc::assistant_routes(cfg);
}
