//! SHA-256 digests as upstream ANIP computes them.
//!
//! Upstream's `computeCanonicalDigest` encodes with a Go `json.Encoder` with
//! `SetEscapeHTML(false)`, then strips the trailing newline `Encode` appends, and hashes the
//! rest: `"sha256:" + hex(sha256(bytes))`. The upstream registry bundles only reproduce when the
//! newline is stripped (the fixture tests prove it).

use ring::digest::{digest, SHA256};
use serde_json::{json, Map, Value};

use crate::gojson::{to_go_json_bytes, GoJsonOptions};

/// The prefix of every digest string.
pub const SHA256_PREFIX: &str = "sha256:";

/// `schema_version` of the package execution signature input.
pub const EXECUTION_SIGNATURE_SCHEMA: &str = "anip-package-execution-signature/v1";

/// The key [`strip_execution_signature`] removes.
pub const EXECUTION_SIGNATURE_KEY: &str = "package_execution_signature";

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The raw SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// Lowercase hex SHA-256 of `bytes`, without a prefix.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// `"sha256:" + hex(sha256(bytes))`.
pub fn digest_bytes(bytes: &[u8]) -> String {
    format!("{SHA256_PREFIX}{}", sha256_hex(bytes))
}

/// The upstream digest of a JSON value: [`GoJsonOptions::DIGEST`] encoding, no trailing
/// newline, `"sha256:" + hex`. Used for `manifest_digest`, `definition_digest`, `lock_digest`,
/// template digests, `receipt_id` and the package execution signature.
pub fn digest_value(value: &Value) -> String {
    digest_bytes(&to_go_json_bytes(value, GoJsonOptions::DIGEST))
}

/// `receipt_id`: the digest of `{package_id, package_version, issued_at}`.
pub fn receipt_id(package_id: &str, package_version: &str, issued_at: &str) -> String {
    digest_value(&json!({
        "package_id": package_id,
        "package_version": package_version,
        "issued_at": issued_at,
    }))
}

/// A copy of `value` with every `package_execution_signature` key removed, at any depth
/// (upstream strips recursively, through arrays too).
pub fn strip_execution_signature(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != EXECUTION_SIGNATURE_KEY)
                .map(|(key, item)| (key.clone(), strip_execution_signature(item)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_execution_signature).collect()),
        other => other.clone(),
    }
}

/// What the package execution signature covers, as the registry holds it when publishing:
/// the definition, manifest and lock after the server stamped them
/// (`service_definition_digest`, `schema_version`, ...) and before it wrote
/// `package_execution_signature` into the manifest and lock.
#[derive(Clone, Copy, Debug)]
pub struct ExecutionSignatureInput<'a> {
    /// The service definition, as is.
    pub service_definition: &'a Value,
    /// The manifest; only its `agent_consumability`, `agent_consumption_readiness` and
    /// `agent_consumption_publication_gate` members are used (`null` when absent).
    pub manifest: &'a Value,
    /// The recommended lock; signed whole, minus any `package_execution_signature` key.
    pub recommended_lock: &'a Value,
    /// The normalized implementation materials (`{ref, title?, bundle_tree_sha256?}` objects,
    /// empty entries dropped), in request order.
    pub implementation_materials: &'a [Value],
    /// The publication lineage; `None` or an empty map signs as `{}`.
    pub lineage: Option<&'a Map<String, Value>>,
}

/// The `package_execution_signature` digest: the digest of
/// `{schema_version: "anip-package-execution-signature/v1", service_definition,
/// agent_consumability, agent_consumption_readiness, agent_consumption_publication_gate,
/// implementation_materials, recommended_lock, lineage}` where the manifest members and the lock
/// have every `package_execution_signature` key removed, exactly as upstream's
/// `computePackageExecutionSignature`.
pub fn package_execution_signature(input: &ExecutionSignatureInput<'_>) -> String {
    let manifest = strip_execution_signature(input.manifest);
    let member = |name: &str| manifest.get(name).cloned().unwrap_or(Value::Null);
    // Upstream strips through a map[string]any; anything that is not an object becomes {}.
    let lock = match strip_execution_signature(input.recommended_lock) {
        Value::Object(map) => Value::Object(map),
        _ => Value::Object(Map::new()),
    };
    let lineage = input.lineage.cloned().unwrap_or_default();
    digest_value(&json!({
        "schema_version": EXECUTION_SIGNATURE_SCHEMA,
        "service_definition": input.service_definition,
        "agent_consumability": member("agent_consumability"),
        "agent_consumption_readiness": member("agent_consumption_readiness"),
        "agent_consumption_publication_gate": member("agent_consumption_publication_gate"),
        "implementation_materials": input.implementation_materials,
        "recommended_lock": lock,
        "lineage": lineage,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest_bytes(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_hashes_go_bytes_without_newline_and_without_html_escaping() {
        let value = json!({"b": "<x>", "a": 1.0});
        assert_eq!(digest_value(&value), digest_bytes(br#"{"a":1,"b":"<x>"}"#));
    }

    #[test]
    fn receipt_id_is_digest_of_three_fields() {
        assert_eq!(
            receipt_id("p", "1.0.0", "2026-01-01T00:00:00Z"),
            digest_bytes(br#"{"issued_at":"2026-01-01T00:00:00Z","package_id":"p","package_version":"1.0.0"}"#)
        );
    }

    #[test]
    fn strip_removes_nested_keys() {
        let value = json!({
            "package_execution_signature": "x",
            "a": [{"package_execution_signature": "y", "k": 1}],
            "b": {"package_execution_signature": "z"}
        });
        assert_eq!(
            strip_execution_signature(&value),
            json!({"a": [{"k": 1}], "b": {}})
        );
    }

    fn sample() -> (Value, Value, Value, Vec<Value>) {
        let definition = json!({"capability_formalizations": [{"capability_id": "c1"}]});
        let manifest = json!({
            "agent_consumability": {"schema_version": "v1", "capabilities": [{"id": "c1"}]},
            "agent_consumption_readiness": {"status": "ready"},
            "name": "ignored",
        });
        let lock = json!({"service_definition_digest": "sha256:00", "schema_version": "anip-service-definition/v1"});
        let materials = vec![json!({"ref": "git+https://example.com/x", "title": "X"})];
        (definition, manifest, lock, materials)
    }

    #[test]
    fn execution_signature_matches_the_documented_input() {
        let (definition, manifest, lock, materials) = sample();
        let input = ExecutionSignatureInput {
            service_definition: &definition,
            manifest: &manifest,
            recommended_lock: &lock,
            implementation_materials: &materials,
            lineage: None,
        };
        let expected = digest_value(&json!({
            "schema_version": "anip-package-execution-signature/v1",
            "service_definition": definition,
            "agent_consumability": manifest["agent_consumability"],
            "agent_consumption_readiness": manifest["agent_consumption_readiness"],
            "agent_consumption_publication_gate": null,
            "implementation_materials": materials,
            "recommended_lock": lock,
            "lineage": {},
        }));
        assert_eq!(package_execution_signature(&input), expected);
    }

    #[test]
    fn execution_signature_ignores_its_own_key_and_unsigned_manifest_members() {
        let (definition, manifest, lock, materials) = sample();
        let base = ExecutionSignatureInput {
            service_definition: &definition,
            manifest: &manifest,
            recommended_lock: &lock,
            implementation_materials: &materials,
            lineage: None,
        };
        let signature = package_execution_signature(&base);

        // Publishing writes the signature into manifest and lock; recomputing must not change.
        let mut stamped_manifest = manifest.clone();
        stamped_manifest["package_execution_signature"] = json!(signature);
        stamped_manifest["name"] = json!("other name");
        let mut stamped_lock = lock.clone();
        stamped_lock["package_execution_signature"] = json!(signature);
        let stamped = ExecutionSignatureInput {
            manifest: &stamped_manifest,
            recommended_lock: &stamped_lock,
            ..base
        };
        assert_eq!(package_execution_signature(&stamped), signature);

        // An empty lineage is the same as none.
        let empty = Map::new();
        let with_empty = ExecutionSignatureInput {
            lineage: Some(&empty),
            ..base
        };
        assert_eq!(package_execution_signature(&with_empty), signature);

        // But every signed part matters.
        let mut lineage = Map::new();
        lineage.insert("project_ref".into(), json!("p"));
        let with_lineage = ExecutionSignatureInput {
            lineage: Some(&lineage),
            ..base
        };
        assert_ne!(package_execution_signature(&with_lineage), signature);
        let other_lock = json!({"schema_version": "other"});
        let changed_lock = ExecutionSignatureInput {
            recommended_lock: &other_lock,
            ..base
        };
        assert_ne!(package_execution_signature(&changed_lock), signature);
        let no_materials = ExecutionSignatureInput {
            implementation_materials: &[],
            ..base
        };
        assert_ne!(package_execution_signature(&no_materials), signature);
    }
}
