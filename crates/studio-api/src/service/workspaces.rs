//! Workspaces and their connections.

use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::check_text;
use crate::error::{Error, Result};
use crate::ids::{self, AuthMode, BackendKind, WorkspaceId};
use crate::model::{Connection, Workspace};
use crate::store::{self, connections::ConnectionRow, Db};

/// Body of `POST /api/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Id; generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<WorkspaceId>,
    /// Display name.
    pub name: String,
    /// Short description.
    #[serde(default)]
    pub summary: String,
}

/// Body of `PUT /api/workspaces/{workspace_id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceChanges {
    /// New name.
    pub name: Option<String>,
    /// New summary.
    pub summary: Option<String>,
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Unprocessable("name must not be empty".into()));
    }
    check_text("name", name, 500)
}

/// Every workspace.
pub async fn list(db: &Db) -> Result<Vec<Workspace>> {
    store::workspaces::list(&db.client().await?).await
}

/// One workspace.
pub async fn get(db: &Db, id: &WorkspaceId) -> Result<Workspace> {
    store::workspaces::get(&db.client().await?, id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("workspace", id.as_str()))
}

/// Creates a workspace (409 if the id is taken).
pub async fn create(db: &Db, body: NewWorkspace) -> Result<Workspace> {
    check_name(&body.name)?;
    check_text("summary", &body.summary, 10_000)?;
    let id = body
        .id
        .map(|id| id.as_str().to_owned())
        .unwrap_or_else(|| ids::new_id("workspace"));
    let client = db.client().await?;
    store::workspaces::insert(&client, &id, body.name.trim(), &body.summary).await?;
    store::workspaces::get(&client, &id)
        .await?
        .ok_or_else(|| Error::Internal("workspace vanished after insert".into()))
}

/// Renames or re-describes a workspace.
pub async fn update(db: &Db, id: &WorkspaceId, body: WorkspaceChanges) -> Result<Workspace> {
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if let Some(summary) = &body.summary {
        check_text("summary", summary, 10_000)?;
    }
    let client = db.client().await?;
    let found = store::workspaces::update(
        &client,
        id.as_str(),
        body.name.as_deref().map(str::trim),
        body.summary.as_deref(),
    )
    .await?;
    if !found {
        return Err(Error::not_found("workspace", id.as_str()));
    }
    get(db, id).await
}

/// Deletes a workspace and everything in it. The default workspace always exists.
pub async fn delete(db: &Db, id: &WorkspaceId) -> Result<()> {
    if *id == WorkspaceId::default_workspace() {
        return Err(Error::Conflict(
            "The default workspace always exists and cannot be deleted.".into(),
        ));
    }
    if !store::workspaces::delete(&db.client().await?, id.as_str()).await? {
        return Err(Error::not_found("workspace", id.as_str()));
    }
    Ok(())
}

/// Body of connection create and update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    /// Id (create only; generated when absent).
    #[schema(value_type = Option<String>)]
    pub id: Option<crate::ids::RecordId>,
    /// Display name.
    pub display_name: String,
    /// `native_api`, `mcp`, `database` or `hybrid`.
    pub backend_kind: BackendKind,
    /// The kind of system, e.g. `gitlab`.
    #[serde(default)]
    pub system_kind: String,
    /// Where the backend lives.
    #[serde(default)]
    pub endpoint_ref: String,
    /// `user_delegated`, `service_delegated` or `external`.
    pub auth_mode: AuthMode,
    /// Identity provider reference.
    #[serde(default)]
    pub identity_provider_ref: String,
    /// The secret's name (an environment variable, a vault path) — never the secret.
    #[serde(default)]
    pub secret_ref: String,
    /// Projects allowed to use it.
    #[serde(default)]
    pub allowed_project_refs: Vec<String>,
    /// Free-form metadata.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// Looks like a secret rather than a reference to one: long high-entropy text, or a known
/// token prefix. Connections hold references only.
fn looks_like_secret(value: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "ghp_", "gho_", "glpat-", "xoxb-", "xoxp-", "sk-", "AKIA", "lin_api_",
    ];
    if PREFIXES.iter().any(|p| value.starts_with(p)) {
        return true;
    }
    let compact = value.len() >= 32 && !value.contains([' ', '/', ':', '.']);
    let mixed = value.chars().any(|c| c.is_ascii_lowercase())
        && value.chars().any(|c| c.is_ascii_uppercase())
        && value.chars().any(|c| c.is_ascii_digit());
    compact && mixed
}

fn check_connection(body: &ConnectionBody) -> Result<()> {
    if body.display_name.trim().is_empty() {
        return Err(Error::Unprocessable(
            "display_name must not be empty".into(),
        ));
    }
    for (field, value) in [
        ("display_name", &body.display_name),
        ("system_kind", &body.system_kind),
        ("endpoint_ref", &body.endpoint_ref),
        ("identity_provider_ref", &body.identity_provider_ref),
        ("secret_ref", &body.secret_ref),
    ] {
        check_text(field, value, 2_000)?;
    }
    if looks_like_secret(&body.secret_ref) {
        return Err(Error::Unprocessable(
            "secret_ref looks like a secret value; store the secret elsewhere and give its name (e.g. an environment variable such as GITLAB_TOKEN).".into(),
        ));
    }
    super::check_json("metadata", &body.metadata)?;
    Ok(())
}

/// A workspace's connections.
pub async fn connections(db: &Db, workspace: &WorkspaceId) -> Result<Vec<Connection>> {
    get(db, workspace).await?;
    store::connections::list(&db.client().await?, workspace.as_str()).await
}

/// Adds a connection to a workspace.
pub async fn create_connection(
    db: &Db,
    workspace: &WorkspaceId,
    body: ConnectionBody,
) -> Result<Connection> {
    check_connection(&body)?;
    get(db, workspace).await?;
    let id = body
        .id
        .as_ref()
        .map(|i| i.as_str().to_owned())
        .unwrap_or_else(|| ids::new_id("connection"));
    let refs = json!(body.allowed_project_refs);
    let client = db.client().await?;
    store::connections::write(
        &client,
        &ConnectionRow {
            id: &id,
            workspace_id: workspace.as_str(),
            display_name: body.display_name.trim(),
            backend_kind: body.backend_kind.as_str(),
            system_kind: &body.system_kind,
            endpoint_ref: &body.endpoint_ref,
            auth_mode: body.auth_mode.as_str(),
            identity_provider_ref: &body.identity_provider_ref,
            secret_ref: &body.secret_ref,
            allowed_project_refs: &refs,
            metadata: &body.metadata,
            created_at: None,
            updated_at: None,
        },
        false,
    )
    .await?;
    store::connections::get(&client, workspace.as_str(), &id)
        .await?
        .ok_or_else(|| Error::Internal("connection vanished after insert".into()))
}

/// Replaces a connection's fields.
pub async fn update_connection(
    db: &Db,
    workspace: &WorkspaceId,
    id: &crate::ids::RecordId,
    body: ConnectionBody,
) -> Result<Connection> {
    check_connection(&body)?;
    let refs = json!(body.allowed_project_refs);
    let client = db.client().await?;
    let found = store::connections::update(
        &client,
        &ConnectionRow {
            id: id.as_str(),
            workspace_id: workspace.as_str(),
            display_name: body.display_name.trim(),
            backend_kind: body.backend_kind.as_str(),
            system_kind: &body.system_kind,
            endpoint_ref: &body.endpoint_ref,
            auth_mode: body.auth_mode.as_str(),
            identity_provider_ref: &body.identity_provider_ref,
            secret_ref: &body.secret_ref,
            allowed_project_refs: &refs,
            metadata: &body.metadata,
            created_at: None,
            updated_at: None,
        },
    )
    .await?;
    if !found {
        return Err(Error::not_found("connection", id.as_str()));
    }
    store::connections::get(&client, workspace.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("connection", id.as_str()))
}

/// Removes a connection.
pub async fn delete_connection(
    db: &Db,
    workspace: &WorkspaceId,
    id: &crate::ids::RecordId,
) -> Result<()> {
    if !store::connections::delete(&db.client().await?, workspace.as_str(), id.as_str()).await? {
        return Err(Error::not_found("connection", id.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_told_apart_from_references() {
        assert!(!looks_like_secret("GITLAB_TOKEN"));
        assert!(!looks_like_secret("vault:kv/gitlab/token"));
        assert!(looks_like_secret("glpat-abcdefghijklmnop"));
        assert!(looks_like_secret("aB3dEfGh1jKlMnOpQrStUvWxYz012345"));
    }
}
