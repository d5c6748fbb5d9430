//! Studio's business rules as plain functions over records: no database, no HTTP. The service
//! layer loads what a rule needs, calls it, and stores what it returns; tests call them
//! directly.

pub mod baseline;
pub mod contract;
pub mod definition;
pub mod diff;
pub mod guard;
pub mod local_publication;
pub mod package;
pub mod product;
pub mod shape;
pub mod staleness;
pub mod template;

use serde_json::{Map, Value};

/// The trimmed text of a JSON string (anything else is empty), as upstream's `str(x or "")`.
pub(crate) fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A member's trimmed text.
pub(crate) fn field(value: &Value, key: &str) -> String {
    text(value.get(key))
}

/// A member as an object (empty when absent or not an object).
pub(crate) fn object<'a>(value: &'a Value, key: &str) -> &'a Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    value
        .get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// A member as an array (empty when absent or not an array).
pub(crate) fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The first non-empty object among candidates.
pub(crate) fn first_object<'a>(
    candidates: impl IntoIterator<Item = Option<&'a Value>>,
) -> Option<&'a Value> {
    candidates
        .into_iter()
        .flatten()
        .find(|v| v.as_object().is_some_and(|m| !m.is_empty()))
}
