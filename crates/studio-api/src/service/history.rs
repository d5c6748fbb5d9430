//! Revision history: every frozen product and developer revision with what changed since the
//! one before, and what was published.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::project;
use super::publish::{self, RecordedPublication};
use crate::error::Result;
use crate::ids::ProjectId;
use crate::model::{Artifact, LocalPublication};
use crate::rules::{self, contract, diff, product};
use crate::store::{self, Db};

/// One frozen revision and its changes since the previous one.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionEntry {
    /// Revision number.
    pub number: i64,
    /// Record id.
    pub id: String,
    /// When it was saved.
    pub saved_at: String,
    /// Developer revisions: the contract signature.
    pub signature: Option<String>,
    /// Changes since the previous revision (everything, for the first).
    pub changes: Vec<diff::Change>,
}

/// A project's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// Product design revisions, oldest first.
    pub product_revisions: Vec<RevisionEntry>,
    /// Developer definition revisions, oldest first.
    pub developer_revisions: Vec<RevisionEntry>,
    /// Local publications, oldest first.
    pub local_publications: Vec<LocalPublication>,
    /// Registry publications, newest first.
    pub registry_publications: Vec<RecordedPublication>,
}

fn sections_of(revision: &Value) -> Value {
    let mut map = Map::new();
    for entry in rules::array(revision, "snapshot") {
        map.insert(
            rules::field(entry, "artifact_type"),
            entry.get("data").cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(map)
}

fn definition_of(revision: &Value) -> Value {
    let mut map = revision.as_object().cloned().unwrap_or_default();
    for key in [
        "artifact_type",
        "saved_at",
        "saved_revision",
        "compiled_contract_identity",
    ] {
        map.remove(key);
    }
    Value::Object(map)
}

fn entries(
    revisions: &[Artifact],
    number: impl Fn(&Value) -> Option<i64>,
    content: impl Fn(&Value) -> Value,
    saved_at: impl Fn(&Value) -> String,
    signature: impl Fn(&Value) -> Option<String>,
) -> Vec<RevisionEntry> {
    let mut previous = Value::Object(Map::new());
    revisions
        .iter()
        .map(|r| {
            let current = content(&r.data);
            let entry = RevisionEntry {
                number: number(&r.data).unwrap_or_default(),
                id: r.id.clone(),
                saved_at: saved_at(&r.data),
                signature: signature(&r.data),
                changes: diff::diff(&previous, &current),
            };
            previous = current;
            entry
        })
        .collect()
}

/// The history of a project.
pub async fn history(db: &Db, project_id: &ProjectId) -> Result<History> {
    let client = db.client().await?;
    let pid = project(&client, project_id.as_str()).await?.id;
    let products = store::artifacts::pm_by_type(&client, &pid, product::REVISION_TYPE).await?;
    let developers = store::artifacts::pm_by_type(&client, &pid, contract::REVISION_TYPE).await?;
    let product_revisions = entries(
        &products,
        product::revision_number,
        sections_of,
        |d| rules::field(d, "saved_at"),
        |_| None,
    );
    let developer_revisions = entries(
        &developers,
        |d| {
            d.pointer("/saved_revision/revision_number")
                .and_then(Value::as_i64)
        },
        definition_of,
        |d| {
            d.pointer("/saved_revision/saved_at")
                .map(|v| rules::text(Some(v)))
                .unwrap_or_default()
        },
        |d| {
            d.pointer("/compiled_contract_identity/signature")
                .map(|v| rules::text(Some(v)))
        },
    );
    drop(client);
    Ok(History {
        product_revisions,
        developer_revisions,
        local_publications: publish::local_list(db, project_id).await?,
        registry_publications: publish::registry_publications(db, project_id).await?,
    })
}
