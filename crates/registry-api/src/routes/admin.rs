//! Admin routes (ANIP_REGISTRY_ADMIN_TOKEN): package lifecycle, bundle imports, and moderation
//! of publishers, namespaces and artifacts.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signing::gojson::{to_go_json, GoJsonOptions};

use crate::app::{AppState, IMPORT_BODY_LIMIT};
use crate::auth::require_admin_actor;
use crate::error::ApiError;
use crate::http::{self as h, NO_STORE};
use crate::ids::{Namespace, PackageId, Version};
use crate::model::{CreateTokenRequest, UpdateLifecycleRequest, UpdateStatusRequest};
use crate::record::{self, splice};
use crate::store::publishers::{
    AdminQuery, ARTIFACT_STATUSES, NAMESPACE_STATUSES, PUBLISHER_STATUSES,
};
use crate::store::{Actor, PublisherStatusChange, UnusableReplacement};
use crate::validate::{self, invalid};

async fn admin(req: &HttpRequest, state: &AppState) -> Result<Actor, ApiError> {
    require_admin_actor(req, state).await
}

/// The longest `search` filter of an admin list, in characters.
const MAX_SEARCH_CHARS: usize = 200;

/// The paging, search and status filter of every admin list (`limit` ≤ 100, default 25): a
/// status outside `statuses`, or a search longer than [`MAX_SEARCH_CHARS`] or holding a control
/// character (Postgres refuses a NUL outright), is a 400 naming the parameter.
pub(super) fn list_query(req: &HttpRequest, statuses: &[&str]) -> Result<AdminQuery, ApiError> {
    let (limit, offset) = h::paging(req, 25, 100)?;
    let status = h::query_param(req, "status")
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    if !status.is_empty() && !statuses.contains(&status.as_str()) {
        return Err(invalid("status", format!("must be one of {}", statuses.join(", "))).into());
    }
    let search = h::query_param(req, "search")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if search.chars().count() > MAX_SEARCH_CHARS || search.chars().any(char::is_control) {
        return Err(invalid(
            "search",
            format!("must be at most {MAX_SEARCH_CHARS} characters without control characters"),
        )
        .into());
    }
    Ok(AdminQuery {
        search,
        status,
        limit,
        offset,
    })
}

fn private(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .json(body)
}

/// `PATCH admin/packages/{id}/{v}/lifecycle`: `{status, reason, replacement_package_id?,
/// replacement_package_version?}` → `{package}`.
pub async fn update_lifecycle(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let package_id = PackageId::parse(&path.0)?;
    let version = Version::parse_field("version", &path.1)?;
    let request: UpdateLifecycleRequest = h::json_body(&req, payload).await?;
    let lifecycle = validate::lifecycle_update(
        package_id.as_str(),
        version.as_str(),
        &request,
        &actor.actor,
        &crate::publish::now_rfc3339(),
    )?;
    let (id, v) = (package_id.to_string(), version.to_string());
    let outcome = state
        .store
        .detached(move |store| async move { store.update_lifecycle(id, v, lifecycle, actor).await })
        .await?;
    let row = match outcome {
        None => return Err(ApiError::NotFound("package version not found")),
        Some(Err(refused)) => {
            let named = request_replacement(&request);
            let problem = match refused {
                UnusableReplacement::Missing => {
                    format!("names {named}, a package version that does not exist")
                }
                UnusableReplacement::Unavailable(status) => format!(
                    "names {named}, which is {} and cannot replace another version",
                    if status == "takedown" {
                        "taken down"
                    } else {
                        "yanked"
                    }
                ),
            };
            return Err(invalid("replacement_package_id", problem).into());
        }
        Some(Ok(row)) => row,
    };
    // Other replicas learn of it through NOTIFY; this one forgets it before answering.
    state
        .download_cache
        .evict(package_id.as_str(), version.as_str());
    tracing::info!(
        event = "registry_lifecycle_updated",
        package_id = %package_id,
        package_version = %version,
        status = %row.lifecycle.status,
        download_path = %format!("{}/packages/{}/{}/download", super::PREFIX, package_id, version),
        "registry_lifecycle_updated"
    );
    let lifecycle = json!(row.lifecycle);
    let package = splice(
        &row.body,
        &[
            ("download_count", &json!(row.download_count)),
            ("lifecycle", &lifecycle),
        ],
    );
    let mut body = Vec::with_capacity(package.len() + 16);
    body.extend_from_slice(b"{\"package\":");
    body.extend_from_slice(package.trim_ascii_end());
    body.extend_from_slice(b"}\n");
    Ok(h::json_bytes(actix_web::http::StatusCode::OK, body))
}

/// The replacement a lifecycle request names, as `id@version`.
fn request_replacement(request: &UpdateLifecycleRequest) -> String {
    format!(
        "{}@{}",
        request.replacement_package_id.trim(),
        request.replacement_package_version.trim()
    )
}

/// `POST admin/imports`: imports an `anip-package-bundle/v1`, keeping its digests and (when it
/// verifies) its receipt. 201 `{package, receipt, resigned, digest_mismatches}`.
pub async fn import_bundle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let body = h::read_body(&req, payload, IMPORT_BODY_LIMIT).await?;
    let bundle: Value = h::parse_json(&body)?;
    drop(body);
    let imported = crate::seed::import(&state, bundle, actor).await?;
    tracing::info!(
        event = "registry_bundle_imported",
        package_id = %imported.record.package_id,
        package_version = %imported.record.package_version,
        resigned = imported.resigned,
        key_id = %imported.receipt.key_id,
        "registry_bundle_imported"
    );
    let package = splice(
        &imported.rendered.bytes,
        &[
            ("download_count", &json!(0)),
            ("lifecycle", &json!(crate::model::Lifecycle::active())),
        ],
    );
    let mut body = Vec::with_capacity(package.len() + 1024);
    body.extend_from_slice(b"{\"package\":");
    body.extend_from_slice(package.trim_ascii_end());
    body.extend_from_slice(b",\"receipt\":");
    body.extend_from_slice(&serde_json::to_vec(&imported.receipt).unwrap_or_default());
    body.extend_from_slice(b",\"resigned\":");
    body.extend_from_slice(if imported.resigned { b"true" } else { b"false" });
    body.extend_from_slice(b",\"digest_mismatches\":");
    body.extend_from_slice(
        to_go_json(&json!(imported.digest_mismatches), GoJsonOptions::MARSHAL).as_bytes(),
    );
    body.extend_from_slice(b",\"record_etag\":");
    body.extend_from_slice(
        to_go_json(
            &json!(record::etag(&imported.rendered.etag, None)),
            GoJsonOptions::MARSHAL,
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"}\n");
    Ok(h::json_bytes(actix_web::http::StatusCode::CREATED, body))
}

/// `GET admin/publishers`.
pub async fn list_publishers(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    admin(&req, &state).await?;
    Ok(private(
        &state
            .store
            .list_publishers(&list_query(&req, &PUBLISHER_STATUSES)?)
            .await?,
    ))
}

/// `POST admin/publishers` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreatePublisherRequest {
    pub publisher_id: String,
    pub publisher_type: String,
    pub display_name: String,
}

/// Publisher ids: lower-case letters, digits, `.`, `_`, `-`; 1 to 128 characters.
fn valid_publisher_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// `POST admin/publishers`: registers a publisher (our addition: with no OAuth, an admin
/// creates publishers and hands them their first token).
pub async fn create_publisher(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let request: CreatePublisherRequest = h::json_body(&req, payload).await?;
    let publisher_id = request.publisher_id.trim().to_owned();
    if !valid_publisher_id(&publisher_id) {
        return Err(invalid(
            "publisher_id",
            "must be 1 to 128 lower-case letters, digits, '.', '_' or '-'",
        )
        .into());
    }
    let publisher_type = request.publisher_type.trim().to_owned();
    if !["individual", "organization", "official"].contains(&publisher_type.as_str()) {
        return Err(invalid(
            "publisher_type",
            "must be individual, organization or official",
        )
        .into());
    }
    let display_name = match request.display_name.trim() {
        "" => publisher_id.clone(),
        name => validate::display_name("display_name", name, 120)?,
    };
    let created = state
        .store
        .detached(move |store| async move {
            store
                .create_publisher(publisher_id, publisher_type, display_name, actor)
                .await
        })
        .await?
        .ok_or_else(|| ApiError::Conflict("publisher already exists".into()))?;
    Ok(HttpResponse::Created().json(json!({"publisher": created})))
}

/// `PATCH admin/publishers/{id}/status`: `{status, trust_level?, reason}`.
pub async fn update_publisher_status(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let request: UpdateStatusRequest = h::json_body(&req, payload).await?;
    let status = request.status.trim().to_lowercase();
    if !PUBLISHER_STATUSES.contains(&status.as_str()) {
        return Err(invalid(
            "status",
            format!("must be one of {}", PUBLISHER_STATUSES.join(", ")),
        )
        .into());
    }
    let trust_level = match request.trust_level.trim().to_lowercase() {
        t if t.is_empty() => None,
        t if ["unverified", "verified", "official"].contains(&t.as_str()) => Some(t),
        _ => return Err(invalid("trust_level", "must be unverified, verified or official").into()),
    };
    let reason = request.reason.trim().to_owned();
    if reason.len() > validate::MAX_REASON_LEN || validate::has_unsafe_control_text(&reason) {
        return Err(invalid("reason", "is too long or contains control characters").into());
    }
    let publisher_id = path.into_inner();
    let change = PublisherStatusChange {
        status,
        trust_level,
        reason,
    };
    let publisher = state
        .store
        .detached(move |store| async move {
            store
                .set_publisher_status(publisher_id, change, actor)
                .await
        })
        .await?
        .ok_or(ApiError::NotFound("publisher not found"))?;
    Ok(private(&json!({"publisher": publisher})))
}

/// `POST admin/publishers/{id}/tokens`: issues a token for a publisher (bootstrap).
pub async fn create_publisher_token(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let request: CreateTokenRequest = h::json_body(&req, payload).await?;
    let publisher_id = path.into_inner();
    if state.store.publisher(&publisher_id).await?.is_none() {
        return Err(ApiError::NotFound("publisher not found"));
    }
    super::me::create_token_for(&state, &publisher_id, None, request, actor).await
}

/// `GET admin/namespaces`.
pub async fn list_namespaces(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    admin(&req, &state).await?;
    Ok(private(
        &state
            .store
            .list_namespaces(&list_query(&req, &NAMESPACE_STATUSES)?)
            .await?,
    ))
}

/// `PATCH admin/namespaces/{namespace}`: `{status, reason}`.
pub async fn update_namespace_status(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let namespace = Namespace::parse(&path.to_lowercase())?;
    let request: UpdateStatusRequest = h::json_body(&req, payload).await?;
    let status = request.status.trim().to_lowercase();
    if !NAMESPACE_STATUSES.contains(&status.as_str()) {
        return Err(invalid(
            "status",
            format!("must be one of {}", NAMESPACE_STATUSES.join(", ")),
        )
        .into());
    }
    let reason = request.reason.trim().to_owned();
    if reason.len() > validate::MAX_REASON_LEN || validate::has_unsafe_control_text(&reason) {
        return Err(invalid("reason", "is too long or contains control characters").into());
    }
    let name = namespace.into_inner();
    let updated = state
        .store
        .detached(move |store| async move {
            store
                .set_namespace_status(name, status, reason, actor)
                .await
        })
        .await?
        .ok_or(ApiError::NotFound("namespace not found"))?;
    Ok(private(&json!({"namespace": updated})))
}

/// `GET admin/artifacts`.
pub async fn list_artifacts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    admin(&req, &state).await?;
    Ok(private(
        &state
            .store
            .list_artifacts(&list_query(&req, &ARTIFACT_STATUSES)?)
            .await?,
    ))
}

/// `PATCH admin/artifact-status/{kind}/{id}`: `{status, reason}`.
pub async fn update_artifact_status(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&req, &state).await?;
    let (kind, artifact_id) = path.into_inner();
    if kind != "package" && kind != "template" {
        return Err(invalid("artifact_kind", "must be package or template").into());
    }
    let artifact_id = PackageId::parse_field("artifact_id", &artifact_id)?.into_inner();
    let request: UpdateStatusRequest = h::json_body(&req, payload).await?;
    let status = request.status.trim().to_lowercase();
    if !ARTIFACT_STATUSES.contains(&status.as_str()) {
        return Err(invalid(
            "status",
            format!("must be one of {}", ARTIFACT_STATUSES.join(", ")),
        )
        .into());
    }
    let reason = request.reason.trim().to_owned();
    let updated = state
        .store
        .detached(move |store| async move {
            store
                .set_artifact_status(kind, artifact_id, status, reason, actor)
                .await
        })
        .await?
        .ok_or(ApiError::NotFound("artifact ownership not found"))?;
    Ok(private(&json!({"artifact": updated})))
}
