//! Publication metadata hygiene: the one rule set for what published package metadata must
//! never carry, shared by the Registry's publish check, Studio's local publications and the
//! release gate (`cargo xtask`'s `metadata-hygiene`).
//!
//! A scan walks a JSON value and returns a [`Finding`] for every
//!
//! * **local filesystem path**: a home directory (`/home/<name>`, `/Users/<name>`, `/root/`,
//!   `~/`), a Windows drive or network path (`C:\Users\...`, `D:/x`, `\\server\share`) or a
//!   `file:` URL, found wherever a path starts in the text (the start, or after whitespace, a
//!   quote, a backtick, `(`, `=`, `:` and similar separators). Ordinary system paths
//!   (`/usr/local/bin`, `/etc/hosts`, `/tmp`) are not findings: documentation mentions them;
//! * **private key**: a PEM `-----BEGIN ... PRIVATE KEY` block;
//! * **token with a known prefix**: GitHub, GitLab, Slack, Stripe, AWS, ANIP tokens, JWTs;
//! * **URL with a password**: `scheme://user:password@host`, anywhere in the text;
//! * **secret-named value**: a value under a key that names a secret (`password`, `api_key`,
//!   `client_secret`, `*_token`, ...) that is not a reference to one.
//!
//! References and placeholders are not secrets: empty values, environment-variable names
//! (`GITHUB_TOKEN`), `${VAR}`, `$VAR`, `{{var}}`, `<var>`, `env:VAR`, secret-manager URIs
//! (`vault:`, `secret://`, ...), `<redacted>` and masks (`***`).
//!
//! A [`Finding`] never holds the value it found, so its message is safe to return and log.

use std::fmt;

use serde_json::{Map, Value};

/// What kind of thing a [`Finding`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// A path on someone's machine (a home directory, a Windows path, a `file:` URL).
    LocalPath,
    /// A PEM private key.
    PrivateKey,
    /// A token in a well-known credential format (a known prefix).
    Token,
    /// A URL whose userinfo carries a password.
    UrlWithPassword,
    /// A real-looking value under a key that names a secret.
    SecretNamedValue,
}

/// One finding: where (a JSON path such as `manifest.database_url` or `notes[2]`) and what.
/// It never holds the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The JSON path of the offending string, rooted at the scan's label.
    pub path: String,
    /// The kind of finding.
    pub kind: FindingKind,
    /// What was found, as a noun phrase (`a /home/ path`, `a GitHub token`).
    pub what: &'static str,
}

impl Finding {
    /// What is wrong, as a sentence continues after the path (`contains a local filesystem
    /// path (a /home/ path)`). Never includes the value.
    pub fn problem(&self) -> String {
        match self.kind {
            FindingKind::LocalPath => format!("contains a local filesystem path ({})", self.what),
            FindingKind::PrivateKey | FindingKind::Token => {
                format!("contains what looks like {}", self.what)
            }
            FindingKind::UrlWithPassword => format!(
                "contains what looks like {} (scheme://user:password@host); publish a placeholder such as ${{DB_PASSWORD}} instead",
                self.what
            ),
            FindingKind::SecretNamedValue => {
                "looks like a secret; publish a reference, not the value".to_owned()
            }
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.problem())
    }
}

/// Every finding in `value`, with `label` as the root of each path (`label.key[0]`). A string
/// at the root is looked at as text only (it has no key).
pub fn scan(label: &str, value: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut path = label.to_owned();
    walk(&mut path, None, value, &mut |finding| {
        findings.push(finding);
        true
    });
    findings
}

/// Every finding in the members of `map`, each path starting `label.`.
pub fn scan_object(label: &str, map: &Map<String, Value>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut path = label.to_owned();
    walk_object(&mut path, map, &mut |finding| {
        findings.push(finding);
        true
    });
    findings
}

/// The first finding in `value`, in the order [`scan`] reports them; stops there.
pub fn first_finding(label: &str, value: &Value) -> Option<Finding> {
    let mut first = None;
    let mut path = label.to_owned();
    walk(&mut path, None, value, &mut |finding| {
        first = Some(finding);
        false
    });
    first
}

/// The first finding in the members of `map`, each path starting `label.`; stops there.
pub fn first_finding_in_object(label: &str, map: &Map<String, Value>) -> Option<Finding> {
    let mut first = None;
    let mut path = label.to_owned();
    walk_object(&mut path, map, &mut |finding| {
        first = Some(finding);
        false
    });
    first
}

/// The findings in one free-text value (a readme) at `path`: local paths, private keys,
/// tokens and URLs with passwords (there is no key to judge).
pub fn scan_text(path: &str, text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    text_findings(path, None, text, &mut |finding| {
        findings.push(finding);
        true
    });
    findings
}

/// Calls `report` with each finding; stops (returning `false`) when it returns `false`.
fn walk(
    path: &mut String,
    key: Option<&str>,
    value: &Value,
    report: &mut dyn FnMut(Finding) -> bool,
) -> bool {
    match value {
        Value::Object(map) => walk_object(path, map, report),
        Value::Array(items) => {
            let len = path.len();
            for (index, item) in items.iter().enumerate() {
                path.push_str(&format!("[{index}]"));
                // Items of an array under a secret's name are judged by that name.
                let go_on = walk(path, key, item, report);
                path.truncate(len);
                if !go_on {
                    return false;
                }
            }
            true
        }
        Value::String(text) => text_findings(path, key, text, report),
        _ => true,
    }
}

fn walk_object(
    path: &mut String,
    map: &Map<String, Value>,
    report: &mut dyn FnMut(Finding) -> bool,
) -> bool {
    let len = path.len();
    for (key, item) in map {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        let go_on = walk(path, Some(key), item, report);
        path.truncate(len);
        if !go_on {
            return false;
        }
    }
    true
}

fn text_findings(
    path: &str,
    key: Option<&str>,
    text: &str,
    report: &mut dyn FnMut(Finding) -> bool,
) -> bool {
    let finding = |kind, what| Finding {
        path: path.to_owned(),
        kind,
        what,
    };
    if let Some(what) = local_path(text) {
        if !report(finding(FindingKind::LocalPath, what)) {
            return false;
        }
    }
    if let Some((kind, what)) = secret_in_text(text) {
        if !report(finding(kind, what)) {
            return false;
        }
    }
    if key.is_some_and(is_secret_key) && !is_reference_value(text) {
        return report(finding(
            FindingKind::SecretNamedValue,
            "a value under a secret's name",
        ));
    }
    true
}

/// Characters after which a path may start (besides the start of the text and whitespace).
const PATH_STARTS_AFTER: &str = "\"'`(=:,;[{<";

/// The first local filesystem path in `text`, named (`a /home/ path`), if any. Looks wherever
/// a path starts: at the start of the text, or after whitespace, a quote, a backtick, `(`,
/// `=`, `:`, `,`, `;`, `[`, `{` or `<`; so `cd /home/alice` is one and
/// `https://example.com/home/docs` is not. System paths (`/usr/local/bin`, `/etc/hosts`,
/// `/tmp/x`) are not local paths.
pub fn local_path(text: &str) -> Option<&'static str> {
    let mut previous: Option<char> = None;
    for (index, c) in text.char_indices() {
        let at_start = previous.is_none_or(|p| p.is_whitespace() || PATH_STARTS_AFTER.contains(p));
        previous = Some(c);
        if !at_start || !matches!(c, '/' | '~' | '\\' | 'a'..='z' | 'A'..='Z') {
            continue;
        }
        if let Some(what) = local_path_at(&text[index..]) {
            return Some(what);
        }
    }
    None
}

/// A local path at the very start of `rest`.
fn local_path_at(rest: &str) -> Option<&'static str> {
    // A user's directory: `/home/<name>`, `/Users/<name>` (the name a real one, not a
    // documentation placeholder such as `<user>`, `$USER` or `{user}`).
    for (prefix, what) in [("/home/", "a /home/ path"), ("/Users/", "a /Users/ path")] {
        if let Some(name) = rest.strip_prefix(prefix) {
            if name
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && !"/<${\"'`)".contains(c))
            {
                return Some(what);
            }
        }
    }
    if rest.starts_with("/root/") {
        return Some("a /root/ path");
    }
    if rest.starts_with("~/") {
        return Some("a ~/ path");
    }
    let bytes = rest.as_bytes();
    if bytes.len() >= 5
        && bytes[..5].eq_ignore_ascii_case(b"file:")
        && bytes.get(5).is_some_and(|b| !b.is_ascii_whitespace())
    {
        return Some("a file: URL");
    }
    if bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/')
    {
        let users = bytes.len() >= 9 && bytes[3..9].eq_ignore_ascii_case(b"users\\");
        return Some(if users {
            "a C:\\Users\\ path"
        } else {
            "a Windows drive path"
        });
    }
    if bytes.len() >= 3
        && bytes[0] == b'\\'
        && bytes[1] == b'\\'
        && bytes[2].is_ascii_alphanumeric()
    {
        return Some("a Windows network path");
    }
    None
}

/// Whether a reference (a locator such as an implementation material's `ref`, not prose)
/// points into the local filesystem: a [`local_path`], or any absolute, home or relative
/// filesystem path (`/work/x`, `~x`, `./x`, `../x`). A locator that is a bare path only
/// resolves on the machine that wrote it.
pub fn local_reference(reference: &str) -> Option<&'static str> {
    let reference = reference.trim();
    if let Some(what) = local_path(reference) {
        return Some(what);
    }
    if reference.starts_with('/') || reference.starts_with('~') {
        return Some("an absolute filesystem path");
    }
    if reference.starts_with("./") || reference.starts_with("../") {
        return Some("a relative filesystem path");
    }
    None
}

/// Well-known token formats: (prefix, what, least number of token characters after it).
const TOKEN_PREFIXES: [(&str, &str, usize); 17] = [
    ("ghp_", "a GitHub token", 20),
    ("gho_", "a GitHub token", 20),
    ("ghu_", "a GitHub token", 20),
    ("ghs_", "a GitHub token", 20),
    ("ghr_", "a GitHub token", 20),
    ("github_pat_", "a GitHub token", 20),
    ("glpat-", "a GitLab token", 14),
    ("xoxb-", "a Slack token", 10),
    ("xoxp-", "a Slack token", 10),
    ("sk_live_", "a Stripe secret key", 16),
    ("sk-", "an API secret key", 20),
    ("AKIA", "an AWS access key id", 16),
    ("anip_pat_", "an ANIP publish token", 31),
    ("anip_pub_", "an ANIP publish token", 16),
    ("anip_dev_", "an ANIP dev token", 16),
    ("anip_sid_", "an ANIP session token", 16),
    ("eyJ", "a JWT", 60),
];

/// The credential format `text` holds, if any: a private key, a URL with a password, or a
/// token with a known prefix.
pub fn secret_in_text(text: &str) -> Option<(FindingKind, &'static str)> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        return Some((FindingKind::PrivateKey, "a private key"));
    }
    if has_url_with_password(text) {
        return Some((FindingKind::UrlWithPassword, "a URL with a password"));
    }
    text.split(|c: char| c.is_whitespace() || "\"'`=,;()[]{}<>".contains(c))
        .map(|word| word.trim_end_matches(['.', ',', ':', '!', '?']))
        .find_map(|word| {
            TOKEN_PREFIXES.iter().find_map(|(prefix, what, least)| {
                let rest = word.strip_prefix(prefix)?;
                let token = rest.len() >= *least
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                token.then_some((FindingKind::Token, *what))
            })
        })
}

/// Whether `text` holds a URL whose userinfo carries a password, `scheme://user:password@host`
/// (anywhere in the text: a readme line, a connection string). A user without a password
/// (`ssh://git@github.com`) and a placeholder password (`${DB_PASSWORD}`, `$DB_PASSWORD`,
/// `{{password}}`, `<password>`, `***`) are not credentials.
pub fn has_url_with_password(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_ok = rest[..at]
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'));
        let after = &rest[at + 3..];
        // The authority ends at the path, query or fragment, or where the URL ends in prose.
        let end = after
            .find(|c: char| c.is_whitespace() || "/?#\"'`\\)]".contains(c))
            .unwrap_or(after.len());
        let password = after[..end]
            .rsplit_once('@')
            .and_then(|(userinfo, _host)| userinfo.split_once(':'))
            .map(|(_user, password)| password);
        if scheme_ok && password.is_some_and(|p| !p.is_empty() && !is_placeholder(p)) {
            return true;
        }
        rest = after;
    }
    false
}

/// `${VAR}`, `{{var}}`, `<var>`, `$VAR` and masks (`***`).
fn is_placeholder(value: &str) -> bool {
    let wrapped = |open: &str, close: &str| {
        value.len() > open.len() + close.len() && value.starts_with(open) && value.ends_with(close)
    };
    wrapped("${", "}")
        || wrapped("{{", "}}")
        || wrapped("<", ">")
        || value.chars().all(|c| c == '*')
        || value.strip_prefix('$').is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Whether a JSON key names a secret (`password`, `api_key`, `Client-Secret`, `db_password`,
/// `github_token`, ...). Case and `-`/`_` do not matter.
pub fn is_secret_key(key: &str) -> bool {
    let normalized = key.trim().to_ascii_lowercase().replace('-', "_");
    const EXACT: [&str; 20] = [
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "bearer_token",
        "api_token",
        "secret",
        "client_secret",
        "secret_key",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "private_key",
        "privatekey",
        "credential",
        "credentials",
        "authorization",
        "publish_token",
    ];
    const SUFFIXES: [&str; 6] = [
        "_password",
        "_secret",
        "_api_key",
        "_apikey",
        "_private_key",
        "_token",
    ];
    EXACT.contains(&normalized.as_str())
        || SUFFIXES.iter().any(|suffix| normalized.ends_with(suffix))
}

/// Whether a value under a secret's name is a reference to the secret rather than the secret:
/// empty, an environment-variable name (`GITHUB_TOKEN`), a placeholder (`${VAR}`, `$VAR`,
/// `{{var}}`, `<var>`), `env:VAR`, a secret-manager URI (`vault:`, `secret://`,
/// `secretsmanager:`, `gcp-secret:`, `k8s-secret:`), `<redacted>`, or a mask (`***`).
pub fn is_reference_value(text: &str) -> bool {
    let trimmed = text.trim();
    if trimmed.is_empty() || is_placeholder(trimmed) || trimmed.contains("<redacted>") {
        return true;
    }
    let env_name = trimmed.len() <= 128
        && trimmed.starts_with(|c: char| c.is_ascii_uppercase())
        && trimmed
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    env_name
        || [
            "env:",
            "vault:",
            "secret://",
            "secretsmanager:",
            "gcp-secret:",
            "k8s-secret:",
        ]
        .iter()
        .any(|prefix| trimmed.starts_with(prefix))
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
    fn local_paths_are_found_wherever_a_path_starts() {
        for (text, what) in [
            ("/home/alice/x", "a /home/ path"),
            ("see /root/.anip/secrets.env", "a /root/ path"),
            ("Built from /home/alice/projects/secret", "a /home/ path"),
            ("C:\\Users\\bob\\x", "a C:\\Users\\ path"),
            ("copy it from c:\\users\\bob", "a C:\\Users\\ path"),
            ("C:\\work\\x", "a Windows drive path"),
            ("D:/data/x", "a Windows drive path"),
            ("\\\\fileserver\\share", "a Windows network path"),
            ("/Users/bob", "a /Users/ path"),
            ("cd ~/projects/x", "a ~/ path"),
            ("file:///etc/passwd", "a file: URL"),
            ("see FILE:///srv/x", "a file: URL"),
            ("[notes](/home/alice/notes.md)", "a /home/ path"),
            ("PATH=/home/alice/bin", "a /home/ path"),
            ("a `/root/.bashrc` edit", "a /root/ path"),
            ("'/home/alice'", "a /home/ path"),
            ("\"/Users/bob/x\"", "a /Users/ path"),
            ("dir:/home/alice", "a /home/ path"),
            ("line one\n/home/alice/x", "a /home/ path"),
        ] {
            assert_eq!(local_path(text), Some(what), "{text}");
        }
        for text in [
            "/usr/local/bin/anip",
            "edit /etc/hosts",
            "write to /tmp/x",
            "/tmp",
            "https://example.com/home/docs",
            "/api/root/x",
            "/work-items/search",
            "docs/examples/x.md",
            "/home",
            "/home/",
            "install to /home/<user>/.anip",
            "/home/$USER/x",
            "the config file: settings.yaml",
            "profile:x",
            "Option B: yes",
            "~user",
            "http://localhost:8080/root/x",
            "",
        ] {
            assert_eq!(local_path(text), None, "{text}");
        }
    }

    #[test]
    fn references_that_are_bare_paths_are_local() {
        assert!(local_reference("/srv/app/.anip/secrets.env").is_some());
        assert!(local_reference("./bundle").is_some());
        assert!(local_reference("../x").is_some());
        assert!(local_reference("~/x").is_some());
        assert!(local_reference("file:///x").is_some());
        let digest = "a".repeat(64);
        assert_eq!(
            local_reference(&format!("registry://acme/bundle@1.2.3#sha256:{digest}")),
            None
        );
        assert_eq!(
            local_reference(&format!("object+s3://bucket/key#sha256:{digest}")),
            None
        );
    }

    #[test]
    fn secrets_by_format() {
        for (text, kind, what) in [
            (
                "key ghp_0123456789abcdefghij0123",
                FindingKind::Token,
                "a GitHub token",
            ),
            (
                "use ghp_abcdefghijklmnopqrstuvwxyz0123456789.",
                FindingKind::Token,
                "a GitHub token",
            ),
            (
                "glpat-0123456789abcdef",
                FindingKind::Token,
                "a GitLab token",
            ),
            ("xoxb-0123456789ab", FindingKind::Token, "a Slack token"),
            (
                "AKIAIOSFODNN7EXAMPLE",
                FindingKind::Token,
                "an AWS access key id",
            ),
            (
                "sk_live_0123456789abcdef",
                FindingKind::Token,
                "a Stripe secret key",
            ),
            (
                "anip_pat_123e4567-e89b-12d3-a456-426614174000_s3cr3t",
                FindingKind::Token,
                "an ANIP publish token",
            ),
            (
                "Authorization: Bearer anip_dev_publish_0123456789abcdef",
                FindingKind::Token,
                "an ANIP dev token",
            ),
            (
                "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                FindingKind::Token,
                "a JWT",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
                FindingKind::PrivateKey,
                "a private key",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nabc",
                FindingKind::PrivateKey,
                "a private key",
            ),
            (
                "postgres://u:hunter2@db/x",
                FindingKind::UrlWithPassword,
                "a URL with a password",
            ),
        ] {
            assert_eq!(secret_in_text(text), Some((kind, what)), "{text}");
        }
        for text in [
            "ask for a token",
            "sk-short",
            "ghp_short",
            "/anip/tokens",
            "AKIA",
            "-----BEGIN PUBLIC KEY-----",
            "eyJ-not-long",
        ] {
            assert_eq!(secret_in_text(text), None, "{text}");
        }
    }

    #[test]
    fn urls_with_passwords_are_credentials() {
        for text in [
            "postgres://anip:hunter2@db.example:5432/x",
            "https://admin:hunter2@api.example.com/",
            "HTTPS://admin:hunter2@api.example.com",
            "see `postgres://anip:hunter2@db.example/x` first",
            "redis://:hunter2@cache:6379",
            "amqp://u:p@h",
            "first http://example.com then mysql://root:toor@db/x",
        ] {
            assert!(has_url_with_password(text), "{text}");
        }
        for text in [
            "ssh://git@github.com/anip-protocol/anip.git",
            "postgres://anip@db.example/x",
            "postgres://anip:${DB_PASSWORD}@db.example/x",
            "postgres://anip:$DB_PASSWORD@db.example/x",
            "postgres://anip:{{password}}@db.example/x",
            "postgres://anip:<password>@db.example/x",
            "postgres://anip:***@db.example/x",
            "https://example.com/a:b@c",
            "https://example.com:8443/x?u=a:b@c",
            "http://[::1]:8080/",
            "a note: user:pass@host without a scheme",
            "://a:b@c",
        ] {
            assert!(!has_url_with_password(text), "{text}");
        }
    }

    #[test]
    fn secrets_by_name_and_their_references() {
        assert_eq!(
            whats(json!({"db": {"password": "hunter2"}})),
            ["a value under a secret's name"]
        );
        assert_eq!(
            whats(json!({"auth": {"Client-Secret": "s3cr3t"}, "github_token": "abc"})),
            [
                "a value under a secret's name",
                "a value under a secret's name"
            ]
        );
        assert_eq!(
            whats(json!({"publish_token": "anip_dev_publish_0123456789abcdef"})),
            ["an ANIP dev token", "a value under a secret's name"]
        );
        assert_eq!(
            whats(json!({"api_keys": ["x"], "token": ["abc"]})),
            ["a value under a secret's name"]
        );
        assert!(whats(json!({
            "password": "", "api_key": "FLIGHT_BACKEND_API_KEY", "token": "${TOKEN}",
            "client_secret": "vault:kv/app#secret", "secret": "env:APP_SECRET",
            "db_password": "$DB_PASSWORD", "auth_token": "{{token}}", "bearer_token": "<token>",
            "secret_key": "***", "access_token": "<redacted>", "k8s_secret": "k8s-secret:ns/x",
            "summary": "ask for a token", "sketch": "sk-short", "tokens": "/anip/tokens",
            "secret_ref": "GITHUB_TOKEN", "delegation_token_required": true, "max_tokens": 12,
            "path_template": "/work-items/search", "url": "https://github.com/anip-protocol/anip",
        }))
        .is_empty());
    }

    #[test]
    fn findings_name_the_json_path_and_never_the_value() {
        let value = json!({
            "database_url": "postgres://anip:hunter2@db:5432/x",
            "notes": ["fine", "built in /home/alice/src"],
            "source": {"path": "/Users/bob/x"},
        });
        let findings = scan("manifest", &value);
        let paths: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "manifest.database_url",
                "manifest.notes[1]",
                "manifest.source.path"
            ]
        );
        for finding in &findings {
            let message = finding.to_string();
            assert!(message.starts_with(&finding.path), "{message}");
            assert!(!message.contains("hunter2") && !message.contains("alice"));
        }
        assert_eq!(findings[0].kind, FindingKind::UrlWithPassword);
        assert!(findings[0].problem().contains("password"));
        assert_eq!(findings[1].kind, FindingKind::LocalPath);
        assert!(findings[1].problem().contains("local filesystem path"));
        assert_eq!(
            first_finding("manifest", &value).map(|f| f.path),
            Some("manifest.database_url".to_owned())
        );
        let Value::Object(map) = &value else {
            unreachable!()
        };
        assert_eq!(scan_object("manifest", map), findings);
        assert_eq!(
            first_finding_in_object("lock", map).map(|f| f.path),
            Some("lock.database_url".to_owned())
        );
        // A root string has no key; an empty label roots paths at the first key.
        assert_eq!(
            scan_text("readme", "-----BEGIN RSA PRIVATE KEY-----"),
            [Finding {
                path: "readme".into(),
                kind: FindingKind::PrivateKey,
                what: "a private key",
            }]
        );
        assert_eq!(scan("", &json!({"a": {"token": "x1"}}))[0].path, "a.token");
        assert!(scan("x", &json!({"a": [1, true, null]})).is_empty());
    }
}
