//! Product design: the six sections and the immutable revisions that freeze them.

use serde_json::{json, Value};

use crate::ids::SectionKey;
use crate::model::Artifact;

/// `artifact_type` of a frozen product design revision.
pub const REVISION_TYPE: &str = "product_design_revision";

/// The record id of a project's section (upstream's convention).
pub fn section_id(project_id: &str, key: SectionKey) -> String {
    format!("{project_id}-{}", key.as_str())
}

/// The record id of a product design revision.
pub fn revision_id(project_id: &str, number: i64) -> String {
    format!("{project_id}-product-design-revision-{number}")
}

/// A section's stored data: the given object with `artifact_type` set to the section key.
pub fn section_data(key: SectionKey, mut data: Value) -> Result<Value, String> {
    let Some(map) = data.as_object_mut() else {
        return Err(format!(
            "the {} section must be a JSON object",
            key.as_str()
        ));
    };
    map.insert("artifact_type".to_owned(), json!(key.as_str()));
    Ok(data)
}

/// The section records among a project's PM artifacts, by section order.
pub fn sections(pm_artifacts: &[Artifact]) -> Vec<&Artifact> {
    let mut found: Vec<&Artifact> = pm_artifacts
        .iter()
        .filter(|a| {
            a.data
                .get("artifact_type")
                .and_then(Value::as_str)
                .is_some_and(|t| SectionKey::parse(t).is_ok())
        })
        .collect();
    found.sort_by_key(|a| {
        a.data
            .get("artifact_type")
            .and_then(Value::as_str)
            .and_then(|t| SectionKey::parse(t).ok())
            .and_then(|k| SectionKey::ALL.iter().position(|x| *x == k))
    });
    found
}

fn artifact_type(a: &Artifact) -> &str {
    a.data
        .get("artifact_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The product design hash upstream pins baselines to:
/// `type:id:content_hash` of every section, sorted by type, joined with `|`.
pub fn design_hash(sections: &[&Artifact]) -> String {
    let mut parts: Vec<String> = sections
        .iter()
        .map(|a| format!("{}:{}:{}", artifact_type(a), a.id, a.content_hash))
        .collect();
    parts.sort();
    parts.join("|")
}

/// `updated_at` inside a revision snapshot: the record's timestamp with `Z` for `+00:00`.
fn snapshot_time(updated_at: &str) -> String {
    updated_at
        .strip_suffix("+00:00")
        .map(|t| format!("{t}Z"))
        .unwrap_or_else(|| updated_at.to_owned())
}

/// The data of product design revision `number`: every section frozen as it is now.
pub fn revision_data(
    project_id: &str,
    number: i64,
    previous_revision_id: Option<&str>,
    sections: &[&Artifact],
    saved_at: &str,
) -> Value {
    let mut ordered: Vec<&&Artifact> = sections.iter().collect();
    ordered.sort_by(|a, b| artifact_type(a).cmp(artifact_type(b)));
    let snapshot: Vec<Value> = ordered
        .iter()
        .map(|a| {
            json!({
                "artifact_id": a.id,
                "artifact_type": artifact_type(a),
                "content_hash": a.content_hash,
                "data": a.data,
                "title": a.title,
                "updated_at": snapshot_time(&a.updated_at),
            })
        })
        .collect();
    json!({
        "artifact_type": REVISION_TYPE,
        "previous_revision_artifact_id": previous_revision_id,
        "product_design_hash": design_hash(sections),
        "revision_artifact_id": revision_id(project_id, number),
        "revision_number": number,
        "saved_at": saved_at,
        "snapshot": snapshot,
    })
}

/// The revision number recorded in a product revision's data.
pub fn revision_number(data: &Value) -> Option<i64> {
    data.get("revision_number").and_then(Value::as_i64)
}

/// Whether the current sections differ from what a revision froze.
pub fn differs_from_revision(sections: &[&Artifact], revision: &Value) -> bool {
    revision.get("product_design_hash").and_then(Value::as_str)
        != Some(design_hash(sections).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(key: SectionKey, hash: &str) -> Artifact {
        Artifact {
            id: section_id("p", key),
            project_id: "p".into(),
            title: key.title().into(),
            status: "active".into(),
            data: json!({"artifact_type": key.as_str()}),
            content_hash: hash.into(),
            role: None,
            requirements_id: None,
            created_at: "2026-01-01T00:00:00+00:00".into(),
            updated_at: "2026-01-01T00:00:00.000001+00:00".into(),
        }
    }

    #[test]
    fn design_hash_sorts_by_type() {
        let a = section(SectionKey::ProductSummary, "h1");
        let b = section(SectionKey::ActorModel, "h2");
        assert_eq!(
            design_hash(&[&a, &b]),
            "actor_model:p-actor_model:h2|product_summary:p-product_summary:h1"
        );
    }

    #[test]
    fn revision_freezes_sections() {
        let a = section(SectionKey::ProductSummary, "h1");
        let data = revision_data("p", 2, Some("p-product-design-revision-1"), &[&a], "now");
        assert_eq!(data["revision_artifact_id"], "p-product-design-revision-2");
        assert_eq!(
            data["snapshot"][0]["updated_at"],
            "2026-01-01T00:00:00.000001Z"
        );
        assert_eq!(revision_number(&data), Some(2));
        assert!(!differs_from_revision(&[&a], &data));
        let changed = section(SectionKey::ProductSummary, "h9");
        assert!(differs_from_revision(&[&changed], &data));
    }

    #[test]
    fn section_data_must_be_an_object() {
        assert!(section_data(SectionKey::NonGoals, json!([1])).is_err());
        assert_eq!(
            section_data(SectionKey::NonGoals, json!({"entries": []})).unwrap()["artifact_type"],
            "non_goals"
        );
    }
}
