//! `runtime_approval_requests` and `runtime_approval_grants`.

use serde_json::Value;
use time::OffsetDateTime;

use super::{query_error, DbError};
use crate::approval::{ApprovalGrant, ApprovalRequest};

const REQUEST_COLUMNS: &str = "approval_request_id, capability, scope, requester, parent_invocation_id, preview, preview_digest, requested_parameters, requested_parameters_digest, grant_policy, status, approver, decided_at, created_at, expires_at";

const GRANT_COLUMNS: &str = "grant_id, approval_request_id, grant_type, capability, scope, approved_parameters_digest, preview_digest, requester, approver, issued_at, expires_at, max_uses, use_count, session_id, signature";

fn corrupt<T>(_: T) -> DbError {
    DbError::Corrupt("approval record")
}

/// Persists a pending request.
pub async fn insert_request(pool: &store::Pool, r: &ApprovalRequest) -> Result<(), DbError> {
    let client = pool.get().await?;
    let scope = serde_json::to_value(&r.scope).map_err(corrupt)?;
    let policy = serde_json::to_value(&r.grant_policy).map_err(corrupt)?;
    client
        .execute(
            &format!("INSERT INTO runtime_approval_requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"),
            &[
                &r.approval_request_id,
                &r.capability,
                &scope,
                &r.requester,
                &r.parent_invocation_id,
                &r.preview,
                &r.preview_digest,
                &r.requested_parameters,
                &r.requested_parameters_digest,
                &policy,
                &r.status,
                &r.approver,
                &r.decided_at,
                &r.created_at,
                &r.expires_at,
            ],
        )
        .await
        .map_err(query_error("storing an approval request"))?;
    Ok(())
}

fn request_from_row(row: &tokio_postgres::Row) -> Result<ApprovalRequest, DbError> {
    let scope: Value = row.get(2);
    let policy: Value = row.get(9);
    Ok(ApprovalRequest {
        approval_request_id: row.get(0),
        capability: row.get(1),
        scope: serde_json::from_value(scope).map_err(corrupt)?,
        requester: row.get(3),
        parent_invocation_id: row.get(4),
        preview: row.get(5),
        preview_digest: row.get(6),
        requested_parameters: row.get(7),
        requested_parameters_digest: row.get(8),
        grant_policy: serde_json::from_value(policy).map_err(corrupt)?,
        status: row.get(10),
        approver: row.get(11),
        decided_at: row.get(12),
        created_at: row.get(13),
        expires_at: row.get(14),
    })
}

/// The request with this id.
pub async fn get_request(pool: &store::Pool, id: &str) -> Result<Option<ApprovalRequest>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(&format!("SELECT {REQUEST_COLUMNS} FROM runtime_approval_requests WHERE approval_request_id = $1"), &[&id])
        .await
        .map_err(query_error("reading an approval request"))?;
    row.as_ref().map(request_from_row).transpose()
}

/// What the atomic approve-and-grant step found.
#[derive(Debug, PartialEq, Eq)]
pub enum ApproveOutcome {
    Granted,
    AlreadyDecided,
    Expired,
    NotFound,
}

/// In one transaction: moves the request from `pending` to `approved` only if it is still
/// pending and unexpired, then inserts the grant (whose `approval_request_id` is unique). Two
/// approvers racing cannot both issue a grant.
pub async fn approve_and_insert_grant(
    pool: &store::Pool,
    grant: &ApprovalGrant,
    now: OffsetDateTime,
) -> Result<ApproveOutcome, DbError> {
    let mut client = pool.get().await?;
    let tx = client
        .transaction()
        .await
        .map_err(query_error("starting a grant issuance"))?;
    let updated = tx
        .query_opt(
            "UPDATE runtime_approval_requests SET status = 'approved', approver = $2, decided_at = $3
             WHERE approval_request_id = $1 AND status = 'pending' AND expires_at > $3
             RETURNING approval_request_id",
            &[&grant.approval_request_id, &grant.approver, &now],
        )
        .await
        .map_err(query_error("approving a request"))?;
    if updated.is_none() {
        let row = tx
            .query_opt(
                "SELECT status, expires_at FROM runtime_approval_requests WHERE approval_request_id = $1",
                &[&grant.approval_request_id],
            )
            .await
            .map_err(query_error("re-reading an approval request"))?;
        tx.rollback()
            .await
            .map_err(query_error("rolling back a grant issuance"))?;
        return Ok(match row {
            None => ApproveOutcome::NotFound,
            Some(row) => {
                let status: String = row.get(0);
                let expires_at: OffsetDateTime = row.get(1);
                if status == "pending" && expires_at <= now {
                    ApproveOutcome::Expired
                } else {
                    ApproveOutcome::AlreadyDecided
                }
            }
        });
    }
    let scope = serde_json::to_value(&grant.scope).map_err(corrupt)?;
    let max_uses = i32::try_from(grant.max_uses).map_err(corrupt)?;
    let use_count = i32::try_from(grant.use_count).map_err(corrupt)?;
    tx.execute(
        &format!("INSERT INTO runtime_approval_grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"),
        &[
            &grant.grant_id,
            &grant.approval_request_id,
            &grant.grant_type,
            &grant.capability,
            &scope,
            &grant.approved_parameters_digest,
            &grant.preview_digest,
            &grant.requester,
            &grant.approver,
            &grant.issued_at,
            &grant.expires_at,
            &max_uses,
            &use_count,
            &grant.session_id,
            &grant.signature,
        ],
    )
    .await
    .map_err(query_error("storing a grant"))?;
    tx.commit()
        .await
        .map_err(query_error("committing a grant issuance"))?;
    Ok(ApproveOutcome::Granted)
}

fn grant_from_row(row: &tokio_postgres::Row) -> Result<ApprovalGrant, DbError> {
    let scope: Value = row.get(4);
    let max_uses: i32 = row.get(11);
    let use_count: i32 = row.get(12);
    Ok(ApprovalGrant {
        grant_id: row.get(0),
        approval_request_id: row.get(1),
        grant_type: row.get(2),
        capability: row.get(3),
        scope: serde_json::from_value(scope).map_err(corrupt)?,
        approved_parameters_digest: row.get(5),
        preview_digest: row.get(6),
        requester: row.get(7),
        approver: row.get(8),
        issued_at: row.get(9),
        expires_at: row.get(10),
        max_uses: i64::from(max_uses),
        use_count: i64::from(use_count),
        session_id: row.get(13),
        signature: row.get(14),
    })
}

/// The grant with this id.
pub async fn get_grant(
    pool: &store::Pool,
    grant_id: &str,
) -> Result<Option<ApprovalGrant>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {GRANT_COLUMNS} FROM runtime_approval_grants WHERE grant_id = $1"),
            &[&grant_id],
        )
        .await
        .map_err(query_error("reading a grant"))?;
    row.as_ref().map(grant_from_row).transpose()
}

/// What reserving a grant found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    Reserved,
    Consumed,
    Expired,
    NotFound,
}

/// Atomically spends one use of a grant (§4.8 phase B): a single conditional UPDATE, so two
/// concurrent continuations cannot both pass.
pub async fn reserve_grant(
    pool: &store::Pool,
    grant_id: &str,
    now: OffsetDateTime,
) -> Result<Reservation, DbError> {
    let client = pool.get().await?;
    let reserved = client
        .query_opt(
            "UPDATE runtime_approval_grants SET use_count = use_count + 1
             WHERE grant_id = $1 AND use_count < max_uses AND expires_at > $2 RETURNING grant_id",
            &[&grant_id, &now],
        )
        .await
        .map_err(query_error("reserving a grant"))?;
    if reserved.is_some() {
        return Ok(Reservation::Reserved);
    }
    let row = client
        .query_opt("SELECT use_count, max_uses, expires_at FROM runtime_approval_grants WHERE grant_id = $1", &[&grant_id])
        .await
        .map_err(query_error("re-reading a grant"))?;
    Ok(match row {
        None => Reservation::NotFound,
        Some(row) => {
            let use_count: i32 = row.get(0);
            let max_uses: i32 = row.get(1);
            if use_count >= max_uses {
                Reservation::Consumed
            } else {
                Reservation::Expired
            }
        }
    })
}
