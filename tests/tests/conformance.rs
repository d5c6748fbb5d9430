//! The client-side conformance suite (`anip-conformance`) against the real runtime binary
//! serving the flight example, which exercises every feature the suite checks: no check may
//! fail and none may be skipped.

#![allow(clippy::unwrap_used)]

mod common;
mod flight_runtime;

use anip_conformance::Status;
use flight_runtime::FlightRuntime;

#[tokio::test(flavor = "multi_thread")]
async fn the_flight_runtime_passes_every_conformance_check() {
    let flight = FlightRuntime::start().await;
    let report = anip_conformance::run(&flight.target()).await;
    println!("{report}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "discovery",
            "jwks",
            "manifest_signature",
            "capability_graph",
            "token_issuance",
            "delegation_narrowing",
            "permissions",
            "invoke_success",
            "failure_shapes",
            "budget_exceeded",
            "binding_max_age",
            "non_delegable",
            "audit_query",
            "checkpoint_inclusion_proof",
        ]
    );
    assert!(report.all_passed(), "{report}");
}

/// The suite reports what it finds rather than passing by default: a URL with no runtime fails
/// the first check and every check that depends on it, and the run still completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_runtime_fails_instead_of_passing() {
    let target = anip_conformance::Target {
        base_url: format!("http://127.0.0.1:{}", common::free_port()),
        bootstrap_bearer: signing::Secret::new("unused"),
        sample_inputs: serde_json::json!({}),
    };
    let report = anip_conformance::run(&target).await;
    assert_eq!(report.passed(), 0, "{report}");
    assert_eq!(report.check("discovery").unwrap().status, Status::Fail);
    assert!(!report.all_passed());
}

/// A wrong bootstrap credential is caught by the checks that need a token.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_bootstrap_credential_fails_the_token_checks() {
    let flight = FlightRuntime::start().await;
    let mut target = flight.target();
    target.bootstrap_bearer = signing::Secret::new("not-the-key");
    let report = anip_conformance::run(&target).await;
    assert_eq!(report.check("discovery").unwrap().status, Status::Pass);
    assert_eq!(
        report.check("manifest_signature").unwrap().status,
        Status::Pass
    );
    assert_eq!(report.check("token_issuance").unwrap().status, Status::Fail);
    assert_eq!(report.check("invoke_success").unwrap().status, Status::Fail);
    // The credential never appears in what the suite reports.
    assert!(!report.to_string().contains("not-the-key"), "{report}");
}
