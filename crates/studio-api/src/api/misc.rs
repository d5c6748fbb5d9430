//! Settings, runtime status, pure validation and the assistant.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::ok;
use crate::app::AppState;
use crate::assistant::{CapabilityProposal, SectionProposal};
use crate::error::Result;
use crate::ids::ProjectId;
use crate::rules::{definition, shape};
use crate::service::assistant::{self, AcceptBody, Accepted, AssistantRequest};
use crate::service::settings::{self, RuntimeStatus, SettingsChanges, SettingsView};

#[utoipa::path(get, path = "/api/runtime-status", tag = "settings",
    responses((status = 200, body = RuntimeStatus)))]
pub(super) async fn runtime_status(state: web::Data<AppState>) -> Result<HttpResponse> {
    Ok(ok(
        settings::runtime_status(&state.db, &state.settings).await?
    ))
}

#[utoipa::path(get, path = "/api/settings", tag = "settings",
    responses((status = 200, description = "Every setting with its source; environment settings are locked", body = SettingsView)))]
pub(super) async fn settings(state: web::Data<AppState>) -> Result<HttpResponse> {
    Ok(ok(settings::view_all(&state.db, &state.settings).await?))
}

#[utoipa::path(put, path = "/api/settings", tag = "settings", request_body = SettingsChanges,
    responses((status = 200, body = SettingsView), (status = 409, description = "Fixed by the environment"), (status = 422, description = "Secrets are environment-only")))]
pub(super) async fn update_settings(
    state: web::Data<AppState>,
    body: web::Json<SettingsChanges>,
) -> Result<HttpResponse> {
    Ok(ok(settings::update(
        &state.db,
        &state.settings,
        body.into_inner(),
    )
    .await?))
}

/// Body of `POST /api/validate/definition`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ValidateDefinitionBody {
    /// A developer definition.
    #[schema(value_type = Object)]
    definition: Value,
}

/// Findings of a definition.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ValidationResult {
    /// Blockers first.
    findings: Vec<definition::Finding>,
    /// The readiness those findings give.
    #[schema(value_type = Object)]
    readiness: Value,
}

#[utoipa::path(post, path = "/api/validate/definition", tag = "validation", request_body = ValidateDefinitionBody,
    responses((status = 200, description = "Findings (pure: writes nothing, allowed in read-only mode)", body = ValidationResult)))]
pub(super) async fn validate_definition(body: web::Json<ValidateDefinitionBody>) -> HttpResponse {
    let findings = definition::validate(&body.definition);
    let readiness = definition::readiness(&body.definition, &findings);
    ok(ValidationResult {
        findings,
        readiness,
    })
}

/// Body of `POST /api/validate/shape`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ValidateShapeBody {
    /// Shape data (`{"shape": {...}}` or the shape itself).
    #[schema(value_type = Object)]
    data: Value,
}

#[utoipa::path(post, path = "/api/validate/shape", tag = "validation", request_body = ValidateShapeBody,
    responses((status = 200, description = "Integrity errors (pure: writes nothing, allowed in read-only mode)", body = Object)))]
pub(super) async fn validate_shape(body: web::Json<ValidateShapeBody>) -> HttpResponse {
    let errors = shape::integrity_errors(&body.data);
    ok(json!({"valid": errors.is_empty(), "errors": errors}))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/assistant/sections", tag = "assistant", request_body = AssistantRequest,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, description = "Drafted sections; nothing is stored until accepted", body = SectionProposal), (status = 404),
              (status = 422, description = "No text documents"), (status = 502, description = "The model API failed")))]
pub(super) async fn draft_sections(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<AssistantRequest>,
) -> Result<HttpResponse> {
    Ok(ok(assistant::draft_sections(
        &state.db,
        &state.settings,
        &id,
        body.into_inner(),
    )
    .await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/assistant/capabilities", tag = "assistant", request_body = AssistantRequest,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, description = "Capability candidates; nothing is stored until accepted", body = CapabilityProposal), (status = 404),
              (status = 422), (status = 502)))]
pub(super) async fn propose_capabilities(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<AssistantRequest>,
) -> Result<HttpResponse> {
    Ok(ok(assistant::propose_capabilities(
        &state.db,
        &state.settings,
        &id,
        body.into_inner(),
    )
    .await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/assistant/accept", tag = "assistant", request_body = AcceptBody,
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, description = "The accepted parts, written", body = Accepted), (status = 404), (status = 409), (status = 422)))]
pub(super) async fn accept(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    body: web::Json<AcceptBody>,
) -> Result<HttpResponse> {
    Ok(ok(
        assistant::accept(&state.db, &id, body.into_inner()).await?
    ))
}

/// The assistant routes.
pub(super) fn assistant_routes(cfg: &mut crate::routing::Routes) {
    cfg.route(
        "/api/projects/{project_id}/assistant/sections",
        crate::routing::post().to(draft_sections),
    )
    .route(
        "/api/projects/{project_id}/assistant/capabilities",
        crate::routing::post().to(propose_capabilities),
    )
    .route(
        "/api/projects/{project_id}/assistant/accept",
        crate::routing::post().to(accept),
    );
}
