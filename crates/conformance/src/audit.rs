//! The audit log checked from the outside: the canonical text of an entry, and a whole chain
//! recomputed (used by the conformance checks and by the tests and drills that read a log).

use serde_json::{Map, Value};
use signing::gojson::{to_go_json, GoJsonOptions};
use signing::{jwt, Jwks};

/// The canonical text of an audit entry: the entry without `signature` and `id`, sorted keys,
/// Go-compatible encoding. Its SHA-256 is the entry's `audit_hash`.
pub fn canonical(entry: &Value) -> String {
    let mut map: Map<String, Value> = entry.as_object().cloned().unwrap_or_default();
    map.remove("signature");
    map.remove("id");
    to_go_json(&Value::Object(map), GoJsonOptions::DIGEST)
}

/// Recomputes a chain of entries sorted by sequence: sequence 1..n without gaps, the first
/// previous hash `sha256:0`, each later one the hash of the canonical previous entry, and each
/// signature a JWT of the entry's hash made with the published audit key (`use: audit`).
pub fn verify_chain(entries: &[Value], jwks: &Jwks) -> Result<(), String> {
    let audit_key = jwks
        .keys
        .iter()
        .find(|k| k.key_use.as_deref() == Some("audit"))
        .ok_or("no audit key in the JWKS")?;
    let audit_jwks = Jwks {
        keys: vec![audit_key.clone()],
    };
    let validation = jwt::Validation {
        require_exp: false,
        ..jwt::Validation::new()
    };
    let mut previous = "sha256:0".to_owned();
    for (index, entry) in entries.iter().enumerate() {
        let position = index as i64 + 1;
        if entry["sequence_number"].as_i64() != Some(position) {
            return Err(format!("gap before {entry}"));
        }
        if entry["previous_hash"].as_str() != Some(previous.as_str()) {
            return Err(format!("chain broken at {position}"));
        }
        let digest = signing::sha256_hex(canonical(entry).as_bytes());
        let signature = entry["signature"].as_str().unwrap_or_default();
        let claims = jwt::verify_with_jwks(&audit_jwks, signature, &validation)
            .map_err(|e| format!("entry {position}: signature: {e}"))?;
        if claims["audit_hash"].as_str() != Some(digest.as_str()) {
            return Err(format!(
                "entry {position}: audit_hash is not the entry's hash"
            ));
        }
        previous = format!("sha256:{digest}");
    }
    Ok(())
}
