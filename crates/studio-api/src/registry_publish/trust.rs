//! Judging a Registry's answer to a publication: is the receipt genuine, made with a key the
//! policy trusts, by a Registry in the required mode, over the package Studio sent?
//!
//! The Ed25519 check is `signing::ReceiptPayload::verify` (current and legacy payloads); this
//! module only gathers its inputs and the policy checks around it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use signing::digest::digest_value;
use signing::{PublicKeyInfo, PublicKeySet, ReceiptPayload, RegistrySignature};
use utoipa::ToSchema;

use crate::rules::field;

/// What Studio requires of a Registry (from the environment or settings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustPolicy {
    /// `dev` or `production`; unset accepts either.
    pub required_mode: Option<String>,
    /// The only receipt key id trusted; unset accepts any advertised key.
    pub trusted_key_id: Option<String>,
}

/// One trust check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustCheck {
    /// Machine name, e.g. `receipt_signature_valid`.
    pub name: String,
    /// `pass` or `fail`.
    pub status: String,
    /// What was found.
    pub detail: String,
}

/// The verdict on a publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustVerdict {
    /// `trusted` or `untrusted`.
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
    /// Every check.
    pub checks: Vec<TrustCheck>,
}

impl TrustVerdict {
    /// Whether everything passed.
    pub fn trusted(&self) -> bool {
        self.verdict == "trusted"
    }
}

fn check(checks: &mut Vec<TrustCheck>, name: &str, passed: bool, detail: String) {
    checks.push(TrustCheck {
        name: name.to_owned(),
        status: if passed { "pass" } else { "fail" }.to_owned(),
        detail,
    });
}

/// The one function that verifies a Registry receipt: identity, digests, advertised key,
/// Ed25519 signature (through `signing`), required mode and pinned key id.
///
/// `request` is what Studio sent, `response` the Registry's `{publication, package, receipt}`
/// and `keys` its `GET keys` answer.
pub fn judge(
    request: &Value,
    response: &Value,
    keys: &Value,
    policy: &TrustPolicy,
) -> TrustVerdict {
    let mut checks = Vec::new();
    let package = response.get("package").cloned().unwrap_or(Value::Null);
    let receipt = response.get("receipt").cloned().unwrap_or(Value::Null);
    let requested = (
        field(request, "package_id"),
        field(request, "package_version"),
    );
    let published = (
        field(&package, "package_id"),
        field(&package, "package_version"),
    );
    let receipted = (
        field(&receipt, "package_id"),
        field(&receipt, "package_version"),
    );
    check(
        &mut checks,
        "package_identity_matches",
        !requested.0.is_empty() && requested == published && published == receipted,
        format!(
            "requested={}@{} package={}@{} receipt={}@{}",
            requested.0, requested.1, published.0, published.1, receipted.0, receipted.1
        ),
    );
    let contract = field(&package, "contract_signature");
    check(
        &mut checks,
        "contract_signature_matches",
        contract == field(request, "contract_signature"),
        format!(
            "package={contract} requested={}",
            field(request, "contract_signature")
        ),
    );
    for (name, member, digest_field) in [
        ("manifest_digest_matches", "manifest", "manifest_digest"),
        (
            "definition_digest_matches",
            "service_definition",
            "definition_digest",
        ),
        ("lock_digest_matches", "recommended_lock", "lock_digest"),
    ] {
        let computed = package.get(member).map(digest_value).unwrap_or_default();
        let recorded = field(&package, digest_field);
        check(
            &mut checks,
            name,
            !recorded.is_empty() && recorded == computed,
            format!("recorded={recorded} computed={computed}"),
        );
    }
    let payload = ReceiptPayload::from_package(&package, &field(&receipt, "issued_at"));
    check(
        &mut checks,
        "receipt_id_matches",
        field(&receipt, "receipt_id") == payload.receipt_id(),
        format!(
            "recorded={} computed={}",
            field(&receipt, "receipt_id"),
            payload.receipt_id()
        ),
    );

    let signature_text = field(&receipt, "registry_signature");
    let mut receipt_key_id = String::new();
    let mut payload_version = None;
    match RegistrySignature::parse(&signature_text) {
        Err(error) => check(
            &mut checks,
            "receipt_signature_well_formed",
            false,
            error.to_string(),
        ),
        Ok(signature) => {
            receipt_key_id = signature.key_id.to_string();
            check(
                &mut checks,
                "receipt_signature_well_formed",
                true,
                format!("ed25519 key {receipt_key_id}"),
            );
            let infos: Vec<PublicKeyInfo> = keys
                .get("items")
                .and_then(|items| serde_json::from_value(items.clone()).ok())
                .unwrap_or_default();
            let advertised = infos
                .iter()
                .any(|k| k.key_id == receipt_key_id && k.algorithm == "ed25519");
            check(
                &mut checks,
                "receipt_key_advertised",
                advertised,
                format!(
                    "key {receipt_key_id} {} by the Registry",
                    if advertised {
                        "is advertised"
                    } else {
                        "is not advertised"
                    }
                ),
            );
            match PublicKeySet::from_infos(&infos) {
                Err(error) => check(
                    &mut checks,
                    "receipt_signature_valid",
                    false,
                    format!("the Registry's key list is unusable: {error}"),
                ),
                Ok(set) => match payload.verify(&set, &signature_text) {
                    Ok(version) => {
                        let label = match version {
                            signing::PayloadVersion::Current => "current",
                            signing::PayloadVersion::Legacy => "legacy",
                        };
                        payload_version = Some(label.to_owned());
                        check(
                            &mut checks,
                            "receipt_signature_valid",
                            true,
                            format!("verifies ({label} payload)"),
                        );
                    }
                    Err(error) => check(
                        &mut checks,
                        "receipt_signature_valid",
                        false,
                        error.to_string(),
                    ),
                },
            }
        }
    }

    // Receipts made before upstream added the package execution signature verify only with
    // the legacy payload, and their packages cannot carry one; every newer package must.
    let legacy = payload_version.as_deref() == Some("legacy");
    check(
        &mut checks,
        "package_execution_signature_present",
        !payload.package_execution_signature.is_empty() || legacy,
        if payload.package_execution_signature.is_empty() && legacy {
            "absent; the receipt predates execution signatures (legacy payload)".to_owned()
        } else {
            format!("signature={}", payload.package_execution_signature)
        },
    );

    let mode = field(keys, "signing_mode");
    if let Some(required) = policy.required_mode.as_deref().filter(|m| !m.is_empty()) {
        check(
            &mut checks,
            "registry_trust_policy_mode",
            mode == required,
            format!(
                "required={required} registry={}",
                if mode.is_empty() {
                    "not reported"
                } else {
                    &mode
                }
            ),
        );
    }
    if let Some(trusted) = policy.trusted_key_id.as_deref().filter(|k| !k.is_empty()) {
        check(
            &mut checks,
            "registry_trust_policy_key",
            receipt_key_id == trusted,
            format!("trusted={trusted} receipt={receipt_key_id}"),
        );
    }

    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status != "pass")
        .map(|c| c.name.as_str())
        .collect();
    let (verdict, summary) = if failed.is_empty() {
        (
            "trusted",
            format!(
                "Receipt verified: signed by {receipt_key_id} of a {} Registry.",
                if mode.is_empty() {
                    "(mode not reported)"
                } else {
                    &mode
                }
            ),
        )
    } else {
        (
            "untrusted",
            format!("Untrusted: {} failed.", failed.join(", ")),
        )
    };
    TrustVerdict {
        verdict: verdict.to_owned(),
        summary,
        registry_signing_mode: mode,
        receipt_key_id,
        payload_version,
        policy: policy.clone(),
        checks,
    }
}
