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

/// Runs `anip` with `envs` set (and the default token variable removed unless given).
fn anip_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anip"))
        .args(args)
        .env_remove("ANIP_REGISTRY_PUBLISH_TOKEN")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn registry_urls_are_never_echoed_with_credentials_or_query() {
    let dir = temp_dir("url-secrets");
    let request = dir.join("request.json");
    std::fs::write(&request, r#"{"package_id":"p","package_version":"1"}"#).unwrap();
    let out = dir.join("pulled.json");
    for (url, shown) in [
        (
            "http://user:s3cretPW@127.0.0.1:18731",
            "http://***@127.0.0.1:18731",
        ),
        (
            "http://127.0.0.1:18731/?token=tok-abc",
            "http://127.0.0.1:18731/",
        ),
    ] {
        let commands: [&[&str]; 3] = [
            &[
                "package",
                "verify",
                "--registry-url",
                url,
                "--package",
                "x@1",
            ],
            &[
                "package",
                "pull",
                "--registry-url",
                url,
                "--package",
                "x@1",
                "--out",
                path_str(&out),
            ],
            &[
                "package",
                "publish",
                "--registry-url",
                url,
                "--file",
                path_str(&request),
            ],
        ];
        for args in commands {
            let output = anip_env(args, &[("ANIP_REGISTRY_PUBLISH_TOKEN", "pub-tok")]);
            let text = format!("{}{}", stdout(&output), stderr(&output));
            assert_eq!(output.status.code(), Some(2), "anip {args:?}: {text}");
            assert!(text.contains(shown), "anip {args:?}: {text}");
            for secret in ["s3cretPW", "user:", "tok-abc", "token=", "pub-tok"] {
                assert!(
                    !text.contains(secret),
                    "anip {args:?} leaked {secret}: {text}"
                );
            }
        }
    }
}

#[test]
fn bundle_and_request_files_must_be_regular_and_bounded() {
    let dir = temp_dir("files");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = dir.join("big.json");
    // Sparse: one byte over the 32 MiB limit without using the disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(32 * 1024 * 1024 + 1)
        .unwrap();
    for (path, message) in [
        ("/dev/zero", "it is a character device, not a regular file"),
        (path_str(&dir), "it is a directory, not a regular file"),
        (path_str(&fifo), "it is a FIFO, not a regular file"),
        (path_str(&big), "the file exceeds 33554432 bytes"),
    ] {
        let output = anip(&["package", "verify", "--bundle", path]);
        assert_eq!(output.status.code(), Some(2), "{path}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{path}: {}",
            stderr(&output)
        );
        let output = anip_env(
            &[
                "package",
                "publish",
                "--registry-url",
                "http://127.0.0.1:1",
                "--file",
                path,
            ],
            &[("ANIP_REGISTRY_PUBLISH_TOKEN", "pub-tok")],
        );
        assert_eq!(output.status.code(), Some(2), "{path}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{path}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn keygen_key_ids_are_shell_safe() {
    let marker = temp_dir("keygen-ids").join("ran");
    for id in [
        format!("k$(touch${{IFS}}{})", marker.display()),
        "k`id`".to_owned(),
        "a b".to_owned(),
        "k;id".to_owned(),
        "k\nANIP_X=1".to_owned(),
        "k'q".to_owned(),
        "a=b".to_owned(),
        "k:1".to_owned(),
        String::new(),
        "k".repeat(129),
    ] {
        let output = anip(&["keygen", "--key-id", &id]);
        assert_eq!(output.status.code(), Some(2), "{id:?}: {}", stdout(&output));
        assert!(stdout(&output).is_empty(), "{id:?} printed a key");
        assert!(
            stderr(&output).contains("1 to 128 characters of A-Z, a-z, 0-9"),
            "{id:?}: {}",
            stderr(&output)
        );
    }
    // The longest and every allowed character are accepted, and the output loads in a shell
    // as the documentation says, giving back exactly the values printed.
    for id in ["k".repeat(128), "Registry.2026_q3-A9".to_owned()] {
        let out = run(&["keygen", "--key-id", &id], 0);
        let file = temp_dir("keygen-load").join("registry.env");
        std::fs::write(&file, &out).unwrap();
        let loaded = Command::new("sh")
            .arg("-c")
            .arg(
                "set -a; . \"$1\"; printf '%s\\n%s' \"$ANIP_REGISTRY_KEY_ID\" \
                 \"$ANIP_REGISTRY_ED25519_PRIVATE_KEY\"",
            )
            .arg("sh")
            .arg(&file)
            .output()
            .unwrap();
        assert!(loaded.status.success(), "{}", stderr(&loaded));
        let loaded = stdout(&loaded);
        let (loaded_id, loaded_seed) = loaded.split_once('\n').unwrap();
        assert_eq!(loaded_id, id);
        assert!(out.contains(&format!(
            "ANIP_REGISTRY_ED25519_PRIVATE_KEY={loaded_seed}\n"
        )));
        SigningKey::from_base64(loaded_seed).unwrap();
    }
    assert!(!marker.exists());
}

#[test]
fn an_empty_publish_token_is_reported_as_empty() {
    let dir = temp_dir("empty-token");
    let request = dir.join("request.json");
    std::fs::write(&request, "{}").unwrap();
    let args = [
        "package",
        "publish",
        "--registry-url",
        "http://127.0.0.1:1",
        "--file",
        path_str(&request),
    ];
    for (value, said) in [("", "which is empty"), ("  ", "which is empty")] {
        let output = anip_env(&args, &[("ANIP_REGISTRY_PUBLISH_TOKEN", value)]);
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains(&format!("ANIP_REGISTRY_PUBLISH_TOKEN, {said}")),
            "{}",
            stderr(&output)
        );
    }
    let output = anip_env(&args, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("ANIP_REGISTRY_PUBLISH_TOKEN, which is not set"),
        "{}",
        stderr(&output)
    );
}

/// A hostile registry: a loopback HTTP/1.1 server answering every request with
/// `respond(request head and body)`, keeping what it received.
struct Hostile {
    url: String,
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Hostile {
    fn start(respond: impl Fn(&str) -> String + Send + 'static) -> Hostile {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    request.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                request.push_str(&String::from_utf8_lossy(&body));
                let answer = respond(&request);
                seen.lock().unwrap().push(request);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Hostile {
            url: format!("http://127.0.0.1:{port}"),
            port,
            requests,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn http_answer(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

const PUBLISH_TOKEN: &str = "tok-SECRET-XYZ";

#[test]
fn publish_verify_and_pull_never_follow_redirects() {
    let elsewhere = Hostile::start(|_| http_answer("200 OK", &[], "{}"));
    let dir = temp_dir("redirects");
    let request = dir.join("request.json");
    std::fs::write(&request, r#"{"package_id":"p","package_version":"1"}"#).unwrap();
    let out = dir.join("pulled.json");
    for status in [
        "307 Temporary Redirect",
        "308 Permanent Redirect",
        "302 Found",
    ] {
        let target = format!("http://127.0.0.1:{}", elsewhere.port);
        let registry = Hostile::start(move |request| {
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            http_answer(status, &[("Location", &format!("{target}{path}"))], "")
        });
        let commands: [&[&str]; 3] = [
            &[
                "package",
                "publish",
                "--registry-url",
                &registry.url,
                "--file",
                path_str(&request),
            ],
            &[
                "package",
                "verify",
                "--registry-url",
                &registry.url,
                "--package",
                "p@1",
            ],
            &[
                "package",
                "pull",
                "--registry-url",
                &registry.url,
                "--package",
                "p@1",
                "--out",
                path_str(&out),
            ],
        ];
        for args in commands {
            let output = anip_env(args, &[("ANIP_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN)]);
            let text = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "anip {args:?}: {text}");
            assert!(
                text.contains(&format!("registry answered {}", &status[..3])),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "redirecting to http://127.0.0.1:{}/registry-api/v1/",
                    elsewhere.port
                )),
                "{text}"
            );
            assert!(text.contains("use its URL directly"), "{text}");
            assert!(!text.contains(PUBLISH_TOKEN), "{text}");
        }
        assert!(!out.exists());
    }
    assert!(
        elsewhere.requests().is_empty(),
        "a redirect was followed: {:?}",
        elsewhere.requests()
    );
}

#[test]
fn publish_never_prints_the_token_a_registry_echoes() {
    let dir = temp_dir("token-echo");
    let request = dir.join("request.json");
    std::fs::write(&request, r#"{"package_id":"p","package_version":"1"}"#).unwrap();
    let echo = format!("bad token Bearer {PUBLISH_TOKEN}");
    let refused = http_answer(
        "401 Unauthorized",
        &[("Content-Type", "application/json")],
        &json!({ "error": echo }).to_string(),
    );
    // Accepted, with the token planted in the receipt and the package id.
    let accepted = http_answer(
        "201 Created",
        &[("Content-Type", "application/json")],
        &json!({
            "publication": {"package_id": PUBLISH_TOKEN, "package_version": "1"},
            "package": {"package_id": PUBLISH_TOKEN, "package_version": "1"},
            "receipt": {"receipt_id": echo, "registry_signature": "x", "issued_at": "t"},
        })
        .to_string(),
    );
    // A body that does not decode: serde quotes the string it choked on.
    let undecodable = http_answer("200 OK", &[], &json!({ "publication": echo }).to_string());
    for (answer, code) in [(refused, 1), (accepted, 0), (undecodable, 2)] {
        let registry = Hostile::start(move |_| answer.clone());
        let output = anip_env(
            &[
                "package",
                "publish",
                "--registry-url",
                &registry.url,
                "--file",
                path_str(&request),
            ],
            &[("ANIP_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN)],
        );
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(code), "{text}");
        assert!(!text.contains(PUBLISH_TOKEN), "token printed: {text}");
        assert!(text.contains("[redacted]"), "{text}");
        // The token was sent: the registry echoed it, the CLI did not print it.
        assert!(registry.requests()[0].contains(&format!("Bearer {PUBLISH_TOKEN}")));
    }
}
