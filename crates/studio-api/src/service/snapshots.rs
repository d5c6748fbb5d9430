//! `anip-studio-project-snapshot/v1`: exporting a project with every record, importing one
//! back without loss, and seeding showcase snapshots at start.
//!
//! Import is strict: unknown members are refused rather than silently dropped (that would be
//! loss), every record must belong to the snapshot's project, and the whole import is one
//! transaction. Records are restored as frozen: their content hashes are kept (baselines and
//! evaluations refer to them); a hash that does not match its content is reported as a
//! warning. Documents are the exception: their hash is recomputed from the bytes, because
//! downloads promise it (`x-content-sha256`).
//!
//! Architecture Invariant: an import never edits what it does not own. An existing workspace
//! (name, summary, connections) is used as it is, and a project with publication records is
//! never replaced (409), so publication history survives imports and showcase seeding.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{ProjectId, RecordId, WorkspaceId};
use crate::model::{Artifact, DiscoveryRecord, Document, Evaluation, SavedDesign};
use crate::store::{
    self,
    artifacts::Table,
    connections::ConnectionRow,
    parse_ts,
    projects::NewProject,
    publications::LocalPublicationRow,
    snapshots::{SavedDesignTable, SnapshotSource},
    Db, GenericClient,
};
use crate::timefmt;

/// The snapshot schema this module reads and writes.
pub const SCHEMA_VERSION: &str = "anip-studio-project-snapshot/v1";

/// The workspace showcases are restored into.
pub const SHOWCASE_WORKSPACE: &str = "showcase";

/// Serializes showcase seeding across replicas starting at once.
const SEED_LOCK: i64 = 0x414e_4950_5345_4544;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotIn {
    /// Checked by [`parse`] before deserializing.
    #[allow(dead_code)]
    snapshot_schema_version: String,
    #[serde(default)]
    snapshot_id: String,
    #[serde(default)]
    exported_at: String,
    #[serde(default)]
    source: String,
    workspace: WorkspaceIn,
    project: ProjectIn,
    #[serde(default)]
    workspace_connections: Vec<ConnectionIn>,
    records: RecordsIn,
    #[serde(default = "empty_array")]
    published_packages: Value,
}

fn empty_array() -> Value {
    json!([])
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceIn {
    id: WorkspaceId,
    name: String,
    #[serde(default)]
    summary: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    /// Computed on export; ignored on import.
    #[allow(dead_code)]
    projects_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectIn {
    id: ProjectId,
    workspace_id: WorkspaceId,
    name: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default = "standard")]
    project_type: String,
    integration_profile: Option<Value>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn standard() -> String {
    "standard".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionIn {
    id: RecordId,
    workspace_id: WorkspaceId,
    display_name: String,
    backend_kind: String,
    #[serde(default)]
    system_kind: String,
    #[serde(default)]
    endpoint_ref: String,
    auth_mode: String,
    #[serde(default)]
    identity_provider_ref: String,
    #[serde(default)]
    secret_ref: String,
    #[serde(default)]
    allowed_project_refs: Vec<String>,
    #[serde(default = "empty_object")]
    metadata: Value,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsIn {
    #[serde(default)]
    requirements_sets: Vec<ArtifactIn>,
    #[serde(default)]
    scenarios: Vec<ArtifactIn>,
    #[serde(default)]
    service_metadata_artifacts: Vec<ArtifactIn>,
    #[serde(default)]
    integration_discovery_records: Vec<DiscoveryIn>,
    #[serde(default)]
    pm_artifacts: Vec<ArtifactIn>,
    #[serde(default)]
    proposals: Vec<ArtifactIn>,
    #[serde(default)]
    shapes: Vec<ArtifactIn>,
    #[serde(default)]
    evaluations: Vec<EvaluationIn>,
    #[serde(default)]
    project_documents: Vec<DocumentIn>,
    #[serde(default)]
    data_access_projects: Vec<SavedIn>,
    #[serde(default)]
    application_integration_projects: Vec<SavedIn>,
    #[serde(default)]
    local_publications: Vec<LocalPublicationRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactIn {
    id: RecordId,
    project_id: String,
    title: String,
    status: Option<String>,
    #[serde(default = "empty_object")]
    data: Value,
    #[serde(default)]
    content_hash: String,
    role: Option<String>,
    requirements_id: Option<RecordId>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoveryIn {
    id: RecordId,
    project_id: String,
    connection_id: Option<String>,
    operation_id: String,
    backend_kind: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    path_template: String,
    #[serde(default = "read")]
    side_effect_level: String,
    #[serde(default = "empty_object")]
    input_schema_summary: Value,
    #[serde(default = "empty_array")]
    risk_notes: Value,
    #[serde(default = "empty_object")]
    data: Value,
    #[serde(default)]
    content_hash: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn read() -> String {
    "read".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationIn {
    id: RecordId,
    project_id: String,
    proposal_id: Option<String>,
    scenario_id: String,
    requirements_id: String,
    #[serde(default = "requires_glue")]
    result: String,
    #[serde(default = "manual")]
    source: String,
    #[serde(default = "empty_object")]
    data: Value,
    #[serde(default = "empty_object")]
    input_snapshot: Value,
    #[serde(default)]
    requirements_hash: String,
    #[serde(default)]
    proposal_hash: String,
    #[serde(default)]
    scenario_hash: String,
    shape_id: Option<String>,
    #[serde(default)]
    shape_hash: String,
    derived_expectations: Option<Value>,
    created_at: Option<String>,
}

fn requires_glue() -> String {
    "REQUIRES_GLUE".into()
}

fn manual() -> String {
    "manual".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentIn {
    id: RecordId,
    project_id: String,
    title: String,
    #[serde(default = "reference")]
    kind: String,
    filename: String,
    #[serde(default = "octet_stream")]
    media_type: String,
    #[serde(default)]
    source_path: String,
    content: Value,
    #[serde(default)]
    content_hash: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn reference() -> String {
    "reference".into()
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedIn {
    id: RecordId,
    name: Option<String>,
    title: Option<String>,
    studio_project_id: Option<String>,
    #[serde(default = "empty_object")]
    state: Value,
    created_at: Option<String>,
    updated_at: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// The project.
    pub project_id: String,
    /// `imported`, `replaced`, `skipped_existing` or `unchanged`.
    pub status: String,
    /// Records whose stored hash does not match their content (kept as recorded).
    pub warnings: Vec<String>,
}

/// Body of `POST /api/project-snapshots/import` (upstream's shape); a bare snapshot is
/// accepted too.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The snapshot.
    #[schema(value_type = Object)]
    pub snapshot: Value,
    /// Replace a project with the same id (default true).
    #[serde(default = "yes")]
    pub replace_existing: bool,
}

fn yes() -> bool {
    true
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Unprocessable(message.into())
}

fn parse(snapshot: Value) -> Result<SnapshotIn> {
    let version = snapshot
        .get("snapshot_schema_version")
        .cloned()
        .unwrap_or(Value::Null);
    if version != json!(SCHEMA_VERSION) {
        return Err(invalid(format!(
            "unsupported Studio snapshot schema version: {version}; expected {SCHEMA_VERSION}"
        )));
    }
    serde_json::from_value(snapshot)
        .map_err(|e| invalid(format!("the snapshot is not a valid {SCHEMA_VERSION}: {e}")))
}

fn document_bytes(id: &str, content: &Value) -> Result<Vec<u8>> {
    match content {
        Value::Object(map) if map.get("encoding") == Some(&json!("base64")) => {
            let data = map.get("data").and_then(Value::as_str).unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| invalid(format!("document {id}: content is not valid base64")))
        }
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        _ => Err(invalid(format!(
            "document {id}: content must be {{\"encoding\": \"base64\", \"data\": ...}}"
        ))),
    }
}

fn check_owner(kind: &str, id: &str, owner: &str, project: &str) -> Result<()> {
    if owner != project {
        return Err(invalid(format!(
            "{kind} {id} belongs to project {owner:?}, not the snapshot's project {project:?}"
        )));
    }
    Ok(())
}

fn artifact(
    table: Table,
    row: ArtifactIn,
    warnings: &mut Vec<String>,
) -> Result<(Artifact, Option<String>, Option<String>)> {
    let computed = hashing::content_hash(&row.data);
    let content_hash = if row.content_hash.is_empty() {
        computed
    } else {
        if row.content_hash != computed {
            warnings.push(format!(
                "{} {}: recorded content_hash differs from its content",
                table.noun(),
                row.id
            ));
        }
        row.content_hash
    };
    if row.role.is_some() && table != Table::Requirements {
        return Err(invalid(format!(
            "{} {}: only requirements sets have a role",
            table.noun(),
            row.id
        )));
    }
    let needs_requirements = matches!(table, Table::Shapes | Table::Proposals);
    if needs_requirements != row.requirements_id.is_some() {
        return Err(invalid(format!(
            "{} {}: requirements_id is {}",
            table.noun(),
            row.id,
            if needs_requirements {
                "required"
            } else {
                "not allowed"
            }
        )));
    }
    let default_status = if table == Table::PmArtifacts {
        "frozen"
    } else {
        "draft"
    };
    Ok((
        Artifact {
            id: row.id.as_str().to_owned(),
            project_id: row.project_id,
            title: row.title,
            status: row.status.unwrap_or_else(|| default_status.to_owned()),
            data: row.data,
            content_hash,
            role: if table == Table::Requirements {
                Some(row.role.unwrap_or_else(|| "alternative".into()))
            } else {
                None
            },
            requirements_id: row.requirements_id.map(|r| r.as_str().to_owned()),
            created_at: String::new(),
            updated_at: String::new(),
        },
        row.created_at,
        row.updated_at,
    ))
}

/// Imports a snapshot (one transaction). `workspace_override` replaces the snapshot's
/// workspace (showcase seeding); `sha256` is recorded as provenance.
pub async fn import(
    db: &Db,
    snapshot: Value,
    replace_existing: bool,
    workspace_override: Option<(&str, &str, &str)>,
    sha256: &str,
) -> Result<ImportResult> {
    let mut snapshot = parse(snapshot)?;
    if let Some((id, name, summary)) = workspace_override {
        let id = WorkspaceId::parse(id)?;
        snapshot.workspace.id = id.clone();
        snapshot.workspace.name = name.to_owned();
        snapshot.workspace.summary = summary.to_owned();
        snapshot.project.workspace_id = id.clone();
        for connection in &mut snapshot.workspace_connections {
            connection.workspace_id = id.clone();
        }
    }
    let pid = snapshot.project.id.as_str().to_owned();
    if snapshot.project.workspace_id != snapshot.workspace.id {
        return Err(invalid(
            "the snapshot's project is not in the snapshot's workspace",
        ));
    }
    crate::ids::ProjectType::parse(&snapshot.project.project_type)?;
    for c in &snapshot.workspace_connections {
        if c.workspace_id != snapshot.workspace.id {
            return Err(invalid(format!(
                "connection {} is not in the snapshot's workspace",
                c.id
            )));
        }
        crate::ids::BackendKind::parse(&c.backend_kind)?;
        crate::ids::AuthMode::parse(&c.auth_mode)?;
    }

    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    store::snapshots::lock(&tx, SEED_LOCK).await?;
    let existing = store::projects::get(&tx, &pid).await?;
    if existing.is_some() {
        if !sha256.is_empty() {
            if let Some(source) = store::snapshots::source(&tx, &pid).await? {
                if source.snapshot_sha256 == sha256 {
                    return Ok(ImportResult {
                        project_id: pid,
                        status: "unchanged".into(),
                        warnings: vec![],
                    });
                }
            }
        }
        if !replace_existing {
            return Ok(ImportResult {
                project_id: pid,
                status: "skipped_existing".into(),
                warnings: vec![],
            });
        }
        refuse_replacing_publications(&tx, &pid).await?;
        store::projects::delete(&tx, &pid).await?;
    }
    let mut warnings = Vec::new();
    write(&tx, snapshot, sha256, &mut warnings).await?;
    tx.commit().await?;
    Ok(ImportResult {
        project_id: pid,
        status: if existing.is_some() {
            "replaced"
        } else {
            "imported"
        }
        .into(),
        warnings,
    })
}

/// Publication records (local and Registry) are immutable history, with digests, receipts and
/// trust verdicts; replacing a project deletes its records, so a project that has any is never
/// replaced by an import (seeding included): 409 naming why.
async fn refuse_replacing_publications(tx: &impl GenericClient, pid: &str) -> Result<()> {
    let local = store::publications::list(tx, pid).await?.len();
    let registry = store::artifacts::pm_by_type(tx, pid, super::publish::REGISTRY_PUBLICATION_TYPE)
        .await?
        .len();
    if local + registry > 0 {
        return Err(Error::Conflict(format!(
            "Project {pid:?} has publication records ({local} local, {registry} Registry); \
             publications are immutable history, so an import never replaces a published \
             project. Import the snapshot under another project id, or delete the project \
             first."
        )));
    }
    Ok(())
}

async fn write(
    tx: &impl GenericClient,
    s: SnapshotIn,
    sha256: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let pid = s.project.id.as_str().to_owned();
    let ws = &s.workspace;
    // An existing workspace is used as it is: its name, summary and connections belong to
    // every project in it, and an import of one project must not rewrite them.
    store::workspaces::insert_if_absent(
        tx,
        ws.id.as_str(),
        &ws.name,
        &ws.summary,
        parse_ts(ws.created_at.as_deref()),
        parse_ts(ws.updated_at.as_deref()),
    )
    .await?;
    for c in &s.workspace_connections {
        if let Some(owner) = connection_workspace(tx, c.id.as_str()).await? {
            if owner != ws.id.as_str() {
                return Err(Error::Conflict(format!(
                    "connection {} already exists in workspace {owner:?}",
                    c.id
                )));
            }
        }
        let refs = json!(c.allowed_project_refs);
        store::connections::write(
            tx,
            &ConnectionRow {
                id: c.id.as_str(),
                workspace_id: c.workspace_id.as_str(),
                display_name: &c.display_name,
                backend_kind: &c.backend_kind,
                system_kind: &c.system_kind,
                endpoint_ref: &c.endpoint_ref,
                auth_mode: &c.auth_mode,
                identity_provider_ref: &c.identity_provider_ref,
                secret_ref: &c.secret_ref,
                allowed_project_refs: &refs,
                metadata: &c.metadata,
                created_at: parse_ts(c.created_at.as_deref()),
                updated_at: parse_ts(c.updated_at.as_deref()),
            },
            true,
        )
        .await?;
    }
    let p = &s.project;
    let labels = json!(p.labels);
    let profile = p
        .integration_profile
        .clone()
        .unwrap_or_else(|| json!({"kind": "none", "systems": []}));
    store::projects::insert(
        tx,
        &NewProject {
            id: &pid,
            workspace_id: p.workspace_id.as_str(),
            name: &p.name,
            summary: &p.summary,
            domain: &p.domain,
            labels: &labels,
            project_type: &p.project_type,
            integration_profile: &profile,
            created_at: parse_ts(p.created_at.as_deref()),
            updated_at: parse_ts(p.updated_at.as_deref()),
        },
    )
    .await?;

    let records = s.records;
    for (table, rows) in [
        (Table::Requirements, records.requirements_sets),
        (Table::Scenarios, records.scenarios),
        (Table::ServiceMetadata, records.service_metadata_artifacts),
    ] {
        for row in rows {
            check_owner(table.noun(), row.id.as_str(), &row.project_id, &pid)?;
            let (a, created, updated) = artifact(table, row, warnings)?;
            store::artifacts::insert(
                tx,
                table,
                &a,
                parse_ts(created.as_deref()),
                parse_ts(updated.as_deref()),
            )
            .await?;
        }
    }
    for row in records.integration_discovery_records {
        check_owner("discovery record", row.id.as_str(), &row.project_id, &pid)?;
        crate::ids::BackendKind::parse(&row.backend_kind)?;
        let record = DiscoveryRecord {
            id: row.id.as_str().to_owned(),
            project_id: row.project_id,
            connection_id: row.connection_id,
            operation_id: row.operation_id,
            backend_kind: row.backend_kind,
            method: row.method,
            path_template: row.path_template,
            side_effect_level: row.side_effect_level,
            input_schema_summary: row.input_schema_summary,
            risk_notes: row.risk_notes,
            data: row.data,
            content_hash: row.content_hash,
            created_at: String::new(),
            updated_at: String::new(),
        };
        let computed = super::projects::discovery_hash(&record, &record.data);
        let record = if record.content_hash.is_empty() {
            DiscoveryRecord {
                content_hash: computed,
                ..record
            }
        } else {
            if record.content_hash != computed {
                warnings.push(format!(
                    "discovery record {}: recorded content_hash differs from its content",
                    record.id
                ));
            }
            record
        };
        store::connections::insert_record(
            tx,
            &record,
            parse_ts(row.created_at.as_deref()),
            parse_ts(row.updated_at.as_deref()),
        )
        .await?;
    }
    for (table, rows) in [
        (Table::PmArtifacts, records.pm_artifacts),
        (Table::Proposals, records.proposals),
        (Table::Shapes, records.shapes),
    ] {
        for row in rows {
            check_owner(table.noun(), row.id.as_str(), &row.project_id, &pid)?;
            let (a, created, updated) = artifact(table, row, warnings)?;
            if table == Table::PmArtifacts {
                crate::ids::PmStatus::parse(&a.status)?;
            } else {
                crate::ids::ArtifactStatus::parse(&a.status)?;
            }
            store::artifacts::insert(
                tx,
                table,
                &a,
                parse_ts(created.as_deref()),
                parse_ts(updated.as_deref()),
            )
            .await?;
        }
    }
    for row in records.evaluations {
        check_owner("evaluation", row.id.as_str(), &row.project_id, &pid)?;
        crate::ids::EvaluationResult::parse(&row.result)?;
        crate::ids::EvaluationSource::parse(&row.source)?;
        let e = Evaluation {
            id: row.id.as_str().to_owned(),
            project_id: row.project_id,
            proposal_id: row.proposal_id,
            scenario_id: row.scenario_id,
            requirements_id: row.requirements_id,
            shape_id: row.shape_id,
            result: row.result,
            source: row.source,
            data: row.data,
            input_snapshot: row.input_snapshot,
            requirements_hash: row.requirements_hash,
            proposal_hash: row.proposal_hash,
            scenario_hash: row.scenario_hash,
            shape_hash: row.shape_hash,
            derived_expectations: row.derived_expectations,
            created_at: String::new(),
            is_stale: false,
            stale_artifacts: vec![],
        };
        store::evaluations::insert(tx, &e, parse_ts(row.created_at.as_deref())).await?;
    }
    for row in records.project_documents {
        check_owner("document", row.id.as_str(), &row.project_id, &pid)?;
        // Downloads send it back as `Content-Type`: the same rule as an upload.
        if !super::documents::is_valid_media_type(row.media_type.trim()) {
            return Err(Error::Unprocessable(format!(
                "document {}: media_type is not a well-formed media type (type/subtype with optional parameters, no control characters)",
                row.id
            )));
        }
        let bytes = document_bytes(row.id.as_str(), &row.content)?;
        // Downloads send the stored hash as `x-content-sha256`: it is always the hash of the
        // bytes stored, whatever the snapshot recorded.
        let content_hash = hashing::document_hash(&bytes);
        if !row.content_hash.is_empty() && row.content_hash != content_hash {
            warnings.push(format!(
                "document {}: recorded content_hash {} differs from its bytes; stored the hash of the bytes, {content_hash}",
                row.id, row.content_hash
            ));
        }
        let d = Document {
            id: row.id.as_str().to_owned(),
            project_id: row.project_id,
            title: row.title,
            kind: row.kind,
            filename: row.filename,
            media_type: row.media_type.trim().to_owned(),
            source_path: row.source_path,
            content_hash,
            size_bytes: 0,
            created_at: String::new(),
            updated_at: String::new(),
        };
        store::documents::insert(
            tx,
            &d,
            &bytes,
            parse_ts(row.created_at.as_deref()),
            parse_ts(row.updated_at.as_deref()),
        )
        .await?;
    }
    for (table, rows) in [
        (SavedDesignTable::DataAccess, records.data_access_projects),
        (
            SavedDesignTable::ApplicationIntegration,
            records.application_integration_projects,
        ),
    ] {
        for row in rows {
            let owner = row.studio_project_id.clone().unwrap_or_default();
            check_owner("saved design", row.id.as_str(), &owner, &pid)?;
            let name = match table {
                SavedDesignTable::DataAccess => row.name.or(row.title),
                SavedDesignTable::ApplicationIntegration => row.title.or(row.name),
            }
            .unwrap_or_else(|| row.id.as_str().to_owned());
            let d = SavedDesign {
                id: row.id.as_str().to_owned(),
                name,
                studio_project_id: row.studio_project_id,
                state: row.state,
                created_at: String::new(),
                updated_at: String::new(),
            };
            store::snapshots::insert_saved(
                tx,
                table,
                &d,
                parse_ts(row.created_at.as_deref()),
                parse_ts(row.updated_at.as_deref()),
            )
            .await?;
        }
    }
    for row in records.local_publications {
        check_owner("local publication", &row.id, &row.project_id, &pid)?;
        RecordId::parse(row.id.as_str())?;
        let published = parse_ts(row.published_at.as_deref());
        let created = parse_ts(row.created_at.as_deref());
        store::publications::insert(tx, &row, published, created).await?;
    }
    store::snapshots::put_source(
        tx,
        &pid,
        &SnapshotSource {
            snapshot_id: s.snapshot_id,
            source: s.source,
            exported_at: s.exported_at,
            published_packages: s.published_packages,
            snapshot_sha256: sha256.to_owned(),
        },
    )
    .await?;
    Ok(())
}

async fn connection_workspace(tx: &impl GenericClient, id: &str) -> Result<Option<String>> {
    let row = tx
        .query_opt(
            "SELECT workspace_id FROM workspace_connections WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

fn without(value: Value, keys: &[&str]) -> Value {
    match value {
        Value::Object(mut map) => {
            for key in keys {
                map.remove(*key);
            }
            Value::Object(map)
        }
        other => other,
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::Internal(format!("serializing a snapshot record: {e}")))
}

/// Exports a project as a snapshot.
pub async fn export(db: &Db, project_id: &ProjectId) -> Result<Value> {
    let client = db.client().await?;
    let pid = project_id.as_str();
    let project = super::project(&client, pid).await?;
    let workspace = store::workspaces::get(&client, &project.workspace_id)
        .await?
        .ok_or_else(|| Error::Internal("project without workspace".into()))?;
    let connections = store::connections::list(&client, &project.workspace_id).await?;
    let mut records = BTreeMap::new();
    for (name, table) in [
        ("requirements_sets", Table::Requirements),
        ("scenarios", Table::Scenarios),
        ("service_metadata_artifacts", Table::ServiceMetadata),
        ("pm_artifacts", Table::PmArtifacts),
        ("proposals", Table::Proposals),
        ("shapes", Table::Shapes),
    ] {
        records.insert(
            name,
            to_value(&store::artifacts::list(&client, table, pid).await?)?,
        );
    }
    records.insert(
        "integration_discovery_records",
        to_value(&store::connections::list_records(&client, pid).await?)?,
    );
    let evaluations: Vec<Value> = store::evaluations::list(&client, pid, None, None)
        .await?
        .iter()
        .map(|e| to_value(e).map(|v| without(v, &["is_stale", "stale_artifacts"])))
        .collect::<Result<_>>()?;
    records.insert("evaluations", Value::Array(evaluations));
    let documents: Vec<Value> = store::documents::list_with_content(&client, pid)
        .await?
        .iter()
        .map(|(d, bytes)| {
            to_value(d).map(|v| {
                let mut v = without(v, &["size_bytes"]);
                v["content"] = json!({
                    "encoding": "base64",
                    "data": base64::engine::general_purpose::STANDARD.encode(bytes),
                });
                v
            })
        })
        .collect::<Result<_>>()?;
    records.insert("project_documents", Value::Array(documents));
    for (name, table) in [
        ("data_access_projects", SavedDesignTable::DataAccess),
        (
            "application_integration_projects",
            SavedDesignTable::ApplicationIntegration,
        ),
    ] {
        let rows: Vec<Value> = store::snapshots::list_saved(&client, table, pid)
            .await?
            .into_iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    table.name_column(): d.name,
                    "studio_project_id": d.studio_project_id,
                    "state": d.state,
                    "created_at": d.created_at,
                    "updated_at": d.updated_at,
                })
            })
            .collect();
        records.insert(name, Value::Array(rows));
    }
    let publications = store::publications::list(&client, pid).await?;
    records.insert("local_publications", to_value(&publications)?);
    let published_packages = match store::snapshots::source(&client, pid).await? {
        Some(source) if source.published_packages.as_array().is_some_and(|a| !a.is_empty()) => source.published_packages,
        _ => Value::Array(
            publications
                .iter()
                .map(|p| {
                    json!({
                        "package_id": p.package_id,
                        "package_version": p.package_version,
                        "registry_url": p.package_record.get("registry_url").cloned().unwrap_or_else(|| json!("")),
                        "contract_signature": p.contract_signature,
                        "project_ref": p.project_ref,
                        "product_revision_ref": p.product_revision_ref,
                        "developer_revision_ref": p.developer_revision_ref,
                    })
                })
                .collect(),
        ),
    };
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    Ok(json!({
        "snapshot_schema_version": SCHEMA_VERSION,
        "snapshot_id": format!("{pid}@{stamp}"),
        "exported_at": timefmt::iso(now).replace("+00:00", "Z"),
        "source": "studio-api",
        "workspace": to_value(&workspace)?,
        "project": to_value(&project)?,
        "workspace_connections": to_value(&connections)?,
        "records": records,
        "published_packages": published_packages,
    }))
}

/// A showcase snapshot: its name and text.
pub struct ShowcaseFile {
    /// File name (for reports).
    pub name: String,
    /// The JSON text.
    pub text: String,
}

/// The showcases built into the binary (`crates/studio-api/showcases/`), so a fresh clone
/// and a bare container seed something.
pub fn embedded_showcases() -> Vec<ShowcaseFile> {
    vec![ShowcaseFile {
        name: "expense-approvals-showcase-0.1.0.studio-project-snapshot.json".into(),
        text: include_str!(
            "../../showcases/expense-approvals-showcase-0.1.0.studio-project-snapshot.json"
        )
        .into(),
    }]
}

/// Snapshot files of a directory (`*.studio-project-snapshot.json`).
pub fn showcase_dir(dir: &Path) -> std::io::Result<Vec<ShowcaseFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".studio-project-snapshot.json") {
            files.push(ShowcaseFile {
                text: std::fs::read_to_string(&path)?,
                name,
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The main package a snapshot published (not its starter template): `(id, version)`.
pub fn primary_package(snapshot: &Value) -> Option<(String, String)> {
    let packages = snapshot.get("published_packages")?.as_array()?;
    let id = |p: &Value| crate::rules::field(p, "package_id");
    let pick = packages
        .iter()
        .find(|p| {
            let package_id = id(p);
            !package_id.is_empty()
                && crate::rules::field(p, "package_kind") != "anip_starter_template"
                && !package_id.ends_with("-starter")
        })
        .or_else(|| packages.iter().find(|p| !id(p).is_empty()))?;
    Some((id(pick), crate::rules::field(pick, "package_version")))
}

fn version_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The latest version per primary package (upstream's rule); snapshots without a package pass.
pub fn latest_per_package(files: Vec<(ShowcaseFile, Value)>) -> Vec<(ShowcaseFile, Value)> {
    let mut latest: BTreeMap<String, (Vec<u64>, String, usize)> = BTreeMap::new();
    let mut keep = vec![false; files.len()];
    for (index, (file, snapshot)) in files.iter().enumerate() {
        match primary_package(snapshot) {
            Some((id, version)) if !version.is_empty() => {
                let candidate = (version_key(&version), file.name.clone(), index);
                let replace = latest
                    .get(&id)
                    .is_none_or(|current| (&candidate.0, &candidate.1) > (&current.0, &current.1));
                if replace {
                    latest.insert(id, candidate);
                }
            }
            _ => keep[index] = true,
        }
    }
    for (_, _, index) in latest.values() {
        keep[*index] = true;
    }
    files
        .into_iter()
        .zip(keep)
        .filter_map(|(f, k)| k.then_some(f))
        .collect()
}

/// What seeding did, per snapshot.
#[derive(Debug, Serialize)]
pub struct SeedReport {
    /// `(file, project, status)` per seeded snapshot; status `imported`, `replaced`,
    /// `unchanged`, `kept_existing: …` (a conflict, such as a project with publication
    /// records, kept what exists) or `failed: …`.
    pub snapshots: Vec<(String, String, String)>,
}

/// Restores the showcases (built-in and from `dir`) into the showcase workspace: the latest
/// version per package, skipping snapshots already restored unchanged. A snapshot that fails
/// is reported and does not stop the others.
pub async fn seed_showcases(db: &Db, dir: Option<&Path>) -> Result<SeedReport> {
    let mut files = embedded_showcases();
    if let Some(dir) = dir {
        files.extend(showcase_dir(dir).map_err(|e| {
            Error::Internal(format!("reading showcase directory {}: {e}", dir.display()))
        })?);
    }
    let mut parsed = Vec::new();
    let mut report = SeedReport {
        snapshots: Vec::new(),
    };
    for file in files {
        match serde_json::from_str::<Value>(&file.text) {
            Ok(value) => parsed.push((file, value)),
            Err(e) => {
                report
                    .snapshots
                    .push((file.name, String::new(), format!("failed: not JSON ({e})")))
            }
        }
    }
    for (file, snapshot) in latest_per_package(parsed) {
        let sha = signing::sha256_hex(file.text.as_bytes());
        let project = snapshot
            .pointer("/project/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let outcome = import(
            db,
            snapshot,
            true,
            Some((
                SHOWCASE_WORKSPACE,
                "Showcases",
                "Published showcase projects, restored from their Studio snapshots.",
            )),
            &sha,
        )
        .await;
        let status = match outcome {
            Ok(result) => result.status,
            // A conflict (a published project, a colliding id) keeps what exists.
            Err(Error::Conflict(detail)) => format!("kept_existing: {detail}"),
            Err(error) => format!("failed: {error}"),
        };
        report.snapshots.push((file.name, project, status));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, id: &str, version: &str) -> (ShowcaseFile, Value) {
        (
            ShowcaseFile {
                name: name.into(),
                text: String::new(),
            },
            json!({"published_packages": [{"package_id": id, "package_version": version}, {"package_id": format!("{id}-starter"), "package_version": "9.9.9"}]}),
        )
    }

    #[test]
    fn latest_version_per_package_wins() {
        let kept = latest_per_package(vec![
            file("a-0.2.0", "a", "0.2.0"),
            file("a-0.10.0", "a", "0.10.0"),
            file("b-1.0.0", "b", "1.0.0"),
            (
                ShowcaseFile {
                    name: "none".into(),
                    text: String::new(),
                },
                json!({}),
            ),
        ]);
        let names: Vec<&str> = kept.iter().map(|(f, _)| f.name.as_str()).collect();
        assert_eq!(names, ["a-0.10.0", "b-1.0.0", "none"]);
    }

    #[test]
    fn wrong_schema_is_refused() {
        let error = parse(json!({"snapshot_schema_version": "v0"})).unwrap_err();
        assert!(error.to_string().contains("unsupported"));
    }
}
