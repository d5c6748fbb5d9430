//! Abuse reports and takedowns.

use serde::Serialize;
use serde_json::json;
use tokio_postgres::Row;

use super::publishers::AdminQuery;
use super::{audit, rfc3339, Actor, AdminList, Event, Store, StoreError};
use crate::model::{Lifecycle, Page};

/// An abuse report (upstream's `RegistryAbuseReport`, plus the optional `target_version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbuseReport {
    pub report_id: String,
    pub target_kind: String,
    pub target_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_version: String,
    pub category: String,
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reporter_contact: String,
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resolution: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A report to file, already validated.
#[derive(Debug, Clone)]
pub struct NewAbuseReport {
    pub target_kind: String,
    pub target_id: String,
    pub target_version: String,
    pub category: String,
    pub reason: String,
    pub reporter_contact: String,
}

/// What applying a takedown did.
#[derive(Debug, Clone)]
pub enum TakedownOutcome {
    /// No report has that id.
    NotFound,
    /// The reported publisher, namespace, artifact or version does not exist (nothing changed).
    TargetMissing,
    /// The target is suspended (and for packages, taken down); the report is `reviewing`.
    Applied {
        report: Box<AbuseReport>,
        /// The package versions whose lifecycle became `takedown`.
        versions: Vec<String>,
    },
}

/// The statuses a report can have.
pub const REPORT_STATUSES: [&str; 4] = ["open", "reviewing", "resolved", "rejected"];

/// The kinds of things a report can name.
pub const TARGET_KINDS: [&str; 4] = ["package", "template", "publisher", "namespace"];

const REPORT_COLUMNS: &str = "report_id::text, target_kind, target_id, target_version, category, \
    reason, reporter_contact, status, resolution, created_at, updated_at";

fn report(row: &Row) -> AbuseReport {
    AbuseReport {
        report_id: row.get(0),
        target_kind: row.get(1),
        target_id: row.get(2),
        target_version: row.get(3),
        category: row.get(4),
        reason: row.get(5),
        reporter_contact: row.get(6),
        status: row.get(7),
        resolution: row.get(8),
        created_at: rfc3339(row.get(9)),
        updated_at: rfc3339(row.get(10)),
    }
}

impl Store {
    /// The admin report list: open reports first, then by last change.
    pub async fn list_abuse_reports(
        &self,
        query: &AdminQuery,
    ) -> Result<Page<AbuseReport>, StoreError> {
        let list = AdminList {
            table: "registry_abuse_reports",
            columns: REPORT_COLUMNS,
            search_in: &["target_kind", "target_id", "category", "reason"],
            status: "status",
            order: "CASE status WHEN 'open' THEN 0 WHEN 'reviewing' THEN 1 WHEN 'resolved' THEN 2 \
                    ELSE 3 END, updated_at DESC, target_kind, target_id, report_id",
        };
        self.admin_page(&list, query, report).await
    }

    /// Files a report (`open`) and records it.
    pub async fn create_abuse_report(
        &self,
        new: NewAbuseReport,
        actor: Actor,
    ) -> Result<AbuseReport, StoreError> {
        let sql = format!(
            "INSERT INTO registry_abuse_reports \
             (target_kind, target_id, target_version, category, reason, reporter_contact) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {REPORT_COLUMNS}"
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
            &new.target_kind,
            &new.target_id,
            &new.target_version,
            &new.category,
            &new.reason,
            &new.reporter_contact,
        ];
        self.write_audited(&sql, &params, |row| {
            let created = report(row);
            let event = Event::new(
                actor,
                "abuse.report.created",
                &created.target_kind,
                &created.target_id,
                json!({"report_id": created.report_id, "category": created.category}),
            );
            (created, event)
        })
        .await?
        .ok_or_else(|| StoreError::Corrupt("a report insert returned no row".into()))
    }

    /// Sets a report's status; an empty resolution keeps the previous one. `None` if no report
    /// has that id (`report_id` must be a UUID).
    pub async fn set_abuse_report_status(
        &self,
        report_id: String,
        status: String,
        resolution: String,
        actor: Actor,
    ) -> Result<Option<AbuseReport>, StoreError> {
        let sql = format!(
            "UPDATE registry_abuse_reports SET status = $2, \
             resolution = CASE WHEN $3 = '' THEN resolution ELSE $3 END, updated_at = now() \
             WHERE report_id = CAST($1 AS text)::uuid RETURNING {REPORT_COLUMNS}"
        );
        self.write_audited(&sql, &[&report_id, &status, &resolution], |row| {
            let updated = report(row);
            let event = Event::new(
                actor,
                "abuse.report.status.updated",
                &updated.target_kind,
                &updated.target_id,
                json!({"report_id": updated.report_id, "status": status, "resolution": resolution}),
            );
            (updated, event)
        })
        .await
    }

    /// Applies a takedown for a report, in one transaction with the report's move to
    /// `reviewing`: a publisher or namespace is suspended; a template's ownership is suspended;
    /// a package report naming a version takes that version down, one naming no version
    /// suspends the package's ownership and takes every version down. Package versions go
    /// through the lifecycle path of `PATCH admin/packages/{id}/{v}/lifecycle` (counters,
    /// cache invalidation, audit). An empty `reason` becomes one naming the report.
    pub async fn apply_takedown(
        &self,
        report_id: String,
        reason: String,
        actor: Actor,
        updated_at: String,
    ) -> Result<TakedownOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT {REPORT_COLUMNS} FROM registry_abuse_reports \
                     WHERE report_id = CAST($1 AS text)::uuid FOR UPDATE"
                ),
                &[&report_id],
            )
            .await?
        else {
            return Ok(TakedownOutcome::NotFound);
        };
        let current = report(&row);
        let reason = if reason.is_empty() {
            format!("abuse report {} ({})", current.report_id, current.category)
        } else {
            reason
        };
        let target = &current.target_id;
        let mut versions = Vec::new();
        let found = match current.target_kind.as_str() {
            "publisher" => {
                tx.execute(
                    "UPDATE registry_publishers SET status = 'suspended', status_reason = $2, \
                     updated_at = now() WHERE publisher_id = $1",
                    &[target, &reason],
                )
                .await?
                    > 0
            }
            "namespace" => {
                tx.execute(
                    "UPDATE registry_namespaces SET status = 'suspended', status_reason = $2, \
                     updated_at = now() WHERE namespace = $1",
                    &[target, &reason],
                )
                .await?
                    > 0
            }
            "template" => suspend_ownership(&tx, "template", target).await? > 0,
            "package" => {
                let lifecycle = Lifecycle {
                    status: "takedown".to_owned(),
                    reason: reason.clone(),
                    replacement: None,
                    updated_at,
                    updated_by: actor.actor.clone(),
                };
                if current.target_version.is_empty() {
                    let owned = suspend_ownership(&tx, "package", target).await? > 0;
                    let rows = tx
                        .query(
                            "SELECT package_version, lifecycle_status FROM registry_packages \
                             WHERE package_id = $1 ORDER BY package_version",
                            &[target],
                        )
                        .await?;
                    let exists = !rows.is_empty();
                    for row in rows {
                        let (version, status): (String, String) = (row.get(0), row.get(1));
                        if status == "takedown" {
                            continue;
                        }
                        if let Some(Ok(_)) = super::packages::set_lifecycle(
                            &tx, target, &version, &lifecycle, &actor,
                        )
                        .await?
                        {
                            versions.push(version);
                        }
                    }
                    owned || exists
                } else {
                    let version = current.target_version.clone();
                    let done =
                        super::packages::set_lifecycle(&tx, target, &version, &lifecycle, &actor)
                            .await?;
                    if matches!(done, Some(Ok(_))) {
                        versions.push(version);
                        true
                    } else {
                        false
                    }
                }
            }
            _ => false,
        };
        if !found {
            // Dropping the transaction rolls back anything a partial target touched.
            return Ok(TakedownOutcome::TargetMissing);
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE registry_abuse_reports SET status = 'reviewing', resolution = $2, \
                     updated_at = now() WHERE report_id = CAST($1 AS text)::uuid RETURNING {REPORT_COLUMNS}"
                ),
                &[&report_id, &reason],
            )
            .await?;
        let updated = report(&row);
        audit(
            &tx,
            &actor,
            "abuse.takedown.applied",
            &updated.target_kind,
            &updated.target_id,
            &json!({"report_id": updated.report_id, "reason": reason, "versions": versions}),
        )
        .await?;
        tx.commit().await?;
        Ok(TakedownOutcome::Applied {
            report: Box::new(updated),
            versions,
        })
    }
}

/// Suspends an artifact's ownership (blocks new versions); the number of rows changed.
async fn suspend_ownership(
    tx: &tokio_postgres::Transaction<'_>,
    kind: &str,
    artifact_id: &str,
) -> Result<u64, StoreError> {
    Ok(tx
        .execute(
            "UPDATE registry_artifact_ownership SET status = 'suspended', updated_at = now() \
             WHERE artifact_kind = $1 AND artifact_id = $2",
            &[&kind, &artifact_id],
        )
        .await?)
}
