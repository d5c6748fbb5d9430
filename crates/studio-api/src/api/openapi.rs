//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{design, developer, documents, misc, projects, publish, workspaces};

/// Studio's OpenAPI 3.1 document.
#[derive(OpenApi)]
#[openapi(
    info(title = "ANIP Studio API", description = "Authoring service: workspaces, projects, source documents, product and developer design, revisions, packages and publication. Errors are `{\"detail\": \"...\"}`."),
    paths(
        misc::runtime_status, misc::settings, misc::update_settings,
        misc::validate_definition, misc::validate_shape,
        misc::draft_sections, misc::propose_capabilities, misc::accept,
        workspaces::list, workspaces::create, workspaces::get, workspaces::update, workspaces::delete,
        workspaces::connections, workspaces::create_connection, workspaces::update_connection, workspaces::delete_connection,
        projects::list, projects::create, projects::get, projects::update, projects::delete,
        projects::clone, projects::export, projects::import_snapshot, projects::history,
        documents::list, documents::upload, documents::get, documents::preview, documents::download, documents::delete,
        design::requirements::list, design::requirements::create, design::requirements::get, design::requirements::update, design::requirements::delete,
        design::set_role,
        design::scenarios::list, design::scenarios::create, design::scenarios::get, design::scenarios::update, design::scenarios::delete,
        design::shapes::inner::list, design::shapes::create, design::shapes::inner::get, design::shapes::inner::update, design::shapes::inner::delete,
        design::pm_artifacts::list, design::pm_artifacts::create, design::pm_artifacts::get, design::pm_artifacts::update, design::pm_artifacts::delete,
        design::list_evaluations, design::create_evaluation, design::get_evaluation, design::delete_evaluation,
        design::discovery_records,
        developer::overview, developer::save_section, developer::product_revisions, developer::save_product_revision, developer::product_revision,
        developer::baseline, developer::lock_baseline, developer::definition, developer::save_definition,
        developer::definition_revisions, developer::save_definition_revision, developer::definition_revision,
        developer::contract, developer::package,
        publish::local_list, publish::local_create, publish::local_get, publish::local_verify, publish::local_bundle,
        publish::registry_publish, publish::registry_publications, publish::registry_publish_project, publish::registry_publications_of,
        publish::registry_templates, publish::registry_template_publish, publish::template,
    ),
    tags(
        (name = "workspaces", description = "Workspaces and their backend connections (secret references only)"),
        (name = "projects", description = "Projects: create, clone, delete"),
        (name = "documents", description = "Source documents: raw bytes with their SHA-256"),
        (name = "design", description = "Requirements, scenarios, shapes, evaluations and PM artifacts; content hashes recomputed on every write"),
        (name = "product", description = "Product sections and frozen product design revisions"),
        (name = "developer", description = "Developer baseline, definition, revisions and the compiled contract"),
        (name = "packages", description = "Package build"),
        (name = "publication", description = "Studio-local publications"),
        (name = "registry", description = "Publication to the Registry, trust verdicts, templates"),
        (name = "snapshots", description = "anip-studio-project-snapshot/v1 import and export"),
        (name = "history", description = "Revision history with diffs"),
        (name = "assistant", description = "Proposals from source documents; nothing stored until accepted"),
        (name = "validation", description = "Pure validation (allowed in read-only mode)"),
        (name = "settings", description = "Settings and runtime status"),
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
pub(super) async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
