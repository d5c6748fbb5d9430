//! The metadata scan behind the `metadata-hygiene` gate: what a published package or template
//! must never carry. Written independently of the Registry's own publish check, so the gate
//! also catches what was published before that check existed or by a Registry without it.

use serde_json::Value;

/// One finding: where (a JSON path) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub what: &'static str,
}

/// Every local path or secret-looking value in `value`, with `label` as the path's root.
pub fn scan(label: &str, value: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    walk(label, None, value, &mut findings);
    findings
}

fn walk(path: &str, key: Option<&str>, value: &Value, findings: &mut Vec<Finding>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                walk(&format!("{path}.{k}"), Some(k), v, findings);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), key, item, findings);
            }
        }
        Value::String(text) => {
            if let Some(what) = local_path(text) {
                findings.push(Finding {
                    path: path.to_owned(),
                    what,
                });
            }
            if let Some(what) = secret_value(text) {
                findings.push(Finding {
                    path: path.to_owned(),
                    what,
                });
            }
            if key.is_some_and(secret_key) && !text.trim().is_empty() && !reference(text) {
                findings.push(Finding {
                    path: path.to_owned(),
                    what: "a value under a secret's name",
                });
            }
        }
        _ => {}
    }
}

/// Path prefixes that only exist on someone's machine.
const LOCAL_PREFIXES: [(&str, &str); 6] = [
    ("/home/", "a /home/ path"),
    ("/root/", "a /root/ path"),
    ("/Users/", "a /Users/ path"),
    ("/tmp/", "a /tmp/ path"),
    ("file://", "a file:// URL"),
    ("C:\\", "a C:\\ path"),
];

/// A local path at the start of the text or after a separator (space, quote, `=`, `(`, `,`),
/// so `https://example.com/home/` is not one and `cd /home/alice` is.
fn local_path(text: &str) -> Option<&'static str> {
    for (prefix, what) in LOCAL_PREFIXES {
        for (index, _) in text.match_indices(prefix) {
            let boundary = text[..index]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || "\"'`=(,;[{<".contains(c));
            if boundary || prefix == "file://" {
                return Some(what);
            }
        }
    }
    if text.to_ascii_lowercase().contains("c:\\users\\") {
        return Some("a C:\\Users\\ path");
    }
    None
}

/// Well-known credential formats.
fn secret_value(text: &str) -> Option<&'static str> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        return Some("a PEM private key");
    }
    const PREFIXES: [(&str, usize, &str); 12] = [
        ("ghp_", 20, "a GitHub token"),
        ("gho_", 20, "a GitHub token"),
        ("github_pat_", 20, "a GitHub token"),
        ("glpat-", 16, "a GitLab token"),
        ("xoxb-", 10, "a Slack token"),
        ("xoxp-", 10, "a Slack token"),
        ("sk-", 20, "an API secret key"),
        ("sk_live_", 16, "a Stripe secret key"),
        ("AKIA", 16, "an AWS access key id"),
        ("anip_dev_", 16, "an ANIP dev token"),
        ("anip_pub_", 16, "an ANIP publish token"),
        ("eyJ", 60, "a JWT"),
    ];
    for word in text.split(|c: char| c.is_whitespace() || "\"'`=,;()[]{}<>".contains(c)) {
        for (prefix, min_rest, what) in PREFIXES {
            if let Some(rest) = word.strip_prefix(prefix) {
                let token_chars = rest
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
                    .count();
                if token_chars >= min_rest && token_chars == rest.chars().count() {
                    return Some(what);
                }
            }
        }
    }
    None
}

fn secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase().replace('-', "_");
    const NAMES: [&str; 14] = [
        "password",
        "passwd",
        "secret",
        "client_secret",
        "api_key",
        "apikey",
        "private_key",
        "token",
        "access_token",
        "refresh_token",
        "auth_token",
        "bearer_token",
        "publish_token",
        "authorization",
    ];
    NAMES.contains(&key.as_str())
        || ["_password", "_secret", "_api_key", "_private_key", "_token"]
            .iter()
            .any(|suffix| key.ends_with(suffix))
}

/// A reference to a secret rather than the secret: an environment variable name, `${VAR}`,
/// `env:VAR`, or a secret-manager URI.
fn reference(text: &str) -> bool {
    let text = text.trim();
    let env_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    env_name(text)
        || text
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .is_some_and(env_name)
        || text.strip_prefix("env:").is_some_and(env_name)
        || [
            "vault:",
            "secret://",
            "secretsmanager:",
            "gcp-secret:",
            "k8s-secret:",
        ]
        .iter()
        .any(|p| text.starts_with(p))
        || text.contains("<redacted>")
        || text.chars().all(|c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn whats(value: Value) -> Vec<&'static str> {
        scan("package", &value)
            .into_iter()
            .map(|f| f.what)
            .collect()
    }

    #[test]
    fn local_paths_are_found_where_they_start_a_path() {
        assert_eq!(
            whats(json!({"readme": "built in /home/alice/src"})),
            ["a /home/ path"]
        );
        assert_eq!(whats(json!({"a": ["/tmp/x"]})), ["a /tmp/ path"]);
        assert_eq!(
            whats(json!({"a": "see file:///etc/hosts"})),
            ["a file:// URL"]
        );
        assert_eq!(whats(json!({"a": "C:\\Users\\bob\\x"})), ["a C:\\ path"]);
        assert_eq!(whats(json!({"a": "/Users/bob"})), ["a /Users/ path"]);
        assert!(
            whats(json!({"a": "https://example.com/home/docs", "b": "/api/root/x"})).is_empty()
        );
    }

    #[test]
    fn secrets_by_format_and_by_name() {
        assert_eq!(
            whats(json!({"note": "key ghp_0123456789abcdefghij0123"})),
            ["a GitHub token"]
        );
        assert_eq!(
            whats(json!({"k": "-----BEGIN PRIVATE KEY-----\nabc"})),
            ["a PEM private key"]
        );
        assert_eq!(
            whats(json!({"db": {"password": "hunter2"}})),
            ["a value under a secret's name"]
        );
        assert_eq!(
            whats(json!({"publish_token": "anip_dev_publish_0123456789abcdef"})),
            ["an ANIP dev token", "a value under a secret's name"]
        );
        // References, empty values and ordinary words are fine.
        assert!(whats(json!({
            "password": "", "api_key": "FLIGHT_BACKEND_API_KEY", "token": "${TOKEN}",
            "client_secret": "vault:kv/app#secret", "secret": "env:APP_SECRET",
            "summary": "ask for a token", "sketch": "sk-short", "tokens": "/anip/tokens",
            "delegation_token_required": true
        }))
        .is_empty());
    }
}
