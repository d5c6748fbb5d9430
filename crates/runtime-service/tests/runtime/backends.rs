//! Backend trouble becomes ANIP failures: a slow backend, a crashing one and an unreachable one,
//! each served for real on loopback.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use runtime_service::package::{self, LoadOptions};
use serde_json::{json, Value};

use runtime_service::backend::client::{trusted_roots, BackendClient};

use crate::support::{failure_type, serve_with, spawn_backend, Flight, ANA_KEY};

/// A backend that answers slowly on `/slow` and crashes on `/boom`.
fn spawn_faulty_backend() -> String {
    spawn_backend(|cfg| {
        cfg.route(
            "/slow",
            web::to(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                HttpResponse::Ok().json(json!({"late": true}))
            }),
        )
        .route(
            "/boom",
            web::to(|| async {
                HttpResponse::InternalServerError()
                    .json(json!({"trace": "NullPointerException at Secret.java:42"}))
            }),
        );
    })
}

fn declaration(name: &str, side_effect: &str) -> Value {
    json!({"name": name, "description": name, "output": {"type": "t", "fields": []},
           "side_effect": {"type": side_effect, "rollback_window": if side_effect == "read" { "not_applicable" } else { "PT15M" }},
           "minimum_scope": ["faults"]})
}

fn mapping(capability: &str, connection: &str, method: &str, path: &str) -> Value {
    json!({"capability_id": capability, "backend_bindings": [{"backend_kind": "http", "connection_ref": connection, "method": method, "path_template": path}]})
}

/// A runtime serving the service `faults` (`declarations`, `connections`, `mappings`) with
/// the connections pointed at `backend_urls`, on its own database, calling backends with
/// `backends`.
async fn serve_faults(
    declarations: Value,
    connections: Value,
    mappings: Value,
    backend_urls: &[(&str, String)],
    backends: BackendClient,
) -> Flight {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let definition = json!({
        "contract_schema_version": "anip-service-definition/v1",
        "service_topology_bindings": [{"service_id": "faults"}],
        "capability_declarations": declarations,
        "integration_fronting": {"connections": connections, "capability_mappings": mappings}
    });
    let options = LoadOptions {
        backend_urls: backend_urls
            .iter()
            .map(|(id, url)| ((*id).to_owned(), url.clone()))
            .collect(),
        ..LoadOptions::default()
    };
    let package = package::load_definition(&definition, &options).unwrap();
    let deadline = runtime_service::app::request_deadline(
        &package,
        observability::ServerLimits::default().request_deadline,
    );
    let served = serve_with(db.pool(), package, deadline, backends).await;
    Flight {
        db,
        served,
        http: reqwest::Client::new(),
    }
}

/// Ana's token for `capability` (scope `faults`), then the invocation with `input`.
async fn call(flight: &Flight, capability: &str, input: Value) -> (u16, Value) {
    let (status, issued) = flight
        .token_request(
            ANA_KEY,
            json!({"scope": ["faults"], "capability": capability}),
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    let jwt = issued["token"].as_str().unwrap().to_owned();
    flight.invoke(&jwt, capability, input).await
}

/// The failure's type, resolution action and retry flag.
fn expect(body: &Value, kind: &str, action: &str, retry: bool) {
    assert_eq!(failure_type(body), kind, "{body}");
    assert_eq!(body["failure"]["resolution"]["action"], action, "{body}");
    assert_eq!(body["failure"]["retry"], retry, "{body}");
}

fn public_roots() -> BackendClient {
    BackendClient::new(trusted_roots(None).unwrap()).unwrap()
}

#[actix_web::test]
async fn timeouts_crashes_and_outages_are_protocol_failures() {
    let flight = serve_faults(
        json!([declaration("slow_read", "read"), declaration("slow_write", "write"), declaration("boom", "read"), declaration("down", "read")]),
        json!([{"id": "faulty", "timeout_ms": 300}, {"id": "down", "base_url": "http://127.0.0.1:9", "timeout_ms": 300}]),
        json!([mapping("slow_read", "faulty", "GET", "/slow"), mapping("slow_write", "faulty", "POST", "/slow"),
               mapping("boom", "faulty", "GET", "/boom"), mapping("down", "down", "GET", "/")]),
        &[("faulty", spawn_faulty_backend())],
        public_roots(),
    )
    .await;

    let (status, body) = call(&flight, "slow_read", json!({})).await;
    assert_eq!(status, 504);
    expect(&body, "upstream_timeout", "retry_now", true);
    // A write whose outcome is unknown must be checked, not blindly repeated.
    let (_, body) = call(&flight, "slow_write", json!({})).await;
    expect(&body, "upstream_timeout", "revalidate_state", false);
    let (status, body) = call(&flight, "boom", json!({})).await;
    assert_eq!(status, 502);
    expect(&body, "upstream_error", "contact_service_owner", false);
    assert!(
        !body.to_string().contains("NullPointer"),
        "backend internals leaked: {body}"
    );
    let (status, body) = call(&flight, "down", json!({})).await;
    assert_eq!(status, 503);
    expect(&body, "service_unavailable", "wait_and_retry", true);

    // Each failure was audited as a failed invocation.
    let (_, issued) = flight
        .token_request(ANA_KEY, json!({"scope": ["faults"], "capability": "down"}))
        .await;
    let (_, audit) = flight
        .post(issued["token"].as_str().unwrap(), "/anip/audit")
        .await;
    let failures: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["failure_type"].as_str())
        .collect();
    assert_eq!(
        failures,
        [
            "service_unavailable",
            "upstream_error",
            "upstream_timeout",
            "upstream_timeout"
        ]
    );
}

#[actix_web::test]
async fn redirects_are_not_followed_and_the_credential_stays_home() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    // The second listener: where a redirect would lead (another origin, as a metadata address
    // would be). It counts every request it receives.
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let target = format!(
        "{}/latest/meta-data",
        spawn_backend(move |cfg| {
            let counter = counter.clone();
            cfg.default_service(web::to(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { HttpResponse::Ok().json(json!({"stolen": true})) }
            }));
        })
    );
    let redirecting_url = spawn_backend(move |cfg| {
        let target = target.clone();
        cfg.default_service(web::to(move || {
            let target = target.clone();
            async move {
                HttpResponse::Found()
                    .insert_header(("location", target))
                    .finish()
            }
        }));
    });

    let secret = crate::support::secret_file("backend-credential");
    let flight = serve_faults(
        json!([declaration("moved", "read")]),
        json!([{"id": "moving", "timeout_ms": 2000,
                "credentials": {"scheme": "header", "header": "X-Api-Key", "file": secret}}]),
        json!([mapping("moved", "moving", "GET", "/moved")]),
        &[("moving", redirecting_url)],
        public_roots(),
    )
    .await;
    let (status, body) = call(&flight, "moved", json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(failure_type(&body), "upstream_error");
    assert_eq!(
        body["failure"]["resolution"]["action"], "contact_service_owner",
        "{body}"
    );
    assert!(!body.to_string().contains("stolen"), "{body}");
    assert_eq!(
        received.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

/// A backend that reads a request and hangs up without answering, on its own port.
fn spawn_hangup_backend() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buffer);
            drop(stream);
        }
    });
    format!("http://{address}")
}

#[actix_web::test]
async fn cut_short_oversized_and_unsendable_calls_are_protocol_failures() {
    let huge_url = spawn_backend(|cfg| {
        cfg.route(
            "/huge",
            // Past the 4 MiB the runtime reads of an answer.
            web::to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(5 << 20)))
            }),
        );
    });
    let mut noted = declaration("noted", "read");
    noted["inputs"] = json!([{"name": "note", "type": "string", "required": true}]);
    let mut header_mapping = mapping("noted", "huge", "GET", "/huge");
    header_mapping["backend_bindings"][0]["headers"] = json!({"X-Note": "$.input.note"});
    let flight = serve_faults(
        json!([
            declaration("hangup_read", "read"),
            declaration("hangup_write", "write"),
            declaration("huge", "read"),
            noted
        ]),
        json!([{"id": "hangup", "timeout_ms": 2000}, {"id": "huge", "timeout_ms": 5000}]),
        json!([
            mapping("hangup_read", "hangup", "GET", "/"),
            mapping("hangup_write", "hangup", "POST", "/"),
            mapping("huge", "huge", "GET", "/huge"),
            header_mapping
        ]),
        &[("hangup", spawn_hangup_backend()), ("huge", huge_url)],
        public_roots(),
    )
    .await;

    // The connection ends without an answer: a read may be repeated, a write must be checked.
    let (status, body) = call(&flight, "hangup_read", json!({})).await;
    assert_eq!(status, 502, "{body}");
    expect(&body, "upstream_error", "wait_and_retry", true);
    let (_, body) = call(&flight, "hangup_write", json!({})).await;
    expect(&body, "upstream_error", "revalidate_state", false);

    // An answer past the limit is refused, not buffered whole. (Details are redacted at the
    // default disclosure level; the type and resolution tell the cases apart.)
    let (status, body) = call(&flight, "huge", json!({})).await;
    assert_eq!(status, 502, "{body}");
    expect(&body, "upstream_error", "contact_service_owner", false);

    // An input bound to a header that a header cannot carry is the caller's error, and
    // nothing is sent.
    let (status, body) = call(
        &flight,
        "noted",
        json!({"note": "line one\r\nX-Injected: yes"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    expect(&body, "invalid_parameters", "revalidate_state", false);
}

/// An HTTPS backend on loopback whose certificate a private CA (made here) signed; answers
/// `{"secure": true}` to any request.
struct PrivateTlsBackend {
    url: String,
    ca_pem: String,
}

fn spawn_private_tls_backend() -> PrivateTlsBackend {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ANIP runtime test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    actix_web::rt::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            actix_web::rt::spawn(async move {
                // A client that does not trust the CA ends the handshake here.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = r#"{"secure": true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    PrivateTlsBackend {
        url: format!("https://{address}"),
        ca_pem: ca.pem(),
    }
}

#[actix_web::test]
async fn https_backends_must_chain_to_a_trusted_ca() {
    let backend = spawn_private_tls_backend();
    let ca_file = std::env::temp_dir().join(format!(
        "anip-runtime-test-ca-{}.pem",
        runtime_service::ids::random_hex(6)
    ));
    std::fs::write(&ca_file, &backend.ca_pem).unwrap();
    let private_roots = trusted_roots(Some(&ca_file)).unwrap();
    std::fs::remove_file(&ca_file).unwrap();
    let urls = [("private", backend.url.clone())];
    let serve_trusting = |roots: rustls::RootCertStore| {
        serve_faults(
            json!([declaration("secure_read", "read")]),
            json!([{"id": "private", "timeout_ms": 5000}]),
            json!([mapping("secure_read", "private", "GET", "/secure")]),
            &urls,
            BackendClient::new(roots).unwrap(),
        )
    };

    // The public roots alone: nothing is sent, and repeating cannot help.
    let flight = serve_trusting(trusted_roots(None).unwrap()).await;
    let (status, body) = call(&flight, "secure_read", json!({})).await;
    assert_eq!(status, 502, "{body}");
    expect(&body, "upstream_error", "contact_service_owner", false);
    // Trusted through the CA file's CA.
    let flight = serve_trusting(private_roots).await;
    let (status, body) = call(&flight, "secure_read", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!({"secure": true}), "{body}");
}

/// A backend whose answers are fixed texts: `/verbatim` an object written as a serializer would
/// not write it, `/surrogate` an object holding a lone surrogate escape deep inside, `/list` an
/// array.
fn spawn_text_backend() -> String {
    fn text(body: &'static str) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(body)
    }
    spawn_backend(|cfg| {
        cfg.route("/verbatim", web::to(|| async { text(VERBATIM) }))
            .route(
                "/surrogate",
                web::to(|| async { text(r#"{"ok":true,"deep":[{"name":"x\ud800"}]}"#) }),
            )
            .route("/list", web::to(|| async { text("[1,2]") }));
    })
}

const VERBATIM: &str =
    r#"{"z":1,"a":"caf\u00e9","n":1E2,"list":[1,[2],{"x":3}],"nested":{"k":"v"},"sixth":6}"#;

#[actix_web::test]
async fn a_whole_answer_is_passed_on_as_sent_and_what_json_refuses_is_an_upstream_error() {
    let flight = serve_faults(
        json!([
            declaration("verbatim", "read"),
            declaration("surrogate", "read"),
            declaration("list", "read")
        ]),
        json!([{"id": "texts", "timeout_ms": 2000}]),
        json!([
            mapping("verbatim", "texts", "GET", "/verbatim"),
            mapping("surrogate", "texts", "GET", "/surrogate"),
            mapping("list", "texts", "GET", "/list")
        ]),
        &[("texts", spawn_text_backend())],
        public_roots(),
    )
    .await;

    let (_, issued) = flight
        .token_request(
            ANA_KEY,
            json!({"scope": ["faults"], "capability": "verbatim"}),
        )
        .await;
    let jwt = issued["token"].as_str().unwrap().to_owned();
    let response = flight
        .http
        .post(flight.url("/anip/invoke/verbatim"))
        .bearer_auth(&jwt)
        .json(&json!({"parameters": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&format!(r#""success":true,"result":{VERBATIM}"#)),
        "the backend's text, byte for byte: {text}"
    );
    // The audit entry summarizes the answer as its tree: first five members, scalars decoded.
    let (_, audit) = flight.post(&jwt, "/anip/audit").await;
    let summary = audit["entries"][0]["result_summary"].as_object().unwrap();
    let members: Vec<&str> = summary.keys().map(String::as_str).collect();
    assert_eq!(members, ["a", "list", "n", "nested", "z"], "{audit}");
    assert_eq!(summary["z"], 1);
    assert_eq!(summary["a"], "café");
    assert_eq!(summary["n"].as_f64(), Some(100.0));
    assert_eq!(summary["list"], "[3 items]");
    assert_eq!(summary["nested"], "...");

    // A lone surrogate is not text: refused as before, never passed on.
    let (status, body) = call(&flight, "surrogate", json!({})).await;
    assert_eq!(status, 502, "{body}");
    expect(&body, "upstream_error", "contact_service_owner", false);
    // An answer that is not an object becomes one.
    let (status, body) = call(&flight, "list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!({"result": [1, 2]}));
}
