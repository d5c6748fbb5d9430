//! Keeping secrets out of error messages: URLs lose their userinfo and query before any error
//! names them, and text a Registry sent back loses the bearer token the client used.

use serde_json::Value;

/// What replaces a secret in text shown to a user.
pub const REDACTED: &str = "[redacted]";

/// A URL as it may appear in an error or a log: userinfo (`user:password@`) becomes `***@`, and
/// the query and fragment are dropped. Works on any text, URL or not, so that even a string
/// that failed to parse is never echoed with its credentials.
///
/// Over-redacting is preferred to leaking: everything up to the last `@` after the scheme is
/// treated as userinfo, which also covers a password containing an unencoded `/`.
///
/// ```
/// assert_eq!(
///     registry_client::redact_url("http://user:pw@h:8200/x?token=t#f"),
///     "http://***@h:8200/x"
/// );
/// assert_eq!(registry_client::redact_url("http://h:8200/x"), "http://h:8200/x");
/// ```
pub fn redact_url(text: &str) -> String {
    let text = text.trim();
    let end = text.find(['?', '#']).unwrap_or(text.len());
    let text = &text[..end];
    let start = text.find("://").map_or(0, |at| at + 3);
    match text[start..].rfind('@') {
        Some(at) => format!("{}***{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}

/// `text` with every occurrence of `secret` replaced by [`REDACTED`]. A blank secret redacts
/// nothing.
pub(crate) fn redact_secret(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.trim().is_empty() => text.replace(secret, REDACTED),
        _ => text.to_owned(),
    }
}

/// [`redact_secret`] over every string (and object key) of a JSON value.
pub(crate) fn redact_secret_in_value(value: &mut Value, secret: Option<&str>) {
    let Some(secret) = secret.filter(|secret| !secret.trim().is_empty()) else {
        return;
    };
    match value {
        Value::String(text) => {
            if text.contains(secret) {
                *text = text.replace(secret, REDACTED);
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_secret_in_value(item, Some(secret));
            }
        }
        Value::Object(map) => {
            if map.keys().any(|key| key.contains(secret)) {
                let entries = std::mem::take(map);
                for (key, item) in entries {
                    map.insert(key.replace(secret, REDACTED), item);
                }
            }
            for item in map.values_mut() {
                redact_secret_in_value(item, Some(secret));
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// [`redact_secret_in_value`] as a function: the CLI uses it before printing what a Registry
/// answered to a request that carried `secret`.
pub fn redact_secret_in_json(mut value: Value, secret: &str) -> Value {
    redact_secret_in_value(&mut value, Some(secret));
    value
}

/// [`redact_secret`] for callers outside this crate: `text` with every occurrence of `secret`
/// replaced by [`REDACTED`].
pub fn redact_secret_in_text(text: &str, secret: &str) -> String {
    redact_secret(text, Some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        for (given, expected) in [
            ("http://h:8200", "http://h:8200"),
            (
                "http://user:s3cretPW@127.0.0.1:18731",
                "http://***@127.0.0.1:18731",
            ),
            ("http://user@h/p", "http://***@h/p"),
            ("http://h/p?token=abc", "http://h/p"),
            ("http://h/p#token=abc", "http://h/p"),
            ("http://u:p/w@h/x", "http://***@h/x"),
            ("u:pw@h", "***@h"),
            (" http://u:p@h ", "http://***@h"),
            ("", ""),
        ] {
            assert_eq!(redact_url(given), expected, "{given}");
        }
    }

    #[test]
    fn secrets_are_replaced_everywhere() {
        assert_eq!(
            redact_secret("bad token Bearer tok-1 (tok-1)", Some("tok-1")),
            "bad token Bearer [redacted] ([redacted])"
        );
        assert_eq!(redact_secret("a b", Some(" ")), "a b");
        assert_eq!(redact_secret("a", None), "a");
        let value = redact_secret_in_json(
            json!({"error": "x tok", "tok": ["tok", 1, {"k": "tok"}]}),
            "tok",
        );
        assert_eq!(
            value,
            json!({"error": "x [redacted]", "[redacted]": ["[redacted]", 1, {"k": "[redacted]"}]})
        );
    }
}
