//! Ownership transfers of namespaces and artifacts.
//!
//! Lock order, the same in every transfer: namespace rows, then publisher rows, then ownership
//! rows. Concurrent transfers of the same namespace or artifact therefore queue behind each other
//! (the last one wins, whole) instead of deadlocking or interleaving.

use serde_json::json;

use super::publishers::{artifact, namespace, ARTIFACT_COLUMNS, NAMESPACE_COLUMNS};
use super::{audit, Actor, Store, StoreError};
use crate::model::{ArtifactSummary, NamespaceSummary};

/// Why a transfer was refused, naming the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRefused {
    pub field: &'static str,
    pub problem: &'static str,
}

/// What a transfer did.
#[derive(Debug, Clone)]
pub enum TransferOutcome<T> {
    /// The namespace or artifact ownership does not exist.
    NotFound,
    /// The target (or the source's state) does not allow the transfer; nothing changed.
    Refused(TransferRefused),
    /// Ownership moved.
    Done(T),
}

fn refused<T>(field: &'static str, problem: &'static str) -> TransferOutcome<T> {
    TransferOutcome::Refused(TransferRefused { field, problem })
}

/// Whether the publisher exists and is active, share-locking its row so it cannot be suspended
/// before the transfer commits.
async fn active_publisher(
    tx: &tokio_postgres::Transaction<'_>,
    publisher_id: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM registry_publishers WHERE publisher_id = $1 AND status = 'active' FOR SHARE",
            &[&publisher_id],
        )
        .await?
        .is_some())
}

impl Store {
    /// Moves a namespace, and every artifact ownership claimed under it, to an active
    /// publisher, with an audit event naming the previous owner. Reserved and rejected
    /// namespaces cannot be transferred.
    pub async fn transfer_namespace(
        &self,
        namespace_name: String,
        target_publisher_id: String,
        reason: String,
        actor: Actor,
    ) -> Result<TransferOutcome<NamespaceSummary>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(current) = tx
            .query_opt(
                "SELECT publisher_id, status FROM registry_namespaces WHERE namespace = $1 FOR UPDATE",
                &[&namespace_name],
            )
            .await?
        else {
            return Ok(TransferOutcome::NotFound);
        };
        let (previous_publisher, previous_status): (String, String) =
            (current.get(0), current.get(1));
        if previous_status == "reserved" || previous_status == "rejected" {
            return Ok(refused(
                "namespace",
                "is reserved or rejected and cannot be transferred",
            ));
        }
        if !active_publisher(&tx, &target_publisher_id).await? {
            return Ok(refused(
                "target_publisher_id",
                "must name an existing, active publisher",
            ));
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE registry_namespaces SET publisher_id = $2, updated_at = now() \
                     WHERE namespace = $1 RETURNING {NAMESPACE_COLUMNS}"
                ),
                &[&namespace_name, &target_publisher_id],
            )
            .await?;
        let moved = tx
            .execute(
                "UPDATE registry_artifact_ownership SET publisher_id = $2, updated_at = now() \
                 WHERE namespace = $1",
                &[&namespace_name, &target_publisher_id],
            )
            .await?;
        audit(
            &tx,
            &actor,
            "namespace.ownership.transferred",
            "namespace",
            &namespace_name,
            &json!({
                "previous_publisher_id": previous_publisher,
                "previous_status": previous_status,
                "target_publisher_id": target_publisher_id,
                "artifacts_moved": moved,
                "reason": reason,
            }),
        )
        .await?;
        super::packages::notify_listings_changed(&tx).await?;
        tx.commit().await?;
        Ok(TransferOutcome::Done(namespace(&row)))
    }

    /// Moves an artifact's ownership to an active publisher, under an active namespace of that
    /// publisher that allows the artifact's kind; the ownership becomes `active`. Audited with
    /// the previous owner, namespace and status.
    pub async fn transfer_artifact(
        &self,
        kind: String,
        artifact_id: String,
        target_publisher_id: String,
        target_namespace: String,
        reason: String,
        actor: Actor,
    ) -> Result<TransferOutcome<ArtifactSummary>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Namespace first (see the module's lock order).
        let target = tx
            .query_opt(
                "SELECT publisher_id, status, $2 = ANY(artifact_kinds) FROM registry_namespaces \
                 WHERE namespace = $1 FOR SHARE",
                &[&target_namespace, &kind],
            )
            .await?;
        let publisher_active = active_publisher(&tx, &target_publisher_id).await?;
        let Some(current) = tx
            .query_opt(
                "SELECT publisher_id, COALESCE(namespace, ''), status FROM registry_artifact_ownership \
                 WHERE artifact_kind = $1 AND artifact_id = $2 FOR UPDATE",
                &[&kind, &artifact_id],
            )
            .await?
        else {
            return Ok(TransferOutcome::NotFound);
        };
        if !publisher_active {
            return Ok(refused(
                "target_publisher_id",
                "must name an existing, active publisher",
            ));
        }
        match target {
            None => {
                return Ok(refused("target_namespace", "does not exist"));
            }
            Some(row) => {
                let (owner, status, allows_kind): (String, String, bool) =
                    (row.get(0), row.get(1), row.get(2));
                if owner != target_publisher_id {
                    return Ok(refused(
                        "target_namespace",
                        "must belong to the target publisher",
                    ));
                }
                if status != "active" {
                    return Ok(refused("target_namespace", "must be active"));
                }
                if !allows_kind {
                    return Ok(refused(
                        "target_namespace",
                        "does not allow this artifact kind",
                    ));
                }
            }
        }
        let (previous_publisher, previous_namespace, previous_status): (String, String, String) =
            (current.get(0), current.get(1), current.get(2));
        let row = tx
            .query_one(
                &format!(
                    "UPDATE registry_artifact_ownership SET publisher_id = $3, namespace = $4, \
                     status = 'active', updated_at = now() \
                     WHERE artifact_kind = $1 AND artifact_id = $2 RETURNING {ARTIFACT_COLUMNS}"
                ),
                &[&kind, &artifact_id, &target_publisher_id, &target_namespace],
            )
            .await?;
        audit(
            &tx,
            &actor,
            "artifact.ownership.transferred",
            &kind,
            &artifact_id,
            &json!({
                "previous_publisher_id": previous_publisher,
                "previous_namespace": previous_namespace,
                "previous_status": previous_status,
                "target_publisher_id": target_publisher_id,
                "target_namespace": target_namespace,
                "reason": reason,
            }),
        )
        .await?;
        super::packages::notify_listings_changed(&tx).await?;
        tx.commit().await?;
        Ok(TransferOutcome::Done(artifact(&row)))
    }
}
