//! `runtime_checkpoints`.

use serde_json::Value;
use time::OffsetDateTime;

use super::{query_error, DbError};

/// A stored checkpoint.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    pub number: i64,
    pub checkpoint_id: String,
    /// The exact signed canonical body.
    pub body: String,
    pub signature: String,
    pub last_sequence: i64,
    pub merkle_root: String,
    /// Perfect-subtree roots (hex), largest first.
    pub frontier: Vec<String>,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str =
    "number, checkpoint_id, body, signature, last_sequence, merkle_root, frontier, created_at";

fn from_row(row: &tokio_postgres::Row) -> Result<StoredCheckpoint, DbError> {
    let frontier: Value = row.get(6);
    Ok(StoredCheckpoint {
        number: row.get(0),
        checkpoint_id: row.get(1),
        body: row.get(2),
        signature: row.get(3),
        last_sequence: row.get(4),
        merkle_root: row.get(5),
        frontier: serde_json::from_value(frontier)
            .map_err(|_| DbError::Corrupt("checkpoint frontier"))?,
        created_at: row.get(7),
    })
}

/// The newest checkpoint.
pub async fn latest(pool: &store::Pool) -> Result<Option<StoredCheckpoint>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM runtime_checkpoints ORDER BY number DESC LIMIT 1"),
            &[],
        )
        .await
        .map_err(query_error("reading the latest checkpoint"))?;
    row.as_ref().map(from_row).transpose()
}

/// The newest `limit` checkpoints, newest first.
pub async fn list(pool: &store::Pool, limit: i64) -> Result<Vec<StoredCheckpoint>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM runtime_checkpoints ORDER BY number DESC LIMIT $1"),
            &[&limit],
        )
        .await
        .map_err(query_error("listing checkpoints"))?;
    rows.iter().map(from_row).collect()
}

/// The checkpoint with this id.
pub async fn get(
    pool: &store::Pool,
    checkpoint_id: &str,
) -> Result<Option<StoredCheckpoint>, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM runtime_checkpoints WHERE checkpoint_id = $1"),
            &[&checkpoint_id],
        )
        .await
        .map_err(query_error("reading a checkpoint"))?;
    row.as_ref().map(from_row).transpose()
}

/// Stores a new checkpoint. Fails (primary key) if another producer stored the same number,
/// which the lease makes a bug, not a race.
pub async fn insert(pool: &store::Pool, checkpoint: &StoredCheckpoint) -> Result<(), DbError> {
    let client = pool.get().await?;
    let frontier = serde_json::to_value(&checkpoint.frontier)
        .map_err(|_| DbError::Corrupt("checkpoint frontier"))?;
    client
        .execute(
            "INSERT INTO runtime_checkpoints (number, checkpoint_id, body, signature, last_sequence, merkle_root, frontier, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &checkpoint.number,
                &checkpoint.checkpoint_id,
                &checkpoint.body,
                &checkpoint.signature,
                &checkpoint.last_sequence,
                &checkpoint.merkle_root,
                &frontier,
                &checkpoint.created_at,
            ],
        )
        .await
        .map_err(query_error("storing a checkpoint"))?;
    Ok(())
}

/// The checkpoints `sink` is owed, oldest first, at most `limit` (those after the newest one
/// delivered to it), and how many it is owed in all.
pub async fn undelivered(
    pool: &store::Pool,
    sink: &str,
    limit: i64,
) -> Result<(Vec<StoredCheckpoint>, i64), DbError> {
    let client = pool.get().await?;
    // The window count is taken before LIMIT applies: every checkpoint owed.
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS}, count(*) OVER () FROM runtime_checkpoints
                 WHERE number > COALESCE(
                     (SELECT max(checkpoint_number) FROM runtime_checkpoint_deliveries WHERE sink = $1), 0)
                 ORDER BY number LIMIT $2"
            ),
            &[&sink, &limit],
        )
        .await
        .map_err(query_error("reading the checkpoints a sink is owed"))?;
    let owed = rows.first().map_or(0, |row| row.get(8));
    let checkpoints = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((checkpoints, owed))
}

/// Records that `sink` accepted checkpoint `number`, answering `receipt`. Recording it twice
/// (a publisher that delivered again after losing its lease) keeps the first receipt.
pub async fn record_delivery(
    pool: &store::Pool,
    sink: &str,
    number: i64,
    receipt: &str,
) -> Result<(), DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO runtime_checkpoint_deliveries (sink, checkpoint_number, receipt)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&sink, &number, &receipt],
        )
        .await
        .map_err(query_error("recording a checkpoint delivery"))?;
    Ok(())
}

/// A delivered checkpoint and the sink's receipt.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub checkpoint_number: i64,
    pub receipt: String,
}

/// The deliveries to `sink`, oldest first.
pub async fn deliveries(pool: &store::Pool, sink: &str) -> Result<Vec<Delivery>, DbError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT checkpoint_number, receipt FROM runtime_checkpoint_deliveries
             WHERE sink = $1 ORDER BY checkpoint_number",
            &[&sink],
        )
        .await
        .map_err(query_error("reading checkpoint deliveries"))?;
    Ok(rows
        .iter()
        .map(|row| Delivery {
            checkpoint_number: row.get(0),
            receipt: row.get(1),
        })
        .collect())
}
