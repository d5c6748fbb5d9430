//! Validating a developer definition: findings that say what is wrong, where, and what to do;
//! and what agents are told about the contract (consumability and readiness metadata).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{array, field, object};

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Must be fixed before packaging or publishing.
    Blocker,
    /// Publishing locally requires none of these either.
    Warning,
    /// Worth knowing.
    Info,
}

/// One validation finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Finding {
    /// Blocker, warning or info.
    pub severity: Severity,
    /// A stable machine code, e.g. `capability_id_duplicate`.
    pub code: String,
    /// Where: a JSON path into the definition, e.g. `capability_formalizations[2].inputs[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

fn finding(severity: Severity, code: &str, path: String, message: String, hint: &str) -> Finding {
    Finding {
        severity,
        code: code.to_owned(),
        path,
        message,
        hint: hint.to_owned(),
    }
}

/// Capability ids look like `domain.object.action`: lowercase words joined by dots.
pub fn is_capability_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let first_ok = parts.next().is_some_and(word_ok);
    let rest: Vec<&str> = parts.collect();
    first_ok && !rest.is_empty() && rest.iter().all(|p| word_ok(p))
}

fn word_ok(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$`: the Registry's service id rule.
pub fn is_service_id(id: &str) -> bool {
    let mut chars = id.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return false;
    }
    let mut after_separator = false;
    for c in chars {
        if c == '-' || c == '_' {
            if after_separator {
                return false;
            }
            after_separator = true;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            after_separator = false;
        } else {
            return false;
        }
    }
    !after_separator
}

/// An absolute path template the Registry accepts: starts with `/`, no `..`, `//` or `\`,
/// parameters `{input_name}`.
fn is_path_template(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 256
        && !path.contains("..")
        && !path.contains("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.split('/').filter(|s| !s.is_empty()).all(|segment| {
            if segment.starts_with('{') || segment.ends_with('}') {
                segment
                    .strip_prefix('{')
                    .and_then(|s| s.strip_suffix('}'))
                    .is_some_and(is_input_name)
            } else {
                true
            }
        })
}

fn is_input_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `$.input.a.b` or `$.steps.<step>.output.a`: the paths composition mappings may use.
fn is_mapping_path(path: &str) -> bool {
    let words_ok = |rest: &str| !rest.is_empty() && rest.split('.').all(is_input_name);
    if let Some(rest) = path.strip_prefix("$.input.") {
        return words_ok(rest);
    }
    if let Some(rest) = path.strip_prefix("$.steps.") {
        if let Some((step, output)) = rest.split_once(".output.") {
            let step_ok = !step.is_empty()
                && step
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && step
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            return step_ok && words_ok(output);
        }
    }
    false
}

const INPUT_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "object", "date", "datetime", "enum",
];

/// A known input type, or a typed array of one (`array<string>`, as upstream's fronting
/// showcases and starter templates declare list inputs).
fn known_input_type(kind: &str) -> bool {
    if INPUT_TYPES.contains(&kind) {
        return true;
    }
    kind.strip_prefix("array<")
        .and_then(|rest| rest.strip_suffix('>'))
        .is_some_and(|item| item != "enum" && known_input_type(item.trim()))
}

/// Validates a developer definition on its own (no baseline, no project): structure,
/// identifiers, references between capabilities, services, inputs and compositions.
pub fn validate(definition: &Value) -> Vec<Finding> {
    use Severity::{Blocker, Info, Warning};
    let mut out = Vec::new();
    if !definition.is_object() {
        out.push(finding(
            Blocker,
            "definition_not_object",
            "$".into(),
            "The developer definition must be a JSON object.".into(),
            "Start from the definition Studio drafts for you, or paste a JSON object.",
        ));
        return out;
    }
    if field(object_value(definition, "identity"), "system_name").is_empty() {
        out.push(finding(
            Blocker,
            "identity_system_name_missing",
            "identity.system_name".into(),
            "The service has no name.".into(),
            "Set identity.system_name, e.g. \"expense_approvals\".",
        ));
    }

    let topology: Vec<String> = array(definition, "service_topology_bindings")
        .iter()
        .map(|b| field(b, "service_id"))
        .filter(|s| !s.is_empty())
        .collect();
    let capabilities = array(definition, "capability_formalizations");
    if capabilities.is_empty() {
        out.push(finding(
            Blocker,
            "capabilities_missing",
            "capability_formalizations".into(),
            "The definition declares no capabilities, so agents could do nothing with it.".into(),
            "Add at least one entry to capability_formalizations (the assistant can propose candidates from your source documents).",
        ));
    }
    if topology.is_empty() {
        out.push(finding(
            Blocker,
            "topology_missing",
            "service_topology_bindings".into(),
            "No service topology is declared, so no service owns the capabilities.".into(),
            "Add a service_topology_bindings entry with the service_id your capabilities use.",
        ));
    }
    let mut seen_services = HashSet::new();
    for (index, binding) in array(definition, "service_topology_bindings")
        .iter()
        .enumerate()
    {
        let service = field(binding, "service_id");
        let path = format!("service_topology_bindings[{index}].service_id");
        if service.is_empty() {
            out.push(finding(
                Blocker,
                "service_id_missing",
                path,
                format!("Service binding #{} has no service_id.", index + 1),
                "Give the service an id like \"expenses-service\".",
            ));
        } else if !is_service_id(&service) {
            out.push(finding(
                Blocker,
                "service_id_invalid",
                path,
                format!("Service id {service:?} is not a lowercase identifier."),
                "Use lowercase letters and digits, words joined by - or _ (e.g. expenses-service).",
            ));
        } else if !seen_services.insert(service.clone()) {
            out.push(finding(
                Blocker,
                "service_id_duplicate",
                path,
                format!("Service {service:?} is declared twice."),
                "Declare each service once.",
            ));
        }
        if binding.get("ownership_mode").is_some() {
            out.push(finding(
                Blocker,
                "service_ownership_mode_unsupported",
                format!("service_topology_bindings[{index}].ownership_mode"),
                "ownership_mode is not supported by the Registry.".into(),
                "Remove ownership_mode.",
            ));
        }
    }

    let ids: Vec<String> = capabilities
        .iter()
        .map(|c| field(c, "capability_id"))
        .collect();
    let mut seen = HashSet::new();
    for (index, capability) in capabilities.iter().enumerate() {
        let path = format!("capability_formalizations[{index}]");
        let id = &ids[index];
        if id.is_empty() {
            out.push(finding(
                Blocker,
                "capability_id_missing",
                format!("{path}.capability_id"),
                format!("Capability #{} has no capability_id.", index + 1),
                "Give it an id like \"expense.report.submit\".",
            ));
        } else {
            if !is_capability_id(id) {
                out.push(finding(
                    Blocker,
                    "capability_id_invalid",
                    format!("{path}.capability_id"),
                    format!("Capability id {id:?} is not of the form domain.object.action."),
                    "Use lowercase words (letters, digits, _) joined by dots, at least two of them.",
                ));
            }
            if !seen.insert(id.clone()) {
                out.push(finding(
                    Blocker,
                    "capability_id_duplicate",
                    format!("{path}.capability_id"),
                    format!("Capability id {id:?} is declared more than once."),
                    "Rename or remove the duplicate; agents address capabilities by id.",
                ));
            }
        }
        let label = if id.is_empty() {
            format!("#{}", index + 1)
        } else {
            id.clone()
        };
        let service = field(capability, "service_id");
        if service.is_empty() {
            out.push(finding(
                Blocker,
                "capability_service_missing",
                format!("{path}.service_id"),
                format!("Capability {label} is not assigned to a service."),
                "Set service_id to one of the services in service_topology_bindings.",
            ));
        } else if !topology.is_empty() && !topology.contains(&service) {
            out.push(finding(
                Blocker,
                "capability_service_unknown",
                format!("{path}.service_id"),
                format!("Capability {label} names service {service:?}, which the topology does not declare."),
                "Add the service to service_topology_bindings or fix the service_id.",
            ));
        }
        for (member, what, hint) in [
            (
                "title",
                "a title",
                "Name it in a few words, e.g. \"Approve report\".",
            ),
            (
                "summary",
                "a summary",
                "Agents choose capabilities by their summary; say in one sentence what it does.",
            ),
            (
                "intent_type",
                "an intent type",
                "Set intent_type, e.g. read_only, business_action or approval_gated.",
            ),
            (
                "operation_type",
                "an operation type",
                "Set operation_type, e.g. query, prepare_change or approval_gated.",
            ),
            (
                "side_effect_level",
                "a side-effect level",
                "Set side_effect_level, e.g. none, read, write_adjacent or approval_required.",
            ),
        ] {
            if field(capability, member).is_empty() {
                out.push(finding(
                    Blocker,
                    &format!("capability_{member}_missing"),
                    format!("{path}.{member}"),
                    format!("Capability {label} has no {member} ({what} is required to publish)."),
                    hint,
                ));
            }
        }
        let template = field(capability, "path_template");
        if !template.is_empty() && !is_path_template(&template) {
            out.push(finding(
                Blocker,
                "capability_path_template_invalid",
                format!("{path}.path_template"),
                format!("Capability {label} has the path template {template:?}, which is not a clean absolute path."),
                "Use /segments/{input_name}/... without .., // or backslashes.",
            ));
        }
        if field(capability, "side_effect_level") == "approval_required"
            && !capability.get("grant_policy").is_some_and(Value::is_object)
        {
            out.push(finding(
                Warning,
                "capability_grant_policy_missing",
                format!("{path}.grant_policy"),
                format!("Capability {label} requires approval but declares no grant policy."),
                "Add a grant_policy (allowed_grant_types, default_grant_type, expires_in_seconds).",
            ));
        }
        validate_inputs(capability, &path, &label, &mut out);
        if field(capability, "kind") == "composed" {
            validate_composition(capability, &path, &label, &ids, &mut out);
        }
    }

    for (index, selected) in array(
        object_value(definition, "generation"),
        "selected_service_ids",
    )
    .iter()
    .enumerate()
    {
        let selected = super::text(Some(selected));
        if !topology.is_empty() && !topology.contains(&selected) {
            out.push(finding(
                Blocker,
                "generation_service_unknown",
                format!("generation.selected_service_ids[{index}]"),
                format!(
                    "Generation selects service {selected:?}, which the topology does not declare."
                ),
                "Select only services from service_topology_bindings.",
            ));
        }
    }

    let actors: Vec<String> = array(definition, "actor_expectations")
        .iter()
        .map(|a| field(a, "actor_id"))
        .collect();
    for (index, permission) in array(definition, "permission_intent_bindings")
        .iter()
        .enumerate()
    {
        let actor = field(permission, "actor_id");
        if !actors.is_empty() && !actor.is_empty() && !actors.contains(&actor) {
            out.push(finding(
                Warning,
                "permission_actor_unknown",
                format!("permission_intent_bindings[{index}].actor_id"),
                format!("Permission binding names actor {actor:?}, who has no actor expectation."),
                "Add the actor to actor_expectations or fix the actor_id.",
            ));
        }
    }
    if array(definition, "permission_intent_bindings").is_empty() && !capabilities.is_empty() {
        out.push(finding(
            Info,
            "permissions_missing",
            "permission_intent_bindings".into(),
            "No permission intent is bound, so every actor gets the runtime's default policy."
                .into(),
            "Bind the product's permission intent rules to actors and services.",
        ));
    }
    out.sort_by_key(|f| f.severity);
    out
}

fn object_value<'a>(value: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    value.get(key).unwrap_or(&NULL)
}

fn validate_inputs(capability: &Value, path: &str, label: &str, out: &mut Vec<Finding>) {
    use Severity::{Blocker, Warning};
    let mut names = HashSet::new();
    for (index, input) in array(capability, "inputs").iter().enumerate() {
        let input_path = format!("{path}.inputs[{index}]");
        let name = field(input, "input_name");
        if !is_input_name(&name) {
            out.push(finding(
                Blocker,
                "input_name_invalid",
                format!("{input_path}.input_name"),
                format!(
                    "Input #{} of {label} has no valid name ({name:?}).",
                    index + 1
                ),
                "Use an identifier: letters, digits and _, not starting with a digit.",
            ));
        } else if !names.insert(name.clone()) {
            out.push(finding(
                Blocker,
                "input_name_duplicate",
                format!("{input_path}.input_name"),
                format!("Input {name:?} of {label} is declared twice."),
                "Remove or rename the duplicate input.",
            ));
        }
        let kind = field(input, "input_type");
        if kind.is_empty() {
            out.push(finding(
                Warning,
                "input_type_missing",
                format!("{input_path}.input_type"),
                format!("Input {name:?} of {label} has no type."),
                "Set input_type (string, integer, number, boolean, array, object, date, datetime).",
            ));
        } else if !known_input_type(&kind) {
            out.push(finding(
                Warning,
                "input_type_unknown",
                format!("{input_path}.input_type"),
                format!("Input {name:?} of {label} has the unknown type {kind:?}."),
                "Use string, integer, number, boolean, array (or array<TYPE>), object, date or datetime.",
            ));
        }
    }
}

fn validate_composition(
    capability: &Value,
    path: &str,
    label: &str,
    ids: &[String],
    out: &mut Vec<Finding>,
) {
    use Severity::Blocker;
    let composition = object_value(capability, "composition");
    let steps = array(composition, "steps");
    if steps.is_empty() {
        out.push(finding(
            Blocker,
            "composition_steps_missing",
            format!("{path}.composition.steps"),
            format!("Composed capability {label} has no steps."),
            "List the capabilities it calls, in order, under composition.steps.",
        ));
    }
    for (index, step) in steps.iter().enumerate() {
        let target = field(step, "capability");
        if !ids.contains(&target) {
            out.push(finding(
                Blocker,
                "composition_step_unknown",
                format!("{path}.composition.steps[{index}].capability"),
                format!(
                    "Step {} of {label} calls {target:?}, which the definition does not declare.",
                    index + 1
                ),
                "Point the step at a declared capability_id.",
            ));
        }
    }
    let mappings = object(composition, "input_mapping")
        .iter()
        .flat_map(|(step, mapping)| {
            mapping
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(name, p)| (format!("input_mapping.{step}.{name}"), p))
        })
        .chain(
            object(composition, "output_mapping")
                .iter()
                .map(|(name, p)| (format!("output_mapping.{name}"), p)),
        );
    for (where_, mapping) in mappings {
        let text = super::text(Some(mapping));
        if !text.is_empty() && !is_mapping_path(&text) {
            out.push(finding(
                Blocker,
                "composition_mapping_invalid",
                format!("{path}.composition.{where_}"),
                format!("Mapping {text:?} of {label} is not a valid path."),
                "Use $.input.<name> or $.steps.<step_id>.output.<field>.",
            ));
        }
    }
}

/// Counts of findings by severity.
pub fn counts(findings: &[Finding]) -> (usize, usize, usize) {
    findings
        .iter()
        .fold((0, 0, 0), |(b, w, i), f| match f.severity {
            Severity::Blocker => (b + 1, w, i),
            Severity::Warning => (b, w + 1, i),
            Severity::Info => (b, w, i + 1),
        })
}

/// `agent_consumability` metadata of a compiled contract: per capability, its intent, effects
/// and what an agent must supply.
pub fn consumability(contract: &Value) -> Value {
    let mut capabilities = BTreeMap::new();
    for capability in array(contract, "capability_formalizations") {
        let id = field(capability, "capability_id");
        if id.is_empty() {
            continue;
        }
        let required_context: Vec<Value> = array(capability, "inputs")
            .iter()
            .map(|input| {
                let required = input
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let mode = input
                    .pointer("/resolution/mode")
                    .map(|m| super::text(Some(m)))
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "clarify".to_owned());
                json!({
                    "input": field(input, "input_name"),
                    "posture": format!("{}:{mode}", if required { "required" } else { "optional" }),
                    "semantic_type": field(input, "semantic_type"),
                })
            })
            .collect();
        let summary = [field(capability, "summary"), field(capability, "title")]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        capabilities.insert(
            id.clone(),
            json!({
                "business_effects": capability.get("business_effects").filter(|v| v.is_object()).cloned().unwrap_or_else(|| json!({})),
                "intent": {"category": id, "summary": summary},
                "required_context": required_context,
            }),
        );
    }
    json!({
        "artifact_type": "agent_consumability_metadata",
        "schema_version": "anip-agent-consumability/v0",
        "capabilities": capabilities,
    })
}

/// `agent_consumption_readiness` of a compiled contract given its findings: `ready` only with
/// no blockers and no warnings.
pub fn readiness(contract: &Value, findings: &[Finding]) -> Value {
    let (blockers, warnings, info) = counts(findings);
    let ids: Vec<String> = array(contract, "capability_formalizations")
        .iter()
        .map(|c| field(c, "capability_id"))
        .filter(|id| !id.is_empty())
        .collect();
    let status = if blockers > 0 {
        "blocked"
    } else if warnings > 0 {
        "needs_review"
    } else {
        "ready"
    };
    let score = 100usize.saturating_sub(blockers * 25 + warnings * 5);
    json!({
        "artifact_type": "agent_consumption_readiness",
        "schema_version": "anip-agent-consumption-readiness/v0",
        "status": status,
        "score": score,
        "findings": findings.iter().filter(|f| f.severity != Severity::Info).map(|f| json!({
            "severity": f.severity, "code": f.code, "path": f.path, "message": f.message,
        })).collect::<Vec<_>>(),
        "probes": ids.iter().map(|id| json!({"capability_id": id, "kind": "contract_declared", "status": "ready"})).collect::<Vec<_>>(),
        "required_app_glue": [],
        "summary": {
            "blockers": blockers,
            "warnings": warnings,
            "info": info,
            "probes": ids.len(),
            "capability_surface": ids.len(),
            "required_app_glue": 0,
        },
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn typed_arrays_of_known_types_are_known() {
        for kind in [
            "string",
            "array",
            "array<string>",
            "array<integer>",
            "array<array<date>>",
        ] {
            assert!(known_input_type(kind), "{kind}");
        }
        for kind in [
            "array<>",
            "array<thing>",
            "array<enum>",
            "list<string>",
            "array<string",
        ] {
            assert!(!known_input_type(kind), "{kind}");
        }
    }
    use super::*;

    fn good() -> Value {
        json!({
            "identity": {"system_name": "expenses"},
            "service_topology_bindings": [{"service_id": "svc"}],
            "generation": {"selected_service_ids": ["svc"]},
            "actor_expectations": [{"actor_id": "employee"}],
            "permission_intent_bindings": [{"actor_id": "employee"}],
            "capability_formalizations": [
                {"capability_id": "expense.report.lookup", "service_id": "svc", "title": "Look up", "summary": "Look up a report.",
                 "intent_type": "read_only", "operation_type": "query",
                 "side_effect_level": "read", "inputs": [{"input_name": "report_id", "input_type": "string", "required": true}]},
                {"capability_id": "expense.report.lookup_and_flag", "service_id": "svc", "title": "Look up and flag", "summary": "Look up and flag.",
                 "intent_type": "business_action", "operation_type": "query",
                 "side_effect_level": "read", "kind": "composed",
                 "composition": {"steps": [{"id": "lookup", "capability": "expense.report.lookup"}],
                                 "input_mapping": {"lookup": {"report_id": "$.input.report_id"}},
                                 "output_mapping": {"result": "$.steps.lookup.output.report"}}}
            ]
        })
    }

    #[test]
    fn a_sound_definition_has_no_findings() {
        assert_eq!(validate(&good()), vec![]);
    }

    fn codes(definition: &Value) -> Vec<String> {
        validate(definition).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn every_rule_fires_with_a_path_and_a_hint() {
        let mut d = good();
        d["identity"]["system_name"] = json!("");
        d["capability_formalizations"][1]["capability_id"] = json!("expense.report.lookup");
        d["capability_formalizations"][0]["service_id"] = json!("ghost");
        d["capability_formalizations"][0]["inputs"][0]["input_name"] = json!("9bad");
        d["capability_formalizations"][1]["composition"]["steps"][0]["capability"] =
            json!("nope.nope");
        d["capability_formalizations"][1]["composition"]["input_mapping"]["lookup"]["report_id"] =
            json!("input.report_id");
        d["generation"]["selected_service_ids"] = json!(["other"]);
        d["capability_formalizations"][0]["intent_type"] = json!("");
        d["capability_formalizations"][0]["path_template"] = json!("/a/../b");
        d["service_topology_bindings"]
            .as_array_mut()
            .unwrap()
            .push(json!({"service_id": "Bad Id"}));
        let found = codes(&d);
        for code in [
            "identity_system_name_missing",
            "capability_id_duplicate",
            "capability_service_unknown",
            "input_name_invalid",
            "composition_step_unknown",
            "composition_mapping_invalid",
            "generation_service_unknown",
            "capability_intent_type_missing",
            "capability_path_template_invalid",
            "service_id_invalid",
        ] {
            assert!(
                found.contains(&code.to_owned()),
                "{code} missing from {found:?}"
            );
        }
        for f in validate(&d) {
            assert!(!f.hint.is_empty() && !f.path.is_empty() && !f.message.is_empty());
        }
        assert_eq!(codes(&json!("x")), ["definition_not_object"]);
        assert!(codes(&json!({})).contains(&"capabilities_missing".to_owned()));
        assert!(codes(&json!({})).contains(&"topology_missing".to_owned()));
    }

    #[test]
    fn readiness_follows_findings() {
        let contract = json!({"capability_formalizations": [{"capability_id": "a.b", "inputs": [{"input_name": "x", "required": true}]}]});
        let ready = readiness(&contract, &[]);
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["summary"]["capability_surface"], 1);
        let warn = finding(Severity::Warning, "w", "p".into(), "m".into(), "h");
        assert_eq!(readiness(&contract, &[warn])["status"], "needs_review");
        let meta = consumability(&contract);
        assert_eq!(
            meta["capabilities"]["a.b"]["required_context"][0]["posture"],
            "required:clarify"
        );
    }

    #[test]
    fn capability_id_shape() {
        assert!(is_capability_id("gitlab.release_notes.prepare"));
        assert!(!is_capability_id("single"));
        assert!(!is_capability_id("Upper.case"));
        assert!(!is_capability_id("a..b"));
    }
}
