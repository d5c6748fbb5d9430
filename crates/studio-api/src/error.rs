//! The one error type of this crate, and its one mapping to HTTP: a status and
//! `{"detail": "..."}` (the FastAPI shape upstream Studio clients expect).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use observability::ErrorStyle;
use tokio_postgres::error::SqlState;

/// Everything a Studio operation can fail with. Messages are written for the person using
/// Studio: they say what is wrong and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request cannot be read (malformed JSON, a bad id, a missing setting the request
    /// depends on).
    #[error("{0}")]
    BadRequest(String),
    /// Refused by policy (read-only mode).
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request collides with what is stored: a duplicate id, a stale revision, an
    /// immutable record.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The content cannot be handled in this form (e.g. previewing a binary document).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request is well-formed but breaks a rule (publication guard, shape integrity, ...).
    #[error("{0}")]
    Unprocessable(String),
    /// An upstream service (the Registry) answered with an error; passed through as is.
    #[error("{detail}")]
    Upstream {
        /// The upstream status.
        status: StatusCode,
        /// What the upstream service said.
        detail: String,
    },
    /// An upstream service could not be reached or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    /// The database is unreachable or timed out.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected database error; the detail is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `404` naming the kind of thing and its id.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Error::NotFound(format!("{kind} {id:?} not found"))
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Upstream { status, .. } => *status,
            Error::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told. Internal errors say nothing about internals.
    pub fn detail(&self) -> String {
        match self {
            Error::Internal(_) => "Internal error; the server log has the details.".to_owned(),
            Error::Unavailable(_) => {
                "The Studio database is unavailable; try again shortly.".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Internal(message) => {
                tracing::error!(event = "studio_internal_error", error = %message, "internal error");
            }
            Error::Unavailable(message) => {
                tracing::warn!(event = "studio_database_unavailable", error = %message, "database unavailable");
            }
            _ => {}
        }
        ErrorStyle::Studio.response(self.status(), self.detail())
    }
}

/// Names the record a unique violation collided with, from the table and Postgres's
/// `Key (id)=(value) already exists.` detail: "project \"clone1\" already exists."
fn duplicate(table: Option<&str>, detail: Option<&str>) -> String {
    let noun = match table.unwrap_or_default() {
        "workspaces" => "workspace",
        "projects" => "project",
        "workspace_connections" => "connection",
        "requirements_sets" => "requirements set",
        "scenarios" => "scenario",
        "service_metadata_artifacts" => "service metadata record",
        "integration_discovery_records" => "discovery record",
        "pm_artifacts" => "product or developer record",
        "proposals" => "proposal",
        "shapes" => "shape",
        "evaluations" => "evaluation",
        "data_access_projects" | "application_integration_projects" => "saved design",
        "project_documents" => "document",
        "local_publications" => "local publication",
        _ => "record",
    };
    let value = detail
        .and_then(|d| d.strip_prefix("Key ("))
        .and_then(|d| d.split_once(")=("))
        .and_then(|(_, rest)| rest.rsplit_once(") already exists"))
        .map(|(value, _)| value);
    match value {
        Some(value) => format!("A {noun} with id {value:?} already exists."),
        None => format!("A {noun} with this id already exists."),
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        let Some(db) = error.as_db_error() else {
            // No server answer: the connection broke or could not be made.
            return Error::Unavailable(error.to_string());
        };
        let code = db.code();
        let constraint = db.constraint().unwrap_or_default();
        if *code == SqlState::UNIQUE_VIOLATION {
            Error::Conflict(match constraint {
                "local_publications_one_version" => {
                    "This package version is already published locally for this project; \
                     local publications are immutable, so choose a new version."
                        .to_owned()
                }
                "pm_artifacts_one_revision_number" => {
                    "Another save created this revision first; reload and save again.".to_owned()
                }
                "requirements_sets_one_primary" => {
                    "The project already has a primary requirements set.".to_owned()
                }
                _ => duplicate(db.table(), db.detail()),
            })
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            Error::Conflict(format!(
                "The change conflicts with related records ({}).",
                db.detail().unwrap_or(db.message())
            ))
        } else if *code == SqlState::CHECK_VIOLATION {
            match constraint {
                "studio_revision_immutable" => {
                    Error::Conflict("Frozen revisions are immutable.".to_owned())
                }
                "studio_publication_immutable" => {
                    Error::Conflict("Local publications are immutable.".to_owned())
                }
                other => Error::Unprocessable(format!("The record violates the rule {other}.")),
            }
        } else if *code == SqlState::UNTRANSLATABLE_CHARACTER
            || *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
        {
            Error::Unprocessable("Text must not contain NUL characters.".to_owned())
        } else if *code == SqlState::QUERY_CANCELED
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            Error::Unavailable(db.message().to_owned())
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE
            || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        {
            Error::Forbidden("This Studio database does not accept changes.".to_owned())
        } else {
            Error::Internal(format!("{}: {}", code.code(), db.message()))
        }
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl From<crate::ids::IdError> for Error {
    fn from(error: crate::ids::IdError) -> Self {
        Error::BadRequest(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let error = Error::Internal("password=hunter2".into());
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.detail().contains("hunter2"));
    }

    #[test]
    fn upstream_status_passes_through() {
        let error = Error::Upstream {
            status: StatusCode::CONFLICT,
            detail: "exists".into(),
        };
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert_eq!(error.detail(), "exists");
    }
}
