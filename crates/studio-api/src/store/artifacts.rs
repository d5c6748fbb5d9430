//! The design-record tables that share one shape: `requirements_sets`, `scenarios`, `shapes`,
//! `proposals`, `service_metadata_artifacts` and `pm_artifacts`.

use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::Result;
use crate::model::Artifact;

/// One of the design-record tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// `requirements_sets` (has `role`).
    Requirements,
    /// `scenarios`.
    Scenarios,
    /// `shapes` (has `requirements_id`).
    Shapes,
    /// `proposals` (has `requirements_id`).
    Proposals,
    /// `service_metadata_artifacts`.
    ServiceMetadata,
    /// `pm_artifacts`.
    PmArtifacts,
}

impl Table {
    /// The SQL table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Requirements => "requirements_sets",
            Table::Scenarios => "scenarios",
            Table::Shapes => "shapes",
            Table::Proposals => "proposals",
            Table::ServiceMetadata => "service_metadata_artifacts",
            Table::PmArtifacts => "pm_artifacts",
        }
    }

    /// How a person calls one row, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Table::Requirements => "requirements set",
            Table::Scenarios => "scenario",
            Table::Shapes => "shape",
            Table::Proposals => "proposal",
            Table::ServiceMetadata => "service metadata record",
            Table::PmArtifacts => "PM artifact",
        }
    }

    fn has_role(self) -> bool {
        self == Table::Requirements
    }

    fn has_requirements_id(self) -> bool {
        matches!(self, Table::Shapes | Table::Proposals)
    }

    fn columns(self) -> String {
        let mut columns = String::from(
            "id, project_id, title, status, data, content_hash, created_at, updated_at",
        );
        if self.has_role() {
            columns.push_str(", role");
        }
        if self.has_requirements_id() {
            columns.push_str(", requirements_id");
        }
        columns
    }

    fn read(self, row: &Row) -> Artifact {
        Artifact {
            id: row.get("id"),
            project_id: row.get("project_id"),
            title: row.get("title"),
            status: row.get("status"),
            data: row.get("data"),
            content_hash: row.get("content_hash"),
            role: self.has_role().then(|| row.get("role")),
            requirements_id: self
                .has_requirements_id()
                .then(|| row.get("requirements_id")),
            created_at: ts(row, "created_at"),
            updated_at: ts(row, "updated_at"),
        }
    }
}

/// A project's records of one table, oldest first.
pub async fn list(c: &impl GenericClient, table: Table, project_id: &str) -> Result<Vec<Artifact>> {
    let rows = c
        .query(
            &format!(
                "SELECT {} FROM {} WHERE project_id = $1 ORDER BY created_at, id",
                table.columns(),
                table.name()
            ),
            &[&project_id],
        )
        .await?;
    Ok(rows.iter().map(|r| table.read(r)).collect())
}

/// One record of a project.
pub async fn get(
    c: &impl GenericClient,
    table: Table,
    project_id: &str,
    id: &str,
) -> Result<Option<Artifact>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {} FROM {} WHERE project_id = $1 AND id = $2",
                table.columns(),
                table.name()
            ),
            &[&project_id, &id],
        )
        .await?;
    Ok(row.map(|r| table.read(&r)))
}

/// The project a record belongs to, whatever project it is.
pub async fn owner(c: &impl GenericClient, table: Table, id: &str) -> Result<Option<String>> {
    let row = c
        .query_opt(
            &format!("SELECT project_id FROM {} WHERE id = $1", table.name()),
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Inserts a record exactly as given (id, hash, role and requirements id included).
pub async fn insert(
    c: &impl GenericClient,
    table: Table,
    a: &Artifact,
    created_at: Option<OffsetDateTime>,
    updated_at: Option<OffsetDateTime>,
) -> Result<()> {
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), COALESCE($8, now())",
        table.name(),
        table.columns()
    );
    let role = a.role.clone().unwrap_or_else(|| "alternative".to_owned());
    let requirements_id = a.requirements_id.clone().unwrap_or_default();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
        &a.id,
        &a.project_id,
        &a.title,
        &a.status,
        &a.data,
        &a.content_hash,
        &created_at,
        &updated_at,
    ];
    if table.has_role() {
        sql.push_str(", $9");
        params.push(&role);
    }
    if table.has_requirements_id() {
        sql.push_str(&format!(", ${}", params.len() + 1));
        params.push(&requirements_id);
    }
    sql.push(')');
    c.execute(&sql, &params).await?;
    Ok(())
}

/// What to change in a record.
#[derive(Default)]
pub struct Changes<'a> {
    /// New title.
    pub title: Option<&'a str>,
    /// New status.
    pub status: Option<&'a str>,
    /// New data and its content hash.
    pub data: Option<(&'a Value, &'a str)>,
    /// Only update if the stored content hash is this one (optimistic concurrency).
    pub expected_hash: Option<&'a str>,
}

/// How an update went.
#[derive(Debug)]
pub enum Updated {
    /// Changed; the record as it is now.
    Done(Box<Artifact>),
    /// No such record.
    Missing,
    /// The record changed since the caller read it; its current hash.
    Stale(String),
}

/// Updates a record (title, status, data + hash), bumping `updated_at`.
pub async fn update(
    c: &impl GenericClient,
    table: Table,
    project_id: &str,
    id: &str,
    ch: &Changes<'_>,
) -> Result<Updated> {
    let (data, hash) = match ch.data {
        Some((data, hash)) => (Some(data), Some(hash)),
        None => (None, None),
    };
    let row = c
        .query_opt(
            &format!(
                "UPDATE {} SET title = COALESCE($3, title), status = COALESCE($4, status), \
                 data = COALESCE($5, data), content_hash = COALESCE($6, content_hash), \
                 updated_at = now() \
                 WHERE project_id = $1 AND id = $2 AND ($7::text IS NULL OR content_hash = $7) \
                 RETURNING {}",
                table.name(),
                table.columns()
            ),
            &[
                &project_id,
                &id,
                &ch.title,
                &ch.status,
                &data,
                &hash,
                &ch.expected_hash,
            ],
        )
        .await?;
    if let Some(row) = row {
        return Ok(Updated::Done(Box::new(table.read(&row))));
    }
    Ok(match get(c, table, project_id, id).await? {
        Some(current) => Updated::Stale(current.content_hash),
        None => Updated::Missing,
    })
}

/// Deletes a record.
pub async fn delete(
    c: &impl GenericClient,
    table: Table,
    project_id: &str,
    id: &str,
) -> Result<bool> {
    Ok(c.execute(
        &format!(
            "DELETE FROM {} WHERE project_id = $1 AND id = $2",
            table.name()
        ),
        &[&project_id, &id],
    )
    .await?
        == 1)
}

/// Ids of rows in `table` whose `column` points at `id` (to explain a blocked delete).
pub async fn referencing(
    c: &impl GenericClient,
    table: &'static str,
    column: &'static str,
    id: &str,
) -> Result<Vec<String>> {
    let rows = c
        .query(
            &format!("SELECT id FROM {table} WHERE {column} = $1 ORDER BY id"),
            &[&id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Makes `id` the project's primary requirements set (demoting the current one first, so the
/// one-primary index holds throughout) or an alternative.
pub async fn set_role(
    c: &impl GenericClient,
    project_id: &str,
    id: &str,
    role: &str,
) -> Result<bool> {
    if role == "primary" {
        c.execute(
            "UPDATE requirements_sets SET role = 'alternative' \
             WHERE project_id = $1 AND role = 'primary' AND id <> $2",
            &[&project_id, &id],
        )
        .await?;
    }
    Ok(c
        .execute(
            "UPDATE requirements_sets SET role = $3, updated_at = now() WHERE project_id = $1 AND id = $2",
            &[&project_id, &id, &role],
        )
        .await?
        == 1)
}

/// Whether the project has a primary requirements set.
pub async fn has_primary(c: &impl GenericClient, project_id: &str) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM requirements_sets WHERE project_id = $1 AND role = 'primary'",
        &[&project_id],
    )
    .await?
    .is_some())
}

/// PM artifacts of one `artifact_type`, oldest first (revisions by number).
pub async fn pm_by_type(
    c: &impl GenericClient,
    project_id: &str,
    artifact_type: &str,
) -> Result<Vec<Artifact>> {
    let table = Table::PmArtifacts;
    let rows = c
        .query(
            &format!(
                "SELECT {} FROM pm_artifacts WHERE project_id = $1 AND artifact_type = $2 \
                 ORDER BY revision_number NULLS LAST, created_at, id",
                table.columns()
            ),
            &[&project_id, &artifact_type],
        )
        .await?;
    Ok(rows.iter().map(|r| table.read(r)).collect())
}

/// PM artifacts of one `artifact_type` across every project, newest first.
pub async fn pm_by_type_everywhere(
    c: &impl GenericClient,
    artifact_type: &str,
) -> Result<Vec<Artifact>> {
    let table = Table::PmArtifacts;
    let rows = c
        .query(
            &format!(
                "SELECT {} FROM pm_artifacts WHERE artifact_type = $1 ORDER BY created_at DESC, id",
                table.columns()
            ),
            &[&artifact_type],
        )
        .await?;
    Ok(rows.iter().map(|r| table.read(r)).collect())
}

/// The highest-numbered revision of a revision type.
pub async fn latest_revision(
    c: &impl GenericClient,
    project_id: &str,
    artifact_type: &str,
) -> Result<Option<Artifact>> {
    let table = Table::PmArtifacts;
    let row = c
        .query_opt(
            &format!(
                "SELECT {} FROM pm_artifacts WHERE project_id = $1 AND artifact_type = $2 \
                 AND revision_number IS NOT NULL ORDER BY revision_number DESC LIMIT 1",
                table.columns()
            ),
            &[&project_id, &artifact_type],
        )
        .await?;
    Ok(row.map(|r| table.read(&r)))
}

/// The revision of a type with a given number.
pub async fn revision(
    c: &impl GenericClient,
    project_id: &str,
    artifact_type: &str,
    number: i64,
) -> Result<Option<Artifact>> {
    let table = Table::PmArtifacts;
    let row = c
        .query_opt(
            &format!(
                "SELECT {} FROM pm_artifacts WHERE project_id = $1 AND artifact_type = $2 \
                 AND revision_number = $3",
                table.columns()
            ),
            &[&project_id, &artifact_type, &number],
        )
        .await?;
    Ok(row.map(|r| table.read(&r)))
}

/// Inserts or replaces a PM artifact by id (for the single-record kinds: sections, the
/// baseline, the definition draft). Returns the stored row.
pub async fn upsert_pm(c: &impl GenericClient, a: &Artifact) -> Result<Option<Artifact>> {
    let table = Table::PmArtifacts;
    let row = c
        .query_opt(
            &format!(
                "INSERT INTO pm_artifacts (id, project_id, title, status, data, content_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, status = EXCLUDED.status, \
                 data = EXCLUDED.data, content_hash = EXCLUDED.content_hash, updated_at = now() \
                 WHERE pm_artifacts.project_id = EXCLUDED.project_id \
                 RETURNING {}",
                table.columns()
            ),
            &[
                &a.id,
                &a.project_id,
                &a.title,
                &a.status,
                &a.data,
                &a.content_hash,
            ],
        )
        .await?;
    Ok(row.map(|r| table.read(&r)))
}
