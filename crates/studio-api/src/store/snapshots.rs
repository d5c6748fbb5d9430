//! The tables only snapshots use: saved designs of older upstream editors and the provenance
//! of imported projects.

use serde_json::Value;
use time::OffsetDateTime;

use super::{ts, GenericClient};
use crate::error::Result;
use crate::model::SavedDesign;

/// The two saved-design tables, which differ only in the name column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedDesignTable {
    /// `data_access_projects` (`name`).
    DataAccess,
    /// `application_integration_projects` (`title`).
    ApplicationIntegration,
}

impl SavedDesignTable {
    /// SQL table name.
    pub fn name(self) -> &'static str {
        match self {
            SavedDesignTable::DataAccess => "data_access_projects",
            SavedDesignTable::ApplicationIntegration => "application_integration_projects",
        }
    }

    /// The column holding the display name.
    pub fn name_column(self) -> &'static str {
        match self {
            SavedDesignTable::DataAccess => "name",
            SavedDesignTable::ApplicationIntegration => "title",
        }
    }
}

/// A project's saved designs, oldest first.
pub async fn list_saved(
    c: &impl GenericClient,
    table: SavedDesignTable,
    project_id: &str,
) -> Result<Vec<SavedDesign>> {
    let rows = c
        .query(
            &format!(
                "SELECT id, {} AS name, studio_project_id, state, created_at, updated_at FROM {} \
                 WHERE studio_project_id = $1 ORDER BY created_at, id",
                table.name_column(),
                table.name()
            ),
            &[&project_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SavedDesign {
            id: r.get("id"),
            name: r.get("name"),
            studio_project_id: r.get("studio_project_id"),
            state: r.get("state"),
            created_at: ts(r, "created_at"),
            updated_at: ts(r, "updated_at"),
        })
        .collect())
}

/// Inserts a saved design.
pub async fn insert_saved(
    c: &impl GenericClient,
    table: SavedDesignTable,
    d: &SavedDesign,
    created_at: Option<OffsetDateTime>,
    updated_at: Option<OffsetDateTime>,
) -> Result<()> {
    c.execute(
        &format!(
            "INSERT INTO {} (id, {}, studio_project_id, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, COALESCE($5, now()), COALESCE($6, now()))",
            table.name(),
            table.name_column()
        ),
        &[
            &d.id,
            &d.name,
            &d.studio_project_id,
            &d.state,
            &created_at,
            &updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Where an imported project came from.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotSource {
    /// The snapshot's id.
    pub snapshot_id: String,
    /// The snapshot's `source`.
    pub source: String,
    /// The snapshot's `exported_at`.
    pub exported_at: String,
    /// The snapshot's `published_packages`.
    pub published_packages: Value,
    /// Hex SHA-256 of the snapshot file as seeded (empty for API imports).
    pub snapshot_sha256: String,
}

/// Provenance of an imported project.
pub async fn source(c: &impl GenericClient, project_id: &str) -> Result<Option<SnapshotSource>> {
    let row = c
        .query_opt(
            "SELECT snapshot_id, source, exported_at, published_packages, snapshot_sha256 \
             FROM project_snapshot_sources WHERE project_id = $1",
            &[&project_id],
        )
        .await?;
    Ok(row.map(|r| SnapshotSource {
        snapshot_id: r.get(0),
        source: r.get(1),
        exported_at: r.get(2),
        published_packages: r.get(3),
        snapshot_sha256: r.get(4),
    }))
}

/// Records the provenance of an imported project.
pub async fn put_source(
    c: &impl GenericClient,
    project_id: &str,
    s: &SnapshotSource,
) -> Result<()> {
    c.execute(
        "INSERT INTO project_snapshot_sources (project_id, snapshot_id, source, exported_at, \
         published_packages, snapshot_sha256) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (project_id) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id, \
         source = EXCLUDED.source, exported_at = EXCLUDED.exported_at, \
         published_packages = EXCLUDED.published_packages, \
         snapshot_sha256 = EXCLUDED.snapshot_sha256, imported_at = now()",
        &[
            &project_id,
            &s.snapshot_id,
            &s.source,
            &s.exported_at,
            &s.published_packages,
            &s.snapshot_sha256,
        ],
    )
    .await?;
    Ok(())
}

/// Takes a transaction-scoped advisory lock (released at commit or rollback).
pub async fn lock(c: &impl GenericClient, key: i64) -> Result<()> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .await?;
    Ok(())
}
