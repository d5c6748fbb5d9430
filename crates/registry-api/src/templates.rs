//! Publishing a starter template as plain functions: upstream's
//! `normalizeTemplatePublishRequest`, `validateTemplatePublishRequest` and
//! `buildPublishedTemplate`, plus a signed receipt (upstream leaves templates unsigned).

use serde_json::{Map, Value};
use signing::digest::digest_value;
use signing::{KeySet, TemplateReceiptPayload};

use crate::error::ApiError;
use crate::ids::{TemplateId, Version};
use crate::model::{JsonMap, PublishTemplateRequest, TemplateReceipt};
use crate::publish::PublisherIdentity;
use crate::record::Rendered;
use crate::validate::{
    self, encoded_len, invalid, str_field, Invalid, ANIP_SPEC_VERSION,
    MAX_TEMPLATE_CAPABILITY_MAPPINGS, MAX_TEMPLATE_CONNECTIONS, MAX_TEMPLATE_DISCOVERY_RECORDS,
    MAX_TEMPLATE_DOCUMENTS, MAX_TEMPLATE_DOCUMENT_BYTES, MAX_TEMPLATE_MANIFEST_BYTES,
    MAX_TEMPLATE_PAYLOAD_BYTES,
};

const PACKAGE_SCHEMA: &str = "anip-starter-template-package/v0";
const PACKAGE_KIND: &str = "anip_starter_template";
const MANIFEST_SCHEMA: &str = "anip-starter-template-manifest/v0";
const TEMPLATE_SCHEMA: &str = "anip-starter-template/v0";

/// A template version as published.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRecord {
    pub template_id: String,
    pub template_version: String,
    pub template_kind: String,
    pub project_type: String,
    pub anip_spec_version: String,
    pub domain: String,
    pub industry: String,
    pub systems: Vec<String>,
    pub publisher_id: String,
    pub publisher_type: String,
    pub published_at: String,
    pub manifest_digest: String,
    pub template_digest: String,
    pub package_digest: String,
    pub manifest: JsonMap,
    pub template: JsonMap,
    pub package: JsonMap,
}

impl TemplateRecord {
    /// The record body without `download_count` (spliced in when served).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: &str, omit_empty: bool| {
            if !(omit_empty && value.is_empty()) {
                map.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        };
        put("template_id", &self.template_id, false);
        put("template_version", &self.template_version, false);
        put("template_kind", &self.template_kind, false);
        put("project_type", &self.project_type, false);
        put("anip_spec_version", &self.anip_spec_version, false);
        put("domain", &self.domain, true);
        put("industry", &self.industry, true);
        put("publisher_id", &self.publisher_id, true);
        put("publisher_type", &self.publisher_type, true);
        put("published_at", &self.published_at, false);
        put("manifest_digest", &self.manifest_digest, false);
        put("template_digest", &self.template_digest, false);
        put("package_digest", &self.package_digest, false);
        if !self.systems.is_empty() {
            map.insert("systems".into(), serde_json::json!(self.systems));
        }
        map.insert("manifest".into(), Value::Object(self.manifest.clone()));
        map.insert("template".into(), Value::Object(self.template.clone()));
        map.insert("package".into(), Value::Object(self.package.clone()));
        Value::Object(map)
    }
}

/// A template ready to store.
#[derive(Debug, Clone)]
pub struct BuiltTemplate {
    pub record: TemplateRecord,
    pub rendered_record: Rendered,
    pub rendered_package: Rendered,
    pub receipt: TemplateReceipt,
}

/// A template publish request with parsed identity.
#[derive(Debug, Clone)]
pub struct TemplateIdentity {
    pub template_id: TemplateId,
    pub template_version: Version,
    manifest: JsonMap,
    template: JsonMap,
    package: Option<JsonMap>,
}

/// Upstream's normalization of the ids (falling back to the manifest's), then our parsing.
pub fn template_identity(request: PublishTemplateRequest) -> Result<TemplateIdentity, ApiError> {
    let manifest = request.manifest.unwrap_or_default();
    let template = request.template.unwrap_or_default();
    let pick = |primary: &str, key: &str| {
        if primary.trim().is_empty() {
            str_field(&manifest, key)
                .unwrap_or_default()
                .trim()
                .to_owned()
        } else {
            primary.trim().to_owned()
        }
    };
    let template_id = pick(&request.template_id, "template_id");
    let template_version = pick(&request.template_version, "package_version");
    if template_id.is_empty() || template_version.is_empty() {
        return Err(ApiError::BadRequest(
            "template_id and template_version are required".into(),
        ));
    }
    Ok(TemplateIdentity {
        template_id: TemplateId::parse(&template_id)?,
        template_version: Version::parse_field("template_version", &template_version)?,
        manifest,
        template,
        package: request.package.filter(|p| !p.is_empty()),
    })
}

/// Validates and builds the template, and signs its receipt.
pub fn build_template(
    identity: TemplateIdentity,
    publisher: &PublisherIdentity,
    published_at: &str,
    keys: &KeySet,
) -> Result<BuiltTemplate, Invalid> {
    let TemplateIdentity {
        template_id,
        template_version,
        manifest,
        template,
        package,
    } = identity;
    let package = match package {
        Some(package) => {
            if package.get("schema").is_some_and(|s| s != PACKAGE_SCHEMA) {
                return Err(invalid(
                    "package.schema",
                    format!("must be {PACKAGE_SCHEMA}"),
                ));
            }
            if package
                .get("package_kind")
                .is_some_and(|k| k != PACKAGE_KIND)
            {
                return Err(invalid(
                    "package.package_kind",
                    format!("must be {PACKAGE_KIND}"),
                ));
            }
            package
        }
        None => {
            let mut package = Map::new();
            package.insert("schema".into(), Value::from(PACKAGE_SCHEMA));
            package.insert("package_kind".into(), Value::from(PACKAGE_KIND));
            package.insert(
                "package_version".into(),
                Value::from(template_version.as_str()),
            );
            package.insert("manifest".into(), Value::Object(manifest.clone()));
            package.insert("template".into(), Value::Object(template.clone()));
            package
        }
    };
    if str_field(&manifest, "schema") != Some(MANIFEST_SCHEMA) {
        return Err(invalid(
            "manifest.schema",
            format!("must be {MANIFEST_SCHEMA}"),
        ));
    }
    if str_field(&template, "schema") != Some(TEMPLATE_SCHEMA) {
        return Err(invalid(
            "template.schema",
            format!("must be {TEMPLATE_SCHEMA}"),
        ));
    }
    if encoded_len(&manifest) > MAX_TEMPLATE_MANIFEST_BYTES {
        return Err(invalid(
            "manifest",
            format!("exceeds {MAX_TEMPLATE_MANIFEST_BYTES} bytes"),
        ));
    }
    if encoded_len(&template) > MAX_TEMPLATE_PAYLOAD_BYTES {
        return Err(invalid(
            "template",
            format!("exceeds {MAX_TEMPLATE_PAYLOAD_BYTES} bytes"),
        ));
    }
    for (label, map) in [
        ("manifest", &manifest),
        ("template", &template),
        ("package", &package),
    ] {
        validate::resource_limits(label, map)?;
        validate::metadata_hygiene(label, map)?;
        no_executable_fields(label, map)?;
    }
    validate::visible_name("manifest", &manifest)?;
    validate::visible_name("template", &template)?;
    starter_payload(&manifest, &template)?;

    let manifest_value = Value::Object(manifest);
    let template_value = Value::Object(template);
    let package_value = Value::Object(package);
    let manifest_digest = digest_value(&manifest_value);
    let template_digest = digest_value(&template_value);
    let package_digest = digest_value(&package_value);
    let into_map = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let (manifest, template, package) = (
        into_map(manifest_value),
        into_map(template_value),
        into_map(package_value),
    );
    let text = |map: &JsonMap, key: &str| str_field(map, key).unwrap_or_default().to_owned();
    let industry = match text(&manifest, "industry") {
        industry if industry.is_empty() => text(&template, "industry"),
        industry => industry,
    };
    let systems = manifest
        .get("systems")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let record = TemplateRecord {
        template_id: template_id.into_inner(),
        template_version: template_version.into_inner(),
        template_kind: text(&template, "kind"),
        project_type: text(&template, "projectType"),
        anip_spec_version: text(&template, "anipSpecVersion"),
        domain: text(&template, "domain"),
        industry,
        systems,
        publisher_id: publisher.publisher_id.clone(),
        publisher_type: publisher.publisher_type.clone(),
        published_at: published_at.to_owned(),
        manifest_digest,
        template_digest,
        package_digest,
        manifest,
        template,
        package,
    };
    let rendered_record = Rendered::of(&record.to_value());
    let rendered_package = Rendered::of(&Value::Object(record.package.clone()));
    let payload = TemplateReceiptPayload {
        template_id: record.template_id.clone(),
        template_version: record.template_version.clone(),
        template_digest: record.template_digest.clone(),
        issued_at: published_at.to_owned(),
        publisher_id: record.publisher_id.clone(),
        publisher_type: record.publisher_type.clone(),
    };
    let signature = payload.sign(keys);
    let receipt = TemplateReceipt {
        receipt_id: payload.receipt_id(),
        template_id: record.template_id.clone(),
        template_version: record.template_version.clone(),
        registry_signature: signature.to_string(),
        signature_algorithm: signature.algorithm().to_owned(),
        key_id: signature.key_id.to_string(),
        publisher_id: record.publisher_id.clone(),
        publisher_type: record.publisher_type.clone(),
        issued_at: published_at.to_owned(),
    };
    Ok(BuiltTemplate {
        record,
        rendered_record,
        rendered_package,
        receipt,
    })
}

/// Upstream's `validateNoExecutableTemplateFields`: no `script(s)`, `(pre|post)install`,
/// `install` or `command(s)` keys at any depth.
fn no_executable_fields(label: &str, map: &JsonMap) -> Result<(), Invalid> {
    const EXECUTABLE: [&str; 7] = [
        "script",
        "scripts",
        "preinstall",
        "postinstall",
        "install",
        "command",
        "commands",
    ];
    fn check_map(path: &str, map: &JsonMap) -> Result<(), Invalid> {
        for (key, item) in map {
            let child = format!("{path}.{key}");
            if EXECUTABLE.contains(&key.trim().to_lowercase().as_str()) {
                return Err(invalid(
                    child,
                    "is an executable-looking field, which templates may not carry",
                ));
            }
            walk(&child, item)?;
        }
        Ok(())
    }
    fn walk(path: &str, value: &Value) -> Result<(), Invalid> {
        match value {
            Value::Object(map) => check_map(path, map),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(index, item)| walk(&format!("{path}[{index}]"), item)),
            _ => Ok(()),
        }
    }
    check_map(label, map)
}

/// Upstream's `validateStarterTemplatePayload`.
fn starter_payload(manifest: &JsonMap, template: &JsonMap) -> Result<(), Invalid> {
    let text = |map: &JsonMap, key: &str| str_field(map, key).unwrap_or_default().to_owned();
    if text(manifest, "template_id") != text(template, "id") {
        return Err(invalid("manifest.template_id", "must match template.id"));
    }
    if text(template, "anipSpecVersion") != ANIP_SPEC_VERSION {
        return Err(invalid(
            "template.anipSpecVersion",
            format!("must be {ANIP_SPEC_VERSION}"),
        ));
    }
    if text(manifest, "anip_spec_version") != text(template, "anipSpecVersion") {
        return Err(invalid(
            "manifest.anip_spec_version",
            "must match template.anipSpecVersion",
        ));
    }
    if text(manifest, "template_digest") != digest_value(&Value::Object(template.clone())) {
        return Err(invalid(
            "manifest.template_digest",
            "must match the canonical template digest",
        ));
    }
    let array = |key: &str| {
        template
            .get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    for (key, max) in [
        ("documents", MAX_TEMPLATE_DOCUMENTS),
        ("connections", MAX_TEMPLATE_CONNECTIONS),
        ("discoveryRecords", MAX_TEMPLATE_DISCOVERY_RECORDS),
        ("capabilityMappings", MAX_TEMPLATE_CAPABILITY_MAPPINGS),
    ] {
        if array(key).len() > max {
            return Err(invalid(
                format!("template.{key}"),
                format!("exceeds {max} entries"),
            ));
        }
    }
    for (index, document) in array("documents").iter().enumerate() {
        let document = document
            .as_object()
            .ok_or_else(|| invalid(format!("template.documents[{index}]"), "must be an object"))?;
        let filename = text(document, "filename");
        if filename.is_empty()
            || filename.contains("..")
            || filename.contains('/')
            || filename.contains('\\')
            || !filename.to_lowercase().ends_with(".md")
        {
            return Err(invalid(
                format!("template.documents[{index}].filename"),
                "must be a safe Markdown .md filename",
            ));
        }
        if text(document, "content").len() > MAX_TEMPLATE_DOCUMENT_BYTES {
            return Err(invalid(
                format!("template.documents[{index}].content"),
                format!("exceeds {MAX_TEMPLATE_DOCUMENT_BYTES} bytes"),
            ));
        }
    }
    for (index, connection) in array("connections").iter().enumerate() {
        let connection = connection.as_object().ok_or_else(|| {
            invalid(
                format!("template.connections[{index}]"),
                "must be an object",
            )
        })?;
        let secret_ref = text(connection, "secret_ref");
        if !secret_ref.is_empty() && !is_env_style_ref(&secret_ref) {
            return Err(invalid(
                format!("template.connections[{index}].secret_ref"),
                "must be an environment-style reference",
            ));
        }
    }
    Ok(())
}

fn is_env_style_ref(value: &str) -> bool {
    (2..=128).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_uppercase())
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A valid template publish body.
    pub fn valid_request(template_id: &str, version: &str) -> Value {
        let template = json!({
            "schema": TEMPLATE_SCHEMA,
            "id": template_id,
            "kind": "service",
            "projectType": "fronting",
            "anipSpecVersion": ANIP_SPEC_VERSION,
            "domain": "devops",
            "documents": [{"filename": "README.md", "content": "# Hello"}],
            "connections": [{"name": "gitlab", "secret_ref": "GITLAB_TOKEN"}],
        });
        let digest = digest_value(&template);
        json!({
            "template_id": template_id,
            "template_version": version,
            "manifest": {
                "schema": MANIFEST_SCHEMA,
                "template_id": template_id,
                "anip_spec_version": ANIP_SPEC_VERSION,
                "template_digest": digest,
                "industry": "software",
                "systems": ["gitlab", " "],
            },
            "template": template,
        })
    }

    #[test]
    fn builds_and_signs_a_valid_template() {
        let request: PublishTemplateRequest =
            serde_json::from_value(valid_request("starter", "1.0.0")).unwrap();
        let identity = template_identity(request).unwrap();
        let keys = KeySet::dev();
        let publisher = PublisherIdentity {
            publisher_id: "p".into(),
            publisher_type: "organization".into(),
        };
        let built = build_template(identity, &publisher, "2026-01-01T00:00:00Z", &keys).unwrap();
        assert_eq!(built.record.systems, vec!["gitlab".to_owned()]);
        assert_eq!(built.record.package["schema"], PACKAGE_SCHEMA);
        let payload = TemplateReceiptPayload {
            template_id: "starter".into(),
            template_version: "1.0.0".into(),
            template_digest: built.record.template_digest.clone(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            publisher_id: "p".into(),
            publisher_type: "organization".into(),
        };
        payload
            .verify(keys.public_keys(), &built.receipt.registry_signature)
            .unwrap();
    }

    #[test]
    fn refuses_executable_fields_and_bad_digests() {
        let mut body = valid_request("starter", "1.0.0");
        body["template"]["scripts"] = json!({"postinstall": "rm -rf /"});
        let request: PublishTemplateRequest = serde_json::from_value(body).unwrap();
        let identity = template_identity(request).unwrap();
        let publisher = PublisherIdentity {
            publisher_id: "p".into(),
            publisher_type: "x".into(),
        };
        let error = build_template(identity, &publisher, "2026-01-01T00:00:00Z", &KeySet::dev())
            .unwrap_err();
        assert_eq!(error.field, "template.scripts");

        let mut body = valid_request("starter", "1.0.0");
        body["manifest"]["template_digest"] = json!("sha256:00");
        let request: PublishTemplateRequest = serde_json::from_value(body).unwrap();
        let error = build_template(
            template_identity(request).unwrap(),
            &publisher,
            "t",
            &KeySet::dev(),
        )
        .unwrap_err();
        assert_eq!(error.field, "manifest.template_digest");
    }
}
