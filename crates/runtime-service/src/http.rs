//! The ANIP HTTP surface. Handlers are thin: read the bearer, the body and the query, call the
//! runtime, turn the answer or the failure into a response.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;
use observability::server::{Endpoint, ErrorStyle};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::approval::rfc3339;
use crate::audit::checkpoint::{self, ProofRequest};
use crate::db;
use crate::delegation::{Token, TokenRequest};
use crate::failure::{Action, DisclosureLevel, Failure};
use crate::invoke::{self, InvokeRequest};
use crate::runtime::{disclosure_for, storage_failure, Runtime};

/// Largest request body read (bytes); a larger one is answered 413 `payload_too_large`.
pub const MAX_BODY: usize = 256 * 1024;

/// Mounts every protocol route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY));
    // Any method a path lacks is a 405 with `Allow`; reads answer HEAD too.
    let path = |path: &str| Endpoint::new(path, ErrorStyle::Runtime);
    cfg.service(path("/.well-known/anip").read(discovery))
        .service(path("/.well-known/jwks.json").read(jwks))
        .service(path("/anip/manifest").read(manifest))
        .service(path("/anip/graph/{capability}").read(graph))
        .service(path("/anip/tokens").post(tokens))
        .service(path("/anip/permissions").post(permissions))
        .service(path("/anip/invoke/{capability}").post(invoke_capability))
        .service(path("/anip/audit").post(audit))
        .service(path("/anip/checkpoints").read(list_checkpoints))
        .service(path("/anip/checkpoints/{checkpoint_id}").read(get_checkpoint))
        .service(path("/anip/approval_grants").post(approval_grants));
}

fn failure_response(failure: &Failure, level: DisclosureLevel) -> HttpResponse {
    HttpResponse::build(failure.status()).json(failure.body(level))
}

/// The bearer credential, if the request carries one.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !credential.trim().is_empty())
        .then(|| credential.trim().to_owned())
}

fn missing_credentials(what: &str) -> Failure {
    Failure::new(
        "authentication_required",
        format!("{what} is required in the Authorization header"),
        Action::ProvideCredentials,
    )
    .requires("Authorization: Bearer <credential>")
}

/// Resolves the bearer JWT of a protected endpoint.
async fn caller(rt: &Runtime, req: &HttpRequest) -> Result<Token, HttpResponse> {
    let level = rt.default_disclosure();
    let Some(jwt) = bearer(req) else {
        return Err(failure_response(
            &missing_credentials("a delegation token (JWT) from POST /anip/tokens"),
            level,
        ));
    };
    rt.resolve_bearer(&jwt)
        .await
        .map_err(|failure| failure_response(&failure, level))
}

fn invalid_parameters(detail: impl Into<String>) -> Failure {
    Failure::new("invalid_parameters", detail, Action::RevalidateState).retry(false)
}

/// The request body, or the failure that reading it met: too large → 413 `payload_too_large`.
/// (A handler takes `Result<Bytes, _>` so that the extractor's error becomes an ANIP failure
/// instead of actix's plain-text answer.)
fn read_body(body: Result<Bytes, actix_web::Error>) -> Result<Bytes, Failure> {
    body.map_err(|error| {
        if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                "payload_too_large",
                format!("the request body is larger than {MAX_BODY} bytes"),
                Action::RevalidateState,
            )
            .retry(false)
        } else {
            invalid_parameters("the request body could not be read")
        }
    })
}

/// Where the first NUL (U+0000) of a JSON document is, in a string or a key, as a dotted path.
/// Postgres stores NUL neither in text nor in jsonb, and no protocol value needs one.
fn nul_path(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &mut Vec<String>) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                path.push(i.to_string());
                let found = walk(item, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                path.push(key.replace('\0', "\\u0000"));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.pop();
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    walk(value, &mut path).then(|| {
        if path.is_empty() {
            "the body".to_owned()
        } else {
            path.join(".")
        }
    })
}

/// Parses a JSON body (blank means `{}`), refusing a NUL anywhere in it before anything runs.
fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        &body[..]
    };
    let not_valid =
        |e: serde_json::Error| invalid_parameters(format!("the request body is not valid: {e}"));
    let value: Value = serde_json::from_slice(text).map_err(not_valid)?;
    if let Some(path) = nul_path(&value) {
        return Err(invalid_parameters(format!(
            "the request body contains a NUL character (U+0000) at {path}"
        )));
    }
    serde_json::from_value(value).map_err(not_valid)
}

/// Refuses, before any handler runs, a request whose path or query carries a NUL character
/// (`%00`, the only way a URL can carry one): the one rule for every path and query value, as
/// [`parse_json`] is for bodies.
pub async fn refuse_nul_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let uri = req.uri();
    let nul = uri.path().contains("%00") || uri.query().is_some_and(|q| q.contains("%00"));
    if nul {
        let failure = invalid_parameters(
            "the request URL contains a NUL character (%00) in its path or query",
        );
        let response = failure_response(&failure, DisclosureLevel::Full);
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

async fn discovery(rt: web::Data<Runtime>, req: HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    let base_url = format!("{}://{}", info.scheme(), info.host());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(rt.discovery_document(&base_url).as_ref().clone())
}

async fn jwks(rt: web::Data<Runtime>) -> HttpResponse {
    HttpResponse::Ok().json(rt.keys.jwks())
}

async fn manifest(rt: web::Data<Runtime>) -> HttpResponse {
    match rt.manifest() {
        Ok(manifest) => {
            let mut response = HttpResponse::Ok();
            response.content_type("application/json");
            if let Ok(signature) = HeaderValue::from_str(&manifest.signature) {
                response.insert_header(("X-ANIP-Signature", signature));
            }
            response.body(manifest.body.as_ref().clone())
        }
        Err(failure) => failure_response(&failure, rt.default_disclosure()),
    }
}

async fn graph(rt: web::Data<Runtime>, path: web::Path<String>) -> HttpResponse {
    match rt.graph(&path) {
        Some(graph) => HttpResponse::Ok().json(graph),
        None => failure_response(
            &Failure::new(
                "not_found",
                format!("capability '{}' is not declared", path.as_str()),
                Action::CheckManifest,
            )
            .retry(false)
            .requires("a capability name from GET /anip/manifest"),
            DisclosureLevel::Full,
        ),
    }
}

async fn tokens(
    rt: web::Data<Runtime>,
    req: HttpRequest,
    body: Result<Bytes, actix_web::Error>,
) -> HttpResponse {
    let level = rt.default_disclosure();
    let Some(credential) = bearer(&req) else {
        return failure_response(
            &missing_credentials("an API key or a delegation token"),
            level,
        );
    };
    let principal = match rt.authenticate_issuer(&credential).await {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return failure_response(
                &missing_credentials("a valid API key or delegation token"),
                level,
            )
        }
        Err(failure) => return failure_response(&failure, level),
    };
    let request: TokenRequest = match read_body(body).and_then(|body| parse_json(&body)) {
        Ok(request) => request,
        Err(failure) => return failure_response(&failure, level),
    };
    match rt.issue_token(&principal, request).await {
        Ok(issued) => HttpResponse::Ok().json(issued),
        Err(failure) => failure_response(&failure, level),
    }
}

async fn permissions(rt: web::Data<Runtime>, req: HttpRequest) -> HttpResponse {
    let token = match caller(&rt, &req).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    match rt.permissions(&token).await {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(failure) => failure_response(
            &failure,
            disclosure_for(&rt.package, token.caller_class.as_deref()),
        ),
    }
}

async fn invoke_capability(
    rt: web::Data<Runtime>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Result<Bytes, actix_web::Error>,
) -> HttpResponse {
    // The bearer and its delegation chain in one read: the invocation needs both.
    let Some(jwt) = bearer(&req) else {
        return failure_response(
            &missing_credentials("a delegation token (JWT) from POST /anip/tokens"),
            rt.default_disclosure(),
        );
    };
    let (token, chain) = match rt.resolve_bearer_chain(&jwt).await {
        Ok(resolved) => resolved,
        Err(failure) => return failure_response(&failure, rt.default_disclosure()),
    };
    let level = disclosure_for(&rt.package, token.caller_class.as_deref());
    let request = match read_body(body)
        .and_then(|body| parse_json::<Value>(&body))
        .and_then(InvokeRequest::parse)
    {
        Ok(request) => request,
        Err(failure) => {
            let mut body = failure.body(level);
            body["invocation_id"] = json!(crate::ids::invocation_id());
            return HttpResponse::build(failure.status()).json(body);
        }
    };
    let capability = path.into_inner();
    let streams = request.stream
        && rt
            .package
            .declaration(&capability)
            .is_some_and(|d| d.supports_streaming());
    if !streams {
        let outcome = invoke::invoke_resolved(&rt, &token, chain, &capability, request, None).await;
        return HttpResponse::build(outcome.status).json(outcome.body);
    }
    let (sink, progress) = mpsc::unbounded_channel::<Value>();
    let runtime = rt.get_ref().clone();
    // The invocation runs to completion even if the client disconnects (§6.6 sink isolation).
    let task = actix_web::rt::spawn(async move {
        invoke::invoke_resolved(&runtime, &token, chain, &capability, request, Some(sink)).await
    });
    let events = stream::unfold((progress, Some(task)), |(mut progress, task)| async move {
        if let Some(event) = progress.recv().await {
            return Some((
                Ok::<_, actix_web::Error>(sse("progress", &event)),
                (progress, task),
            ));
        }
        let task = task?;
        let frame = match task.await {
            Ok(outcome) => {
                let mut body = serde_json::to_value(&outcome.body).unwrap_or(Value::Null);
                body["timestamp"] = json!(rfc3339(OffsetDateTime::now_utc()));
                let name = if body["success"] == json!(true) {
                    "completed"
                } else {
                    "failed"
                };
                sse(name, &body)
            }
            Err(_) => sse(
                "failed",
                &json!({"success": false, "timestamp": rfc3339(OffsetDateTime::now_utc()),
                        "failure": Failure::new("internal_error", "Internal error", Action::ContactServiceOwner).to_json(DisclosureLevel::Redacted)}),
            ),
        };
        Some((Ok(frame), (progress, None)))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(events)
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Query filters of `POST /anip/audit`.
#[derive(Deserialize)]
struct AuditQuery {
    capability: Option<String>,
    since: Option<String>,
    invocation_id: Option<String>,
    client_reference_id: Option<String>,
    task_id: Option<String>,
    parent_invocation_id: Option<String>,
    event_class: Option<String>,
    limit: Option<i64>,
}

async fn audit(rt: web::Data<Runtime>, req: HttpRequest) -> HttpResponse {
    let token = match caller(&rt, &req).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let level = disclosure_for(&rt.package, token.caller_class.as_deref());
    let query = match web::Query::<AuditQuery>::from_query(req.query_string()) {
        Ok(query) => query.into_inner(),
        Err(_) => {
            let failure = Failure::new(
                "invalid_parameters",
                "the audit filters are not valid",
                Action::RevalidateState,
            )
            .retry(false);
            return failure_response(&failure, level);
        }
    };
    let since = match query
        .since
        .as_deref()
        .map(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339))
    {
        None => None,
        Some(Ok(since)) => Some(since),
        Some(Err(_)) => {
            let failure = Failure::new(
                "invalid_parameters",
                "since must be an RFC 3339 time",
                Action::RevalidateState,
            )
            .retry(false);
            return failure_response(&failure, level);
        }
    };
    // Above the maximum is clamped to it (the documented max 1000); below one names nothing.
    if query.limit.is_some_and(|limit| limit < 1) {
        return failure_response(
            &invalid_parameters("limit must be at least 1 (at most 1000 entries are returned)"),
            level,
        );
    }
    let filters = db::audit::Query {
        root_principal: String::new(),
        capability: query.capability,
        since,
        invocation_id: query.invocation_id,
        client_reference_id: query.client_reference_id,
        task_id: query.task_id,
        parent_invocation_id: query.parent_invocation_id,
        event_class: query.event_class,
        limit: query.limit.unwrap_or(50),
    };
    match rt.query_audit(&token, filters, query.since).await {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(failure) => failure_response(&failure, level),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

async fn list_checkpoints(rt: web::Data<Runtime>, req: HttpRequest) -> HttpResponse {
    let level = rt.default_disclosure();
    let Ok(query) = web::Query::<ListQuery>::from_query(req.query_string()) else {
        return failure_response(&invalid_parameters("limit must be an integer"), level);
    };
    // As for the audit: above the maximum (100) is clamped, below one is refused.
    if query.limit.is_some_and(|limit| limit < 1) {
        return failure_response(
            &invalid_parameters("limit must be at least 1 (at most 100 checkpoints are returned)"),
            level,
        );
    }
    let limit = query.limit.unwrap_or(10).min(100);
    match db::checkpoints::list(&rt.pool, limit).await {
        Ok(list) => HttpResponse::Ok()
            .json(json!({"checkpoints": list.iter().map(checkpoint::summary).collect::<Vec<_>>()})),
        Err(error) => failure_response(&storage_failure(&error), rt.default_disclosure()),
    }
}

#[derive(Deserialize)]
struct DetailQuery {
    include_proof: Option<String>,
    leaf_index: Option<u64>,
    consistency_from: Option<String>,
}

async fn get_checkpoint(
    rt: web::Data<Runtime>,
    path: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let level = rt.default_disclosure();
    let not_found = |id: &str| {
        failure_response(
            &Failure::new(
                "not_found",
                format!("checkpoint {id} does not exist"),
                Action::RevalidateState,
            )
            .retry(false)
            .requires("a checkpoint id from GET /anip/checkpoints"),
            level,
        )
    };
    let Ok(query) = web::Query::<DetailQuery>::from_query(req.query_string()) else {
        return failure_response(
            &Failure::new(
                "invalid_parameters",
                "the proof parameters are not valid",
                Action::RevalidateState,
            )
            .retry(false),
            level,
        );
    };
    let include_proof = query
        .include_proof
        .as_deref()
        .is_some_and(|v| v == "true" || v == "1");
    // SPEC.md §6.7: leaf_index is required when include_proof is true.
    if include_proof && query.leaf_index.is_none() {
        return failure_response(
            &invalid_parameters("leaf_index is required with include_proof=true")
                .requires("leaf_index=<zero-based index of the audit entry>"),
            level,
        );
    }
    let stored = match db::checkpoints::get(&rt.pool, &path).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return not_found(&path),
        Err(error) => return failure_response(&storage_failure(&error), level),
    };
    let consistency_from = match &query.consistency_from {
        None => None,
        Some(id) => match db::checkpoints::get(&rt.pool, id).await {
            Ok(Some(old)) => Some(old),
            Ok(None) => return not_found(id),
            Err(error) => return failure_response(&storage_failure(&error), level),
        },
    };
    let request = ProofRequest {
        include_proof,
        leaf_index: query.leaf_index,
        consistency_from,
    };
    match checkpoint::detail(&rt.pool, &stored, &request).await {
        Ok(body) => {
            let mut response = HttpResponse::Ok();
            if let Ok(signature) = HeaderValue::from_str(&stored.signature) {
                response.insert_header(("X-ANIP-Signature", signature));
            }
            response.json(body)
        }
        Err(error) => failure_response(&storage_failure(&error), level),
    }
}

async fn approval_grants(
    rt: web::Data<Runtime>,
    req: HttpRequest,
    body: Result<Bytes, actix_web::Error>,
) -> HttpResponse {
    let token = match caller(&rt, &req).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let level = disclosure_for(&rt.package, token.caller_class.as_deref());
    let request = match read_body(body).and_then(|body| parse_json(&body)) {
        Ok(request) => request,
        Err(failure) => return failure_response(&failure, level),
    };
    match rt.issue_grant(&token, request).await {
        Ok(grant) => HttpResponse::Ok().json(grant),
        Err(failure) => failure_response(&failure, level),
    }
}
