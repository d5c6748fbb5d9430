//! Approval requests and grants (SPEC.md §4.7–§4.9): the records, their JSON form, and the
//! pure validation steps of grant issuance and of a continuation invocation.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::contract::{GrantPolicy, GrantType};
use crate::failure::{Action, Failure};

/// A persisted approval request.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRequest {
    pub approval_request_id: String,
    pub capability: String,
    pub scope: Vec<String>,
    pub requester: Value,
    pub parent_invocation_id: Option<String>,
    pub preview: Value,
    pub preview_digest: String,
    pub requested_parameters: Value,
    pub requested_parameters_digest: String,
    pub grant_policy: GrantPolicy,
    pub status: String,
    pub approver: Option<Value>,
    pub decided_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A signed grant.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalGrant {
    pub grant_id: String,
    pub approval_request_id: String,
    pub grant_type: String,
    pub capability: String,
    pub scope: Vec<String>,
    pub approved_parameters_digest: String,
    pub preview_digest: String,
    pub requester: Value,
    pub approver: Value,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub max_uses: i64,
    pub use_count: i64,
    pub session_id: Option<String>,
    pub signature: String,
}

/// RFC 3339 UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl ApprovalRequest {
    /// The wire form.
    pub fn to_json(&self) -> Value {
        json!({
            "approval_request_id": self.approval_request_id,
            "capability": self.capability,
            "scope": self.scope,
            "requester": self.requester,
            "parent_invocation_id": self.parent_invocation_id,
            "preview": self.preview,
            "preview_digest": self.preview_digest,
            "requested_parameters": self.requested_parameters,
            "requested_parameters_digest": self.requested_parameters_digest,
            "grant_policy": self.grant_policy,
            "status": self.status,
            "approver": self.approver,
            "decided_at": self.decided_at.map(rfc3339),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
        })
    }

    /// The `approval_required` metadata of the failure that announced this request.
    pub fn failure_metadata(&self) -> Value {
        json!({
            "approval_request_id": self.approval_request_id,
            "preview_digest": self.preview_digest,
            "requested_parameters_digest": self.requested_parameters_digest,
            "grant_policy": self.grant_policy,
        })
    }
}

impl ApprovalGrant {
    /// Everything the signature covers: all fields except `signature` and `use_count`.
    pub fn signed_content(&self) -> Value {
        json!({
            "grant_id": self.grant_id,
            "approval_request_id": self.approval_request_id,
            "grant_type": self.grant_type,
            "capability": self.capability,
            "scope": self.scope,
            "approved_parameters_digest": self.approved_parameters_digest,
            "preview_digest": self.preview_digest,
            "requester": self.requester,
            "approver": self.approver,
            "issued_at": rfc3339(self.issued_at),
            "expires_at": rfc3339(self.expires_at),
            "max_uses": self.max_uses,
            "session_id": self.session_id,
        })
    }

    /// The wire form.
    pub fn to_json(&self) -> Value {
        let mut value = self.signed_content();
        if let Value::Object(map) = &mut value {
            map.insert("use_count".into(), json!(self.use_count));
            map.insert("signature".into(), json!(self.signature));
        }
        value
    }
}

/// The body of `POST /anip/approval_grants`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct IssueRequest {
    pub approval_request_id: String,
    pub grant_type: GrantType,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub expires_in_seconds: Option<i64>,
    #[serde(default)]
    pub max_uses: Option<i64>,
}

fn approval_failure(kind: &str, detail: impl Into<String>, action: Action) -> Failure {
    Failure::new(kind, detail, action).retry(false)
}

/// Steps 4–7 of §4.9 against a loaded request: still pending and unexpired, the approver holds
/// `approver:*` or `approver:<capability>`, the grant type is allowed, and the approver's
/// choices fit the policy. Returns `(expires_in_seconds, max_uses)` to issue with.
pub fn check_issuance(
    request: &ApprovalRequest,
    body: &IssueRequest,
    approver_scopes: &[String],
    now: OffsetDateTime,
) -> Result<(i64, i64), Failure> {
    if request.status != "pending" {
        return Err(approval_failure(
            "approval_request_already_decided",
            format!(
                "approval request {} is {}",
                request.approval_request_id, request.status
            ),
            Action::RevalidateState,
        ));
    }
    if request.expires_at <= now {
        return Err(approval_failure(
            "approval_request_expired",
            format!(
                "approval request {} has expired",
                request.approval_request_id
            ),
            Action::RevalidateState,
        ));
    }
    let wanted = format!("approver:{}", request.capability);
    if !approver_scopes
        .iter()
        .any(|s| s == "approver:*" || *s == wanted)
    {
        return Err(approval_failure(
            "approver_not_authorized",
            format!(
                "the token lacks approver scope for capability {}",
                request.capability
            ),
            Action::RequestBroaderScope,
        )
        .requires(format!("scope += {wanted}")));
    }
    let policy = &request.grant_policy;
    if !policy.allowed_grant_types.contains(&body.grant_type) {
        return Err(approval_failure(
            "grant_type_not_allowed_by_policy",
            format!(
                "grant type {} is not allowed for this request",
                body.grant_type.as_str()
            ),
            Action::RevalidateState,
        ));
    }
    let expires_in = body.expires_in_seconds.unwrap_or(policy.expires_in_seconds);
    let max_uses = match body.grant_type {
        GrantType::OneTime => body.max_uses.unwrap_or(1),
        GrantType::SessionBound => body.max_uses.unwrap_or(policy.max_uses),
    };
    let invalid =
        |detail: &str| approval_failure("invalid_parameters", detail, Action::RevalidateState);
    if expires_in <= 0 || expires_in > policy.expires_in_seconds {
        return Err(invalid(
            "expires_in_seconds must be positive and within the grant policy",
        ));
    }
    if max_uses <= 0 || max_uses > policy.max_uses {
        return Err(invalid(
            "max_uses must be positive and within the grant policy",
        ));
    }
    match (body.grant_type, &body.session_id) {
        (GrantType::OneTime, Some(_)) => {
            return Err(invalid("a one_time grant must not carry session_id"))
        }
        (GrantType::OneTime, None) if max_uses != 1 => {
            return Err(invalid("a one_time grant has max_uses 1"))
        }
        (GrantType::SessionBound, None) => {
            return Err(invalid("a session_bound grant needs session_id"))
        }
        _ => {}
    }
    Ok((expires_in, max_uses))
}

/// Phase A of §4.8 (read-side checks of a continuation), given a grant whose signature was
/// already verified.
pub fn check_continuation(
    grant: &ApprovalGrant,
    capability: &str,
    parameters_digest: &str,
    token_scope: &[String],
    token_session: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Failure> {
    let fail = |kind: &str, detail: &str| approval_failure(kind, detail, Action::RequestApproval);
    if grant.expires_at <= now {
        return Err(fail("grant_expired", "the approval grant has expired"));
    }
    if grant.capability != capability {
        return Err(fail(
            "grant_capability_mismatch",
            "the approval grant is for another capability",
        ));
    }
    if !grant.scope.iter().all(|s| token_scope.contains(s)) {
        return Err(fail(
            "grant_scope_mismatch",
            "the token does not hold every scope of the approval grant",
        ));
    }
    if grant.approved_parameters_digest != parameters_digest {
        return Err(fail(
            "grant_param_drift",
            "the parameters differ from the approved parameters",
        ));
    }
    if grant.grant_type == "session_bound" && grant.session_id.as_deref() != token_session {
        return Err(fail(
            "grant_session_invalid",
            "the token's session is not the grant's session",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ApprovalRequest {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        ApprovalRequest {
            approval_request_id: "apr_1".into(),
            capability: "c".into(),
            scope: vec!["s".into()],
            requester: json!({"subject": "agent:a"}),
            parent_invocation_id: None,
            preview: json!({}),
            preview_digest: "sha256:p".into(),
            requested_parameters: json!({}),
            requested_parameters_digest: "sha256:r".into(),
            grant_policy: GrantPolicy {
                allowed_grant_types: vec![GrantType::OneTime, GrantType::SessionBound],
                default_grant_type: GrantType::OneTime,
                expires_in_seconds: 900,
                max_uses: 3,
            },
            status: "pending".into(),
            approver: None,
            decided_at: None,
            created_at: now,
            expires_at: now + time::Duration::hours(1),
        }
    }

    fn body(v: Value) -> IssueRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn issuance_rules_in_order() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let approver = vec!["approver:c".to_owned()];
        let ok = check_issuance(
            &request(),
            &body(json!({"approval_request_id": "apr_1", "grant_type": "one_time"})),
            &approver,
            now,
        );
        assert_eq!(ok.unwrap(), (900, 1));
        let kind = |r: Result<(i64, i64), Failure>| r.unwrap_err().kind.clone();
        let one_time = body(json!({"approval_request_id": "apr_1", "grant_type": "one_time"}));
        assert_eq!(
            kind(check_issuance(
                &request(),
                &one_time,
                &["approver:other".into()],
                now
            )),
            "approver_not_authorized"
        );
        let mut decided = request();
        decided.status = "approved".into();
        assert_eq!(
            kind(check_issuance(&decided, &one_time, &approver, now)),
            "approval_request_already_decided"
        );
        assert_eq!(
            kind(check_issuance(
                &request(),
                &one_time,
                &approver,
                now + time::Duration::hours(2)
            )),
            "approval_request_expired"
        );
        let too_long = body(
            json!({"approval_request_id": "apr_1", "grant_type": "one_time", "expires_in_seconds": 901}),
        );
        assert_eq!(
            kind(check_issuance(&request(), &too_long, &approver, now)),
            "invalid_parameters"
        );
        let session = body(
            json!({"approval_request_id": "apr_1", "grant_type": "session_bound", "session_id": "s"}),
        );
        assert_eq!(
            check_issuance(&request(), &session, &["approver:*".into()], now).unwrap(),
            (900, 3)
        );
    }
}
