//! Read-only mode: one guard in front of routing. With `STUDIO_READ_ONLY=1` every request
//! whose method is not GET, HEAD or OPTIONS is answered 403 `{"detail": reason}` before any
//! route is matched — unknown paths, PATCH, assistant calls, publication, generation and
//! imports included — except the pure validation POSTs in [`VALIDATION_POSTS`], which compute
//! an answer and write nothing.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use observability::ErrorStyle;

/// POST routes allowed in read-only mode: they validate or verify and never write. `{…}`
/// matches one path segment.
pub const VALIDATION_POSTS: &[&str] = &[
    "/api/validate/definition",
    "/api/validate/shape",
    "/api/projects/{project_id}/local-publications/{publication_id}/verify",
];

/// Whether `path` matches `pattern` segment by segment.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    pattern.len() == path.len()
        && pattern.iter().zip(&path).all(|(p, s)| {
            if p.starts_with('{') && p.ends_with('}') {
                !s.is_empty()
            } else {
                p == s
            }
        })
}

/// Whether read-only mode lets this request through.
pub fn allowed(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (*method == Method::POST && VALIDATION_POSTS.iter().any(|p| path_matches(p, path)))
}

/// The guard as actix middleware (`App::wrap(from_fn(...))`); `reason` is `None` when
/// Studio is writable.
pub async fn guard<B: MessageBody>(
    reason: Option<Arc<str>>,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if let Some(reason) = reason {
        if !allowed(req.method(), req.path()) {
            let response = ErrorStyle::Studio.response(StatusCode::FORBIDDEN, reason.as_ref());
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_and_validation_pass() {
        assert!(allowed(&Method::GET, "/api/projects"));
        assert!(allowed(&Method::HEAD, "/anything"));
        assert!(allowed(&Method::POST, "/api/validate/definition"));
        assert!(allowed(
            &Method::POST,
            "/api/projects/p1/local-publications/x/verify"
        ));
        assert!(!allowed(
            &Method::POST,
            "/api/projects/p1/local-publications"
        ));
        assert!(!allowed(
            &Method::POST,
            "/api/projects//local-publications/x/verify"
        ));
        assert!(!allowed(&Method::PUT, "/api/validate/definition"));
        assert!(!allowed(&Method::PATCH, "/api/projects"));
        assert!(!allowed(&Method::DELETE, "/no/such/path"));
        assert!(!allowed(
            &Method::from_bytes(b"PURGE").unwrap(),
            "/api/projects"
        ));
    }
}
