//! In-process composition (SPEC.md §4.6): runs the steps of a `kind: composed` capability in
//! order, each an atomic capability of the same service calling its own backend, maps inputs and
//! outputs, applies the empty-result and failure policies, and records child invocations.

use serde_json::{json, Map, Value};

use crate::audit::NewEntry;
use crate::backend::{BackendResult, CallContext, Payload};
use crate::contract::{
    parse_mapping_ref, CapabilityDeclaration, Composition, EmptyResultPolicy, FailurePolicyOutcome,
    MappingRef,
};
use crate::delegation::Token;
use crate::failure::{Action, Failure};
use crate::ids;
use crate::invoke::{apply_defaults, call_backend, validate_inputs};
use crate::runtime::Runtime;

fn resolve(path: &str, input: &Map<String, Value>, steps: &Map<String, Value>) -> Value {
    match parse_mapping_ref(path) {
        Some(MappingRef::Input(name)) => input.get(&name).cloned().unwrap_or(Value::Null),
        Some(MappingRef::StepOutput { step, field: None }) => {
            steps.get(&step).cloned().unwrap_or(Value::Null)
        }
        Some(MappingRef::StepOutput {
            step,
            field: Some(field),
        }) => steps
            .get(&step)
            .and_then(|output| output.get(&field))
            .cloned()
            .unwrap_or(Value::Null),
        None => Value::Null,
    }
}

/// Resolves every string reference inside a template (`empty_result_output`); other values are
/// literals.
fn resolve_template(
    template: &Value,
    input: &Map<String, Value>,
    steps: &Map<String, Value>,
) -> Value {
    match template {
        Value::String(text) if text.starts_with("$.") => resolve(text, input, steps),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve_template(v, input, steps)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_template(v, input, steps))
                .collect(),
        ),
        literal => literal.clone(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty() || map.get("empty") == Some(&Value::Bool(true)),
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// Whether an empty-result source step came back empty: at `empty_result_path`, else at the
/// first field a later step reads from it, else the output's `result`/`items`/`results`.
fn step_is_empty(
    composition: &Composition,
    step_id: &str,
    path: Option<&str>,
    output: &Value,
) -> bool {
    if let Some(path) = path {
        let relative = path
            .trim_start_matches("$.output.")
            .trim_start_matches("$.");
        return is_empty(crate::backend::mapping::follow(output, relative).unwrap_or(&Value::Null));
    }
    for step in &composition.steps {
        let Some(mapping) = composition.input_mapping.get(&step.id) else {
            continue;
        };
        for reference in mapping.values() {
            if let Some(MappingRef::StepOutput {
                step,
                field: Some(field),
            }) = parse_mapping_ref(reference)
            {
                if step == step_id {
                    return is_empty(output.get(&field).unwrap_or(&Value::Null));
                }
            }
        }
    }
    ["result", "items", "results"]
        .iter()
        .find_map(|k| output.get(*k))
        .map_or_else(|| is_empty(output), is_empty)
}

/// Which failure-policy outcome a child failure falls under.
fn outcome_class(kind: &str) -> &'static str {
    if kind.contains("clarification") {
        "clarification"
    } else if kind == "approval_required" {
        "approval_required"
    } else if matches!(
        kind,
        "scope_insufficient"
            | "purpose_mismatch"
            | "insufficient_authority"
            | "non_delegable_action"
            | "denied"
            | "control_requirement_unsatisfied"
    ) {
        "denial"
    } else {
        "error"
    }
}

/// Runs a composition. `approved` means the parent's approval grant was redeemed, which
/// covers children that need approval.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    runtime: &Runtime,
    token: &Token,
    decl: &CapabilityDeclaration,
    input: Map<String, Value>,
    ctx: &CallContext,
    approved: bool,
    chain_ids: &[String],
    on_step: &mut dyn FnMut(&str),
) -> Result<BackendResult, Failure> {
    let Some(composition) = &decl.composition else {
        return Err(Failure::new(
            "internal_error",
            "composed capability without composition",
            Action::ContactServiceOwner,
        ));
    };
    let mut steps = Map::new();
    let mut costs: Vec<Value> = Vec::new();
    for step in &composition.steps {
        let Some(child) = runtime.package.declaration(&step.capability) else {
            return Err(Failure::new(
                "composition_unknown_capability",
                format!("step {} names an unknown capability", step.id),
                Action::ContactServiceOwner,
            ));
        };
        let params: Map<String, Value> = match composition.input_mapping.get(&step.id) {
            Some(mapping) => mapping
                .iter()
                .map(|(name, path)| (name.clone(), resolve(path, &input, &steps)))
                .filter(|(_, v)| !v.is_null())
                .collect(),
            None => input.clone(),
        };
        let child_ctx = CallContext {
            invocation_id: ids::invocation_id(),
            client_reference_id: ctx.client_reference_id.clone(),
            task_id: if composition.audit_policy.parent_task_lineage {
                ctx.task_id.clone()
            } else {
                None
            },
            root_principal: ctx.root_principal.clone(),
            subject: ctx.subject.clone(),
            capability: child.name.clone(),
        };
        let params = apply_defaults(child, &params);
        let outcome = if child.grant_policy.is_some() && !approved {
            Err(Failure::new(
                "approval_required",
                format!(
                    "step {} needs approval, which only the composed capability can carry",
                    step.id
                ),
                Action::ContactServiceOwner,
            ))
        } else {
            match validate_inputs(child, params.clone()) {
                Ok(valid) => call_backend(runtime, child, &valid, &child_ctx).await,
                Err(failure) => Err(failure),
            }
        };
        if composition.audit_policy.record_child_invocations {
            record_child(
                runtime,
                token,
                child,
                &child_ctx,
                &ctx.invocation_id,
                &params,
                &outcome,
                chain_ids,
            )
            .await;
        }
        on_step(&step.id);
        match outcome {
            Ok(result) => {
                if let Some(cost) = result.cost_actual {
                    costs.push(cost);
                }
                let output = result.result.into_value();
                let empty = step.empty_result_source
                    && step_is_empty(
                        composition,
                        &step.id,
                        step.empty_result_path.as_deref(),
                        &output,
                    );
                steps.insert(step.id.clone(), output);
                if empty {
                    return empty_outcome(decl, composition, &input, &steps);
                }
            }
            Err(failure) => {
                let policy = &composition.failure_policy;
                let choice = match outcome_class(&failure.kind) {
                    "clarification" => policy.child_clarification,
                    "approval_required" => policy.child_approval_required,
                    "denial" => policy.child_denial,
                    _ => policy.child_error,
                };
                return Err(match choice {
                    FailurePolicyOutcome::Propagate => failure,
                    FailurePolicyOutcome::FailParent => {
                        let action = if failure.retry {
                            Action::RetryNow
                        } else {
                            Action::ContactServiceOwner
                        };
                        Failure::new(
                            "composition_step_failed",
                            format!("step {} of {} failed", step.id, decl.name),
                            action,
                        )
                        .with_extra("failed_step", json!(step.id))
                    }
                });
            }
        }
    }
    let result = if composition.output_mapping.is_empty() {
        Value::Object(steps.clone())
    } else {
        Value::Object(
            composition
                .output_mapping
                .iter()
                .map(|(key, path)| (key.clone(), resolve(path, &input, &steps)))
                .collect(),
        )
    };
    Ok(BackendResult {
        result: Payload::Tree(result),
        cost_actual: total_cost(&costs),
    })
}

fn empty_outcome(
    decl: &CapabilityDeclaration,
    composition: &Composition,
    input: &Map<String, Value>,
    steps: &Map<String, Value>,
) -> Result<BackendResult, Failure> {
    match composition.empty_result_policy {
        Some(EmptyResultPolicy::ReturnSuccessNoResults) | None => {
            let template = composition
                .empty_result_output
                .clone()
                .unwrap_or_else(|| json!({"result": null, "empty": true}));
            let result = resolve_template(&template, input, steps);
            let result = if result.is_object() {
                result
            } else {
                json!({"result": result})
            };
            Ok(BackendResult {
                result: Payload::Tree(result),
                cost_actual: None,
            })
        }
        Some(EmptyResultPolicy::Clarify) => Err(Failure::new(
            "composition_empty_result_clarification_required",
            format!(
                "{} found nothing to work on; clarify the request",
                decl.name
            ),
            Action::RevalidateState,
        )
        .retry(false)),
        Some(EmptyResultPolicy::Deny) => Err(Failure::new(
            "composition_empty_result_denied",
            format!("{} found nothing to work on", decl.name),
            Action::RevalidateState,
        )
        .retry(false)),
    }
}

/// Sums child costs of one currency.
fn total_cost(costs: &[Value]) -> Option<Value> {
    let currency = costs.first()?.pointer("/financial/currency").cloned();
    let mut total = 0.0;
    for cost in costs {
        if cost.pointer("/financial/currency") != currency.as_ref() {
            return None;
        }
        total += cost.pointer("/financial/amount").and_then(Value::as_f64)?;
    }
    Some(json!({"financial": {"amount": total, "currency": currency}}))
}

#[allow(clippy::too_many_arguments)]
async fn record_child(
    runtime: &Runtime,
    token: &Token,
    child: &CapabilityDeclaration,
    ctx: &CallContext,
    parent_invocation_id: &str,
    params: &Map<String, Value>,
    outcome: &Result<BackendResult, Failure>,
    chain_ids: &[String],
) {
    let entry = NewEntry {
        capability: child.name.clone(),
        token_id: Some(token.token_id.clone()),
        issuer: Some(token.issuer.clone()),
        subject: Some(token.subject.clone()),
        root_principal: Some(token.root_principal.clone()),
        delegation_chain: chain_ids.to_vec(),
        parameters: Some(Value::Object(params.clone())),
        success: outcome.is_ok(),
        result_summary: outcome.as_ref().ok().map(|r| r.result.summary()),
        failure_type: outcome.as_ref().err().map(|f| f.kind.clone()),
        cost_actual: outcome.as_ref().ok().and_then(|r| r.cost_actual.clone()),
        invocation_id: Some(ctx.invocation_id.clone()),
        client_reference_id: ctx.client_reference_id.clone(),
        task_id: ctx.task_id.clone(),
        parent_invocation_id: Some(parent_invocation_id.to_owned()),
        side_effect: Some(child.side_effect.kind),
        entry_type: Some("composition_step".into()),
        ..NewEntry::default()
    };
    if let Err(error) = runtime.audit.record(entry).await {
        tracing::warn!(event = "audit_unavailable", error = %error, "composition step not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_against_input_and_earlier_steps() {
        let input = json!({"q": "x"}).as_object().unwrap().clone();
        let steps = json!({"a": {"items": [1], "n": 2}})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(resolve("$.input.q", &input, &steps), json!("x"));
        assert_eq!(resolve("$.steps.a.output.n", &input, &steps), json!(2));
        assert_eq!(resolve("$.steps.b.output.n", &input, &steps), Value::Null);
        let template = json!({"count": 0, "query": "$.input.q", "nested": ["$.steps.a.output.n"]});
        assert_eq!(
            resolve_template(&template, &input, &steps),
            json!({"count": 0, "query": "x", "nested": [2]})
        );
    }

    #[test]
    fn emptiness_and_outcome_classes() {
        assert!(is_empty(&json!([])));
        assert!(is_empty(&json!({"empty": true})));
        assert!(!is_empty(&json!([0])));
        assert_eq!(outcome_class("clarification_required"), "clarification");
        assert_eq!(outcome_class("scope_insufficient"), "denial");
        assert_eq!(outcome_class("upstream_error"), "error");
        assert_eq!(
            total_cost(&[
                json!({"financial": {"amount": 1.5, "currency": "USD"}}),
                json!({"financial": {"amount": 2, "currency": "USD"}})
            ])
            .unwrap()["financial"]["amount"],
            3.5
        );
    }
}
