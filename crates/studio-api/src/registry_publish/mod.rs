//! The seam between Studio and a Registry.
//!
//! Studio talks to a Registry only through this module: [`RegistryClient`] forwards
//! publications and templates over HTTP and reads templates and keys, and [`trust::judge`]
//! decides whether what came back can be trusted. A shared Registry client and
//! receipt-verification library is planned; when it exists, `RegistryClient` and
//! `trust::judge` become thin adapters over it and nothing else in Studio changes. Receipt
//! signatures themselves are checked by `signing` (the platform's one verifier), never here.

pub mod trust;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signing::secret::Secret;

/// How long one Registry call may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Largest Registry answer accepted (a publication echoes the package; 16 MiB is generous).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// What can go wrong talking to a Registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No Registry URL is configured.
    #[error("no Registry is configured (STUDIO_REGISTRY_URL)")]
    NotConfigured,
    /// The Registry could not be reached (connection refused, DNS, timeout).
    #[error("the Registry at {url} could not be reached: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
    /// The Registry answered with an error status.
    #[error("{message}")]
    Status {
        /// The Registry's status.
        status: StatusCode,
        /// The Registry's error text (its `error` member, or the raw body).
        message: String,
    },
    /// The Registry answered something that is not the expected JSON.
    #[error("the Registry answered with something Studio cannot read: {0}")]
    InvalidResponse(String),
}

impl From<RegistryError> for crate::error::Error {
    fn from(error: RegistryError) -> Self {
        use crate::error::Error;
        match error {
            RegistryError::NotConfigured => Error::BadRequest(
                "No Registry is configured; set STUDIO_REGISTRY_URL or the Registry URL in settings.".into(),
            ),
            RegistryError::Status { status, message } => Error::Upstream {
                status: actix_web::http::StatusCode::from_u16(status.as_u16())
                    .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
                detail: message,
            },
            other @ (RegistryError::Unreachable { .. } | RegistryError::InvalidResponse(_)) => {
                Error::BadGateway(other.to_string())
            }
        }
    }
}

/// An HTTP client for one Registry API base (`…/registry-api/v1`).
#[derive(Clone, Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
}

impl Default for RegistryClient {
    fn default() -> Self {
        Self::new()
    }
}

impl RegistryClient {
    /// A client with Studio's timeouts.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("anip-studio/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        RegistryClient { http }
    }

    async fn read(
        url: &str,
        response: reqwest::Response,
    ) -> Result<(StatusCode, Value), RegistryError> {
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(RegistryError::InvalidResponse(
                "the answer is too large".into(),
            ));
        }
        if !status.is_success() {
            let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
            let message = parsed
                .as_ref()
                .and_then(|v| v.get("error").or_else(|| v.get("detail")))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(2_000)
                        .collect()
                });
            return Err(RegistryError::Status { status, message });
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::InvalidResponse(format!("not JSON ({e})")))?;
        Ok((status, value))
    }

    fn unreachable(url: &str, error: reqwest::Error) -> RegistryError {
        // reqwest's message names the URL, never headers; the token is not in it.
        RegistryError::Unreachable {
            url: url.to_owned(),
            reason: if error.is_timeout() {
                "timed out".to_owned()
            } else if error.is_connect() {
                "connection failed".to_owned()
            } else {
                error.to_string()
            },
        }
    }

    /// `POST {base}/{path}` with the publish token; the Registry's JSON answer.
    pub async fn post(
        &self,
        base: &str,
        path: &str,
        token: &Secret,
        body: &Value,
    ) -> Result<(StatusCode, Value), RegistryError> {
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .bearer_auth(token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| Self::unreachable(&url, e))?;
        Self::read(&url, response).await
    }

    /// `GET {base}/{path}`; the Registry's JSON answer.
    pub async fn get(&self, base: &str, path: &str) -> Result<Value, RegistryError> {
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let response = self
            .http
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| Self::unreachable(&url, e))?;
        Ok(Self::read(&url, response).await?.1)
    }

    /// Publishes a package (`POST publications`).
    pub async fn publish_package(
        &self,
        base: &str,
        token: &Secret,
        request: &Value,
    ) -> Result<(StatusCode, Value), RegistryError> {
        self.post(base, "publications", token, request).await
    }

    /// Publishes a starter template (`POST templates`).
    pub async fn publish_template(
        &self,
        base: &str,
        token: &Secret,
        request: &Value,
    ) -> Result<(StatusCode, Value), RegistryError> {
        self.post(base, "templates", token, request).await
    }

    /// The Registry's signing keys (`GET keys`).
    pub async fn keys(&self, base: &str) -> Result<Value, RegistryError> {
        self.get(base, "keys").await
    }

    /// The Registry's templates (`GET templates`).
    pub async fn templates(&self, base: &str) -> Result<Value, RegistryError> {
        self.get(base, "templates").await
    }
}
