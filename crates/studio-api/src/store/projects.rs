//! `projects`.

use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::{Error, Result};
use crate::model::{Project, ProjectDetail};

const COLUMNS: &str = "p.id, p.workspace_id, p.name, p.summary, p.domain, p.labels, \
    p.project_type, p.integration_profile, p.created_at, p.updated_at";

fn from_row(row: &Row) -> Result<Project> {
    let labels: Value = row.get("labels");
    let labels = serde_json::from_value::<Vec<String>>(labels)
        .map_err(|e| Error::Internal(format!("project labels are not a list of strings: {e}")))?;
    Ok(Project {
        id: row.get("id"),
        workspace_id: row.get("workspace_id"),
        name: row.get("name"),
        summary: row.get("summary"),
        domain: row.get("domain"),
        labels,
        project_type: row.get("project_type"),
        integration_profile: row.get("integration_profile"),
        created_at: ts(row, "created_at"),
        updated_at: ts(row, "updated_at"),
    })
}

/// Projects, most recently changed first; all of them or one workspace's.
pub async fn list(c: &impl GenericClient, workspace_id: Option<&str>) -> Result<Vec<Project>> {
    let rows = c
        .query(
            &format!(
                "SELECT {COLUMNS} FROM projects p WHERE ($1::text IS NULL OR p.workspace_id = $1) \
                 ORDER BY p.updated_at DESC, p.id"
            ),
            &[&workspace_id],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// One project.
pub async fn get(c: &impl GenericClient, id: &str) -> Result<Option<Project>> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM projects p WHERE p.id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Locks a project row for the rest of the transaction (serializes revision saves and
/// publications of one project) and returns it.
pub async fn get_for_update(c: &impl GenericClient, id: &str) -> Result<Option<Project>> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM projects p WHERE p.id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One project with counts.
pub async fn detail(c: &impl GenericClient, id: &str) -> Result<Option<ProjectDetail>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {COLUMNS}, \
                 (SELECT count(*) FROM requirements_sets x WHERE x.project_id = p.id) AS requirements_count, \
                 (SELECT count(*) FROM scenarios x WHERE x.project_id = p.id) AS scenarios_count, \
                 (SELECT count(*) FROM proposals x WHERE x.project_id = p.id) AS proposals_count, \
                 (SELECT count(*) FROM evaluations x WHERE x.project_id = p.id) AS evaluations_count, \
                 (SELECT count(*) FROM shapes x WHERE x.project_id = p.id) AS shapes_count, \
                 (SELECT count(*) FROM project_documents x WHERE x.project_id = p.id) AS documents_count, \
                 (SELECT count(*) FROM pm_artifacts x WHERE x.project_id = p.id) AS pm_artifacts_count, \
                 (SELECT count(*) FROM local_publications x WHERE x.project_id = p.id) AS local_publications_count \
                 FROM projects p WHERE p.id = $1"
            ),
            &[&id],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ProjectDetail {
        project: from_row(&row)?,
        requirements_count: row.get("requirements_count"),
        scenarios_count: row.get("scenarios_count"),
        proposals_count: row.get("proposals_count"),
        evaluations_count: row.get("evaluations_count"),
        shapes_count: row.get("shapes_count"),
        documents_count: row.get("documents_count"),
        pm_artifacts_count: row.get("pm_artifacts_count"),
        local_publications_count: row.get("local_publications_count"),
    }))
}

/// A new project row.
pub struct NewProject<'a> {
    /// Id.
    pub id: &'a str,
    /// Workspace.
    pub workspace_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Summary.
    pub summary: &'a str,
    /// Domain.
    pub domain: &'a str,
    /// Labels (a JSON array of strings).
    pub labels: &'a Value,
    /// Project type.
    pub project_type: &'a str,
    /// Integration profile.
    pub integration_profile: &'a Value,
    /// Creation time (`None`: now).
    pub created_at: Option<OffsetDateTime>,
    /// Last change (`None`: now).
    pub updated_at: Option<OffsetDateTime>,
}

/// Inserts a project.
pub async fn insert(c: &impl GenericClient, p: &NewProject<'_>) -> Result<()> {
    c.execute(
        "INSERT INTO projects (id, workspace_id, name, summary, domain, labels, project_type, \
         integration_profile, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, now()), COALESCE($10, now()))",
        &[
            &p.id,
            &p.workspace_id,
            &p.name,
            &p.summary,
            &p.domain,
            p.labels,
            &p.project_type,
            p.integration_profile,
            &p.created_at,
            &p.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Changes to a project; `None` keeps a field.
#[derive(Default)]
pub struct ProjectChanges<'a> {
    /// Name.
    pub name: Option<&'a str>,
    /// Summary.
    pub summary: Option<&'a str>,
    /// Domain.
    pub domain: Option<&'a str>,
    /// Labels.
    pub labels: Option<&'a Value>,
    /// Project type.
    pub project_type: Option<&'a str>,
    /// Integration profile.
    pub integration_profile: Option<&'a Value>,
}

/// Updates a project; `false` when there is no such project.
pub async fn update(c: &impl GenericClient, id: &str, ch: &ProjectChanges<'_>) -> Result<bool> {
    let n = c
        .execute(
            "UPDATE projects SET name = COALESCE($2, name), summary = COALESCE($3, summary), \
             domain = COALESCE($4, domain), labels = COALESCE($5, labels), \
             project_type = COALESCE($6, project_type), \
             integration_profile = COALESCE($7, integration_profile), updated_at = now() \
             WHERE id = $1",
            &[
                &id,
                &ch.name,
                &ch.summary,
                &ch.domain,
                &ch.labels,
                &ch.project_type,
                &ch.integration_profile,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Marks a project as changed now.
pub async fn touch(c: &impl GenericClient, id: &str) -> Result<()> {
    c.execute(
        "UPDATE projects SET updated_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

/// Deletes a project and (by cascade) everything it owns.
pub async fn delete(c: &impl GenericClient, id: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM projects WHERE id = $1", &[&id])
        .await?
        == 1)
}
