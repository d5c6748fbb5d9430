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
pub mod sinks;
pub mod writer;

use serde_json::{json, Map, Value};
use signing::gojson::{push_go_json, push_go_string, to_go_json, GoJsonOptions};
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

/// An entry ready for the writer: its members (without sequence number, previous hash and
/// signature), sorted by key as the canonical text orders them, and the columns it is filtered
/// by.
#[derive(Clone, Debug)]
pub struct PreparedEntry {
    pub members: Vec<(&'static str, Value)>,
    pub columns: crate::db::audit::Columns,
}

impl PreparedEntry {
    /// The members as a JSON object.
    pub fn fields(&self) -> Map<String, Value> {
        self.members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// The canonical text around the two members the writer fills in.
    pub fn template(&self) -> CanonicalTemplate {
        CanonicalTemplate::from_sorted(self.members.iter().map(|(k, v)| (*k, v)))
    }
}

fn text(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::String)
}

/// U+0000 replaced by U+FFFD: Postgres stores NUL neither in text nor in jsonb, so an entry
/// carrying one could not be appended. Requests with a NUL are refused at the edge; this keeps
/// anything else (a backend's answer, a future field) from making an entry unrecordable.
fn without_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

fn value_without_nul(value: &mut Value) {
    match value {
        Value::String(text) => without_nul(text),
        Value::Array(items) => items.iter_mut().for_each(value_without_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                *map = entries
                    .into_iter()
                    .map(|(mut k, v)| {
                        without_nul(&mut k);
                        (k, v)
                    })
                    .collect();
            }
            map.values_mut().for_each(value_without_nul);
        }
        _ => {}
    }
}

impl NewEntry {
    /// Every text of the entry without NUL (see [`without_nul`]).
    fn scrub_nul(&mut self) {
        without_nul(&mut self.capability);
        self.delegation_chain.iter_mut().for_each(without_nul);
        for text in [
            &mut self.token_id,
            &mut self.issuer,
            &mut self.subject,
            &mut self.root_principal,
            &mut self.failure_type,
            &mut self.invocation_id,
            &mut self.client_reference_id,
            &mut self.task_id,
            &mut self.parent_invocation_id,
            &mut self.upstream_service,
            &mut self.approval_request_id,
            &mut self.approval_grant_id,
            &mut self.entry_type,
        ]
        .into_iter()
        .flatten()
        {
            without_nul(text);
        }
        for value in [
            &mut self.parameters,
            &mut self.result_summary,
            &mut self.cost_actual,
            &mut self.stream_summary,
            &mut self.budget_context,
            &mut self.binding_context,
        ]
        .into_iter()
        .flatten()
        {
            value_without_nul(value);
        }
    }

    /// Classifies, applies retention and storage redaction, and stamps the time.
    pub fn prepare(mut self, now: OffsetDateTime) -> PreparedEntry {
        self.scrub_nul();
        let event_class = classify(self.side_effect, self.success, self.failure_type.as_deref());
        let (tier, keep) = retention(event_class);
        let expires_at = now + keep;
        let redacted = storage_redacted(event_class);
        let parameters = if redacted {
            Value::Null
        } else {
            self.parameters.unwrap_or(Value::Null)
        };
        let or_null = |value: Option<Value>| value.unwrap_or(Value::Null);
        // Sorted by key (a test checks it): the order of the canonical text.
        let members = vec![
            ("approval_grant_id", text(&self.approval_grant_id)),
            ("approval_request_id", text(&self.approval_request_id)),
            ("binding_context", or_null(self.binding_context)),
            ("budget_context", or_null(self.budget_context)),
            ("capability", Value::String(self.capability.clone())),
            ("client_reference_id", text(&self.client_reference_id)),
            ("cost_actual", or_null(self.cost_actual)),
            (
                "delegation_chain",
                Value::Array(
                    self.delegation_chain
                        .into_iter()
                        .map(Value::String)
                        .collect(),
                ),
            ),
            ("entry_type", text(&self.entry_type)),
            ("event_class", Value::String(event_class.to_owned())),
            ("expires_at", Value::String(rfc3339(expires_at))),
            ("failure_type", text(&self.failure_type)),
            ("invocation_id", text(&self.invocation_id)),
            ("issuer", text(&self.issuer)),
            ("parameters", parameters),
            ("parent_invocation_id", text(&self.parent_invocation_id)),
            ("result_summary", or_null(self.result_summary)),
            ("retention_tier", Value::String(tier.to_owned())),
            ("root_principal", text(&self.root_principal)),
            ("storage_redacted", Value::Bool(redacted)),
            ("stream_summary", or_null(self.stream_summary)),
            ("subject", text(&self.subject)),
            ("success", Value::Bool(self.success)),
            ("task_id", text(&self.task_id)),
            ("timestamp", Value::String(rfc3339(now))),
            ("token_id", text(&self.token_id)),
            ("upstream_service", text(&self.upstream_service)),
        ];
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
        PreparedEntry { members, columns }
    }
}

/// The canonical text of an entry with the two members only the writer knows (the sequence
/// number and the previous hash) left open, rendered before the entry reaches the writer, so
/// that the writer (one per replica, serial) only fills them in.
#[derive(Clone, Debug)]
pub struct CanonicalTemplate {
    /// Up to and including `"previous_hash":`.
    head: String,
    /// From after the previous hash up to and including `"sequence_number":`.
    middle: String,
    /// The rest.
    tail: String,
}

impl CanonicalTemplate {
    /// The template of `fields` (any `sequence_number`, `previous_hash`, `signature` or `id`
    /// is left out, as in [`canonical`]).
    pub fn new(fields: &Map<String, Value>) -> CanonicalTemplate {
        let mut members: Vec<(&str, &Value)> =
            fields.iter().map(|(k, v)| (k.as_str(), v)).collect();
        // Go writes object keys sorted by their bytes, as `to_go_json` does.
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        CanonicalTemplate::from_sorted(members)
    }

    /// The template of members given sorted by key.
    pub fn from_sorted<'a>(
        members: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> CanonicalTemplate {
        const PREVIOUS: &str = "previous_hash";
        const SEQUENCE: &str = "sequence_number";
        let mut parts = Vec::with_capacity(3);
        let mut out = String::with_capacity(1024);
        out.push('{');
        let mut first = true;
        let mut key = |out: &mut String, key: &str| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            push_go_string(out, key, GoJsonOptions::DIGEST);
            out.push(':');
        };
        let mut open = [PREVIOUS, SEQUENCE].into_iter().peekable();
        for (name, value) in members {
            if matches!(name, "signature" | "id" | PREVIOUS | SEQUENCE) {
                continue;
            }
            while let Some(placeholder) = open.next_if(|p| *p < name) {
                key(&mut out, placeholder);
                parts.push(std::mem::take(&mut out));
            }
            key(&mut out, name);
            push_go_json(&mut out, value, GoJsonOptions::DIGEST);
        }
        for placeholder in open {
            key(&mut out, placeholder);
            parts.push(std::mem::take(&mut out));
        }
        out.push('}');
        let mut parts = parts.into_iter();
        CanonicalTemplate {
            head: parts.next().unwrap_or_default(),
            middle: parts.next().unwrap_or_default(),
            tail: out,
        }
    }

    /// The canonical text with the sequence number and previous hash filled in.
    pub fn fill(&self, sequence_number: i64, previous_hash: &str) -> String {
        // 24: the hash's two quotes, and the sequence number's at most 20 digits and sign.
        let mut text = String::with_capacity(
            self.head.len() + previous_hash.len() + self.middle.len() + self.tail.len() + 24,
        );
        text.push_str(&self.head);
        push_go_string(&mut text, previous_hash, GoJsonOptions::DIGEST);
        text.push_str(&self.middle);
        push_go_json(
            &mut text,
            &Value::from(sequence_number),
            GoJsonOptions::DIGEST,
        );
        text.push_str(&self.tail);
        text
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

/// How many members of a result its audit summary keeps.
pub const SUMMARY_MEMBERS: usize = 5;

/// A short summary of a handler result for the audit entry: its first [`SUMMARY_MEMBERS`]
/// members, scalars kept, arrays and objects reduced to a marker.
pub fn summarize(result: &Value) -> Value {
    let Value::Object(map) = result else {
        return Value::Null;
    };
    let summary: Map<String, Value> = map
        .iter()
        .take(SUMMARY_MEMBERS)
        .map(|(k, v)| {
            let v = match v {
                Value::Array(items) => summarize_array(items.len()),
                Value::Object(_) => summarize_object(),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    Value::Object(summary)
}

/// What a summary records of an array member of `items` items.
pub fn summarize_array(items: usize) -> Value {
    Value::String(format!("[{items} items]"))
}

/// What a summary records of an object member.
pub fn summarize_object() -> Value {
    Value::String("...".to_owned())
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
    fn the_template_fills_in_to_the_canonical_text() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        for parameters in [
            json!({"previous_hash": "", "sequence_number": 0, "q": "<&>\u{2028}"}),
            json!({"z": [1.5, 1e21, null], "a": {"previous_hash": "x"}}),
        ] {
            let entry = NewEntry {
                capability: "book".into(),
                parameters: Some(parameters),
                success: true,
                side_effect: Some(SideEffectType::Irreversible),
                result_summary: Some(json!({"sequence_number": 9, "previous_hash": "y"})),
                ..NewEntry::default()
            }
            .prepare(now);
            let template = entry.template();
            assert!(
                entry.members.windows(2).all(|w| w[0].0 < w[1].0),
                "members sorted"
            );
            for (sequence, previous) in [(1, "sha256:0"), (9_007_199_254_740_993, "sha256:ab")] {
                assert_eq!(
                    CanonicalTemplate::new(&entry.fields()).fill(sequence, previous),
                    template.fill(sequence, previous)
                );
                let mut fields = entry.fields();
                fields.insert("sequence_number".into(), json!(sequence));
                fields.insert("previous_hash".into(), json!(previous));
                assert_eq!(template.fill(sequence, previous), canonical(&fields));
            }
        }
    }

    #[test]
    fn no_text_of_a_prepared_entry_carries_nul() {
        let entry = NewEntry {
            capability: "a\0b".into(),
            client_reference_id: Some("evade\0".into()),
            parameters: Some(json!({"k\0": ["v\0", {"x": "\0"}]})),
            result_summary: Some(json!({"detail": "d\0"})),
            side_effect: Some(SideEffectType::Write),
            success: true,
            ..NewEntry::default()
        };
        let prepared = entry.prepare(OffsetDateTime::UNIX_EPOCH);
        let text = serde_json::to_string(&prepared.fields()).unwrap();
        assert!(!text.contains("\\u0000"), "{text}");
        assert_eq!(
            prepared.columns.client_reference_id.as_deref(),
            Some("evade\u{FFFD}")
        );
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
        let fields = entry.fields();
        assert_eq!(fields["parameters"], Value::Null);
        assert_eq!(fields["storage_redacted"], true);
        assert_eq!(fields["retention_tier"], "short");
        let text = canonical(&fields);
        assert!(text.starts_with("{\"approval_grant_id\":null"), "{text}");
        assert_eq!(entry_json(&text, "sig")["signature"], "sig");
    }
}
