//! Every declarative scenario in `examples/flight-service/scenarios/` against the real runtime
//! binary serving the flight example, plus the runner's own behaviour on a failing step.

#![allow(clippy::unwrap_used)]

mod common;
mod flight_runtime;

use anip_conformance::scenario;
use flight_runtime::{scenarios_dir, FlightRuntime};

#[tokio::test(flavor = "multi_thread")]
async fn every_flight_scenario_passes_against_the_runtime() {
    let flight = FlightRuntime::start().await;
    let target = flight.target();
    let files = scenario::files_in(&scenarios_dir()).unwrap();
    assert!(files.len() >= 3, "scenario files: {files:?}");
    for file in files {
        let report = scenario::run_file(&target, &file).await.unwrap();
        for step in &report.steps {
            println!(
                "{} {} — {}",
                if step.passed { "ok  " } else { "FAIL" },
                step.name,
                step.detail
            );
        }
        assert!(
            report.passed(),
            "{}: {:?}",
            file.display(),
            report.failure().map(|s| (&s.name, &s.detail))
        );
    }
}

/// A step whose expectation does not hold fails the scenario at that step, names what it
/// expected, and stops (later steps depend on its captures).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_expectation_stops_the_scenario_and_says_why() {
    let flight = FlightRuntime::start().await;
    let scenario: scenario::Scenario = serde_json::from_value(serde_json::json!({
        "scenario": "anip-scenario/v1",
        "name": "wrong expectation",
        "service_id": "flight-service",
        "steps": [
            {"name": "token", "request": {"method": "POST", "path": "/anip/tokens", "bearer": "${bootstrap}",
                "body": {"scope": ["travel.search"], "capability": "search_flights"}},
             "expect": {"status": 200}, "capture": {"jwt": "/token"}},
            {"name": "a search that is not a booking",
             "request": {"method": "POST", "path": "/anip/invoke/search_flights", "bearer": "${jwt}",
                "body": {"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}}},
             "expect": {"failure_type": "budget_exceeded"}},
            {"name": "never reached", "request": {"path": "/.well-known/anip"}}
        ]
    }))
    .unwrap();
    let report = scenario::run(&flight.target(), &scenario).await.unwrap();
    assert!(!report.passed());
    assert_eq!(report.steps.len(), 2);
    let failed = report.failure().unwrap();
    assert_eq!(failed.name, "a search that is not a booking");
    assert!(
        failed.detail.contains("expected a failure"),
        "{}",
        failed.detail
    );
    // The bootstrap credential is redacted from every detail.
    assert!(report
        .steps
        .iter()
        .all(|s| !s.detail.contains(flight_runtime::BOOTSTRAP_KEY)));

    // A scenario for another service is skipped, not passed.
    let mut other = scenario.clone();
    other.service_id = Some("hotel-service".into());
    let report = scenario::run(&flight.target(), &other).await.unwrap();
    assert!(report.skipped.is_some() && !report.passed());
}

#[test]
fn malformed_scenario_files_are_refused_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("anip-scenarios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.scenario.json");
    std::fs::write(&path, r#"{"scenario": "anip-scenario/v1", "name": "x", "steps": [{"name": "s", "request": {"path": "no-slash"}}]}"#).unwrap();
    let error = scenario::load(&path).unwrap_err().to_string();
    assert!(error.contains("path must start with /"), "{error}");
    std::fs::write(
        &path,
        r#"{"scenario": "anip-scenario/v1", "name": "x", "steps": [], "extra": 1}"#,
    )
    .unwrap();
    let error = scenario::load(&path).unwrap_err().to_string();
    assert!(error.contains("unknown field"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
