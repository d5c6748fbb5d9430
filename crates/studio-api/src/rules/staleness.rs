//! Evaluation staleness: an evaluation freezes the content hashes of its inputs; it is stale
//! once any input's current hash differs (or the input is gone).

use crate::model::Evaluation;

/// The current content hashes of an evaluation's inputs (`None`: the input no longer exists).
#[derive(Clone, Debug, Default)]
pub struct CurrentHashes {
    /// The requirements set's hash.
    pub requirements: Option<String>,
    /// The proposal's hash (evaluations of older proposals).
    pub proposal: Option<String>,
    /// The scenario's hash.
    pub scenario: Option<String>,
    /// The shape's hash.
    pub shape: Option<String>,
}

/// Which inputs changed since the evaluation was frozen, by name.
pub fn stale_inputs(evaluation: &Evaluation, current: &CurrentHashes) -> Vec<String> {
    let mut stale = Vec::new();
    let mut check = |name: &str, frozen: &str, now: Option<&str>| {
        if now != Some(frozen) {
            stale.push(name.to_owned());
        }
    };
    check(
        "requirements",
        &evaluation.requirements_hash,
        current.requirements.as_deref(),
    );
    if evaluation.proposal_id.is_some() {
        check(
            "proposal",
            &evaluation.proposal_hash,
            current.proposal.as_deref(),
        );
    }
    check(
        "scenario",
        &evaluation.scenario_hash,
        current.scenario.as_deref(),
    );
    if evaluation.shape_id.is_some() {
        check("shape", &evaluation.shape_hash, current.shape.as_deref());
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evaluation() -> Evaluation {
        Evaluation {
            id: "e".into(),
            project_id: "p".into(),
            proposal_id: None,
            scenario_id: "s".into(),
            requirements_id: "r".into(),
            shape_id: Some("sh".into()),
            result: "HANDLED".into(),
            source: "manual".into(),
            data: json!({}),
            input_snapshot: json!({}),
            requirements_hash: "r1".into(),
            proposal_hash: String::new(),
            scenario_hash: "s1".into(),
            shape_hash: "h1".into(),
            derived_expectations: None,
            created_at: String::new(),
            is_stale: false,
            stale_artifacts: vec![],
        }
    }

    #[test]
    fn fresh_when_every_hash_matches() {
        let current = CurrentHashes {
            requirements: Some("r1".into()),
            proposal: None,
            scenario: Some("s1".into()),
            shape: Some("h1".into()),
        };
        assert!(stale_inputs(&evaluation(), &current).is_empty());
    }

    #[test]
    fn names_each_changed_or_missing_input() {
        let current = CurrentHashes {
            requirements: Some("r2".into()),
            proposal: None,
            scenario: None,
            shape: Some("h1".into()),
        };
        assert_eq!(
            stale_inputs(&evaluation(), &current),
            ["requirements", "scenario"]
        );
    }
}
