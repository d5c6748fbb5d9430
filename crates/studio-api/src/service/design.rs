//! Design records: requirements sets, scenarios, shapes, evaluations, PM artifacts and
//! discovery records. Every write recomputes the content hash.

use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{check_json, check_text, project, project_for_update};
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{
    self, ArtifactStatus, EvaluationResult, EvaluationSource, PmStatus, ProjectId, RecordId,
    RequirementsRole,
};
use crate::model::{Artifact, DiscoveryRecord, Evaluation};
use crate::rules::{self, shape};
use crate::store::{
    self,
    artifacts::{Changes, Table, Updated},
    Db, GenericClient,
};

/// PM artifact types only Studio itself writes (through revision saves and publication);
/// the generic PM artifact API refuses them.
pub const MANAGED_TYPES: [&str; 3] = [
    rules::product::REVISION_TYPE,
    rules::contract::REVISION_TYPE,
    "developer_registry_publication",
];

/// Body of `POST` on requirements, scenarios and PM artifacts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArtifact {
    /// Id; generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<RecordId>,
    /// Title.
    pub title: String,
    /// Initial status (`draft` by default; PM artifacts default to `active`).
    pub status: Option<String>,
    /// Content.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Body of `POST /api/projects/{project_id}/shapes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShape {
    /// Id; generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<RecordId>,
    /// Title.
    pub title: String,
    /// The requirements set the shape answers.
    #[schema(value_type = String)]
    pub requirements_id: RecordId,
    /// Initial status.
    pub status: Option<ArtifactStatus>,
    /// The service design (`{"shape": {...}}` or the shape itself).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Body of `PUT` on a design record.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactChanges {
    /// New title.
    pub title: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// New content.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// Save only if the record's content hash is still this (else 409): two saves of the same
    /// version cannot both win.
    pub expected_content_hash: Option<String>,
}

/// Body of `PUT /api/projects/{project_id}/requirements/{id}/role`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `primary` or `alternative`.
    pub role: RequirementsRole,
}

/// Body of `POST /api/projects/{project_id}/evaluations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvaluation {
    /// Id; generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<RecordId>,
    /// Evaluated scenario.
    #[schema(value_type = String)]
    pub scenario_id: RecordId,
    /// Requirements evaluated against.
    #[schema(value_type = String)]
    pub requirements_id: RecordId,
    /// Evaluated shape.
    #[schema(value_type = Option<String>)]
    pub shape_id: Option<RecordId>,
    /// Evaluated proposal (older upstream records).
    #[schema(value_type = Option<String>)]
    pub proposal_id: Option<RecordId>,
    /// Outcome; read from `data.evaluation.result` when absent.
    pub result: Option<EvaluationResult>,
    /// Where it came from (`manual` by default).
    pub source: Option<EvaluationSource>,
    /// The evaluation.
    #[schema(value_type = Object)]
    pub data: Value,
    /// The inputs as evaluated.
    #[schema(value_type = Option<Object>)]
    pub input_snapshot: Option<Value>,
}

fn table_status(table: Table, status: Option<&str>) -> Result<Option<String>> {
    let Some(status) = status else {
        return Ok(None);
    };
    let parsed = if table == Table::PmArtifacts {
        PmStatus::parse(status).map(PmStatus::as_str)
    } else {
        ArtifactStatus::parse(status).map(ArtifactStatus::as_str)
    };
    Ok(Some(parsed?.to_owned()))
}

fn check_data(data: &Value) -> Result<()> {
    if !data.is_object() {
        return Err(Error::Unprocessable("data must be a JSON object".into()));
    }
    check_json("data", data)
}

fn check_title(title: &str) -> Result<()> {
    if title.trim().is_empty() {
        return Err(Error::Unprocessable("title must not be empty".into()));
    }
    check_text("title", title, 500)
}

fn artifact_type(data: &Value) -> String {
    rules::field(data, "artifact_type")
}

fn refuse_managed(data: &Value) -> Result<()> {
    let kind = artifact_type(data);
    if MANAGED_TYPES.contains(&kind.as_str()) {
        return Err(Error::Conflict(format!(
            "{kind} records are written by Studio itself (save a revision or publish instead) and are immutable."
        )));
    }
    Ok(())
}

/// A project's records of one kind.
pub async fn list(db: &Db, table: Table, project_id: &ProjectId) -> Result<Vec<Artifact>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    store::artifacts::list(&client, table, project_id.as_str()).await
}

/// One record.
pub async fn get(db: &Db, table: Table, project_id: &ProjectId, id: &RecordId) -> Result<Artifact> {
    store::artifacts::get(&db.client().await?, table, project_id.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found(table.noun(), id.as_str()))
}

async fn check_reference(
    c: &impl GenericClient,
    table: Table,
    project_id: &str,
    id: &str,
) -> Result<()> {
    match store::artifacts::owner(c, table, id).await? {
        None => Err(Error::not_found(table.noun(), id)),
        Some(owner) if owner != project_id => Err(Error::Unprocessable(format!(
            "{} {id:?} belongs to another project",
            table.noun()
        ))),
        Some(_) => Ok(()),
    }
}

/// Creates a requirements set, scenario, shape or PM artifact.
pub async fn create(
    db: &Db,
    table: Table,
    project_id: &ProjectId,
    body: NewArtifact,
    requirements_id: Option<&RecordId>,
) -> Result<Artifact> {
    check_title(&body.title)?;
    check_data(&body.data)?;
    if table == Table::PmArtifacts {
        refuse_managed(&body.data)?;
    }
    if table == Table::Shapes {
        let errors = shape::integrity_errors(&body.data);
        if !errors.is_empty() {
            return Err(Error::Unprocessable(format!(
                "Shape integrity errors: {}",
                errors.join("; ")
            )));
        }
    }
    let default_status = if table == Table::PmArtifacts {
        "active"
    } else {
        "draft"
    };
    let status =
        table_status(table, body.status.as_deref())?.unwrap_or_else(|| default_status.to_owned());
    let prefix = match table {
        Table::Requirements => "req",
        Table::Scenarios => "scn",
        Table::Shapes => "shape",
        Table::Proposals => "proposal",
        Table::ServiceMetadata => "service-metadata",
        Table::PmArtifacts => "pm-artifact",
    };
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    project_for_update(&tx, project_id.as_str()).await?;
    if let Some(requirements) = requirements_id {
        check_reference(
            &tx,
            Table::Requirements,
            project_id.as_str(),
            requirements.as_str(),
        )
        .await?;
    }
    let role = if table == Table::Requirements {
        let has = store::artifacts::has_primary(&tx, project_id.as_str()).await?;
        Some(if has { "alternative" } else { "primary" }.to_owned())
    } else {
        None
    };
    let artifact = Artifact {
        id: body
            .id
            .map(|i| i.as_str().to_owned())
            .unwrap_or_else(|| ids::new_id(prefix)),
        project_id: project_id.as_str().to_owned(),
        title: body.title.trim().to_owned(),
        status,
        content_hash: hashing::content_hash(&body.data),
        data: body.data,
        role,
        requirements_id: requirements_id.map(|r| r.as_str().to_owned()),
        created_at: String::new(),
        updated_at: String::new(),
    };
    store::artifacts::insert(&tx, table, &artifact, None, None).await?;
    store::projects::touch(&tx, project_id.as_str()).await?;
    let stored = store::artifacts::get(&tx, table, project_id.as_str(), &artifact.id)
        .await?
        .ok_or_else(|| Error::Internal("record vanished after insert".into()))?;
    tx.commit().await?;
    Ok(stored)
}

/// Changes a record's title, status or data (content hash recomputed; optimistic check).
pub async fn update(
    db: &Db,
    table: Table,
    project_id: &ProjectId,
    id: &RecordId,
    body: ArtifactChanges,
) -> Result<Artifact> {
    if let Some(title) = &body.title {
        check_title(title)?;
    }
    if let Some(data) = &body.data {
        check_data(data)?;
        if table == Table::Shapes {
            let errors = shape::integrity_errors(data);
            if !errors.is_empty() {
                return Err(Error::Unprocessable(format!(
                    "Shape integrity errors: {}",
                    errors.join("; ")
                )));
            }
        }
    }
    let status = table_status(table, body.status.as_deref())?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    if table == Table::PmArtifacts {
        if let Some(current) =
            store::artifacts::get(&tx, table, project_id.as_str(), id.as_str()).await?
        {
            refuse_managed(&current.data)?;
        }
        if let Some(data) = &body.data {
            refuse_managed(data)?;
        }
    }
    let hash = body.data.as_ref().map(hashing::content_hash);
    let changes = Changes {
        title: body.title.as_deref().map(str::trim),
        status: status.as_deref(),
        data: body.data.as_ref().zip(hash.as_deref()),
        expected_hash: body.expected_content_hash.as_deref(),
    };
    let updated = match store::artifacts::update(&tx, table, project_id.as_str(), id.as_str(), &changes).await? {
        Updated::Done(artifact) => *artifact,
        Updated::Missing => return Err(Error::not_found(table.noun(), id.as_str())),
        Updated::Stale(current) => {
            return Err(Error::Conflict(format!(
                "The {} changed since you loaded it (its content hash is now {current}); reload and apply your change again.",
                table.noun()
            )))
        }
    };
    store::projects::touch(&tx, project_id.as_str()).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a record unless other records still depend on it (409 naming them).
pub async fn delete(db: &Db, table: Table, project_id: &ProjectId, id: &RecordId) -> Result<()> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let Some(current) = store::artifacts::get(&tx, table, project_id.as_str(), id.as_str()).await?
    else {
        return Err(Error::not_found(table.noun(), id.as_str()));
    };
    if table == Table::PmArtifacts {
        refuse_managed(&current.data)?;
    }
    let blockers: &[(&'static str, &'static str)] = match table {
        Table::Requirements => &[
            ("shapes", "requirements_id"),
            ("proposals", "requirements_id"),
            ("evaluations", "requirements_id"),
        ],
        Table::Scenarios => &[("evaluations", "scenario_id")],
        Table::Shapes => &[("evaluations", "shape_id")],
        Table::Proposals => &[("evaluations", "proposal_id")],
        _ => &[],
    };
    for (other, column) in blockers {
        let refs = store::artifacts::referencing(&tx, other, column, id.as_str()).await?;
        if !refs.is_empty() {
            return Err(Error::Conflict(format!(
                "Cannot delete {} {:?}: {other} {} still refer to it; delete them first.",
                table.noun(),
                id.as_str(),
                refs.join(", ")
            )));
        }
    }
    store::artifacts::delete(&tx, table, project_id.as_str(), id.as_str()).await?;
    store::projects::touch(&tx, project_id.as_str()).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes a requirements set the primary one (demoting the current) or an alternative.
pub async fn set_role(
    db: &Db,
    project_id: &ProjectId,
    id: &RecordId,
    role: RequirementsRole,
) -> Result<Artifact> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    project_for_update(&tx, project_id.as_str()).await?;
    if !store::artifacts::set_role(&tx, project_id.as_str(), id.as_str(), role.as_str()).await? {
        return Err(Error::not_found("requirements set", id.as_str()));
    }
    let updated = store::artifacts::get(&tx, Table::Requirements, project_id.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("requirements set", id.as_str()))?;
    tx.commit().await?;
    Ok(updated)
}

/// A project's evaluations with staleness.
pub async fn evaluations(
    db: &Db,
    project_id: &ProjectId,
    scenario: Option<&RecordId>,
    shape: Option<&RecordId>,
) -> Result<Vec<Evaluation>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    store::evaluations::list(
        &client,
        project_id.as_str(),
        scenario.map(RecordId::as_str),
        shape.map(RecordId::as_str),
    )
    .await
}

/// One evaluation with staleness.
pub async fn evaluation(db: &Db, project_id: &ProjectId, id: &RecordId) -> Result<Evaluation> {
    store::evaluations::get(&db.client().await?, project_id.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("evaluation", id.as_str()))
}

/// Records an evaluation, freezing the current content hashes of its inputs.
pub async fn create_evaluation(
    db: &Db,
    project_id: &ProjectId,
    body: NewEvaluation,
) -> Result<Evaluation> {
    check_data(&body.data)?;
    let input_snapshot = body.input_snapshot.unwrap_or_else(|| json!({}));
    check_json("input_snapshot", &input_snapshot)?;
    let result = match body.result {
        Some(result) => result,
        None => {
            let stated = body
                .data
                .pointer("/evaluation/result")
                .or_else(|| body.data.get("result"))
                .map(|v| rules::text(Some(v)))
                .unwrap_or_default();
            if stated.is_empty() {
                EvaluationResult::RequiresGlue
            } else {
                EvaluationResult::parse(&stated)?
            }
        }
    };
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    project_for_update(&tx, project_id.as_str()).await?;
    let pid = project_id.as_str();
    let requirements_hash =
        input_hash(&tx, Table::Requirements, pid, &body.requirements_id).await?;
    let scenario_hash = input_hash(&tx, Table::Scenarios, pid, &body.scenario_id).await?;
    let shape_hash = match &body.shape_id {
        Some(id) => input_hash(&tx, Table::Shapes, pid, id).await?,
        None => String::new(),
    };
    let proposal_hash = match &body.proposal_id {
        Some(id) => input_hash(&tx, Table::Proposals, pid, id).await?,
        None => String::new(),
    };
    let evaluation = Evaluation {
        id: body
            .id
            .map(|i| i.as_str().to_owned())
            .unwrap_or_else(|| ids::new_id("evaluation")),
        project_id: pid.to_owned(),
        proposal_id: body.proposal_id.map(|i| i.as_str().to_owned()),
        scenario_id: body.scenario_id.as_str().to_owned(),
        requirements_id: body.requirements_id.as_str().to_owned(),
        shape_id: body.shape_id.map(|i| i.as_str().to_owned()),
        result: result.as_str().to_owned(),
        source: body
            .source
            .unwrap_or(EvaluationSource::Manual)
            .as_str()
            .to_owned(),
        data: body.data,
        input_snapshot,
        requirements_hash,
        proposal_hash,
        scenario_hash,
        shape_hash,
        derived_expectations: None,
        created_at: String::new(),
        is_stale: false,
        stale_artifacts: Vec::new(),
    };
    store::evaluations::insert(&tx, &evaluation, None).await?;
    store::projects::touch(&tx, pid).await?;
    let stored = store::evaluations::get(&tx, pid, &evaluation.id)
        .await?
        .ok_or_else(|| Error::Internal("evaluation vanished after insert".into()))?;
    tx.commit().await?;
    Ok(stored)
}

/// The current content hash of an evaluation input of this project.
async fn input_hash(
    c: &impl GenericClient,
    table: Table,
    project_id: &str,
    id: &RecordId,
) -> Result<String> {
    check_reference(c, table, project_id, id.as_str()).await?;
    let record = store::artifacts::get(c, table, project_id, id.as_str())
        .await?
        .ok_or_else(|| Error::not_found(table.noun(), id.as_str()))?;
    Ok(record.content_hash)
}

/// Deletes an evaluation.
pub async fn delete_evaluation(db: &Db, project_id: &ProjectId, id: &RecordId) -> Result<()> {
    if !store::evaluations::delete(&db.client().await?, project_id.as_str(), id.as_str()).await? {
        return Err(Error::not_found("evaluation", id.as_str()));
    }
    Ok(())
}

/// A project's discovery records.
pub async fn discovery_records(db: &Db, project_id: &ProjectId) -> Result<Vec<DiscoveryRecord>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    store::connections::list_records(&client, project_id.as_str()).await
}
