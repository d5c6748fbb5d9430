//! `anip-service-definition/v1` → the capability declarations one service serves.
//!
//! Two sources, in this order of precedence:
//! * `capability_declarations[]` (this runtime's extension): full ANIP declarations, served
//!   as written;
//! * `capability_formalizations[]` (upstream): mapped exactly as upstream generated runtimes
//!   map them (name = capability_id, description = summary, side effect from
//!   `side_effect_level`, rollback window by side effect, inputs from `inputs[]` or
//!   `required_inputs`/`optional_inputs`, composition and grant policy copied).

use serde_json::{json, Value};

use super::PackageError;
use crate::contract::{
    CapabilityDeclaration, CapabilityInput, CapabilityKind, CapabilityOutput, SessionInfo,
    SideEffect, SideEffectType,
};

/// The schema this module reads.
pub const DEFINITION_SCHEMA: &str = "anip-service-definition/v1";

/// The service ids a definition declares, in declaration order.
pub fn service_ids(definition: &Value) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let selected = definition
        .pointer("/generation/selected_service_ids")
        .and_then(Value::as_array);
    let bindings = definition
        .get("service_topology_bindings")
        .and_then(Value::as_array);
    let from_selected = selected.into_iter().flatten().filter_map(Value::as_str);
    let from_bindings = bindings
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("service_id").and_then(Value::as_str));
    for id in from_selected.chain(from_bindings) {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// Upstream's `_side_effect_type`: the first of irreversible / transaction / write found in the
/// level, else read.
pub fn side_effect_from_level(level: &str) -> SideEffectType {
    let level = level.to_ascii_lowercase();
    if level.contains("irreversible") {
        SideEffectType::Irreversible
    } else if level.contains("transaction") {
        SideEffectType::Transactional
    } else if level.contains("write") {
        SideEffectType::Write
    } else {
        SideEffectType::Read
    }
}

/// Upstream's rollback window by side effect.
pub fn rollback_window(kind: SideEffectType) -> &'static str {
    match kind {
        SideEffectType::Read => "not_applicable",
        SideEffectType::Irreversible => "none",
        SideEffectType::Write | SideEffectType::Transactional => "PT15M",
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn required_text(value: &Value, key: &str, what: &str) -> Result<String, PackageError> {
    text(value, key)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| PackageError::Definition(format!("{what}: {key} is missing")))
}

/// An upstream default: `""` and `null` mean "no default".
fn default_value(item: &Value) -> Value {
    match item.get("default_value").or_else(|| item.get("default")) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(other) => other.clone(),
    }
}

fn formalized_input(item: &Value, required: bool) -> Result<CapabilityInput, PackageError> {
    let name = required_text(item, "input_name", "an input")?;
    let allowed: Vec<Value> = item
        .get("allowed_values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(CapabilityInput {
        description: text(item, "summary").unwrap_or_else(|| name.clone()),
        kind: text(item, "input_type").unwrap_or_else(|| "string".to_owned()),
        required,
        default: default_value(item),
        allowed_values: (!allowed.is_empty()).then_some(allowed),
        semantic_type: text(item, "semantic_type"),
        entity_reference: item
            .get("entity_reference")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        resolution: item
            .get("resolution")
            .map(|r| serde_json::from_value(r.clone()))
            .transpose()
            .map_err(|e| PackageError::Definition(format!("input {name}: resolution: {e}")))?,
        catalog_ref: text(item, "catalog_ref"),
        input_meanings: None,
        name,
    })
}

/// Maps one upstream formalization to a declaration.
pub fn declaration_from_formalization(item: &Value) -> Result<CapabilityDeclaration, PackageError> {
    let name = required_text(item, "capability_id", "a capability formalization")?;
    let what = format!("capability {name}");
    for key in ["service_id", "title", "summary", "side_effect_level"] {
        required_text(item, key, &what)?;
    }
    let mut inputs = Vec::new();
    if let Some(list) = item.get("inputs").and_then(Value::as_array) {
        for input in list {
            let required = input
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            inputs.push(formalized_input(input, required)?);
        }
    } else {
        for (key, required) in [("required_inputs", true), ("optional_inputs", false)] {
            for input in item
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                inputs.push(formalized_input(input, required)?);
            }
        }
    }
    let side_effect = side_effect_from_level(item["side_effect_level"].as_str().unwrap_or("read"));
    let kind = match item.get("kind").and_then(Value::as_str) {
        None | Some("atomic") => CapabilityKind::Atomic,
        Some("composed") => CapabilityKind::Composed,
        Some(other) => {
            return Err(PackageError::Definition(format!(
                "{what}: unknown kind {other:?}"
            )))
        }
    };
    let parse = |key: &str| -> Result<Option<Value>, PackageError> {
        Ok(item.get(key).filter(|v| !v.is_null()).cloned())
    };
    let composition: Option<crate::contract::Composition> = parse("composition")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| PackageError::Definition(format!("{what}: composition: {e}")))?;
    let grant_policy: Option<crate::contract::GrantPolicy> = parse("grant_policy")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| PackageError::Definition(format!("{what}: grant_policy: {e}")))?;
    let minimum_scope: Vec<String> = item
        .get("minimum_scope")
        .and_then(Value::as_array)
        .map(|scopes| {
            scopes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let output_fields: Vec<String> = item
        .get("output_fields")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| {
            vec![
                "execution_status".into(),
                "capability_id".into(),
                "semantic_input".into(),
            ]
        });
    let declaration = json!({
        "name": name,
        "description": item["summary"],
        "contract_version": "1.0",
        "kind": kind,
        "inputs": inputs,
        "output": CapabilityOutput {
            kind: text(item, "output_shape").unwrap_or_else(|| "governed_result".to_owned()),
            fields: output_fields,
        },
        "side_effect": SideEffect { kind: side_effect, rollback_window: Some(rollback_window(side_effect).to_owned()) },
        "minimum_scope": minimum_scope,
        "session": SessionInfo::default(),
        "composition": composition,
        "grant_policy": grant_policy,
    });
    serde_json::from_value(declaration)
        .map_err(|e| PackageError::Definition(format!("{what}: {e}")))
}

/// The declarations of `service_id`, in definition order: full declarations first replace the
/// formalization of the same name, then declarations without a formalization follow.
pub fn declarations_for_service(
    definition: &Value,
    service_id: &str,
) -> Result<Vec<CapabilityDeclaration>, PackageError> {
    let full: Vec<(Option<String>, CapabilityDeclaration)> = definition
        .get("capability_declarations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|item| {
            let service = text(item, "service_id");
            let mut item = item.clone();
            if let Value::Object(map) = &mut item {
                map.remove("service_id");
            }
            serde_json::from_value::<CapabilityDeclaration>(item.clone())
                .map(|d| (service, d))
                .map_err(|e| {
                    PackageError::Definition(format!(
                        "capability_declarations[{}]: {e}",
                        item["name"]
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    let mut declarations: Vec<CapabilityDeclaration> = Vec::new();
    for item in definition
        .get("capability_formalizations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if item.get("service_id").and_then(Value::as_str) != Some(service_id) {
            continue;
        }
        let mapped = declaration_from_formalization(item)?;
        let declaration = full
            .iter()
            .find(|(_, d)| d.name == mapped.name)
            .map(|(_, d)| d.clone())
            .unwrap_or(mapped);
        declarations.push(declaration);
    }
    for (service, declaration) in full {
        let belongs = service.as_deref().is_none_or(|s| s == service_id);
        if belongs && !declarations.iter().any(|d| d.name == declaration.name) {
            declarations.push(declaration);
        }
    }
    Ok(declarations)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the shared upstream fixtures (`ANIP_SHARED_DIR`, else `../shared` beside the
    /// checkout). A missing fixture fails the test: it is never a silent skip.
    fn fixture() -> Value {
        let shared = std::env::var("ANIP_SHARED_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_owned());
        let path = format!(
            "{shared}/fixtures/upstream/service-definitions/current-runtime-service-definition.json"
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {path} is missing ({e}); set ANIP_SHARED_DIR"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn side_effect_mapping_matches_upstream() {
        assert_eq!(side_effect_from_level("none"), SideEffectType::Read);
        assert_eq!(
            side_effect_from_level("approval_required"),
            SideEffectType::Read
        );
        assert_eq!(
            side_effect_from_level("external_write"),
            SideEffectType::Write
        );
        assert_eq!(
            side_effect_from_level("Irreversible_payment"),
            SideEffectType::Irreversible
        );
        assert_eq!(
            side_effect_from_level("transactional"),
            SideEffectType::Transactional
        );
        assert_eq!(rollback_window(SideEffectType::Write), "PT15M");
    }

    #[test]
    fn the_upstream_fixture_maps_per_service() {
        let definition = fixture();
        assert_eq!(
            service_ids(&definition),
            ["compat-primary-service", "compat-secondary-service"]
        );
        let primary = declarations_for_service(&definition, "compat-primary-service").unwrap();
        let names: Vec<&str> = primary.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "compat.lookup",
                "compat.prepare_change",
                "compat.lookup_and_prepare"
            ]
        );
        let lookup = &primary[0];
        assert_eq!(lookup.description, "Lookup compatibility records.");
        assert_eq!(
            lookup.side_effect.rollback_window.as_deref(),
            Some("not_applicable")
        );
        assert_eq!(lookup.inputs[0].name, "query");
        assert!(lookup.inputs[0].default.is_null());
        let composed = &primary[2];
        assert_eq!(composed.kind, CapabilityKind::Composed);
        assert_eq!(composed.composition.as_ref().unwrap().steps.len(), 2);
        assert!(composed.grant_policy.is_some());
        crate::contract::validate_declarations(&primary).unwrap();
        let secondary = declarations_for_service(&definition, "compat-secondary-service").unwrap();
        assert_eq!(secondary.len(), 1);
    }
}
