//! Template export: a project's reusable starting point (its Markdown source documents,
//! connections by reference, discovery records and capability mappings) as an
//! `anip_starter_template` package for the Registry.

use serde_json::{json, Value};
use signing::digest::digest_value;

use super::{array, field, package::ANIP_SPEC_VERSION};
use crate::ids::{PackageId, PackageVersion};
use crate::model::{Artifact, Connection, DiscoveryRecord, Document, Project};

/// Largest document carried by a template (the Registry's limit).
pub const MAX_DOCUMENT_BYTES: usize = 20 * 1024;
/// Most documents, connections and mappings.
pub const MAX_DOCUMENTS: usize = 20;

/// `artifact_type` of capability mappings that templates carry.
pub const MAPPING_TYPE: &str = "integration_fronting_capability_mapping";

/// What goes into a template.
pub struct TemplateInputs<'a> {
    /// The source project.
    pub project: &'a Project,
    /// Its documents with their bytes.
    pub documents: &'a [(Document, Vec<u8>)],
    /// Its workspace's connections.
    pub connections: &'a [Connection],
    /// Its discovery records.
    pub discovery_records: &'a [DiscoveryRecord],
    /// Its PM artifacts (capability mappings are taken from them).
    pub pm_artifacts: &'a [Artifact],
    /// Template id.
    pub template_id: &'a PackageId,
    /// Template version.
    pub template_version: &'a PackageVersion,
    /// Export time.
    pub exported_at: &'a str,
}

fn suffix(id: &str, project_id: &str) -> String {
    let trimmed = id
        .strip_prefix(project_id)
        .map(|s| s.trim_start_matches('-'))
        .filter(|s| !s.is_empty())
        .unwrap_or(id);
    trimmed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(96)
        .collect()
}

fn is_env_ref(value: &str) -> bool {
    let mut chars = value.chars();
    (2..=128).contains(&value.len())
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The Registry template publish request `{template_id, template_version, manifest, template,
/// package}` and the warnings about what was left out.
pub fn build(inputs: &TemplateInputs<'_>) -> (Value, Vec<String>) {
    let project = inputs.project;
    let mut warnings = Vec::new();
    let mut documents = Vec::new();
    for (document, bytes) in inputs.documents {
        let filename = if document.filename.to_lowercase().ends_with(".md") {
            document.filename.clone()
        } else {
            format!("{}.md", document.filename)
        };
        let safe = !filename.contains("..") && !filename.contains('/') && !filename.contains('\\');
        match std::str::from_utf8(bytes) {
            Ok(text) if safe && bytes.len() <= MAX_DOCUMENT_BYTES && documents.len() < MAX_DOCUMENTS => {
                documents.push(json!({
                    "idSuffix": suffix(&document.id, &project.id),
                    "title": document.title,
                    "kind": document.kind,
                    "filename": filename,
                    "content": text,
                }));
            }
            _ => warnings.push(format!(
                "Document {:?} was left out (templates carry up to {MAX_DOCUMENTS} UTF-8 Markdown documents of at most {MAX_DOCUMENT_BYTES} bytes).",
                document.title
            )),
        }
    }
    let mut connections = Vec::new();
    for connection in inputs.connections.iter().take(MAX_DOCUMENTS) {
        let secret_ref = if connection.secret_ref.is_empty() || is_env_ref(&connection.secret_ref) {
            connection.secret_ref.clone()
        } else {
            warnings.push(format!(
                "The secret reference of connection {:?} is not an environment variable name and was dropped.",
                connection.display_name
            ));
            String::new()
        };
        connections.push(json!({
            "idSuffix": suffix(&connection.id, &project.id),
            "display_name": connection.display_name,
            "backend_kind": connection.backend_kind,
            "system_kind": connection.system_kind,
            "endpoint_ref": connection.endpoint_ref,
            "auth_mode": connection.auth_mode,
            "identity_provider_ref": connection.identity_provider_ref,
            "secret_ref": secret_ref,
            "metadata": connection.metadata,
        }));
    }
    let discovery: Vec<Value> = inputs
        .discovery_records
        .iter()
        .take(200)
        .map(|r| {
            json!({
                "idSuffix": suffix(&r.id, &project.id),
                "connectionIdSuffix": r.connection_id.as_deref().map(|c| suffix(c, &project.id)).unwrap_or_default(),
                "operation_id": r.operation_id,
                "backend_kind": r.backend_kind,
                "method": r.method,
                "path_template": r.path_template,
                "side_effect_level": r.side_effect_level,
                "input_schema_summary": r.input_schema_summary,
                "risk_notes": r.risk_notes,
                "data": r.data,
            })
        })
        .collect();
    let mappings: Vec<Value> = inputs
        .pm_artifacts
        .iter()
        .filter(|a| field(&a.data, "artifact_type") == MAPPING_TYPE)
        .take(100)
        .map(|a| json!({"idSuffix": suffix(&a.id, &project.id), "title": a.title, "data": a.data}))
        .collect();
    let kind = if mappings.is_empty() {
        "project_starter"
    } else {
        "fronting_starter"
    };
    let template = json!({
        "schema": "anip-starter-template/v0",
        "anipSpecVersion": ANIP_SPEC_VERSION,
        "id": inputs.template_id.as_str(),
        "kind": kind,
        "projectType": project.project_type,
        "title": project.name,
        "summary": project.summary,
        "description": project.summary,
        "domain": project.domain,
        "documents": documents,
        "connections": connections,
        "discoveryRecords": discovery,
        "capabilityMappings": mappings,
    });
    let counts = json!({
        "documents": array(&template, "documents").len(),
        "connections": array(&template, "connections").len(),
        "discovery_records": array(&template, "discoveryRecords").len(),
        "capability_mappings": array(&template, "capabilityMappings").len(),
    });
    let manifest = json!({
        "schema": "anip-starter-template-manifest/v0",
        "template_id": inputs.template_id.as_str(),
        "template_title": project.name,
        "template_kind": kind,
        "package_version": inputs.template_version.as_str(),
        "anip_spec_version": ANIP_SPEC_VERSION,
        "studio_version": env!("CARGO_PKG_VERSION"),
        "template_digest": digest_value(&template),
        "counts": counts,
    });
    warnings.truncate(12);
    let package = json!({
        "schema": "anip-starter-template-package/v0",
        "package_kind": "anip_starter_template",
        "package_version": inputs.template_version.as_str(),
        "exported_at": inputs.exported_at,
        "exported_by": {"studio_version": env!("CARGO_PKG_VERSION"), "anip_spec_version": ANIP_SPEC_VERSION},
        "source_project": {"id": project.id, "name": project.name, "project_type": project.project_type, "domain": project.domain},
        "manifest": manifest,
        "selection": counts,
        "warnings": warnings,
        "template": template,
    });
    (
        json!({
            "template_id": inputs.template_id.as_str(),
            "template_version": inputs.template_version.as_str(),
            "manifest": manifest,
            "template": template,
            "package": package,
        }),
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_refs() {
        assert!(is_env_ref("GITLAB_TOKEN"));
        assert!(!is_env_ref("vault:secret/x"));
        assert!(!is_env_ref("X"));
    }

    #[test]
    fn suffixes_drop_the_project_prefix() {
        assert_eq!(suffix("proj-doc-1", "proj"), "doc-1");
        assert_eq!(suffix("other/id", "proj"), "other-id");
    }
}
