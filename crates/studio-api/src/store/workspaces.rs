//! `workspaces`.

use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::Result;
use crate::model::Workspace;

const COLUMNS: &str = "w.id, w.name, w.summary, w.created_at, w.updated_at, \
    (SELECT count(*) FROM projects p WHERE p.workspace_id = w.id) AS projects_count";

fn from_row(row: &Row) -> Workspace {
    Workspace {
        id: row.get("id"),
        name: row.get("name"),
        summary: row.get("summary"),
        created_at: ts(row, "created_at"),
        updated_at: ts(row, "updated_at"),
        projects_count: row.get("projects_count"),
    }
}

/// Every workspace, most recently changed first.
pub async fn list(c: &impl GenericClient) -> Result<Vec<Workspace>> {
    let rows = c
        .query(
            &format!("SELECT {COLUMNS} FROM workspaces w ORDER BY w.updated_at DESC, w.name, w.id"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// One workspace.
pub async fn get(c: &impl GenericClient, id: &str) -> Result<Option<Workspace>> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM workspaces w WHERE w.id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// Creates a workspace (409 through a unique violation if the id is taken).
pub async fn insert(c: &impl GenericClient, id: &str, name: &str, summary: &str) -> Result<()> {
    c.execute(
        "INSERT INTO workspaces (id, name, summary) VALUES ($1, $2, $3)",
        &[&id, &name, &summary],
    )
    .await?;
    Ok(())
}

/// Updates name and summary; `false` when there is no such workspace.
pub async fn update(
    c: &impl GenericClient,
    id: &str,
    name: Option<&str>,
    summary: Option<&str>,
) -> Result<bool> {
    let n = c
        .execute(
            "UPDATE workspaces SET name = COALESCE($2, name), summary = COALESCE($3, summary), \
             updated_at = now() WHERE id = $1",
            &[&id, &name, &summary],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a workspace and (by cascade) everything in it.
pub async fn delete(c: &impl GenericClient, id: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM workspaces WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// Creates a workspace with the given timestamps unless one with this id exists, in which case
/// it is left exactly as it is (snapshot restore never edits an existing workspace). `true`
/// when it was created.
pub async fn insert_if_absent(
    c: &impl GenericClient,
    id: &str,
    name: &str,
    summary: &str,
    created_at: Option<OffsetDateTime>,
    updated_at: Option<OffsetDateTime>,
) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO workspaces (id, name, summary, created_at, updated_at) \
             VALUES ($1, $2, $3, COALESCE($4, now()), COALESCE($5, now())) \
             ON CONFLICT (id) DO NOTHING",
            &[&id, &name, &summary, &created_at, &updated_at],
        )
        .await?;
    Ok(n == 1)
}
