//! Packages: the committed example bundle is current and verifies, a tampered bundle stops the
//! binary at start, and the upstream compatibility definition is served as generated runtimes
//! serve it.

use std::process::Command;

use runtime_service::package::{self, bundle, BundleVerifier, LoadOptions, SharedVerifier};
use serde_json::{json, Value};
use signing::PublicKeySet;

use crate::support::{
    example_bundle_path, failure_type, flight_definition, serve, Flight, ANA_KEY,
};

#[test]
fn the_committed_example_bundle_is_the_packed_definition() {
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(example_bundle_path()).unwrap()).unwrap();
    let packed = bundle::pack(
        &flight_definition(),
        "flight-service",
        "1.0.0",
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    assert!(
        committed == packed,
        "examples/flight-service/flight-service.anip-package.json is stale; run: cargo run -p runtime-service -- pack \
         --definition examples/flight-service/service-definition.json --package-id flight-service --package-version 1.0.0 \
         --out examples/flight-service/flight-service.anip-package.json"
    );
    let check = SharedVerifier::new(PublicKeySet::new(), true)
        .verify(&committed)
        .unwrap();
    assert_eq!(check.package_id, "flight-service");
}

#[actix_web::test]
async fn a_tampered_bundle_is_refused_at_start() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let mut bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(example_bundle_path()).unwrap()).unwrap();
    // Quietly make the lounge pass free.
    let declarations = bundle["package"]["service_definition"]["capability_declarations"]
        .as_array_mut()
        .unwrap();
    let lounge = declarations
        .iter_mut()
        .find(|d| d["name"] == "purchase_lounge_pass")
        .unwrap();
    lounge["cost"]["financial"]["amount"] = json!(0.01);
    let path = std::env::temp_dir().join(format!(
        "tampered-{}.json",
        runtime_service::ids::random_hex(6)
    ));
    std::fs::write(&path, serde_json::to_vec(&bundle).unwrap()).unwrap();

    let options = LoadOptions {
        validate_only: true,
        ..LoadOptions::default()
    };
    let error = package::load_bundle_file(
        &path,
        &SharedVerifier::new(PublicKeySet::new(), true),
        &options,
    )
    .unwrap_err();
    assert!(
        matches!(error, package::PackageError::Tampered(_)),
        "{error}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_anip-runtime"))
        .env("ANIP_RUNTIME_DATABASE_URL", &db.url)
        .env("ANIP_RUNTIME_BUNDLE", &path)
        .env("ANIP_RUNTIME_BIND", "127.0.0.1")
        .env("ANIP_RUNTIME_PORT", "0")
        .env("FLIGHT_BACKEND_API_KEY", "unused")
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("modified after packaging") && log.contains("definition_digest"),
        "{log}"
    );
}

#[actix_web::test]
async fn the_upstream_compatibility_definition_is_served() {
    let shared = std::env::var("ANIP_SHARED_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared").to_owned());
    let path = format!(
        "{shared}/fixtures/upstream/service-definitions/current-runtime-service-definition.json"
    );
    // A missing fixture fails the test: it is never a silent skip.
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {path} is missing ({e}); set ANIP_SHARED_DIR"));
    let definition: Value = serde_json::from_str(&text).unwrap();
    let packed = bundle::pack(&definition, "compat", "0.1.0", "2026-01-01T00:00:00Z").unwrap();
    let loaded = package::load_bundle(
        &packed,
        &SharedVerifier::new(PublicKeySet::new(), true),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(loaded.service_id, "compat-primary-service");
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let served = serve(db.pool(), loaded).await;
    let flight = Flight {
        db,
        served,
        http: reqwest::Client::new(),
    };
    let (_, manifest) = flight.get("/anip/manifest").await;
    let names: Vec<&String> = manifest["capabilities"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names.len(), 3);
    assert_eq!(
        manifest["capabilities"]["compat.lookup_and_prepare"]["composition"]["steps"][0]["id"],
        "lookup"
    );
    let (status, issued) = flight
        .token_request(
            ANA_KEY,
            json!({"scope": ["compat"], "capability": "compat.lookup"}),
        )
        .await;
    assert_eq!(status, 200);
    // No backend is bound: a clear terminal failure, not a 500.
    let (status, body) = flight
        .invoke(
            issued["token"].as_str().unwrap(),
            "compat.lookup",
            json!({"query": "x"}),
        )
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (501, "backend_not_configured")
    );
    let (_, issued) = flight
        .token_request(
            ANA_KEY,
            json!({"scope": ["compat"], "capability": "compat.prepare_change"}),
        )
        .await;
    let (_, body) = flight
        .invoke(
            issued["token"].as_str().unwrap(),
            "compat.prepare_change",
            json!({"query": "x", "change_reason": "y"}),
        )
        .await;
    assert_eq!(failure_type(&body), "approval_required");
}
