//! Contract signatures of upstream-authored revisions, recomputed by Studio's compiler.
//!
//! `fixtures/upstream-contract-revisions.json` holds revisions whose recorded signature
//! upstream's own compiler reproduces: ours must reproduce every one. The two snapshots of the
//! shared fixtures record signatures that upstream's compiler does *not* reproduce from their
//! data (run on those revisions it gives the values below, as ours does), so Studio reports
//! them as drifted rather than trusting a signature nobody can recompute.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;
use studio_api::model::Project;
use studio_api::rules::contract::{self, ContractInputs};

fn project(value: &Value) -> Project {
    serde_json::from_value(value.clone()).unwrap()
}

/// The contract signature Studio's compiler gives a revision's data.
fn recompute(project_value: &Value, revision: &Value) -> String {
    let project = project(project_value);
    let document = contract::compile(&ContractInputs {
        project: &project,
        baseline: None,
        requirements: None,
        scenarios: &[],
        shape: None,
        definition: revision,
        generated_at: "2026-01-01T00:00:00.000Z",
    });
    contract::signature(&document)
}

fn recorded(revision: &Value) -> &str {
    revision["compiled_contract_identity"]["signature"]
        .as_str()
        .unwrap()
}

#[test]
fn upstream_revision_signatures_reproduce() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/upstream-contract-revisions.json"
    );
    let fixture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let revisions = fixture["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 4);
    for entry in revisions {
        let revision = &entry["data"];
        assert_eq!(
            recompute(&entry["project"], revision),
            recorded(revision),
            "{} {}",
            entry["snapshot"],
            entry["revision_id"]
        );
    }
}

/// Every revision of the shared snapshot fixtures, recomputed: the value upstream's own
/// compiler gives for the same data (run with upstream's TypeScript at commit 832f7091), which
/// is not the signature the revision records.
#[test]
fn shared_fixture_revisions_recompute_as_upstream_compiles_them() {
    let expected = [
        (
            "gitlab-fronting-showcase-0.2.0",
            "4c5c54640ea79b8da9aae2115cc0b0e56647f3f69435d34676d40ab87336e37c",
        ),
        (
            "linear-fronting-showcase-0.2.0",
            "afc4223e24ff6bd6268e37b365728d862c4af1168f547590de4b1ca5da50b88c",
        ),
    ];
    for (name, upstream_compiler) in expected {
        let snapshot = common::fixture(&format!(
            "studio-snapshots/{name}.studio-project-snapshot.json"
        ));
        let revisions: Vec<&Value> = snapshot["records"]["pm_artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| &record["data"])
            .filter(|data| data["artifact_type"] == contract::REVISION_TYPE)
            .collect();
        assert_eq!(revisions.len(), 1, "{name}");
        for revision in revisions {
            let signature = recompute(&snapshot["project"], revision);
            assert_eq!(signature, upstream_compiler, "{name}");
            assert_ne!(signature, recorded(revision), "{name}");
        }
    }
}
