//! The seam between Studio and a Registry.
//!
//! HTTP goes through [`registry_client::RegistryClient`] (the platform's one Registry client)
//! and the trust verdict on what a Registry answered is [`registry_client::verify_package`]
//! (the platform's one package verifier). This module only builds the client for the
//! configured URL, maps its errors to Studio's, and turns a verification report into the
//! [`TrustVerdict`] Studio records and shows: the report's named checks, unchanged.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use registry_client::{
    PackageRecord, PackageRef, Receipt, RegistryClient, RegistryError, RegistryKeys, SigningMode,
    VerificationInput, VerifyPolicy,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signing::Secret;
use utoipa::ToSchema;

use crate::error::Error;
use crate::rules::field;

/// How long one Registry call may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting to a Registry may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest Registry answer accepted (a publication echoes the package; 16 MiB is generous).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Registry clients for the configured Registry. The URL can change at run time (it is a
/// setting the environment may leave open), the token cannot (environment only): the client
/// of the URL last used is kept, so its connection pool is reused across requests.
#[derive(Clone, Debug, Default)]
pub struct Registries {
    token: Option<Secret>,
    cached: Arc<Mutex<Option<RegistryClient>>>,
}

impl Registries {
    /// Clients that send `token` (the publish token) when one is configured.
    pub fn new(token: Option<Secret>) -> Self {
        Registries {
            token,
            cached: Arc::default(),
        }
    }

    /// The client for `url` (`None`: no Registry is configured, 400).
    pub fn client(&self, url: Option<&str>) -> Result<RegistryClient, Error> {
        let url = url.ok_or_else(|| {
            Error::BadRequest(if self.token.is_some() {
                // The token is only ever sent to a URL the environment names (settings).
                "No Registry is configured; STUDIO_REGISTRY_PUBLISH_TOKEN is set, so set STUDIO_REGISTRY_URL too."
                    .into()
            } else {
                "No Registry is configured; set STUDIO_REGISTRY_URL or the Registry URL in settings."
                    .into()
            })
        })?;
        let api_base = registry_client::api_base_url(url)?;
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = cached.as_ref().filter(|c| c.api_base() == api_base) {
            return Ok(client.clone());
        }
        let mut builder = RegistryClient::builder(api_base)
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .max_response_bytes(MAX_RESPONSE_BYTES);
        if let Some(token) = &self.token {
            builder = builder.token(token.clone());
        }
        let client = builder.build()?;
        *cached = Some(client.clone());
        Ok(client)
    }
}

/// Registry errors as Studio answers them: the Registry's own error statuses pass through with
/// its message; a Registry that cannot be reached or answers nonsense is a 502.
impl From<RegistryError> for Error {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Status {
                status, message, ..
            } => Error::Upstream {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                detail: message,
            },
            RegistryError::InvalidBaseUrl { .. } => Error::BadRequest(format!(
                "The configured Registry URL cannot be used ({error}); fix STUDIO_REGISTRY_URL or the Registry URL in settings."
            )),
            RegistryError::InvalidArgument { .. } | RegistryError::InvalidPackageRef(_) => {
                Error::BadRequest(error.to_string())
            }
            RegistryError::Transport { url, source } => {
                // reqwest's message names the URL, never headers: the token is not in it.
                let reason = if source.is_timeout() {
                    "timed out".to_owned()
                } else if source.is_connect() {
                    "connection failed".to_owned()
                } else {
                    source.to_string()
                };
                Error::BadGateway(format!(
                    "The Registry at {url} could not be reached: {reason}"
                ))
            }
            other => Error::BadGateway(format!(
                "The Registry answered with something Studio cannot read: {other}"
            )),
        }
    }
}

/// Whether an error means the Registry could not be used at all (as opposed to answering with
/// an error status of its own).
pub fn is_unavailable(error: &RegistryError) -> bool {
    error.status().is_none()
}

/// What Studio requires of a Registry (from the environment or settings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustPolicy {
    /// `dev` or `production`; unset accepts either.
    pub required_mode: Option<String>,
    /// The only receipt key id trusted; unset accepts any advertised key.
    pub trusted_key_id: Option<String>,
}

impl TrustPolicy {
    /// The verifier's policy. A mode that is not `dev` or `production` cannot be stored or
    /// configured; should one appear anyway, it is an error, never a weaker policy.
    pub fn verify_policy(&self) -> Result<VerifyPolicy, String> {
        let required_mode = self
            .required_mode
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::parse::<SigningMode>)
            .transpose()?;
        Ok(VerifyPolicy {
            required_mode,
            trusted_key_id: self
                .trusted_key_id
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
            ..VerifyPolicy::default()
        })
    }
}

/// `verified` or `untrusted`.
pub const VERIFIED: &str = "verified";
/// See [`VERIFIED`].
pub const UNTRUSTED: &str = "untrusted";

/// One named check of the verification report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustCheck {
    /// The verifier's check name, e.g. `signature` or `required_mode`.
    pub name: String,
    /// `pass`, `warn`, `skip` or `fail`.
    pub status: String,
    /// Why, in a sentence.
    #[serde(alias = "detail")]
    pub reason: String,
}

/// The verdict on a publication, as recorded and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustVerdict {
    /// `verified` (no check failed) or `untrusted`.
    pub verdict: String,
    /// A one-line explanation for people.
    pub summary: String,
    /// The Registry's reported signing mode.
    pub registry_signing_mode: String,
    /// The key id that signed the receipt.
    pub receipt_key_id: String,
    /// `current` or `legacy` when the signature verified.
    pub payload_version: Option<String>,
    /// The policy applied.
    pub policy: TrustPolicy,
    /// Every check, in the verifier's order.
    pub checks: Vec<TrustCheck>,
}

impl TrustVerdict {
    /// Whether no check failed.
    pub fn verified(&self) -> bool {
        self.verdict == VERIFIED
    }
}

/// The verdict on a Registry's answer to a publication: `registry_client::verify_package` over
/// the package record and receipt the Registry returned, the package Studio asked for, and the
/// Registry's keys (`Err` with the reason when they could not be read: every check that needs
/// them then fails) under `policy`, expecting the contract signature Studio sent (the
/// verifier's `contract_signature` check: the Registry stored the contract Studio compiled).
pub fn verdict(
    sent: &Value,
    package: &PackageRecord,
    receipt: &Receipt,
    keys: Result<&RegistryKeys, &str>,
    policy: &TrustPolicy,
) -> TrustVerdict {
    let verify_policy = match policy.verify_policy() {
        Ok(verify_policy) => VerifyPolicy {
            expected_contract_signature: Some(field(sent, "contract_signature")),
            ..verify_policy
        },
        Err(reason) => {
            return TrustVerdict {
                verdict: UNTRUSTED.into(),
                summary: format!("Untrusted: the trust policy is invalid ({reason})."),
                registry_signing_mode: String::new(),
                receipt_key_id: String::new(),
                payload_version: None,
                policy: policy.clone(),
                checks: Vec::new(),
            };
        }
    };
    let requested = PackageRef::new(field(sent, "package_id"), field(sent, "package_version"));
    let no_keys = RegistryKeys::default();
    let report = registry_client::verify_package(
        &VerificationInput {
            package,
            receipt,
            keys: keys.unwrap_or(&no_keys),
            requested: Some(&requested),
            bundle: None,
        },
        &verify_policy,
    );
    let checks: Vec<TrustCheck> = report
        .checks
        .iter()
        .map(|check| TrustCheck {
            name: check.name.as_str().to_owned(),
            status: check.status.label().to_ascii_lowercase(),
            reason: check.reason.clone(),
        })
        .collect();

    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == "fail")
        .map(|c| c.name.as_str())
        .collect();
    let mode = keys
        .map(|k| k.signing_mode.trim().to_owned())
        .unwrap_or_default();
    let key_id = report.key_id.clone().unwrap_or_default();
    let summary = match (failed.is_empty(), keys) {
        (true, _) => format!(
            "Verified: the receipt is signed by key {key_id} of a {} Registry; {} checks passed.",
            if mode.is_empty() {
                "(mode not reported)"
            } else {
                &mode
            },
            checks.iter().filter(|c| c.status == "pass").count()
        ),
        (false, Err(reason)) => format!(
            "Untrusted: the Registry's keys could not be read ({reason}); {} failed.",
            failed.join(", ")
        ),
        (false, Ok(_)) => format!("Untrusted: {} failed.", failed.join(", ")),
    };
    TrustVerdict {
        verdict: if failed.is_empty() {
            VERIFIED
        } else {
            UNTRUSTED
        }
        .into(),
        summary,
        registry_signing_mode: mode,
        receipt_key_id: key_id,
        payload_version: report.signed_payload.map(|version| {
            match version {
                signing::PayloadVersion::Current => "current",
                signing::PayloadVersion::Legacy => "legacy",
            }
            .to_owned()
        }),
        policy: policy.clone(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_policies_are_errors_not_weaker_policies() {
        let policy = TrustPolicy {
            required_mode: Some("staging".into()),
            trusted_key_id: None,
        };
        assert!(policy.verify_policy().is_err());
        let policy = TrustPolicy {
            required_mode: Some(" production ".into()),
            trusted_key_id: Some(" ".into()),
        };
        let verify = policy.verify_policy().unwrap_or_default();
        assert_eq!(verify.required_mode, Some(SigningMode::Production));
        assert_eq!(verify.trusted_key_id, None);
    }

    #[test]
    fn registry_statuses_pass_through_and_the_rest_is_a_bad_gateway() {
        let status: Error = RegistryError::Status {
            status: 409,
            url: "u".into(),
            message: "exists".into(),
            body: None,
        }
        .into();
        assert_eq!(status.status(), StatusCode::CONFLICT);
        assert_eq!(status.detail(), "exists");
        let decode: Error = RegistryError::Decode {
            url: "u".into(),
            reason: "not JSON".into(),
        }
        .into();
        assert_eq!(decode.status(), StatusCode::BAD_GATEWAY);
        let Err(no_url) = Registries::default().client(None) else {
            panic!("a client without a URL");
        };
        assert_eq!(no_url.status(), StatusCode::BAD_REQUEST);
    }
}
