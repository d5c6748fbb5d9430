//! Building a package from a saved developer revision: manifest, service definition,
//! recommended lock and readme, shaped as a Registry publish request.

use serde_json::{json, Value};

use super::{array, contract, definition, field};
use crate::ids::{PackageId, PackageVersion};
use crate::model::{Artifact, Project};

/// The ANIP protocol version packages target.
pub const ANIP_SPEC_VERSION: &str = "anip/0.24";

/// Limits the Registry enforces; checked here so authors hear about them before publishing.
pub const MAX_README_BYTES: usize = 64 * 1024;
/// Most source links.
pub const MAX_SOURCE_LINKS: usize = 8;
/// Most implementation materials.
pub const MAX_IMPLEMENTATION_MATERIALS: usize = 8;

/// Author choices for a package.
#[derive(Clone, Debug)]
pub struct PackageOptions {
    /// Package id.
    pub package_id: PackageId,
    /// Package version.
    pub package_version: PackageVersion,
    /// Readme; generated when `None`.
    pub readme: Option<String>,
    /// `{title, url}` links (http or https).
    pub source_links: Vec<Value>,
    /// `{ref, title?, bundle_tree_sha256?}` implementation materials.
    pub implementation_materials: Vec<Value>,
}

/// Checks the author-supplied parts against the Registry's limits.
pub fn check_options(options: &PackageOptions) -> Result<(), String> {
    if options
        .readme
        .as_deref()
        .is_some_and(|r| r.len() > MAX_README_BYTES)
    {
        return Err(format!("The readme exceeds {MAX_README_BYTES} bytes."));
    }
    if options.source_links.len() > MAX_SOURCE_LINKS {
        return Err(format!(
            "At most {MAX_SOURCE_LINKS} source links are allowed."
        ));
    }
    for (index, link) in options.source_links.iter().enumerate() {
        let url = field(link, "url");
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "source_links[{index}].url must be an http or https URL."
            ));
        }
    }
    if options.implementation_materials.len() > MAX_IMPLEMENTATION_MATERIALS {
        return Err(format!(
            "At most {MAX_IMPLEMENTATION_MATERIALS} implementation materials are allowed."
        ));
    }
    Ok(())
}

/// Upstream's normalisation of implementation materials: `{ref, title?, bundle_tree_sha256?}`,
/// empty entries dropped.
pub fn normalize_materials(materials: &[Value]) -> Vec<Value> {
    materials
        .iter()
        .filter_map(|item| {
            let reference = field(item, "ref");
            let title = field(item, "title");
            let tree = field(item, "bundle_tree_sha256").to_lowercase();
            if reference.is_empty() && title.is_empty() && tree.is_empty() {
                return None;
            }
            let mut out = serde_json::Map::new();
            out.insert("ref".into(), json!(reference));
            if !title.is_empty() {
                out.insert("title".into(), json!(title));
            }
            if !tree.is_empty() {
                out.insert("bundle_tree_sha256".into(), json!(tree));
            }
            Some(Value::Object(out))
        })
        .collect()
}

/// The inputs of a build.
pub struct BuildInputs<'a> {
    /// The project.
    pub project: &'a Project,
    /// The developer definition revision being packaged.
    pub revision: &'a Artifact,
    /// The compiled service definition, with its identity.
    pub service_definition: &'a Value,
    /// The locked baseline's data.
    pub baseline: &'a Value,
    /// Findings of the definition (they decide readiness).
    pub findings: &'a [definition::Finding],
    /// Author choices.
    pub options: &'a PackageOptions,
}

/// The lineage every package records: project, product revision, developer revision.
pub fn lineage(project_id: &str, baseline: &Value, revision: &Artifact, signature: &str) -> Value {
    let inputs = baseline
        .get("source_inputs")
        .cloned()
        .unwrap_or(Value::Null);
    let product_ref = field(&inputs, "product_revision_artifact_id");
    let product_ref = if product_ref.is_empty() {
        format!("baseline:{}", field(baseline, "locked_at"))
    } else {
        product_ref
    };
    json!({
        "project_ref": project_id,
        "product_revision": {
            "ref": product_ref,
            "artifact_id": inputs.get("product_revision_artifact_id"),
            "revision_number": inputs.get("product_revision_number"),
            "baseline_locked_at": baseline.get("locked_at"),
        },
        "developer_revision": {
            "ref": revision.id,
            "artifact_id": revision.id,
            "revision_number": revision.data.pointer("/saved_revision/revision_number"),
            "contract_signature": signature,
        },
    })
}

fn service_ids(service_definition: &Value) -> Vec<String> {
    let mut ids: Vec<String> = array(service_definition, "service_topology_bindings")
        .iter()
        .map(|b| field(b, "service_id"))
        .filter(|s| !s.is_empty())
        .collect();
    ids.dedup();
    ids
}

/// A readme for the package: what it is, its capabilities, how to verify it.
pub fn default_readme(
    name: &str,
    options: &PackageOptions,
    capability_ids: &[String],
    services: usize,
) -> String {
    let mut readme = format!(
        "# {name}\n\nANIP package `{}@{}`, authored in ANIP Studio.\n\n## Contents\n\n- Services: {services}\n- Capabilities: {}\n- ANIP spec: `{ANIP_SPEC_VERSION}`\n\n## Capability Surface\n\n",
        options.package_id,
        options.package_version,
        capability_ids.len()
    );
    for id in capability_ids {
        readme.push_str(&format!("- `{id}`\n"));
    }
    readme.push_str(&format!(
        "\n## Verify\n\n```bash\nanip verify --registry-url <registry-url> --package-id {} --package-version {}\n```\n",
        options.package_id, options.package_version
    ));
    readme
}

/// Builds the publish request: `{package_id, package_version, project_ref,
/// product_revision_ref, developer_revision_ref, contract_signature, lineage, schema_version,
/// manifest, service_definition, recommended_lock, readme, source_links,
/// implementation_materials}`. Deterministic: the same revision and options give the same
/// bytes (times come from the revision, not the clock).
pub fn build(inputs: &BuildInputs<'_>) -> Value {
    let options = inputs.options;
    let definition_doc = inputs.service_definition;
    let signature = definition_doc
        .pointer("/compiled_contract_identity/signature")
        .map(|v| super::text(Some(v)))
        .unwrap_or_default();
    let lineage = lineage(
        &inputs.project.id,
        inputs.baseline,
        inputs.revision,
        &signature,
    );
    let capability_ids = contract::capability_ids(definition_doc);
    let services = service_ids(definition_doc);
    let system_name = definition_doc
        .pointer("/identity/system_name")
        .map(|v| super::text(Some(v)))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| inputs.project.name.clone());
    let generated_at = inputs
        .revision
        .data
        .pointer("/saved_revision/saved_at")
        .cloned()
        .unwrap_or(Value::Null);
    let readme = options
        .readme
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default_readme(&system_name, options, &capability_ids, services.len()));
    let consumability = definition::consumability(definition_doc);
    let readiness = definition::readiness(definition_doc, inputs.findings);
    let materials = normalize_materials(&options.implementation_materials);
    let package_id = options.package_id.as_str();
    let version = options.package_version.as_str();

    let mut manifest = json!({
        "artifact_type": "anip_package_manifest",
        "package_kind": "anip_service_blueprint",
        "blueprint_id": package_id,
        "package_id": package_id,
        "package_version": version,
        "version": version,
        "name": format!("{system_name} Service Blueprint"),
        "schema_version": contract::SCHEMA_VERSION,
        "anip_spec_version": ANIP_SPEC_VERSION,
        "service_definition": "anip-service-definition.json",
        "service_count": services.len(),
        "service_ids": services,
        "capability_count": capability_ids.len(),
        "generated_at": generated_at,
        "readme": readme,
        "source_links": options.source_links,
        "lineage": lineage,
        "agent_consumability": consumability,
        "agent_consumption_readiness": readiness,
        "build_packs": {"recommended": []},
        "verifier_packs": {"recommended": []},
    });
    if !materials.is_empty() {
        manifest["implementation_material"] = json!({"custom_code_bundles": materials});
    }
    let lock = json!({
        "artifact_type": "anip_package_lock",
        "lock_kind": "publisher_recommended_lock",
        "blueprint_id": package_id,
        "blueprint_version": version,
        "package_id": package_id,
        "package_version": version,
        "schema_version": contract::SCHEMA_VERSION,
        "anip_spec_version": ANIP_SPEC_VERSION,
        "capability_ids": capability_ids,
        "selected_service_ids": definition_doc.pointer("/generation/selected_service_ids").cloned().unwrap_or_else(|| json!([])),
        "contract_signature": signature,
        "generated_at": generated_at,
        "lineage": lineage,
        "agent_consumability": consumability,
        "agent_consumption_readiness": readiness,
        "build_packs": [],
        "verifier_packs": [],
        "extension_packs": [],
        "regression_packs": [],
        "runtime_packages": [],
    });
    json!({
        "package_id": package_id,
        "package_version": version,
        "project_ref": inputs.project.id,
        "product_revision_ref": lineage["product_revision"]["ref"],
        "developer_revision_ref": inputs.revision.id,
        "contract_signature": signature,
        "lineage": lineage,
        "schema_version": contract::SCHEMA_VERSION,
        "manifest": manifest,
        "service_definition": definition_doc,
        "recommended_lock": lock,
        "readme": readme,
        "source_links": options.source_links,
        "implementation_materials": materials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_against_registry_limits() {
        let base = PackageOptions {
            package_id: PackageId::parse("x").unwrap(),
            package_version: PackageVersion::parse("1.0.0").unwrap(),
            readme: None,
            source_links: vec![json!({"title": "repo", "url": "https://example.com/x"})],
            implementation_materials: vec![],
        };
        assert!(check_options(&base).is_ok());
        let mut bad = base.clone();
        bad.source_links = vec![json!({"url": "ftp://x"})];
        assert!(check_options(&bad).unwrap_err().contains("http"));
        let mut long = base.clone();
        long.readme = Some("x".repeat(MAX_README_BYTES + 1));
        assert!(check_options(&long).is_err());
    }

    #[test]
    fn materials_are_normalized() {
        let out = normalize_materials(&[
            json!({"ref": "git+https://x", "bundle_tree_sha256": "AB"}),
            json!({}),
        ]);
        assert_eq!(
            out,
            vec![json!({"ref": "git+https://x", "bundle_tree_sha256": "ab"})]
        );
    }
}
