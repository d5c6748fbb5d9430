//! The one error type of this crate.

use std::path::PathBuf;

use serde_json::Value;

/// Everything that can go wrong talking to a Registry or reading and writing a bundle.
///
/// A failed *verification* is not an error: it is a [`crate::VerificationReport`] whose
/// [`ok`](crate::VerificationReport::ok) is false. Errors are for what stops verification from
/// running at all. Messages never contain the bearer token (text a Registry sent back has it
/// replaced by `[redacted]`), nor the userinfo or query of a URL ([`crate::redact_url`]).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The base URL is not an absolute `http`/`https` URL.
    #[error("invalid registry URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given, with its userinfo and query removed ([`crate::redact_url`]).
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An argument cannot be sent (an empty id, an id that is a `.`/`..` path segment).
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A package reference is not `ID@VERSION`.
    #[error("invalid package reference {0:?}: expected package_id@package_version")]
    InvalidPackageRef(String),

    /// The request did not get an HTTP response (connection refused, DNS, TLS, timeout). The
    /// cause is the error's `source()` (without its URL: `url` is the redacted one).
    #[error("request to {url} failed")]
    Transport {
        /// The URL that was requested.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },

    /// The Registry answered with a non-success status. `message` is its `{"error": ...}`
    /// text when it sent one, else the start of the body.
    #[error("registry answered {status} for {url}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The URL that was requested.
        url: String,
        /// The registry's error message.
        message: String,
        /// The whole body when it was JSON (e.g. a 410 carries the package's `lifecycle`).
        body: Option<Value>,
    },

    /// The Registry answered with a redirect. Redirects are never followed: a request body or
    /// a token must not travel to a host the user did not name, and keys must come from the
    /// registry that was asked.
    #[error(
        "registry answered {status} for {url}, redirecting to {location}: redirects are not \
         followed; if that is the registry, use its URL directly"
    )]
    Redirect {
        /// The HTTP status code (3xx).
        status: u16,
        /// The URL that was requested.
        url: String,
        /// The `Location` it pointed to (redacted; `(none)` when absent).
        location: String,
    },

    /// A response body was larger than the client accepts.
    #[error("response from {url} exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The URL that was requested.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },

    /// A response body is not the JSON the API promises.
    #[error("cannot decode the response from {url}: {reason}")]
    Decode {
        /// The URL that was requested.
        url: String,
        /// What did not parse.
        reason: String,
    },

    /// A bundle file is not an `anip-package-bundle/v1` document.
    #[error("invalid package bundle: {0}")]
    InvalidBundle(String),

    /// A file to read is not a regular file (a directory, a device, a FIFO, a socket).
    #[error("cannot read {}: it is {kind}, not a regular file", path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
        /// What it is instead, e.g. `a character device`.
        kind: &'static str,
    },

    /// A file to read is larger than the limit.
    #[error("cannot read {}: the file exceeds {limit} bytes", path.display())]
    FileTooLarge {
        /// The path as given.
        path: PathBuf,
        /// The limit in bytes.
        limit: usize,
    },

    /// Reading or writing a file failed. The cause is the error's `source()`.
    #[error("{action} {}", path.display())]
    Io {
        /// `reading` or `writing`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// The HTTP status, when the Registry answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's `lifecycle` object from an error body (a 410 for a yanked or taken down
    /// package carries one).
    pub fn lifecycle(&self) -> Option<crate::Lifecycle> {
        match self {
            RegistryError::Status {
                body: Some(body), ..
            } => body
                .get("lifecycle")
                .and_then(|value| serde_json::from_value(value.clone()).ok()),
            _ => None,
        }
    }
}
