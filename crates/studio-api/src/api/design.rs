//! Design records: `/requirements`, `/scenarios`, `/shapes`, `/evaluations`, `/pm-artifacts`
//! and `/integration-discovery-records` of a project.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{created, no_content, ok};
use crate::app::AppState;
use crate::error::Result;
use crate::ids::{ProjectId, RecordId};
use crate::model::{Artifact, DiscoveryRecord, Evaluation};
use crate::service::design::{
    self as service, ArtifactChanges, NewArtifact, NewEvaluation, NewShape, RoleBody,
};
use crate::store::artifacts::Table;

/// The CRUD handlers of one design-record table, documented for OpenAPI.
macro_rules! crud {
    ($module:ident, $table:expr, $path:literal, $tag:literal) => {
        crud!($module, $table, $path, $tag, {
            #[utoipa::path(post, path = concat!("/api/projects/{project_id}/", $path), tag = $tag, request_body = NewArtifact,
                    params(("project_id" = String, Path, description = "Project id")),
                    responses((status = 201, body = Artifact), (status = 404), (status = 409), (status = 422)))]
                pub(in crate::api) async fn create(state: web::Data<AppState>, id: web::Path<ProjectId>, body: web::Json<NewArtifact>) -> Result<HttpResponse> {
                    Ok(created(service::create(&state.db, $table, &id, body.into_inner(), None).await?))
                }

            });
    };
    ($module:ident, $table:expr, $path:literal, $tag:literal, { $($create:tt)* }) => {
        pub(in crate::api) mod $module {
            use super::*;

            $($create)*

            #[utoipa::path(get, path = concat!("/api/projects/{project_id}/", $path), tag = $tag,
                params(("project_id" = String, Path, description = "Project id")),
                responses((status = 200, body = Vec<Artifact>), (status = 404)))]
            pub(in crate::api) async fn list(state: web::Data<AppState>, id: web::Path<ProjectId>) -> Result<HttpResponse> {
                Ok(ok(service::list(&state.db, $table, &id).await?))
            }

            #[utoipa::path(get, path = concat!("/api/projects/{project_id}/", $path, "/{record_id}"), tag = $tag,
                params(("project_id" = String, Path, description = "Project id"), ("record_id" = String, Path, description = "Record id")),
                responses((status = 200, body = Artifact), (status = 404)))]
            pub(in crate::api) async fn get(state: web::Data<AppState>, path: web::Path<(ProjectId, RecordId)>) -> Result<HttpResponse> {
                let (project, id) = path.into_inner();
                Ok(ok(service::get(&state.db, $table, &project, &id).await?))
            }

            #[utoipa::path(put, path = concat!("/api/projects/{project_id}/", $path, "/{record_id}"), tag = $tag, request_body = ArtifactChanges,
                params(("project_id" = String, Path, description = "Project id"), ("record_id" = String, Path, description = "Record id")),
                responses((status = 200, body = Artifact), (status = 404), (status = 409, description = "Changed meanwhile, or immutable"), (status = 422)))]
            pub(in crate::api) async fn update(state: web::Data<AppState>, path: web::Path<(ProjectId, RecordId)>, body: web::Json<ArtifactChanges>) -> Result<HttpResponse> {
                let (project, id) = path.into_inner();
                Ok(ok(service::update(&state.db, $table, &project, &id, body.into_inner()).await?))
            }

            #[utoipa::path(delete, path = concat!("/api/projects/{project_id}/", $path, "/{record_id}"), tag = $tag,
                params(("project_id" = String, Path, description = "Project id"), ("record_id" = String, Path, description = "Record id")),
                responses((status = 204), (status = 404), (status = 409, description = "Still referenced, or immutable")))]
            pub(in crate::api) async fn delete(state: web::Data<AppState>, path: web::Path<(ProjectId, RecordId)>) -> Result<HttpResponse> {
                let (project, id) = path.into_inner();
                service::delete(&state.db, $table, &project, &id).await?;
                Ok(no_content())
            }
        }
    };
}

crud!(requirements, Table::Requirements, "requirements", "design");
crud!(scenarios, Table::Scenarios, "scenarios", "design");
crud!(pm_artifacts, Table::PmArtifacts, "pm-artifacts", "design");

/// Shape routes whose create differs (a shape answers a requirements set).
pub(in crate::api) mod shapes {
    use super::*;

    crud!(inner, Table::Shapes, "shapes", "design", {});
    pub(in crate::api) use inner::{delete, get, list, update};

    #[utoipa::path(post, path = "/api/projects/{project_id}/shapes", tag = "design", request_body = NewShape,
        params(("project_id" = String, Path, description = "Project id")),
        responses((status = 201, body = Artifact), (status = 404), (status = 409), (status = 422, description = "Integrity errors")))]
    pub(in crate::api) async fn create(
        state: web::Data<AppState>,
        id: web::Path<ProjectId>,
        body: web::Json<NewShape>,
    ) -> Result<HttpResponse> {
        let body = body.into_inner();
        let requirements = body.requirements_id.clone();
        let artifact = NewArtifact {
            id: body.id,
            title: body.title,
            status: body.status.map(|s| s.as_str().to_owned()),
            data: body.data,
        };
        Ok(created(
            service::create(&state.db, Table::Shapes, &id, artifact, Some(&requirements)).await?,
        ))
    }
}

#[utoipa::path(put, path = "/api/projects/{project_id}/requirements/{record_id}/role", tag = "design", request_body = RoleBody,
    params(("project_id" = String, Path, description = "Project id"), ("record_id" = String, Path, description = "Requirements set id")),
    responses((status = 200, body = Artifact), (status = 404)))]
pub(super) async fn set_role(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    Ok(ok(
        service::set_role(&state.db, &project, &id, body.role).await?
    ))
}

/// Filters of the evaluation list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EvaluationQuery {
    /// Only this scenario's evaluations.
    #[param(value_type = Option<String>)]
    scenario_id: Option<RecordId>,
    /// Only this shape's evaluations.
    #[param(value_type = Option<String>)]
    shape_id: Option<RecordId>,
}

#[utoipa::path(get, path = "/api/projects/{project_id}/evaluations", tag = "design",
    params(("project_id" = String, Path, description = "Project id"), EvaluationQuery),
    responses((status = 200, description = "With staleness", body = Vec<Evaluation>), (status = 404)))]
pub(super) async fn list_evaluations(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<EvaluationQuery>,
) -> Result<HttpResponse> {
    Ok(ok(service::evaluations(
        &state.db,
        &id,
        query.scenario_id.as_ref(),
        query.shape_id.as_ref(),
    )
    .await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/evaluations", tag = "design", request_body = NewEvaluation,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 201, description = "Frozen input hashes recorded", body = Evaluation), (status = 404), (status = 422)))]
pub(super) async fn create_evaluation(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<NewEvaluation>,
) -> Result<HttpResponse> {
    Ok(created(
        service::create_evaluation(&state.db, &id, body.into_inner()).await?,
    ))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/evaluations/{record_id}", tag = "design",
    params(("project_id" = String, Path, description = "Project id"), ("record_id" = String, Path, description = "Evaluation id")),
    responses((status = 200, body = Evaluation), (status = 404)))]
pub(super) async fn get_evaluation(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    Ok(ok(service::evaluation(&state.db, &project, &id).await?))
}

#[utoipa::path(delete, path = "/api/projects/{project_id}/evaluations/{record_id}", tag = "design",
    params(("project_id" = String, Path, description = "Project id"), ("record_id" = String, Path, description = "Evaluation id")),
    responses((status = 204), (status = 404)))]
pub(super) async fn delete_evaluation(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    service::delete_evaluation(&state.db, &project, &id).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/api/projects/{project_id}/integration-discovery-records", tag = "design",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Vec<DiscoveryRecord>), (status = 404)))]
pub(super) async fn discovery_records(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(service::discovery_records(&state.db, &id).await?))
}

/// The design routes.
pub(super) fn routes(cfg: &mut crate::routing::Routes) {
    use crate::routing::{delete, get, post, put};
    macro_rules! mount {
        ($module:ident, $path:literal) => {
            cfg.route(
                concat!("/api/projects/{project_id}/", $path),
                get().to($module::list),
            )
            .route(
                concat!("/api/projects/{project_id}/", $path),
                post().to($module::create),
            )
            .route(
                concat!("/api/projects/{project_id}/", $path, "/{record_id}"),
                get().to($module::get),
            )
            .route(
                concat!("/api/projects/{project_id}/", $path, "/{record_id}"),
                put().to($module::update),
            )
            .route(
                concat!("/api/projects/{project_id}/", $path, "/{record_id}"),
                delete().to($module::delete),
            );
        };
    }
    mount!(requirements, "requirements");
    mount!(scenarios, "scenarios");
    mount!(shapes, "shapes");
    mount!(pm_artifacts, "pm-artifacts");
    cfg.route(
        "/api/projects/{project_id}/requirements/{record_id}/role",
        put().to(set_role),
    )
    .route(
        "/api/projects/{project_id}/evaluations",
        get().to(list_evaluations),
    )
    .route(
        "/api/projects/{project_id}/evaluations",
        post().to(create_evaluation),
    )
    .route(
        "/api/projects/{project_id}/evaluations/{record_id}",
        get().to(get_evaluation),
    )
    .route(
        "/api/projects/{project_id}/evaluations/{record_id}",
        delete().to(delete_evaluation),
    )
    .route(
        "/api/projects/{project_id}/integration-discovery-records",
        get().to(discovery_records),
    );
}
