//! Compiling a developer definition into an `anip-service-definition/v1` document, and the
//! contract signature that identifies it.
//!
//! The document follows upstream's `buildDeveloperDefinitionContract` member for member. The
//! signature is a SHA-256 over the stable sorted-key JSON of the document without the members
//! that describe *when and from what* it was compiled (`generated_at`,
//! `compiled_contract_identity`, `source`, `studio_traceability`, `generator_launch`), so the
//! same contract always has the same signature, whenever and from whichever revision it is
//! compiled. Inputs are stated as upstream's `contractInputFormalization` states them, including
//! the resolution rule it infers for an input that declares none, so a contract compiled here
//! and one compiled by upstream's browser code from the same data have the same signature
//! (`tests/contract_signatures.rs` recomputes upstream-saved revisions).

use serde_json::{json, Map, Value};

use super::{array, field, object};
use crate::hashing;
use crate::model::{Artifact, Project};

/// The schema of compiled contracts.
pub const SCHEMA_VERSION: &str = "anip-service-definition/v1";

/// The keys left out of the signature.
pub const UNSIGNED_KEYS: [&str; 5] = [
    "generated_at",
    "compiled_contract_identity",
    "source",
    "studio_traceability",
    "generator_launch",
];

/// `artifact_type` of the working definition and of its frozen revisions.
pub const DEFINITION_TYPE: &str = "developer_definition";
/// `artifact_type` of a frozen developer definition revision.
pub const REVISION_TYPE: &str = "developer_definition_revision";

/// The record id of a project's working definition.
pub fn definition_id(project_id: &str) -> String {
    format!("{project_id}-developer-definition")
}

/// The record id of developer definition revision `number`.
pub fn revision_id(project_id: &str, number: i64) -> String {
    format!("{project_id}-developer-definition-revision-{number}")
}

/// Everything the compiler reads.
pub struct ContractInputs<'a> {
    /// The project.
    pub project: &'a Project,
    /// The developer baseline's data.
    pub baseline: Option<&'a Value>,
    /// The baseline's requirements set.
    pub requirements: Option<&'a Artifact>,
    /// The baseline's scenarios.
    pub scenarios: &'a [&'a Artifact],
    /// The baseline's shape.
    pub shape: Option<&'a Artifact>,
    /// The developer definition's data.
    pub definition: &'a Value,
    /// When the document is compiled.
    pub generated_at: &'a str,
}

fn slug(value: &str, separator: char) -> String {
    let mut out = String::new();
    for c in value.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(separator) {
            out.push(separator);
        }
    }
    out.trim_matches(separator).to_owned()
}

fn canonical_path_template(capability_id: &str) -> String {
    let segments: Vec<String> = capability_id
        .split('.')
        .map(|s| slug(s, '-'))
        .filter(|s| !s.is_empty())
        .collect();
    if segments.is_empty() {
        "/capability".to_owned()
    } else {
        format!("/{}", segments.join("/"))
    }
}

fn safe_identifier(value: &str, extra: &str, max: usize) -> bool {
    let mut chars = value.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.len() <= max
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
}

fn canonical_output_shape(value: &str, capability_id: &str) -> String {
    if safe_identifier(value, "", 128) {
        return value.to_owned();
    }
    let normalized = slug(capability_id, '_');
    if normalized.is_empty() {
        "governed_result".to_owned()
    } else {
        format!("{normalized}_result")
    }
}

fn canonical_backend_operation(value: &str, capability_id: &str) -> String {
    if safe_identifier(value, ".:-", 128) {
        value.to_owned()
    } else {
        capability_id.to_owned()
    }
}

/// Resolution modes and behaviours upstream accepts (`INPUT_RESOLUTION_MODES` / `_BEHAVIORS`).
const RESOLUTION_MODES: [&str; 7] = [
    "closed_values",
    "backend_resolved",
    "app_selected",
    "actor_policy",
    "actor_policy_or_explicit",
    "explicit_only",
    "clarify",
];
const RESOLUTION_BEHAVIORS: [&str; 7] = [
    "clarify",
    "use_default",
    "use_actor_scope",
    "app_select_or_clarify",
    "deny",
    "deny_or_clarify",
    "omit",
];

/// JavaScript truthiness of a JSON value, as upstream's `||` and `!!` see it.
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Upstream's `normalizeInputResolution`: a known mode, the known behaviours, a trimmed
/// resolver; anything else is no declared rule.
fn normalize_resolution(value: Option<&Value>) -> Option<Map<String, Value>> {
    let raw = value?.as_object()?;
    let mode = raw
        .get("mode")
        .and_then(Value::as_str)
        .filter(|m| RESOLUTION_MODES.contains(m))?;
    let mut out = Map::new();
    out.insert("mode".to_owned(), json!(mode));
    if let Some(resolver) = raw
        .get("resolver_ref")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        out.insert("resolver_ref".to_owned(), json!(resolver));
    }
    for key in ["on_missing", "on_ambiguous", "on_unresolved"] {
        if let Some(behavior) = raw
            .get(key)
            .and_then(Value::as_str)
            .filter(|b| RESOLUTION_BEHAVIORS.contains(b))
        {
            out.insert(key.to_owned(), json!(behavior));
        }
    }
    Some(out)
}

/// Upstream's `inferInputResolution`: the rule an input without a declared one gets, from its
/// default, allowed values, semantic type, reference flag, hint and requiredness.
fn infer_resolution(input: &Value, allowed: &[Value], catalog_ref: &str) -> Value {
    // `.trim().toLowerCase().replace(/[\s-]+/g, "_")`
    let semantic: String = {
        let mut out = String::new();
        let mut in_run = false;
        for c in field(input, "semantic_type").trim().to_lowercase().chars() {
            if c.is_whitespace() || c == '-' {
                if !in_run {
                    out.push('_');
                }
                in_run = true;
            } else {
                out.push(c);
                in_run = false;
            }
        }
        out
    };
    let required = truthy(input.get("required"));
    let has_default = !field(input, "default_value").is_empty();
    let missing = if has_default {
        "use_default"
    } else if required {
        "clarify"
    } else {
        "omit"
    };
    let clarify_or_omit = if required { "clarify" } else { "omit" };
    if allowed
        .iter()
        .any(|v| !super::text(Some(v)).trim().is_empty())
    {
        return json!({"mode": "closed_values", "on_missing": missing, "on_ambiguous": "clarify", "on_unresolved": "clarify"});
    }
    if semantic == "scope_reference" || semantic == "selection_scope" {
        return json!({
            "mode": "actor_policy_or_explicit",
            "on_missing": if required { "clarify" } else { "use_actor_scope" },
            "on_ambiguous": "clarify",
            "on_unresolved": "clarify",
        });
    }
    if truthy(input.get("entity_reference"))
        || semantic.ends_with("_reference")
        || semantic == "entity_reference"
    {
        let mut rule = Map::new();
        rule.insert("mode".to_owned(), json!("backend_resolved"));
        let resolver = if !catalog_ref.is_empty() {
            catalog_ref.to_owned()
        } else if !semantic.is_empty() {
            format!(
                "{}_catalog",
                semantic.strip_suffix("_reference").unwrap_or(&semantic)
            )
        } else {
            String::new()
        };
        if !resolver.is_empty() {
            rule.insert("resolver_ref".to_owned(), json!(resolver));
        }
        rule.insert("on_missing".to_owned(), json!(clarify_or_omit));
        rule.insert("on_ambiguous".to_owned(), json!("clarify"));
        rule.insert("on_unresolved".to_owned(), json!("clarify"));
        return Value::Object(rule);
    }
    if truthy(input.get("clarification_hint")) || required {
        return json!({"mode": "clarify", "on_missing": clarify_or_omit, "on_ambiguous": "clarify", "on_unresolved": "clarify"});
    }
    json!({"mode": "explicit_only", "on_missing": missing})
}

/// Upstream's `splitContractListValues`: every entry split on `,` and `;`, trimmed, empties
/// dropped (a plain string is one entry).
fn split_list(value: Option<&Value>) -> Vec<Value> {
    let entries: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other @ Value::String(_)) => vec![other],
        _ => Vec::new(),
    };
    entries
        .into_iter()
        .flat_map(|entry| {
            super::text(Some(entry))
                .split([',', ';'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!(s))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An input as the contract states it (upstream's `contractInputFormalization` over
/// `withInputResolution`): declared fields, empty optional ones dropped, allowed values split,
/// a catalog reference, and a resolution rule: the declared one (completed with the catalog
/// as resolver for resolved or closed values), else the inferred one.
fn contract_input(input: &Value) -> Value {
    let catalog_ref = {
        let declared = field(input, "catalog_ref").trim().to_owned();
        if !declared.is_empty() {
            declared
        } else if input
            .get("reference_catalog")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            format!("{}_catalog", super::text(input.get("input_name")))
        } else {
            String::new()
        }
    };
    let allowed = split_list(input.get("allowed_values"));
    let resolution = match normalize_resolution(input.get("resolution")) {
        Some(mut rule) => {
            let mode = rule.get("mode").and_then(Value::as_str).unwrap_or_default();
            if ["backend_resolved", "closed_values"].contains(&mode)
                && !rule.contains_key("resolver_ref")
                && !catalog_ref.is_empty()
            {
                rule.insert("resolver_ref".to_owned(), json!(catalog_ref));
            }
            Value::Object(rule)
        }
        None => infer_resolution(input, &allowed, &catalog_ref),
    };
    let mut out = Map::new();
    for key in [
        "input_name",
        "input_type",
        "required",
        "summary",
        "default_value",
    ] {
        if let Some(value) = input.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    }
    out.insert("allowed_values".to_owned(), Value::Array(allowed));
    for key in [
        "semantic_type",
        "input_format",
        "validation_pattern",
        "clarification_hint",
        "entity_reference",
        "normalization_hint",
        "normalization_context",
    ] {
        if truthy(input.get(key)) {
            out.insert(key.to_owned(), input[key].clone());
        }
    }
    for key in ["semantic_aliases", "allowed_value_semantics"] {
        if let Some(items) = input.get(key).and_then(Value::as_array) {
            if !items.is_empty() {
                out.insert(key.to_owned(), Value::Array(items.clone()));
            }
        }
    }
    if !catalog_ref.is_empty() {
        out.insert("catalog_ref".to_owned(), json!(catalog_ref));
    }
    out.insert("resolution".to_owned(), resolution);
    Value::Object(out)
}

/// Upstream's `compactDeveloperComposition`: numbered steps, empty mappings dropped.
fn compact_composition(composition: Option<&Value>) -> Value {
    let Some(composition @ Value::Object(original)) = composition else {
        return Value::Null;
    };
    let steps: Vec<Value> = array(composition, "steps")
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let mut out = Map::new();
            out.insert(
                "id".to_owned(),
                step.get("id").cloned().unwrap_or(Value::Null),
            );
            out.insert(
                "capability".to_owned(),
                step.get("capability").cloned().unwrap_or(Value::Null),
            );
            let order = step
                .get("step_order")
                .filter(|v| v.is_number())
                .cloned()
                .unwrap_or_else(|| json!(index + 1));
            out.insert("step_order".to_owned(), order);
            if step.get("empty_result_source").and_then(Value::as_bool) == Some(true) {
                out.insert("empty_result_source".to_owned(), json!(true));
                let path = field(step, "empty_result_path");
                if !path.is_empty() {
                    out.insert("empty_result_path".to_owned(), json!(path));
                }
            }
            Value::Object(out)
        })
        .collect();
    let mut input_mapping = Map::new();
    for (step_id, mapping) in object(composition, "input_mapping") {
        let entries: Map<String, Value> = mapping
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, path)| (name.clone(), json!(super::text(Some(path)))))
            .filter(|(_, path)| path.as_str().is_some_and(|p| !p.is_empty()))
            .collect();
        if !entries.is_empty() {
            input_mapping.insert(step_id.clone(), Value::Object(entries));
        }
    }
    let output_mapping: Map<String, Value> = object(composition, "output_mapping")
        .iter()
        .map(|(name, path)| (name.trim().to_owned(), json!(super::text(Some(path)))))
        .filter(|(name, path)| !name.is_empty() && path.as_str().is_some_and(|p| !p.is_empty()))
        .collect();
    let policy = composition
        .get("empty_result_policy")
        .cloned()
        .unwrap_or(Value::Null);
    let empty_output = if policy.as_str() == Some("return_success_no_results") {
        composition
            .get("empty_result_output")
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let mut out = original.clone();
    out.insert("steps".to_owned(), Value::Array(steps));
    out.insert("input_mapping".to_owned(), Value::Object(input_mapping));
    out.insert("output_mapping".to_owned(), Value::Object(output_mapping));
    out.insert("empty_result_policy".to_owned(), policy);
    out.insert("empty_result_output".to_owned(), empty_output);
    Value::Object(out)
}

fn is_composed(capability: &Value) -> bool {
    field(capability, "kind") == "composed"
}

fn contract_capability(capability: &Value) -> Value {
    let mut out = capability.as_object().cloned().unwrap_or_default();
    let capability_id = field(capability, "capability_id");
    out.insert(
        "inputs".to_owned(),
        Value::Array(
            array(capability, "inputs")
                .iter()
                .map(contract_input)
                .collect(),
        ),
    );
    let composed = is_composed(capability);
    out.insert(
        "kind".to_owned(),
        json!(if composed { "composed" } else { "atomic" }),
    );
    out.insert(
        "composition".to_owned(),
        if composed {
            compact_composition(capability.get("composition"))
        } else {
            Value::Null
        },
    );
    out.insert(
        "grant_policy".to_owned(),
        capability
            .get("grant_policy")
            .cloned()
            .unwrap_or(Value::Null),
    );
    out.insert(
        "backend_operation".to_owned(),
        json!(canonical_backend_operation(
            &field(capability, "backend_operation"),
            &capability_id
        )),
    );
    let path = field(capability, "path_template");
    out.insert(
        "path_template".to_owned(),
        json!(if path.is_empty() {
            canonical_path_template(&capability_id)
        } else {
            path
        }),
    );
    out.insert(
        "output_shape".to_owned(),
        json!(canonical_output_shape(
            &field(capability, "output_shape"),
            &capability_id
        )),
    );
    Value::Object(out)
}

fn policy_decision(permission: &Value) -> &'static str {
    let access = field(permission, "access_posture");
    let outcome = field(permission, "governed_outcome_type");
    if access == "denied" || outcome == "deny_request" {
        "deny"
    } else if outcome == "clarification_required" {
        "clarify"
    } else if access == "approval_required"
        || outcome == "approval_required"
        || outcome == "approval_stop"
    {
        "approval_required"
    } else if ["bounded", "restricted"].contains(&access.as_str())
        || ["bounded_result", "masked_or_restricted_result"].contains(&outcome.as_str())
    {
        "allow_with_limits"
    } else {
        "allow"
    }
}

fn unique(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// Upstream's `permissionPolicyBindings`: one runtime policy per permission intent binding.
fn runtime_policy_bindings(definition: &Value) -> Value {
    let capabilities = array(definition, "capability_formalizations");
    let strings = |v: &Value, key: &str| -> Vec<String> {
        array(v, key).iter().map(|x| super::text(Some(x))).collect()
    };
    Value::Array(
        array(definition, "permission_intent_bindings")
            .iter()
            .map(|permission| {
                let service_ids = strings(permission, "target_service_ids");
                let targets = strings(permission, "target_capability_ids");
                let capability_ids = unique(if targets.is_empty() {
                    capabilities
                        .iter()
                        .filter(|c| service_ids.contains(&field(c, "service_id")))
                        .map(|c| field(c, "capability_id"))
                        .collect::<Vec<_>>()
                } else {
                    targets
                });
                let scopes = unique(
                    capabilities
                        .iter()
                        .filter(|c| capability_ids.contains(&field(c, "capability_id")))
                        .flat_map(|c| strings(c, "minimum_scope")),
                );
                let id = field(permission, "id");
                json!({
                    "id": format!("policy_{id}"),
                    "source_permission_id": permission.get("id"),
                    "actor_id": permission.get("actor_id"),
                    "principal_selector": {"claim": "actor_id", "equals": permission.get("actor_id")},
                    "business_area": permission.get("business_area"),
                    "business_area_label": permission.get("business_area_label"),
                    "service_ids": service_ids,
                    "capability_ids": capability_ids,
                    "required_scopes": scopes,
                    "decision": policy_decision(permission),
                    "business_rule": permission.get("governed_outcome"),
                    "enforcement_notes": permission.get("formalization_strategy"),
                })
            })
            .collect(),
    )
}

fn member_or(definition: &Value, key: &str, default: Value) -> Value {
    definition.get(key).cloned().unwrap_or(default)
}

fn service_design_summary(shape: Option<&Artifact>) -> Value {
    let Some(shape) = shape else {
        return Value::Null;
    };
    let data = shape
        .data
        .get("shape")
        .filter(|s| s.is_object())
        .unwrap_or(&shape.data);
    json!({
        "id": shape.id,
        "title": shape.title,
        "content_hash": shape.content_hash,
        "shape_type": data.get("type"),
        "service_ids": array(data, "services").iter().map(|s| s.get("id").cloned().unwrap_or(Value::Null)).collect::<Vec<_>>(),
    })
}

/// Compiles the service definition document (without `compiled_contract_identity`; see
/// [`with_identity`]).
pub fn compile(inputs: &ContractInputs<'_>) -> Value {
    let project = inputs.project;
    let definition = inputs.definition;
    let generation = definition
        .get("generation")
        .filter(|g| g.is_object())
        .map(|g| {
            json!({
                "protocols": g.get("protocols"),
                "layout_strategy": g.get("layout_strategy"),
                "selected_service_ids": g.get("selected_service_ids"),
            })
        });
    let topology: Vec<Value> = array(definition, "service_topology_bindings")
        .iter()
        .map(|binding| {
            let mut out = Map::new();
            for key in [
                "id",
                "service_id",
                "service_name",
                "source_role",
                "source_capabilities",
                "source_concepts",
                "formalized_capability_ids",
                "owned_concept_ids",
                "implementation_notes",
            ] {
                if let Some(value) = binding.get(key) {
                    out.insert(key.to_owned(), value.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let baseline = inputs.baseline.cloned().unwrap_or(Value::Null);
    let baseline_inputs = baseline
        .get("source_inputs")
        .cloned()
        .unwrap_or(Value::Null);
    let saved_revision = definition
        .get("saved_revision")
        .filter(|v| v.is_object())
        .map(|r| {
            json!({
                "revision_number": r.get("revision_number"),
                "revision_artifact_id": r.get("revision_artifact_id"),
                "previous_revision_artifact_id": r.get("previous_revision_artifact_id"),
                "saved_at": r.get("saved_at"),
            })
        });
    json!({
        "artifact_type": "anip_service_definition",
        "contract_schema_version": SCHEMA_VERSION,
        "generated_at": inputs.generated_at,
        "project": {
            "id": project.id,
            "name": project.name,
            "summary": project.summary,
            "domain": project.domain,
            "labels": project.labels,
        },
        "identity": member_or(definition, "identity", json!({
            "system_name": project.name,
            "domain_name": project.domain,
            "delivery_model": "standalone_service",
            "architecture_shape": "single_service",
        })),
        "authority": member_or(definition, "authority", Value::Null),
        "audit": member_or(definition, "audit", Value::Null),
        "generation": generation,
        "naming": member_or(definition, "naming", Value::Null),
        "backend_bindings": member_or(definition, "backend_bindings", json!([])),
        "application_integration_governance": member_or(definition, "application_integration_governance", Value::Null),
        "data_access_governance": member_or(definition, "data_access_governance", Value::Null),
        "data_domain": member_or(definition, "data_domain", Value::Null),
        "domain_concept_bindings": member_or(definition, "domain_concept_bindings", json!([])),
        "application_object_model": member_or(definition, "application_object_model", json!([])),
        "service_topology_bindings": topology,
        "capability_formalizations": array(definition, "capability_formalizations").iter().map(contract_capability).collect::<Vec<_>>(),
        "actor_expectations": member_or(definition, "actor_expectations", json!([])),
        "permission_intent_bindings": member_or(definition, "permission_intent_bindings", json!([])),
        "runtime_policy_bindings": runtime_policy_bindings(definition),
        "scenario_formalizations": member_or(definition, "scenario_formalizations", json!([])),
        "composition_rules": member_or(definition, "composition_rules", json!([])),
        "verification": member_or(definition, "verification", Value::Null),
        "integration_fronting": member_or(definition, "integration_fronting", Value::Null),
        "rationale": member_or(definition, "rationale", json!([])),
        "source": {
            "product_design_baseline": {
                "locked_at": baseline.get("locked_at"),
                "product_revision_artifact_id": baseline_inputs.get("product_revision_artifact_id"),
                "product_revision_number": baseline_inputs.get("product_revision_number"),
                "product_design_hash": baseline_inputs.get("product_design_hash"),
                "requirements": inputs.requirements.map(|r| json!({"id": r.id, "title": r.title, "content_hash": r.content_hash})),
                "scenario_pack": inputs.scenarios.iter().map(|s| json!({
                    "id": s.id,
                    "title": s.title,
                    "scenario_key": s.data.pointer("/scenario/name").map(|v| super::text(Some(v))).unwrap_or_default(),
                    "content_hash": s.content_hash,
                })).collect::<Vec<_>>(),
                "service_design": service_design_summary(inputs.shape),
            },
            "developer_definition_revision": saved_revision,
            "product_alignment": member_or(definition, "product_alignment", Value::Null),
        },
        "generator_launch": {
            "source_of_truth": "compiled_contract",
            "primary_output_mode": "runtime_target",
            "transitional_pages_required": false,
            "runtime_target_only": true,
        },
    })
}

/// The signed part of a compiled document.
pub fn signature_payload(contract: &Value) -> Value {
    let mut payload = contract.as_object().cloned().unwrap_or_default();
    for key in UNSIGNED_KEYS {
        payload.remove(key);
    }
    Value::Object(payload)
}

/// The contract signature of a compiled document: hex SHA-256 of its stable JSON.
pub fn signature(contract: &Value) -> String {
    hashing::contract_signature(&signature_payload(contract))
}

/// `compiled_contract_identity` as upstream stores it in a definition.
pub fn identity(project_id: &str, signature: &str, generated_at: &str) -> Value {
    json!({
        "artifact_name": format!("{project_id}-developer-definition.json"),
        "canonical_format": "stable-json-v1",
        "generated_at": generated_at,
        "signature": signature,
        "signature_algorithm": "sha256",
    })
}

/// The compiled document with its identity (what a package's `service_definition` is).
pub fn with_identity(mut contract: Value, identity: Value, definition: &Value) -> Value {
    let mut identity = identity;
    if let (Some(map), Some(revision)) =
        (identity.as_object_mut(), definition.get("saved_revision"))
    {
        for (key, from) in [
            ("revision_number", "revision_number"),
            ("revision_artifact_id", "revision_artifact_id"),
            (
                "previous_revision_artifact_id",
                "previous_revision_artifact_id",
            ),
        ] {
            map.insert(
                key.to_owned(),
                revision.get(from).cloned().unwrap_or(Value::Null),
            );
        }
        let inputs = definition
            .get("source_inputs")
            .cloned()
            .unwrap_or(Value::Null);
        map.insert(
            "requirements_hash".to_owned(),
            inputs
                .get("requirements_hash")
                .cloned()
                .unwrap_or(Value::Null),
        );
        map.insert(
            "scenario_set_hash".to_owned(),
            inputs
                .get("scenario_set_hash")
                .cloned()
                .unwrap_or(Value::Null),
        );
        map.insert(
            "service_design_hash".to_owned(),
            inputs.get("shape_hash").cloned().unwrap_or(Value::Null),
        );
        map.insert(
            "baseline_locked_at".to_owned(),
            inputs
                .get("baseline_locked_at")
                .cloned()
                .unwrap_or(Value::Null),
        );
        map.insert(
            "developer_definition_saved_at".to_owned(),
            definition.get("saved_at").cloned().unwrap_or(Value::Null),
        );
    }
    if let Some(map) = contract.as_object_mut() {
        map.insert("compiled_contract_identity".to_owned(), identity);
    }
    contract
}

/// The capability ids a compiled document declares, in order.
pub fn capability_ids(contract: &Value) -> Vec<String> {
    array(contract, "capability_formalizations")
        .iter()
        .map(|c| field(c, "capability_id"))
        .filter(|id| !id.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        Project {
            id: "p".into(),
            workspace_id: "default".into(),
            name: "Expenses".into(),
            summary: "s".into(),
            domain: "finance".into(),
            labels: vec![],
            project_type: "standard".into(),
            integration_profile: json!({"kind": "none", "systems": []}),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn definition() -> Value {
        json!({
            "artifact_type": "developer_definition",
            "identity": {"system_name": "expenses"},
            "service_topology_bindings": [{"id": "t", "service_id": "svc", "extra": 1}],
            "capability_formalizations": [{
                "capability_id": "expense.report.submit",
                "service_id": "svc",
                "backend_operation": "bad op!",
                "output_shape": "",
                "inputs": [{"input_name": "amount", "input_type": "number", "required": true, "allowed_values": "a, b"}],
            }],
            "permission_intent_bindings": [{"id": "p1", "actor_id": "employee", "access_posture": "bounded", "governed_outcome_type": "", "target_service_ids": ["svc"]}],
        })
    }

    fn compiled(at: &str) -> Value {
        let project = project();
        let definition = definition();
        compile(&ContractInputs {
            project: &project,
            baseline: None,
            requirements: None,
            scenarios: &[],
            shape: None,
            definition: &definition,
            generated_at: at,
        })
    }

    #[test]
    fn capabilities_are_canonicalised() {
        let contract = compiled("t1");
        let capability = &contract["capability_formalizations"][0];
        assert_eq!(capability["kind"], "atomic");
        assert_eq!(capability["backend_operation"], "expense.report.submit");
        assert_eq!(capability["path_template"], "/expense/report/submit");
        assert_eq!(capability["output_shape"], "expense_report_submit_result");
        assert_eq!(capability["inputs"][0]["allowed_values"], json!(["a", "b"]));
        // Allowed values make a closed set (upstream's inference).
        assert_eq!(
            capability["inputs"][0]["resolution"],
            json!({"mode": "closed_values", "on_missing": "clarify", "on_ambiguous": "clarify", "on_unresolved": "clarify"})
        );
        assert_eq!(contract["service_topology_bindings"][0].get("extra"), None);
        let policy = &contract["runtime_policy_bindings"][0];
        assert_eq!(policy["decision"], "allow_with_limits");
        assert_eq!(policy["capability_ids"], json!(["expense.report.submit"]));
    }

    #[test]
    fn resolution_rules_are_declared_or_inferred_as_upstream_does() {
        let check = |input: Value, expected: Value| {
            assert_eq!(contract_input(&input)["resolution"], expected, "{input}");
        };
        check(
            json!({"input_name": "team", "semantic_type": "Team Reference", "required": true}),
            json!({"mode": "backend_resolved", "resolver_ref": "team_catalog", "on_missing": "clarify", "on_ambiguous": "clarify", "on_unresolved": "clarify"}),
        );
        check(
            json!({"input_name": "region", "semantic_type": "selection-scope"}),
            json!({"mode": "actor_policy_or_explicit", "on_missing": "use_actor_scope", "on_ambiguous": "clarify", "on_unresolved": "clarify"}),
        );
        check(
            json!({"input_name": "limit", "default_value": 20}),
            json!({"mode": "explicit_only", "on_missing": "use_default"}),
        );
        check(
            json!({"input_name": "note", "clarification_hint": "ask"}),
            json!({"mode": "clarify", "on_missing": "omit", "on_ambiguous": "clarify", "on_unresolved": "clarify"}),
        );
        // A declared rule is kept, cleaned of what upstream does not know, and completed with
        // the catalog derived from a reference catalog.
        let input = json!({"input_name": "project", "reference_catalog": ["a"],
            "resolution": {"mode": "backend_resolved", "on_missing": "guess", "extra": 1}});
        let stated = contract_input(&input);
        assert_eq!(stated["catalog_ref"], "project_catalog");
        assert_eq!(
            stated["resolution"],
            json!({"mode": "backend_resolved", "resolver_ref": "project_catalog"})
        );
        // An unknown mode is no rule: it is inferred instead.
        check(
            json!({"input_name": "q", "resolution": {"mode": "psychic"}}),
            json!({"mode": "explicit_only", "on_missing": "omit"}),
        );
    }

    #[test]
    fn signature_ignores_when_and_from_what() {
        let a = compiled("2026-01-01T00:00:00.000Z");
        let b = compiled("2027-01-01T00:00:00.000Z");
        assert_ne!(a, b);
        assert_eq!(signature(&a), signature(&b));
        let mut c = a.clone();
        c["capability_formalizations"][0]["summary"] = json!("changed");
        assert_ne!(signature(&a), signature(&c));
        assert_eq!(signature(&a).len(), 64);
    }
}
