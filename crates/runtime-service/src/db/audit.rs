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

/// The columns every append writes, bound as one array per column and unnested, so that a
/// batch of any size is one statement.
const INSERT_ROWS: &str =
    "INSERT INTO runtime_audit_log (sequence_number, canonical, entry_hash, previous_hash,
         signature, leaf_hash, recorded_at, root_principal, capability, invocation_id,
         client_reference_id, task_id, parent_invocation_id, event_class, expires_at)
     SELECT e.sequence_number, e.canonical, e.entry_hash, e.previous_hash, e.signature, e.leaf_hash,
            COALESCE(e.recorded_at, now()), e.root_principal, e.capability, e.invocation_id,
            e.client_reference_id, e.task_id, e.parent_invocation_id, e.event_class, e.expires_at
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[],
                 $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                 $13::text[], $14::text[], $15::timestamptz[])
          AS e(sequence_number, canonical, entry_hash, previous_hash, signature, leaf_hash,
               recorded_at, root_principal, capability, invocation_id, client_reference_id,
               task_id, parent_invocation_id, event_class, expires_at)";

/// The log's head: the last sequence number and the hash of that entry (`sha256:0` when empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub sequence: i64,
    pub hash: String,
}

/// Sealed entries with their columns, as parallel arrays (one statement inserts them all).
#[derive(Default)]
pub struct Rows {
    sequence_number: Vec<i64>,
    canonical: Vec<String>,
    entry_hash: Vec<String>,
    previous_hash: Vec<String>,
    signature: Vec<String>,
    leaf_hash: Vec<Vec<u8>>,
    recorded_at: Vec<Option<OffsetDateTime>>,
    root_principal: Vec<Option<String>>,
    capability: Vec<Option<String>>,
    invocation_id: Vec<Option<String>>,
    client_reference_id: Vec<Option<String>>,
    task_id: Vec<Option<String>>,
    parent_invocation_id: Vec<Option<String>>,
    event_class: Vec<Option<String>>,
    expires_at: Vec<Option<OffsetDateTime>>,
}

impl Rows {
    /// How many entries.
    pub fn len(&self) -> usize {
        self.sequence_number.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sequence_number.is_empty()
    }

    /// Seals the entry of `columns` after `head` with `seal(sequence_number, previous_hash)`
    /// and appends it; `head` advances to it.
    pub fn push_sealed<F>(
        &mut self,
        columns: &Columns,
        head: &mut Head,
        seal: F,
    ) -> Result<(), DbError>
    where
        F: FnOnce(i64, &str) -> Result<Sealed, DbError>,
    {
        let sequence = head.sequence + 1;
        let entry = seal(sequence, &head.hash)?;
        let previous = std::mem::replace(&mut head.hash, entry.entry_hash.clone());
        head.sequence = sequence;
        self.sequence_number.push(sequence);
        self.canonical.push(entry.canonical);
        self.entry_hash.push(entry.entry_hash);
        self.previous_hash.push(previous);
        self.signature.push(entry.signature);
        self.leaf_hash.push(entry.leaf_hash);
        self.recorded_at.push(columns.recorded_at);
        self.root_principal.push(columns.root_principal.clone());
        self.capability.push(columns.capability.clone());
        self.invocation_id.push(columns.invocation_id.clone());
        self.client_reference_id
            .push(columns.client_reference_id.clone());
        self.task_id.push(columns.task_id.clone());
        self.parent_invocation_id
            .push(columns.parent_invocation_id.clone());
        self.event_class.push(columns.event_class.clone());
        self.expires_at.push(columns.expires_at);
        Ok(())
    }

    fn seal<F>(items: &[Columns], head: &mut Head, seal: &mut F) -> Result<Rows, DbError>
    where
        F: FnMut(usize, i64, &str) -> Result<Sealed, DbError>,
    {
        let mut rows = Rows::default();
        for (index, columns) in items.iter().enumerate() {
            rows.push_sealed(columns, head, |sequence, previous| {
                seal(index, sequence, previous)
            })?;
        }
        Ok(rows)
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 15] {
        [
            &self.sequence_number,
            &self.canonical,
            &self.entry_hash,
            &self.previous_hash,
            &self.signature,
            &self.leaf_hash,
            &self.recorded_at,
            &self.root_principal,
            &self.capability,
            &self.invocation_id,
            &self.client_reference_id,
            &self.task_id,
            &self.parent_invocation_id,
            &self.event_class,
            &self.expires_at,
        ]
    }

    /// Each entry's sequence number, canonical text and signature, in order.
    pub fn into_committed(self) -> impl Iterator<Item = (i64, String, String)> {
        self.sequence_number
            .into_iter()
            .zip(self.canonical)
            .zip(self.signature)
            .map(|((sequence, canonical), signature)| (sequence, canonical, signature))
    }
}

/// Appends `items` in one transaction. The head row is locked first, so appends from every
/// replica are serialized: each item gets the next sequence number and the hash of the entry
/// before it, and `seal(index, sequence_number, previous_hash)` makes it final. Nothing is
/// visible until the whole batch commits. Returns the entries and the new head.
pub async fn append_locked<F>(
    client: &mut store::PooledClient,
    items: &[Columns],
    mut seal: F,
) -> Result<(Rows, Head), DbError>
where
    F: FnMut(usize, i64, &str) -> Result<Sealed, DbError>,
{
    let tx = client
        .transaction()
        .await
        .map_err(query_error("starting an audit append"))?;
    let lock = tx
        .prepare_cached(
            "SELECT last_sequence, last_hash FROM runtime_audit_head WHERE id = 1 FOR UPDATE",
        )
        .await
        .map_err(query_error("preparing the audit head lock"))?;
    let row = tx
        .query_one(&lock, &[])
        .await
        .map_err(query_error("locking the audit head"))?;
    let mut head = Head {
        sequence: row.get(0),
        hash: row.get(1),
    };
    let rows = Rows::seal(items, &mut head, &mut seal)?;
    let insert = tx
        .prepare_cached(INSERT_ROWS)
        .await
        .map_err(query_error("preparing an audit append"))?;
    let advance = tx
        .prepare_cached(
            "UPDATE runtime_audit_head SET last_sequence = $1, last_hash = $2 WHERE id = 1",
        )
        .await
        .map_err(query_error("preparing the audit head update"))?;
    tx.execute(&insert, &rows.params())
        .await
        .map_err(query_error("appending audit entries"))?;
    tx.execute(&advance, &[&head.sequence, &head.hash])
        .await
        .map_err(query_error("advancing the audit head"))?;
    tx.commit()
        .await
        .map_err(query_error("committing an audit append"))?;
    Ok((rows, head))
}

/// Inserts `rows`, sealed after `expected` (the head this replica last wrote) up to `sealed`,
/// in one statement that commits on its own: the head advances only if it is still `expected`,
/// and the rows are inserted only if it advanced. Returns `false`, having written nothing, when
/// another replica appended in between (then [`append_locked`] takes over).
pub async fn insert_after(
    client: &store::PooledClient,
    expected: &Head,
    rows: &Rows,
    sealed: &Head,
) -> Result<bool, DbError> {
    let statement = client
        .prepare_cached(&format!(
            "WITH advanced AS (
                 UPDATE runtime_audit_head SET last_sequence = $16, last_hash = $17
                 WHERE id = 1 AND last_sequence = $18 AND last_hash = $19
                 RETURNING 1
             )
             {INSERT_ROWS}
             WHERE EXISTS (SELECT 1 FROM advanced)"
        ))
        .await
        .map_err(query_error("preparing an audit append"))?;
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = rows.params().to_vec();
    params.extend([
        &sealed.sequence as &(dyn tokio_postgres::types::ToSql + Sync),
        &sealed.hash,
        &expected.sequence,
        &expected.hash,
    ]);
    let inserted = client
        .execute(&statement, &params)
        .await
        .map_err(query_error("appending audit entries"))?;
    match inserted {
        0 => Ok(false),
        n if n == rows.len() as u64 => Ok(true),
        _ => Err(DbError::Corrupt("audit append (partial batch)")),
    }
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
