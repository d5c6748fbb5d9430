//! Abuse reports (`admin/abuse-reports...`): list, file, review, and take down.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::admin::list_query;
use super::users::private;
use crate::app::AppState;
use crate::auth::{is_uuid, require_admin_actor};
use crate::error::ApiError;
use crate::http as h;
use crate::ids::{Namespace, PackageId, Version};
use crate::store::abuse::{NewAbuseReport, TakedownOutcome, REPORT_STATUSES, TARGET_KINDS};
use crate::validate::{self, invalid, Invalid};

/// `POST admin/abuse-reports` body (upstream's, plus the optional `target_version`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateAbuseReportRequest {
    pub target_kind: String,
    pub target_id: String,
    pub target_version: String,
    pub category: String,
    pub reason: String,
    pub reporter_contact: String,
}

/// `PATCH admin/abuse-reports/{id}/status` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateAbuseReportStatusRequest {
    pub status: String,
    pub resolution: String,
}

/// `POST admin/abuse-reports/{id}/takedown` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApplyAbuseTakedownRequest {
    pub reason: String,
}

const NOT_FOUND: &str = "abuse report not found";

/// A free-text field: trimmed, at most `max` bytes, no control characters (tabs and newlines
/// allowed); `required` refuses an empty one.
fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String, Invalid> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if value.len() > max {
        return Err(invalid(field, format!("exceeds {max} bytes")));
    }
    if validate::has_unsafe_control_text(value) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// Checks a report request: the target's id by its kind's rules, a version only for packages.
pub fn new_report(request: CreateAbuseReportRequest) -> Result<NewAbuseReport, Invalid> {
    let target_kind = request.target_kind.trim().to_lowercase();
    if !TARGET_KINDS.contains(&target_kind.as_str()) {
        return Err(invalid(
            "target_kind",
            format!("must be one of {}", TARGET_KINDS.join(", ")),
        ));
    }
    let id = request.target_id.trim();
    let target_id = match target_kind.as_str() {
        "namespace" => Namespace::parse(&id.to_lowercase())
            .map_err(|e| invalid("target_id", e.reason))?
            .into_inner(),
        "publisher" => {
            if id.is_empty()
                || id.len() > 128
                || !id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            {
                return Err(invalid(
                    "target_id",
                    "must be a publisher id: 1 to 128 lower-case letters, digits, '.', '_' or '-'",
                ));
            }
            id.to_owned()
        }
        _ => PackageId::parse_field("target_id", id)?.into_inner(),
    };
    let version = request.target_version.trim();
    let target_version = match (version.is_empty(), target_kind.as_str()) {
        (true, _) => String::new(),
        (false, "package") => Version::parse_field("target_version", version)?.into_inner(),
        (false, _) => {
            return Err(invalid(
                "target_version",
                "is only allowed for package reports",
            ));
        }
    };
    let category = text("category", &request.category, 64, true)?.to_lowercase();
    Ok(NewAbuseReport {
        target_kind,
        target_id,
        target_version,
        category,
        reason: text("reason", &request.reason, validate::MAX_REASON_LEN, true)?,
        reporter_contact: text("reporter_contact", &request.reporter_contact, 320, false)?,
    })
}

/// `GET admin/abuse-reports?search&status&limit&offset` → `{items, total, limit, offset}`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin_actor(&req, &state).await?;
    let query = list_query(&req, &REPORT_STATUSES)?;
    let page = state.store.list_abuse_reports(&query).await?;
    Ok(private(StatusCode::OK, &page))
}

/// `POST admin/abuse-reports`: 201 `{report}` (status `open`).
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = require_admin_actor(&req, &state).await?;
    let request: CreateAbuseReportRequest = h::json_body(&req, payload).await?;
    let new = new_report(request)?;
    let report = state
        .store
        .detached(move |store| async move { store.create_abuse_report(new, actor).await })
        .await?;
    tracing::info!(event = "registry_abuse_report_created", report_id = %report.report_id, target_kind = %report.target_kind, target_id = %report.target_id, "registry_abuse_report_created");
    Ok(private(StatusCode::CREATED, &json!({"report": report})))
}

/// `PATCH admin/abuse-reports/{id}/status`: `{status, resolution?}` → `{report}`.
pub async fn update_status(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = require_admin_actor(&req, &state).await?;
    let report_id = path.into_inner();
    if !is_uuid(&report_id) {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let request: UpdateAbuseReportStatusRequest = h::json_body(&req, payload).await?;
    let status = request.status.trim().to_lowercase();
    if !REPORT_STATUSES.contains(&status.as_str()) {
        return Err(invalid(
            "status",
            format!("must be one of {}", REPORT_STATUSES.join(", ")),
        )
        .into());
    }
    let resolution = text(
        "resolution",
        &request.resolution,
        validate::MAX_REASON_LEN,
        false,
    )?;
    let report = state
        .store
        .detached(move |store| async move {
            store
                .set_abuse_report_status(report_id, status, resolution, actor)
                .await
        })
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(private(StatusCode::OK, &json!({"report": report})))
}

/// `POST admin/abuse-reports/{id}/takedown`: `{reason?}` → `{report}` (now `reviewing`). 400
/// when the reported target does not exist.
pub async fn takedown(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = require_admin_actor(&req, &state).await?;
    let report_id = path.into_inner();
    if !is_uuid(&report_id) {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let request: ApplyAbuseTakedownRequest = h::json_body(&req, payload).await?;
    let reason = text("reason", &request.reason, validate::MAX_REASON_LEN, false)?;
    let updated_at = crate::publish::now_rfc3339();
    let outcome = state
        .store
        .detached(move |store| async move {
            store
                .apply_takedown(report_id, reason, actor, updated_at)
                .await
        })
        .await?;
    match outcome {
        TakedownOutcome::NotFound => Err(ApiError::NotFound(NOT_FOUND)),
        TakedownOutcome::TargetMissing => Err(invalid(
            "target_id",
            "names nothing that exists, so the abuse report target cannot be suspended",
        )
        .into()),
        TakedownOutcome::Applied { report, versions } => {
            // Other replicas learn of it through NOTIFY; this one forgets it before answering.
            for version in &versions {
                state.download_cache.evict(&report.target_id, version);
            }
            tracing::info!(event = "registry_abuse_takedown_applied", report_id = %report.report_id, target_kind = %report.target_kind, target_id = %report.target_id, versions = versions.len(), "registry_abuse_takedown_applied");
            Ok(private(StatusCode::OK, &json!({"report": report})))
        }
    }
}
