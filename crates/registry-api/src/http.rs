//! Request and response plumbing shared by the handlers: bounded body reading with JSON
//! 400/413 errors, conditional requests and cache headers.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Limit of small JSON bodies (admin and self-service requests).
pub const SMALL_BODY_LIMIT: usize = 32 * 1024;

/// Reads the body, refusing (413) anything over `limit` bytes, by `Content-Length` before
/// reading when the client announces it.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::with_capacity(
        announced.map_or(8 * 1024, |n| usize::try_from(n).unwrap_or(limit)),
    );
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON request body, which is always an object, strictly: one value, nothing after
/// it (upstream's decoder accepted trailing garbage). An array, string, number or `null` is a
/// 400 saying so; serde would otherwise read an array positionally into the request struct and
/// complain about the wrong thing. The check looks at the first non-whitespace byte only, so
/// a several-MiB publish body is still parsed once.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    // The bytes that start a JSON value other than an object; anything else is malformed and
    // left to serde's description.
    if first.is_some_and(|b| matches!(b, b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')) {
        return Err(ApiError::BadRequest(NOT_AN_OBJECT.to_owned()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(describe_json_error(&e)))
}

/// The error of a request body that is JSON-like but not an object.
pub const NOT_AN_OBJECT: &str = "request body must be a JSON object";

/// Describes a JSON error without echoing the input (which may hold secrets and is logged).
pub fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Syntax => "malformed JSON or trailing data".to_owned(),
        Category::Eof => "unexpected end of input".to_owned(),
        Category::Io => "unreadable input".to_owned(),
        Category::Data => {
            // serde's data errors read `invalid type: string "...", expected a map` or
            // "missing field `x`"; keep only the parts that come from the schema.
            let text = error.to_string();
            let text = text.split(" at line ").next().unwrap_or_default();
            if let Some(expected) = text.split(", expected ").nth(1) {
                format!("wrong type, expected {expected}")
            } else if text.starts_with("missing field") {
                text.to_owned()
            } else {
                "unexpected value".to_owned()
            }
        }
    };
    format!(
        "invalid request body: {what} at line {} column {}",
        error.line(),
        error.column()
    )
}

/// Reads and parses a small JSON body.
pub async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(req, payload, SMALL_BODY_LIMIT).await?;
    parse_json(&body)
}

/// The `If-None-Match` header, if any.
pub fn if_none_match(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
}

/// A JSON response from pre-rendered bytes.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body)
}

/// A 200 JSON response carrying its validator and caching policy; the caller adds any other
/// header and the body.
pub fn json_ok(etag: String, cache_control: &'static str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control));
    response
}

/// `Content-Disposition: attachment` naming the file `{id}-{version}{suffix}`, both parts
/// sanitized.
pub fn attachment(id: &str, version: &str, suffix: &str) -> (header::HeaderName, String) {
    (
        header::CONTENT_DISPOSITION,
        format!(
            "attachment; filename=\"{}-{}{suffix}\"",
            sanitize_filename(id),
            sanitize_filename(version)
        ),
    )
}

/// Upstream's `sanitizeDownloadFilename`.
pub fn sanitize_filename(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return "package".into();
    }
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `Cache-Control` of immutable content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of views that include mutable fields (download count, lifecycle).
pub const SHORT_LIVED: &str = "public, max-age=30";
/// `Cache-Control` of authenticated or private responses.
pub const NO_STORE: &str = "no-store";

/// `304 Not Modified` with the validator and caching headers of the full response.
pub fn not_modified(etag: &str, cache_control: &'static str) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, etag.to_owned()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .finish()
}

/// The request's query parameters as pairs (unknown keys ignored by callers).
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

/// A query parameter.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Parses `limit`/`offset`: defaults, bounds, and 400 naming the parameter on garbage.
pub fn paging(
    req: &HttpRequest,
    default_limit: i64,
    max_limit: i64,
) -> Result<(i64, i64), ApiError> {
    let parse = |name: &'static str, default: i64| -> Result<i64, ApiError> {
        match query_param(req, name).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} must be a non-negative integer"))
                }),
        }
    };
    let limit = parse("limit", default_limit)?;
    let limit = if limit == 0 {
        default_limit
    } else {
        limit.min(max_limit)
    };
    let offset = parse("offset", 0)?.min(1_000_000_000);
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_do_not_echo_input() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[allow(dead_code)]
            manifest: std::collections::BTreeMap<String, String>,
        }
        let cases: [(&[u8], &str); 4] = [
            (
                br#"{"manifest": "ghp_supersecret"}"#,
                "wrong type, expected a map",
            ),
            (
                br#"{"manifest": {}} trailing-secret"#,
                "malformed JSON or trailing data",
            ),
            (br#"{"manifest": "#, "unexpected end of input"),
            (br#"{}"#, "missing field `manifest`"),
        ];
        for (input, expected) in cases {
            let error = serde_json::from_slice::<Body>(input).unwrap_err();
            let message = describe_json_error(&error);
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename("acme/tools"), "acme-tools");
        assert_eq!(sanitize_filename(" "), "package");
        assert_eq!(sanitize_filename("a\"b"), "a-b");
        assert_eq!(
            attachment("acme/tools", "1.0.0", ".anip.lock.json").1,
            "attachment; filename=\"acme-tools-1.0.0.anip.lock.json\""
        );
    }
}
