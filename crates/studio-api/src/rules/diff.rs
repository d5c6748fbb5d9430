//! Differences between two JSON documents (revision history).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Most changes reported for one pair of documents; beyond that the diff is truncated.
pub const MAX_CHANGES: usize = 500;

/// One difference.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Change {
    /// JSON pointer (RFC 6901) of the changed value.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub kind: String,
    /// The old value (absent for `added`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The new value (absent for `removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Every leaf-level difference from `before` to `after`, in document order, at most
/// [`MAX_CHANGES`]. Objects are compared key by key, arrays index by index; anything else (or
/// a change of type) is one `changed` entry.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), before, after, &mut out);
    out.truncate(MAX_CHANGES);
    out
}

fn walk(path: String, before: &Value, after: &Value, out: &mut Vec<Change>) {
    if out.len() >= MAX_CHANGES || before == after {
        return;
    }
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                let child = format!("{path}/{}", escape(key));
                match b.get(key) {
                    Some(new) => walk(child, old, new, out),
                    None => out.push(Change {
                        path: child,
                        kind: "removed".into(),
                        before: Some(old.clone()),
                        after: None,
                    }),
                }
            }
            for (key, new) in b {
                if !a.contains_key(key) {
                    out.push(Change {
                        path: format!("{path}/{}", escape(key)),
                        kind: "added".into(),
                        before: None,
                        after: Some(new.clone()),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for index in 0..a.len().max(b.len()) {
                let child = format!("{path}/{index}");
                match (a.get(index), b.get(index)) {
                    (Some(old), Some(new)) => walk(child, old, new, out),
                    (Some(old), None) => out.push(Change {
                        path: child,
                        kind: "removed".into(),
                        before: Some(old.clone()),
                        after: None,
                    }),
                    (None, Some(new)) => out.push(Change {
                        path: child,
                        kind: "added".into(),
                        before: None,
                        after: Some(new.clone()),
                    }),
                    (None, None) => {}
                }
            }
        }
        _ => out.push(Change {
            path,
            kind: "changed".into(),
            before: Some(before.clone()),
            after: Some(after.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_leaf_changes_with_pointers() {
        let a = json!({"a": 1, "b": {"c/d": [1, 2]}, "gone": true});
        let b = json!({"a": 2, "b": {"c/d": [1]}, "new": null});
        let changes = diff(&a, &b);
        let summary: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("/a", "changed"),
                ("/b/c~1d/1", "removed"),
                ("/gone", "removed"),
                ("/new", "added")
            ]
        );
        assert!(diff(&a, &a).is_empty());
        assert_eq!(diff(&json!(1), &json!("1"))[0].path, "");
    }
}
