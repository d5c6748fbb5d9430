//! Publication: local publications (verify, bundle), the Registry (publications with trust
//! verdicts, templates).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{created, ok};
use crate::app::AppState;
use crate::error::Result;
use crate::ids::{ProjectId, RecordId};
use crate::model::LocalPublication;
use crate::rules::local_publication::{self, Verification};
use crate::service::developer::PackageOptionsBody;
use crate::service::publish::{
    self, RecordedPublication, RegistryPublication, TemplateOptions, TemplatePreview,
};
use crate::timefmt;

fn with_status<T: serde::Serialize>(status: u16, body: T) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).json(body)
}

#[utoipa::path(get, path = "/api/projects/{project_id}/local-publications", tag = "publication",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Vec<LocalPublication>), (status = 404)))]
pub(super) async fn local_list(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(publish::local_list(&state.db, &id).await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/local-publications", tag = "publication",
    request_body(description = "A full publish request (with `manifest`), or package options to build one from the latest saved revision", content = PackageOptionsBody),
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 201, body = LocalPublication), (status = 404),
              (status = 409, description = "This package version is already published locally"),
              (status = 422, description = "Refused by the publication guard or the readiness checks")))]
pub(super) async fn local_create(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    Ok(created(
        publish::local_create(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/local-publications/{publication_id}", tag = "publication",
    params(("project_id" = String, Path, description = "Project id"), ("publication_id" = String, Path, description = "Publication id")),
    responses((status = 200, body = LocalPublication), (status = 404)))]
pub(super) async fn local_get(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    Ok(ok(publish::local_row(&state.db, &project, &id)
        .await?
        .summary()))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/local-publications/{publication_id}/verify", tag = "publication",
    params(("project_id" = String, Path, description = "Project id"), ("publication_id" = String, Path, description = "Publication id")),
    responses((status = 200, description = "Every digest recomputed and compared (writes nothing; allowed in read-only mode)", body = Verification), (status = 404)))]
pub(super) async fn local_verify(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    Ok(ok(local_publication::verify(
        &publish::local_row(&state.db, &project, &id).await?,
    )))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/local-publications/{publication_id}/bundle", tag = "publication",
    params(("project_id" = String, Path, description = "Project id"), ("publication_id" = String, Path, description = "Publication id")),
    responses((status = 200, description = "anip-package-bundle/v1 download", body = Object), (status = 404)))]
pub(super) async fn local_bundle(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    let row = publish::local_row(&state.db, &project, &id).await?;
    let bundle = local_publication::bundle(&row, &timefmt::now_js());
    Ok(HttpResponse::Ok()
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"{}\"",
                local_publication::bundle_filename(&row)
            ),
        ))
        .json(bundle))
}

#[utoipa::path(post, path = "/api/registry/publications", tag = "registry",
    request_body(description = "The Registry publish request (upstream's shape)", content = Object),
    responses((status = 201, description = "Published; `trust` says whether the receipt verified", body = RegistryPublication),
              (status = 400, description = "No publish token, or not a JSON object"),
              (status = 422, description = "Refused by the publication guard"),
              (status = 502, description = "The Registry is unreachable"),
              (status = 409, description = "Registry errors pass through with their status")))]
pub(super) async fn registry_publish(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (status, outcome) = publish::registry_publish(
        &state.db,
        &state.settings,
        &state.registry,
        body.into_inner(),
    )
    .await?;
    Ok(with_status(status, outcome))
}

#[utoipa::path(get, path = "/api/registry/publications", tag = "registry",
    responses((status = 200, description = "Recorded Registry publications with their trust verdicts", body = Vec<RecordedPublication>)))]
pub(super) async fn registry_publications(state: web::Data<AppState>) -> Result<HttpResponse> {
    Ok(ok(publish::all_registry_publications(&state.db).await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/registry-publications", tag = "registry", request_body = PackageOptionsBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 201, description = "Built from the latest saved revision and published", body = RegistryPublication),
              (status = 400), (status = 422), (status = 502)))]
pub(super) async fn registry_publish_project(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (status, outcome) = publish::registry_publish_project(
        &state.db,
        &state.settings,
        &state.registry,
        &id,
        body.into_inner(),
    )
    .await?;
    Ok(with_status(status, outcome))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/registry-publications", tag = "registry",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Vec<RecordedPublication>), (status = 404)))]
pub(super) async fn registry_publications_of(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(publish::registry_publications(&state.db, &id).await?))
}

#[utoipa::path(get, path = "/api/registry/templates", tag = "registry",
    responses((status = 200, description = "The Registry's templates (empty with a warning when it cannot be reached)", body = Object)))]
pub(super) async fn registry_templates(state: web::Data<AppState>) -> Result<HttpResponse> {
    Ok(ok(publish::registry_templates(
        &state.db,
        &state.settings,
        &state.registry,
    )
    .await?))
}

#[utoipa::path(post, path = "/api/registry/templates", tag = "registry",
    request_body(description = "A full Registry template request, or `{project_id, template_id?, template_version?}` to export a project", content = TemplateOptions),
    responses((status = 201, description = "The Registry's answer", body = Object), (status = 400), (status = 404), (status = 502)))]
pub(super) async fn registry_template_publish(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (status, response) = publish::registry_template_publish(
        &state.db,
        &state.settings,
        &state.registry,
        body.into_inner(),
    )
    .await?;
    Ok(with_status(status, response))
}

/// Template preview options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TemplateQuery {
    /// Template id.
    template_id: Option<String>,
    /// Template version.
    template_version: Option<String>,
}

#[utoipa::path(get, path = "/api/projects/{project_id}/template", tag = "registry",
    params(("project_id" = String, Path, description = "Project id"), TemplateQuery),
    responses((status = 200, description = "The starter template this project exports", body = TemplatePreview), (status = 404)))]
pub(super) async fn template(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<TemplateQuery>,
) -> Result<HttpResponse> {
    let query = query.into_inner();
    let options = TemplateOptions {
        project_id: None,
        template_id: query.template_id,
        template_version: query.template_version,
    };
    Ok(ok(
        publish::template_preview(&state.db, &id, &options).await?
    ))
}

/// The publication routes.
pub(super) fn routes(cfg: &mut crate::routing::Routes) {
    use crate::routing::{get, post};
    cfg.route(
        "/api/projects/{project_id}/local-publications",
        get().to(local_list),
    )
    .route(
        "/api/projects/{project_id}/local-publications",
        post().to(local_create),
    )
    .route(
        "/api/projects/{project_id}/local-publications/{publication_id}",
        get().to(local_get),
    )
    .route(
        "/api/projects/{project_id}/local-publications/{publication_id}/verify",
        post().to(local_verify),
    )
    .route(
        "/api/projects/{project_id}/local-publications/{publication_id}/bundle",
        get().to(local_bundle),
    )
    .route(
        "/api/projects/{project_id}/registry-publications",
        get().to(registry_publications_of),
    )
    .route(
        "/api/projects/{project_id}/registry-publications",
        post().to(registry_publish_project),
    )
    .route("/api/projects/{project_id}/template", get().to(template))
    .route(
        "/api/registry/publications",
        get().to(registry_publications),
    )
    .route("/api/registry/publications", post().to(registry_publish))
    .route("/api/registry/templates", get().to(registry_templates))
    .route(
        "/api/registry/templates",
        post().to(registry_template_publish),
    );
}
