//! Packages: list, publish, record, download, lock, receipt.
//!
//! Caching (a deliberate split, since only some of a record's fields can change):
//! - `download` of an `active` package serves the stored immutable bytes with a strong ETag (the
//!   SHA-256 of those bytes) and `Cache-Control: public, max-age=31536000, immutable`. The body
//!   carries no mutable field: no `download_count`, and no `lifecycle` (upstream clients read a
//!   missing lifecycle as `active`, which it is). Yanking or taking a version down is enforced at
//!   the origin (410); operators fronting the registry with a shared cache purge the download
//!   path on takedown, as with any immutable artifact CDN.
//! - `download` of a superseded, deprecated or (explicitly allowed) yanked package adds its
//!   `lifecycle` so clients can warn, with an ETag qualified by that lifecycle and a short
//!   max-age, because the state can change again.
//! - `packages/{id}/{v}` (the record view) always includes the live `download_count` and
//!   `lifecycle`, with a qualified ETag and a short max-age.
//!
//! Every response also names the lifecycle in `X-ANIP-Lifecycle`. A download costs one query:
//! the stored bytes and the lifecycle come back together, and when the client's ETag already
//! matches, the bytes are not even sent by the database.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use signing::gojson::{to_go_json, GoJsonOptions};

use crate::app::{AppState, PUBLISH_BODY_LIMIT};
use crate::downloads::Kind;
use crate::error::ApiError;
use crate::http::{self as h, IMMUTABLE, SHORT_LIVED};
use crate::ids::{PackageId, Version};
use crate::model::{Lifecycle, PackageLock, PublicationSummary, PublishPackageRequest};
use crate::publish::{self, BuiltPackage};
use crate::record::{self, splice};
use crate::store::{ListQuery, NewPackage};

use super::publishing::{self, reject, Rejection};

/// Longest accepted `q`.
pub const MAX_QUERY_LEN: usize = 200;

fn parse_path(path: &(String, String)) -> Result<(PackageId, Version), ApiError> {
    Ok((
        PackageId::parse(&path.0)?,
        Version::parse_field("version", &path.1)?,
    ))
}

/// `GET publications?q=&limit=&offset=`: `{items, total, total_exact, limit, offset}`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = h::paging(&req, 50, 100)?;
    let q = h::query_param(&req, "q")
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    if let Some(q) = &q {
        if q.chars().count() > MAX_QUERY_LEN {
            return Err(ApiError::BadRequest(format!(
                "q exceeds {MAX_QUERY_LEN} characters"
            )));
        }
        if q.chars().any(char::is_control) {
            return Err(ApiError::BadRequest("q contains control characters".into()));
        }
    }
    let page = state
        .listing_cache
        .page(&state.store, &ListQuery { q, limit, offset })
        .await?;
    // `total_exact: false`: a search matched more than `total` versions (the count stops at
    // store::SEARCH_COUNT_CAP); `total` is then a lower bound. Serialized straight from the
    // (possibly cached, shared) page, without an intermediate `Value`.
    Ok(HttpResponse::Ok().json(ListResponse {
        items: &page.items,
        total: page.total,
        total_exact: page.total_exact,
        limit,
        offset,
    }))
}

/// The body of `GET publications`, in upstream's field order.
#[derive(serde::Serialize)]
struct ListResponse<'a> {
    items: &'a [PublicationSummary],
    total: i64,
    total_exact: bool,
    limit: i64,
    offset: i64,
}

/// `POST publications`, in upstream's order: body (400) → required ids (400) → auth (401/403)
/// → exists (409) → validation (400) → ownership (403). Signing happens before the insert
/// transaction opens; a concurrent duplicate resolves to 409 through the primary key.
pub async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut ids = (String::new(), String::new());
    let outcome = publish_inner(&req, payload, &state, &mut ids).await;
    publishing::respond(Kind::Package, &ids, outcome)
}

async fn publish_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    ids: &mut (String, String),
) -> Result<HttpResponse, Rejection> {
    let body = publishing::read_body(req, payload, PUBLISH_BODY_LIMIT).await?;
    let request: PublishPackageRequest = h::parse_json(&body).map_err(reject("invalid_request"))?;
    drop(body);
    // Only well-formed ids reach the logs.
    let identity = publish::publish_identity(request).map_err(reject("invalid_request"))?;
    *ids = (
        identity.package_id.to_string(),
        identity.package_version.to_string(),
    );
    let (package_id, version) = ids.clone();

    let principal = publishing::publisher(req, state, "publish:package").await?;
    if state.store.package_exists(&package_id, &version).await? {
        return Err(publishing::version_exists(Kind::Package));
    }
    let keys = state.keys.clone();
    let publisher = principal.identity();
    let published_at = publish::now_rfc3339();
    let built: BuiltPackage = publishing::build(move || {
        publish::build_package(identity, &publisher, &published_at, &keys)
    })
    .await?;
    let claim_namespace = publishing::claim(state, &principal, Kind::Package, &package_id).await?;

    let new = NewPackage {
        record: built.record.clone(),
        rendered: built.rendered.clone(),
        receipt: built.receipt.clone(),
        payload_version: built.payload_version,
        origin: "published",
        claim_namespace,
        ensure_publisher: false,
        imported_key: None,
        actor: principal.actor(),
    };
    let outcome = state
        .store
        .detached(move |store| async move { store.insert_package(new).await })
        .await?;
    publishing::inserted(Kind::Package, &package_id, outcome)?;

    crate::metrics::publish("package", "success");
    let record = &built.record;
    tracing::info!(
        event = "registry_publish_succeeded",
        kind = "package",
        package_id = %record.package_id,
        package_version = %record.package_version,
        manifest_digest = %record.manifest_digest,
        definition_digest = %record.definition_digest,
        receipt_id = %built.receipt.receipt_id,
        key_id = %built.receipt.key_id,
        publisher_id = %record.publisher_id,
        publisher_type = %record.publisher_type,
        "registry_publish_succeeded"
    );
    Ok(h::json_bytes(StatusCode::CREATED, published_body(&built)))
}

/// `{publication, package, receipt}`, the package being the stored record with its initial
/// download count and lifecycle.
pub fn published_body(built: &BuiltPackage) -> Vec<u8> {
    let record = &built.record;
    let publication = PublicationSummary {
        package_id: record.package_id.clone(),
        package_version: record.package_version.clone(),
        project_ref: record.project_ref.clone(),
        product_revision_ref: record.product_revision_ref.clone(),
        developer_revision_ref: record.developer_revision_ref.clone(),
        contract_signature: record.contract_signature.clone(),
        publisher_id: record.publisher_id.clone(),
        publisher_type: record.publisher_type.clone(),
        publisher: None,
        lineage: record.lineage.clone(),
        published_at: record.published_at.clone(),
        download_count: 0,
        lifecycle: Lifecycle::active(),
    };
    let package = splice(
        &built.rendered.bytes,
        &[
            ("download_count", &json!(0)),
            ("lifecycle", &json!(Lifecycle::active())),
        ],
    );
    let mut body = Vec::with_capacity(package.len() + 2048);
    body.extend_from_slice(b"{\"publication\":");
    body.extend_from_slice(&serde_json::to_vec(&publication).unwrap_or_default());
    body.extend_from_slice(b",\"package\":");
    body.extend_from_slice(package.trim_ascii_end());
    body.extend_from_slice(b",\"receipt\":");
    body.extend_from_slice(&serde_json::to_vec(&built.receipt).unwrap_or_default());
    body.extend_from_slice(b"}\n");
    body
}

fn allow_yanked(req: &HttpRequest) -> bool {
    h::query_param(req, "allow_yanked").as_deref() == Some("true")
        || req
            .headers()
            .get("X-ANIP-Allow-Yanked-Package")
            .and_then(|v| v.to_str().ok())
            == Some("true")
}

/// 410 when the lifecycle hides the content from downloads (upstream's
/// `packageLifecycleBlocksDownload`).
fn lifecycle_blocks(lifecycle: &Lifecycle, allow_yanked: bool) -> Result<(), ApiError> {
    match lifecycle.status.as_str() {
        "takedown" => Err(ApiError::gone(
            "package version is unavailable",
            lifecycle.clone(),
            Map::new(),
        )),
        "yanked" if !allow_yanked => Err(ApiError::gone(
            "package version has been yanked",
            lifecycle.clone(),
            Map::new(),
        )),
        _ => Ok(()),
    }
}

fn lifecycle_header(status: &str) -> (&'static str, HeaderValue) {
    (
        "X-ANIP-Lifecycle",
        HeaderValue::from_str(status).unwrap_or_else(|_| HeaderValue::from_static("unknown")),
    )
}

/// `GET packages/{id}/{v}/download`.
/// The download row from the in-process cache, or from one query that fills it.
async fn cached_download(
    state: &AppState,
    package_id: &str,
    version: &str,
) -> Result<std::sync::Arc<crate::download_cache::CachedDownload>, ApiError> {
    if let Some(hit) = state.download_cache.get(package_id, version) {
        return Ok(hit);
    }
    // Ask for the body whatever the client holds: the cached entry serves every later client.
    let row = state
        .store
        .download_row(package_id, version, &[], true)
        .await?
        .ok_or(ApiError::NotFound("package version not found"))?;
    Ok(state.download_cache.insert(
        package_id,
        version,
        row.body.map(web::Bytes::from),
        row.etag,
        row.lifecycle,
    ))
}

pub async fn download(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (package_id, version) = parse_path(&path)?;
    let allow_yanked = allow_yanked(&req);
    let conditional = h::if_none_match(&req);
    let row = cached_download(&state, package_id.as_str(), version.as_str()).await?;
    lifecycle_blocks(&row.lifecycle, allow_yanked)?;

    let (etag, cache_control, lifecycle_value) = if row.lifecycle.status == "active" {
        (record::etag(&row.etag, None), IMMUTABLE, None)
    } else {
        let lifecycle = json!(row.lifecycle);
        let encoded = to_go_json(&lifecycle, GoJsonOptions::MARSHAL);
        (
            record::etag(&row.etag, Some(encoded.as_bytes())),
            SHORT_LIVED,
            Some(lifecycle),
        )
    };
    if conditional.is_some_and(|header| record::if_none_match(header, &etag)) {
        let mut response = h::not_modified(&etag, cache_control);
        response.headers_mut().insert(
            header::HeaderName::from_static("x-anip-lifecycle"),
            lifecycle_header(&row.lifecycle.status).1,
        );
        return Ok(response);
    }
    // Only a response that sends the bundle is a download: a 304 transfers nothing, and a
    // HEAD (a client checking the ETag or size) sends no body.
    if req.method() != actix_web::http::Method::HEAD {
        state
            .downloads
            .record(Kind::Package, package_id.as_str(), version.as_str());
        crate::metrics::download("package");
        tracing::info!(event = "registry_download", kind = "package", package_id = %package_id, package_version = %version, "registry_download");
    }
    let stored = row
        .body
        .clone()
        .ok_or_else(|| ApiError::Internal("download body missing".into()))?;
    let body: web::Bytes = match &lifecycle_value {
        None => stored,
        Some(lifecycle) => splice(&stored, &[("lifecycle", lifecycle)]).into(),
    };
    Ok(h::json_ok(etag, cache_control)
        .insert_header(h::attachment(
            package_id.as_str(),
            version.as_str(),
            ".anip-package.json",
        ))
        .insert_header(lifecycle_header(&row.lifecycle.status))
        .body(body))
}

/// `GET packages/{id}/{v}`: the record with its live download count and lifecycle; 410 when
/// taken down. Not a download.
pub async fn record(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (package_id, version) = parse_path(&path)?;
    let row = state
        .store
        .record_row(package_id.as_str(), version.as_str())
        .await?
        .ok_or(ApiError::NotFound("package version not found"))?;
    if row.lifecycle.status == "takedown" {
        let mut extra = Map::new();
        extra.insert("package_id".into(), Value::from(package_id.as_str()));
        extra.insert("version".into(), Value::from(version.as_str()));
        return Err(ApiError::gone(
            "package version is unavailable",
            row.lifecycle,
            extra,
        ));
    }
    let count = json!(row.download_count);
    let lifecycle = json!(row.lifecycle);
    let qualifier = format!("{count}{}", to_go_json(&lifecycle, GoJsonOptions::MARSHAL));
    let etag = record::etag(&row.etag, Some(qualifier.as_bytes()));
    if h::if_none_match(&req).is_some_and(|header| record::if_none_match(header, &etag)) {
        return Ok(h::not_modified(&etag, SHORT_LIVED));
    }
    let body = splice(
        &row.body,
        &[("download_count", &count), ("lifecycle", &lifecycle)],
    );
    Ok(h::json_ok(etag, SHORT_LIVED)
        .insert_header(lifecycle_header(&row.lifecycle.status))
        .body(body))
}

/// The `registry_url` of locks: the configured public URL, else the request's Host. Forwarding
/// headers are not trusted (any client can send them).
fn registry_url(req: &HttpRequest, state: &AppState) -> String {
    if let Some(base) = &state.public_base_url {
        return format!("{base}{}", super::PREFIX);
    }
    match req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(host) if !host.is_empty() && host.chars().all(|c| c.is_ascii_graphic()) => {
            format!("http://{host}{}", super::PREFIX)
        }
        _ => String::new(),
    }
}

/// `GET packages/{id}/{v}/lock`: `anip-package-lock/v1`.
pub async fn lock(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (package_id, version) = parse_path(&path)?;
    let row = state
        .store
        .lock_row(package_id.as_str(), version.as_str())
        .await?
        .ok_or(ApiError::NotFound("package version not found"))?;
    lifecycle_blocks(&row.lifecycle, allow_yanked(&req))?;
    let receipt = row
        .receipt
        .ok_or(ApiError::NotFound("package receipt not found"))?;
    let lock = PackageLock {
        lock_schema_version: "anip-package-lock/v1",
        artifact_type: "anip_package_lock",
        source_kind: "registry",
        registry_url: registry_url(&req, &state),
        package_id: row.package_id,
        package_version: row.package_version,
        contract_signature: row.contract_signature,
        schema_version: row.schema_version,
        definition_digest: row.definition_digest,
        manifest_digest: row.manifest_digest,
        lock_digest: row.lock_digest,
        package_execution_signature: row.package_execution_signature,
        receipt_signature: receipt.registry_signature,
        receipt_authority: "remote-registry".into(),
        receipt_key_id: receipt.key_id,
        receipt_algorithm: receipt.signature_algorithm,
        receipt_issued_at: receipt.issued_at,
        registry_signing_mode: state.mode.as_str().into(),
        registry_active_key_id: state.active_key_id().into(),
        publisher_id: row.publisher_id,
        publisher_type: row.publisher_type,
    };
    Ok(HttpResponse::Ok()
        .insert_header(h::attachment(
            package_id.as_str(),
            version.as_str(),
            ".anip.lock.json",
        ))
        .insert_header(lifecycle_header(&row.lifecycle.status))
        .json(lock))
}

/// `GET packages/{id}/{v}/receipt`.
pub async fn receipt(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (package_id, version) = parse_path(&path)?;
    let receipt = state
        .store
        .receipt(package_id.as_str(), version.as_str())
        .await?
        .ok_or(ApiError::NotFound("package receipt not found"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .json(receipt))
}
