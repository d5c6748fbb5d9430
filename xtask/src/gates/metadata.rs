//! The metadata scan behind the `metadata-hygiene` gate: what a published package or template
//! must never carry. The rules are `registry_client::hygiene`'s, the same set the Registry
//! applies at publish and Studio at local publication; the gate runs them over what a Registry
//! actually serves, so it also catches what was published before that check existed or by a
//! Registry without it.

pub use registry_client::hygiene::{scan, Finding};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn whats(value: Value) -> Vec<&'static str> {
        scan("package", &value)
            .into_iter()
            .map(|f| f.what)
            .collect()
    }

    /// The gate's line for one finding (`<path> holds <what>`), as `registry.rs` prints it.
    fn line(finding: &Finding) -> String {
        format!("{} holds {}", finding.path, finding.what)
    }

    #[test]
    fn local_paths_are_found_where_they_start_a_path() {
        assert_eq!(
            whats(json!({"readme": "built in /home/alice/src"})),
            ["a /home/ path"]
        );
        assert_eq!(
            whats(json!({"a": "see file:///etc/hosts"})),
            ["a file: URL"]
        );
        assert_eq!(
            whats(json!({"a": "C:\\Users\\bob\\x"})),
            ["a C:\\Users\\ path"]
        );
        assert_eq!(whats(json!({"a": "/Users/bob"})), ["a /Users/ path"]);
        assert_eq!(whats(json!({"a": ["x", "(~/x)"]})), ["a ~/ path"]);
        // System paths and paths inside URLs are not someone's machine.
        assert!(whats(json!({
            "a": "https://example.com/home/docs", "b": "/api/root/x",
            "c": ["/tmp/x", "/usr/local/bin", "/etc/hosts"]
        }))
        .is_empty());
    }

    #[test]
    fn secrets_by_format_and_by_name() {
        assert_eq!(
            whats(json!({"note": "key ghp_0123456789abcdefghij0123"})),
            ["a GitHub token"]
        );
        assert_eq!(
            whats(json!({"k": "-----BEGIN PRIVATE KEY-----\nabc"})),
            ["a private key"]
        );
        assert_eq!(
            whats(json!({"db": {"password": "hunter2"}})),
            ["a value under a secret's name"]
        );
        assert_eq!(
            whats(json!({"publish_token": "anip_dev_publish_0123456789abcdef"})),
            ["an ANIP dev token", "a value under a secret's name"]
        );
        assert_eq!(
            whats(json!({"url": "postgres://u:hunter2@db/x"})),
            ["a URL with a password"]
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

    #[test]
    fn the_gate_line_names_the_path_and_never_the_value() {
        let findings = scan(
            "acme/tools@1.0.0",
            &json!({"manifest": {"database_url": "postgres://u:hunter2@db/x"}}),
        );
        let lines: Vec<String> = findings.iter().map(line).collect();
        assert_eq!(
            lines,
            ["acme/tools@1.0.0.manifest.database_url holds a URL with a password"]
        );
    }
}
