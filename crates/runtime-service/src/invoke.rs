//! `POST /anip/invoke/{capability}` (SPEC.md §6.3): the checks in their documented order, the
//! handler (an HTTP backend or an in-process composition), the audit entry, and the response.
//!
//! Order: lineage syntax → task/purpose match → capability exists → streaming supported →
//! token expiry → scope → purpose capability → chain (complete, depth, live ancestors) → budget →
//! bindings → control requirements → approval → exclusive lock → input validation → handler.
//!
//! Architecture Invariant: every outcome after the bearer was resolved produces exactly one
//! audit entry for the invocation, committed before the response is sent.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedSender;

use crate::approval::{self, ApprovalRequest};
use crate::audit::NewEntry;
use crate::backend::{self, BackendResult, CallContext, Payload};
use crate::compose;
use crate::contract::{CapabilityDeclaration, CapabilityKind, ControlType, CostCertainty};
use crate::db;
use crate::delegation::{self, Budget, Token};
use crate::failure::{Action, DisclosureLevel, Failure, RecoveryTarget};
use crate::ids;
use crate::runtime::{disclosure_for, storage_failure, Runtime};

/// A parsed invocation request.
#[derive(Clone, Debug, Default)]
pub struct InvokeRequest {
    pub parameters: Map<String, Value>,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub parent_invocation_id: Option<String>,
    pub upstream_service: Option<String>,
    pub budget: Option<Budget>,
    pub stream: bool,
    pub approval_grant: Option<String>,
}

fn optional_text(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Failure> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Failure::new(
            "invalid_parameters",
            format!("{key} must be a string"),
            Action::RevalidateState,
        )
        .retry(false)),
    }
}

impl InvokeRequest {
    /// Reads the body: `parameters` plus the optional lineage and control fields; a body
    /// without `parameters` is taken whole as the parameters (as the reference does).
    pub fn parse(body: Value) -> Result<InvokeRequest, Failure> {
        let Value::Object(body) = body else {
            return Err(Failure::new(
                "invalid_parameters",
                "the request body must be a JSON object",
                Action::RevalidateState,
            )
            .retry(false));
        };
        let parameters = match body.get("parameters") {
            Some(Value::Object(params)) => params.clone(),
            Some(Value::Null) => Map::new(),
            Some(_) => {
                return Err(Failure::new(
                    "invalid_parameters",
                    "parameters must be an object",
                    Action::RevalidateState,
                )
                .retry(false))
            }
            None => body.clone(),
        };
        let budget = match body.get("budget") {
            None | Some(Value::Null) => None,
            Some(value) => Some(serde_json::from_value(value.clone()).map_err(|_| {
                Failure::new(
                    "invalid_parameters",
                    "budget must be {currency, max_amount}",
                    Action::RevalidateState,
                )
                .retry(false)
            })?),
        };
        if body
            .get("requested_effects")
            .is_some_and(|v| !v.is_array() && !v.is_null())
        {
            return Err(Failure::new(
                "invalid_parameters",
                "requested_effects must be an array",
                Action::RevalidateState,
            )
            .retry(false));
        }
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(stream)) => *stream,
            Some(_) => {
                return Err(Failure::new(
                    "invalid_parameters",
                    "stream must be a boolean",
                    Action::RevalidateState,
                )
                .retry(false))
            }
        };
        Ok(InvokeRequest {
            parameters,
            client_reference_id: optional_text(&body, "client_reference_id")?,
            task_id: optional_text(&body, "task_id")?,
            parent_invocation_id: optional_text(&body, "parent_invocation_id")?,
            upstream_service: optional_text(&body, "upstream_service")?,
            budget,
            stream,
            approval_grant: optional_text(&body, "approval_grant")?,
        })
    }
}

/// A progress sink for streaming invocations.
pub type ProgressSink = UnboundedSender<Value>;

/// An invocation's response.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: InvocationBody,
}

/// The body of an invocation's response (§6.2), members in this order.
#[derive(Clone, Debug, Serialize)]
pub struct InvocationBody {
    pub invocation_id: String,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub parent_invocation_id: Option<String>,
    pub upstream_service: Option<String>,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Payload>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_actual: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_context: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_summary: Option<Value>,
}

/// Counts progress events for the stream summary.
pub(crate) struct Progress {
    sink: Option<ProgressSink>,
    emitted: u64,
    delivered: u64,
    disconnected: bool,
    started: Instant,
    invocation_id: String,
    client_reference_id: Option<String>,
}

impl Progress {
    fn new(sink: Option<ProgressSink>, invocation_id: String, request: &InvokeRequest) -> Progress {
        Progress {
            sink,
            emitted: 0,
            delivered: 0,
            disconnected: false,
            started: Instant::now(),
            invocation_id,
            client_reference_id: request.client_reference_id.clone(),
        }
    }

    /// Sends the event `payload()` makes, if anyone listens (otherwise it is never made).
    fn emit(&mut self, payload: impl FnOnce() -> Value) {
        let Some(sink) = &self.sink else { return };
        let payload = payload();
        self.emitted += 1;
        let event = json!({
            "invocation_id": self.invocation_id,
            "client_reference_id": self.client_reference_id,
            "timestamp": approval::rfc3339(OffsetDateTime::now_utc()),
            "payload": payload,
        });
        // A client that went away must not stop the handler (§6.6 sink isolation).
        if sink.send(event).is_ok() {
            self.delivered += 1;
        } else {
            self.disconnected = true;
        }
    }

    fn summary(&self) -> Option<Value> {
        self.sink.as_ref().map(|_| {
            json!({
                "response_mode": "streaming",
                "events_emitted": self.emitted,
                "events_delivered": self.delivered,
                "duration_ms": self.started.elapsed().as_millis() as u64,
                "client_disconnected": self.disconnected,
            })
        })
    }
}

/// Why an invocation stopped before success.
struct Stop {
    failure: Failure,
    budget_context: Option<Value>,
    approval_request_id: Option<String>,
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Stop {
            failure,
            budget_context: None,
            approval_request_id: None,
        }
    }
}

/// What a successful handler produced.
struct Done {
    result: BackendResult,
    budget_context: Option<Value>,
}

/// Everything the checks established, for the audit entry.
struct Facts<'a> {
    runtime: &'a Runtime,
    token: &'a Token,
    chain_ids: Vec<String>,
    decl: Option<&'a CapabilityDeclaration>,
    capability: &'a str,
    invocation_id: String,
    task_id: Option<String>,
    request: &'a InvokeRequest,
    parameters: Value,
    binding_context: Option<Value>,
}

/// Runs one invocation for a resolved token.
pub async fn invoke(
    runtime: &Runtime,
    token: &Token,
    capability: &str,
    request: InvokeRequest,
    sink: Option<ProgressSink>,
) -> Outcome {
    match db::tokens::chain(&runtime.pool, &token.token_id).await {
        Ok(chain) => {
            invoke_resolved(runtime, token, Arc::new(chain), capability, request, sink).await
        }
        Err(error) => {
            let task_id = request
                .task_id
                .clone()
                .or_else(|| token.purpose.task_id.clone());
            let progress = Progress::new(sink, ids::invocation_id(), &request);
            respond(
                &progress.invocation_id,
                &request,
                task_id,
                Err(storage_failure(&error).into()),
                disclosure_for(&runtime.package, token.caller_class.as_deref()),
                &progress,
            )
        }
    }
}

/// Runs one invocation for a resolved token whose delegation chain (root first, ending with the
/// token) was read with it.
pub async fn invoke_resolved(
    runtime: &Runtime,
    token: &Token,
    chain: Arc<Vec<Token>>,
    capability: &str,
    request: InvokeRequest,
    sink: Option<ProgressSink>,
) -> Outcome {
    let started = Instant::now();
    let invocation_id = ids::invocation_id();
    let level = disclosure_for(&runtime.package, token.caller_class.as_deref());
    let token_task = token.purpose.task_id.clone();
    let task_id = request.task_id.clone().or_else(|| token_task.clone());
    let mut progress = Progress::new(sink, invocation_id.clone(), &request);
    progress.started = started;
    let mut facts = Facts {
        runtime,
        token,
        chain_ids: chain.iter().map(|t| t.token_id.clone()).collect(),
        decl: runtime.package.declaration(capability),
        capability,
        invocation_id: invocation_id.clone(),
        task_id: task_id.clone(),
        request: &request,
        parameters: Value::Object(request.parameters.clone()),
        binding_context: None,
    };
    let outcome = run(&mut facts, &chain, &mut progress).await;
    let success = outcome.is_ok();
    let kind = outcome.as_ref().err().map(|s| s.failure.kind.clone());
    let recorded = record(&facts, &outcome, progress.summary()).await;
    let outcome = match (outcome, recorded) {
        (Ok(_), Err(error)) => {
            tracing::error!(event = "audit_unavailable", error = %error, invocation_id = %invocation_id, "invocation ran but was not recorded");
            Err(Stop::from(
                Failure::new(
                    "service_unavailable",
                    "the invocation ran but its audit entry could not be recorded; repeat it with the same client_reference_id",
                    Action::WaitAndRetry,
                )
                .with_extra("result_unconfirmed", json!(true)),
            ))
        }
        (outcome, _) => outcome,
    };
    metrics::counter!("anip_runtime_invocations_total", "outcome" => if success { "success" } else { "failure" }).increment(1);
    tracing::info!(
        event = "invocation",
        invocation_id = %invocation_id,
        capability = %if facts.decl.is_some() { capability } else { "unknown" },
        success,
        failure_type = kind.as_deref().unwrap_or(""),
        duration_ms = started.elapsed().as_millis() as u64,
        "invocation finished"
    );
    respond(&invocation_id, &request, task_id, outcome, level, &progress)
}

fn respond(
    invocation_id: &str,
    request: &InvokeRequest,
    task_id: Option<String>,
    outcome: Result<Done, Stop>,
    level: DisclosureLevel,
    progress: &Progress,
) -> Outcome {
    let mut body = InvocationBody {
        invocation_id: invocation_id.to_owned(),
        client_reference_id: request.client_reference_id.clone(),
        task_id,
        parent_invocation_id: request.parent_invocation_id.clone(),
        upstream_service: request.upstream_service.clone(),
        success: outcome.is_ok(),
        result: None,
        cost_actual: None,
        failure: None,
        budget_context: None,
        stream_summary: progress.summary(),
    };
    let status = match outcome {
        Ok(done) => {
            body.result = Some(done.result.result);
            body.cost_actual = done.result.cost_actual;
            body.budget_context = done.budget_context;
            StatusCode::OK
        }
        Err(stop) => {
            body.failure = Some(stop.failure.to_json(level));
            body.budget_context = stop.budget_context;
            stop.failure.status()
        }
    };
    Outcome { status, body }
}

async fn record(
    facts: &Facts<'_>,
    outcome: &Result<Done, Stop>,
    stream_summary: Option<Value>,
) -> Result<(), crate::audit::writer::AuditError> {
    let token = facts.token;
    let (success, failure_type, result_summary, cost_actual, budget_context, approval_request_id) =
        match outcome {
            Ok(done) => (
                true,
                None,
                Some(done.result.result.summary()),
                done.result.cost_actual.clone(),
                done.budget_context.clone(),
                None,
            ),
            Err(stop) => (
                false,
                Some(stop.failure.kind.clone()),
                Some(json!({"detail": stop.failure.detail})),
                None,
                stop.budget_context.clone(),
                stop.approval_request_id.clone(),
            ),
        };
    let entry = NewEntry {
        capability: facts.capability.chars().take(200).collect(),
        token_id: Some(token.token_id.clone()),
        issuer: Some(token.issuer.clone()),
        subject: Some(token.subject.clone()),
        root_principal: Some(token.root_principal.clone()),
        delegation_chain: facts.chain_ids.clone(),
        parameters: Some(facts.parameters.clone()),
        success,
        result_summary,
        failure_type,
        cost_actual,
        invocation_id: Some(facts.invocation_id.clone()),
        client_reference_id: facts.request.client_reference_id.clone(),
        task_id: facts.task_id.clone(),
        parent_invocation_id: facts.request.parent_invocation_id.clone(),
        upstream_service: facts.request.upstream_service.clone(),
        stream_summary,
        side_effect: facts.decl.map(|d| d.side_effect.kind),
        budget_context,
        binding_context: facts.binding_context.clone(),
        approval_request_id,
        approval_grant_id: facts.request.approval_grant.clone(),
        entry_type: None,
    };
    facts.runtime.audit.record(entry).await.map(|_| ())
}

async fn run(
    facts: &mut Facts<'_>,
    chain: &[Token],
    progress: &mut Progress,
) -> Result<Done, Stop> {
    let request = facts.request;
    let token = facts.token;
    let root = token.root_principal.clone();
    let invalid = |detail: &str| {
        Failure::new("invalid_parameters", detail, Action::RevalidateState).retry(false)
    };
    if request
        .client_reference_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 256)
    {
        return Err(invalid("client_reference_id is longer than 256 characters").into());
    }
    if request
        .task_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 256)
    {
        return Err(invalid("task_id is longer than 256 characters").into());
    }
    if request
        .parent_invocation_id
        .as_deref()
        .is_some_and(|p| !ids::is_invocation_id(p))
    {
        return Err(invalid("parent_invocation_id must have the form inv-<12 hex digits>").into());
    }
    if let (Some(asked), Some(bound)) = (&request.task_id, &token.purpose.task_id) {
        if asked != bound {
            return Err(Failure::new(
                "purpose_mismatch",
                format!("request task_id '{asked}' does not match the token's purpose task_id '{bound}'"),
                Action::RevalidateState,
            )
            .retry(false)
            .requires("the token's task_id, or no task_id")
            .into());
        }
    }
    let Some(decl) = facts.decl else {
        return Err(Failure::new(
            "unknown_capability",
            format!("capability '{}' is not declared", facts.capability),
            Action::CheckManifest,
        )
        .retry(false)
        .requires("a capability name from GET /anip/manifest")
        .into());
    };
    if request.stream && !decl.supports_streaming() {
        return Err(Failure::new(
            "streaming_not_supported",
            format!("capability '{}' does not support streaming", decl.name),
            Action::CheckManifest,
        )
        .retry(false)
        .into());
    }
    let now = OffsetDateTime::now_utc();
    if token.expired(now) {
        return Err(Failure::new(
            "token_expired",
            "the delegation token has expired",
            Action::RequestNewDelegation,
        )
        .grantable_by(root)
        .into());
    }
    let missing = delegation::missing_scopes(&token.scope, &decl.minimum_scope);
    if !missing.is_empty() {
        return Err(Failure::new(
            "scope_insufficient",
            format!("delegation chain lacks scope(s): {}", missing.join(", ")),
            Action::RequestBroaderScope,
        )
        .requires(format!("delegation.scope += {}", missing.join(", ")))
        .grantable_by(root)
        .into());
    }
    if !token.purpose.capability.is_empty() && token.purpose.capability != decl.name {
        return Err(Failure::new(
            "purpose_mismatch",
            format!(
                "the delegation token is bound to {} but the request is for {}",
                token.purpose.capability, decl.name
            ),
            Action::RequestNewDelegation,
        )
        .grantable_by(root)
        .into());
    }
    delegation::check_chain(token, chain, now)?;

    // Defaults apply before budget and binding checks read the parameters.
    let parameters = apply_defaults(decl, &request.parameters);
    facts.parameters = Value::Object(parameters.clone());
    let budget_context = check_budget(decl, token, request.budget.as_ref(), &parameters)?;
    facts.binding_context = binding_context(decl, &parameters);
    check_bindings(decl, &parameters, now).map_err(|failure| Stop {
        failure,
        budget_context: budget_context.clone(),
        approval_request_id: None,
    })?;
    check_controls(
        decl,
        token,
        budget_context.is_some() || request.budget.is_some(),
    )
    .map_err(|failure| Stop {
        failure,
        budget_context: budget_context.clone(),
        approval_request_id: None,
    })?;

    let mut approved = false;
    if decl.grant_policy.is_some() {
        match &request.approval_grant {
            None => {
                let approval_request = open_approval_request(facts, decl, &parameters)
                    .await
                    .map_err(|failure| Stop {
                        failure,
                        budget_context: budget_context.clone(),
                        approval_request_id: None,
                    })?;
                return Err(Stop {
                    failure: Failure::new(
                        "approval_required",
                        format!("{} requires approval before it runs", decl.name),
                        Action::RequestApproval,
                    )
                    .retry(false)
                    .with_extra("approval_required", approval_request.failure_metadata()),
                    budget_context,
                    approval_request_id: Some(approval_request.approval_request_id),
                });
            }
            Some(grant_id) => {
                redeem_grant(facts.runtime, token, decl, grant_id, &parameters, now)
                    .await
                    .map_err(|failure| Stop {
                        failure,
                        budget_context: budget_context.clone(),
                        approval_request_id: None,
                    })?;
                approved = true;
            }
        }
    }

    let mapping = facts.runtime.package.mappings.get(&decl.name);
    let lock_key = format!("exclusive:{}", token.root_principal);
    let locked = mapping.is_some_and(|m| m.exclusive_lock) && token.is_exclusive();
    if locked {
        let acquired = db::leases::try_acquire(
            &facts.runtime.pool,
            &lock_key,
            &facts.invocation_id,
            std::time::Duration::from_secs(120),
        )
        .await
        .map_err(|e| storage_failure(&e))?;
        if !acquired {
            return Err(Stop {
                failure: Failure::new(
                    "concurrent_request_rejected",
                    "concurrent_branches is exclusive and another request of this root principal is in progress",
                    Action::WaitAndRetry,
                )
                .grantable_by(token.root_principal.clone()),
                budget_context,
                approval_request_id: None,
            });
        }
    }
    let ctx = CallContext {
        invocation_id: facts.invocation_id.clone(),
        client_reference_id: request.client_reference_id.clone(),
        task_id: facts.task_id.clone(),
        root_principal: token.root_principal.clone(),
        subject: token.subject.clone(),
        capability: decl.name.clone(),
    };
    let outcome = execute(
        facts.runtime,
        token,
        decl,
        parameters,
        &ctx,
        approved,
        progress,
        &facts.chain_ids,
    )
    .await;
    if locked {
        if let Err(error) =
            db::leases::release(&facts.runtime.pool, &lock_key, &facts.invocation_id).await
        {
            tracing::warn!(event = "lock_release_failed", error = %error, "exclusive lock left to expire");
        }
    }
    match outcome {
        Ok(result) => {
            let budget_context = budget_context.map(|mut context| {
                context["cost_actual"] = result
                    .cost_actual
                    .as_ref()
                    .and_then(|c| c.pointer("/financial/amount").cloned())
                    .unwrap_or(Value::Null);
                context["within_budget"] = json!(true);
                context
            });
            Ok(Done {
                result,
                budget_context,
            })
        }
        Err(failure) => Err(Stop {
            failure,
            budget_context,
            approval_request_id: None,
        }),
    }
}

/// Runs the handler of an atomic or composed capability after every check passed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    runtime: &Runtime,
    token: &Token,
    decl: &CapabilityDeclaration,
    parameters: Map<String, Value>,
    ctx: &CallContext,
    approved: bool,
    progress: &mut Progress,
    chain_ids: &[String],
) -> Result<BackendResult, Failure> {
    let parameters = validate_inputs(decl, parameters)?;
    match decl.kind {
        CapabilityKind::Composed => {
            progress.emit(|| json!({"stage": "composition_started", "capability": decl.name}));
            let result = compose::run(
                runtime,
                token,
                decl,
                parameters,
                ctx,
                approved,
                chain_ids,
                &mut |step: &str| {
                    progress.emit(|| json!({"stage": "step_completed", "step": step}));
                },
            )
            .await;
            progress.emit(|| json!({"stage": "composition_finished"}));
            result
        }
        CapabilityKind::Atomic => {
            progress.emit(|| json!({"stage": "backend_call_started", "capability": decl.name}));
            let result = call_backend(runtime, decl, &parameters, ctx).await;
            progress.emit(|| json!({"stage": "backend_call_finished", "success": result.is_ok()}));
            result
        }
    }
}

/// Calls the backend bound to an atomic capability.
pub(crate) async fn call_backend(
    runtime: &Runtime,
    decl: &CapabilityDeclaration,
    parameters: &Map<String, Value>,
    ctx: &CallContext,
) -> Result<BackendResult, Failure> {
    let package = &runtime.package;
    let Some(binding) = package
        .mappings
        .get(&decl.name)
        .and_then(|m| m.http.as_ref())
    else {
        return Err(Failure::new(
            "backend_not_configured",
            format!(
                "capability {} has no backend binding in this package",
                decl.name
            ),
            Action::ContactServiceOwner,
        ));
    };
    let Some(connection) = package.connections.get(&binding.connection_ref) else {
        return Err(Failure::new(
            "backend_not_configured",
            "the backend connection is not configured",
            Action::ContactServiceOwner,
        ));
    };
    backend::http::call(
        &backend::client::BackendClient::for_this_thread(&runtime.http),
        connection,
        binding,
        &Value::Object(parameters.clone()),
        ctx,
        decl.side_effect.kind,
    )
    .await
}

/// Applies declared defaults (unless resolution says to omit a missing input).
pub fn apply_defaults(
    decl: &CapabilityDeclaration,
    parameters: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = parameters.clone();
    for input in &decl.inputs {
        let omit = input.resolution.as_ref().and_then(|r| r.on_missing)
            == Some(crate::contract::ResolutionBehavior::Omit);
        let absent = matches!(out.get(&input.name), None | Some(Value::Null))
            || out.get(&input.name) == Some(&json!(""));
        if absent && !omit && !input.default.is_null() {
            out.insert(input.name.clone(), input.default.clone());
        }
    }
    out
}

/// Whether `value` has the declared input type. `array<T>` (upstream's generic form) must be an
/// array whose every element has type `T`. Domain types (date, airport_code, ...) are carried as
/// strings or objects and are not checked here.
fn value_has_type(kind: &str, value: &Value) -> bool {
    let kind = kind.trim();
    if let Some(element) = kind
        .strip_prefix("array<")
        .or_else(|| kind.strip_prefix("list<"))
        .and_then(|rest| rest.strip_suffix('>'))
    {
        return value
            .as_array()
            .is_some_and(|items| items.iter().all(|item| value_has_type(element, item)));
    }
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" | "float" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

/// Checks required inputs, types and allowed values, and keeps only declared inputs.
pub fn validate_inputs(
    decl: &CapabilityDeclaration,
    parameters: Map<String, Value>,
) -> Result<Map<String, Value>, Failure> {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    let mut out = Map::new();
    for input in &decl.inputs {
        match parameters.get(&input.name) {
            None | Some(Value::Null) => {
                if input.required {
                    missing.push(input.name.as_str());
                }
            }
            Some(value) => {
                let type_ok = value_has_type(&input.kind, value);
                let allowed_ok = input
                    .allowed_values
                    .as_ref()
                    .is_none_or(|allowed| allowed.is_empty() || allowed.contains(value));
                if !type_ok || !allowed_ok {
                    wrong.push(input.name.as_str());
                }
                out.insert(input.name.clone(), value.clone());
            }
        }
    }
    if missing.is_empty() && wrong.is_empty() {
        return Ok(out);
    }
    let mut detail = Vec::new();
    if !missing.is_empty() {
        detail.push(format!("missing required input(s): {}", missing.join(", ")));
    }
    if !wrong.is_empty() {
        detail.push(format!(
            "input(s) of the wrong type or outside the allowed values: {}",
            wrong.join(", ")
        ));
    }
    Err(Failure::new(
        "invalid_parameters",
        detail.join("; "),
        Action::RevalidateState,
    )
    .retry(false)
    .requires("the inputs declared in GET /anip/manifest")
    .with_extra("missing_inputs", json!(missing))
    .with_extra("invalid_inputs", json!(wrong)))
}

/// The budget check (§6.3 budget enforcement). Returns the budget context when a budget was
/// evaluated.
fn check_budget(
    decl: &CapabilityDeclaration,
    token: &Token,
    asked: Option<&Budget>,
    parameters: &Map<String, Value>,
) -> Result<Option<Value>, Stop> {
    let root = token.root_principal.as_str();
    let effective = match (&token.constraints.budget, asked) {
        (None, None) => return Ok(None),
        (None, Some(asked)) => asked.clone(),
        (Some(held), None) => held.clone(),
        (Some(held), Some(asked)) => {
            if held.currency != asked.currency {
                return Err(Failure::new(
                    "budget_currency_mismatch",
                    format!(
                        "the invocation budget is in {} but the token budget is in {}",
                        asked.currency, held.currency
                    ),
                    Action::RequestMatchingCurrencyDelegation,
                )
                .retry(false)
                .into());
            }
            Budget {
                currency: held.currency.clone(),
                max_amount: held.max_amount.min(asked.max_amount),
            }
        }
    };
    let Some(cost) = &decl.cost else {
        return Ok(None);
    };
    let Some(financial) = &cost.financial else {
        return Ok(None);
    };
    if financial.currency != effective.currency {
        return Err(Failure::new(
            "budget_currency_mismatch",
            format!(
                "the budget is in {} but the capability costs {}",
                effective.currency, financial.currency
            ),
            Action::RequestMatchingCurrencyDelegation,
        )
        .retry(false)
        .requires(format!(
            "a delegation token with a {} budget",
            financial.currency
        ))
        .grantable_by(root)
        .into());
    }
    let amount = match cost.certainty {
        CostCertainty::Fixed => financial.amount,
        CostCertainty::Dynamic => financial.upper_bound,
        CostCertainty::Estimated if decl.requires_binding.is_empty() => {
            return Err(Failure::new(
                "budget_not_enforceable",
                format!("capability {} has an estimated cost and no binding, so a budget cannot be enforced", decl.name),
                Action::EscalateToRootPrincipal,
            )
            .grantable_by(root)
            .into());
        }
        CostCertainty::Estimated => {
            let present = decl
                .requires_binding
                .iter()
                .any(|b| parameters.get(&b.field).is_some_and(|v| !v.is_null()));
            if !present {
                // The binding check reports binding_missing, which says what to do.
                return Ok(None);
            }
            match bound_price(decl, parameters) {
                Some(price) => Some(price),
                None => {
                    return Err(Failure::new(
                        "budget_not_enforceable",
                        "the binding carries no price, so the budget cannot be enforced",
                        Action::ObtainBinding,
                    )
                    .retry(false)
                    .requires(
                        "a binding value with a price, e.g. a quote from the source capability",
                    )
                    .into());
                }
            }
        }
    };
    let mut context = json!({
        "budget_max": effective.max_amount,
        "budget_currency": effective.currency,
        "cost_check_amount": amount,
        "cost_certainty": cost.certainty.as_str(),
        "cost_actual": null,
        "within_budget": true,
    });
    if let Some(amount) = amount {
        if amount > effective.max_amount {
            context["within_budget"] = json!(false);
            return Err(Stop {
                failure: Failure::new(
                    "budget_exceeded",
                    format!(
                        "the cost {amount} {} exceeds the budget {} {}",
                        financial.currency, effective.max_amount, effective.currency
                    ),
                    Action::RequestBudgetIncrease,
                )
                .retry(false)
                .requires(format!(
                    "a delegation token with a budget of at least {amount} {}",
                    financial.currency
                ))
                .grantable_by(root),
                budget_context: Some(context),
                approval_request_id: None,
            });
        }
    }
    Ok(Some(context))
}

fn bound_price(decl: &CapabilityDeclaration, parameters: &Map<String, Value>) -> Option<f64> {
    decl.requires_binding
        .iter()
        .find_map(|b| parameters.get(&b.field)?.get("price")?.as_f64())
}

fn binding_context(decl: &CapabilityDeclaration, parameters: &Map<String, Value>) -> Option<Value> {
    (!decl.requires_binding.is_empty()).then(|| {
        json!({
            "bindings_required": decl.requires_binding.iter().map(|b| &b.field).collect::<Vec<_>>(),
            "bindings_provided": decl.requires_binding.iter().filter(|b| parameters.contains_key(&b.field)).map(|b| &b.field).collect::<Vec<_>>(),
        })
    })
}

/// How far in the future a bound value's `issued_at` may lie (clock skew between the backend
/// that issued it and this runtime) before its age is taken as unknowable.
const BINDING_CLOCK_SKEW_SECS: f64 = 60.0;

/// The age of a bound value: `issued_at` (epoch seconds) in an object, or a trailing
/// `-<epoch seconds>` in a string reference. `Ok(None)`: the value carries no issue time.
/// `Err`: it carries one that proves nothing (not a number, or in the future), which must not
/// pass a `max_age` check.
fn binding_age(value: &Value, now: OffsetDateTime) -> Result<Option<f64>, &'static str> {
    let issued = match value {
        Value::Object(map) => match map.get("issued_at") {
            None | Some(Value::Null) => None,
            Some(issued) => Some(
                issued
                    .as_f64()
                    .filter(|ts| ts.is_finite())
                    .ok_or("its issued_at is not a time in epoch seconds")?,
            ),
        },
        Value::String(text) => text
            .rsplit_once('-')
            .and_then(|(_, ts)| ts.parse::<f64>().ok())
            .filter(|ts| ts.is_finite() && *ts > 1e9),
        _ => None,
    };
    let Some(issued) = issued else {
        return Ok(None);
    };
    let age = now.unix_timestamp() as f64 - issued;
    if age < -BINDING_CLOCK_SKEW_SECS {
        return Err("its issued_at is in the future");
    }
    Ok(Some(age))
}

fn check_bindings(
    decl: &CapabilityDeclaration,
    parameters: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<(), Failure> {
    for binding in &decl.requires_binding {
        let source = binding
            .source_capability
            .as_deref()
            .unwrap_or("the source capability");
        let target = binding
            .source_capability
            .as_ref()
            .map(|capability| RecoveryTarget {
                kind: "refresh",
                target: Some(json!({"service": "self", "capability": capability})),
                continuity: "same_task",
                retry_after_target: true,
            });
        let Some(value) = parameters.get(&binding.field).filter(|v| !v.is_null()) else {
            let mut failure = Failure::new(
                "binding_missing",
                format!(
                    "capability {} requires '{}' (type: {})",
                    decl.name, binding.field, binding.kind
                ),
                Action::ObtainBinding,
            )
            .retry(false)
            .requires(format!("invoke {source} to obtain a {}", binding.field));
            if let Some(target) = target {
                failure = failure.recovery_target(target);
            }
            return Err(failure);
        };
        let Some(max_age) = binding
            .max_age
            .as_deref()
            .and_then(crate::duration::parse_iso8601)
        else {
            continue;
        };
        let stale = match binding_age(value, now) {
            Ok(age) => age.is_some_and(|age| age > max_age.as_secs_f64()).then(|| {
                format!(
                    "binding '{}' is older than its max_age of {}",
                    binding.field,
                    binding.max_age.as_deref().unwrap_or("")
                )
            }),
            // The protocol's failure for a binding that cannot be shown fresh (§4.1 names only
            // binding_missing and binding_stale): the recovery is the same, a fresh binding.
            Err(why) => Some(format!(
                "binding '{}' cannot be shown to be within its max_age of {}: {why}",
                binding.field,
                binding.max_age.as_deref().unwrap_or("")
            )),
        };
        if let Some(detail) = stale {
            let mut failure = Failure::new("binding_stale", detail, Action::RefreshBinding)
                .retry(false)
                .requires(format!(
                    "invoke {source} again for a fresh {}",
                    binding.field
                ));
            if let Some(target) = target {
                failure = failure.recovery_target(target);
            }
            return Err(failure);
        }
    }
    Ok(())
}

fn check_controls(
    decl: &CapabilityDeclaration,
    token: &Token,
    has_budget: bool,
) -> Result<(), Failure> {
    let root = token.root_principal.as_str();
    for control in decl
        .control_requirements
        .iter()
        .filter(|c| c.enforcement == "reject")
    {
        match control.kind {
            ControlType::CostCeiling if !has_budget => {
                return Err(Failure::new(
                    "control_requirement_unsatisfied",
                    format!("capability {} requires cost_ceiling: the delegation token must carry a budget", decl.name),
                    Action::RequestBudgetBoundDelegation,
                )
                .retry(false)
                .requires("a delegation token with a budget constraint")
                .grantable_by(root)
                .with_extra("unsatisfied_requirements", json!(["cost_ceiling"])));
            }
            ControlType::StrongerDelegationRequired if token.purpose.capability != decl.name => {
                return Err(Failure::new(
                    "control_requirement_unsatisfied",
                    format!(
                        "capability {} requires stronger_delegation_required: a token bound to it",
                        decl.name
                    ),
                    Action::RequestCapabilityBinding,
                )
                .retry(false)
                .grantable_by(root)
                .with_extra(
                    "unsatisfied_requirements",
                    json!(["stronger_delegation_required"]),
                ));
            }
            ControlType::NonDelegable
                if token.parent.is_some() || token.purpose.capability != decl.name =>
            {
                return Err(Failure::new(
                    "non_delegable_action",
                    format!("capability {} is non-delegable and can only be invoked by its root principal with a token bound to it", decl.name),
                    Action::EscalateToRootPrincipal,
                )
                .requires("the root principal must invoke this capability directly")
                .grantable_by(root));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Persists an approval request (before the failure that announces it is returned, §4.7).
async fn open_approval_request(
    facts: &Facts<'_>,
    decl: &CapabilityDeclaration,
    parameters: &Map<String, Value>,
) -> Result<ApprovalRequest, Failure> {
    let now = OffsetDateTime::now_utc();
    let Some(policy) = decl.grant_policy.clone() else {
        return Err(Failure::new(
            "internal_error",
            "no grant policy",
            Action::ContactServiceOwner,
        ));
    };
    let requested = Value::Object(parameters.clone());
    let preview = json!({"capability": decl.name, "description": decl.description, "side_effect": decl.side_effect.kind.as_str(), "parameters": requested});
    let request = ApprovalRequest {
        approval_request_id: ids::approval_request_id(),
        capability: decl.name.clone(),
        scope: decl.minimum_scope.clone(),
        requester: json!({"subject": facts.token.subject, "root_principal": facts.token.root_principal}),
        parent_invocation_id: Some(facts.invocation_id.clone()),
        preview_digest: signing::digest_value(&preview),
        preview,
        requested_parameters_digest: signing::digest_value(&requested),
        requested_parameters: requested,
        expires_at: now + time::Duration::seconds(policy.expires_in_seconds),
        grant_policy: policy,
        status: "pending".into(),
        approver: None,
        decided_at: None,
        created_at: now,
    };
    // §4.7 persistence invariant: no approval_required without a stored request.
    db::approvals::insert_request(&facts.runtime.pool, &request)
        .await
        .map_err(|e| storage_failure(&e))?;
    let created = NewEntry {
        capability: decl.name.clone(),
        token_id: Some(facts.token.token_id.clone()),
        issuer: Some(facts.token.issuer.clone()),
        subject: Some(facts.token.subject.clone()),
        root_principal: Some(facts.token.root_principal.clone()),
        delegation_chain: facts.chain_ids.clone(),
        success: true,
        side_effect: Some(decl.side_effect.kind),
        task_id: facts.task_id.clone(),
        parent_invocation_id: Some(facts.invocation_id.clone()),
        approval_request_id: Some(request.approval_request_id.clone()),
        entry_type: Some("approval_request_created".into()),
        result_summary: Some(json!({"expires_at": approval::rfc3339(request.expires_at)})),
        ..NewEntry::default()
    };
    if let Err(error) = facts.runtime.audit.record(created).await {
        tracing::warn!(event = "audit_unavailable", error = %error, "approval_request_created not recorded");
    }
    Ok(request)
}

/// Phases A and B of §4.8 for a continuation.
async fn redeem_grant(
    runtime: &Runtime,
    token: &Token,
    decl: &CapabilityDeclaration,
    grant_id: &str,
    parameters: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<(), Failure> {
    let not_found = || {
        Failure::new(
            "grant_not_found",
            "the approval grant does not exist",
            Action::RequestApproval,
        )
        .retry(false)
    };
    let grant = db::approvals::get_grant(&runtime.pool, grant_id)
        .await
        .map_err(|e| storage_failure(&e))?
        .ok_or_else(not_found)?;
    let content =
        signing::gojson::to_go_json(&grant.signed_content(), signing::GoJsonOptions::DIGEST);
    if !runtime
        .keys
        .verify_detached(content.as_bytes(), &grant.signature)
    {
        return Err(not_found());
    }
    let digest = signing::digest_value(&Value::Object(parameters.clone()));
    approval::check_continuation(
        &grant,
        &decl.name,
        &digest,
        &token.scope,
        token.session_id.as_deref(),
        now,
    )?;
    match db::approvals::reserve_grant(&runtime.pool, grant_id, now)
        .await
        .map_err(|e| storage_failure(&e))?
    {
        db::approvals::Reservation::Reserved => Ok(()),
        db::approvals::Reservation::Consumed => Err(Failure::new(
            "grant_consumed",
            "the approval grant has been used up",
            Action::RequestApproval,
        )
        .retry(false)),
        db::approvals::Reservation::Expired => Err(Failure::new(
            "grant_expired",
            "the approval grant has expired",
            Action::RequestApproval,
        )
        .retry(false)),
        db::approvals::Reservation::NotFound => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generic_array_inputs_are_checked_element_by_element() {
        assert!(value_has_type("array<string>", &json!(["a", "b"])));
        assert!(value_has_type("array< string >", &json!([])));
        assert!(!value_has_type("array<string>", &json!("a")));
        assert!(!value_has_type("array<string>", &json!(["a", 1])));
        assert!(value_has_type(
            "array<array<integer>>",
            &json!([[1, 2], [3]])
        ));
        assert!(!value_has_type("array<array<integer>>", &json!([[1.5]])));
        // Element types we don't know are carried as given, inside an array.
        assert!(value_has_type(
            "array<airport_code>",
            &json!(["SFO", {"iata": "JFK"}])
        ));
        assert!(!value_has_type(
            "array<airport_code>",
            &json!({"iata": "JFK"})
        ));
    }

    use super::*;

    fn decl(v: Value) -> CapabilityDeclaration {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> Value {
        json!({"name": "book", "description": "d", "output": {"type": "t", "fields": []},
               "side_effect": {"type": "irreversible", "rollback_window": "none"},
               "inputs": [{"name": "n", "type": "integer", "required": false, "default": 1},
                          {"name": "flight", "type": "string"},
                          {"name": "class", "type": "string", "required": false, "allowed_values": ["economy", "business"]}]})
    }

    #[test]
    fn stream_must_be_a_boolean() {
        for bad in [json!("yes"), json!(1)] {
            let failure =
                InvokeRequest::parse(json!({"parameters": {}, "stream": bad})).unwrap_err();
            assert_eq!(failure.kind, "invalid_parameters");
            assert!(failure.detail.contains("stream"), "{}", failure.detail);
        }
        assert!(
            InvokeRequest::parse(json!({"parameters": {}, "stream": true}))
                .unwrap()
                .stream
        );
    }

    #[test]
    fn bodies_without_parameters_are_the_parameters() {
        let parsed = InvokeRequest::parse(json!({"a": 1, "client_reference_id": "r"})).unwrap();
        assert_eq!(parsed.parameters["a"], 1);
        assert_eq!(parsed.client_reference_id.as_deref(), Some("r"));
        assert!(InvokeRequest::parse(json!({"parameters": [], "x": 1})).is_err());
        assert!(InvokeRequest::parse(json!([1])).is_err());
    }

    #[test]
    fn defaults_and_validation() {
        let d = decl(base());
        let params = apply_defaults(
            &d,
            json!({"flight": "AA1", "extra": true}).as_object().unwrap(),
        );
        assert_eq!(params["n"], 1);
        let valid = validate_inputs(&d, params).unwrap();
        assert!(!valid.contains_key("extra"));
        let err = validate_inputs(
            &d,
            json!({"n": "x", "class": "first"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap_err();
        assert_eq!(err.extra["missing_inputs"], json!(["flight"]));
        assert_eq!(err.extra["invalid_inputs"], json!(["n", "class"]));
    }

    #[test]
    fn binding_age_and_staleness() {
        let mut v = base();
        v["requires_binding"] = json!([{"type": "quote", "field": "quote", "source_capability": "search", "max_age": "PT15M"}]);
        let d = decl(v);
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let fresh = json!({"quote": {"id": "q", "price": 1, "issued_at": 1_800_000_000 - 60}});
        assert!(check_bindings(&d, fresh.as_object().unwrap(), now).is_ok());
        let stale = json!({"quote": {"id": "q", "issued_at": 1_800_000_000 - 901}});
        let failure = check_bindings(&d, stale.as_object().unwrap(), now).unwrap_err();
        assert_eq!(
            (failure.kind.as_str(), failure.action),
            ("binding_stale", Action::RefreshBinding)
        );
        for unprovable in [json!("x"), json!(9_999_999_999_i64), json!(true)] {
            let quote = json!({"quote": {"id": "q", "price": 1, "issued_at": unprovable}});
            let failure = check_bindings(&d, quote.as_object().unwrap(), now).unwrap_err();
            assert_eq!(failure.kind, "binding_stale", "{quote}");
        }
        let skewed = json!({"quote": {"id": "q", "issued_at": 1_800_000_000 + 30}});
        assert!(check_bindings(&d, skewed.as_object().unwrap(), now).is_ok());
        let missing = check_bindings(&d, &Map::new(), now).unwrap_err();
        assert_eq!(missing.kind, "binding_missing");
        assert_eq!(missing.recovery_target.as_ref().unwrap().kind, "refresh");
        assert!(
            check_bindings(
                &d,
                json!({"quote": "qt-abc-1799999000"}).as_object().unwrap(),
                now
            )
            .unwrap_err()
            .kind
                == "binding_stale"
        );
    }
}
