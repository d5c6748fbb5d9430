//! The one error type of the HTTP layer and its mapping to status codes and `{"error": ...}`
//! bodies. Database failures are always 503 `registry storage unavailable`: never a false 404
//! or an empty list.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

use crate::ids::IdError;
use crate::model::Lifecycle;
use crate::store::StoreError;
use crate::validate::Invalid;

/// The message of every storage failure.
pub const STORAGE_UNAVAILABLE: &str = "registry storage unavailable";

/// What a 410 says.
#[derive(Debug)]
pub struct Gone {
    pub message: &'static str,
    pub lifecycle: Lifecycle,
    /// Extra body fields (upstream's record 410 names the package and version).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// A 410 for a package whose lifecycle hides it.
    pub fn gone(message: &'static str, lifecycle: Lifecycle, extra: Map<String, Value>) -> Self {
        ApiError::Gone(Box::new(Gone {
            message,
            lifecycle,
            extra,
        }))
    }
}

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request: unreadable body, missing fields.
    #[error("{0}")]
    BadRequest(String),
    /// An id or version that does not parse.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// Content that failed a publish rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Valid credentials that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here.
    #[error("{0}")]
    NotFound(&'static str),
    /// Already exists.
    #[error("{0}")]
    Conflict(String),
    /// The package version exists but its lifecycle hides it.
    #[error("{}", .0.message)]
    Gone(Box<Gone>),
    /// The body exceeds the route's limit.
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// The database failed or is unreachable.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// A bug or an unexpected condition; details are logged, not returned.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The JSON body.
    fn body(&self) -> Value {
        match self {
            ApiError::Invalid(invalid) => json!({"error": invalid.message, "field": invalid.field}),
            ApiError::InvalidId(error) => json!({"error": error.to_string(), "field": error.field}),
            ApiError::Gone(gone) => {
                let mut body = Map::new();
                body.insert("error".into(), Value::from(gone.message));
                body.extend(gone.extra.clone());
                body.insert("lifecycle".into(), json!(gone.lifecycle));
                Value::Object(body)
            }
            ApiError::Storage(_) => json!({"error": STORAGE_UNAVAILABLE}),
            ApiError::Internal(_) => json!({"error": "internal error"}),
            other => json!({"error": other.to_string()}),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidId(_) | ApiError::Invalid(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Storage(error) => {
                tracing::warn!(event = "registry_storage_error", error = %error, "registry storage unavailable");
            }
            ApiError::Internal(detail) => {
                tracing::error!(event = "registry_internal_error", error = %detail, "internal error");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Storage(_)) {
            // Tell well-behaved clients and load balancers to come back shortly.
            response.insert_header(("Retry-After", "5"));
        }
        response.json(self.body())
    }
}
