//! ANIP failures (SPEC.md §4.5): the one error type that leaves a protocol handler, its HTTP
//! status, the canonical action → recovery class mapping, and disclosure-level redaction (§6.8).
//!
//! Architecture Invariant: every failure body carries `type`, `detail`, `resolution` (with
//! `action` and `recovery_class`) and `retry`; a terminal recovery class always has
//! `retry: false`.

use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The canonical `resolution.action` vocabulary (§4.5.1) with its mandatory recovery class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    RetryNow,
    ProvideCredentials,
    WaitAndRetry,
    RequestApproval,
    ObtainBinding,
    RefreshBinding,
    ObtainQuoteFirst,
    RevalidateState,
    CheckManifest,
    RequestBroaderScope,
    RequestBudgetIncrease,
    RequestBudgetBoundDelegation,
    RequestMatchingCurrencyDelegation,
    RequestNewDelegation,
    RequestCapabilityBinding,
    RequestDeeperDelegation,
    EscalateToRootPrincipal,
    ContactServiceOwner,
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RetryNow => "retry_now",
            Action::ProvideCredentials => "provide_credentials",
            Action::WaitAndRetry => "wait_and_retry",
            Action::RequestApproval => "request_approval",
            Action::ObtainBinding => "obtain_binding",
            Action::RefreshBinding => "refresh_binding",
            Action::ObtainQuoteFirst => "obtain_quote_first",
            Action::RevalidateState => "revalidate_state",
            Action::CheckManifest => "check_manifest",
            Action::RequestBroaderScope => "request_broader_scope",
            Action::RequestBudgetIncrease => "request_budget_increase",
            Action::RequestBudgetBoundDelegation => "request_budget_bound_delegation",
            Action::RequestMatchingCurrencyDelegation => "request_matching_currency_delegation",
            Action::RequestNewDelegation => "request_new_delegation",
            Action::RequestCapabilityBinding => "request_capability_binding",
            Action::RequestDeeperDelegation => "request_deeper_delegation",
            Action::EscalateToRootPrincipal => "escalate_to_root_principal",
            Action::ContactServiceOwner => "contact_service_owner",
        }
    }

    /// Parses a canonical action name (package failure mappings name actions as strings).
    pub fn parse(name: &str) -> Option<Action> {
        ALL_ACTIONS.iter().copied().find(|a| a.as_str() == name)
    }

    /// The mandatory recovery class (§4.5.1 table).
    pub fn recovery_class(self) -> &'static str {
        match self {
            Action::RetryNow | Action::ProvideCredentials => "retry_now",
            Action::WaitAndRetry | Action::RequestApproval => "wait_then_retry",
            Action::ObtainBinding | Action::RefreshBinding | Action::ObtainQuoteFirst => {
                "refresh_then_retry"
            }
            Action::RevalidateState | Action::CheckManifest => "revalidate_then_retry",
            Action::RequestBroaderScope
            | Action::RequestBudgetIncrease
            | Action::RequestBudgetBoundDelegation
            | Action::RequestMatchingCurrencyDelegation
            | Action::RequestNewDelegation
            | Action::RequestCapabilityBinding
            | Action::RequestDeeperDelegation => "redelegation_then_retry",
            Action::EscalateToRootPrincipal | Action::ContactServiceOwner => "terminal",
        }
    }
}

const ALL_ACTIONS: [Action; 18] = [
    Action::RetryNow,
    Action::ProvideCredentials,
    Action::WaitAndRetry,
    Action::RequestApproval,
    Action::ObtainBinding,
    Action::RefreshBinding,
    Action::ObtainQuoteFirst,
    Action::RevalidateState,
    Action::CheckManifest,
    Action::RequestBroaderScope,
    Action::RequestBudgetIncrease,
    Action::RequestBudgetBoundDelegation,
    Action::RequestMatchingCurrencyDelegation,
    Action::RequestNewDelegation,
    Action::RequestCapabilityBinding,
    Action::RequestDeeperDelegation,
    Action::EscalateToRootPrincipal,
    Action::ContactServiceOwner,
];

/// `resolution.recovery_target` (§4.5, v0.21).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecoveryTarget {
    pub kind: &'static str,
    pub target: Option<Value>,
    pub continuity: &'static str,
    pub retry_after_target: bool,
}

/// A protocol failure. Boxed, so that `Result<_, Failure>` stays small on the happy path.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure(Box<FailureData>);

/// The members of a [`Failure`] (reached through `Deref`).
#[derive(Clone, Debug, PartialEq)]
pub struct FailureData {
    pub kind: String,
    pub detail: String,
    pub action: Action,
    pub requires: Option<String>,
    pub grantable_by: Option<String>,
    pub estimated_availability: Option<String>,
    pub recovery_target: Option<RecoveryTarget>,
    pub retry: bool,
    /// Extra members of the failure object (e.g. `approval_required`, `unsatisfied_requirements`).
    pub extra: Map<String, Value>,
}

impl std::ops::Deref for Failure {
    type Target = FailureData;

    fn deref(&self) -> &FailureData {
        &self.0
    }
}

impl std::ops::DerefMut for Failure {
    fn deref_mut(&mut self) -> &mut FailureData {
        &mut self.0
    }
}

impl Failure {
    /// A failure of `kind` recovered by `action`; `retry` defaults to false when the action is
    /// terminal and true otherwise, and can be changed with [`Failure::retry`].
    pub fn new(kind: impl Into<String>, detail: impl Into<String>, action: Action) -> Self {
        Failure(Box::new(FailureData {
            kind: kind.into(),
            detail: detail.into(),
            action,
            requires: None,
            grantable_by: None,
            estimated_availability: None,
            recovery_target: None,
            retry: action.recovery_class() != "terminal",
            extra: Map::new(),
        }))
    }

    /// Sets `retry`; a terminal action keeps `retry: false` whatever is asked.
    pub fn retry(mut self, retry: bool) -> Self {
        self.retry = retry && self.action.recovery_class() != "terminal";
        self
    }

    /// Sets `resolution.requires`.
    pub fn requires(mut self, requires: impl Into<String>) -> Self {
        self.requires = Some(requires.into());
        self
    }

    /// Sets `resolution.grantable_by`.
    pub fn grantable_by(mut self, principal: impl Into<String>) -> Self {
        self.grantable_by = Some(principal.into());
        self
    }

    /// Sets `resolution.recovery_target`.
    pub fn recovery_target(mut self, target: RecoveryTarget) -> Self {
        self.recovery_target = Some(target);
        self
    }

    /// Adds a member to the failure object.
    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The HTTP status for this failure type (the reference mapping, extended with the gateway
    /// statuses for backend trouble so that proxies and operators see what happened).
    pub fn status(&self) -> StatusCode {
        status_for(&self.kind)
    }

    /// The `failure` object at the given disclosure level.
    pub fn to_json(&self, level: DisclosureLevel) -> Value {
        let (detail, requires, grantable_by, estimated_availability) = match level {
            DisclosureLevel::Full => (
                self.detail.clone(),
                self.requires.clone(),
                self.grantable_by.clone(),
                self.estimated_availability.clone(),
            ),
            DisclosureLevel::Reduced => (
                self.detail.chars().take(200).collect(),
                self.requires.clone(),
                None,
                self.estimated_availability.clone(),
            ),
            DisclosureLevel::Redacted => (generic_detail(&self.kind).to_owned(), None, None, None),
        };
        let mut resolution = json!({
            "action": self.action.as_str(),
            "recovery_class": self.action.recovery_class(),
            "requires": requires,
            "grantable_by": grantable_by,
            "estimated_availability": estimated_availability,
        });
        if let (Some(target), Value::Object(map)) = (&self.recovery_target, &mut resolution) {
            map.insert(
                "recovery_target".into(),
                serde_json::to_value(target).unwrap_or(Value::Null),
            );
        }
        let mut failure = Map::new();
        failure.insert("type".into(), Value::String(self.kind.clone()));
        failure.insert("detail".into(), Value::String(detail));
        failure.insert("resolution".into(), resolution);
        failure.insert("retry".into(), Value::Bool(self.retry));
        for (key, value) in &self.extra {
            failure.insert(key.clone(), value.clone());
        }
        Value::Object(failure)
    }

    /// `{success:false, failure}` at the given level (the body of non-invoke endpoints).
    pub fn body(&self, level: DisclosureLevel) -> Value {
        json!({"success": false, "failure": self.to_json(level)})
    }
}

/// HTTP status by failure type.
pub fn status_for(kind: &str) -> StatusCode {
    match kind {
        "authentication_required" | "invalid_token" | "token_expired" => StatusCode::UNAUTHORIZED,
        "scope_insufficient"
        | "insufficient_authority"
        | "purpose_mismatch"
        | "approver_not_authorized"
        | "non_delegable_action" => StatusCode::FORBIDDEN,
        "unknown_capability" | "not_found" | "approval_request_not_found" => StatusCode::NOT_FOUND,
        "unavailable"
        | "concurrent_lock"
        | "concurrent_request_rejected"
        | "approval_request_already_decided" => StatusCode::CONFLICT,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "internal_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "backend_not_configured" => StatusCode::NOT_IMPLEMENTED,
        "upstream_error" => StatusCode::BAD_GATEWAY,
        "service_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "upstream_timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The fixed generic message per failure type used at the `redacted` level (§6.8).
fn generic_detail(kind: &str) -> &'static str {
    match kind {
        "authentication_required" => "Authentication is required",
        "invalid_token" | "token_expired" => "The delegation token is not valid",
        "scope_insufficient"
        | "insufficient_authority"
        | "purpose_mismatch"
        | "non_delegable_action" => "The delegation does not authorize this request",
        "unknown_capability" | "not_found" => "The requested resource was not found",
        "budget_exceeded" | "budget_currency_mismatch" | "budget_not_enforceable" => {
            "The request is outside the delegated budget"
        }
        "binding_missing" | "binding_stale" => "A required binding is missing or stale",
        "control_requirement_unsatisfied" => "A control requirement is not satisfied",
        "invalid_parameters" => "The parameters are not valid",
        "approval_required" => "Approval is required",
        "service_unavailable"
        | "upstream_timeout"
        | "upstream_error"
        | "capability_unavailable" => "The capability is temporarily unavailable",
        _ => "The request failed",
    }
}

/// §6.8 disclosure levels (`policy` is resolved per caller before a failure is rendered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisclosureLevel {
    Full,
    Reduced,
    Redacted,
}

impl DisclosureLevel {
    /// Parses a fixed level name.
    pub fn parse(name: &str) -> Option<DisclosureLevel> {
        match name {
            "full" => Some(DisclosureLevel::Full),
            "reduced" => Some(DisclosureLevel::Reduced),
            "redacted" => Some(DisclosureLevel::Redacted),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_back_and_terminal_never_retries() {
        for action in ALL_ACTIONS {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let failure = Failure::new("x", "d", action).retry(true);
            assert_eq!(failure.retry, action.recovery_class() != "terminal");
        }
        assert_eq!(Action::parse("request_scope_grant"), None);
    }

    #[test]
    fn redaction_levels_follow_the_table() {
        let failure = Failure::new(
            "scope_insufficient",
            "x".repeat(300),
            Action::RequestBroaderScope,
        )
        .requires("delegation.scope += travel.book")
        .grantable_by("human:a@example.com");
        let full = failure.to_json(DisclosureLevel::Full);
        assert_eq!(full["resolution"]["grantable_by"], "human:a@example.com");
        let reduced = failure.to_json(DisclosureLevel::Reduced);
        assert_eq!(reduced["detail"].as_str().unwrap().len(), 200);
        assert_eq!(reduced["resolution"]["grantable_by"], Value::Null);
        assert_eq!(
            reduced["resolution"]["requires"],
            "delegation.scope += travel.book"
        );
        let redacted = failure.to_json(DisclosureLevel::Redacted);
        assert_eq!(redacted["resolution"]["requires"], Value::Null);
        assert_eq!(redacted["resolution"]["action"], "request_broader_scope");
        assert_eq!(
            redacted["resolution"]["recovery_class"],
            "redelegation_then_retry"
        );
        assert_eq!(redacted["type"], "scope_insufficient");
    }
}
