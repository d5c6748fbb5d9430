//! Ownership transfers: `POST admin/namespace-transfer/{namespace}` and
//! `POST admin/artifact-transfer/{kind}/{artifact_id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::users::private;
use crate::app::AppState;
use crate::auth::require_admin_actor;
use crate::error::ApiError;
use crate::http as h;
use crate::ids::{Namespace, PackageId};
use crate::store::transfers::TransferOutcome;
use crate::validate::{self, invalid, Invalid};

/// `POST admin/namespace-transfer/{namespace}` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransferNamespaceRequest {
    pub target_publisher_id: String,
    pub reason: String,
}

/// `POST admin/artifact-transfer/{kind}/{id}` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransferArtifactRequest {
    pub target_publisher_id: String,
    pub target_namespace: String,
    pub reason: String,
}

fn target_publisher(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("target_publisher_id", "is required"));
    }
    if value.len() > 128 || value.chars().any(char::is_control) {
        return Err(invalid(
            "target_publisher_id",
            "must be at most 128 characters without control characters",
        ));
    }
    Ok(value.to_owned())
}

fn reason(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.len() > validate::MAX_REASON_LEN || validate::has_unsafe_control_text(value) {
        return Err(invalid(
            "reason",
            "is too long or contains control characters",
        ));
    }
    Ok(value.to_owned())
}

fn outcome<T: serde::Serialize>(
    outcome: TransferOutcome<T>,
    key: &str,
    not_found: &'static str,
) -> Result<HttpResponse, ApiError> {
    match outcome {
        TransferOutcome::NotFound => Err(ApiError::NotFound(not_found)),
        TransferOutcome::Refused(refused) => Err(invalid(refused.field, refused.problem).into()),
        TransferOutcome::Done(item) => Ok(private(StatusCode::OK, &json!({ key: item }))),
    }
}

/// `POST admin/namespace-transfer/{namespace}`: `{target_publisher_id, reason?}` →
/// `{namespace}`. The namespace and every artifact claimed under it move to the target.
pub async fn namespace(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = require_admin_actor(&req, &state).await?;
    let name = Namespace::parse(&path.trim().to_lowercase())?.into_inner();
    let request: TransferNamespaceRequest = h::json_body(&req, payload).await?;
    let target = target_publisher(&request.target_publisher_id)?;
    let reason = reason(&request.reason)?;
    let log_name = name.clone();
    let log_target = target.clone();
    let done = state
        .store
        .detached(move |store| async move {
            store.transfer_namespace(name, target, reason, actor).await
        })
        .await?;
    if matches!(done, TransferOutcome::Done(_)) {
        tracing::info!(event = "registry_namespace_transferred", namespace = %log_name, target_publisher_id = %log_target, "registry_namespace_transferred");
    }
    outcome(done, "namespace", "namespace not found")
}

/// `POST admin/artifact-transfer/{kind}/{artifact_id}`: `{target_publisher_id,
/// target_namespace, reason?}` → `{artifact}`.
pub async fn artifact(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = require_admin_actor(&req, &state).await?;
    let (kind, artifact_id) = path.into_inner();
    if kind != "package" && kind != "template" {
        return Err(invalid("artifact_kind", "must be package or template").into());
    }
    let artifact_id = PackageId::parse_field("artifact_id", &artifact_id)?.into_inner();
    let request: TransferArtifactRequest = h::json_body(&req, payload).await?;
    let target = target_publisher(&request.target_publisher_id)?;
    let target_namespace = Namespace::parse(&request.target_namespace.trim().to_lowercase())
        .map_err(|e| invalid("target_namespace", e.reason))?
        .into_inner();
    let reason = reason(&request.reason)?;
    let (log_kind, log_id, log_target) = (kind.clone(), artifact_id.clone(), target.clone());
    let done = state
        .store
        .detached(move |store| async move {
            store
                .transfer_artifact(kind, artifact_id, target, target_namespace, reason, actor)
                .await
        })
        .await?;
    if matches!(done, TransferOutcome::Done(_)) {
        tracing::info!(event = "registry_artifact_transferred", artifact_kind = %log_kind, artifact_id = %log_id, target_publisher_id = %log_target, "registry_artifact_transferred");
    }
    outcome(done, "artifact", "artifact ownership not found")
}
