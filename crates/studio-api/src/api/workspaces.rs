//! `/api/workspaces` and their connections.

use actix_web::{web, HttpResponse};

use super::{created, no_content, ok};
use crate::app::AppState;
use crate::error::Result;
use crate::ids::{RecordId, WorkspaceId};
use crate::model::{Connection, Workspace};
use crate::service::workspaces::{self as service, ConnectionBody, NewWorkspace, WorkspaceChanges};

#[utoipa::path(get, path = "/api/workspaces", tag = "workspaces",
    responses((status = 200, description = "Every workspace", body = Vec<Workspace>)))]
pub(super) async fn list(state: web::Data<AppState>) -> Result<HttpResponse> {
    Ok(ok(service::list(&state.db).await?))
}

#[utoipa::path(post, path = "/api/workspaces", tag = "workspaces", request_body = NewWorkspace,
    responses((status = 201, body = Workspace), (status = 409, description = "Id taken")))]
pub(super) async fn create(
    state: web::Data<AppState>,
    body: web::Json<NewWorkspace>,
) -> Result<HttpResponse> {
    Ok(created(
        service::create(&state.db, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}", tag = "workspaces",
    params(("workspace_id" = String, Path, description = "Workspace id")),
    responses((status = 200, body = Workspace), (status = 404)))]
pub(super) async fn get(
    state: web::Data<AppState>,
    id: web::Path<WorkspaceId>,
) -> Result<HttpResponse> {
    Ok(ok(service::get(&state.db, &id).await?))
}

#[utoipa::path(put, path = "/api/workspaces/{workspace_id}", tag = "workspaces", request_body = WorkspaceChanges,
    params(("workspace_id" = String, Path, description = "Workspace id")),
    responses((status = 200, body = Workspace), (status = 404)))]
pub(super) async fn update(
    state: web::Data<AppState>,
    id: web::Path<WorkspaceId>,
    body: web::Json<WorkspaceChanges>,
) -> Result<HttpResponse> {
    Ok(ok(service::update(&state.db, &id, body.into_inner()).await?))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace_id}", tag = "workspaces",
    params(("workspace_id" = String, Path, description = "Workspace id")),
    responses((status = 204, description = "Deleted with its projects"), (status = 404), (status = 409, description = "The default workspace")))]
pub(super) async fn delete(
    state: web::Data<AppState>,
    id: web::Path<WorkspaceId>,
) -> Result<HttpResponse> {
    service::delete(&state.db, &id).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/connections", tag = "workspaces",
    params(("workspace_id" = String, Path, description = "Workspace id")),
    responses((status = 200, body = Vec<Connection>), (status = 404)))]
pub(super) async fn connections(
    state: web::Data<AppState>,
    id: web::Path<WorkspaceId>,
) -> Result<HttpResponse> {
    Ok(ok(service::connections(&state.db, &id).await?))
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/connections", tag = "workspaces", request_body = ConnectionBody,
    params(("workspace_id" = String, Path, description = "Workspace id")),
    responses((status = 201, body = Connection), (status = 404), (status = 409), (status = 422, description = "A secret instead of a reference")))]
pub(super) async fn create_connection(
    state: web::Data<AppState>,
    id: web::Path<WorkspaceId>,
    body: web::Json<ConnectionBody>,
) -> Result<HttpResponse> {
    Ok(created(
        service::create_connection(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(put, path = "/api/workspaces/{workspace_id}/connections/{connection_id}", tag = "workspaces", request_body = ConnectionBody,
    params(("workspace_id" = String, Path, description = "Workspace id"), ("connection_id" = String, Path, description = "Connection id")),
    responses((status = 200, body = Connection), (status = 404)))]
pub(super) async fn update_connection(
    state: web::Data<AppState>,
    path: web::Path<(WorkspaceId, RecordId)>,
    body: web::Json<ConnectionBody>,
) -> Result<HttpResponse> {
    let (workspace, id) = path.into_inner();
    Ok(ok(service::update_connection(
        &state.db,
        &workspace,
        &id,
        body.into_inner(),
    )
    .await?))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace_id}/connections/{connection_id}", tag = "workspaces",
    params(("workspace_id" = String, Path, description = "Workspace id"), ("connection_id" = String, Path, description = "Connection id")),
    responses((status = 204), (status = 404)))]
pub(super) async fn delete_connection(
    state: web::Data<AppState>,
    path: web::Path<(WorkspaceId, RecordId)>,
) -> Result<HttpResponse> {
    let (workspace, id) = path.into_inner();
    service::delete_connection(&state.db, &workspace, &id).await?;
    Ok(no_content())
}
