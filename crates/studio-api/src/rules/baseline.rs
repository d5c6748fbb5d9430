//! The developer baseline: a locked handoff pinned to one product revision and the hashes of
//! the requirements, scenarios and shape the developer works from.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{array, field, object};
use crate::model::Artifact;

/// `artifact_type` of the baseline record.
pub const BASELINE_TYPE: &str = "developer_baseline";

/// The record id of a project's baseline.
pub fn baseline_id(project_id: &str) -> String {
    format!("{project_id}-developer-baseline")
}

/// `id:content_hash` of every scenario, sorted, joined with `|` (upstream's scenario set hash).
pub fn scenario_set_hash(scenarios: &[&Artifact]) -> String {
    let mut parts: Vec<String> = scenarios
        .iter()
        .map(|s| format!("{}:{}", s.id, s.content_hash))
        .collect();
    parts.sort();
    parts.join("|")
}

/// What a baseline pins.
pub struct BaselineInputs<'a> {
    /// The product revision record.
    pub product_revision: &'a Artifact,
    /// The requirements set, if any.
    pub requirements: Option<&'a Artifact>,
    /// The scenarios, in the order the developer should read them (the first is primary).
    pub scenarios: Vec<&'a Artifact>,
    /// The shape, if any.
    pub shape: Option<&'a Artifact>,
}

/// The baseline's data.
pub fn baseline_data(inputs: &BaselineInputs<'_>, note: &str, locked_at: &str) -> Value {
    let revision = &inputs.product_revision.data;
    json!({
        "artifact_type": BASELINE_TYPE,
        "locked_at": locked_at,
        "note": note,
        "source_inputs": {
            "primary_scenario_id": inputs.scenarios.first().map(|s| s.id.clone()),
            "product_design_hash": revision.get("product_design_hash"),
            "product_revision_artifact_id": inputs.product_revision.id,
            "product_revision_number": revision.get("revision_number"),
            "requirements_hash": inputs.requirements.map(|r| r.content_hash.clone()),
            "requirements_id": inputs.requirements.map(|r| r.id.clone()),
            "scenario_ids": inputs.scenarios.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            "scenario_set_hash": scenario_set_hash(&inputs.scenarios),
            "shape_hash": inputs.shape.map(|s| s.content_hash.clone()),
            "shape_id": inputs.shape.map(|s| s.id.clone()),
        },
    })
}

/// One way the project moved on since the baseline was locked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Drift {
    /// What moved: `product_revision`, `requirements`, `scenarios` or `shape`.
    pub input: String,
    /// In plain words.
    pub message: String,
}

/// What changed since the baseline: a newer product revision, or changed requirements,
/// scenarios or shape. Empty when the baseline still describes the project.
pub fn drift(
    baseline: &Value,
    latest_product_revision: Option<&Artifact>,
    requirements: &[Artifact],
    scenarios: &[Artifact],
    shapes: &[Artifact],
) -> Vec<Drift> {
    let inputs = baseline
        .get("source_inputs")
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = Vec::new();
    let mut push = |input: &str, message: String| {
        out.push(Drift {
            input: input.to_owned(),
            message,
        })
    };

    let pinned_revision = field(&inputs, "product_revision_artifact_id");
    if let Some(latest) = latest_product_revision {
        if !pinned_revision.is_empty() && latest.id != pinned_revision {
            push(
                "product_revision",
                format!(
                    "Product design revision {} was saved after the baseline (pinned to {pinned_revision}); re-lock the baseline to hand it over.",
                    latest.data.get("revision_number").cloned().unwrap_or(Value::Null)
                ),
            );
        }
    }

    let requirements_id = field(&inputs, "requirements_id");
    if !requirements_id.is_empty() {
        match requirements.iter().find(|r| r.id == requirements_id) {
            None => push(
                "requirements",
                format!("Requirements set {requirements_id} no longer exists."),
            ),
            Some(r) if r.content_hash != field(&inputs, "requirements_hash") => push(
                "requirements",
                format!(
                    "Requirements set {requirements_id} changed after the baseline was locked."
                ),
            ),
            Some(_) => {}
        }
    }

    let ids: Vec<String> = array(&inputs, "scenario_ids")
        .iter()
        .map(|v| super::text(Some(v)))
        .collect();
    if !ids.is_empty() {
        let pinned: Vec<&Artifact> = scenarios.iter().filter(|s| ids.contains(&s.id)).collect();
        if pinned.len() != ids.len() {
            push(
                "scenarios",
                "A scenario in the baseline no longer exists.".to_owned(),
            );
        } else if scenario_set_hash(&pinned) != field(&inputs, "scenario_set_hash") {
            push(
                "scenarios",
                "A scenario in the baseline changed after it was locked.".to_owned(),
            );
        }
    }

    let shape_id = field(&inputs, "shape_id");
    if !shape_id.is_empty() {
        match shapes.iter().find(|s| s.id == shape_id) {
            None => push("shape", format!("Shape {shape_id} no longer exists.")),
            Some(s) if s.content_hash != field(&inputs, "shape_hash") => push(
                "shape",
                format!("Shape {shape_id} changed after the baseline was locked."),
            ),
            Some(_) => {}
        }
    }
    out
}

/// The `source_inputs` a developer definition records: the baseline's, plus when it was locked.
pub fn definition_source_inputs(baseline: &Value) -> Value {
    let mut inputs = object(baseline, "source_inputs").clone();
    inputs.insert(
        "baseline_locked_at".to_owned(),
        json!(field(baseline, "locked_at")),
    );
    Value::Object(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, hash: &str, data: Value) -> Artifact {
        Artifact {
            id: id.into(),
            project_id: "p".into(),
            title: id.into(),
            status: "draft".into(),
            data,
            content_hash: hash.into(),
            role: None,
            requirements_id: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn scenario_set_hash_sorts_by_id() {
        let a = record("scn-b", "2", json!({}));
        let b = record("scn-a", "1", json!({}));
        assert_eq!(scenario_set_hash(&[&a, &b]), "scn-a:1|scn-b:2");
    }

    #[test]
    fn drift_reports_each_moved_input() {
        let revision = record(
            "p-product-design-revision-1",
            "x",
            json!({"revision_number": 1, "product_design_hash": "h"}),
        );
        let req = record("req", "r1", json!({}));
        let scn = record("scn", "s1", json!({}));
        let inputs = BaselineInputs {
            product_revision: &revision,
            requirements: Some(&req),
            scenarios: vec![&scn],
            shape: None,
        };
        let baseline = baseline_data(&inputs, "", "2026-01-01T00:00:00.000Z");
        assert_eq!(baseline["source_inputs"]["primary_scenario_id"], "scn");
        assert!(drift(
            &baseline,
            Some(&revision),
            std::slice::from_ref(&req),
            std::slice::from_ref(&scn),
            &[]
        )
        .is_empty());

        let newer = record(
            "p-product-design-revision-2",
            "y",
            json!({"revision_number": 2}),
        );
        let changed_req = record("req", "r2", json!({}));
        let found = drift(&baseline, Some(&newer), &[changed_req], &[], &[]);
        let kinds: Vec<&str> = found.iter().map(|d| d.input.as_str()).collect();
        assert_eq!(kinds, ["product_revision", "requirements", "scenarios"]);
    }
}
