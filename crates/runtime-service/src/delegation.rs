//! Delegation tokens (SPEC.md §4.3, §6.3 token issuance): the token model, scope matching,
//! issuance and delegation rules, the JWT claims, and the checks an invocation's token chain
//! must pass. Plain functions over plain data; storage and HTTP live elsewhere.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::failure::{Action, Failure};

/// The default and ceiling of `max_delegation_depth`.
pub const MAX_DELEGATION_DEPTH: i64 = 3;

/// `constraints.budget`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub currency: String,
    pub max_amount: f64,
}

/// `constraints`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    pub max_delegation_depth: i64,
    pub concurrent_branches: String,
    pub budget: Option<Budget>,
}

/// `purpose`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Purpose {
    pub capability: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub task_id: Option<String>,
}

/// A stored delegation token.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub token_id: String,
    pub issuer: String,
    pub subject: String,
    pub scope: Vec<String>,
    pub purpose: Purpose,
    pub parent: Option<String>,
    pub root_principal: String,
    pub constraints: Constraints,
    pub caller_class: Option<String>,
    pub session_id: Option<String>,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl Token {
    /// Whether the token is past its expiry at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at < now
    }

    /// `exclusive` concurrency posture.
    pub fn is_exclusive(&self) -> bool {
        self.constraints.concurrent_branches == "exclusive"
    }

    /// The JWT claims signed for this token.
    pub fn claims(&self, service_id: &str) -> Value {
        let mut claims = json!({
            "jti": self.token_id,
            "iss": service_id,
            "aud": service_id,
            "sub": self.subject,
            "iat": self.issued_at.unix_timestamp(),
            "exp": self.expires_at.unix_timestamp(),
            "scope": self.scope,
            "root_principal": self.root_principal,
            "capability": self.purpose.capability,
            "parent_token_id": self.parent,
            "purpose": self.purpose,
            "constraints": self.constraints,
        });
        if let Value::Object(map) = &mut claims {
            if let Some(class) = &self.caller_class {
                map.insert("anip:caller_class".into(), json!(class));
            }
            if let Some(session) = &self.session_id {
                map.insert("anip:session_id".into(), json!(session));
            }
        }
        claims
    }

    /// Whether the signed claims of a presented JWT match this stored token exactly (the trust
    /// boundary: a token whose store record was changed, or a JWT minted for other values, is
    /// refused).
    pub fn matches_claims(&self, claims: &Map<String, Value>) -> bool {
        let text = |key: &str| claims.get(key).and_then(Value::as_str);
        let mut scope: Vec<String> = match claims.get("scope").and_then(Value::as_array) {
            Some(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            None => return false,
        };
        scope.sort();
        let mut stored_scope = self.scope.clone();
        stored_scope.sort();
        let constraints: Option<Constraints> = claims
            .get("constraints")
            .and_then(|c| serde_json::from_value(c.clone()).ok());
        text("sub") == Some(self.subject.as_str())
            && scope == stored_scope
            && text("capability") == Some(self.purpose.capability.as_str())
            && text("root_principal") == Some(self.root_principal.as_str())
            && claims.get("parent_token_id").and_then(Value::as_str) == self.parent.as_deref()
            && constraints.as_ref() == Some(&self.constraints)
            && claims.get("anip:session_id").and_then(Value::as_str) == self.session_id.as_deref()
    }
}

/// The base of a scope: `travel.book:max_$500` → `travel.book`.
pub fn scope_base(scope: &str) -> &str {
    scope.split(':').next().unwrap_or(scope)
}

/// Whether a held scope satisfies a required one: equal, or the required scope lies below it
/// (`travel` satisfies `travel.book`).
pub fn scope_satisfies(held: &str, required: &str) -> bool {
    let base = scope_base(held);
    base == required
        || required
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The required scopes no held scope satisfies.
pub fn missing_scopes<'a>(held: &[String], required: &'a [String]) -> Vec<&'a str> {
    required
        .iter()
        .filter(|r| !held.iter().any(|h| scope_satisfies(h, r)))
        .map(String::as_str)
        .collect()
}

/// A token issuance request body (§6.3).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub capability: Option<String>,
    #[serde(default)]
    pub purpose_parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub parent_token: Option<String>,
    #[serde(default)]
    pub ttl_hours: Option<f64>,
    #[serde(default)]
    pub budget: Option<Budget>,
    #[serde(default)]
    pub concurrent_branches: Option<String>,
    #[serde(default)]
    pub caller_class: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
}

fn invalid(detail: impl Into<String>) -> Failure {
    Failure::new("invalid_parameters", detail, Action::RevalidateState).retry(false)
}

/// Builds a new token from a request, checking every rule that does not need storage:
/// the request shape and, for a delegation, narrowing against `parent`.
///
/// `caller` is the authenticated principal (the bootstrap principal, or the `sub` of the JWT the
/// caller presented). `token_id` and `now` come from the caller so that this stays pure.
pub fn build_token(
    request: TokenRequest,
    caller: &str,
    parent: Option<&Token>,
    service_id: &str,
    token_id: String,
    now: OffsetDateTime,
) -> Result<Token, Failure> {
    if request.scope.is_empty() || request.scope.iter().any(|s| s.trim().is_empty()) {
        return Err(invalid("scope must be a non-empty list of scope strings"));
    }
    let ttl_hours = request.ttl_hours.unwrap_or(2.0);
    if !(ttl_hours > 0.0 && ttl_hours <= 24.0 * 30.0) {
        return Err(invalid(
            "ttl_hours must be a positive number of hours, at most 720",
        ));
    }
    if let Some(budget) = &request.budget {
        let currency_ok =
            budget.currency.len() == 3 && budget.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !(currency_ok && budget.max_amount.is_finite() && budget.max_amount >= 0.0) {
            return Err(invalid(
                "budget needs an ISO 4217 currency and a non-negative max_amount",
            ));
        }
    }
    if let Some(branches) = &request.concurrent_branches {
        if branches != "allowed" && branches != "exclusive" {
            return Err(invalid(
                "concurrent_branches must be \"allowed\" or \"exclusive\"",
            ));
        }
    }
    // task_id: the caller's when given; generated when purpose_parameters is absent; unbound
    // when purpose_parameters is present without one.
    let (parameters, task_id) = match request.purpose_parameters {
        None => (Map::new(), Some(format!("task-{token_id}"))),
        Some(mut parameters) => {
            let task_id = match parameters.remove("task_id") {
                Some(Value::String(task)) => Some(task),
                Some(Value::Null) | None => None,
                Some(_) => return Err(invalid("purpose_parameters.task_id must be a string")),
            };
            (parameters, task_id)
        }
    };
    let expires_at = now + time::Duration::seconds_f64(ttl_hours * 3600.0);
    let purpose = Purpose {
        capability: request.capability.clone().unwrap_or_default(),
        parameters,
        task_id,
    };
    let subject = request.subject.clone().unwrap_or_else(|| caller.to_owned());
    match parent {
        None => Ok(Token {
            token_id,
            issuer: service_id.to_owned(),
            subject,
            scope: request.scope,
            purpose,
            parent: None,
            root_principal: caller.to_owned(),
            constraints: Constraints {
                max_delegation_depth: MAX_DELEGATION_DEPTH,
                concurrent_branches: request
                    .concurrent_branches
                    .unwrap_or_else(|| "allowed".to_owned()),
                budget: request.budget,
            },
            caller_class: request.caller_class,
            session_id: request.session_id,
            issued_at: now,
            expires_at,
        }),
        Some(parent) => {
            let budget = delegate_checks(&request.scope, request.budget, caller, parent, now)?;
            Ok(Token {
                token_id,
                issuer: parent.subject.clone(),
                subject,
                scope: request.scope,
                purpose,
                parent: Some(parent.token_id.clone()),
                root_principal: parent.root_principal.clone(),
                constraints: Constraints {
                    max_delegation_depth: parent
                        .constraints
                        .max_delegation_depth
                        .min(MAX_DELEGATION_DEPTH),
                    // The concurrency posture of a token tree is fixed at its root.
                    concurrent_branches: parent.constraints.concurrent_branches.clone(),
                    budget,
                },
                caller_class: request.caller_class.or_else(|| parent.caller_class.clone()),
                // A child inherits the session verbatim; it cannot change it.
                session_id: parent.session_id.clone(),
                issued_at: now,
                // A child never outlives its parent.
                expires_at: expires_at.min(parent.expires_at),
            })
        }
    }
}

/// The delegation rules (§4.3): only the parent's subject may delegate, the parent must be
/// live, every child scope must narrow a parent scope (keeping any `:max_$` ceiling, and never
/// widening a qualifier: see [`scope_covers`]), the
/// budget narrows or is inherited. Returns the child's budget.
fn delegate_checks(
    scope: &[String],
    budget: Option<Budget>,
    caller: &str,
    parent: &Token,
    now: OffsetDateTime,
) -> Result<Option<Budget>, Failure> {
    let root = parent.root_principal.as_str();
    if caller != parent.subject {
        return Err(Failure::new(
            "insufficient_authority",
            format!("caller '{caller}' is not the parent token's subject ('{}'); only the delegatee can sub-delegate", parent.subject),
            Action::RequestNewDelegation,
        )
        .retry(false)
        .grantable_by(root));
    }
    if parent.expired(now) {
        return Err(Failure::new(
            "parent_token_expired",
            format!("parent token {} has expired", parent.token_id),
            Action::RequestNewDelegation,
        )
        .grantable_by(root));
    }
    for child in scope {
        let child_base = scope_base(child);
        let Some(parent_scope) = parent.scope.iter().find(|p| scope_satisfies(p, child_base))
        else {
            return Err(Failure::new(
                "scope_escalation",
                format!("child scope '{child_base}' is not within the parent token's scopes"),
                Action::RequestNewDelegation,
            )
            .retry(false)
            .requires("child scope must be a subset of the parent scope")
            .grantable_by(root));
        };
        if let Some(parent_max) = scope_ceiling(parent_scope) {
            match scope_ceiling(child) {
                Some(child_max) if child_max <= parent_max => {}
                _ => {
                    return Err(Failure::new(
                        "scope_escalation",
                        format!("child scope '{child_base}' must keep the parent's ceiling of ${parent_max}"),
                        Action::RequestNewDelegation,
                    )
                    .retry(false)
                    .grantable_by(root));
                }
            }
        }
        // The base alone does not decide: `approver:get_booking` and `approver:*` share one
        // base, and the qualifier is what an approval grant checks.
        if !parent.scope.iter().any(|p| scope_covers(p, child)) {
            return Err(Failure::new(
                "scope_escalation",
                format!("child scope '{child}' is broader than every parent scope"),
                Action::RequestNewDelegation,
            )
            .retry(false)
            .requires("child scope must be a subset of the parent scope")
            .grantable_by(root));
        }
    }
    match (&parent.constraints.budget, budget) {
        (None, budget) => Ok(budget),
        (Some(parent_budget), None) => Ok(Some(parent_budget.clone())),
        (Some(parent_budget), Some(child)) if child.currency != parent_budget.currency => {
            Err(Failure::new(
                "budget_currency_mismatch",
                format!(
                    "child budget currency {} does not match the parent's {}",
                    child.currency, parent_budget.currency
                ),
                Action::RequestMatchingCurrencyDelegation,
            )
            .retry(false)
            .requires(format!(
                "budget currency must be {}",
                parent_budget.currency
            ))
            .grantable_by(root))
        }
        (Some(parent_budget), Some(child)) if child.max_amount > parent_budget.max_amount => {
            Err(Failure::new(
                "budget_exceeded",
                format!(
                    "child budget {} exceeds the parent budget {}",
                    child.max_amount, parent_budget.max_amount
                ),
                Action::RequestNewDelegation,
            )
            .retry(false)
            .requires(format!("budget must be <= {}", parent_budget.max_amount))
            .grantable_by(root))
        }
        (Some(_), Some(child)) => Ok(Some(child)),
    }
}

/// The qualifier after a scope's base: none, a `:max_$N` ceiling, or another qualifier such as
/// the capability of `approver:<capability>` (`*` standing for every one).
#[derive(Debug, PartialEq)]
enum Qualifier<'a> {
    None,
    Ceiling(f64),
    Named(&'a str),
}

fn qualifier(scope: &str) -> Qualifier<'_> {
    match scope.split_once(':') {
        None => Qualifier::None,
        Some((_, rest)) => match rest.strip_prefix("max_$").map(str::parse::<f64>) {
            Some(Ok(amount)) if amount.is_finite() => Qualifier::Ceiling(amount),
            _ => Qualifier::Named(rest),
        },
    }
}

/// Whether a parent scope covers a child scope in a delegation: the child's base lies at or
/// below the parent's (§4.3 matching), and its qualifier is no broader. An unqualified parent
/// covers its base with or without a ceiling; a ceiling covers only an equal or lower ceiling;
/// a named qualifier covers only itself, and `*` covers every named qualifier. A qualified
/// parent never covers an unqualified child, and an unqualified parent never covers a named
/// qualifier (bare `approver` may not approve anything, `approver:*` may approve everything).
pub fn scope_covers(parent: &str, child: &str) -> bool {
    if !scope_satisfies(parent, scope_base(child)) {
        return false;
    }
    match (qualifier(parent), qualifier(child)) {
        (Qualifier::None, Qualifier::None | Qualifier::Ceiling(_)) => true,
        (Qualifier::Ceiling(p), Qualifier::Ceiling(c)) => c <= p,
        (Qualifier::Named(p), Qualifier::Named(c)) => p == c || p == "*",
        _ => false,
    }
}

/// A `:max_$N` ceiling carried in a scope string.
pub fn scope_ceiling(scope: &str) -> Option<f64> {
    scope
        .split_once(":max_$")
        .and_then(|(_, amount)| amount.parse().ok())
}

/// The checks an invocation's token chain must pass after scope and purpose (§4.3):
/// completeness, depth, and live ancestors. `chain` is root first and ends with `token`.
pub fn check_chain(token: &Token, chain: &[Token], now: OffsetDateTime) -> Result<(), Failure> {
    let root = token.root_principal.as_str();
    let complete = chain.first().is_some_and(|first| first.parent.is_none());
    if !complete {
        return Err(Failure::new(
            "broken_delegation_chain",
            "the delegation chain is incomplete: an ancestor token is not registered",
            Action::RequestDeeperDelegation,
        )
        .grantable_by(root));
    }
    let depth = chain.len() as i64 - 1;
    if depth > token.constraints.max_delegation_depth {
        return Err(Failure::new(
            "delegation_depth_exceeded",
            format!(
                "delegation chain depth is {depth}, max allowed is {}",
                token.constraints.max_delegation_depth
            ),
            Action::RequestDeeperDelegation,
        )
        .requires(format!("max_delegation_depth >= {depth}"))
        .grantable_by(root));
    }
    if let Some(expired) = chain[..chain.len() - 1].iter().find(|t| t.expired(now)) {
        return Err(Failure::new(
            "parent_token_expired",
            format!(
                "ancestor token {} in the delegation chain has expired",
                expired.token_id
            ),
            Action::RequestNewDelegation,
        )
        .grantable_by(root));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    fn request(value: Value) -> TokenRequest {
        serde_json::from_value(value).unwrap()
    }

    fn root(value: Value) -> Token {
        build_token(
            request(value),
            "human:ana@example.com",
            None,
            "svc",
            "anip-000000000001".into(),
            now(),
        )
        .unwrap()
    }

    #[test]
    fn scope_matching() {
        assert!(scope_satisfies("travel.book:max_$500", "travel.book"));
        assert!(scope_satisfies("travel", "travel.book"));
        assert!(!scope_satisfies("travel.bo", "travel.book"));
        assert!(!scope_satisfies("travel.book", "travel"));
        assert_eq!(
            missing_scopes(
                &["travel.search".into()],
                &["travel.search".into(), "travel.book".into()]
            ),
            ["travel.book"]
        );
    }

    #[test]
    fn task_id_rules() {
        assert_eq!(
            root(json!({"scope": ["a"]})).purpose.task_id.as_deref(),
            Some("task-anip-000000000001")
        );
        assert_eq!(
            root(json!({"scope": ["a"], "purpose_parameters": {}}))
                .purpose
                .task_id,
            None
        );
        let token = root(json!({"scope": ["a"], "purpose_parameters": {"task_id": "t1", "x": 1}}));
        assert_eq!(token.purpose.task_id.as_deref(), Some("t1"));
        assert_eq!(
            token.purpose.parameters,
            *json!({"x": 1}).as_object().unwrap()
        );
    }

    #[test]
    fn delegation_narrows_and_inherits() {
        let parent = root(
            json!({"scope": ["travel", "pay:max_$500"], "budget": {"currency": "USD", "max_amount": 500}, "concurrent_branches": "exclusive"}),
        );
        let delegate = |body: Value, caller: &str| {
            build_token(
                request(body),
                caller,
                Some(&parent),
                "svc",
                "anip-000000000002".into(),
                now(),
            )
        };
        let child = delegate(
            json!({"scope": ["travel.book"], "subject": "agent:b"}),
            "human:ana@example.com",
        )
        .unwrap();
        assert_eq!(child.constraints.budget, parent.constraints.budget);
        assert_eq!(child.constraints.concurrent_branches, "exclusive");
        assert_eq!(child.issuer, "human:ana@example.com");
        assert_eq!(child.root_principal, "human:ana@example.com");
        let kind = |r: Result<Token, Failure>| r.unwrap_err().kind.clone();
        assert_eq!(
            kind(delegate(
                json!({"scope": ["hotel"]}),
                "human:ana@example.com"
            )),
            "scope_escalation"
        );
        assert_eq!(
            kind(delegate(json!({"scope": ["pay"]}), "human:ana@example.com")),
            "scope_escalation"
        );
        assert!(delegate(json!({"scope": ["pay:max_$100"]}), "human:ana@example.com").is_ok());
        assert_eq!(
            kind(delegate(
                json!({"scope": ["travel"], "budget": {"currency": "USD", "max_amount": 600}}),
                "human:ana@example.com"
            )),
            "budget_exceeded"
        );
        assert_eq!(
            kind(delegate(
                json!({"scope": ["travel"], "budget": {"currency": "EUR", "max_amount": 6}}),
                "human:ana@example.com"
            )),
            "budget_currency_mismatch"
        );
        let err = delegate(json!({"scope": ["travel"]}), "agent:mallory").unwrap_err();
        assert_eq!(
            (err.kind.as_str(), err.status().as_u16()),
            ("insufficient_authority", 403)
        );
    }

    #[test]
    fn delegation_cannot_widen_a_qualifier() {
        let parent = root(json!({"scope": ["approver:get_booking", "travel", "pay:max_$500"]}));
        let delegate = |scope: &str| {
            build_token(
                request(json!({ "scope": [scope] })),
                "human:ana@example.com",
                Some(&parent),
                "svc",
                "anip-000000000003".into(),
                now(),
            )
            .map_err(|f| (f.kind.clone(), f.status().as_u16()))
        };
        for widened in [
            "approver:*",
            "approver:book_flight",
            "approver",
            "travel:*",
            "pay:max_$501",
            "pay:anything",
        ] {
            assert_eq!(
                delegate(widened).unwrap_err(),
                ("scope_escalation".to_owned(), 400),
                "{widened}"
            );
        }
        for narrowed in [
            "approver:get_booking",
            "travel",
            "travel.book",
            "travel.book:max_$100",
            "pay:max_$500",
        ] {
            assert!(delegate(narrowed).is_ok(), "{narrowed}");
        }
        assert!(scope_covers("approver:*", "approver:get_booking"));
        assert!(scope_covers("approver:*", "approver:*"));
    }

    #[test]
    fn claims_round_trip_through_the_store_comparison() {
        let token = root(
            json!({"scope": ["b", "a"], "budget": {"currency": "USD", "max_amount": 10}, "session_id": "s1"}),
        );
        let claims = token.claims("svc");
        assert!(token.matches_claims(claims.as_object().unwrap()));
        let mut widened = claims.clone();
        widened["scope"] = json!(["a", "b", "c"]);
        assert!(!token.matches_claims(widened.as_object().unwrap()));
        let mut richer = claims;
        richer["constraints"]["budget"]["max_amount"] = json!(11);
        assert!(!token.matches_claims(richer.as_object().unwrap()));
    }

    #[test]
    fn chain_checks() {
        let parent = root(json!({"scope": ["a"]}));
        let mut child = build_token(
            request(json!({"scope": ["a"]})),
            "human:ana@example.com",
            Some(&parent),
            "svc",
            "anip-c".into(),
            now(),
        )
        .unwrap();
        assert!(check_chain(&child, &[parent.clone(), child.clone()], now()).is_ok());
        assert_eq!(
            check_chain(&child, std::slice::from_ref(&child), now())
                .unwrap_err()
                .kind,
            "broken_delegation_chain"
        );
        child.constraints.max_delegation_depth = 0;
        assert_eq!(
            check_chain(&child, &[parent.clone(), child.clone()], now())
                .unwrap_err()
                .kind,
            "delegation_depth_exceeded"
        );
        child.constraints.max_delegation_depth = 3;
        let later = now() + time::Duration::hours(3);
        let mut live_child = child.clone();
        live_child.expires_at = later + time::Duration::hours(1);
        assert_eq!(
            check_chain(&live_child, &[parent, live_child.clone()], later)
                .unwrap_err()
                .kind,
            "parent_token_expired"
        );
    }
}
