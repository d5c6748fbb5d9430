//! Projects: create, change, delete (cascading) and deep clone.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{check_json, check_text, developer, project, publish};
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{self, ProjectId, ProjectType, WorkspaceId};
use crate::model::{Artifact, DiscoveryRecord, Evaluation, Project, ProjectDetail, SavedDesign};
use crate::rules::{self, contract};
use crate::store::{
    self, artifacts::Table, projects::NewProject, snapshots::SavedDesignTable, Db, GenericClient,
};

/// Body of `POST /api/projects`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProjectBody {
    /// Id; a UUID is generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<ProjectId>,
    /// Workspace; `default` when absent.
    #[schema(value_type = Option<String>)]
    pub workspace_id: Option<WorkspaceId>,
    /// Display name.
    pub name: String,
    /// Short description.
    #[serde(default)]
    pub summary: String,
    /// Business domain.
    #[serde(default)]
    pub domain: String,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// `standard` (default) or `governed_service_project`.
    #[serde(default = "standard")]
    pub project_type: ProjectType,
    /// Backend systems fronted; `{"kind": "none", "systems": []}` by default.
    #[schema(value_type = Option<Object>)]
    pub integration_profile: Option<Value>,
}

fn standard() -> ProjectType {
    ProjectType::Standard
}

/// Body of `PUT /api/projects/{project_id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectChangesBody {
    /// New name.
    pub name: Option<String>,
    /// New summary.
    pub summary: Option<String>,
    /// New domain.
    pub domain: Option<String>,
    /// New labels.
    pub labels: Option<Vec<String>>,
    /// New type.
    pub project_type: Option<ProjectType>,
    /// New integration profile.
    #[schema(value_type = Option<Object>)]
    pub integration_profile: Option<Value>,
}

/// Body of `POST /api/projects/{project_id}/clone`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneBody {
    /// Id of the copy; a UUID is generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<ProjectId>,
    /// Workspace of the copy; the source's when absent.
    #[schema(value_type = Option<String>)]
    pub workspace_id: Option<WorkspaceId>,
    /// Name of the copy; "<name> Copy" when absent.
    pub name: Option<String>,
    /// Summary of the copy; the source's when absent.
    pub summary: Option<String>,
}

fn check_fields(
    name: Option<&str>,
    summary: Option<&str>,
    domain: Option<&str>,
    labels: Option<&[String]>,
    profile: Option<&Value>,
) -> Result<()> {
    if let Some(name) = name {
        if name.trim().is_empty() {
            return Err(Error::Unprocessable("name must not be empty".into()));
        }
        check_text("name", name, 500)?;
    }
    if let Some(summary) = summary {
        check_text("summary", summary, 20_000)?;
    }
    if let Some(domain) = domain {
        check_text("domain", domain, 500)?;
    }
    if let Some(labels) = labels {
        if labels.len() > 100 {
            return Err(Error::Unprocessable("at most 100 labels".into()));
        }
        for label in labels {
            check_text("labels", label, 200)?;
        }
    }
    if let Some(profile) = profile {
        if !profile.is_object() {
            return Err(Error::Unprocessable(
                "integration_profile must be a JSON object".into(),
            ));
        }
        check_json("integration_profile", profile)?;
    }
    Ok(())
}

/// Projects, all or one workspace's.
pub async fn list(db: &Db, workspace: Option<&WorkspaceId>) -> Result<Vec<Project>> {
    store::projects::list(&db.client().await?, workspace.map(WorkspaceId::as_str)).await
}

/// One project with counts.
pub async fn detail(db: &Db, id: &ProjectId) -> Result<ProjectDetail> {
    store::projects::detail(&db.client().await?, id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("project", id.as_str()))
}

/// Creates a project.
pub async fn create(db: &Db, body: NewProjectBody) -> Result<Project> {
    check_fields(
        Some(&body.name),
        Some(&body.summary),
        Some(&body.domain),
        Some(&body.labels),
        body.integration_profile.as_ref(),
    )?;
    let workspace = body
        .workspace_id
        .unwrap_or_else(WorkspaceId::default_workspace);
    let id = body
        .id
        .map(|i| i.as_str().to_owned())
        .unwrap_or_else(ids::new_uuid);
    let client = db.client().await?;
    if store::workspaces::get(&client, workspace.as_str())
        .await?
        .is_none()
    {
        return Err(Error::not_found("workspace", workspace.as_str()));
    }
    let labels = json!(body.labels);
    let profile = body
        .integration_profile
        .unwrap_or_else(|| json!({"kind": "none", "systems": []}));
    store::projects::insert(
        &client,
        &NewProject {
            id: &id,
            workspace_id: workspace.as_str(),
            name: body.name.trim(),
            summary: &body.summary,
            domain: &body.domain,
            labels: &labels,
            project_type: body.project_type.as_str(),
            integration_profile: &profile,
            created_at: None,
            updated_at: None,
        },
    )
    .await?;
    project(&client, &id).await
}

/// Changes a project.
pub async fn update(db: &Db, id: &ProjectId, body: ProjectChangesBody) -> Result<Project> {
    check_fields(
        body.name.as_deref(),
        body.summary.as_deref(),
        body.domain.as_deref(),
        body.labels.as_deref(),
        body.integration_profile.as_ref(),
    )?;
    let labels = body.labels.as_ref().map(|l| json!(l));
    let client = db.client().await?;
    let found = store::projects::update(
        &client,
        id.as_str(),
        &store::projects::ProjectChanges {
            name: body.name.as_deref().map(str::trim),
            summary: body.summary.as_deref(),
            domain: body.domain.as_deref(),
            labels: labels.as_ref(),
            project_type: body.project_type.map(ProjectType::as_str),
            integration_profile: body.integration_profile.as_ref(),
        },
    )
    .await?;
    if !found {
        return Err(Error::not_found("project", id.as_str()));
    }
    project(&client, id.as_str()).await
}

/// Deletes a project and everything it owns.
pub async fn delete(db: &Db, id: &ProjectId) -> Result<()> {
    if !store::projects::delete(&db.client().await?, id.as_str()).await? {
        return Err(Error::not_found("project", id.as_str()));
    }
    Ok(())
}

/// Replaces every old id (and old content hash) inside `value` by its new one, also where an
/// id is embedded in a longer string (upstream keys like `scenario_formalization:<id>:...`).
/// Longer ids are replaced first so an id that prefixes another cannot clobber it.
pub fn remap(value: &Value, replacements: &[(String, String)]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), remap(v, replacements)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| remap(v, replacements)).collect()),
        Value::String(text) => {
            let mut out = text.clone();
            for (old, new) in replacements {
                if out.contains(old.as_str()) {
                    out = out.replace(old.as_str(), new);
                }
            }
            Value::String(out)
        }
        other => other.clone(),
    }
}

fn replacements(map: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map
        .iter()
        .filter(|(old, new)| !old.is_empty() && old != new)
        .map(|(o, n)| (o.clone(), n.clone()))
        .collect();
    pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    pairs
}

/// Deep-copies a project with new ids: every design record, document, evaluation and saved
/// design, references between them rewritten, content hashes recomputed and frozen hashes
/// (evaluations, baseline, revisions) pointed at the copies. Publication records (local and
/// Registry) are not copied: they record what the source project published. A developer
/// revision whose recorded contract signature matched its compiled contract in the source is
/// re-signed for the copy (its ids and name changed, so its contract did), so a clone of a
/// publishable project is publishable; one that had drifted in the source keeps its drift.
pub async fn clone(db: &Db, source: &ProjectId, body: CloneBody) -> Result<Project> {
    check_fields(
        body.name.as_deref(),
        body.summary.as_deref(),
        None,
        None,
        None,
    )?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let original = project(&tx, source.as_str()).await?;
    let workspace = body
        .workspace_id
        .map(|w| w.as_str().to_owned())
        .unwrap_or_else(|| original.workspace_id.clone());
    if store::workspaces::get(&tx, &workspace).await?.is_none() {
        return Err(Error::not_found("workspace", &workspace));
    }
    let target = body
        .id
        .map(|i| i.as_str().to_owned())
        .unwrap_or_else(ids::new_uuid);
    let name = body
        .name
        .unwrap_or_else(|| format!("{} Copy", original.name));
    let summary = body.summary.unwrap_or_else(|| original.summary.clone());
    let labels = json!(original.labels);
    store::projects::insert(
        &tx,
        &NewProject {
            id: &target,
            workspace_id: &workspace,
            name: name.trim(),
            summary: &summary,
            domain: &original.domain,
            labels: &labels,
            project_type: &original.project_type,
            integration_profile: &original.integration_profile,
            created_at: None,
            updated_at: None,
        },
    )
    .await?;
    let copy = project(&tx, &target).await?;
    copy_records(&tx, &original, &copy).await?;
    let copy = project(&tx, &target).await?;
    tx.commit().await?;
    Ok(copy)
}

async fn copy_records(
    tx: &impl GenericClient,
    original: &Project,
    copy_project: &Project,
) -> Result<()> {
    let source = original.id.as_str();
    let target = copy_project.id.as_str();
    const TABLES: [(Table, &str); 6] = [
        (Table::Requirements, "requirement"),
        (Table::Scenarios, "scenario"),
        (Table::ServiceMetadata, "service-metadata"),
        (Table::Proposals, "proposal"),
        (Table::Shapes, "shape"),
        (Table::PmArtifacts, "pm-artifact"),
    ];
    // New ids first, for every kind, so any record can refer to any other. Records whose id
    // embeds the project id (upstream's `{project}-{kind}`) keep their suffix.
    let mut ids_map: HashMap<String, String> = HashMap::new();
    ids_map.insert(source.to_owned(), target.to_owned());
    let new_id = |old: &str, prefix: &str| -> String {
        match old.strip_prefix(source) {
            Some(rest) if !rest.is_empty() => format!("{target}{rest}"),
            _ => ids::new_id(prefix),
        }
    };
    let mut loaded = Vec::new();
    for (table, prefix) in TABLES {
        let rows = store::artifacts::list(tx, table, source).await?;
        for row in &rows {
            ids_map.insert(row.id.clone(), new_id(&row.id, prefix));
        }
        loaded.push((table, rows));
    }
    let records = store::connections::list_records(tx, source).await?;
    for r in &records {
        ids_map.insert(r.id.clone(), new_id(&r.id, "integration-discovery"));
    }
    let evaluations = store::evaluations::list(tx, source, None, None).await?;
    for e in &evaluations {
        ids_map.insert(e.id.clone(), new_id(&e.id, "evaluation"));
    }
    let documents = store::documents::list_with_content(tx, source).await?;
    for (d, _) in &documents {
        ids_map.insert(d.id.clone(), new_id(&d.id, "document"));
    }
    let mut saved = Vec::new();
    for (table, prefix) in [
        (SavedDesignTable::DataAccess, "data-access"),
        (SavedDesignTable::ApplicationIntegration, "app-int"),
    ] {
        let rows = store::snapshots::list_saved(tx, table, source).await?;
        for row in &rows {
            ids_map.insert(row.id.clone(), new_id(&row.id, prefix));
        }
        saved.push((table, rows));
    }

    // Records in dependency order; hashes of remapped data change, and later records (the
    // baseline, revisions, evaluations) must refer to the new hashes.
    let mut hashes: HashMap<String, String> = HashMap::new();
    let mut pairs = replacements(&ids_map);
    // Developer revisions and the working definition go last: they are re-signed against the
    // copied baseline and records, and the definition carries its revision's signature.
    let mut deferred: Vec<&Artifact> = Vec::new();
    for (table, rows) in &loaded {
        for row in rows {
            if *table == Table::PmArtifacts {
                match rules::field(&row.data, "artifact_type").as_str() {
                    publish::REGISTRY_PUBLICATION_TYPE => continue,
                    contract::REVISION_TYPE | contract::DEFINITION_TYPE => {
                        deferred.push(row);
                        continue;
                    }
                    _ => {}
                }
            }
            let mut copy = row.clone();
            copy.id = ids_map[&row.id].clone();
            copy.project_id = target.to_owned();
            copy.data = remap(&row.data, &pairs);
            copy.requirements_id = row
                .requirements_id
                .as_ref()
                .map(|r| ids_map.get(r).cloned().unwrap_or_else(|| r.clone()));
            copy.content_hash = hashing::content_hash(&copy.data);
            if copy.content_hash != row.content_hash {
                hashes.insert(row.content_hash.clone(), copy.content_hash.clone());
                pairs = replacements(&ids_map.clone().into_iter().chain(hashes.clone()).collect());
            }
            store::artifacts::insert(tx, *table, &copy, None, None).await?;
        }
    }
    let revision_number = |a: &Artifact| {
        a.data
            .pointer("/saved_revision/revision_number")
            .and_then(Value::as_i64)
    };
    deferred.sort_by_key(|a| {
        (
            rules::field(&a.data, "artifact_type") == contract::DEFINITION_TYPE,
            revision_number(a),
        )
    });
    for row in deferred {
        let mut copy = row.clone();
        copy.id = ids_map[&row.id].clone();
        copy.project_id = target.to_owned();
        copy.data = remap(&row.data, &pairs);
        if rules::field(&row.data, "artifact_type") == contract::REVISION_TYPE {
            let recorded = developer::recorded_signature(&row.data);
            let matched = !recorded.is_empty()
                && developer::recompiled_signature(tx, original, &row.data)
                    .await?
                    .is_some_and(|now| now == recorded);
            if matched {
                if let Some(signature) =
                    developer::recompiled_signature(tx, copy_project, &copy.data).await?
                {
                    copy.data["compiled_contract_identity"]["signature"] = json!(signature);
                    hashes.insert(recorded, signature);
                }
            }
        }
        copy.content_hash = hashing::content_hash(&copy.data);
        if copy.content_hash != row.content_hash {
            hashes.insert(row.content_hash.clone(), copy.content_hash.clone());
        }
        pairs = replacements(&ids_map.clone().into_iter().chain(hashes.clone()).collect());
        store::artifacts::insert(tx, Table::PmArtifacts, &copy, None, None).await?;
    }
    let pairs = replacements(&ids_map.clone().into_iter().chain(hashes.clone()).collect());
    let mapped = |id: &Option<String>| {
        id.as_ref()
            .map(|i| ids_map.get(i).cloned().unwrap_or_else(|| i.clone()))
    };
    for r in records {
        let data = remap(&r.data, &pairs);
        let copy = DiscoveryRecord {
            id: ids_map[&r.id].clone(),
            project_id: target.to_owned(),
            connection_id: r.connection_id.clone(),
            content_hash: discovery_hash(&r, &data),
            data,
            ..r
        };
        store::connections::insert_record(tx, &copy, None, None).await?;
    }
    for e in evaluations {
        let frozen = |h: &str| hashes.get(h).cloned().unwrap_or_else(|| h.to_owned());
        let copy = Evaluation {
            id: ids_map[&e.id].clone(),
            project_id: target.to_owned(),
            proposal_id: mapped(&e.proposal_id),
            scenario_id: ids_map
                .get(&e.scenario_id)
                .cloned()
                .unwrap_or(e.scenario_id.clone()),
            requirements_id: ids_map
                .get(&e.requirements_id)
                .cloned()
                .unwrap_or(e.requirements_id.clone()),
            shape_id: mapped(&e.shape_id),
            data: remap(&e.data, &pairs),
            input_snapshot: remap(&e.input_snapshot, &pairs),
            derived_expectations: e.derived_expectations.as_ref().map(|d| remap(d, &pairs)),
            requirements_hash: frozen(&e.requirements_hash),
            proposal_hash: frozen(&e.proposal_hash),
            scenario_hash: frozen(&e.scenario_hash),
            shape_hash: frozen(&e.shape_hash),
            ..e
        };
        store::evaluations::insert(tx, &copy, None).await?;
    }
    for (d, content) in documents {
        let mut copy = d.clone();
        copy.id = ids_map[&d.id].clone();
        copy.project_id = target.to_owned();
        store::documents::insert(tx, &copy, &content, None, None).await?;
    }
    for (table, rows) in saved {
        for row in rows {
            let copy = SavedDesign {
                id: ids_map[&row.id].clone(),
                studio_project_id: Some(target.to_owned()),
                state: remap(&row.state, &pairs),
                ..row
            };
            store::snapshots::insert_saved(tx, table, &copy, None, None).await?;
        }
    }
    Ok(())
}

/// Upstream's discovery record hash: the hash of its descriptive fields and data.
pub fn discovery_hash(r: &DiscoveryRecord, data: &Value) -> String {
    hashing::content_hash(&json!({
        "connection_id": r.connection_id,
        "operation_id": r.operation_id,
        "backend_kind": r.backend_kind,
        "method": r.method,
        "path_template": r.path_template,
        "side_effect_level": r.side_effect_level,
        "input_schema_summary": r.input_schema_summary,
        "risk_notes": r.risk_notes,
        "data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_replaces_ids_inside_strings_longest_first() {
        let mut map = HashMap::new();
        map.insert("p1".to_owned(), "q9".to_owned());
        map.insert("p1-req".to_owned(), "q9-req".to_owned());
        map.insert("scn-1".to_owned(), "scn-x".to_owned());
        let value = json!({"a": "p1-req", "b": ["scenario_formalization:scn-1:step"], "n": 1});
        assert_eq!(
            remap(&value, &replacements(&map)),
            json!({"a": "q9-req", "b": ["scenario_formalization:scn-x:step"], "n": 1})
        );
    }
}
