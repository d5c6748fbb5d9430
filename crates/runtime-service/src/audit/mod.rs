//! The audit log (SPEC.md §5.4, §6.8–§6.11): entries, classification and retention, the
//! hash chain and entry signatures, the batching writer, Merkle checkpoints and the retention
//! sweep.
//!
//! Architecture Invariant: an entry's `canonical` text (the entry without `signature`,
//! encoded by `signing::gojson` with sorted keys) is what is hashed into the chain, signed, and
//! used as the Merkle leaf; it is stored verbatim, so anyone can recompute all three from what
//! `/anip/audit` returns.

pub mod checkpoint;
pub mod merkle;
pub mod retention;
pub mod writer;

use serde_json::{json, Map, Value};
use signing::gojson::{to_go_json, GoJsonOptions};
use time::OffsetDateTime;

use crate::approval::rfc3339;
use crate::contract::SideEffectType;

pub use writer::{AuditWriter, Recorded};

/// §6.8 event classes.
pub fn classify(
    side_effect: Option<SideEffectType>,
    success: bool,
    failure_type: Option<&str>,
) -> &'static str {
    let Some(side_effect) = side_effect else {
        return "malformed_or_spam";
    };
    if success {
        return match side_effect {
            SideEffectType::Read => "low_risk_success",
            _ => "high_risk_success",
        };
    }
    match failure_type {
        Some(
            "unknown_capability"
            | "streaming_not_supported"
            | "internal_error"
            | "invalid_parameters",
        ) => "malformed_or_spam",
        _ => "high_risk_denial",
    }
}

/// The default class → tier → duration policy (§6.8).
pub fn retention(event_class: &str) -> (&'static str, time::Duration) {
    match event_class {
        "high_risk_success" => ("long", time::Duration::days(365)),
        "high_risk_denial" => ("medium", time::Duration::days(90)),
        "repeated_low_value_denial" => ("aggregate_only", time::Duration::days(1)),
        _ => ("short", time::Duration::days(7)),
    }
}

/// Whether parameters are stripped before storage (§6.10).
fn storage_redacted(event_class: &str) -> bool {
    matches!(
        event_class,
        "low_risk_success" | "malformed_or_spam" | "repeated_low_value_denial"
    )
}

/// What an audit entry records, before the log assigns its sequence number.
#[derive(Clone, Debug, Default)]
pub struct NewEntry {
    pub capability: String,
    pub token_id: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub root_principal: Option<String>,
    pub delegation_chain: Vec<String>,
    pub parameters: Option<Value>,
    pub success: bool,
    pub result_summary: Option<Value>,
    pub failure_type: Option<String>,
    pub cost_actual: Option<Value>,
    pub invocation_id: Option<String>,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub parent_invocation_id: Option<String>,
    pub upstream_service: Option<String>,
    pub stream_summary: Option<Value>,
    pub side_effect: Option<SideEffectType>,
    pub budget_context: Option<Value>,
    pub binding_context: Option<Value>,
    pub approval_request_id: Option<String>,
    pub approval_grant_id: Option<String>,
    /// `None` for invocations; e.g. `approval_request_created`, `approval_grant_issued`.
    pub entry_type: Option<String>,
}

/// An entry ready for the writer: its JSON (without sequence number, previous hash and
/// signature) and the columns it is filtered by.
#[derive(Clone, Debug)]
pub struct PreparedEntry {
    pub fields: Map<String, Value>,
    pub columns: crate::db::audit::Columns,
}

impl NewEntry {
    /// Classifies, applies retention and storage redaction, and stamps the time.
    pub fn prepare(self, now: OffsetDateTime) -> PreparedEntry {
        let event_class = classify(self.side_effect, self.success, self.failure_type.as_deref());
        let (tier, keep) = retention(event_class);
        let expires_at = now + keep;
        let redacted = storage_redacted(event_class);
        let fields = json!({
            "timestamp": rfc3339(now),
            "capability": self.capability,
            "token_id": self.token_id,
            "issuer": self.issuer,
            "subject": self.subject,
            "root_principal": self.root_principal,
            "delegation_chain": self.delegation_chain,
            "parameters": if redacted { Value::Null } else { self.parameters.unwrap_or(Value::Null) },
            "success": self.success,
            "result_summary": self.result_summary,
            "failure_type": self.failure_type,
            "cost_actual": self.cost_actual,
            "invocation_id": self.invocation_id,
            "client_reference_id": self.client_reference_id,
            "task_id": self.task_id,
            "parent_invocation_id": self.parent_invocation_id,
            "upstream_service": self.upstream_service,
            "stream_summary": self.stream_summary,
            "event_class": event_class,
            "retention_tier": tier,
            "expires_at": rfc3339(expires_at),
            "storage_redacted": redacted,
            "entry_type": self.entry_type,
            "budget_context": self.budget_context,
            "binding_context": self.binding_context,
            "approval_request_id": self.approval_request_id,
            "approval_grant_id": self.approval_grant_id,
        });
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let columns = crate::db::audit::Columns {
            recorded_at: Some(now),
            root_principal: self.root_principal,
            capability: Some(self.capability),
            invocation_id: self.invocation_id,
            client_reference_id: self.client_reference_id,
            task_id: self.task_id,
            parent_invocation_id: self.parent_invocation_id,
            event_class: Some(event_class.to_owned()),
            expires_at: Some(expires_at),
        };
        PreparedEntry { fields, columns }
    }
}

/// The canonical text of an entry: sorted keys, Go-compatible encoding, no `signature`.
pub fn canonical(fields: &Map<String, Value>) -> String {
    let mut without = fields.clone();
    without.remove("signature");
    without.remove("id");
    to_go_json(&Value::Object(without), GoJsonOptions::DIGEST)
}

/// An entry as `/anip/audit` returns it: the stored canonical fields plus the signature.
pub fn entry_json(canonical: &str, signature: &str) -> Value {
    match serde_json::from_str::<Value>(canonical) {
        Ok(Value::Object(mut map)) => {
            map.insert("signature".into(), Value::String(signature.to_owned()));
            Value::Object(map)
        }
        _ => json!({"signature": signature, "storage_error": "unreadable entry"}),
    }
}

/// A short summary of a handler result for the audit entry (first five members, scalars kept).
pub fn summarize(result: &Value) -> Value {
    let Value::Object(map) = result else {
        return Value::Null;
    };
    let summary: Map<String, Value> = map
        .iter()
        .take(5)
        .map(|(k, v)| {
            let v = match v {
                Value::Array(items) => json!(format!("[{} items]", items.len())),
                Value::Object(_) => json!("..."),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    Value::Object(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use SideEffectType::*;
        assert_eq!(classify(Some(Read), true, None), "low_risk_success");
        assert_eq!(
            classify(Some(Irreversible), true, None),
            "high_risk_success"
        );
        assert_eq!(
            classify(Some(Read), false, Some("scope_insufficient")),
            "high_risk_denial"
        );
        assert_eq!(
            classify(Some(Write), false, Some("internal_error")),
            "malformed_or_spam"
        );
        assert_eq!(
            classify(None, false, Some("unknown_capability")),
            "malformed_or_spam"
        );
        assert_eq!(retention("high_risk_success").0, "long");
        assert_eq!(retention("low_risk_success").1, time::Duration::days(7));
    }

    #[test]
    fn low_value_entries_are_stored_without_parameters() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let entry = NewEntry {
            capability: "search".into(),
            parameters: Some(json!({"q": 1})),
            success: true,
            side_effect: Some(SideEffectType::Read),
            ..NewEntry::default()
        }
        .prepare(now);
        assert_eq!(entry.fields["parameters"], Value::Null);
        assert_eq!(entry.fields["storage_redacted"], true);
        assert_eq!(entry.fields["retention_tier"], "short");
        let text = canonical(&entry.fields);
        assert!(text.starts_with("{\"approval_grant_id\":null"), "{text}");
        assert_eq!(entry_json(&text, "sig")["signature"], "sig");
    }
}
