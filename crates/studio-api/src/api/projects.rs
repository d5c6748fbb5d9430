//! `/api/projects`: CRUD, clone, export, import, history.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{created, no_content, ok};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::ids::{ProjectId, WorkspaceId};
use crate::model::{Project, ProjectDetail};
use crate::service::history::{self, History};
use crate::service::projects::{self as service, CloneBody, NewProjectBody, ProjectChangesBody};
use crate::service::snapshots::{self, ImportBody, ImportResult};

/// Query of `GET /api/projects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only this workspace's projects.
    #[param(value_type = Option<String>)]
    workspace_id: Option<WorkspaceId>,
}

#[utoipa::path(get, path = "/api/projects", tag = "projects", params(ListQuery),
    responses((status = 200, body = Vec<Project>)))]
pub(super) async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    Ok(ok(
        service::list(&state.db, query.workspace_id.as_ref()).await?
    ))
}

#[utoipa::path(post, path = "/api/projects", tag = "projects", request_body = NewProjectBody,
    responses((status = 201, body = Project), (status = 404, description = "No such workspace"), (status = 409, description = "Id taken")))]
pub(super) async fn create(
    state: web::Data<AppState>,
    body: web::Json<NewProjectBody>,
) -> Result<HttpResponse> {
    Ok(created(
        service::create(&state.db, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProjectDetail), (status = 404)))]
pub(super) async fn get(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(service::detail(&state.db, &id).await?))
}

#[utoipa::path(put, path = "/api/projects/{project_id}", tag = "projects", request_body = ProjectChangesBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Project), (status = 404)))]
pub(super) async fn update(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<ProjectChangesBody>,
) -> Result<HttpResponse> {
    Ok(ok(service::update(&state.db, &id, body.into_inner()).await?))
}

#[utoipa::path(delete, path = "/api/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 204, description = "Deleted with everything it owns"), (status = 404)))]
pub(super) async fn delete(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    service::delete(&state.db, &id).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/projects/{project_id}/clone", tag = "projects", request_body = CloneBody,
    params(("project_id" = String, Path, description = "Project to copy")),
    responses((status = 201, body = Project), (status = 404), (status = 409, description = "The new project id already exists (the detail names it)")))]
pub(super) async fn clone(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<CloneBody>,
) -> Result<HttpResponse> {
    Ok(created(
        service::clone(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/export", tag = "snapshots",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, description = "An anip-studio-project-snapshot/v1", body = Object), (status = 404)))]
pub(super) async fn export(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    let snapshot = snapshots::export(&state.db, &id).await?;
    let filename = format!("{}.studio-project-snapshot.json", id.as_str());
    Ok(HttpResponse::Ok()
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .json(snapshot))
}

/// Imports an `anip-studio-project-snapshot/v1`, in one transaction.
///
/// Rules: a project with the same id is replaced (`replace_existing`, default true) unless it
/// has publication records (local or Registry): those are immutable history, so replacing a
/// published project is refused with 409 (import under another project id, or delete the
/// project first). An existing workspace with the snapshot's workspace id is used as it is:
/// its name, summary and connections are never changed by an import. Document content
/// hashes are recomputed from the bytes (a differing recorded hash is reported in
/// `warnings`).
#[utoipa::path(post, path = "/api/project-snapshots/import", tag = "snapshots", request_body = ImportBody,
    responses((status = 200, body = ImportResult), (status = 409, description = "A record id already exists (the detail names it), or the project to replace has publication records"), (status = 413), (status = 422, description = "Not a valid snapshot")))]
pub(super) async fn import_snapshot(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let (snapshot, replace) = if body.get("snapshot_schema_version").is_some() {
        (body, true)
    } else {
        let parsed: ImportBody = serde_json::from_value(body)
            .map_err(|e| Error::BadRequest(format!("Invalid import body: {e}")))?;
        (parsed.snapshot, parsed.replace_existing)
    };
    Ok(ok(snapshots::import(
        &state.db, snapshot, replace, None, "",
    )
    .await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/history", tag = "history",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = History), (status = 404)))]
pub(super) async fn history(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(history::history(&state.db, &id).await?))
}
