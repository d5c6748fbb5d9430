//! The real `anip` binary on the upstream fixture bundles and on tampered copies: exit codes,
//! and that every check is printed by name. The fixtures are required (these tests never
//! skip).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use signing::{SigningKey, VerifyingKey};

fn bundles_dir() -> PathBuf {
    let shared = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = shared.join("fixtures/upstream/registry-bundles");
    assert!(
        dir.is_dir(),
        "upstream registry bundles not found at {}: set ANIP_SHARED_DIR (these tests never skip)",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> PathBuf {
    bundles_dir().join(format!("{name}.anip-package.json"))
}

/// A fresh directory for one test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("anip-cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn anip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anip"))
        .args(args)
        .env_remove("ANIP_REGISTRY_PUBLISH_TOKEN")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs `anip` and asserts its exit code, returning stdout.
fn run(args: &[&str], code: i32) -> String {
    let output = anip(args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "anip {args:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

const ALWAYS: [&str; 12] = [
    "identity",
    "publisher",
    "manifest_digest",
    "definition_digest",
    "lock_digest",
    "execution_signature",
    "bundle_contents",
    "receipt_id",
    "signature_algorithm",
    "key_advertised",
    "signature",
    "lifecycle",
];

#[test]
fn verify_prints_every_check_and_exits_by_outcome() {
    // (bundle, exit code, lines that must appear)
    let cases: [(&str, i32, &[&str]); 6] = [
        (
            "gitlab-fronting-showcase-0.2.0",
            0,
            &[
                "PASS  signature",
                "legacy payload",
                "WARN  execution_signature",
                "VERIFIED",
            ],
        ),
        (
            "linear-fronting-showcase-0.2.0",
            0,
            &["PASS  key_advertised"],
        ),
        (
            "slack-fronting-showcase-0.2.0",
            0,
            &["PASS  manifest_digest"],
        ),
        (
            "finance-operations-showcase-0.1.0",
            1,
            &[
                "FAIL  signature",
                "local-studio",
                "NOT VERIFIED: signature failed",
            ],
        ),
        (
            "gtm-pipeline-q2-review-0.2.0",
            1,
            &[
                "FAIL  definition_digest",
                "FAIL  key_advertised",
                "PASS  signature",
            ],
        ),
        (
            "gtm-pipeline-q2-review-0.3.5",
            1,
            &[
                "FAIL  manifest_digest",
                "FAIL  definition_digest",
                "FAIL  lock_digest",
            ],
        ),
    ];
    for (bundle, code, lines) in cases {
        let out = run(
            &["package", "verify", "--bundle", path_str(&fixture(bundle))],
            code,
        );
        for name in ALWAYS {
            assert!(
                out.lines()
                    .any(|line| line.split_whitespace().nth(1) == Some(name)),
                "{bundle}: check {name} not printed:\n{out}"
            );
        }
        for line in lines {
            assert!(out.contains(line), "{bundle}: {line:?} missing:\n{out}");
        }
    }
}

#[test]
fn verify_json_report() {
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            path_str(&fixture("slack-fronting-showcase-0.2.0")),
            "--json",
        ],
        0,
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["signed_payload"], "legacy");
    assert_eq!(report["package_id"], "slack-fronting-showcase");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ALWAYS);
    assert_eq!(report["checks"][5]["status"], "warn");
    assert!(report["source"]["bundle"]
        .as_str()
        .unwrap()
        .ends_with(".anip-package.json"));
}

/// Writes a copy of the gitlab bundle with `tamper` applied.
fn tampered_copy(dir: &Path, tamper: impl FnOnce(&mut Value)) -> PathBuf {
    let mut bundle: Value =
        serde_json::from_slice(&std::fs::read(fixture("gitlab-fronting-showcase-0.2.0")).unwrap())
            .unwrap();
    tamper(&mut bundle);
    let path = dir.join("tampered.anip-package.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    path
}

#[test]
fn tampered_copies_fail_naming_the_check() {
    let dir = temp_dir("tampered");
    type Tamper = fn(&mut Value);
    let cases: [(Tamper, &str); 3] = [
        (
            |b| {
                // One byte: the last character of the name, in both copies.
                let mut name = b["package"]["manifest"]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let last = name.pop().unwrap();
                name.push(if last == 'x' { 'y' } else { 'x' });
                b["package"]["manifest"]["name"] = json!(name);
                b["manifest"]["name"] = json!(name);
            },
            "FAIL  manifest_digest",
        ),
        (
            |b| b["receipt"]["issued_at"] = json!("2026-05-15T00:00:01Z"),
            "FAIL  signature",
        ),
        (
            |b| b["package"]["service_definition"]["artifact_type"] = json!("x"),
            "FAIL  definition_digest",
        ),
    ];
    for (tamper, line) in cases {
        let path = tampered_copy(&dir, tamper);
        let out = run(&["package", "verify", "--bundle", path_str(&path)], 1);
        assert!(out.contains(line), "{line:?} missing:\n{out}");
        assert!(out.contains("NOT VERIFIED"), "{out}");
    }
}

#[test]
fn policy_flags() {
    let gitlab = fixture("gitlab-fronting-showcase-0.2.0");
    let bundle = path_str(&gitlab);
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--trusted-key-id",
            "someone-else",
        ],
        1,
    );
    assert!(out.contains("FAIL  trusted_key_id"), "{out}");
    assert!(out.contains("NOT VERIFIED: trusted_key_id failed"), "{out}");

    run(
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--trusted-key-id",
            "anip-registry-dev-ed25519-v1",
        ],
        0,
    );
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--require-mode",
            "production",
        ],
        1,
    );
    assert!(out.contains("FAIL  required_mode"), "{out}");
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--require-mode",
            "dev",
        ],
        0,
    );
    assert!(out.contains("PASS  required_mode"), "{out}");

    let dev_public = SigningKey::dev().verifying_key().to_base64();
    let pin = format!("anip-registry-dev-ed25519-v1={dev_public}");
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--trusted-key",
            &pin,
        ],
        0,
    );
    assert!(out.contains("PASS  trusted_key "), "{out}");
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--require-execution-signature",
        ],
        1,
    );
    assert!(out.contains("FAIL  execution_signature"), "{out}");

    let dir = temp_dir("policy");
    let yanked = tampered_copy(&dir, |b| {
        b["package"]["lifecycle"] = json!({"status": "yanked", "reason": "broken build"});
    });
    let out = run(&["package", "verify", "--bundle", path_str(&yanked)], 1);
    assert!(out.contains("FAIL  lifecycle"), "{out}");
    assert!(out.contains("broken build"), "{out}");
    let out = run(
        &[
            "package",
            "verify",
            "--bundle",
            path_str(&yanked),
            "--allow-yanked",
        ],
        0,
    );
    assert!(out.contains("WARN  lifecycle"), "{out}");
}

#[test]
fn usage_file_and_network_errors_exit_2() {
    let bundle = fixture("gitlab-fronting-showcase-0.2.0");
    let bundle = path_str(&bundle);
    let dir = temp_dir("errors");
    let not_json = dir.join("not-json.anip-package.json");
    std::fs::write(&not_json, "{").unwrap();
    let cases: [&[&str]; 10] = [
        &["package", "verify"],
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--registry-url",
            "http://127.0.0.1:1",
        ],
        &["package", "verify", "--registry-url", "http://127.0.0.1:1"],
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--require-mode",
            "staging",
        ],
        &[
            "package",
            "verify",
            "--bundle",
            bundle,
            "--trusted-key",
            "no-key",
        ],
        &["package", "verify", "--bundle", "/nonexistent/bundle.json"],
        &["package", "verify", "--bundle", path_str(&not_json)],
        &[
            "package",
            "verify",
            "--registry-url",
            "http://127.0.0.1:1",
            "--package",
            "nover",
        ],
        &[
            "package",
            "verify",
            "--registry-url",
            "http://127.0.0.1:1",
            "--package",
            "a@1",
        ],
        &["package", "frobnicate"],
    ];
    for args in cases {
        let output = anip(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "anip {args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).is_empty(), "anip {args:?} said nothing");
    }
    // A network failure names the URL it tried.
    let output = anip(&[
        "package",
        "verify",
        "--registry-url",
        "http://127.0.0.1:1",
        "--package",
        "a/b@1",
    ]);
    assert!(stderr(&output).contains("http://127.0.0.1:1/registry-api/v1/packages/a%2Fb/1"));
}

#[test]
fn pull_writes_nothing_when_it_cannot_verify() {
    let dir = temp_dir("pull");
    let out = dir.join("pulled.anip-package.json");
    let output = anip(&[
        "package",
        "pull",
        "--registry-url",
        "http://127.0.0.1:1",
        "--package",
        "a@1",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!out.exists());
}

#[test]
fn publish_takes_the_token_only_from_the_environment() {
    let dir = temp_dir("publish");
    let request = dir.join("request.json");
    std::fs::write(&request, r#"{"package_id":"p","package_version":"1"}"#).unwrap();
    let request = path_str(&request);
    // No token flag exists, so a token can never land in shell history.
    let output = anip(&[
        "package",
        "publish",
        "--registry-url",
        "http://127.0.0.1:1",
        "--file",
        request,
        "--token",
        "secret",
    ]);
    assert_eq!(output.status.code(), Some(2));
    // The variable must be set.
    let output = anip(&[
        "package",
        "publish",
        "--registry-url",
        "http://127.0.0.1:1",
        "--file",
        request,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("ANIP_REGISTRY_PUBLISH_TOKEN"),
        "{}",
        stderr(&output)
    );
    let output = Command::new(env!("CARGO_BIN_EXE_anip"))
        .args([
            "package",
            "publish",
            "--registry-url",
            "http://127.0.0.1:1",
            "--file",
            request,
            "--token-env",
            "MY_TOKEN",
        ])
        .env("MY_TOKEN", "s3cret-value")
        .output()
        .unwrap();
    // Unreachable registry: a network error, and the token is never printed.
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains("s3cret-value"));
    assert!(!stdout(&output).contains("s3cret-value"));
}

#[test]
fn keygen_prints_a_usable_key() {
    let out = run(&["keygen", "--key-id", "registry-2026-q3"], 0);
    let value = |name: &str| {
        out.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"))
            .to_owned()
    };
    assert_eq!(value("ANIP_REGISTRY_KEY_ID"), "registry-2026-q3");
    let key = SigningKey::from_base64(&value("ANIP_REGISTRY_ED25519_PRIVATE_KEY")).unwrap();
    assert!(!key.is_dev_key());
    let extra = out
        .lines()
        .find_map(|line| line.strip_prefix("# ANIP_REGISTRY_EXTRA_PUBLIC_KEYS="))
        .unwrap();
    let (id, public) = extra.split_once('=').unwrap();
    assert_eq!(id, "registry-2026-q3");
    assert_eq!(
        VerifyingKey::from_base64(public).unwrap(),
        key.verifying_key()
    );
    // The entry parses as the registry parses ANIP_REGISTRY_EXTRA_PUBLIC_KEYS.
    let set = signing::PublicKeySet::parse_list(extra).unwrap();
    assert_eq!(set.get("registry-2026-q3"), Some(key.verifying_key()));

    // Two runs, two keys; the default id is derived from the public key.
    let a = run(&["keygen"], 0);
    let b = run(&["keygen"], 0);
    assert_ne!(a, b);
    assert!(a.contains("ANIP_REGISTRY_KEY_ID=anip-registry-ed25519-"));
    let output = anip(&["keygen", "--key-id", "has space"]);
    assert_eq!(output.status.code(), Some(2));
}
