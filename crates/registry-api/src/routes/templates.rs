//! Starter templates: list, publish, record, download (the template package), receipt.
//! The download is immutable like a package download; the record view carries the live
//! download count.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::app::{AppState, TEMPLATE_BODY_LIMIT};
use crate::downloads::Kind;
use crate::error::ApiError;
use crate::http::{self as h, IMMUTABLE, SHORT_LIVED};
use crate::ids::{TemplateId, Version};
use crate::model::PublishTemplateRequest;
use crate::publish;
use crate::record::{self, splice};
use crate::store::NewTemplate;
use crate::templates::{self as domain, BuiltTemplate};

use super::publishing::{self, reject, Rejection};

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

/// `POST templates`: 201 `{template, receipt}`, in the order of a package publish.
pub async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut ids = (String::new(), String::new());
    let outcome = publish_inner(&req, payload, &state, &mut ids).await;
    publishing::respond(Kind::Template, &ids, outcome)
}

async fn publish_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    ids: &mut (String, String),
) -> Result<HttpResponse, Rejection> {
    let body = publishing::read_body(req, payload, TEMPLATE_BODY_LIMIT).await?;
    let request: PublishTemplateRequest =
        h::parse_json(&body).map_err(reject("invalid_request"))?;
    drop(body);
    let identity = domain::template_identity(request).map_err(reject("invalid_request"))?;
    *ids = (
        identity.template_id.to_string(),
        identity.template_version.to_string(),
    );
    let (template_id, version) = ids.clone();

    let principal = publishing::publisher(req, state, "publish:template").await?;
    if state.store.template_exists(&template_id, &version).await? {
        return Err(publishing::version_exists(Kind::Template));
    }
    let keys = state.keys.clone();
    let publisher = principal.identity();
    let published_at = publish::now_rfc3339();
    let built: BuiltTemplate = publishing::build(move || {
        domain::build_template(identity, &publisher, &published_at, &keys)
    })
    .await?;
    let claim_namespace =
        publishing::claim(state, &principal, Kind::Template, &template_id).await?;

    let new = NewTemplate {
        record: built.record.clone(),
        rendered_record: built.rendered_record.clone(),
        rendered_package: built.rendered_package.clone(),
        receipt: built.receipt.clone(),
        claim_namespace,
        actor: principal.actor(),
    };
    let outcome = state
        .store
        .detached(move |store| async move { store.insert_template(new).await })
        .await?;
    publishing::inserted(Kind::Template, &template_id, outcome)?;

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
    Ok(h::json_ok(etag, SHORT_LIVED).body(body))
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
    let etag = record::etag(&row.etag, None);
    if conditional.is_some_and(|header| record::if_none_match(header, &etag)) {
        return Ok(h::not_modified(&etag, IMMUTABLE));
    }
    // Only a response that sends the package is a download: a 304 transfers nothing, and a
    // HEAD (a client checking the ETag or size) sends no body.
    if req.method() != actix_web::http::Method::HEAD {
        state
            .downloads
            .record(Kind::Template, template_id.as_str(), version.as_str());
        crate::metrics::download("template");
        tracing::info!(event = "registry_download", kind = "template", template_id = %template_id, template_version = %version, "registry_download");
    }
    let body = row
        .body
        .ok_or_else(|| ApiError::Internal("template body missing".into()))?;
    Ok(h::json_ok(etag, IMMUTABLE)
        .insert_header(h::attachment(
            template_id.as_str(),
            version.as_str(),
            ".anip-template.json",
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
