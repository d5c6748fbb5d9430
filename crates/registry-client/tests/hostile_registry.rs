//! What a hostile or misconfigured Registry, or a hostile path, cannot make the client do:
//! echo URL credentials, follow a redirect to another host, print the token it sent back, or
//! read an unbounded file. The registries are real HTTP servers on loopback.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use registry_client::{
    api_base_url, fetch_and_verify, read_file_limited, PackageBundle, RegistryClient,
    RegistryError, VerifyPolicy, DEFAULT_MAX_FILE_BYTES,
};
use serde_json::json;
use signing::Secret;

const TOKEN: &str = "tok-SECRET-XYZ";

/// A loopback HTTP/1.1 server answering every request with `respond(request head)`, and the
/// request heads it received.
struct Server {
    url: String,
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(respond: impl Fn(&str) -> String + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
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
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                head.push_str(&String::from_utf8_lossy(&body));
                let response = respond(&head);
                seen.lock().unwrap().push(head);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Server {
            url: format!("http://127.0.0.1:{port}"),
            port,
            requests,
        }
    }

    fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The error with its whole `source()` chain, as a CLI or a log would print it.
fn full_text(error: &RegistryError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[test]
fn invalid_registry_urls_are_shown_without_credentials_or_query() {
    for (given, shown, secrets) in [
        (
            "http://user:s3cretPW@127.0.0.1:18731",
            "\"http://***@127.0.0.1:18731\"",
            &["s3cretPW", "user"][..],
        ),
        (
            "http://127.0.0.1:18731/?token=tok-abc",
            "\"http://127.0.0.1:18731/\"",
            &["tok-abc", "token="][..],
        ),
        (
            "http://127.0.0.1:18731/#token=tok-abc",
            "\"http://127.0.0.1:18731/\"",
            &["tok-abc"][..],
        ),
        (
            "ftp://user:pw9@h?t=tok-abc",
            "\"ftp://***@h\"",
            &["pw9", "tok-abc"][..],
        ),
        ("user:pw9@h", "\"***@h\"", &["pw9"][..]),
    ] {
        let error = api_base_url(given).unwrap_err();
        let text = full_text(&error);
        assert!(text.contains(shown), "{given}: {text}");
        for secret in secrets {
            assert!(!text.contains(secret), "{given} leaked {secret}: {text}");
        }
        // The client's constructor says the same.
        let text = full_text(&RegistryClient::new(given).unwrap_err());
        for secret in secrets {
            assert!(!text.contains(secret), "{given} leaked {secret}: {text}");
        }
    }
}

#[test]
fn a_redirect_is_an_error_and_nothing_reaches_the_other_host() {
    let elsewhere = Server::start(|_| response("200 OK", &[], "{}"));
    let location = format!(
        "http://user:pw9@127.0.0.1:{}/registry-api/v1/publications?token=tok-abc",
        elsewhere.port
    );
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let location = location.clone();
        let registry = Server::start(move |_| response(status, &[("Location", &location)], ""));
        let client = RegistryClient::builder(&registry.url)
            .token(Secret::new(TOKEN.to_owned()))
            .build()
            .unwrap();
        let error = runtime()
            .block_on(client.publish(&json!({"package_id": "p", "package_version": "1"})))
            .unwrap_err();
        let text = full_text(&error);
        assert!(
            matches!(error, RegistryError::Redirect { .. }),
            "{status}: {text}"
        );
        assert!(text.contains(&status[..3]), "{text}");
        assert!(
            text.contains(&format!(
                "http://***@127.0.0.1:{}/registry-api/v1/publications",
                elsewhere.port
            )),
            "{text}"
        );
        assert!(text.contains("use its URL directly"), "{text}");
        for secret in ["pw9", "tok-abc", TOKEN] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(registry.request_count(), 1);
    }
    assert_eq!(
        elsewhere.request_count(),
        0,
        "a redirect was followed: {:?}",
        elsewhere.requests.lock().unwrap()
    );

    // Verification takes keys only from the registry it asked: a registry redirecting its
    // routes elsewhere is an error, not a bundle.
    let target = format!("http://127.0.0.1:{}", elsewhere.port);
    let registry = Server::start(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        response("302 Found", &[("Location", &format!("{target}{path}"))], "")
    });
    let client = RegistryClient::new(&registry.url).unwrap();
    let error = runtime()
        .block_on(fetch_and_verify(
            &client,
            "p",
            "1",
            &VerifyPolicy::default(),
        ))
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Redirect { status: 302, .. }),
        "{error}"
    );
    assert_eq!(elsewhere.request_count(), 0);

    // A relative Location is shown resolved.
    let registry = Server::start(|_| {
        response(
            "308 Permanent Redirect",
            &[("Location", "/v2/keys?x=1")],
            "",
        )
    });
    let client = RegistryClient::new(&registry.url).unwrap();
    let error = runtime().block_on(client.keys()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("{}/v2/keys", registry.url)),
        "{error}"
    );
}

#[test]
fn the_token_is_redacted_from_what_the_registry_sends_back() {
    let echo = format!("bad token Bearer {TOKEN}");
    let cases = [
        response(
            "401 Unauthorized",
            &[("Content-Type", "application/json")],
            &json!({"error": echo, "lifecycle": {"status": "x", "reason": echo}}).to_string(),
        ),
        // Not JSON: the start of the body is the message; a control character inside the
        // token must not smuggle it past the redaction.
        response(
            "403 Forbidden",
            &[],
            &format!("denied: tok-SECRET\u{1}-XYZ / {TOKEN}"),
        ),
        // A success body that does not decode: serde quotes the offending string.
        response("200 OK", &[], &json!({"publication": TOKEN}).to_string()),
        // A redirect whose Location carries the token.
        response(
            "307 Temporary Redirect",
            &[("Location", &format!("/x/{TOKEN}"))],
            "",
        ),
    ];
    for answer in cases {
        let registry = Server::start(move |_| answer.clone());
        let client = RegistryClient::builder(&registry.url)
            .token(Secret::new(TOKEN.to_owned()))
            .build()
            .unwrap();
        let error = runtime()
            .block_on(client.publish(&json!({"package_id": "p"})))
            .unwrap_err();
        let text = format!("{} {error:?}", full_text(&error));
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains("SECRET"), "token leaked: {text}");
        assert!(text.contains("[redacted]"), "{text}");
        // The request did carry the token: this is the server echoing it.
        assert!(registry.requests.lock().unwrap()[0].contains(TOKEN));
    }
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("registry-client-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn file_reads_are_bounded_and_refuse_what_is_not_a_regular_file() {
    let dir = temp_dir("files");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, kind) in [
        (PathBuf::from("/dev/zero"), "a character device"),
        (dir.clone(), "a directory"),
        // Opening a FIFO with no writer would block: it is refused before it is opened.
        (fifo, "a FIFO"),
    ] {
        let error = PackageBundle::read(&path).unwrap_err();
        assert!(
            matches!(error, RegistryError::NotAFile { kind: k, .. } if k == kind),
            "{}: {error}",
            path.display()
        );
        assert!(error.to_string().contains(kind), "{error}");
    }

    // Exactly the limit is read; one byte more is refused.
    let file = dir.join("ten");
    std::fs::write(&file, b"0123456789").unwrap();
    assert_eq!(read_file_limited(&file, 10).unwrap(), b"0123456789");
    let error = read_file_limited(&file, 9).unwrap_err();
    assert!(
        matches!(error, RegistryError::FileTooLarge { limit: 9, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("exceeds 9 bytes"), "{error}");

    // A file that says it is empty but is not (procfs) is still cut off at the limit.
    let error = read_file_limited(std::path::Path::new("/proc/self/maps"), 16).unwrap_err();
    assert!(
        matches!(error, RegistryError::FileTooLarge { .. }),
        "{error}"
    );

    // A bundle larger than the limit (sparse: it costs no disk) is refused as too large, not
    // read and then rejected as bad JSON.
    let big = dir.join("big.anip-package.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(DEFAULT_MAX_FILE_BYTES as u64 + 1)
        .unwrap();
    let error = PackageBundle::read(&big).unwrap_err();
    assert!(
        matches!(error, RegistryError::FileTooLarge { limit, .. } if limit == DEFAULT_MAX_FILE_BYTES),
        "{error}"
    );
    // A missing file is an I/O error naming it.
    let error = PackageBundle::read(&dir.join("missing")).unwrap_err();
    assert!(matches!(error, RegistryError::Io { .. }), "{error}");
}
