//! Product design (sections, revisions) and the developer side (baseline, definition,
//! revisions, compiled contract, package).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{created, ok};
use crate::app::AppState;
use crate::error::Result;
use crate::ids::{ProjectId, SectionKey};
use crate::model::Artifact;
use crate::service::developer::{
    self, BaselineView, DefinitionBody, DefinitionView, LockBody, PackageOptionsBody,
    PackagePreview, SaveDefinitionRevisionBody, SavedRevision,
};
use crate::service::product::{self, ProductOverview, SaveRevisionBody, SectionBody};

#[utoipa::path(get, path = "/api/projects/{project_id}/product", tag = "product",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProductOverview), (status = 404)))]
pub(super) async fn overview(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(product::overview(&state.db, &id).await?))
}

/// A section path.
#[derive(Debug, Deserialize)]
pub(super) struct SectionPath {
    project_id: ProjectId,
    section: String,
}

#[utoipa::path(put, path = "/api/projects/{project_id}/product/sections/{section}", tag = "product", request_body = SectionBody,
    params(("project_id" = String, Path, description = "Project id"),
           ("section" = SectionKey, Path, description = "product_summary, actor_model, business_areas, permission_intent, non_goals or success_criteria")),
    responses((status = 200, body = Artifact), (status = 404), (status = 409, description = "Changed meanwhile"), (status = 422)))]
pub(super) async fn save_section(
    state: web::Data<AppState>,
    path: web::Path<SectionPath>,
    body: web::Json<SectionBody>,
) -> Result<HttpResponse> {
    let section = SectionKey::parse(&path.section)
        .map_err(|e| crate::error::Error::NotFound(format!("Not Found ({e})")))?;
    Ok(ok(product::save_section(
        &state.db,
        &path.project_id,
        section,
        body.into_inner(),
    )
    .await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/product/revisions", tag = "product",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Vec<Artifact>), (status = 404)))]
pub(super) async fn product_revisions(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(product::revisions(&state.db, &id).await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/product/revisions", tag = "product", request_body = SaveRevisionBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 201, description = "The frozen revision", body = Artifact), (status = 404),
              (status = 409, description = "Another save got there first"), (status = 422, description = "No sections, or nothing changed")))]
pub(super) async fn save_product_revision(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<SaveRevisionBody>,
) -> Result<HttpResponse> {
    Ok(created(
        product::save_revision(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/product/revisions/{number}", tag = "product",
    params(("project_id" = String, Path, description = "Project id"), ("number" = i64, Path, description = "Revision number")),
    responses((status = 200, body = Artifact), (status = 404)))]
pub(super) async fn product_revision(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, i64)>,
) -> Result<HttpResponse> {
    let (project, number) = path.into_inner();
    Ok(ok(product::revision(&state.db, &project, number).await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/developer/baseline", tag = "developer",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = BaselineView), (status = 404)))]
pub(super) async fn baseline(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(developer::baseline_view(&state.db, &id).await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/developer/baseline", tag = "developer", request_body = LockBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 201, description = "The locked baseline", body = Artifact), (status = 404),
              (status = 409, description = "Already locked (pass expected_locked_at to re-lock)"), (status = 422, description = "No product revision yet")))]
pub(super) async fn lock_baseline(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<LockBody>,
) -> Result<HttpResponse> {
    Ok(created(
        developer::lock_baseline(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/developer/definition", tag = "developer",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = DefinitionView), (status = 404)))]
pub(super) async fn definition(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(developer::definition_view(&state.db, &id).await?))
}

#[utoipa::path(put, path = "/api/projects/{project_id}/developer/definition", tag = "developer", request_body = DefinitionBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Artifact), (status = 404), (status = 409, description = "Changed meanwhile"), (status = 422, description = "No baseline, or not an object")))]
pub(super) async fn save_definition(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<DefinitionBody>,
) -> Result<HttpResponse> {
    Ok(ok(developer::save_definition(
        &state.db,
        &id,
        body.into_inner(),
    )
    .await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/developer/definition/revisions", tag = "developer",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Vec<Artifact>), (status = 404)))]
pub(super) async fn definition_revisions(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(developer::revisions(&state.db, &id).await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/developer/definition/revisions", tag = "developer", request_body = SaveDefinitionRevisionBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 201, description = "Frozen, with its contract signature", body = SavedRevision), (status = 404),
              (status = 409, description = "Another save got there first"), (status = 422, description = "No definition or baseline, or nothing changed")))]
pub(super) async fn save_definition_revision(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<SaveDefinitionRevisionBody>,
) -> Result<HttpResponse> {
    Ok(created(
        developer::save_revision(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/developer/definition/revisions/{number}", tag = "developer",
    params(("project_id" = String, Path, description = "Project id"), ("number" = i64, Path, description = "Revision number")),
    responses((status = 200, body = Artifact), (status = 404)))]
pub(super) async fn definition_revision(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, i64)>,
) -> Result<HttpResponse> {
    let (project, number) = path.into_inner();
    Ok(ok(developer::revision(&state.db, &project, number).await?))
}

/// Which revision to compile.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ContractQuery {
    /// Developer revision number (the latest when absent).
    revision: Option<i64>,
}

#[utoipa::path(get, path = "/api/projects/{project_id}/developer/contract", tag = "developer",
    params(("project_id" = String, Path, description = "Project id"), ContractQuery),
    responses((status = 200, description = "The compiled anip-service-definition/v1", body = Object), (status = 404), (status = 422, description = "No saved revision")))]
pub(super) async fn contract(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<ContractQuery>,
) -> Result<HttpResponse> {
    let compiled = developer::compiled(&state.db, &id, query.revision).await?;
    Ok(ok(compiled.service_definition))
}

/// Package options as query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PackageQuery {
    /// Package id (derived from the project name when absent).
    package_id: Option<String>,
    /// Package version (`0.1.<revision>` when absent).
    package_version: Option<String>,
    /// Developer revision number (the latest when absent).
    revision: Option<i64>,
}

#[utoipa::path(get, path = "/api/projects/{project_id}/package", tag = "packages",
    params(("project_id" = String, Path, description = "Project id"), PackageQuery),
    responses((status = 200, description = "Manifest, service definition, recommended lock and readme of the saved revision", body = PackagePreview),
              (status = 404), (status = 422, description = "No saved revision or baseline")))]
pub(super) async fn package(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<PackageQuery>,
) -> Result<HttpResponse> {
    let query = query.into_inner();
    let options = PackageOptionsBody {
        package_id: query.package_id,
        package_version: query.package_version,
        revision_number: query.revision,
        ..PackageOptionsBody::default()
    };
    Ok(ok(developer::package(&state.db, &id, options).await?))
}

/// The product and developer routes.
pub(super) fn routes(cfg: &mut crate::routing::Routes) {
    use crate::routing::{get, post, put};
    cfg.route("/api/projects/{project_id}/product", get().to(overview))
        .route(
            "/api/projects/{project_id}/product/sections/{section}",
            put().to(save_section),
        )
        .route(
            "/api/projects/{project_id}/product/revisions",
            get().to(product_revisions),
        )
        .route(
            "/api/projects/{project_id}/product/revisions",
            post().to(save_product_revision),
        )
        .route(
            "/api/projects/{project_id}/product/revisions/{number}",
            get().to(product_revision),
        )
        .route(
            "/api/projects/{project_id}/developer/baseline",
            get().to(baseline),
        )
        .route(
            "/api/projects/{project_id}/developer/baseline",
            post().to(lock_baseline),
        )
        .route(
            "/api/projects/{project_id}/developer/definition",
            get().to(definition),
        )
        .route(
            "/api/projects/{project_id}/developer/definition",
            put().to(save_definition),
        )
        .route(
            "/api/projects/{project_id}/developer/definition/revisions",
            get().to(definition_revisions),
        )
        .route(
            "/api/projects/{project_id}/developer/definition/revisions",
            post().to(save_definition_revision),
        )
        .route(
            "/api/projects/{project_id}/developer/definition/revisions/{number}",
            get().to(definition_revision),
        )
        .route(
            "/api/projects/{project_id}/developer/contract",
            get().to(contract),
        )
        .route("/api/projects/{project_id}/package", get().to(package));
}
