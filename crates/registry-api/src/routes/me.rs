//! Publisher self-service (`me/...`), authenticated by a publisher token or the configured
//! publish token (which acts as the first-party publisher).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::http::{self as h, NO_STORE};
use crate::ids::{id_in_namespace, Namespace, PackageId, TemplateId};
use crate::model::{
    CreateNamespaceRequest, CreateTokenRequest, TokenScopes, UpdatePublisherRequest,
};
use crate::store::{Actor, NewToken, ProfileChange};
use crate::validate::{self, invalid};

async fn principal(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    auth::authenticate_self_service(req, state).await
}

fn private(status: actix_web::http::StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .json(body)
}

/// `GET me/publisher`: `{publisher, scopes}`.
pub async fn publisher(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    let publisher = state
        .store
        .publisher(&principal.publisher_id)
        .await?
        .ok_or(ApiError::NotFound("publisher not found"))?;
    let scopes = if principal.first_party {
        TokenScopes {
            operations: auth::OPERATIONS.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    } else {
        principal.scopes
    };
    Ok(private(
        actix_web::http::StatusCode::OK,
        &json!({"publisher": publisher, "scopes": scopes}),
    ))
}

/// `PATCH me/publisher` (`manage:publisher`): `{display_name?, description?, website_url?}`.
/// Partial: only the fields present change; `null` or `""` clears `description` or
/// `website_url` (a display name cannot be cleared).
pub async fn update_publisher(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    principal.require("manage:publisher")?;
    let request: UpdatePublisherRequest = h::json_body(&req, payload).await?;
    let change = profile_change(request)?;
    let actor = principal.actor();
    let publisher_id = principal.publisher_id.clone();
    let updated = state
        .store
        .detached(move |store| async move {
            store
                .update_publisher_profile(publisher_id, change, actor)
                .await
        })
        .await?
        .ok_or_else(|| ApiError::Forbidden("publisher is not active".into()))?;
    Ok(private(
        actix_web::http::StatusCode::OK,
        &json!({"publisher": updated}),
    ))
}

/// Checks a profile update field by field; a body that sets none of them is refused.
pub fn profile_change(request: UpdatePublisherRequest) -> Result<ProfileChange, ApiError> {
    if request.display_name.is_none()
        && request.description.is_none()
        && request.website_url.is_none()
    {
        return Err(ApiError::BadRequest(
            "request body must set display_name, description or website_url".into(),
        ));
    }
    let display_name = match request.display_name {
        None => None,
        Some(name) => Some(validate::display_name(
            "display_name",
            name.as_deref().unwrap_or_default(),
            120,
        )?),
    };
    let description = match request.description {
        None => None,
        Some(description) => {
            let description = description.unwrap_or_default().trim().to_owned();
            if description.len() > 2000 || validate::has_unsafe_control_text(&description) {
                return Err(invalid(
                    "description",
                    "must be at most 2000 characters without control characters",
                )
                .into());
            }
            Some(description)
        }
    };
    let website_url = match request.website_url {
        None => None,
        Some(url) => {
            let url = url.unwrap_or_default().trim().to_owned();
            let lower = url.to_ascii_lowercase();
            if !url.is_empty()
                && (!(lower.starts_with("https://") || lower.starts_with("http://"))
                    || url.len() > 2048
                    || url.contains(char::is_whitespace)
                    || url.chars().any(char::is_control))
            {
                return Err(invalid("website_url", "must be an http(s) URL").into());
            }
            Some(url)
        }
    };
    Ok(ProfileChange {
        display_name,
        description,
        website_url,
    })
}

/// `GET me/namespaces`.
pub async fn namespaces(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    let items = state
        .store
        .publisher_namespaces(&principal.publisher_id)
        .await?;
    Ok(private(
        actix_web::http::StatusCode::OK,
        &json!({"items": items}),
    ))
}

/// `POST me/namespaces` (`manage:publisher`): claims a namespace, which starts
/// `pending_verification` until an admin activates it. 409 if taken, 403 if it lies inside (or
/// around) another publisher's namespace.
pub async fn claim_namespace(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    principal.require("manage:publisher")?;
    let request: CreateNamespaceRequest = h::json_body(&req, payload).await?;
    let namespace = Namespace::parse(&request.namespace.trim().to_lowercase())?;
    let mut kinds: Vec<String> = Vec::new();
    for kind in request
        .artifact_kinds
        .iter()
        .map(|k| k.trim().to_lowercase())
    {
        if kind != "package" && kind != "template" {
            return Err(invalid("artifact_kinds", "may only contain package and template").into());
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(invalid("artifact_kinds", "is required").into());
    }
    let enclosing = state
        .store
        .namespaces_named(&auth::namespace_candidates(namespace.as_str()))
        .await?;
    if let Some(foreign) = enclosing.iter().find(|ns| {
        ns.publisher_id != principal.publisher_id
            && ns.namespace != namespace.as_str()
            && matches!(ns.status.as_str(), "active" | "reserved" | "suspended")
    }) {
        return Err(ApiError::Forbidden(format!(
            "namespace {} belongs to another publisher",
            foreign.namespace
        )));
    }
    let inside = state
        .store
        .foreign_namespaces_inside(namespace.as_str(), &principal.publisher_id)
        .await?;
    if let Some(foreign) = inside.first() {
        return Err(ApiError::Forbidden(format!(
            "namespace {foreign} inside it belongs to another publisher"
        )));
    }
    let owned = state
        .store
        .foreign_artifacts_inside(namespace.as_str(), &principal.publisher_id)
        .await?;
    if let Some(artifact) = owned.first() {
        return Err(ApiError::Forbidden(format!(
            "{artifact} inside it is owned by another publisher"
        )));
    }
    let actor = principal.actor();
    let publisher_id = principal.publisher_id.clone();
    let name = namespace.to_string();
    let claimed = state
        .store
        .detached(move |store| async move {
            store
                .claim_namespace(publisher_id, name, kinds, actor)
                .await
        })
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("namespace {namespace} already exists")))?;
    Ok(private(
        actix_web::http::StatusCode::CREATED,
        &json!({"namespace": claimed}),
    ))
}

/// `GET me/artifacts`.
pub async fn artifacts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    let items = state
        .store
        .publisher_artifacts(&principal.publisher_id)
        .await?;
    Ok(private(
        actix_web::http::StatusCode::OK,
        &json!({"items": items}),
    ))
}

/// `GET me/tokens` (`manage:tokens`).
pub async fn tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    principal.require("manage:tokens")?;
    let items = state
        .store
        .publisher_tokens(&principal.publisher_id)
        .await?;
    Ok(private(
        actix_web::http::StatusCode::OK,
        &json!({"items": items}),
    ))
}

/// `POST me/tokens` (`manage:tokens`): 201 `{token, bearer_token}`; the bearer token is shown
/// this once and stored only as a SHA-256.
pub async fn create_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    principal.require("manage:tokens")?;
    let request: CreateTokenRequest = h::json_body(&req, payload).await?;
    let publisher_id = principal.publisher_id.clone();
    create_token_for(
        &state,
        &publisher_id,
        Some(&principal),
        request,
        principal.actor(),
    )
    .await
}

/// Trims, dedupes and checks requested scopes (400 naming the field).
pub fn normalize_scopes(scopes: TokenScopes) -> Result<TokenScopes, validate::Invalid> {
    fn dedupe(values: Vec<String>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for value in values
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
        {
            if !out.contains(&value) {
                out.push(value);
            }
        }
        out
    }
    let normalized = TokenScopes {
        operations: dedupe(scopes.operations),
        namespaces: dedupe(scopes.namespaces)
            .into_iter()
            .map(|n| n.to_lowercase())
            .collect(),
        package_ids: dedupe(scopes.package_ids),
        template_ids: dedupe(scopes.template_ids),
    };
    if normalized.operations.is_empty() {
        return Err(invalid(
            "scopes.operations",
            "must name at least one operation",
        ));
    }
    if let Some(bad) = normalized
        .operations
        .iter()
        .find(|op| !auth::OPERATIONS.contains(&op.as_str()))
    {
        return Err(invalid(
            "scopes.operations",
            format!(
                "contains unknown operation {bad:?}; allowed: {}",
                auth::OPERATIONS.join(", ")
            ),
        ));
    }
    for namespace in &normalized.namespaces {
        Namespace::parse(namespace).map_err(|e| invalid("scopes.namespaces", e.reason))?;
    }
    for id in &normalized.package_ids {
        PackageId::parse(id).map_err(|e| invalid("scopes.package_ids", e.reason))?;
    }
    for id in &normalized.template_ids {
        TemplateId::parse(id).map_err(|e| invalid("scopes.template_ids", e.reason))?;
    }
    if normalized.namespaces.len() + normalized.package_ids.len() + normalized.template_ids.len()
        > 64
    {
        return Err(invalid("scopes", "may name at most 64 namespaces and ids"));
    }
    Ok(normalized)
}

/// Whether the creator's own scopes allow minting `requested` (a token cannot grant more than
/// the token that creates it).
fn within_creator(creator: &Principal, requested: &TokenScopes) -> Result<(), String> {
    if creator.first_party {
        return Ok(());
    }
    if let Some(op) = requested.operations.iter().find(|op| {
        let both_publish = creator.allows("publish:package") && creator.allows("publish:template");
        !(creator.allows(op) || (op.as_str() == "publish" && both_publish))
    }) {
        return Err(format!("the creating token does not hold {op}"));
    }
    if creator.restricted() {
        let unrestricted = requested.namespaces.is_empty()
            && requested.package_ids.is_empty()
            && requested.template_ids.is_empty();
        if unrestricted {
            return Err("a restricted token can only create restricted tokens".into());
        }
        if let Some(ns) = requested.namespaces.iter().find(|ns| {
            !creator
                .scopes
                .namespaces
                .iter()
                .any(|own| id_in_namespace(ns, own))
        }) {
            return Err(format!(
                "namespace {ns} is outside the creating token's scope"
            ));
        }
        if let Some(id) = requested
            .package_ids
            .iter()
            .find(|id| !creator.scope_covers("package", id))
        {
            return Err(format!(
                "package {id} is outside the creating token's scope"
            ));
        }
        if let Some(id) = requested
            .template_ids
            .iter()
            .find(|id| !creator.scope_covers("template", id))
        {
            return Err(format!(
                "template {id} is outside the creating token's scope"
            ));
        }
    }
    Ok(())
}

/// Creates a token for `publisher_id`; `creator` is the token creating it (`None` for the
/// admin). Namespaces must be the publisher's active ones, ids the publisher's own or inside
/// them (upstream let a token be scoped to any unowned id, which then claimed it).
pub async fn create_token_for(
    state: &AppState,
    publisher_id: &str,
    creator: Option<&Principal>,
    request: CreateTokenRequest,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let label = request.label.trim().to_owned();
    if label.is_empty() || label.len() > 120 || validate::has_unsafe_control_text(&label) {
        return Err(invalid(
            "label",
            "is required (at most 120 characters, no control characters)",
        )
        .into());
    }
    let scopes = normalize_scopes(request.scopes)?;
    if let Some(creator) = creator {
        within_creator(creator, &scopes).map_err(ApiError::Forbidden)?;
    }
    let expires_at = match request.expires_at.trim() {
        "" => None,
        text => {
            let at =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| invalid("expires_at", "must be an RFC 3339 time"))?;
            if at <= time::OffsetDateTime::now_utc() {
                return Err(invalid("expires_at", "must be in the future").into());
            }
            Some(at)
        }
    };
    let own = state.store.publisher_namespaces(publisher_id).await?;
    let active: Vec<&str> = own
        .iter()
        .filter(|ns| ns.status == "active")
        .map(|ns| ns.namespace.as_str())
        .collect();
    if let Some(ns) = scopes
        .namespaces
        .iter()
        .find(|ns| !active.contains(&ns.as_str()))
    {
        return Err(ApiError::Forbidden(format!(
            "namespace {ns} is not an active namespace of publisher {publisher_id}"
        )));
    }
    for (kind, ids) in [
        ("package", &scopes.package_ids),
        ("template", &scopes.template_ids),
    ] {
        for id in ids {
            let owned = match state.store.owner(kind, id).await? {
                Some(owner) => owner.publisher_id == publisher_id && owner.status == "active",
                None => active.iter().any(|ns| id_in_namespace(id, ns)),
            };
            if !owned {
                return Err(ApiError::Forbidden(format!(
                    "{kind} {id} is neither owned by publisher {publisher_id} nor inside its active namespaces"
                )));
            }
        }
    }
    let secret = auth::new_token_secret()?;
    let new = NewToken {
        publisher_id: publisher_id.to_owned(),
        token_hash: auth::secret_hash(&secret),
        label,
        scopes,
        expires_at,
    };
    let summary = state
        .store
        .detached(move |store| async move { store.create_token(new, actor).await })
        .await?;
    let bearer = auth::bearer_string(&summary.token_id, &secret);
    tracing::info!(event = "registry_token_created", publisher_id, token_id = %summary.token_id, "registry_token_created");
    Ok(private(
        actix_web::http::StatusCode::CREATED,
        &json!({"token": summary, "bearer_token": bearer.expose()}),
    ))
}

/// `DELETE me/tokens/{token_id}` (`manage:tokens`).
pub async fn revoke_token(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&req, &state).await?;
    principal.require("manage:tokens")?;
    let token_id = path.into_inner();
    if !auth::is_uuid(&token_id) {
        return Err(ApiError::NotFound("publish token not found"));
    }
    let actor = principal.actor();
    let publisher_id = principal.publisher_id.clone();
    let revoked = state
        .store
        .detached(
            move |store| async move { store.revoke_token(publisher_id, token_id, actor).await },
        )
        .await?
        .ok_or(ApiError::NotFound("publish token not found"))?;
    Ok(private(
        actix_web::http::StatusCode::OK,
        &json!({"token": revoked}),
    ))
}
