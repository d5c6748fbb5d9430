//! The package record: what `GET packages/{id}/{v}` and `/download` serve, rendered once at
//! publish time.
//!
//! The stored body holds every immutable field of upstream's `RegistryPackageRecord` and leaves
//! out the three that change after publication: `download_count`, `lifecycle` and the
//! `publisher` summary. That makes the download bytes immutable (a strong ETag and a year of
//! caching), and lets a download be served without any JSON work. The mutable fields are
//! spliced in at serve time where they belong (see [`splice`]).

use serde_json::{Map, Value};
use signing::gojson::{to_go_json, GoJsonOptions};
use signing::ReceiptPayload;

use crate::model::{ImplementationMaterial, JsonMap, SourceLink};
use crate::validate::str_field;

/// A package version as published (or imported): everything its record shows except the
/// mutable fields.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageRecord {
    pub package_id: String,
    pub package_version: String,
    pub project_ref: String,
    pub product_revision_ref: String,
    pub developer_revision_ref: String,
    pub contract_signature: String,
    pub publisher_id: String,
    pub publisher_type: String,
    /// The lineage the receipt signed (absent or empty when there is none).
    pub lineage: Option<JsonMap>,
    pub schema_version: String,
    pub manifest_digest: String,
    pub definition_digest: String,
    pub lock_digest: String,
    /// Empty for packages published before upstream introduced it.
    pub package_execution_signature: String,
    /// RFC 3339, seconds, UTC (`2026-05-15T00:00:00Z`).
    pub published_at: String,
    pub manifest: JsonMap,
    pub service_definition: JsonMap,
    pub recommended_lock: JsonMap,
}

/// Rendered bytes and their strong validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub etag: String,
}

impl Rendered {
    /// Renders `value` as Go's `json.NewEncoder(w).Encode` does (HTML-escaped, sorted keys,
    /// trailing newline), so our responses match upstream's byte for byte in layout.
    pub fn of(value: &Value) -> Rendered {
        let mut text = to_go_json(value, GoJsonOptions::MARSHAL);
        text.push('\n');
        let bytes = text.into_bytes();
        let etag = signing::sha256_hex(&bytes);
        Rendered { bytes, etag }
    }
}

impl PackageRecord {
    /// The manifest's `readme`, as upstream derives it when reading a record.
    pub fn readme(&self) -> &str {
        str_field(&self.manifest, "readme").unwrap_or_default()
    }

    /// The manifest's display name, for listings and search.
    pub fn name(&self) -> &str {
        str_field(&self.manifest, "name")
            .map(str::trim)
            .unwrap_or_default()
    }

    /// The record body as a JSON object (key order is irrelevant: rendering sorts).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: &str| {
            map.insert(key.to_owned(), Value::String(value.to_owned()));
        };
        put("package_id", &self.package_id);
        put("package_version", &self.package_version);
        put("project_ref", &self.project_ref);
        put("product_revision_ref", &self.product_revision_ref);
        put("developer_revision_ref", &self.developer_revision_ref);
        put("contract_signature", &self.contract_signature);
        if !self.publisher_id.is_empty() {
            put("publisher_id", &self.publisher_id);
        }
        if !self.publisher_type.is_empty() {
            put("publisher_type", &self.publisher_type);
        }
        put("schema_version", &self.schema_version);
        put("manifest_digest", &self.manifest_digest);
        put("definition_digest", &self.definition_digest);
        put("lock_digest", &self.lock_digest);
        if !self.package_execution_signature.is_empty() {
            put(
                "package_execution_signature",
                &self.package_execution_signature,
            );
        }
        put("published_at", &self.published_at);
        let readme = self.readme().to_owned();
        if !readme.is_empty() {
            map.insert("readme".into(), Value::String(readme));
        }
        if let Some(lineage) = self.lineage.as_ref().filter(|l| !l.is_empty()) {
            map.insert("lineage".into(), Value::Object(lineage.clone()));
        }
        let links = source_links_from(self.manifest.get("source_links"));
        if !links.is_empty() {
            map.insert("source_links".into(), serde_json::json!(links));
        }
        let materials = implementation_materials_from(self.manifest.get("implementation_material"));
        if !materials.is_empty() {
            map.insert(
                "implementation_materials".into(),
                serde_json::json!(materials),
            );
        }
        map.insert("manifest".into(), Value::Object(self.manifest.clone()));
        map.insert(
            "service_definition".into(),
            Value::Object(self.service_definition.clone()),
        );
        map.insert(
            "recommended_lock".into(),
            Value::Object(self.recommended_lock.clone()),
        );
        Value::Object(map)
    }

    /// The immutable download body and its ETag.
    pub fn render(&self) -> Rendered {
        Rendered::of(&self.to_value())
    }

    /// The receipt payload for this record, issued at `issued_at`.
    pub fn receipt_payload(&self, issued_at: &str) -> ReceiptPayload {
        ReceiptPayload {
            package_id: self.package_id.clone(),
            package_version: self.package_version.clone(),
            contract_signature: self.contract_signature.clone(),
            definition_digest: self.definition_digest.clone(),
            manifest_digest: self.manifest_digest.clone(),
            lock_digest: self.lock_digest.clone(),
            package_execution_signature: self.package_execution_signature.clone(),
            issued_at: issued_at.to_owned(),
            publisher_id: self.publisher_id.clone(),
            publisher_type: self.publisher_type.clone(),
            lineage: self.lineage.clone().unwrap_or_default(),
        }
    }

    /// Lower-cased `package_id name publisher_id`: what `?q=` searches.
    pub fn search_text(&self) -> String {
        format!("{} {} {}", self.package_id, self.name(), self.publisher_id).to_lowercase()
    }
}

/// Upstream's `normalizeSourceLinks(sourceLinksFromAny(v))`: objects only, trimmed, entries
/// with neither title nor url dropped.
pub fn source_links_from(value: Option<&Value>) -> Vec<SourceLink> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(Value::as_object)
        .map(|item| SourceLink {
            title: str_field(item, "title")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            url: str_field(item, "url").unwrap_or_default().trim().to_owned(),
        })
        .filter(|link| !(link.title.is_empty() && link.url.is_empty()))
        .collect()
}

/// Upstream's `normalizeImplementationMaterials(implementationMaterialsFromAny(v))`.
pub fn implementation_materials_from(value: Option<&Value>) -> Vec<ImplementationMaterial> {
    fn from_object(item: &Map<String, Value>) -> Option<ImplementationMaterial> {
        let first = |keys: &[&str]| {
            keys.iter()
                .filter_map(|key| str_field(item, key))
                .find(|value| !value.trim().is_empty())
                .unwrap_or_default()
                .to_owned()
        };
        let material = ImplementationMaterial {
            title: str_field(item, "title").unwrap_or_default().to_owned(),
            reference: first(&["ref", "uri", "url"]),
            bundle_tree_sha256: first(&["bundle_tree_sha256", "tree_sha256"]),
        };
        let present = !material.reference.trim().is_empty()
            || !material.bundle_tree_sha256.trim().is_empty()
            || !material.title.trim().is_empty();
        present.then_some(material)
    }
    let raw: Vec<ImplementationMaterial> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(from_object)
            .collect(),
        Some(Value::Object(map)) => match from_object(map) {
            Some(material) => vec![material],
            None => implementation_materials_from(map.get("custom_code_bundles")),
        },
        _ => Vec::new(),
    };
    normalize_materials(raw)
}

/// Trims, lower-cases tree digests, drops empty entries.
pub fn normalize_materials(materials: Vec<ImplementationMaterial>) -> Vec<ImplementationMaterial> {
    materials
        .into_iter()
        .map(|m| ImplementationMaterial {
            title: m.title.trim().to_owned(),
            reference: m.reference.trim().to_owned(),
            bundle_tree_sha256: m.bundle_tree_sha256.trim().to_lowercase(),
        })
        .filter(|m| {
            !(m.title.is_empty() && m.reference.is_empty() && m.bundle_tree_sha256.is_empty())
        })
        .collect()
}

/// Adds `fields` to a rendered JSON object body (`{...}` followed by a newline), before its
/// closing brace. The body is never parsed: the stored record is copied once.
pub fn splice(body: &[u8], fields: &[(&str, &Value)]) -> Vec<u8> {
    let end = body.iter().rposition(|b| *b == b'}').unwrap_or(body.len());
    let empty_object = body[..end].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(&body[..end]);
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 || !empty_object {
            out.push(b',');
        }
        out.extend_from_slice(
            to_go_json(&Value::String((*key).to_owned()), GoJsonOptions::MARSHAL).as_bytes(),
        );
        out.push(b':');
        out.extend_from_slice(to_go_json(value, GoJsonOptions::MARSHAL).as_bytes());
    }
    out.extend_from_slice(&body[end..]);
    out
}

/// A quoted strong ETag for a stored body, optionally qualified by the mutable fields spliced
/// into it (so the validator changes exactly when the served bytes do).
pub fn etag(hex: &str, spliced: Option<&[u8]>) -> String {
    match spliced {
        None => format!("\"{hex}\""),
        Some(extra) => format!("\"{hex}.{}\"", &signing::sha256_hex(extra)[..16]),
    }
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, as RFC 9110 asks
/// for this header).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == bare)
}

/// The plain (unspliced) stored-body hex digests named in an `If-None-Match` header, for the
/// download query to skip sending bytes the client already has.
pub fn plain_etag_candidates(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(|c| c.trim().trim_start_matches("W/").trim_matches('"'))
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splice_adds_fields_before_the_closing_brace() {
        let body = b"{\"a\":1}\n";
        let lifecycle = json!({"status": "yanked", "reason": "<bad>"});
        let spliced = splice(
            body,
            &[("download_count", &json!(3)), ("lifecycle", &lifecycle)],
        );
        assert_eq!(
            String::from_utf8(spliced).unwrap(),
            "{\"a\":1,\"download_count\":3,\"lifecycle\":{\"reason\":\"\\u003cbad\\u003e\",\"status\":\"yanked\"}}\n"
        );
        assert_eq!(splice(b"{}\n", &[("k", &json!(1))]), b"{\"k\":1}\n");
        let parsed: Value =
            serde_json::from_slice(&splice(b"{\"a\":1}\n", &[("b", &json!(null))])).unwrap();
        assert_eq!(parsed, json!({"a": 1, "b": null}));
    }

    #[test]
    fn etags_and_conditionals() {
        let hex = "a".repeat(64);
        let tag = etag(&hex, None);
        assert!(if_none_match(&format!("W/{tag}"), &tag));
        assert!(if_none_match(&format!("\"x\", {tag}"), &tag));
        assert!(if_none_match("*", &tag));
        assert!(!if_none_match("\"x\"", &tag));
        assert_eq!(
            plain_etag_candidates(&format!("\"x\", {tag}")),
            vec![hex.clone()]
        );
        let qualified = etag(&hex, Some(b"{}"));
        assert_ne!(qualified, tag);
        assert!(plain_etag_candidates(&qualified).is_empty());
    }

    #[test]
    fn materials_from_manifest_shapes() {
        let nested = json!({"custom_code_bundles": [{"ref": " r1 ", "bundle_tree_sha256": "SHA256:AB"}, {}]});
        assert_eq!(
            implementation_materials_from(Some(&nested)),
            vec![ImplementationMaterial {
                title: String::new(),
                reference: "r1".into(),
                bundle_tree_sha256: "sha256:ab".into()
            }]
        );
        let single = json!({"uri": "u", "title": "T"});
        assert_eq!(
            implementation_materials_from(Some(&single))[0].reference,
            "u"
        );
        assert!(implementation_materials_from(Some(&json!("x"))).is_empty());
    }
}
