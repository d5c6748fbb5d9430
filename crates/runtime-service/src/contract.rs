//! The ANIP capability declaration model (SPEC.md §4.1–§4.10) as the runtime serves it in the
//! manifest, and the semantic checks a declaration must pass before it is served.
//!
//! Every field is always serialised, `null` included, because agents and the upstream suite read
//! the manifest as a complete declaration. Unknown enum values are refused at decode
//! (`serde` enums), as §4.10 requires for input resolution.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What invoking a capability does to the world (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideEffectType {
    Read,
    Write,
    Irreversible,
    Transactional,
}

impl SideEffectType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SideEffectType::Read => "read",
            SideEffectType::Write => "write",
            SideEffectType::Irreversible => "irreversible",
            SideEffectType::Transactional => "transactional",
        }
    }
}

/// `side_effect{type, rollback_window}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideEffect {
    #[serde(rename = "type")]
    pub kind: SideEffectType,
    #[serde(default)]
    pub rollback_window: Option<String>,
}

/// §4.10 resolution modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionMode {
    ClosedValues,
    BackendResolved,
    AppSelected,
    ActorPolicy,
    ActorPolicyOrExplicit,
    ExplicitOnly,
    Clarify,
}

/// §4.10 failure behaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionBehavior {
    Clarify,
    UseDefault,
    UseActorScope,
    AppSelectOrClarify,
    Deny,
    DenyOrClarify,
    Omit,
}

/// `CapabilityInput.resolution`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputResolution {
    pub mode: ResolutionMode,
    #[serde(default)]
    pub resolver_ref: Option<String>,
    #[serde(default)]
    pub on_missing: Option<ResolutionBehavior>,
    #[serde(default)]
    pub on_ambiguous: Option<ResolutionBehavior>,
    #[serde(default)]
    pub on_unresolved: Option<ResolutionBehavior>,
}

/// A labelled reviewed alternative for an input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputMeaning {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub description: String,
}

fn default_true() -> bool {
    true
}

/// One declared input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityInput {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default)]
    pub default: Value,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub allowed_values: Option<Vec<Value>>,
    #[serde(default)]
    pub semantic_type: Option<String>,
    #[serde(default)]
    pub entity_reference: bool,
    #[serde(default)]
    pub resolution: Option<InputResolution>,
    #[serde(default)]
    pub catalog_ref: Option<String>,
    #[serde(default)]
    pub input_meanings: Option<Vec<InputMeaning>>,
}

/// `output{type, fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityOutput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// §5.1 cost certainty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CostCertainty {
    #[default]
    Fixed,
    Estimated,
    Dynamic,
}

impl CostCertainty {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CostCertainty::Fixed => "fixed",
            CostCertainty::Estimated => "estimated",
            CostCertainty::Dynamic => "dynamic",
        }
    }
}

/// `cost.financial`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinancialCost {
    pub currency: String,
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub range_min: Option<f64>,
    #[serde(default)]
    pub range_max: Option<f64>,
    #[serde(default)]
    pub typical: Option<f64>,
    #[serde(default)]
    pub upper_bound: Option<f64>,
}

/// `cost`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Cost {
    #[serde(default)]
    pub certainty: CostCertainty,
    #[serde(default)]
    pub financial: Option<FinancialCost>,
    #[serde(default)]
    pub determined_by: Option<String>,
    #[serde(default)]
    pub factors: Option<Vec<String>>,
    #[serde(default)]
    pub compute: Option<Value>,
    #[serde(default)]
    pub rate_limit: Option<Value>,
}

/// `requires[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityRequirement {
    pub capability: String,
    #[serde(default)]
    pub reason: String,
}

fn default_optional() -> bool {
    true
}

/// `composes_with[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityComposition {
    pub capability: String,
    #[serde(default = "default_optional")]
    pub optional: bool,
}

/// `session{type}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    #[serde(rename = "type", default = "default_session_type")]
    pub kind: String,
}

fn default_session_type() -> String {
    "stateless".to_owned()
}

impl Default for SessionInfo {
    fn default() -> Self {
        SessionInfo {
            kind: default_session_type(),
        }
    }
}

/// `observability`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservabilityContract {
    #[serde(default = "default_true")]
    pub logged: bool,
    #[serde(default = "default_retention")]
    pub retention: String,
    #[serde(default)]
    pub fields_logged: Vec<String>,
    #[serde(default)]
    pub audit_accessible_by: Vec<String>,
}

fn default_retention() -> String {
    "P90D".to_owned()
}

/// `response_modes[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Unary,
    Streaming,
}

fn default_response_modes() -> Vec<ResponseMode> {
    vec![ResponseMode::Unary]
}

/// `requires_binding[]` (§4.1 binding requirements).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BindingRequirement {
    #[serde(rename = "type")]
    pub kind: String,
    pub field: String,
    #[serde(default)]
    pub source_capability: Option<String>,
    #[serde(default)]
    pub max_age: Option<String>,
}

/// The control requirement types the runtime enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlType {
    /// The token must carry `constraints.budget`.
    CostCeiling,
    /// The token must be bound to this capability (`purpose.capability`).
    StrongerDelegationRequired,
    /// Only a root token bound to this capability may invoke it (reference runtime extension).
    NonDelegable,
}

impl ControlType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlType::CostCeiling => "cost_ceiling",
            ControlType::StrongerDelegationRequired => "stronger_delegation_required",
            ControlType::NonDelegable => "non_delegable",
        }
    }
}

/// `control_requirements[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlRequirement {
    #[serde(rename = "type")]
    pub kind: ControlType,
    #[serde(default = "default_enforcement")]
    pub enforcement: String,
}

fn default_enforcement() -> String {
    "reject".to_owned()
}

/// A capability on another service (§4.1 cross-service hints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceCapabilityRef {
    pub service: String,
    pub capability: String,
}

/// `cross_service`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct CrossServiceHints {
    #[serde(default)]
    pub handoff_to: Vec<ServiceCapabilityRef>,
    #[serde(default)]
    pub refresh_via: Vec<ServiceCapabilityRef>,
    #[serde(default)]
    pub verify_via: Vec<ServiceCapabilityRef>,
    #[serde(default)]
    pub followup_via: Vec<ServiceCapabilityRef>,
}

/// One `cross_service_contract` entry (§4.1, v0.21).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossServiceContractEntry {
    pub target: ServiceCapabilityRef,
    #[serde(default)]
    pub required_for_task_completion: bool,
    pub continuity: String,
    pub completion_mode: String,
}

/// `cross_service_contract`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct CrossServiceContract {
    #[serde(default)]
    pub handoff: Vec<CrossServiceContractEntry>,
    #[serde(default)]
    pub followup: Vec<CrossServiceContractEntry>,
    #[serde(default)]
    pub verification: Vec<CrossServiceContractEntry>,
}

/// `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityKind {
    #[default]
    Atomic,
    Composed,
}

/// One step of a composition (§4.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompositionStep {
    pub id: String,
    pub capability: String,
    #[serde(default)]
    pub empty_result_source: bool,
    #[serde(default)]
    pub empty_result_path: Option<String>,
}

/// What a composition does with a child outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicyOutcome {
    Propagate,
    FailParent,
}

fn propagate() -> FailurePolicyOutcome {
    FailurePolicyOutcome::Propagate
}

fn fail_parent() -> FailurePolicyOutcome {
    FailurePolicyOutcome::FailParent
}

/// `composition.failure_policy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailurePolicy {
    #[serde(default = "propagate")]
    pub child_clarification: FailurePolicyOutcome,
    #[serde(default = "propagate")]
    pub child_denial: FailurePolicyOutcome,
    #[serde(default = "propagate")]
    pub child_approval_required: FailurePolicyOutcome,
    #[serde(default = "fail_parent")]
    pub child_error: FailurePolicyOutcome,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            child_clarification: propagate(),
            child_denial: propagate(),
            child_approval_required: propagate(),
            child_error: fail_parent(),
        }
    }
}

/// `composition.audit_policy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPolicy {
    pub record_child_invocations: bool,
    pub parent_task_lineage: bool,
}

impl Default for AuditPolicy {
    fn default() -> Self {
        AuditPolicy {
            record_child_invocations: true,
            parent_task_lineage: true,
        }
    }
}

/// `composition.empty_result_policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyResultPolicy {
    ReturnSuccessNoResults,
    Clarify,
    Deny,
}

/// `composition` (§4.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    pub authority_boundary: String,
    pub steps: Vec<CompositionStep>,
    #[serde(default)]
    pub input_mapping: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub output_mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub empty_result_policy: Option<EmptyResultPolicy>,
    #[serde(default)]
    pub empty_result_output: Option<Value>,
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    #[serde(default)]
    pub audit_policy: AuditPolicy,
}

/// Grant types (§4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    OneTime,
    SessionBound,
}

impl GrantType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::OneTime => "one_time",
            GrantType::SessionBound => "session_bound",
        }
    }
}

/// `grant_policy` (§4.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantPolicy {
    pub allowed_grant_types: Vec<GrantType>,
    pub default_grant_type: GrantType,
    pub expires_in_seconds: i64,
    pub max_uses: i64,
}

/// A full ANIP capability declaration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityDeclaration {
    pub name: String,
    pub description: String,
    #[serde(default = "default_contract_version")]
    pub contract_version: String,
    #[serde(default)]
    pub kind: CapabilityKind,
    #[serde(default)]
    pub inputs: Vec<CapabilityInput>,
    pub output: CapabilityOutput,
    pub side_effect: SideEffect,
    #[serde(default)]
    pub minimum_scope: Vec<String>,
    #[serde(default)]
    pub cost: Option<Cost>,
    #[serde(default)]
    pub requires: Vec<CapabilityRequirement>,
    #[serde(default)]
    pub composes_with: Vec<CapabilityComposition>,
    #[serde(default)]
    pub session: SessionInfo,
    #[serde(default)]
    pub observability: Option<ObservabilityContract>,
    #[serde(default = "default_response_modes")]
    pub response_modes: Vec<ResponseMode>,
    #[serde(default)]
    pub requires_binding: Vec<BindingRequirement>,
    #[serde(default)]
    pub control_requirements: Vec<ControlRequirement>,
    #[serde(default)]
    pub refresh_via: Vec<String>,
    #[serde(default)]
    pub verify_via: Vec<String>,
    #[serde(default)]
    pub cross_service: Option<CrossServiceHints>,
    #[serde(default)]
    pub cross_service_contract: Option<CrossServiceContract>,
    #[serde(default)]
    pub composition: Option<Composition>,
    #[serde(default)]
    pub grant_policy: Option<GrantPolicy>,
}

fn default_contract_version() -> String {
    "1.0".to_owned()
}

impl CapabilityDeclaration {
    /// Whether a cost in money is declared (`discovery.capabilities[].financial`): true exactly
    /// when `cost.financial` is non-null, whatever the certainty (§6.1).
    pub fn is_financial(&self) -> bool {
        self.cost.as_ref().is_some_and(|c| c.financial.is_some())
    }

    /// Whether `stream: true` may be requested.
    pub fn supports_streaming(&self) -> bool {
        self.response_modes.contains(&ResponseMode::Streaming)
    }

    /// The declared control requirement of `kind` enforced by rejection, if any.
    pub fn rejects_without(&self, kind: ControlType) -> bool {
        self.control_requirements
            .iter()
            .any(|c| c.kind == kind && c.enforcement == "reject")
    }
}

/// A declaration that cannot be served, named by capability and rule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("capability {capability}: {rule}")]
pub struct ContractError {
    /// The capability the rule applies to.
    pub capability: String,
    /// What is wrong, including the failure type §4.6 names for composition errors.
    pub rule: String,
}

fn contract_error(capability: &str, rule: impl Into<String>) -> ContractError {
    ContractError {
        capability: capability.to_owned(),
        rule: rule.into(),
    }
}

/// Checks every rule that JSON decoding alone does not: cross-field input rules (§4.10), kind and
/// composition consistency and the semantic composition rules (§4.6), same-manifest
/// `refresh_via`/`verify_via` references (§4.1), cost shapes (§5.1), control enforcement.
pub fn validate_declarations(declarations: &[CapabilityDeclaration]) -> Result<(), ContractError> {
    let mut names = BTreeSet::new();
    for decl in declarations {
        if decl.name.trim().is_empty() {
            return Err(contract_error("<unnamed>", "name must not be empty"));
        }
        if !names.insert(decl.name.as_str()) {
            return Err(contract_error(&decl.name, "declared twice"));
        }
    }
    let by_name: BTreeMap<&str, &CapabilityDeclaration> =
        declarations.iter().map(|d| (d.name.as_str(), d)).collect();
    for decl in declarations {
        validate_inputs(decl)?;
        validate_cost(decl)?;
        if !decl.response_modes.contains(&ResponseMode::Unary) {
            return Err(contract_error(
                &decl.name,
                "response_modes must include unary (§6.6)",
            ));
        }
        for control in &decl.control_requirements {
            if control.enforcement != "reject" {
                return Err(contract_error(
                    &decl.name,
                    format!(
                        "control requirement {} has enforcement {:?}; only \"reject\" is supported",
                        control.kind.as_str(),
                        control.enforcement
                    ),
                ));
            }
        }
        for (field, refs) in [
            ("refresh_via", &decl.refresh_via),
            ("verify_via", &decl.verify_via),
        ] {
            for target in refs {
                if !by_name.contains_key(target.as_str()) {
                    return Err(contract_error(
                        &decl.name,
                        format!("{field} names {target}, which this manifest does not declare"),
                    ));
                }
            }
        }
        if let Some(policy) = &decl.grant_policy {
            if !policy
                .allowed_grant_types
                .contains(&policy.default_grant_type)
            {
                return Err(contract_error(
                    &decl.name,
                    "grant_policy.default_grant_type must be one of allowed_grant_types",
                ));
            }
            if policy.expires_in_seconds <= 0 || policy.max_uses <= 0 {
                return Err(contract_error(
                    &decl.name,
                    "grant_policy.expires_in_seconds and max_uses must be positive",
                ));
            }
        }
        match (decl.kind, &decl.composition) {
            (CapabilityKind::Composed, None) => {
                return Err(contract_error(
                    &decl.name,
                    "kind=composed requires composition",
                ));
            }
            (CapabilityKind::Atomic, Some(_)) => {
                return Err(contract_error(
                    &decl.name,
                    "kind=atomic must not carry composition",
                ));
            }
            (CapabilityKind::Composed, Some(composition)) => {
                validate_composition(decl, composition, &by_name)?
            }
            (CapabilityKind::Atomic, None) => {}
        }
    }
    Ok(())
}

fn validate_inputs(decl: &CapabilityDeclaration) -> Result<(), ContractError> {
    let mut seen = BTreeSet::new();
    for input in &decl.inputs {
        if !seen.insert(input.name.as_str()) {
            return Err(contract_error(
                &decl.name,
                format!("input {} is declared twice", input.name),
            ));
        }
        if let Some(resolution) = &input.resolution {
            if resolution.mode == ResolutionMode::ClosedValues
                && input.allowed_values.as_ref().is_none_or(Vec::is_empty)
            {
                return Err(contract_error(
                    &decl.name,
                    format!(
                        "input {}: closed_values requires non-empty allowed_values",
                        input.name
                    ),
                ));
            }
            if resolution.on_missing == Some(ResolutionBehavior::UseDefault)
                && input.default.is_null()
            {
                return Err(contract_error(
                    &decl.name,
                    format!(
                        "input {}: on_missing=use_default requires a non-null default",
                        input.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_cost(decl: &CapabilityDeclaration) -> Result<(), ContractError> {
    let Some(cost) = &decl.cost else {
        return Ok(());
    };
    let Some(financial) = &cost.financial else {
        return Ok(());
    };
    if financial.currency.len() != 3 || !financial.currency.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(contract_error(
            &decl.name,
            "cost.financial.currency must be an ISO 4217 code",
        ));
    }
    let missing = match cost.certainty {
        CostCertainty::Fixed => financial
            .amount
            .is_none()
            .then_some("fixed cost needs financial.amount"),
        CostCertainty::Dynamic => financial
            .upper_bound
            .is_none()
            .then_some("dynamic cost needs financial.upper_bound"),
        CostCertainty::Estimated => None,
    };
    match missing {
        Some(rule) => Err(contract_error(&decl.name, rule)),
        None => Ok(()),
    }
}

/// A `$.input.X` or `$.steps.ID.output.Y` reference (§4.6 single-segment property access).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingRef {
    /// `$.input.<name>`.
    Input(String),
    /// `$.steps.<step>.output.<field>`; `field` is `None` for the whole output (`$.steps.s.output`).
    StepOutput { step: String, field: Option<String> },
}

/// Parses a composition mapping reference; anything else is `composition_invalid_step`.
pub fn parse_mapping_ref(path: &str) -> Option<MappingRef> {
    let rest = path.strip_prefix("$.")?;
    let parts: Vec<&str> = rest.split('.').collect();
    let valid = |s: &str| !s.is_empty() && !s.contains(['*', '[', ']', '?', '@']);
    match parts.as_slice() {
        ["input", name] if valid(name) => Some(MappingRef::Input((*name).to_owned())),
        ["steps", step, "output"] if valid(step) => Some(MappingRef::StepOutput {
            step: (*step).to_owned(),
            field: None,
        }),
        ["steps", step, "output", field] if valid(step) && valid(field) => {
            Some(MappingRef::StepOutput {
                step: (*step).to_owned(),
                field: Some((*field).to_owned()),
            })
        }
        _ => None,
    }
}

fn validate_composition(
    decl: &CapabilityDeclaration,
    composition: &Composition,
    by_name: &BTreeMap<&str, &CapabilityDeclaration>,
) -> Result<(), ContractError> {
    let name = decl.name.as_str();
    if composition.authority_boundary != "same_service" {
        return Err(contract_error(
            name,
            format!(
                "composition_unsupported_authority_boundary: {:?}",
                composition.authority_boundary
            ),
        ));
    }
    if composition.steps.is_empty() {
        return Err(contract_error(name, "composition_invalid_step: no steps"));
    }
    let mut step_ids: Vec<&str> = Vec::new();
    let mut empty_sources = 0;
    for step in &composition.steps {
        if step_ids.contains(&step.id.as_str()) {
            return Err(contract_error(
                name,
                format!(
                    "composition_invalid_step: step id {} is used twice",
                    step.id
                ),
            ));
        }
        step_ids.push(step.id.as_str());
        if step.empty_result_source {
            empty_sources += 1;
        }
        match by_name.get(step.capability.as_str()) {
            None => {
                return Err(contract_error(
                    name,
                    format!(
                        "composition_unknown_capability: step {} names {}",
                        step.id, step.capability
                    ),
                ));
            }
            Some(child) if child.kind == CapabilityKind::Composed => {
                return Err(contract_error(
                    name,
                    format!(
                        "composition_invalid_step: step {} is a composed capability",
                        step.id
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if empty_sources > 1 {
        return Err(contract_error(
            name,
            "composition_invalid_step: more than one empty_result_source",
        ));
    }
    for (step_id, mapping) in &composition.input_mapping {
        let Some(position) = step_ids.iter().position(|s| s == step_id) else {
            return Err(contract_error(
                name,
                format!("composition_invalid_step: input_mapping names unknown step {step_id}"),
            ));
        };
        for path in mapping.values() {
            match parse_mapping_ref(path) {
                Some(MappingRef::Input(_)) => {}
                Some(MappingRef::StepOutput { step, .. }) => {
                    let earlier = step_ids[..position].contains(&step.as_str());
                    if !earlier {
                        return Err(contract_error(
                            name,
                            format!("composition_invalid_step: {path} is not an earlier step"),
                        ));
                    }
                }
                None => {
                    return Err(contract_error(
                        name,
                        format!("composition_invalid_step: unsupported path {path}"),
                    ))
                }
            }
        }
    }
    for path in composition.output_mapping.values() {
        match parse_mapping_ref(path) {
            Some(MappingRef::Input(_)) => {}
            Some(MappingRef::StepOutput { step, .. }) if step_ids.contains(&step.as_str()) => {}
            _ => {
                return Err(contract_error(
                    name,
                    format!("composition_invalid_step: unsupported output path {path}"),
                ))
            }
        }
    }
    match composition.empty_result_policy {
        Some(EmptyResultPolicy::ReturnSuccessNoResults)
            if empty_sources == 1 && composition.empty_result_output.is_none() =>
        {
            Err(contract_error(
                name,
                "return_success_no_results requires empty_result_output",
            ))
        }
        Some(EmptyResultPolicy::Clarify | EmptyResultPolicy::Deny)
            if composition.empty_result_output.is_some() =>
        {
            Err(contract_error(
                name,
                "clarify/deny empty_result_policy must not carry empty_result_output",
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decl(value: Value) -> CapabilityDeclaration {
        serde_json::from_value(value).unwrap()
    }

    fn minimal(name: &str) -> Value {
        json!({"name": name, "description": "d", "output": {"type": "t", "fields": []},
               "side_effect": {"type": "read", "rollback_window": "not_applicable"}})
    }

    #[test]
    fn every_field_is_serialised_with_nulls() {
        let value = serde_json::to_value(decl(minimal("a"))).unwrap();
        for key in [
            "cost",
            "observability",
            "cross_service",
            "cross_service_contract",
            "composition",
            "grant_policy",
        ] {
            assert_eq!(value[key], Value::Null, "{key}");
        }
        assert_eq!(value["response_modes"], json!(["unary"]));
        assert_eq!(value["kind"], json!("atomic"));
        assert_eq!(value["session"], json!({"type": "stateless"}));
    }

    #[test]
    fn unknown_resolution_mode_is_refused_at_decode() {
        let mut v = minimal("a");
        v["inputs"] = json!([{"name": "x", "type": "string", "resolution": {"mode": "guess"}}]);
        assert!(serde_json::from_value::<CapabilityDeclaration>(v).is_err());
    }

    #[test]
    fn cross_field_rules_are_enforced() {
        let mut v = minimal("a");
        v["inputs"] =
            json!([{"name": "x", "type": "string", "resolution": {"mode": "closed_values"}}]);
        assert!(validate_declarations(&[decl(v)]).is_err());
        let mut v = minimal("a");
        v["refresh_via"] = json!(["missing"]);
        let err = validate_declarations(&[decl(v)]).unwrap_err();
        assert!(err.rule.contains("refresh_via"), "{err}");
    }

    #[test]
    fn composition_rules_name_their_failure_type() {
        let mut parent = minimal("p");
        parent["kind"] = json!("composed");
        parent["composition"] = json!({
            "authority_boundary": "same_service",
            "steps": [{"id": "a", "capability": "child"}, {"id": "b", "capability": "child"}],
            "input_mapping": {"a": {"x": "$.steps.b.output.y"}},
            "output_mapping": {"r": "$.steps.b.output.y"},
            "failure_policy": {}, "audit_policy": {"record_child_invocations": true, "parent_task_lineage": true}
        });
        let err =
            validate_declarations(&[decl(parent.clone()), decl(minimal("child"))]).unwrap_err();
        assert!(err.rule.starts_with("composition_invalid_step"), "{err}");
        parent["composition"]["steps"][1]["capability"] = json!("nope");
        let err =
            validate_declarations(&[decl(parent.clone()), decl(minimal("child"))]).unwrap_err();
        assert!(
            err.rule.starts_with("composition_unknown_capability"),
            "{err}"
        );
        parent["composition"]["authority_boundary"] = json!("external_service");
        let err = validate_declarations(&[decl(parent), decl(minimal("child"))]).unwrap_err();
        assert!(
            err.rule
                .starts_with("composition_unsupported_authority_boundary"),
            "{err}"
        );
    }

    #[test]
    fn mapping_refs_are_single_segment() {
        assert_eq!(
            parse_mapping_ref("$.input.q"),
            Some(MappingRef::Input("q".into()))
        );
        assert_eq!(
            parse_mapping_ref("$.steps.s.output.r"),
            Some(MappingRef::StepOutput {
                step: "s".into(),
                field: Some("r".into())
            })
        );
        assert_eq!(parse_mapping_ref("$.steps.s.output.r.x"), None);
        assert_eq!(parse_mapping_ref("$..x"), None);
    }
}
