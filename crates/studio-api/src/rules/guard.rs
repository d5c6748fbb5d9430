//! The publication guard: a package may only be published from the project's current saved
//! developer revision, with a consistent contract signature and lineage. Refusals are 422s
//! whose text tells the author what to do.

use serde_json::Value;

use super::{field, first_object, object};
use crate::model::Artifact;

/// What the guard looks at, loaded by the caller.
pub struct GuardContext<'a> {
    /// The project being published.
    pub project_id: &'a str,
    /// The working definition record (`developer_definition`), if any.
    pub current_definition: Option<&'a Artifact>,
    /// The revision record the payload's `developer_revision_ref` names, if it exists.
    pub referenced_revision: Option<&'a Artifact>,
    /// The locked baseline's data, if any.
    pub baseline: Option<&'a Value>,
}

/// `studio:<id>` or `<id>` → `<id>`.
pub fn project_id_from_ref(reference: &str) -> &str {
    let reference = reference.trim();
    reference
        .strip_prefix("studio:")
        .map(str::trim)
        .unwrap_or(reference)
}

/// The lineage a payload carries (its own, or the manifest's, or the lock's).
pub fn payload_lineage(payload: &Value) -> Option<&Value> {
    first_object([
        payload.get("lineage"),
        payload.pointer("/manifest/lineage"),
        payload.pointer("/recommended_lock/lineage"),
    ])
}

/// Checks a publication payload; `Err` holds the plain-English refusal.
pub fn check(ctx: &GuardContext<'_>, payload: &Value) -> Result<(), String> {
    let project_ref = field(payload, "project_ref");
    if project_ref.is_empty() {
        return Err("project_ref is required for package publication.".into());
    }
    if project_id_from_ref(&project_ref) != project_id_from_ref(ctx.project_id) {
        return Err("project_ref must match the Studio project being published.".into());
    }
    let developer_revision_ref = field(payload, "developer_revision_ref");
    let contract_signature = field(payload, "contract_signature");
    if developer_revision_ref.is_empty() {
        return Err("developer_revision_ref is required for package publication: save the Developer Definition as a revision and publish that revision.".into());
    }
    if contract_signature.is_empty() {
        return Err("contract_signature is required for package publication.".into());
    }
    let definition_signature = payload
        .pointer("/service_definition/compiled_contract_identity/signature")
        .map(|v| super::text(Some(v)))
        .unwrap_or_default();
    if definition_signature != contract_signature {
        return Err("The service definition's own compiled contract signature differs from contract_signature; rebuild the package from the saved revision.".into());
    }

    let Some(current) = ctx.current_definition else {
        return Err("Save the Developer Definition before publishing a package.".into());
    };
    let current_revision_ref = current
        .data
        .pointer("/saved_revision/revision_artifact_id")
        .map(|v| super::text(Some(v)))
        .unwrap_or_default();
    let current_signature = current
        .data
        .pointer("/compiled_contract_identity/signature")
        .map(|v| super::text(Some(v)))
        .unwrap_or_default();
    if current_revision_ref.is_empty() {
        return Err("The current Developer Definition has no immutable saved revision; save a revision before publishing.".into());
    }
    if current_revision_ref != developer_revision_ref {
        return Err(format!(
            "Package publication selected {developer_revision_ref}, but the current saved Developer Definition points at {current_revision_ref}. Save the current draft as a new revision before publishing."
        ));
    }
    if current_signature != contract_signature {
        return Err("The package's contract_signature does not match the current saved Developer Definition signature.".into());
    }
    let Some(revision) = ctx.referenced_revision else {
        return Err(format!(
            "developer_revision_ref {developer_revision_ref:?} does not point at a saved Developer Definition revision of this project."
        ));
    };
    let revision_signature = revision
        .data
        .pointer("/compiled_contract_identity/signature")
        .map(|v| super::text(Some(v)))
        .unwrap_or_default();
    if revision_signature != contract_signature {
        return Err("The selected Developer Definition revision's signature does not match contract_signature.".into());
    }

    let lineage = payload_lineage(payload).cloned().unwrap_or(Value::Null);
    let developer = object(&lineage, "developer_revision");
    let lineage_revision = [developer.get("artifact_id"), developer.get("ref")]
        .into_iter()
        .map(super::text)
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    if !lineage_revision.is_empty() && lineage_revision != developer_revision_ref {
        return Err(
            "The package lineage's developer revision does not match developer_revision_ref."
                .into(),
        );
    }
    let lineage_signature = super::text(developer.get("contract_signature"));
    if !lineage_signature.is_empty() && lineage_signature != contract_signature {
        return Err(
            "The package lineage's developer contract signature does not match contract_signature."
                .into(),
        );
    }

    let product = object(&lineage, "product_revision");
    let lineage_product = super::text(product.get("artifact_id"));
    let definition_product = current
        .data
        .pointer("/source_inputs/product_revision_artifact_id")
        .map(|v| super::text(Some(v)))
        .unwrap_or_default();
    if !lineage_product.is_empty()
        && !definition_product.is_empty()
        && lineage_product != definition_product
    {
        return Err("The package lineage's product revision does not match the saved Developer Definition's source baseline.".into());
    }
    if let Some(baseline) = ctx.baseline {
        let baseline_product = baseline
            .pointer("/source_inputs/product_revision_artifact_id")
            .map(|v| super::text(Some(v)))
            .unwrap_or_default();
        if !lineage_product.is_empty()
            && !baseline_product.is_empty()
            && lineage_product != baseline_product
        {
            return Err("The package lineage's product revision disagrees with the locked developer baseline; re-lock the baseline or rebuild the package.".into());
        }
        let locked_at = field(baseline, "locked_at");
        let lineage_locked_at = super::text(product.get("baseline_locked_at"));
        if !lineage_locked_at.is_empty() && !locked_at.is_empty() && lineage_locked_at != locked_at
        {
            return Err("The package lineage was built against a different developer baseline than the one locked now; rebuild the package.".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn artifact(id: &str, data: Value) -> Artifact {
        Artifact {
            id: id.into(),
            project_id: "p".into(),
            title: String::new(),
            status: "frozen".into(),
            data,
            content_hash: String::new(),
            role: None,
            requirements_id: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn setup() -> (Artifact, Artifact, Value, Value) {
        let data = json!({
            "saved_revision": {"revision_artifact_id": "p-developer-definition-revision-2"},
            "compiled_contract_identity": {"signature": "abc"},
            "source_inputs": {"product_revision_artifact_id": "p-product-design-revision-1"},
        });
        let current = artifact("p-developer-definition", data.clone());
        let revision = artifact("p-developer-definition-revision-2", data);
        let baseline = json!({"locked_at": "t", "source_inputs": {"product_revision_artifact_id": "p-product-design-revision-1"}});
        let payload = json!({
            "project_ref": "studio:p",
            "developer_revision_ref": "p-developer-definition-revision-2",
            "contract_signature": "abc",
            "service_definition": {"compiled_contract_identity": {"signature": "abc"}},
            "lineage": {"developer_revision": {"artifact_id": "p-developer-definition-revision-2", "contract_signature": "abc"},
                        "product_revision": {"artifact_id": "p-product-design-revision-1", "baseline_locked_at": "t"}},
        });
        (current, revision, baseline, payload)
    }

    fn run(
        current: Option<&Artifact>,
        revision: Option<&Artifact>,
        baseline: &Value,
        payload: &Value,
    ) -> Result<(), String> {
        check(
            &GuardContext {
                project_id: "p",
                current_definition: current,
                referenced_revision: revision,
                baseline: Some(baseline),
            },
            payload,
        )
    }

    #[test]
    fn consistent_payload_passes() {
        let (c, r, b, p) = setup();
        assert_eq!(run(Some(&c), Some(&r), &b, &p), Ok(()));
    }

    #[test]
    fn each_inconsistency_is_refused_in_plain_words() {
        let (c, r, b, p) = setup();
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "must match the Studio project",
                Box::new(|p| p["project_ref"] = json!("other")),
            ),
            (
                "developer_revision_ref is required",
                Box::new(|p| p["developer_revision_ref"] = json!("")),
            ),
            (
                "contract_signature is required",
                Box::new(|p| p["contract_signature"] = json!("")),
            ),
            (
                "own compiled contract signature",
                Box::new(|p| {
                    p["service_definition"]["compiled_contract_identity"]["signature"] =
                        json!("zzz")
                }),
            ),
            (
                "points at p-developer-definition-revision-2",
                Box::new(|p| {
                    p["developer_revision_ref"] = json!("p-developer-definition-revision-1")
                }),
            ),
            (
                "lineage's developer revision",
                Box::new(|p| p["lineage"]["developer_revision"]["artifact_id"] = json!("x")),
            ),
            (
                "lineage's product revision",
                Box::new(|p| {
                    p["lineage"]["product_revision"]["artifact_id"] =
                        json!("p-product-design-revision-9")
                }),
            ),
            (
                "different developer baseline",
                Box::new(|p| {
                    p["lineage"]["product_revision"]["baseline_locked_at"] = json!("other")
                }),
            ),
        ];
        for (expected, mutate) in cases {
            let mut payload = p.clone();
            mutate(&mut payload);
            let error = run(Some(&c), Some(&r), &b, &payload).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        assert!(run(None, Some(&r), &b, &p)
            .unwrap_err()
            .contains("Save the Developer Definition"));
        assert!(run(Some(&c), None, &b, &p)
            .unwrap_err()
            .contains("does not point at a saved"));
    }
}
