//! Calls an HTTP backend as a capability's binding describes, and maps the answer.

use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use serde_json::{json, Value};

use super::client::{BackendClient, Body, TransportError};
use super::mapping::{as_text, resolve, response_path};
use super::{BackendResult, CallContext, Payload};
use crate::contract::SideEffectType;
use crate::failure::{Action, Failure, RecoveryTarget};
use crate::package::{Connection, HttpBinding};

/// Largest backend response body read (bytes).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The `User-Agent` backends see.
const USER_AGENT_VALUE: &str = concat!("anip-runtime/", env!("CARGO_PKG_VERSION"));

fn invalid(detail: String) -> Failure {
    Failure::new("invalid_parameters", detail, Action::RevalidateState).retry(false)
}

/// Longest request URL sent to a backend (bytes). RFC 9110 §4.1 recommends that servers accept
/// at least 8,000 octets, and common servers and proxies refuse or drop longer request lines;
/// an input that would make a longer URL is refused as invalid rather than sent to fail as a
/// closed connection.
const MAX_URL: usize = 8000;

/// `base` parsed, remembered per thread: parsing (host normalization included) costs more than
/// the rest of building a request URL, and a runtime has a handful of connections.
fn base_url(base: &str) -> Option<url::Url> {
    thread_local! {
        static PARSED: std::cell::RefCell<std::collections::HashMap<String, url::Url>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    PARSED.with(|parsed| {
        let mut parsed = parsed.borrow_mut();
        if let Some(url) = parsed.get(base) {
            return Some(url.clone());
        }
        let url = url::Url::parse(base).ok()?;
        if parsed.len() >= 64 {
            parsed.clear();
        }
        parsed.insert(base.to_owned(), url.clone());
        Some(url)
    })
}

/// Builds the request URL: path template segments filled from the input (each percent-encoded
/// as one segment), then the query mapping.
fn build_url(
    connection: &Connection,
    binding: &HttpBinding,
    input: &Value,
    context: &Value,
) -> Result<url::Url, Failure> {
    let mut url = base_url(&connection.base_url).ok_or_else(|| {
        Failure::new(
            "backend_not_configured",
            "the backend URL is not valid",
            Action::ContactServiceOwner,
        )
    })?;
    {
        let mut segments = url.path_segments_mut().map_err(|_| {
            Failure::new(
                "backend_not_configured",
                "the backend URL cannot carry a path",
                Action::ContactServiceOwner,
            )
        })?;
        segments.pop_if_empty();
        for segment in binding.path_template.trim_start_matches('/').split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let value = super::mapping::follow(input, name)
                    .and_then(as_text)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        invalid(format!(
                            "input {name} is required (it is part of the backend path)"
                        ))
                    })?;
                segments.push(&value);
            } else if !segment.is_empty() {
                segments.push(segment);
            }
        }
    }
    for (name, template) in &binding.query {
        match resolve(template, input, context) {
            Some(Value::Array(items)) => {
                for item in items.iter().filter_map(as_text) {
                    url.query_pairs_mut().append_pair(name, &item);
                }
            }
            Some(value) => {
                if let Some(text) = as_text(&value) {
                    url.query_pairs_mut().append_pair(name, &text);
                }
            }
            None => {}
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    if url.as_str().len() > MAX_URL {
        return Err(invalid(format!(
            "the inputs are too long: the backend request URL would be {} bytes, at most {MAX_URL} are sent",
            url.as_str().len()
        )));
    }
    Ok(url)
}

/// Calls the backend. `side_effect` decides whether an unanswered write may be retried.
pub async fn call(
    client: &BackendClient,
    connection: &Connection,
    binding: &HttpBinding,
    input: &Value,
    ctx: &CallContext,
    side_effect: SideEffectType,
) -> Result<BackendResult, Failure> {
    let context = ctx.to_json();
    let url = build_url(connection, binding, input, &context)?;
    let not_configured = |detail: &str| {
        Failure::new(
            "backend_not_configured",
            detail.to_owned(),
            Action::ContactServiceOwner,
        )
    };
    let method = Method::from_bytes(binding.method.as_bytes())
        .map_err(|_| not_configured("the backend method is not valid"))?;
    let uri: Uri = url
        .as_str()
        .parse()
        .map_err(|_| not_configured("the backend URL is not valid"))?;
    let timeout = binding
        .timeout_ms
        .map_or(connection.timeout, Duration::from_millis);
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    for (name, template) in &binding.headers {
        if let Some(text) = resolve(template, input, &context)
            .as_ref()
            .and_then(as_text)
        {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| not_configured("a backend header name is not valid"))?;
            let value = HeaderValue::from_bytes(text.as_bytes()).map_err(|_| {
                invalid(format!(
                    "the input sent as the {name} header holds characters a header cannot carry"
                ))
            })?;
            headers.append(name, value);
        }
    }
    if let Some(header) = &binding.idempotency_header {
        let name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| not_configured("the idempotency header name is not valid"))?;
        let value = HeaderValue::from_bytes(ctx.idempotency_key().as_bytes()).map_err(|_| {
            invalid("client_reference_id holds characters a header cannot carry".to_owned())
        })?;
        headers.insert(name, value);
    }
    if let Ok(value) = HeaderValue::from_bytes(ctx.invocation_id.as_bytes()) {
        headers.insert("x-anip-invocation-id", value);
    }
    if let Some(credential) = &connection.credential {
        let name = HeaderName::from_bytes(credential.header.as_bytes())
            .map_err(|_| not_configured("the backend credential header name is not valid"))?;
        let mut value = HeaderValue::from_bytes(
            format!("{}{}", credential.prefix, credential.value.expose()).as_bytes(),
        )
        .map_err(|_| not_configured("the backend credential cannot be sent as a header"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let body = if method != Method::GET && method != Method::DELETE {
        let body = match &binding.body {
            None => input.clone(),
            Some(template) => resolve(template, input, &context).unwrap_or(Value::Null),
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    } else {
        Bytes::new()
    };
    let mut request = Request::new(Body::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let idempotent = side_effect == SideEffectType::Read || binding.idempotency_header.is_some();
    let started = std::time::Instant::now();
    let answer = client.send(request, timeout, MAX_BODY).await;
    metrics::histogram!("anip_runtime_backend_seconds", "connection" => connection.id.clone())
        .record(started.elapsed().as_secs_f64());
    let answer = answer.map_err(|error| transport_failure(error, idempotent, &connection.id))?;
    let status = answer.status;
    if status.is_success() && binding.response.passes_through() && !answer.body.is_empty() {
        if let Some(result) = Payload::verbatim(&answer.body) {
            return Ok(BackendResult {
                result,
                cost_actual: None,
            });
        }
    }
    let body: Value = if answer.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
    };
    if status.is_success() {
        if body.is_null() {
            return Err(Failure::new(
                "upstream_error",
                "the backend answered with something that is not JSON",
                Action::ContactServiceOwner,
            ));
        }
        return Ok(map_success(binding, body));
    }
    Err(map_error(binding, status.as_u16(), &body, idempotent))
}

fn transport_failure(error: TransportError, idempotent: bool, connection: &str) -> Failure {
    tracing::warn!(
        event = "backend_unreachable",
        connection,
        reason = error.label(),
        "backend call failed"
    );
    metrics::counter!(
        "anip_runtime_backend_failures_total",
        "connection" => connection.to_owned(),
        "reason" => error.label()
    )
    .increment(1);
    match error {
        TransportError::TooLarge => Failure::new(
            "upstream_error",
            "the backend answer is too large",
            Action::ContactServiceOwner,
        ),
        TransportError::Timeout if idempotent => Failure::new(
            "upstream_timeout",
            "the backend did not answer in time; the request is safe to repeat",
            Action::RetryNow,
        ),
        TransportError::Timeout => Failure::new(
            "upstream_timeout",
            "the backend did not answer in time; the outcome is unknown, check it before repeating the request",
            Action::RevalidateState,
        )
        .retry(false),
        // Nothing was sent, and repeating cannot help until the backend's certificate or the
        // runtime's trust (ANIP_RUNTIME_BACKEND_CA_FILE) changes.
        TransportError::Untrusted => Failure::new(
            "upstream_error",
            "the backend's TLS certificate is not trusted",
            Action::ContactServiceOwner,
        )
        .retry(false),
        // Nothing was sent: repeating is safe whatever the capability does.
        TransportError::Connect => Failure::new(
            "service_unavailable",
            "the backend cannot be reached",
            Action::WaitAndRetry,
        ),
        // Connected, then the connection ended without a complete answer (the backend closed
        // it, e.g. on a request it would not read): the backend failed, and a write's outcome
        // is unknown.
        TransportError::Incomplete if idempotent => Failure::new(
            "upstream_error",
            "the backend closed the connection without a complete answer; the request is safe to repeat",
            Action::WaitAndRetry,
        ),
        TransportError::Incomplete => Failure::new(
            "upstream_error",
            "the backend closed the connection without a complete answer; the outcome is unknown, check it before repeating the request",
            Action::RevalidateState,
        )
        .retry(false),
    }
}

fn map_success(binding: &HttpBinding, body: Value) -> BackendResult {
    let cost_actual = binding.response.cost_actual.as_ref().and_then(|cost| {
        let amount = response_path(&body, &cost.amount)?.as_f64()?;
        let currency = cost
            .currency
            .as_deref()
            .and_then(|p| response_path(&body, p))
            .and_then(Value::as_str);
        Some(json!({"financial": {"amount": amount, "currency": currency}}))
    });
    let result = match binding.response.result.as_deref() {
        None | Some("$") => body,
        Some(path) => response_path(&body, path).cloned().unwrap_or(Value::Null),
    };
    let result = if result.is_object() {
        result
    } else {
        json!({ "result": result })
    };
    BackendResult {
        result: Payload::Tree(result),
        cost_actual,
    }
}

fn map_error(binding: &HttpBinding, status: u16, body: &Value, idempotent: bool) -> Failure {
    let code = response_path(body, "$.error.code")
        .or_else(|| response_path(body, "$.code"))
        .and_then(Value::as_str);
    let mapping = binding
        .errors
        .iter()
        .find(|m| m.status == status && m.code.is_some() && m.code.as_deref() == code)
        .or_else(|| {
            binding
                .errors
                .iter()
                .find(|m| m.status == status && m.code.is_none())
        });
    if let Some(mapping) = mapping {
        let action = Action::parse(&mapping.action).unwrap_or(Action::ContactServiceOwner);
        let passed_on = mapping
            .detail_path
            .as_deref()
            .and_then(|p| response_path(body, p))
            .and_then(Value::as_str);
        let detail = match (passed_on, &mapping.detail) {
            (Some(text), _) => text.chars().take(300).collect(),
            (None, Some(detail)) => detail.clone(),
            (None, None) => format!("the backend refused the request (HTTP {status})"),
        };
        let mut failure = Failure::new(mapping.kind.clone(), detail, action);
        if let Some(retry) = mapping.retry {
            failure = failure.retry(retry);
        }
        if let Some(capability) = &mapping.recovery_capability {
            let kind = match action.recovery_class() {
                "refresh_then_retry" => "refresh",
                "redelegation_then_retry" => "redelegation",
                "terminal" => "escalation",
                _ => "revalidation",
            };
            failure = failure.recovery_target(RecoveryTarget {
                kind,
                target: Some(json!({"service": "self", "capability": capability})),
                continuity: "same_task",
                retry_after_target: true,
            });
        }
        return failure;
    }
    match status {
        400 | 422 => Failure::new(
            "invalid_parameters",
            format!("the backend rejected the parameters (HTTP {status})"),
            Action::RevalidateState,
        )
        .retry(false),
        404 => Failure::new(
            "not_found",
            "the backend does not know the referenced resource",
            Action::RevalidateState,
        )
        .retry(false),
        409 => Failure::new(
            "capability_unavailable",
            "the backend refused the request in its current state",
            Action::RevalidateState,
        )
        .retry(false),
        300..=399 => Failure::new(
            "upstream_error",
            format!("the backend answered with a redirect (HTTP {status}), which is not followed"),
            Action::ContactServiceOwner,
        ),
        429 => Failure::new(
            "rate_limited",
            "the backend is rate limiting requests",
            Action::WaitAndRetry,
        ),
        502..=504 => {
            let action = if idempotent {
                Action::WaitAndRetry
            } else {
                Action::RevalidateState
            };
            Failure::new(
                "service_unavailable",
                format!("the backend is unavailable (HTTP {status})"),
                action,
            )
            .retry(idempotent)
        }
        _ => Failure::new(
            "upstream_error",
            format!("the backend failed (HTTP {status})"),
            Action::ContactServiceOwner,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(value: Value) -> HttpBinding {
        serde_json::from_value(value).unwrap()
    }

    fn connection(base: &str) -> Connection {
        Connection {
            id: "c".into(),
            base_url: base.into(),
            timeout: Duration::from_secs(1),
            credential: None,
        }
    }

    #[test]
    fn urls_fill_and_encode_the_path_and_query() {
        let b = binding(
            json!({"connection_ref": "c", "path_template": "/bookings/{id}/cancel", "query": {"q": "$.input.q", "tag": "$.input.tags", "absent": "$.input.none"}}),
        );
        let input = json!({"id": "a b/c", "q": "x&y", "tags": ["t1", "t2"]});
        let url = build_url(&connection("http://h:1/api/"), &b, &input, &json!({})).unwrap();
        assert_eq!(
            url.as_str(),
            "http://h:1/api/bookings/a%20b%2Fc/cancel?q=x%26y&tag=t1&tag=t2"
        );
        let err = build_url(&connection("http://h:1"), &b, &json!({}), &json!({})).unwrap_err();
        assert_eq!(err.kind, "invalid_parameters");
        let long = json!({"id": "x", "q": "A".repeat(MAX_URL)});
        let err = build_url(&connection("http://h:1"), &b, &long, &json!({})).unwrap_err();
        assert_eq!(
            (err.kind.as_str(), err.status().as_u16()),
            ("invalid_parameters", 400)
        );
    }

    #[test]
    fn errors_map_by_status_and_code_and_default_safely() {
        let b = binding(
            json!({"connection_ref": "c", "path_template": "/x", "errors": [
                {"status": 409, "code": "sold_out", "type": "capability_unavailable", "action": "revalidate_state", "retry": false, "detail_path": "$.error.message", "recovery_capability": "search_flights"},
                {"status": 409, "type": "conflict", "action": "retry_now"}
            ]}),
        );
        let sold_out = map_error(
            &b,
            409,
            &json!({"error": {"code": "sold_out", "message": "no seats left"}}),
            false,
        );
        assert_eq!(
            (
                sold_out.kind.as_str(),
                sold_out.detail.as_str(),
                sold_out.retry
            ),
            ("capability_unavailable", "no seats left", false)
        );
        assert_eq!(
            sold_out.recovery_target.as_ref().unwrap().kind,
            "revalidation"
        );
        assert_eq!(map_error(&b, 409, &json!({}), false).kind, "conflict");
        let crash = map_error(&b, 500, &json!({"trace": "secret internals"}), true);
        assert_eq!(
            (crash.kind.as_str(), crash.retry),
            ("upstream_error", false)
        );
        assert!(!crash.detail.contains("secret"));
        assert_eq!(crash.status().as_u16(), 502);
        assert!(map_error(&b, 503, &json!({}), true).retry);
        assert!(!map_error(&b, 503, &json!({}), false).retry);
    }

    #[test]
    fn success_maps_result_and_cost() {
        let b = binding(
            json!({"connection_ref": "c", "path_template": "/x", "response": {"result": "$.booking", "cost_actual": {"amount": "$.booking.total", "currency": "$.booking.currency"}}}),
        );
        let out = map_success(
            &b,
            json!({"booking": {"id": "B1", "total": 420.0, "currency": "USD"}}),
        );
        assert_eq!(out.result.clone().into_value()["id"], "B1");
        assert_eq!(
            out.cost_actual.unwrap(),
            json!({"financial": {"amount": 420.0, "currency": "USD"}})
        );
        let list = map_success(
            &binding(json!({"connection_ref": "c", "path_template": "/x"})),
            json!([1]),
        );
        assert_eq!(list.result, Payload::Tree(json!({"result": [1]})));
    }
}
