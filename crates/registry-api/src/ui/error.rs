//! The UI's error type: every failure renders as an HTML page (the API's errors are JSON).
//! Like the API, a database failure is a 503, never a false "not found".

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::layout;
use crate::store::StoreError;

/// What a page handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Nothing here; the sentence says what was looked for.
    #[error("{0}")]
    NotFound(String),
    /// A query parameter the page cannot use.
    #[error("{0}")]
    BadRequest(String),
    /// The database failed or is unreachable.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// A bug or an unexpected condition; details are logged, not shown.
    #[error("{0}")]
    Internal(String),
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let page = match self {
            UiError::NotFound(what) => layout::error_page(status, "Not found", what),
            UiError::BadRequest(why) => layout::error_page(status, "Bad request", why),
            UiError::Storage(error) => {
                tracing::warn!(event = "registry_storage_error", error = %error, "registry storage unavailable");
                layout::error_page(
                    status,
                    "Temporarily unavailable",
                    "The registry cannot reach its storage right now. Please try again shortly.",
                )
            }
            UiError::Internal(detail) => {
                tracing::error!(event = "registry_internal_error", error = %detail, "internal error");
                layout::error_page(status, "Something went wrong", "The error has been logged.")
            }
        };
        let mut response = layout::respond(status, page);
        if matches!(self, UiError::Storage(_)) {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("5"),
            );
        }
        response
    }
}
