//! `evaluations`, with staleness computed against the current input hashes in one query.

use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::Result;
use crate::model::Evaluation;
use crate::rules::staleness::{self, CurrentHashes};

const COLUMNS: &str = "e.id, e.project_id, e.proposal_id, e.scenario_id, e.requirements_id, \
    e.shape_id, e.result, e.source, e.data, e.input_snapshot, e.requirements_hash, \
    e.proposal_hash, e.scenario_hash, e.shape_hash, e.derived_expectations, e.created_at";

const CURRENT: &str = "rs.content_hash AS current_requirements_hash, \
    p.content_hash AS current_proposal_hash, s.content_hash AS current_scenario_hash, \
    sh.content_hash AS current_shape_hash";

const JOINS: &str = "LEFT JOIN requirements_sets rs ON rs.id = e.requirements_id \
    LEFT JOIN proposals p ON p.id = e.proposal_id \
    LEFT JOIN scenarios s ON s.id = e.scenario_id \
    LEFT JOIN shapes sh ON sh.id = e.shape_id";

fn from_row(row: &Row) -> Evaluation {
    let mut evaluation = Evaluation {
        id: row.get("id"),
        project_id: row.get("project_id"),
        proposal_id: row.get("proposal_id"),
        scenario_id: row.get("scenario_id"),
        requirements_id: row.get("requirements_id"),
        shape_id: row.get("shape_id"),
        result: row.get("result"),
        source: row.get("source"),
        data: row.get("data"),
        input_snapshot: row.get("input_snapshot"),
        requirements_hash: row.get("requirements_hash"),
        proposal_hash: row.get("proposal_hash"),
        scenario_hash: row.get("scenario_hash"),
        shape_hash: row.get("shape_hash"),
        derived_expectations: row.get("derived_expectations"),
        created_at: ts(row, "created_at"),
        is_stale: false,
        stale_artifacts: Vec::new(),
    };
    let current = CurrentHashes {
        requirements: row.get("current_requirements_hash"),
        proposal: row.get("current_proposal_hash"),
        scenario: row.get("current_scenario_hash"),
        shape: row.get("current_shape_hash"),
    };
    evaluation.stale_artifacts = staleness::stale_inputs(&evaluation, &current);
    evaluation.is_stale = !evaluation.stale_artifacts.is_empty();
    evaluation
}

/// A project's evaluations, oldest first, optionally for one scenario or shape.
pub async fn list(
    c: &impl GenericClient,
    project_id: &str,
    scenario_id: Option<&str>,
    shape_id: Option<&str>,
) -> Result<Vec<Evaluation>> {
    let rows = c
        .query(
            &format!(
                "SELECT {COLUMNS}, {CURRENT} FROM evaluations e {JOINS} \
                 WHERE e.project_id = $1 AND ($2::text IS NULL OR e.scenario_id = $2) \
                 AND ($3::text IS NULL OR e.shape_id = $3) ORDER BY e.created_at, e.id"
            ),
            &[&project_id, &scenario_id, &shape_id],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// One evaluation.
pub async fn get(c: &impl GenericClient, project_id: &str, id: &str) -> Result<Option<Evaluation>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {COLUMNS}, {CURRENT} FROM evaluations e {JOINS} \
                 WHERE e.project_id = $1 AND e.id = $2"
            ),
            &[&project_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// Inserts an evaluation exactly as given.
pub async fn insert(
    c: &impl GenericClient,
    e: &Evaluation,
    created_at: Option<OffsetDateTime>,
) -> Result<()> {
    c.execute(
        "INSERT INTO evaluations (id, project_id, proposal_id, scenario_id, requirements_id, \
         shape_id, result, source, data, input_snapshot, requirements_hash, proposal_hash, \
         scenario_hash, shape_hash, derived_expectations, created_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, COALESCE($16, now()))",
        &[
            &e.id,
            &e.project_id,
            &e.proposal_id,
            &e.scenario_id,
            &e.requirements_id,
            &e.shape_id,
            &e.result,
            &e.source,
            &e.data,
            &e.input_snapshot,
            &e.requirements_hash,
            &e.proposal_hash,
            &e.scenario_hash,
            &e.shape_hash,
            &e.derived_expectations,
            &created_at,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes an evaluation.
pub async fn delete(c: &impl GenericClient, project_id: &str, id: &str) -> Result<bool> {
    Ok(c.execute(
        "DELETE FROM evaluations WHERE project_id = $1 AND id = $2",
        &[&project_id, &id],
    )
    .await?
        == 1)
}
