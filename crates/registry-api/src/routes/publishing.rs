//! The steps both kinds of publish (packages and templates) take, in upstream's order, and how
//! a refused publish is counted and logged. Each handler reads as the sequence of these steps;
//! what differs by kind (the request type, the build, the row) stays in the handler.

use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};

use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::downloads::Kind;
use crate::error::ApiError;
use crate::store::{InsertOutcome, StoreError};
use crate::validate::invalid;

/// A refused or failed publish: the error plus its metric status (`invalid_request`,
/// `unauthorized`, `conflict`, `invalid`, `error`).
pub struct Rejection {
    pub status: &'static str,
    pub error: ApiError,
}

/// Wraps an error as a rejection counted under `status`.
pub fn reject(status: &'static str) -> impl FnOnce(ApiError) -> Rejection {
    move |error| Rejection { status, error }
}

impl From<StoreError> for Rejection {
    fn from(error: StoreError) -> Self {
        Rejection {
            status: "error",
            error: error.into(),
        }
    }
}

/// The answer to a publish of `kind`: the outcome's response, or the rejection counted,
/// logged with the ids once they were known to be well formed (`ids`), and answered.
pub fn respond(
    kind: Kind,
    ids: &(String, String),
    outcome: Result<HttpResponse, Rejection>,
) -> HttpResponse {
    let Rejection { status, error } = match outcome {
        Ok(response) => return response,
        Err(rejection) => rejection,
    };
    crate::metrics::publish(kind.as_str(), status);
    // The log fields are named for the kind (`package_id` or `template_id`); the other pair is
    // left unset, so it is not logged.
    let (id, version) = (ids.0.as_str(), ids.1.as_str());
    let (package_id, package_version, template_id, template_version) = match kind {
        Kind::Package => (Some(id), Some(version), None, None),
        Kind::Template => (None, None, Some(id), Some(version)),
    };
    let kind = kind.as_str();
    if status == "error" {
        tracing::error!(event = "registry_publish_failed", kind, package_id, package_version, template_id, template_version, error = %error, "registry_publish_failed");
    } else {
        tracing::warn!(event = "registry_publish_rejected", kind, package_id, package_version, template_id, template_version, reason = status, error = %error, "registry_publish_rejected");
    }
    error.error_response()
}

/// Tokens shorter than this are not looked for in a body (too likely to match by chance);
/// every real token (`anip_pat_...`, a configured publish token) is far longer.
const MIN_TOKEN_SEARCH_BYTES: usize = 16;

/// The body of a publish, read within `limit` (400 when unreadable, 413 when too large), and
/// refused with 400 when it carries the request's own bearer token anywhere: a publication
/// must never publish the credential it was published with (a client that pastes its token
/// into a readme or a manifest). A plain byte search over the raw body, before parsing; the
/// error never echoes the token.
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, Rejection> {
    let body = crate::http::read_body(req, payload, limit)
        .await
        .map_err(reject("invalid_request"))?;
    if let Some(token) = auth::bearer(req) {
        if contains_token(&body, token.as_bytes()) {
            return Err(reject("invalid")(ApiError::Invalid(invalid(
                "body",
                "contains this request's publish token; publish a reference to a secret (an environment variable name), never the token itself",
            ))));
        }
    }
    Ok(body)
}

/// Whether `body` contains `token` (one long enough to look for).
fn contains_token(body: &[u8], token: &[u8]) -> bool {
    token.len() >= MIN_TOKEN_SEARCH_BYTES && body.windows(token.len()).any(|w| w == token)
}

/// The principal behind the request, allowed the `scope` operation (`publish:package`,
/// `publish:template`). A store failure is an error, anything else is unauthorized.
pub async fn publisher(
    req: &HttpRequest,
    state: &AppState,
    scope: &str,
) -> Result<Principal, Rejection> {
    let principal = auth::authenticate(req, &state.store, &state.first_party)
        .await
        .map_err(|error| match error {
            ApiError::Storage(_) => reject("error")(error),
            error => reject("unauthorized")(error),
        })?;
    principal.require(scope).map_err(reject("unauthorized"))?;
    Ok(principal)
}

/// 409 for a version that exists already.
pub fn version_exists(kind: Kind) -> Rejection {
    reject("conflict")(ApiError::Conflict(format!(
        "{} version already exists",
        kind.as_str()
    )))
}

/// Runs `build` (validation, digests and signing: CPU work on up to several MiB of JSON) on
/// the blocking pool, off the I/O worker. Content the build refuses is `invalid`.
pub async fn build<T, E>(
    build: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Rejection>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    web::block(build)
        .await
        .map_err(|e| reject("error")(ApiError::Internal(e.to_string())))?
        .map_err(|invalid| reject("invalid")(invalid.into()))
}

/// Whether `principal` may publish `id` of `kind`: the artifact's owner and the namespaces
/// covering the id decide. Returns the namespace the publish claims, if any.
pub async fn claim(
    state: &AppState,
    principal: &Principal,
    kind: Kind,
    id: &str,
) -> Result<Option<String>, Rejection> {
    let owner = state.store.owner(kind.as_str(), id).await?;
    let namespaces = state
        .store
        .namespaces_named(&auth::namespace_candidates(id))
        .await?;
    auth::decide_publish(principal, kind.as_str(), id, owner.as_ref(), &namespaces)
        .map_err(|message| reject("unauthorized")(ApiError::Forbidden(message)))
}

/// The insert's outcome as a rejection unless it committed. The transaction decides races:
/// a concurrent duplicate is 409, an id claimed meanwhile by another publisher 403.
pub fn inserted(kind: Kind, id: &str, outcome: InsertOutcome) -> Result<(), Rejection> {
    match outcome {
        InsertOutcome::Inserted => Ok(()),
        InsertOutcome::VersionExists => Err(version_exists(kind)),
        InsertOutcome::NotOwner { .. } => Err(reject("unauthorized")(ApiError::Forbidden(
            format!("{} {id} is owned by another publisher", kind.as_str()),
        ))),
        InsertOutcome::ImportedKeyConflict { key_id } => Err(reject("error")(ApiError::Internal(
            format!("unexpected key conflict {key_id}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_search() {
        let token = b"anip_pat_0123456789abcdef";
        assert!(contains_token(
            b"{\"readme\":\"token anip_pat_0123456789abcdef\"}",
            token
        ));
        assert!(!contains_token(b"{\"readme\":\"anip_pat_0123\"}", token));
        assert!(!contains_token(b"short", token));
        // Short bearer strings are not looked for.
        assert!(!contains_token(b"{\"a\":\"xyz\"}", b"xyz"));
    }
}
