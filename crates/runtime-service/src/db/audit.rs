//! `runtime_audit_log` and `runtime_audit_head`.

use time::OffsetDateTime;

use super::{query_error, DbError};

/// The filterable copies of an entry's fields, stored beside its canonical text.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    pub recorded_at: Option<OffsetDateTime>,
    pub root_principal: Option<String>,
    pub capability: Option<String>,
    pub invocation_id: Option<String>,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub parent_invocation_id: Option<String>,
    pub event_class: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// An entry made final once its sequence number and previous hash are known.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// The exact bytes hashed (the entry without its signature).
    pub canonical: String,
    /// `sha256:<hex>` of `canonical`; the next entry's `previous_hash`.
    pub entry_hash: String,
    pub signature: String,
    /// RFC 6962 leaf hash of `canonical`.
    pub leaf_hash: Vec<u8>,
}

/// Appends `items` in one transaction. The head row is locked first, so appends from every
/// replica are serialized: each item gets the next sequence number and the hash of the entry
/// before it, and `seal(index, sequence_number, previous_hash)` makes it final. Nothing is
/// visible until the whole batch commits.
pub async fn append_batch<F>(
    pool: &store::Pool,
    items: &[Columns],
    mut seal: F,
) -> Result<Vec<(i64, Sealed)>, DbError>
where
    F: FnMut(usize, i64, &str) -> Result<Sealed, DbError>,
{
    let mut client = pool.get().await?;
    let tx = client
        .transaction()
        .await
        .map_err(query_error("starting an audit append"))?;
    let head = tx
        .query_one(
            "SELECT last_sequence, last_hash FROM runtime_audit_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(query_error("locking the audit head"))?;
    let mut sequence: i64 = head.get(0);
    let mut previous: String = head.get(1);
    let insert = tx
        .prepare(
            "INSERT INTO runtime_audit_log (sequence_number, canonical, entry_hash, previous_hash, signature, leaf_hash,
                 recorded_at, root_principal, capability, invocation_id, client_reference_id, task_id,
                 parent_invocation_id, event_class, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .await
        .map_err(query_error("preparing an audit append"))?;
    let mut sealed = Vec::with_capacity(items.len());
    for (index, columns) in items.iter().enumerate() {
        sequence += 1;
        let entry = seal(index, sequence, &previous)?;
        tx.execute(
            &insert,
            &[
                &sequence,
                &entry.canonical,
                &entry.entry_hash,
                &previous,
                &entry.signature,
                &entry.leaf_hash,
                &columns.recorded_at,
                &columns.root_principal,
                &columns.capability,
                &columns.invocation_id,
                &columns.client_reference_id,
                &columns.task_id,
                &columns.parent_invocation_id,
                &columns.event_class,
                &columns.expires_at,
            ],
        )
        .await
        .map_err(query_error("appending an audit entry"))?;
        previous = entry.entry_hash.clone();
        sealed.push((sequence, entry));
    }
    tx.execute(
        "UPDATE runtime_audit_head SET last_sequence = $1, last_hash = $2 WHERE id = 1",
        &[&sequence, &previous],
    )
    .await
    .map_err(query_error("advancing the audit head"))?;
    tx.commit()
        .await
        .map_err(query_error("committing an audit append"))?;
    Ok(sealed)
}

/// Filters of an audit query (§6.3); `None` means "any".
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub root_principal: String,
    pub capability: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub invocation_id: Option<String>,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub parent_invocation_id: Option<String>,
    pub event_class: Option<String>,
    pub limit: i64,
}

/// Entries of one root principal, newest first: `(canonical, signature)`.
pub async fn query(pool: &store::Pool, q: &Query) -> Result<Vec<(String, String)>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT canonical, signature FROM runtime_audit_log
             WHERE root_principal = $1
               AND ($2::text IS NULL OR capability = $2)
               AND ($3::timestamptz IS NULL OR recorded_at >= $3)
               AND ($4::text IS NULL OR invocation_id = $4)
               AND ($5::text IS NULL OR client_reference_id = $5)
               AND ($6::text IS NULL OR task_id = $6)
               AND ($7::text IS NULL OR parent_invocation_id = $7)
               AND ($8::text IS NULL OR event_class = $8)
             ORDER BY sequence_number DESC
             LIMIT $9",
            &[
                &q.root_principal,
                &q.capability,
                &q.since,
                &q.invocation_id,
                &q.client_reference_id,
                &q.task_id,
                &q.parent_invocation_id,
                &q.event_class,
                &q.limit,
            ],
        )
        .await
        .map_err(query_error("querying the audit log"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Leaf hashes of entries `first..=last` that still exist, in sequence order.
pub async fn leaf_hashes(
    pool: &store::Pool,
    first: i64,
    last: i64,
) -> Result<Vec<(i64, [u8; 32])>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT sequence_number, leaf_hash FROM runtime_audit_log WHERE sequence_number BETWEEN $1 AND $2 ORDER BY sequence_number",
            &[&first, &last],
        )
        .await
        .map_err(query_error("reading audit leaf hashes"))?;
    rows.iter()
        .map(|row| {
            let bytes: Vec<u8> = row.get(1);
            let hash: [u8; 32] = bytes
                .try_into()
                .map_err(|_| DbError::Corrupt("audit leaf hash"))?;
            Ok((row.get(0), hash))
        })
        .collect()
}

/// The canonical text of one entry, if it still exists.
pub async fn canonical(
    pool: &store::Pool,
    sequence_number: i64,
) -> Result<Option<(String, String)>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT canonical, signature FROM runtime_audit_log WHERE sequence_number = $1",
            &[&sequence_number],
        )
        .await
        .map_err(query_error("reading an audit entry"))?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// The last assigned sequence number (0 for an empty log).
pub async fn head(pool: &store::Pool) -> Result<i64, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT last_sequence FROM runtime_audit_head WHERE id = 1",
            &[],
        )
        .await
        .map_err(query_error("reading the audit head"))?;
    Ok(row.get(0))
}

/// The earliest `expires_at` of the entries `first..=last`.
pub async fn earliest_expiry(
    pool: &store::Pool,
    first: i64,
    last: i64,
) -> Result<Option<OffsetDateTime>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT min(expires_at) FROM runtime_audit_log WHERE sequence_number BETWEEN $1 AND $2",
            &[&first, &last],
        )
        .await
        .map_err(query_error("reading audit expiry"))?;
    Ok(row.get(0))
}

/// Deletes entries whose retention has passed, but only those already covered by a checkpoint
/// (`up_to`), so that checkpoint production never needs a deleted entry.
pub async fn delete_expired(
    pool: &store::Pool,
    now: OffsetDateTime,
    up_to: i64,
) -> Result<u64, DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM runtime_audit_log WHERE expires_at < $1 AND sequence_number <= $2",
            &[&now, &up_to],
        )
        .await
        .map_err(query_error("deleting expired audit entries"))
}
