//! `workspace_connections` and `integration_discovery_records`.

use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::{Error, Result};
use crate::model::{Connection, DiscoveryRecord};

const CONNECTION_COLUMNS: &str = "id, workspace_id, display_name, backend_kind, system_kind, \
    endpoint_ref, auth_mode, identity_provider_ref, secret_ref, allowed_project_refs, metadata, \
    created_at, updated_at";

fn connection(row: &Row) -> Result<Connection> {
    let refs: Value = row.get("allowed_project_refs");
    Ok(Connection {
        id: row.get("id"),
        workspace_id: row.get("workspace_id"),
        display_name: row.get("display_name"),
        backend_kind: row.get("backend_kind"),
        system_kind: row.get("system_kind"),
        endpoint_ref: row.get("endpoint_ref"),
        auth_mode: row.get("auth_mode"),
        identity_provider_ref: row.get("identity_provider_ref"),
        secret_ref: row.get("secret_ref"),
        allowed_project_refs: serde_json::from_value(refs)
            .map_err(|e| Error::Internal(format!("allowed_project_refs: {e}")))?,
        metadata: row.get("metadata"),
        created_at: ts(row, "created_at"),
        updated_at: ts(row, "updated_at"),
    })
}

/// A workspace's connections, oldest first (the snapshot order).
pub async fn list(c: &impl GenericClient, workspace_id: &str) -> Result<Vec<Connection>> {
    let rows = c
        .query(
            &format!(
                "SELECT {CONNECTION_COLUMNS} FROM workspace_connections WHERE workspace_id = $1 \
                 ORDER BY created_at, id"
            ),
            &[&workspace_id],
        )
        .await?;
    rows.iter().map(connection).collect()
}

/// One connection of a workspace.
pub async fn get(
    c: &impl GenericClient,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Connection>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {CONNECTION_COLUMNS} FROM workspace_connections \
                 WHERE workspace_id = $1 AND id = $2"
            ),
            &[&workspace_id, &id],
        )
        .await?;
    row.as_ref().map(connection).transpose()
}

/// A connection row to write.
pub struct ConnectionRow<'a> {
    /// Id.
    pub id: &'a str,
    /// Workspace.
    pub workspace_id: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Backend kind.
    pub backend_kind: &'a str,
    /// System kind.
    pub system_kind: &'a str,
    /// Endpoint reference.
    pub endpoint_ref: &'a str,
    /// Auth mode.
    pub auth_mode: &'a str,
    /// Identity provider reference.
    pub identity_provider_ref: &'a str,
    /// Secret reference.
    pub secret_ref: &'a str,
    /// Allowed project refs (JSON array).
    pub allowed_project_refs: &'a Value,
    /// Metadata (JSON object).
    pub metadata: &'a Value,
    /// Creation time (`None`: now).
    pub created_at: Option<OffsetDateTime>,
    /// Last change (`None`: now).
    pub updated_at: Option<OffsetDateTime>,
}

/// Inserts a connection; with `keep_existing`, one that already exists with the same id is
/// left as it is (snapshot restore never edits an existing workspace's connections).
pub async fn write(
    c: &impl GenericClient,
    r: &ConnectionRow<'_>,
    keep_existing: bool,
) -> Result<()> {
    let conflict = if keep_existing {
        "ON CONFLICT (id) DO NOTHING"
    } else {
        ""
    };
    c.execute(
        &format!(
            "INSERT INTO workspace_connections ({CONNECTION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, COALESCE($12, now()), COALESCE($13, now())) \
             {conflict}"
        ),
        &[
            &r.id,
            &r.workspace_id,
            &r.display_name,
            &r.backend_kind,
            &r.system_kind,
            &r.endpoint_ref,
            &r.auth_mode,
            &r.identity_provider_ref,
            &r.secret_ref,
            r.allowed_project_refs,
            r.metadata,
            &r.created_at,
            &r.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Replaces a connection's fields (timestamps: `updated_at = now()`); `false` if absent.
pub async fn update(c: &impl GenericClient, r: &ConnectionRow<'_>) -> Result<bool> {
    let n = c
        .execute(
            "UPDATE workspace_connections SET display_name = $3, backend_kind = $4, \
             system_kind = $5, endpoint_ref = $6, auth_mode = $7, identity_provider_ref = $8, \
             secret_ref = $9, allowed_project_refs = $10, metadata = $11, updated_at = now() \
             WHERE workspace_id = $2 AND id = $1",
            &[
                &r.id,
                &r.workspace_id,
                &r.display_name,
                &r.backend_kind,
                &r.system_kind,
                &r.endpoint_ref,
                &r.auth_mode,
                &r.identity_provider_ref,
                &r.secret_ref,
                r.allowed_project_refs,
                r.metadata,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a connection.
pub async fn delete(c: &impl GenericClient, workspace_id: &str, id: &str) -> Result<bool> {
    Ok(c.execute(
        "DELETE FROM workspace_connections WHERE workspace_id = $1 AND id = $2",
        &[&workspace_id, &id],
    )
    .await?
        == 1)
}

const RECORD_COLUMNS: &str = "id, project_id, connection_id, operation_id, backend_kind, method, \
    path_template, side_effect_level, input_schema_summary, risk_notes, data, content_hash, \
    created_at, updated_at";

fn record(row: &Row) -> DiscoveryRecord {
    DiscoveryRecord {
        id: row.get("id"),
        project_id: row.get("project_id"),
        connection_id: row.get("connection_id"),
        operation_id: row.get("operation_id"),
        backend_kind: row.get("backend_kind"),
        method: row.get("method"),
        path_template: row.get("path_template"),
        side_effect_level: row.get("side_effect_level"),
        input_schema_summary: row.get("input_schema_summary"),
        risk_notes: row.get("risk_notes"),
        data: row.get("data"),
        content_hash: row.get("content_hash"),
        created_at: ts(row, "created_at"),
        updated_at: ts(row, "updated_at"),
    }
}

/// A project's discovery records, oldest first.
pub async fn list_records(
    c: &impl GenericClient,
    project_id: &str,
) -> Result<Vec<DiscoveryRecord>> {
    let rows = c
        .query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM integration_discovery_records WHERE project_id = $1 \
                 ORDER BY created_at, id"
            ),
            &[&project_id],
        )
        .await?;
    Ok(rows.iter().map(record).collect())
}

/// Inserts a discovery record as given (content hash included).
pub async fn insert_record(
    c: &impl GenericClient,
    r: &DiscoveryRecord,
    created_at: Option<OffsetDateTime>,
    updated_at: Option<OffsetDateTime>,
) -> Result<()> {
    c.execute(
        &format!(
            "INSERT INTO integration_discovery_records ({RECORD_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, COALESCE($13, now()), COALESCE($14, now()))"
        ),
        &[
            &r.id,
            &r.project_id,
            &r.connection_id,
            &r.operation_id,
            &r.backend_kind,
            &r.method,
            &r.path_template,
            &r.side_effect_level,
            &r.input_schema_summary,
            &r.risk_notes,
            &r.data,
            &r.content_hash,
            &created_at,
            &updated_at,
        ],
    )
    .await?;
    Ok(())
}
