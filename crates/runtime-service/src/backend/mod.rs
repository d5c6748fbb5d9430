//! Where the work happens: the HTTP backend a capability is bound to. Every backend problem
//! becomes an ANIP failure with a type, a detail that does not leak the backend's internals, a
//! canonical resolution and a retry flag; nothing here can produce a bare 500.

pub mod client;
pub mod http;
pub mod mapping;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What a successful backend call produced.
#[derive(Clone, Debug)]
pub struct BackendResult {
    /// The capability result (always a JSON object).
    pub result: Payload,
    /// `cost_actual` when the binding maps one.
    pub cost_actual: Option<Value>,
}

/// Invocation facts a binding may pass to its backend (`$.context.*`).
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    pub invocation_id: String,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub root_principal: String,
    pub subject: String,
    pub capability: String,
}

impl CallContext {
    /// The `$.context` object.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "invocation_id": self.invocation_id,
            "client_reference_id": self.client_reference_id,
            "task_id": self.task_id,
            "root_principal": self.root_principal,
            "subject": self.subject,
            "capability": self.capability,
            "idempotency_key": self.idempotency_key(),
        })
    }

    /// The key a write is made idempotent with: the caller's `client_reference_id` when given
    /// (stable across the caller's retries), else the invocation id.
    pub fn idempotency_key(&self) -> String {
        match &self.client_reference_id {
            Some(reference) => format!("{}:{}:{reference}", self.root_principal, self.capability),
            None => self.invocation_id.clone(),
        }
    }
}

/// A capability result, a JSON object: a tree, or, when a backend's answer is the result whole,
/// the backend's own text, checked as strictly as building the tree would check it but never
/// built into one. Building the tree of a 1 KB answer cost about 7% of the runtime's CPU per
/// invocation (perf, `cargo xtask bench runtime`), and the common case only copies the answer
/// into the response and records a summary of its first members in the audit entry.
#[derive(Clone, Debug)]
pub enum Payload {
    Tree(Value),
    Verbatim {
        text: Box<RawValue>,
        /// `audit::summarize` of the tree the text stands for.
        summary: Value,
    },
}

impl Payload {
    /// `text` when it is one JSON object that a tree would accept (whitespace around it
    /// allowed); `None` otherwise.
    pub fn verbatim(text: &[u8]) -> Option<Payload> {
        let text: Box<RawValue> = serde_json::from_slice(text).ok()?;
        if !text.get().starts_with('{') {
            return None;
        }
        let members = serde_json::Deserializer::from_str(text.get())
            .deserialize_map(Summarized)
            .ok()?;
        let summary = members
            .into_iter()
            .take(crate::audit::SUMMARY_MEMBERS)
            .collect();
        Some(Payload::Verbatim {
            text,
            summary: Value::Object(summary),
        })
    }

    /// The result as a tree (parsing a verbatim answer).
    pub fn into_value(self) -> Value {
        match self {
            Payload::Tree(value) => value,
            Payload::Verbatim { text, .. } => {
                serde_json::from_str(text.get()).unwrap_or(Value::Null)
            }
        }
    }

    /// What the audit entry records of the result (`audit::summarize`).
    pub fn summary(&self) -> Value {
        match self {
            Payload::Tree(value) => crate::audit::summarize(value),
            Payload::Verbatim { summary, .. } => summary.clone(),
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.clone().into_value() == other.clone().into_value()
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Tree(value) => value.serialize(serializer),
            Payload::Verbatim { text, .. } => text.serialize(serializer),
        }
    }
}

/// An object's members, each as `audit::summarize` records it, in the order a tree holds them
/// (a repeated name keeps its first place and its last value). Everything below the members is
/// checked (strings decoded, numbers in range) and dropped.
struct Summarized;

impl<'de> Visitor<'de> for Summarized {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let Member(value) = access.next_value()?;
            members.insert(name, value);
        }
        Ok(members)
    }
}

/// One member's value as `audit::summarize` records it.
struct Member(Value);

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor).map(Member)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = 0;
        while access.next_element::<Checked>()?.is_some() {
            items += 1;
        }
        Ok(crate::audit::summarize_array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        while access.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(crate::audit::summarize_object())
    }
}

/// Any JSON value, checked as a tree would check it, and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(CheckedVisitor)
            .map(|()| Checked)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        while access.next_element::<Checked>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        while access.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWERS: &[&str] = &[
        r#"{"flights":[{"flight_number":"AA100","price":420.0,"quote":{"id":"qt-1"}}],"count":1}"#,
        r#" {"a":1,"b":-2,"c":1.5e3,"d":"x\u00e9\n","e":true,"f":null,"g":{},"h":[]} "#,
        r#"{"dup":1,"other":[1,[2,3],{"x":[]}],"dup":{"nested":true}}"#,
        r#"{"1":1,"2":2,"3":3,"4":4,"5":5,"6":[6],"7":{"7":7}}"#,
        r#"{"big":18446744073709551615,"neg":-9223372036854775808,"pair":"\ud83d\ude00"}"#,
        "{}",
    ];

    #[test]
    fn a_verbatim_answer_is_sent_as_is_and_summarized_as_its_tree() {
        for answer in ANSWERS {
            let tree: Value = serde_json::from_str(answer).unwrap();
            let payload = Payload::verbatim(answer.as_bytes()).expect(answer);
            assert_eq!(
                payload.summary(),
                crate::audit::summarize(&tree),
                "{answer}"
            );
            assert_eq!(
                serde_json::to_string(&payload).unwrap(),
                answer.trim(),
                "sent byte for byte"
            );
            assert_eq!(payload.clone().into_value(), tree);
            assert_eq!(payload, Payload::Tree(tree));
        }
    }

    #[test]
    fn only_what_a_tree_accepts_as_an_object_passes_verbatim() {
        for answer in [
            "[1,2]",
            "\"text\"",
            "null",
            "12",
            "",
            "{",
            "{\"a\":1}{}",
            "{\"a\":1,}",
            // A tree refuses these: a lone surrogate, at the top and deep down, and a number out
            // of range; a scan that only skips values would let them through.
            r#"{"a":"\ud800"}"#,
            r#"{"a":[{"b":"x\udc00"}]}"#,
            r#"{"a":{"b":[1e400]}}"#,
            r#"{"\ud800":1}"#,
        ] {
            assert!(
                Payload::verbatim(answer.as_bytes()).is_none(),
                "{answer} passed"
            );
            let tree = serde_json::from_str::<Value>(answer);
            assert!(tree.map_or(true, |v| !v.is_object()), "{answer}");
        }
        assert!(
            Payload::verbatim(b"{\"a\":\"\xff\"}").is_none(),
            "not UTF-8"
        );
    }
}
