//! Starter templates and their receipts.

use serde_json::json;
use tokio_postgres::types::Json;

use super::{audit, Actor, Store, StoreError};
use crate::model::{TemplateReceipt, TemplateSummary};
use crate::record::Rendered;
use crate::templates::TemplateRecord;

/// A template version to insert.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub record: TemplateRecord,
    /// The record body (without `download_count`).
    pub rendered_record: Rendered,
    /// The download body: the template package.
    pub rendered_package: Rendered,
    pub receipt: TemplateReceipt,
    pub claim_namespace: Option<String>,
    pub actor: Actor,
}

/// The template record view.
#[derive(Debug, Clone)]
pub struct TemplateRecordRow {
    pub body: Vec<u8>,
    pub etag: String,
    pub download_count: i64,
}

/// The template download.
#[derive(Debug, Clone)]
pub struct TemplateDownloadRow {
    /// `None` when the client's ETag already matches.
    pub body: Option<Vec<u8>>,
    pub etag: String,
}

impl Store {
    /// Whether this template version exists.
    pub async fn template_exists(
        &self,
        template_id: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT 1 FROM registry_templates WHERE template_id = $1 AND template_version = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&template_id, &version])
            .await?
            .is_some())
    }

    /// Inserts a template version, its receipt, ownership claim and audit event.
    pub async fn insert_template(
        &self,
        new: NewTemplate,
    ) -> Result<super::InsertOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let record = &new.record;
        tx.execute(
            "INSERT INTO registry_artifact_ownership (artifact_kind, artifact_id, publisher_id, namespace) \
             VALUES ('template', $1, $2, $3) ON CONFLICT (artifact_kind, artifact_id) DO NOTHING",
            &[&record.template_id, &record.publisher_id, &new.claim_namespace],
        )
        .await?;
        let owner = tx
            .query_one(
                "SELECT publisher_id, status FROM registry_artifact_ownership \
                 WHERE artifact_kind = 'template' AND artifact_id = $1",
                &[&record.template_id],
            )
            .await?;
        let (owner_id, owner_status): (String, String) = (owner.get(0), owner.get(1));
        if owner_id != record.publisher_id || owner_status != "active" {
            return Ok(super::InsertOutcome::NotOwner {
                owner: owner_id,
                status: owner_status,
            });
        }
        let published_at_ts = time::OffsetDateTime::parse(
            &record.published_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let inserted = tx
            .execute(
                "INSERT INTO registry_templates (template_id, template_version, template_kind, project_type, \
                 anip_spec_version, domain, industry, systems, publisher_id, publisher_type, manifest_digest, \
                 template_digest, package_digest, published_at, published_at_ts, manifest, template, package, \
                 record_json, record_etag, package_json, package_etag) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 $19, $20, $21, $22) ON CONFLICT (template_id, template_version) DO NOTHING",
                &[
                    &record.template_id,
                    &record.template_version,
                    &record.template_kind,
                    &record.project_type,
                    &record.anip_spec_version,
                    &record.domain,
                    &record.industry,
                    &Json(&record.systems),
                    &record.publisher_id,
                    &record.publisher_type,
                    &record.manifest_digest,
                    &record.template_digest,
                    &record.package_digest,
                    &record.published_at,
                    &published_at_ts,
                    &Json(&record.manifest),
                    &Json(&record.template),
                    &Json(&record.package),
                    &new.rendered_record.bytes,
                    &new.rendered_record.etag,
                    &new.rendered_package.bytes,
                    &new.rendered_package.etag,
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(super::InsertOutcome::VersionExists);
        }
        let receipt = &new.receipt;
        tx.execute(
            "INSERT INTO registry_template_receipts (receipt_id, template_id, template_version, \
             registry_signature, signature_algorithm, key_id, publisher_id, publisher_type, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &receipt.receipt_id,
                &receipt.template_id,
                &receipt.template_version,
                &receipt.registry_signature,
                &receipt.signature_algorithm,
                &receipt.key_id,
                &receipt.publisher_id,
                &receipt.publisher_type,
                &receipt.issued_at,
            ],
        )
        .await?;
        tx.execute(
            "UPDATE registry_counters SET value = value + 1 WHERE name = 'templates'",
            &[],
        )
        .await?;
        audit(
            &tx,
            &new.actor,
            "template.published",
            "template",
            &format!("{}@{}", record.template_id, record.template_version),
            &json!({
                "manifest_digest": record.manifest_digest,
                "template_digest": record.template_digest,
                "package_digest": record.package_digest,
                "receipt_id": receipt.receipt_id,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(super::InsertOutcome::Inserted)
    }

    /// The template record view.
    pub async fn template_record_row(
        &self,
        template_id: &str,
        version: &str,
    ) -> Result<Option<TemplateRecordRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record_etag, download_count, record_json FROM registry_templates \
                 WHERE template_id = $1 AND template_version = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&template_id, &version])
            .await?
            .map(|row| TemplateRecordRow {
                etag: row.get(0),
                download_count: row.get(1),
                body: row.get(2),
            }))
    }

    /// The template download: one query.
    pub async fn template_download_row(
        &self,
        template_id: &str,
        version: &str,
        plain_etags: &[String],
    ) -> Result<Option<TemplateDownloadRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT package_etag, CASE WHEN package_etag = ANY($3) THEN NULL ELSE package_json END \
                 FROM registry_templates WHERE template_id = $1 AND template_version = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&template_id, &version, &plain_etags])
            .await?
            .map(|row| TemplateDownloadRow {
                etag: row.get(0),
                body: row.get(1),
            }))
    }

    /// A template version's receipt.
    pub async fn template_receipt(
        &self,
        template_id: &str,
        version: &str,
    ) -> Result<Option<TemplateReceipt>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT receipt_id, template_id, template_version, registry_signature, signature_algorithm, \
                 key_id, publisher_id, publisher_type, issued_at FROM registry_template_receipts \
                 WHERE template_id = $1 AND template_version = $2",
                &[&template_id, &version],
            )
            .await?;
        Ok(row.map(|row| TemplateReceipt {
            receipt_id: row.get(0),
            template_id: row.get(1),
            template_version: row.get(2),
            registry_signature: row.get(3),
            signature_algorithm: row.get(4),
            key_id: row.get(5),
            publisher_id: row.get(6),
            publisher_type: row.get(7),
            issued_at: row.get(8),
        }))
    }

    /// One page of templates, most downloaded first, and the total.
    pub async fn list_templates(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TemplateSummary>, i64), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT template_id, template_version, template_kind, project_type, anip_spec_version, \
                 domain, industry, systems, publisher_id, publisher_type, published_at, download_count, manifest \
                 FROM registry_templates \
                 ORDER BY download_count DESC, published_at_ts DESC, template_id ASC, template_version DESC \
                 LIMIT $1 OFFSET $2",
            )
            .await?;
        let rows = client.query(&stmt, &[&limit, &offset]).await?;
        let total: i64 = client
            .query_one(
                "SELECT value FROM registry_counters WHERE name = 'templates'",
                &[],
            )
            .await?
            .get(0);
        let items = rows
            .iter()
            .map(|row| {
                let Json(systems): Json<Vec<String>> = row.get(7);
                TemplateSummary {
                    template_id: row.get(0),
                    template_version: row.get(1),
                    template_kind: row.get(2),
                    project_type: row.get(3),
                    anip_spec_version: row.get(4),
                    domain: row.get(5),
                    industry: row.get(6),
                    systems,
                    publisher_id: row.get(8),
                    publisher_type: row.get(9),
                    published_at: row.get(10),
                    download_count: row.get(11),
                    manifest: Some(row.get(12)),
                }
            })
            .collect();
        Ok((items, total))
    }
}
