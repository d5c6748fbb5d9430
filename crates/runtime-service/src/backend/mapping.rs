//! Reference resolution for bindings and compositions: `$` (the whole input), `$.input.a.b`,
//! `$.context.x`, and paths into a backend response. Anything that is not a reference is a
//! literal.

use serde_json::{Map, Value};

/// Follows `a.b.c` through objects (and numeric segments through arrays).
pub fn follow<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(root);
    }
    path.split('.')
        .try_fold(root, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// Resolves one mapping value against the invocation input and context. `None` means "absent"
/// (the member is left out).
pub fn resolve(template: &Value, input: &Value, context: &Value) -> Option<Value> {
    match template {
        Value::String(text) if text == "$" || text == "$.input" => Some(input.clone()),
        Value::String(text) if text.starts_with("$.input.") => {
            follow(input, &text["$.input.".len()..])
                .filter(|v| !v.is_null())
                .cloned()
        }
        Value::String(text) if text.starts_with("$.context.") => {
            follow(context, &text["$.context.".len()..])
                .filter(|v| !v.is_null())
                .cloned()
        }
        Value::Object(map) => {
            let resolved: Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| resolve(v, input, context).map(|v| (k.clone(), v)))
                .collect();
            Some(Value::Object(resolved))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|v| resolve(v, input, context))
                .collect(),
        )),
        literal => Some(literal.clone()),
    }
}

/// A path into a backend response: `$` or `$.a.b`.
pub fn response_path<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    match path {
        "$" => Some(body),
        _ => path.strip_prefix("$.").and_then(|rest| follow(body, rest)),
    }
}

/// A scalar as text for a path segment, query value or header.
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_and_literals() {
        let input = json!({"quote": {"id": "qt-1", "price": 420}, "n": 2, "none": null});
        let context = json!({"invocation_id": "inv-1"});
        let template = json!({"id": "$.input.quote.id", "n": "$.input.n", "gone": "$.input.none", "missing": "$.input.x",
                              "inv": "$.context.invocation_id", "lit": "fixed", "num": 3});
        assert_eq!(
            resolve(&template, &input, &context).unwrap(),
            json!({"id": "qt-1", "n": 2, "inv": "inv-1", "lit": "fixed", "num": 3})
        );
        assert_eq!(resolve(&json!("$"), &input, &context).unwrap(), input);
        assert_eq!(
            response_path(&json!({"a": [{"b": 1}]}), "$.a.0.b"),
            Some(&json!(1))
        );
        assert_eq!(as_text(&json!(2.5)).as_deref(), Some("2.5"));
    }
}
