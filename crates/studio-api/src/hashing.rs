//! Content hashes and contract signatures.
//!
//! Both are SHA-256 over JSON written by [`signing::gojson`] (sorted keys, no whitespace), the
//! one canonical encoder of the platform:
//!
//! * A record's `content_hash` is what upstream Studio stores: lowercase hex SHA-256 of Python's
//!   `json.dumps(data, sort_keys=True, separators=(",", ":"))`, which escapes every non-ASCII
//!   character as `\uXXXX`. We write the Go encoding and escape non-ASCII afterwards (non-ASCII
//!   can only occur inside strings), so hashes of imported upstream records reproduce (the
//!   snapshot fixtures prove it) and hashes we compute compare equal with theirs.
//! * A contract signature is upstream's `stable-json-v1`: hex SHA-256 of the sorted-key JSON
//!   written as is (UTF-8). Upstream writes it with JavaScript's `JSON.stringify`, which matches
//!   the Go encoding except that Go also escapes U+2028/U+2029.

use serde_json::Value;
use signing::gojson::{to_go_json, GoJsonOptions};

/// Sorted-key compact JSON with every non-ASCII character escaped as `\uXXXX` (surrogate pairs
/// beyond the BMP), as Python's `json.dumps(..., sort_keys=True, ensure_ascii=True)` writes it.
pub fn stable_json_ascii(value: &Value) -> String {
    let go = to_go_json(value, GoJsonOptions::DIGEST);
    if go.is_ascii() {
        return go;
    }
    let mut out = String::with_capacity(go.len() + 16);
    for c in go.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
    out
}

/// A record's content hash (see the module docs).
pub fn content_hash(value: &Value) -> String {
    signing::sha256_hex(stable_json_ascii(value).as_bytes())
}

/// A source document's content hash: hex SHA-256 of its bytes.
pub fn document_hash(bytes: &[u8]) -> String {
    signing::sha256_hex(bytes)
}

/// A contract signature (`stable-json-v1`, see the module docs).
pub fn contract_signature(payload: &Value) -> String {
    signing::sha256_hex(to_go_json(payload, GoJsonOptions::DIGEST).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ascii_escaping_matches_python() {
        // json.dumps({"b": "é😀", "a": [1, "x"]}, sort_keys=True, separators=(",", ":"))
        assert_eq!(
            stable_json_ascii(&json!({"b": "é😀", "a": [1, "x"]})),
            r#"{"a":[1,"x"],"b":"\u00e9\ud83d\ude00"}"#
        );
        // Python escapes U+2028 the same way under ensure_ascii.
        assert_eq!(stable_json_ascii(&json!("a\u{2028}")), r#""a\u2028""#);
        // ... and does not escape HTML characters.
        assert_eq!(stable_json_ascii(&json!("<&>")), r#""<&>""#);
    }

    #[test]
    fn content_hash_is_hex_sha256_of_the_stable_form() {
        // hashlib.sha256(b'{"a":1}').hexdigest()
        assert_eq!(
            content_hash(&json!({"a": 1})),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }

    #[test]
    fn signature_keeps_utf8() {
        assert_eq!(
            contract_signature(&json!({"k": "é"})),
            signing::sha256_hex("{\"k\":\"é\"}".as_bytes())
        );
    }
}
