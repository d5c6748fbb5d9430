//! `local_publications` (immutable: a trigger refuses updates).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::Result;
use crate::model::LocalPublication;

/// A `local_publications` row as snapshots carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalPublicationRow {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Package id.
    pub package_id: String,
    /// Package version.
    pub package_version: String,
    /// Project reference.
    pub project_ref: String,
    /// Product revision reference.
    pub product_revision_ref: String,
    /// Developer revision reference.
    pub developer_revision_ref: String,
    /// Contract signature.
    pub contract_signature: String,
    /// Service definition schema version.
    pub schema_version: String,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Definition digest.
    pub definition_digest: String,
    /// The package record.
    pub package_record: Value,
    /// The receipt.
    pub receipt: Value,
    /// `local-studio`.
    #[serde(default = "local_studio")]
    pub authority: String,
    /// Publication time.
    #[serde(default)]
    pub published_at: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
}

fn local_studio() -> String {
    "local-studio".to_owned()
}

const COLUMNS: &str = "id, project_id, package_id, package_version, project_ref, \
    product_revision_ref, developer_revision_ref, contract_signature, schema_version, \
    manifest_digest, definition_digest, package_record, receipt, authority, published_at, created_at";

fn row(r: &Row) -> LocalPublicationRow {
    LocalPublicationRow {
        id: r.get("id"),
        project_id: r.get("project_id"),
        package_id: r.get("package_id"),
        package_version: r.get("package_version"),
        project_ref: r.get("project_ref"),
        product_revision_ref: r.get("product_revision_ref"),
        developer_revision_ref: r.get("developer_revision_ref"),
        contract_signature: r.get("contract_signature"),
        schema_version: r.get("schema_version"),
        manifest_digest: r.get("manifest_digest"),
        definition_digest: r.get("definition_digest"),
        package_record: r.get("package_record"),
        receipt: r.get("receipt"),
        authority: r.get("authority"),
        published_at: Some(ts(r, "published_at")),
        created_at: Some(ts(r, "created_at")),
    }
}

impl LocalPublicationRow {
    /// The API view (upstream's local publication summary).
    pub fn summary(&self) -> LocalPublication {
        let package = &self.package_record;
        let lineage = ["lineage"]
            .iter()
            .filter_map(|k| package.get(*k))
            .chain(package.pointer("/manifest/lineage"))
            .chain(package.pointer("/recommended_lock/lineage"))
            .find(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            .cloned()
            .unwrap_or_else(|| json!({}));
        LocalPublication {
            id: self.id.clone(),
            project_id: self.project_id.clone(),
            authority: self.authority.clone(),
            publication: json!({
                "package_id": self.package_id,
                "package_version": self.package_version,
                "project_ref": self.project_ref,
                "product_revision_ref": self.product_revision_ref,
                "developer_revision_ref": self.developer_revision_ref,
                "contract_signature": self.contract_signature,
                "lineage": lineage,
                "published_at": self.published_at,
            }),
            package: self.package_record.clone(),
            receipt: self.receipt.clone(),
            created_at: self.created_at.clone().unwrap_or_default(),
        }
    }
}

/// A project's local publications, oldest first.
pub async fn list(c: &impl GenericClient, project_id: &str) -> Result<Vec<LocalPublicationRow>> {
    let rows = c
        .query(
            &format!(
                "SELECT {COLUMNS} FROM local_publications WHERE project_id = $1 \
                 ORDER BY published_at, created_at, id"
            ),
            &[&project_id],
        )
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// One local publication.
pub async fn get(
    c: &impl GenericClient,
    project_id: &str,
    id: &str,
) -> Result<Option<LocalPublicationRow>> {
    let r = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM local_publications WHERE project_id = $1 AND id = $2"),
            &[&project_id, &id],
        )
        .await?;
    Ok(r.as_ref().map(row))
}

/// Inserts a local publication (409 through the unique constraint on a duplicate version).
pub async fn insert(
    c: &impl GenericClient,
    p: &LocalPublicationRow,
    published_at: Option<OffsetDateTime>,
    created_at: Option<OffsetDateTime>,
) -> Result<()> {
    c.execute(
        &format!(
            "INSERT INTO local_publications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, COALESCE($15, now()), COALESCE($16, now()))"
        ),
        &[
            &p.id,
            &p.project_id,
            &p.package_id,
            &p.package_version,
            &p.project_ref,
            &p.product_revision_ref,
            &p.developer_revision_ref,
            &p.contract_signature,
            &p.schema_version,
            &p.manifest_digest,
            &p.definition_digest,
            &p.package_record,
            &p.receipt,
            &p.authority,
            &published_at,
            &created_at,
        ],
    )
    .await?;
    Ok(())
}
