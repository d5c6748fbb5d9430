//! Starter templates: list, publish, record, download (the template package), receipt.
//! The download is immutable like a package download; the record view carries the live
//! download count.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use serde_json::json;

use crate::app::{AppState, TEMPLATE_BODY_LIMIT};
use crate::auth;
use crate::downloads::Kind;
use crate::error::ApiError;
use crate::http::{self as h, IMMUTABLE, SHORT_LIVED};
use crate::ids::{TemplateId, Version};
use crate::model::PublishTemplateRequest;
use crate::publish;
use crate::record::{self, splice};
use crate::store::{InsertOutcome, NewTemplate};
use crate::templates::{self as domain, BuiltTemplate};

fn parse_path(path: &(String, String)) -> Result<(TemplateId, Version), ApiError> {
    Ok((
        TemplateId::parse(&path.0)?,
        Version::parse_field("version", &path.1)?,
    ))
}

/// `GET templates?limit=&offset=`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = h::paging(&req, 50, 100)?;
    let (items, total) = state.store.list_templates(limit, offset).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "limit": limit, "offset": offset})))
}

struct Rejection {
    status: &'static str,
    error: ApiError,
}

fn reject(status: &'static str) -> impl FnOnce(ApiError) -> Rejection {
    move |error| Rejection { status, error }
}

impl From<crate::store::StoreError> for Rejection {
    fn from(error: crate::store::StoreError) -> Self {
        Rejection {
            status: "error",
            error: error.into(),
        }
    }
}

/// `POST templates`: 201 `{template, receipt}`.
pub async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut ids = (String::new(), String::new());
    match publish_inner(&req, payload, &state, &mut ids).await {
        Ok(response) => response,
        Err(Rejection { status, error }) => {
            crate::metrics::publish("template", status);
            let (template_id, template_version) = (&ids.0, &ids.1);
            if status == "error" {
                tracing::error!(event = "registry_publish_failed", kind = "template", template_id, template_version, error = %error, "registry_publish_failed");
            } else {
                tracing::warn!(event = "registry_publish_rejected", kind = "template", template_id, template_version, reason = status, error = %error, "registry_publish_rejected");
            }
            error.error_response()
        }
    }
}

async fn publish_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    ids: &mut (String, String),
) -> Result<HttpResponse, Rejection> {
    let body = h::read_body(req, payload, TEMPLATE_BODY_LIMIT)
        .await
        .map_err(reject("invalid_request"))?;
    let request: PublishTemplateRequest =
        h::parse_json(&body).map_err(reject("invalid_request"))?;
    drop(body);
    let identity = domain::template_identity(request).map_err(reject("invalid_request"))?;
    *ids = (
        identity.template_id.to_string(),
        identity.template_version.to_string(),
    );
    let principal = auth::authenticate(req, &state.store, &state.first_party)
        .await
        .map_err(|error| match error {
            ApiError::Storage(_) => Rejection {
                status: "error",
                error,
            },
            error => Rejection {
                status: "unauthorized",
                error,
            },
        })?;
    principal
        .require("publish:template")
        .map_err(reject("unauthorized"))?;
    let (template_id, version) = ids.clone();
    if state.store.template_exists(&template_id, &version).await? {
        return Err(reject("conflict")(ApiError::Conflict(
            "template version already exists".into(),
        )));
    }
    let keys = state.keys.clone();
    let publisher = principal.identity();
    let published_at = publish::now_rfc3339();
    let built: BuiltTemplate =
        web::block(move || domain::build_template(identity, &publisher, &published_at, &keys))
            .await
            .map_err(|e| reject("error")(ApiError::Internal(e.to_string())))?
            .map_err(|invalid| reject("invalid")(invalid.into()))?;
    let owner = state.store.owner("template", &template_id).await?;
    let namespaces = state
        .store
        .namespaces_named(&auth::namespace_candidates(&template_id))
        .await?;
    let claim_namespace = auth::decide_publish(
        &principal,
        "template",
        &template_id,
        owner.as_ref(),
        &namespaces,
    )
    .map_err(|message| reject("unauthorized")(ApiError::Forbidden(message)))?;
    let new = NewTemplate {
        record: built.record.clone(),
        rendered_record: built.rendered_record.clone(),
        rendered_package: built.rendered_package.clone(),
        receipt: built.receipt.clone(),
        claim_namespace,
        actor: principal.actor(),
    };
    match state
        .store
        .detached(move |store| async move { store.insert_template(new).await })
        .await?
    {
        InsertOutcome::Inserted => {}
        InsertOutcome::VersionExists => {
            return Err(reject("conflict")(ApiError::Conflict(
                "template version already exists".into(),
            )));
        }
        InsertOutcome::NotOwner { .. } | InsertOutcome::ImportedKeyConflict { .. } => {
            return Err(reject("unauthorized")(ApiError::Forbidden(format!(
                "template {template_id} is owned by another publisher"
            ))));
        }
    }
    crate::metrics::publish("template", "success");
    let record = &built.record;
    tracing::info!(
        event = "registry_publish_succeeded",
        kind = "template",
        template_id = %record.template_id,
        template_version = %record.template_version,
        manifest_digest = %record.manifest_digest,
        template_digest = %record.template_digest,
        receipt_id = %built.receipt.receipt_id,
        publisher_id = %record.publisher_id,
        "registry_publish_succeeded"
    );
    let template = splice(
        &built.rendered_record.bytes,
        &[("download_count", &json!(0))],
    );
    let mut body = Vec::with_capacity(template.len() + 1024);
    body.extend_from_slice(b"{\"template\":");
    body.extend_from_slice(template.trim_ascii_end());
    body.extend_from_slice(b",\"receipt\":");
    body.extend_from_slice(&serde_json::to_vec(&built.receipt).unwrap_or_default());
    body.extend_from_slice(b"}\n");
    Ok(h::json_bytes(StatusCode::CREATED, body))
}

/// `GET templates/{id}/{v}`.
pub async fn record(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (template_id, version) = parse_path(&path)?;
    let row = state
        .store
        .template_record_row(template_id.as_str(), version.as_str())
        .await?
        .ok_or(ApiError::NotFound("template version not found"))?;
    let count = json!(row.download_count);
    let etag = record::etag(&row.etag, Some(count.to_string().as_bytes()));
    if h::if_none_match(&req).is_some_and(|header| record::if_none_match(header, &etag)) {
        return Ok(h::not_modified(&etag, SHORT_LIVED));
    }
    let body = splice(&row.body, &[("download_count", &count)]);
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, SHORT_LIVED))
        .body(body))
}

/// `GET templates/{id}/{v}/download`: the template package; one query.
pub async fn download(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (template_id, version) = parse_path(&path)?;
    let conditional = h::if_none_match(&req);
    let candidates = conditional
        .map(record::plain_etag_candidates)
        .unwrap_or_default();
    let row = state
        .store
        .template_download_row(template_id.as_str(), version.as_str(), &candidates)
        .await?
        .ok_or(ApiError::NotFound("template version not found"))?;
    // A HEAD (a client checking the ETag or size) is not a download.
    if req.method() != actix_web::http::Method::HEAD {
        state
            .downloads
            .record(Kind::Template, template_id.as_str(), version.as_str());
        crate::metrics::download("template");
        tracing::info!(event = "registry_download", kind = "template", template_id = %template_id, template_version = %version, "registry_download");
    }
    let etag = record::etag(&row.etag, None);
    if conditional.is_some_and(|header| record::if_none_match(header, &etag)) {
        return Ok(h::not_modified(&etag, IMMUTABLE));
    }
    let body = row
        .body
        .ok_or_else(|| ApiError::Internal("template body missing".into()))?;
    let filename = format!(
        "{}-{}.anip-template.json",
        super::packages::sanitize_filename(template_id.as_str()),
        super::packages::sanitize_filename(version.as_str())
    );
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body))
}

/// `GET templates/{id}/{v}/receipt` (ours; upstream templates are unsigned).
pub async fn receipt(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (template_id, version) = parse_path(&path)?;
    let receipt = state
        .store
        .template_receipt(template_id.as_str(), version.as_str())
        .await?
        .ok_or(ApiError::NotFound("template receipt not found"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .json(receipt))
}
