//! The developer side: lock the baseline, edit the definition, freeze revisions with their
//! contract signature, compile the contract and build packages.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{check_json, project, project_for_update};
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{PackageId, PackageVersion, ProjectId, RecordId};
use crate::model::{Artifact, Project};
use crate::rules::{
    self, baseline, contract,
    definition::{self, Finding, Severity},
    package, product,
};
use crate::store::{self, artifacts::Table, Db, GenericClient};
use crate::timefmt;

/// The baseline with how far the project has moved since.
#[derive(Debug, Serialize, ToSchema)]
pub struct BaselineView {
    /// The locked baseline, if any.
    pub baseline: Option<Artifact>,
    /// What changed since it was locked.
    pub drift: Vec<baseline::Drift>,
}

/// Body of `POST /api/projects/{project_id}/developer/baseline`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockBody {
    /// The product revision to pin; the latest when absent.
    pub product_revision_number: Option<i64>,
    /// The requirements set; the primary one when absent.
    #[schema(value_type = Option<String>)]
    pub requirements_id: Option<RecordId>,
    /// The scenarios, first one primary; every non-archived scenario when absent.
    #[schema(value_type = Option<Vec<String>>)]
    pub scenario_ids: Option<Vec<RecordId>>,
    /// The shape; the latest non-archived one when absent.
    #[schema(value_type = Option<String>)]
    pub shape_id: Option<RecordId>,
    /// A note for the developer.
    #[serde(default)]
    pub note: String,
    /// When re-locking: the `locked_at` of the baseline being replaced (else 409).
    pub expected_locked_at: Option<String>,
}

/// The definition with its findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionView {
    /// The working definition, if written.
    pub definition: Option<Artifact>,
    /// Its validation findings (blockers first).
    pub findings: Vec<Finding>,
    /// The latest frozen revision.
    pub latest_revision: Option<Artifact>,
    /// Whether the working definition differs from the latest revision.
    pub unsaved_changes: bool,
    /// How the project moved since the baseline.
    pub baseline_drift: Vec<baseline::Drift>,
}

/// Body of `PUT /api/projects/{project_id}/developer/definition`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionBody {
    /// The definition (a JSON object). `source_inputs`, `saved_revision`, `saved_at` and
    /// `compiled_contract_identity` are managed by Studio and ignored here.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Save only if the definition's content hash is still this (`""`: not written yet).
    pub expected_content_hash: Option<String>,
}

/// Body of `POST /api/projects/{project_id}/developer/definition/revisions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveDefinitionRevisionBody {
    /// The revision the author's view is based on (`null` for none); 409 when another save
    /// got there first.
    #[serde(default, deserialize_with = "crate::service::present")]
    #[schema(value_type = Option<i64>)]
    pub expected_previous_revision: Option<Option<i64>>,
    /// Skip the check above.
    #[serde(default)]
    pub force: bool,
}

/// A saved developer revision.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedRevision {
    /// The frozen revision record.
    pub revision: Artifact,
    /// Its contract signature.
    pub signature: String,
    /// Findings of the frozen definition.
    pub findings: Vec<Finding>,
}

/// A package built from the latest saved revision.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackagePreview {
    /// The Registry publish request (manifest, service definition, lock, readme, lineage...).
    #[schema(value_type = Object)]
    pub request: Value,
    /// Findings; blockers and warnings keep it from being published locally.
    pub findings: Vec<Finding>,
    /// Whether it can be published (no blockers, no warnings).
    pub publishable: bool,
}

/// Keys of a definition that Studio manages.
const MANAGED_KEYS: [&str; 5] = [
    "source_inputs",
    "saved_revision",
    "saved_at",
    "compiled_contract_identity",
    "artifact_type",
];

fn authored(data: &Value) -> Value {
    let mut map = data.as_object().cloned().unwrap_or_default();
    for key in MANAGED_KEYS {
        map.remove(key);
    }
    Value::Object(map)
}

async fn pm(c: &impl GenericClient, project_id: &str, id: &str) -> Result<Option<Artifact>> {
    store::artifacts::get(c, Table::PmArtifacts, project_id, id).await
}

async fn drift_of(
    c: &impl GenericClient,
    project_id: &str,
    baseline_data: &Value,
) -> Result<Vec<baseline::Drift>> {
    let latest = store::artifacts::latest_revision(c, project_id, product::REVISION_TYPE).await?;
    let requirements = store::artifacts::list(c, Table::Requirements, project_id).await?;
    let scenarios = store::artifacts::list(c, Table::Scenarios, project_id).await?;
    let shapes = store::artifacts::list(c, Table::Shapes, project_id).await?;
    Ok(baseline::drift(
        baseline_data,
        latest.as_ref(),
        &requirements,
        &scenarios,
        &shapes,
    ))
}

/// The baseline and its drift.
pub async fn baseline_view(db: &Db, project_id: &ProjectId) -> Result<BaselineView> {
    let client = db.client().await?;
    let pid = project(&client, project_id.as_str()).await?.id;
    let record = pm(&client, &pid, &baseline::baseline_id(&pid)).await?;
    let drift = match &record {
        Some(b) => drift_of(&client, &pid, &b.data).await?,
        None => Vec::new(),
    };
    Ok(BaselineView {
        baseline: record,
        drift,
    })
}

/// Locks (or re-locks) the developer baseline.
pub async fn lock_baseline(db: &Db, project_id: &ProjectId, body: LockBody) -> Result<Artifact> {
    super::check_text("note", &body.note, 10_000)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let pid = project_for_update(&tx, project_id.as_str()).await?.id;
    let id = baseline::baseline_id(&pid);
    if let Some(existing) = pm(&tx, &pid, &id).await? {
        let locked_at = rules::field(&existing.data, "locked_at");
        if body.expected_locked_at.as_deref() != Some(locked_at.as_str()) {
            return Err(Error::Conflict(format!(
                "The baseline is already locked (at {locked_at}); pass expected_locked_at to re-lock it."
            )));
        }
    }
    let revision = match body.product_revision_number {
        Some(n) => store::artifacts::revision(&tx, &pid, product::REVISION_TYPE, n)
            .await?
            .ok_or_else(|| Error::NotFound(format!("product design revision {n} not found")))?,
        None => store::artifacts::latest_revision(&tx, &pid, product::REVISION_TYPE)
            .await?
            .ok_or_else(|| {
                Error::Unprocessable(
                    "Save a product design revision before locking the baseline.".into(),
                )
            })?,
    };
    let requirements = store::artifacts::list(&tx, Table::Requirements, &pid).await?;
    let requirement = match &body.requirements_id {
        Some(id) => Some(
            requirements
                .iter()
                .find(|r| r.id == id.as_str())
                .ok_or_else(|| Error::not_found("requirements set", id.as_str()))?,
        ),
        None => requirements
            .iter()
            .find(|r| r.role.as_deref() == Some("primary")),
    };
    let scenarios = store::artifacts::list(&tx, Table::Scenarios, &pid).await?;
    let chosen: Vec<&Artifact> = match &body.scenario_ids {
        Some(ids) => ids
            .iter()
            .map(|id| {
                scenarios
                    .iter()
                    .find(|s| s.id == id.as_str())
                    .ok_or_else(|| Error::not_found("scenario", id.as_str()))
            })
            .collect::<Result<_>>()?,
        None => scenarios
            .iter()
            .filter(|s| s.status != "archived")
            .collect(),
    };
    let shapes = store::artifacts::list(&tx, Table::Shapes, &pid).await?;
    let shape = match &body.shape_id {
        Some(id) => Some(
            shapes
                .iter()
                .find(|s| s.id == id.as_str())
                .ok_or_else(|| Error::not_found("shape", id.as_str()))?,
        ),
        None => shapes.iter().rev().find(|s| s.status != "archived"),
    };
    let data = baseline::baseline_data(
        &baseline::BaselineInputs {
            product_revision: &revision,
            requirements: requirement,
            scenarios: chosen,
            shape,
        },
        &body.note,
        &timefmt::now_js(),
    );
    let record = Artifact {
        id: id.clone(),
        project_id: pid.clone(),
        title: "Developer Baseline".into(),
        status: "frozen".into(),
        content_hash: hashing::content_hash(&data),
        data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    let stored = store::artifacts::upsert_pm(&tx, &record)
        .await?
        .ok_or_else(|| Error::Conflict(format!("Record id {id:?} is used by another project.")))?;
    store::projects::touch(&tx, &pid).await?;
    tx.commit().await?;
    Ok(stored)
}

/// The working definition, its findings and its state against the latest revision.
pub async fn definition_view(db: &Db, project_id: &ProjectId) -> Result<DefinitionView> {
    let client = db.client().await?;
    let pid = project(&client, project_id.as_str()).await?.id;
    let record = pm(&client, &pid, &contract::definition_id(&pid)).await?;
    let latest = store::artifacts::latest_revision(&client, &pid, contract::REVISION_TYPE).await?;
    let baseline_record = pm(&client, &pid, &baseline::baseline_id(&pid)).await?;
    let drift = match &baseline_record {
        Some(b) => drift_of(&client, &pid, &b.data).await?,
        None => Vec::new(),
    };
    let findings = match &record {
        Some(d) => findings_for(&d.data, baseline_record.as_ref().map(|b| &b.data)),
        None => Vec::new(),
    };
    let unsaved = match (&record, &latest) {
        (Some(d), Some(r)) => authored(&d.data) != authored(&r.data),
        (Some(_), None) => true,
        _ => false,
    };
    Ok(DefinitionView {
        definition: record,
        findings,
        latest_revision: latest,
        unsaved_changes: unsaved,
        baseline_drift: drift,
    })
}

/// Validation findings of a definition, plus its alignment with the baseline.
pub fn findings_for(data: &Value, baseline_data: Option<&Value>) -> Vec<Finding> {
    let mut findings = definition::validate(data);
    match baseline_data {
        None => findings.insert(
            0,
            Finding {
                severity: Severity::Blocker,
                code: "baseline_missing".into(),
                path: "source_inputs".into(),
                message: "No developer baseline is locked, so the definition is not tied to a product revision.".into(),
                hint: "Save a product design revision, then lock the developer baseline.".into(),
            },
        ),
        Some(b) => {
            let locked = rules::field(b, "locked_at");
            let recorded = data
                .pointer("/source_inputs/baseline_locked_at")
                .map(|v| rules::text(Some(v)))
                .unwrap_or_default();
            if !recorded.is_empty() && recorded != locked {
                findings.insert(
                    0,
                    Finding {
                        severity: Severity::Warning,
                        code: "baseline_relocked".into(),
                        path: "source_inputs.baseline_locked_at".into(),
                        message: format!("The baseline was re-locked at {locked}, after this definition was based on the one locked at {recorded}."),
                        hint: "Review the definition against the new baseline and save a new revision.".into(),
                    },
                );
            }
        }
    }
    findings
}

/// Saves the working definition (requires a locked baseline).
pub async fn save_definition(
    db: &Db,
    project_id: &ProjectId,
    body: DefinitionBody,
) -> Result<Artifact> {
    check_definition(&body)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let pid = project_for_update(&tx, project_id.as_str()).await?.id;
    let stored = write_definition(&tx, &pid, body).await?;
    tx.commit().await?;
    Ok(stored)
}

/// What can be refused about a definition write without the database.
pub(crate) fn check_definition(body: &DefinitionBody) -> Result<()> {
    if !body.data.is_object() {
        return Err(Error::Unprocessable("data must be a JSON object".into()));
    }
    check_json("data", &body.data)
}

/// Writes the working definition inside the caller's transaction (the project must already be
/// locked by it, and the body checked by [`check_definition`]).
pub(crate) async fn write_definition(
    tx: &impl GenericClient,
    pid: &str,
    body: DefinitionBody,
) -> Result<Artifact> {
    let pid = pid.to_owned();
    let baseline_record = pm(tx, &pid, &baseline::baseline_id(&pid))
        .await?
        .ok_or_else(|| {
            Error::Unprocessable(
                "Lock the developer baseline before writing the developer definition.".into(),
            )
        })?;
    let id = contract::definition_id(&pid);
    let current = pm(tx, &pid, &id).await?;
    if let Some(expected) = &body.expected_content_hash {
        let now = current
            .as_ref()
            .map(|a| a.content_hash.as_str())
            .unwrap_or("");
        if now != expected {
            return Err(Error::Conflict(
                "The developer definition changed since you loaded it; reload and apply your change again.".into(),
            ));
        }
    }
    let mut data = authored(&body.data);
    if let Some(map) = data.as_object_mut() {
        map.insert("artifact_type".into(), json!(contract::DEFINITION_TYPE));
        map.insert(
            "source_inputs".into(),
            baseline::definition_source_inputs(&baseline_record.data),
        );
        if let Some(current) = &current {
            for key in ["saved_revision", "saved_at", "compiled_contract_identity"] {
                if let Some(value) = current.data.get(key) {
                    map.insert(key.into(), value.clone());
                }
            }
        }
    }
    let record = Artifact {
        id: id.clone(),
        project_id: pid.clone(),
        title: "Developer Definition".into(),
        status: "active".into(),
        content_hash: hashing::content_hash(&data),
        data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    let stored = store::artifacts::upsert_pm(tx, &record)
        .await?
        .ok_or_else(|| Error::Conflict(format!("Record id {id:?} is used by another project.")))?;
    store::projects::touch(tx, &pid).await?;
    Ok(stored)
}

/// The records a baseline points at, for compiling.
struct BaselineRecords {
    requirements: Option<Artifact>,
    scenarios: Vec<Artifact>,
    shape: Option<Artifact>,
}

async fn baseline_records(
    c: &impl GenericClient,
    project_id: &str,
    baseline_data: &Value,
) -> Result<BaselineRecords> {
    let inputs = baseline_data
        .get("source_inputs")
        .cloned()
        .unwrap_or(Value::Null);
    let requirements_id = rules::field(&inputs, "requirements_id");
    let requirements = if requirements_id.is_empty() {
        None
    } else {
        store::artifacts::get(c, Table::Requirements, project_id, &requirements_id).await?
    };
    let all = store::artifacts::list(c, Table::Scenarios, project_id).await?;
    let scenarios = rules::array(&inputs, "scenario_ids")
        .iter()
        .filter_map(|id| all.iter().find(|s| s.id == rules::text(Some(id))).cloned())
        .collect();
    let shape_id = rules::field(&inputs, "shape_id");
    let shape = if shape_id.is_empty() {
        None
    } else {
        store::artifacts::get(c, Table::Shapes, project_id, &shape_id).await?
    };
    Ok(BaselineRecords {
        requirements,
        scenarios,
        shape,
    })
}

fn compile(
    project: &Project,
    baseline_data: &Value,
    records: &BaselineRecords,
    definition: &Value,
    at: &str,
) -> Value {
    let scenarios: Vec<&Artifact> = records.scenarios.iter().collect();
    contract::compile(&contract::ContractInputs {
        project,
        baseline: Some(baseline_data),
        requirements: records.requirements.as_ref(),
        scenarios: &scenarios,
        shape: records.shape.as_ref(),
        definition,
        generated_at: at,
    })
}

/// The contract signature compiling `revision_data` against the project's current baseline
/// gives now (`None` when the project has no baseline).
pub(crate) async fn recompiled_signature(
    c: &impl GenericClient,
    project_row: &Project,
    revision_data: &Value,
) -> Result<Option<String>> {
    let Some(baseline_record) =
        pm(c, &project_row.id, &baseline::baseline_id(&project_row.id)).await?
    else {
        return Ok(None);
    };
    let records = baseline_records(c, &project_row.id, &baseline_record.data).await?;
    let saved_at = revision_data
        .pointer("/saved_revision/saved_at")
        .map(|v| rules::text(Some(v)))
        .unwrap_or_default();
    let document = compile(
        project_row,
        &baseline_record.data,
        &records,
        revision_data,
        &saved_at,
    );
    Ok(Some(contract::signature(&document)))
}

/// The signature a revision recorded (`""` when none).
pub(crate) fn recorded_signature(revision_data: &Value) -> String {
    revision_data
        .pointer("/compiled_contract_identity/signature")
        .map(|v| rules::text(Some(v)))
        .unwrap_or_default()
}

/// Freezes the working definition as the next revision, compiling its contract and
/// recording the contract signature in the revision and in the working definition.
pub async fn save_revision(
    db: &Db,
    project_id: &ProjectId,
    body: SaveDefinitionRevisionBody,
) -> Result<SavedRevision> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let project_row = project_for_update(&tx, project_id.as_str()).await?;
    let pid = project_row.id.clone();
    let draft = pm(&tx, &pid, &contract::definition_id(&pid))
        .await?
        .ok_or_else(|| {
            Error::Unprocessable("Write the developer definition before saving a revision.".into())
        })?;
    let baseline_record = pm(&tx, &pid, &baseline::baseline_id(&pid))
        .await?
        .ok_or_else(|| {
            Error::Unprocessable("Lock the developer baseline before saving a revision.".into())
        })?;
    let latest = store::artifacts::latest_revision(&tx, &pid, contract::REVISION_TYPE).await?;
    let latest_number = latest
        .as_ref()
        .and_then(|r| r.data.pointer("/saved_revision/revision_number"))
        .and_then(Value::as_i64);
    if !body.force
        && body
            .expected_previous_revision
            .is_some_and(|expected| expected != latest_number)
    {
        return Err(Error::Conflict(match latest_number {
            Some(n) => format!("Developer definition revision {n} was saved meanwhile; review it, then save again."),
            None => "There is no developer definition revision yet; send expected_previous_revision: null (or leave it out).".into(),
        }));
    }
    let source_inputs = baseline::definition_source_inputs(&baseline_record.data);
    if let Some(revision) = &latest {
        let same_inputs = revision.data.get("source_inputs") == Some(&source_inputs);
        // Unchanged, unless the latest revision's recorded signature no longer matches its
        // recompiled contract (`contract_signature_drift`): saving again is the fix for that.
        let drifted = || async {
            let recorded = recorded_signature(&revision.data);
            Ok::<bool, Error>(
                !recorded.is_empty()
                    && recompiled_signature(&tx, &project_row, &revision.data)
                        .await?
                        .is_some_and(|now| now != recorded),
            )
        };
        if same_inputs && authored(&revision.data) == authored(&draft.data) && !drifted().await? {
            return Err(Error::Unprocessable(format!(
                "Nothing changed since developer definition revision {}.",
                latest_number.unwrap_or_default()
            )));
        }
    }
    let number = latest_number.unwrap_or(0) + 1;
    let saved_at = timefmt::now_js();
    let revision_id = contract::revision_id(&pid, number);
    let mut data = authored(&draft.data);
    if let Some(map) = data.as_object_mut() {
        map.insert("source_inputs".into(), source_inputs);
        map.insert("saved_at".into(), json!(saved_at));
        map.insert(
            "saved_revision".into(),
            json!({
                "previous_revision_artifact_id": latest.as_ref().map(|r| r.id.clone()),
                "revision_artifact_id": revision_id,
                "revision_number": number,
                "saved_at": saved_at,
            }),
        );
    }
    let records = baseline_records(&tx, &pid, &baseline_record.data).await?;
    let compiled = compile(
        &project_row,
        &baseline_record.data,
        &records,
        &data,
        &saved_at,
    );
    let signature = contract::signature(&compiled);
    if let Some(map) = data.as_object_mut() {
        map.insert(
            "compiled_contract_identity".into(),
            contract::identity(&pid, &signature, &saved_at),
        );
    }
    let findings = findings_for(&data, Some(&baseline_record.data));

    let mut revision_data = data.clone();
    revision_data["artifact_type"] = json!(contract::REVISION_TYPE);
    let revision = Artifact {
        id: revision_id.clone(),
        project_id: pid.clone(),
        title: format!("Developer Definition Revision {number}"),
        status: "frozen".into(),
        content_hash: hashing::content_hash(&revision_data),
        data: revision_data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    store::artifacts::insert(&tx, Table::PmArtifacts, &revision, None, None).await?;
    let mut current = data;
    current["artifact_type"] = json!(contract::DEFINITION_TYPE);
    let pointer = Artifact {
        content_hash: hashing::content_hash(&current),
        data: current,
        ..draft
    };
    store::artifacts::upsert_pm(&tx, &pointer)
        .await?
        .ok_or_else(|| Error::Internal("definition record belongs to another project".into()))?;
    store::projects::touch(&tx, &pid).await?;
    let stored = pm(&tx, &pid, &revision_id)
        .await?
        .ok_or_else(|| Error::Internal("revision vanished after insert".into()))?;
    tx.commit().await?;
    Ok(SavedRevision {
        revision: stored,
        signature,
        findings,
    })
}

/// Every developer definition revision, oldest first.
pub async fn revisions(db: &Db, project_id: &ProjectId) -> Result<Vec<Artifact>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    store::artifacts::pm_by_type(&client, project_id.as_str(), contract::REVISION_TYPE).await
}

/// One developer definition revision.
pub async fn revision(db: &Db, project_id: &ProjectId, number: i64) -> Result<Artifact> {
    store::artifacts::revision(
        &db.client().await?,
        project_id.as_str(),
        contract::REVISION_TYPE,
        number,
    )
    .await?
    .ok_or_else(|| Error::NotFound(format!("developer definition revision {number} not found")))
}

/// The compiled contract of a revision (the latest by default), with its findings.
pub struct Compiled {
    /// The project.
    pub project: Project,
    /// The revision compiled.
    pub revision: Artifact,
    /// The baseline's data.
    pub baseline: Value,
    /// The `anip-service-definition/v1` document with its identity.
    pub service_definition: Value,
    /// Findings, including a blocker when the recompiled signature differs from the one the
    /// revision recorded.
    pub findings: Vec<Finding>,
}

/// Compiles a saved revision against the current project.
pub async fn compiled(db: &Db, project_id: &ProjectId, number: Option<i64>) -> Result<Compiled> {
    let client = db.client().await?;
    let project_row = project(&client, project_id.as_str()).await?;
    let pid = project_row.id.clone();
    let revision = match number {
        Some(n) => store::artifacts::revision(&client, &pid, contract::REVISION_TYPE, n)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("developer definition revision {n} not found"))
            })?,
        None => store::artifacts::latest_revision(&client, &pid, contract::REVISION_TYPE)
            .await?
            .ok_or_else(|| {
                Error::Unprocessable("Save a developer definition revision first.".into())
            })?,
    };
    let baseline_record = pm(&client, &pid, &baseline::baseline_id(&pid))
        .await?
        .ok_or_else(|| Error::Unprocessable("Lock the developer baseline first.".into()))?;
    let records = baseline_records(&client, &pid, &baseline_record.data).await?;
    let saved_at = revision
        .data
        .pointer("/saved_revision/saved_at")
        .map(|v| rules::text(Some(v)))
        .unwrap_or_default();
    let document = compile(
        &project_row,
        &baseline_record.data,
        &records,
        &revision.data,
        &saved_at,
    );
    let signature = contract::signature(&document);
    let recorded = revision
        .data
        .pointer("/compiled_contract_identity/signature")
        .map(|v| rules::text(Some(v)))
        .unwrap_or_default();
    let mut findings = findings_for(&revision.data, Some(&baseline_record.data));
    let identity_signature = if recorded.is_empty() {
        signature.clone()
    } else {
        recorded.clone()
    };
    if !recorded.is_empty() && recorded != signature {
        findings.insert(
            0,
            Finding {
                severity: Severity::Blocker,
                code: "contract_signature_drift".into(),
                path: "compiled_contract_identity.signature".into(),
                message: format!(
                    "Revision {} recorded contract signature {recorded}, but compiling it now gives {signature} (the project or the revision was changed outside Studio, or it was authored by another compiler).",
                    revision.data.pointer("/saved_revision/revision_number").cloned().unwrap_or(Value::Null)
                ),
                hint: "Save a new developer definition revision and publish that one.".into(),
            },
        );
    }
    let identity = revision
        .data
        .get("compiled_contract_identity")
        .filter(|i| i.is_object())
        .cloned()
        .unwrap_or_else(|| contract::identity(&pid, &identity_signature, &saved_at));
    let service_definition = contract::with_identity(document, identity, &revision.data);
    Ok(Compiled {
        project: project_row,
        revision,
        baseline: baseline_record.data,
        service_definition,
        findings,
    })
}

/// Author choices for a package build (all optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageOptionsBody {
    /// Package id; derived from the project name when absent.
    pub package_id: Option<String>,
    /// Package version; `0.1.<developer revision>` when absent.
    pub package_version: Option<String>,
    /// Readme; generated when absent.
    pub readme: Option<String>,
    /// `{title, url}` links.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub source_links: Vec<Value>,
    /// `{ref, title?, bundle_tree_sha256?}` materials.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub implementation_materials: Vec<Value>,
    /// Build from this developer revision (the latest by default).
    pub revision_number: Option<i64>,
}

/// The package id an imported project was published under (from its snapshot), if any.
async fn published_package_id(db: &Db, project_id: &ProjectId) -> Result<Option<PackageId>> {
    let client = db.client().await?;
    let source = store::snapshots::source(&client, project_id.as_str()).await?;
    Ok(source
        .and_then(|s| {
            super::snapshots::primary_package(&json!({"published_packages": s.published_packages}))
        })
        .and_then(|(id, _)| PackageId::parse(id).ok()))
}

/// Builds the package of a saved revision.
pub async fn package(
    db: &Db,
    project_id: &ProjectId,
    body: PackageOptionsBody,
) -> Result<PackagePreview> {
    let compiled = compiled(db, project_id, body.revision_number).await?;
    let number = compiled
        .revision
        .data
        .pointer("/saved_revision/revision_number")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let package_id = match body.package_id.filter(|p| !p.trim().is_empty()) {
        Some(id) => PackageId::parse(id.trim())?,
        None => published_package_id(db, project_id)
            .await?
            .or_else(|| PackageId::slug_from(&compiled.project.name))
            .or_else(|| PackageId::slug_from(&compiled.project.id))
            .ok_or_else(|| Error::Unprocessable("Choose a package_id.".into()))?,
    };
    let package_version = match body.package_version.filter(|v| !v.trim().is_empty()) {
        Some(v) => PackageVersion::parse(v.trim())?,
        None => PackageVersion::parse(format!("0.1.{number}"))?,
    };
    let options = package::PackageOptions {
        package_id,
        package_version,
        readme: body.readme,
        source_links: body.source_links,
        implementation_materials: body.implementation_materials,
    };
    package::check_options(&options).map_err(Error::Unprocessable)?;
    let request = package::build(&package::BuildInputs {
        project: &compiled.project,
        revision: &compiled.revision,
        service_definition: &compiled.service_definition,
        baseline: &compiled.baseline,
        findings: &compiled.findings,
        options: &options,
    });
    let (blockers, warnings, _) = definition::counts(&compiled.findings);
    Ok(PackagePreview {
        request,
        findings: compiled.findings,
        publishable: blockers == 0 && warnings == 0,
    })
}
