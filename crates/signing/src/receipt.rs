//! Registry receipts: the exact bytes upstream signs for a published package (and, in our
//! registry, for a published template), and their verification.
//!
//! Upstream builds the payload as a Go `map[string]any` and signs `json.Marshal(payload)`: keys
//! sorted, HTML characters escaped ([`GoJsonOptions::MARSHAL`]), numbers inside `lineage` as
//! float64. `publisher_id`, `publisher_type` and `lineage` are present only when non-empty;
//! `package_execution_signature` is always present in the current payload (even when empty),
//! and absent altogether from the legacy payload that receipts made before it existed signed.

use serde_json::{Map, Value};

use crate::digest::{digest_value, receipt_id};
use crate::ed25519::{KeySet, PublicKeySet, RegistrySignature};
use crate::gojson::{to_go_json_bytes, GoJsonOptions};
use crate::SigningError;

/// Which payload a receipt signature was made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadVersion {
    /// With the `package_execution_signature` key; what we sign today.
    Current,
    /// Without that key at all: receipts made before upstream added it.
    Legacy,
}

/// The fields a package receipt signs. Build it with a struct literal over
/// `..Default::default()`, or from a package record with [`ReceiptPayload::from_package`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReceiptPayload {
    /// Package id.
    pub package_id: String,
    /// Package version.
    pub package_version: String,
    /// The contract signature the publisher supplied.
    pub contract_signature: String,
    /// Digest of the service definition.
    pub definition_digest: String,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// Digest of the recommended lock.
    pub lock_digest: String,
    /// The package execution signature (empty for packages published before it existed).
    pub package_execution_signature: String,
    /// RFC 3339 UTC time of issue, e.g. `2026-05-15T00:00:00Z`.
    pub issued_at: String,
    /// Publisher id; omitted from the payload when empty.
    pub publisher_id: String,
    /// Publisher type; omitted from the payload when empty.
    pub publisher_type: String,
    /// Publication lineage; omitted from the payload when empty.
    pub lineage: Map<String, Value>,
}

fn string_member(object: &Value, name: &str) -> String {
    object
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl ReceiptPayload {
    /// Reads the signed fields from a package record (the `package` object of a download or
    /// bundle) and the receipt's `issued_at`.
    ///
    /// `package_execution_signature` is the record's own, else the manifest's, else the lock's,
    /// as the upstream client resolves it.
    pub fn from_package(package: &Value, issued_at: &str) -> Self {
        let package_execution_signature = [
            package.get("package_execution_signature"),
            package
                .get("manifest")
                .and_then(|m| m.get("package_execution_signature")),
            package
                .get("recommended_lock")
                .and_then(|l| l.get("package_execution_signature")),
        ]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|text| !text.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
        ReceiptPayload {
            package_id: string_member(package, "package_id"),
            package_version: string_member(package, "package_version"),
            contract_signature: string_member(package, "contract_signature"),
            definition_digest: string_member(package, "definition_digest"),
            manifest_digest: string_member(package, "manifest_digest"),
            lock_digest: string_member(package, "lock_digest"),
            package_execution_signature,
            issued_at: issued_at.to_owned(),
            publisher_id: string_member(package, "publisher_id"),
            publisher_type: string_member(package, "publisher_type"),
            lineage: package
                .get("lineage")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The payload as a JSON object (key order is irrelevant: the encoder sorts).
    pub fn to_value(&self, version: PayloadVersion) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: &str| {
            map.insert(key.to_owned(), Value::String(value.to_owned()));
        };
        put("package_id", &self.package_id);
        put("package_version", &self.package_version);
        put("contract_signature", &self.contract_signature);
        put("definition_digest", &self.definition_digest);
        put("manifest_digest", &self.manifest_digest);
        put("lock_digest", &self.lock_digest);
        if version == PayloadVersion::Current {
            put(
                "package_execution_signature",
                &self.package_execution_signature,
            );
        }
        put("issued_at", &self.issued_at);
        if !self.publisher_id.is_empty() {
            put("publisher_id", &self.publisher_id);
        }
        if !self.publisher_type.is_empty() {
            put("publisher_type", &self.publisher_type);
        }
        if !self.lineage.is_empty() {
            map.insert("lineage".to_owned(), Value::Object(self.lineage.clone()));
        }
        Value::Object(map)
    }

    /// The exact bytes that are signed.
    pub fn to_bytes(&self, version: PayloadVersion) -> Vec<u8> {
        to_go_json_bytes(&self.to_value(version), GoJsonOptions::MARSHAL)
    }

    /// Signs the current payload with the active key.
    pub fn sign(&self, keys: &KeySet) -> RegistrySignature {
        keys.sign(&self.to_bytes(PayloadVersion::Current))
    }

    /// Verifies a receipt signature string: the current payload first, then the legacy one.
    /// Returns which one matched.
    ///
    /// A caller that must insist on the execution signature being covered can reject
    /// [`PayloadVersion::Legacy`] (it is still covered indirectly: it is part of the manifest
    /// and lock, whose digests are signed).
    pub fn verify(
        &self,
        keys: &PublicKeySet,
        signature: &str,
    ) -> Result<PayloadVersion, SigningError> {
        let signature = RegistrySignature::parse(signature)?;
        let key = keys
            .get(signature.key_id.as_str())
            .ok_or_else(|| SigningError::UnknownKeyId(signature.key_id.to_string()))?;
        for version in [PayloadVersion::Current, PayloadVersion::Legacy] {
            if key
                .verify(&self.to_bytes(version), &signature.signature)
                .is_ok()
            {
                return Ok(version);
            }
        }
        Err(SigningError::BadSignature)
    }

    /// The receipt id: digest of `{package_id, package_version, issued_at}`.
    pub fn receipt_id(&self) -> String {
        receipt_id(&self.package_id, &self.package_version, &self.issued_at)
    }
}

/// Same as [`ReceiptPayload::verify`].
pub fn verify_receipt(
    keys: &PublicKeySet,
    payload: &ReceiptPayload,
    signature: &str,
) -> Result<PayloadVersion, SigningError> {
    payload.verify(keys, signature)
}

/// The fields a template receipt signs (our registry's addition; upstream does not sign
/// templates). Encoded and signed exactly like a package receipt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateReceiptPayload {
    /// Template id.
    pub template_id: String,
    /// Template version.
    pub template_version: String,
    /// Digest of the template document.
    pub template_digest: String,
    /// RFC 3339 UTC time of issue.
    pub issued_at: String,
    /// Publisher id; omitted when empty.
    pub publisher_id: String,
    /// Publisher type; omitted when empty.
    pub publisher_type: String,
}

impl TemplateReceiptPayload {
    /// The payload as a JSON object.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: &str| {
            map.insert(key.to_owned(), Value::String(value.to_owned()));
        };
        put("template_id", &self.template_id);
        put("template_version", &self.template_version);
        put("template_digest", &self.template_digest);
        put("issued_at", &self.issued_at);
        if !self.publisher_id.is_empty() {
            put("publisher_id", &self.publisher_id);
        }
        if !self.publisher_type.is_empty() {
            put("publisher_type", &self.publisher_type);
        }
        Value::Object(map)
    }

    /// The exact bytes that are signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_go_json_bytes(&self.to_value(), GoJsonOptions::MARSHAL)
    }

    /// Signs with the active key.
    pub fn sign(&self, keys: &KeySet) -> RegistrySignature {
        keys.sign(&self.to_bytes())
    }

    /// Verifies a receipt signature string.
    pub fn verify(&self, keys: &PublicKeySet, signature: &str) -> Result<(), SigningError> {
        keys.verify(&self.to_bytes(), &RegistrySignature::parse(signature)?)
    }

    /// The receipt id: digest of `{template_id, template_version, issued_at}`.
    pub fn receipt_id(&self) -> String {
        digest_value(&serde_json::json!({
            "template_id": self.template_id,
            "template_version": self.template_version,
            "issued_at": self.issued_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ed25519::{KeyId, SigningKey};
    use serde_json::json;

    fn sample() -> ReceiptPayload {
        ReceiptPayload {
            package_id: "pkg".into(),
            package_version: "1.0.0".into(),
            contract_signature: "sha256:c".into(),
            definition_digest: "sha256:d".into(),
            manifest_digest: "sha256:m".into(),
            lock_digest: "sha256:l".into(),
            package_execution_signature: "sha256:e".into(),
            issued_at: "2026-05-15T00:00:00Z".into(),
            publisher_id: "acme & co".into(),
            publisher_type: "org".into(),
            lineage: json!({"project_ref": "p<1>", "product_revision": {"revision_number": 1.0}})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    #[test]
    fn payload_bytes_are_sorted_go_marshal() {
        let bytes = String::from_utf8(sample().to_bytes(PayloadVersion::Current)).unwrap();
        assert_eq!(
            bytes,
            concat!(
                r#"{"contract_signature":"sha256:c","definition_digest":"sha256:d","#,
                r#""issued_at":"2026-05-15T00:00:00Z","lineage":{"product_revision":{"revision_number":1},"#,
                r#""project_ref":"p\u003c1\u003e"},"lock_digest":"sha256:l","manifest_digest":"sha256:m","#,
                r#""package_execution_signature":"sha256:e","package_id":"pkg","package_version":"1.0.0","#,
                r#""publisher_id":"acme \u0026 co","publisher_type":"org"}"#
            )
        );
        let legacy = String::from_utf8(sample().to_bytes(PayloadVersion::Legacy)).unwrap();
        assert!(!legacy.contains("package_execution_signature"));
    }

    #[test]
    fn empty_optional_fields_are_omitted_but_execution_signature_is_not() {
        let payload = ReceiptPayload {
            package_id: "p".into(),
            package_version: "1".into(),
            issued_at: "t".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(payload.to_bytes(PayloadVersion::Current)).unwrap(),
            r#"{"contract_signature":"","definition_digest":"","issued_at":"t","lock_digest":"","manifest_digest":"","package_execution_signature":"","package_id":"p","package_version":"1"}"#
        );
    }

    #[test]
    fn current_receipts_verify_as_current_and_legacy_as_legacy() {
        let keys = KeySet::dev();
        let payload = sample();
        let current = payload.sign(&keys).to_string();
        assert_eq!(
            payload.verify(keys.public_keys(), &current),
            Ok(PayloadVersion::Current)
        );
        let legacy = keys
            .sign(&payload.to_bytes(PayloadVersion::Legacy))
            .to_string();
        assert_eq!(
            verify_receipt(keys.public_keys(), &payload, &legacy),
            Ok(PayloadVersion::Legacy)
        );
    }

    #[test]
    fn every_signed_field_is_covered() {
        let keys = KeySet::dev();
        let payload = sample();
        let signature = payload.sign(&keys).to_string();
        type Tamper = fn(&mut ReceiptPayload);
        let tampers: Vec<(&str, Tamper)> = vec![
            ("package_id", |p| p.package_id.push('x')),
            ("package_version", |p| p.package_version.push('x')),
            ("contract_signature", |p| p.contract_signature.push('x')),
            ("definition_digest", |p| p.definition_digest.push('x')),
            ("manifest_digest", |p| p.manifest_digest.push('x')),
            ("lock_digest", |p| p.lock_digest.push('x')),
            ("package_execution_signature", |p| {
                p.package_execution_signature.clear()
            }),
            ("issued_at", |p| p.issued_at.push('x')),
            ("publisher_id", |p| p.publisher_id.clear()),
            ("publisher_type", |p| p.publisher_type.push('x')),
            ("lineage", |p| {
                p.lineage.insert("extra".into(), json!(true));
            }),
        ];
        for (field, tamper) in tampers {
            let mut changed = payload.clone();
            tamper(&mut changed);
            assert_eq!(
                changed.verify(keys.public_keys(), &signature),
                Err(SigningError::BadSignature),
                "changing {field} must break the receipt"
            );
        }
    }

    #[test]
    fn verify_reports_unknown_keys_and_malformed_signatures() {
        let payload = sample();
        let (other, _) = SigningKey::generate().unwrap();
        let foreign = KeySet::new(KeyId::new("other").unwrap(), other);
        let signature = payload.sign(&foreign).to_string();
        assert_eq!(
            payload.verify(KeySet::dev().public_keys(), &signature),
            Err(SigningError::UnknownKeyId("other".into()))
        );
        assert!(payload.verify(foreign.public_keys(), "").is_err());
    }

    #[test]
    fn from_package_reads_record_fields() {
        let package = json!({
            "package_id": "p", "package_version": "1", "contract_signature": "c",
            "definition_digest": "d", "manifest_digest": "m", "lock_digest": "l",
            "publisher_id": "pub", "publisher_type": "org", "lineage": {"a": 1},
            "manifest": {"package_execution_signature": "sha256:e"},
        });
        let payload = ReceiptPayload::from_package(&package, "t");
        assert_eq!(payload.package_execution_signature, "sha256:e");
        assert_eq!(payload.lineage.len(), 1);
        assert_eq!(payload.issued_at, "t");
        assert_eq!(payload.receipt_id(), receipt_id("p", "1", "t"));
    }

    #[test]
    fn template_receipts() {
        let keys = KeySet::dev();
        let payload = TemplateReceiptPayload {
            template_id: "t".into(),
            template_version: "1".into(),
            template_digest: "sha256:x".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            publisher_id: String::new(),
            publisher_type: "studio".into(),
        };
        assert_eq!(
            String::from_utf8(payload.to_bytes()).unwrap(),
            r#"{"issued_at":"2026-01-01T00:00:00Z","publisher_type":"studio","template_digest":"sha256:x","template_id":"t","template_version":"1"}"#
        );
        let signature = payload.sign(&keys).to_string();
        payload.verify(keys.public_keys(), &signature).unwrap();
        let mut changed = payload.clone();
        changed.template_digest.push('0');
        assert_eq!(
            changed.verify(keys.public_keys(), &signature),
            Err(SigningError::BadSignature)
        );
        assert!(payload.receipt_id().starts_with("sha256:"));
    }
}
