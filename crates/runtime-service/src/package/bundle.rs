//! `anip-package-bundle/v1` files: verification through the shared package verifier
//! (`registry_client::verify_bundle`, the one verifier of the platform), and packing a service
//! definition into a local, unsigned bundle.
//!
//! Architecture Invariant: the runtime has no digest or receipt checks of its own; it only
//! decides which of the shared verifier's findings it accepts (an unsigned local bundle when the
//! operator allows it).

use registry_client::{CheckName, CheckStatus, PackageBundle, VerificationReport, VerifyPolicy};
use serde_json::{json, Map, Value};
use signing::{digest_value, PublicKeySet};

use super::PackageError;

/// The bundle format this runtime reads and writes.
pub const BUNDLE_SCHEMA: &str = registry_client::BUNDLE_SCHEMA_VERSION;

/// What a bundle verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleCheck {
    /// `package.package_id`.
    pub package_id: String,
    /// `package.package_version`.
    pub package_version: String,
    /// The receipt's key id when a signed receipt was verified, `None` for unsigned bundles.
    pub receipt_key_id: Option<String>,
}

/// How a bundle is trusted before it is served. [`SharedVerifier`] is the implementation; the
/// trait is the seam a loader passes fetched bundles through.
pub trait BundleVerifier: Send + Sync {
    /// Verifies `bundle` and names what was checked, or says which check failed.
    fn verify(&self, bundle: &Value) -> Result<BundleCheck, PackageError>;
}

/// The shared verifier with the operator's policy: pinned registry keys, and whether unsigned
/// local bundles may be served.
pub struct SharedVerifier {
    policy: VerifyPolicy,
    allow_unsigned: bool,
}

impl SharedVerifier {
    /// `trusted_keys` pins the registry keys a signature must come from (empty: the keys the
    /// bundle carries, which proves integrity but not provenance). `allow_unsigned` accepts a
    /// bundle whose only failure is a missing registry signature.
    pub fn new(trusted_keys: PublicKeySet, allow_unsigned: bool) -> Self {
        let policy = VerifyPolicy {
            trusted_keys: (!trusted_keys.is_empty()).then_some(trusted_keys),
            ..VerifyPolicy::default()
        };
        SharedVerifier {
            policy,
            allow_unsigned,
        }
    }

    /// The verifier under a full policy (pinned keys, trusted key id, required mode), as the
    /// runtime's trust settings give it. `allow_unsigned` as for [`SharedVerifier::new`]; a
    /// required mode or trusted key id fails an unsigned bundle whatever it says.
    pub fn with_policy(policy: VerifyPolicy, allow_unsigned: bool) -> Self {
        SharedVerifier {
            policy,
            allow_unsigned,
        }
    }
}

/// Checks whose failure means the content differs from what was packaged.
const INTEGRITY_CHECKS: [CheckName; 6] = [
    CheckName::Identity,
    CheckName::ManifestDigest,
    CheckName::DefinitionDigest,
    CheckName::LockDigest,
    CheckName::ExecutionSignature,
    CheckName::BundleContents,
];

/// Turns a report into a decision: accepted, or refused naming every failed check.
pub fn accept(
    report: &VerificationReport,
    unsigned: bool,
    allow_unsigned: bool,
) -> Result<BundleCheck, PackageError> {
    // Accepted with a warning (a yanked version the operator allowed, a deprecated one, a
    // legacy package without an execution signature): the operator sees it at every start.
    for check in report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Warn)
    {
        tracing::warn!(
            event = "package_verification_warning",
            check = check.name.as_str(),
            reason = %check.reason,
            "package {}@{}: {}: {}",
            report.package_id,
            report.package_version,
            check.name.as_str(),
            check.reason
        );
    }
    let failures: Vec<_> = report.failures().collect();
    let tolerated = |name: CheckName| allow_unsigned && unsigned && name == CheckName::Signature;
    let refused: Vec<_> = failures.iter().filter(|c| !tolerated(c.name)).collect();
    if refused.is_empty() {
        return Ok(BundleCheck {
            package_id: report.package_id.clone(),
            package_version: report.package_version.clone(),
            receipt_key_id: if unsigned {
                None
            } else {
                report.key_id.clone()
            },
        });
    }
    let described = refused
        .iter()
        .map(|c| format!("{}: {}", c.name.as_str(), c.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if refused.iter().any(|c| INTEGRITY_CHECKS.contains(&c.name)) {
        Err(PackageError::Tampered(described))
    } else {
        Err(PackageError::Untrusted(described))
    }
}

impl BundleVerifier for SharedVerifier {
    fn verify(&self, bundle: &Value) -> Result<BundleCheck, PackageError> {
        let parsed: PackageBundle = serde_json::from_value(bundle.clone())
            .map_err(|e| PackageError::Bundle(e.to_string()))?;
        if parsed.bundle_schema_version != BUNDLE_SCHEMA {
            return Err(PackageError::Bundle(format!(
                "bundle_schema_version is {:?}, expected {BUNDLE_SCHEMA}",
                parsed.bundle_schema_version
            )));
        }
        let report = registry_client::verify_bundle(&parsed, &self.policy);
        let unsigned = parsed.receipt.registry_signature.is_empty();
        accept(&report, unsigned, self.allow_unsigned)
    }
}

/// Builds a local, unsigned bundle around a service definition: a manifest and recommended lock
/// naming it, and every digest. `issued_at` is an RFC 3339 time (kept as given, so the output is
/// reproducible).
pub fn pack(
    definition: &Value,
    package_id: &str,
    package_version: &str,
    issued_at: &str,
) -> Result<Value, PackageError> {
    let definition_digest = digest_value(definition);
    let service_ids = definition
        .get("service_topology_bindings")
        .and_then(Value::as_array)
        .map(|bindings| {
            bindings
                .iter()
                .filter_map(|b| b.get("service_id").cloned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut capability_ids: Vec<Value> = Vec::new();
    for key in ["capability_formalizations", "capability_declarations"] {
        for item in definition
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = item.get("capability_id").or_else(|| item.get("name")) {
                if !capability_ids.contains(id) {
                    capability_ids.push(id.clone());
                }
            }
        }
    }
    let schema_version = definition
        .get("contract_schema_version")
        .and_then(Value::as_str)
        .ok_or_else(|| PackageError::Definition("contract_schema_version is missing".into()))?;
    let manifest = json!({
        "artifact_type": "anip_package_manifest",
        "package_kind": "anip_service_blueprint",
        "package_id": package_id,
        "package_version": package_version,
        "version": package_version,
        "anip_spec_version": "anip/0.24",
        "schema_version": schema_version,
        "service_definition": "anip-service-definition.json",
        "service_definition_digest": definition_digest,
        "service_definition_digest_algorithm": "sha256",
        "capability_count": capability_ids.len(),
        "service_count": service_ids.len(),
        "service_ids": service_ids,
        "generated_at": issued_at,
    });
    let lock = json!({
        "artifact_type": "anip_package_lock",
        "lock_kind": "publisher_recommended_lock",
        "package_id": package_id,
        "package_version": package_version,
        "anip_spec_version": "anip/0.24",
        "schema_version": schema_version,
        "service_definition_digest": definition_digest,
        "capability_ids": capability_ids,
        "selected_service_ids": manifest["service_ids"],
        "generated_at": issued_at,
    });
    let manifest_digest = digest_value(&manifest);
    let lock_digest = digest_value(&lock);
    let mut package = Map::new();
    package.insert("package_id".into(), json!(package_id));
    package.insert("package_version".into(), json!(package_version));
    package.insert("schema_version".into(), json!(schema_version));
    package.insert("contract_signature".into(), json!(definition_digest));
    // Provenance a Registry requires of every package; a packed example has one revision.
    let project_ref = format!("local:{package_id}");
    let product_ref = format!("{package_id}-product@r1");
    let developer_ref = format!("{package_id}-developer-r1");
    package.insert("project_ref".into(), json!(project_ref));
    package.insert("product_revision_ref".into(), json!(product_ref));
    package.insert("developer_revision_ref".into(), json!(developer_ref));
    package.insert(
        "lineage".into(),
        json!({
            "project_ref": project_ref,
            "product_revision": {"ref": product_ref, "artifact_id": product_ref, "revision_number": 1},
            "developer_revision": {
                "ref": developer_ref, "artifact_id": developer_ref, "revision_number": 1,
                "contract_signature": definition_digest
            }
        }),
    );
    package.insert("publisher_id".into(), json!("local"));
    package.insert("publisher_type".into(), json!("local"));
    package.insert("manifest_digest".into(), json!(manifest_digest));
    package.insert("definition_digest".into(), json!(definition_digest));
    package.insert("lock_digest".into(), json!(lock_digest));
    package.insert("published_at".into(), json!(issued_at));
    package.insert("manifest".into(), manifest);
    package.insert("service_definition".into(), definition.clone());
    package.insert("recommended_lock".into(), lock);
    Ok(json!({
        "bundle_schema_version": BUNDLE_SCHEMA,
        "authority": "local",
        "publication": {
            "package_id": package_id,
            "package_version": package_version,
            "contract_signature": definition_digest,
            "publisher_id": "local",
            "publisher_type": "local",
            "published_at": issued_at,
        },
        "package": Value::Object(package),
        "receipt": {"registry_signature": "", "issued_at": issued_at, "authority": "local"},
        "registry_keys": [],
        "digests": {
            "manifest": manifest_digest,
            "service_definition": definition_digest,
            "lock": lock_digest,
            "receipt": "",
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the shared upstream fixtures (`ANIP_SHARED_DIR`, else `../shared` beside the
    /// checkout). A missing fixture fails the test: it is never a silent skip.
    fn fixture(name: &str) -> Value {
        let shared = std::env::var("ANIP_SHARED_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_owned());
        let path = format!("{shared}/fixtures/upstream/{name}");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {path} is missing ({e}); set ANIP_SHARED_DIR"));
        serde_json::from_str(&text).unwrap()
    }

    fn trusted(bundle: &Value) -> PublicKeySet {
        let list: Vec<String> = bundle["registry_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                format!(
                    "{}={}",
                    k["key_id"].as_str().unwrap(),
                    k["public_key"].as_str().unwrap()
                )
            })
            .collect();
        PublicKeySet::parse_list(&list.join(",")).unwrap()
    }

    #[test]
    fn packed_bundles_verify_and_tampering_names_the_check() {
        let definition = json!({"contract_schema_version": "anip-service-definition/v1", "capability_formalizations": []});
        let bundle = pack(&definition, "p", "1.0.0", "2026-01-01T00:00:00Z").unwrap();
        let check = SharedVerifier::new(PublicKeySet::new(), true)
            .verify(&bundle)
            .unwrap();
        assert_eq!(
            (check.package_id.as_str(), check.receipt_key_id),
            ("p", None)
        );
        let mut tampered = bundle.clone();
        tampered["package"]["service_definition"]["identity"] = json!({"system_name": "evil"});
        let err = SharedVerifier::new(PublicKeySet::new(), true)
            .verify(&tampered)
            .unwrap_err();
        assert!(matches!(err, PackageError::Tampered(_)), "{err}");
        assert!(err.to_string().contains("definition_digest"), "{err}");
        let unsigned = SharedVerifier::new(PublicKeySet::new(), false)
            .verify(&bundle)
            .unwrap_err();
        assert!(matches!(unsigned, PackageError::Untrusted(_)), "{unsigned}");
    }

    #[test]
    fn genuine_upstream_bundles_verify_with_a_pinned_registry_key() {
        let bundle = fixture("registry-bundles/gitlab-fronting-showcase-0.2.0.anip-package.json");
        let check = SharedVerifier::new(trusted(&bundle), false)
            .verify(&bundle)
            .unwrap();
        assert_eq!(check.package_id, "gitlab-fronting-showcase");
        assert_eq!(
            check.receipt_key_id.as_deref(),
            Some("anip-registry-dev-ed25519-v1")
        );
        let other =
            PublicKeySet::parse_list("someone-else=NZ8bIweTW/SJ14NTpSOCV/ITzTL7TIJP/Sl0CPAQV14=")
                .unwrap();
        assert!(SharedVerifier::new(other, true).verify(&bundle).is_err());
        let mut tampered = bundle.clone();
        tampered["package"]["package_version"] = json!("9.9.9");
        assert!(SharedVerifier::new(trusted(&bundle), false)
            .verify(&tampered)
            .is_err());
    }
}
