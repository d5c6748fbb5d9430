//! Merkle checkpoints (SPEC.md §6.5, §7.3–§7.5): production by one replica at a time under a
//! lease, and checkpoint detail with inclusion and consistency proofs.
//!
//! Checkpoints are cumulative (`ckpt-N` covers sequence 1..last). Each stores the frontier of
//! its tree, so producing the next one reads only the entries appended since, and retention can
//! delete checkpointed entries; proofs need every leaf and report
//! `proof_unavailable: audit_entries_expired` once retention removed one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use signing::digest::{hex, sha256};
use signing::gojson::{to_go_json, GoJsonOptions};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::merkle::{format_root, Frontier, MerkleTree};
use crate::app::Stop;
use crate::approval::rfc3339;
use crate::db::{self, checkpoints::StoredCheckpoint, DbError};
use crate::keys::Keys;

/// The lease every producer competes for.
pub const LEASE: &str = "role:checkpoint";

/// How the producer runs.
#[derive(Clone, Debug)]
pub struct ProducerSettings {
    pub service_id: String,
    /// Produce at least this often when there are new entries.
    pub cadence: Duration,
    /// Produce as soon as this many entries are not yet covered.
    pub max_lag: Option<i64>,
    /// This replica's lease holder id.
    pub holder: String,
    /// How often the producer checks whether a checkpoint is due ([`check_interval`]).
    pub check_every: Duration,
}

/// How often to check whether a checkpoint is due: often enough to honour a short cadence and
/// `max_lag`; each check is a few small queries.
pub fn check_interval(cadence: Duration) -> Duration {
    (cadence / 20).clamp(Duration::from_millis(250), Duration::from_secs(1))
}

/// What one round of the producer found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// A checkpoint was produced (its id).
    Produced(String),
    /// There are new entries, but neither the cadence nor `max_lag` calls for a checkpoint yet.
    NotDue,
    /// Every entry is covered by a checkpoint.
    UpToDate,
}

/// Runs the producer loop on the current runtime until `stop` is requested; a round in progress
/// (taking the lease, producing a checkpoint) finishes first. Releasing the lease afterwards is
/// the caller's job (`app::BackgroundJobs::stop`).
///
/// A round runs every `check_every`. After a round that found every entry covered, the next
/// also runs as soon as this replica commits an entry (`appended`, from its audit writer): the
/// first entry of a quiet service is checkpointed at once rather than up to a tick later. Under
/// load the log is never fully covered, so rounds stay one per tick.
pub fn spawn(
    pool: store::Pool,
    keys: Keys,
    settings: ProducerSettings,
    appended: Arc<Notify>,
    mut stop: Stop,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let lease_ttl = (settings.cadence * 3).max(Duration::from_secs(10));
        let tick = settings.check_every;
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Registered before the round, so that an entry committed during it wakes the next.
            let next_append = appended.notified();
            let up_to_date =
                round(&pool, &keys, &settings, lease_ttl).await == Some(Round::UpToDate);
            tokio::select! {
                biased;
                () = stop.requested() => return,
                _ = interval.tick() => {}
                () = next_append, if up_to_date => {}
            }
        }
    })
}

/// Takes (or keeps) the lease and produces a checkpoint if one is due; `None` when this replica
/// does not hold the lease or the round failed (logged).
async fn round(
    pool: &store::Pool,
    keys: &Keys,
    settings: &ProducerSettings,
    lease_ttl: Duration,
) -> Option<Round> {
    match db::leases::try_acquire(pool, LEASE, &settings.holder, lease_ttl).await {
        Ok(true) => match produce_if_due(pool, keys, settings, OffsetDateTime::now_utc()).await {
            Ok(round) => Some(round),
            Err(error) => {
                metrics::counter!("anip_runtime_checkpoint_failures_total").increment(1);
                tracing::warn!(event = "checkpoint_failed", error = %error, "checkpoint not produced");
                None
            }
        },
        Ok(false) => None,
        Err(error) => {
            tracing::warn!(event = "checkpoint_lease_failed", error = %error, "lease not checked");
            None
        }
    }
}

/// Produces a checkpoint if new entries exist and the cadence elapsed or the lag is reached.
/// The caller holds the lease.
pub async fn produce_if_due(
    pool: &store::Pool,
    keys: &Keys,
    settings: &ProducerSettings,
    now: OffsetDateTime,
) -> Result<Round, DbError> {
    let head = db::audit::head(pool).await?;
    let latest = db::checkpoints::latest(pool).await?;
    let covered = latest.as_ref().map_or(0, |c| c.last_sequence);
    if head <= covered {
        return Ok(Round::UpToDate);
    }
    let due = match &latest {
        None => true,
        Some(previous) => {
            let elapsed = now - previous.created_at;
            elapsed >= settings.cadence || settings.max_lag.is_some_and(|lag| head - covered >= lag)
        }
    };
    if !due {
        return Ok(Round::NotDue);
    }
    produce(pool, keys, &settings.service_id, latest, head, now)
        .await
        .map(Round::Produced)
}

async fn produce(
    pool: &store::Pool,
    keys: &Keys,
    service_id: &str,
    previous: Option<StoredCheckpoint>,
    head: i64,
    now: OffsetDateTime,
) -> Result<String, DbError> {
    let (mut frontier, number, previous_hash) = match &previous {
        None => (Frontier::default(), 1, Value::Null),
        Some(p) => {
            let roots = Frontier::parse_roots(&p.frontier)
                .ok_or(DbError::Corrupt("checkpoint frontier"))?;
            let size =
                u64::try_from(p.last_sequence).map_err(|_| DbError::Corrupt("checkpoint range"))?;
            let frontier =
                Frontier::from_parts(size, roots).ok_or(DbError::Corrupt("checkpoint frontier"))?;
            (
                frontier,
                p.number + 1,
                json!(format!("sha256:{}", hex(&sha256(p.body.as_bytes())))),
            )
        }
    };
    let first_new = previous.as_ref().map_or(1, |p| p.last_sequence + 1);
    let leaves = db::audit::leaf_hashes(pool, first_new, head).await?;
    let expected = usize::try_from(head - first_new + 1).unwrap_or(usize::MAX);
    if leaves.len() != expected {
        return Err(DbError::Corrupt(
            "audit log (entries missing before they were checkpointed)",
        ));
    }
    for (_, leaf) in &leaves {
        frontier.push(*leaf);
    }
    let checkpoint_id = format!("ckpt-{number}");
    let merkle_root = format_root(&frontier.root());
    let body = json!({
        "version": "0.3",
        "service_id": service_id,
        "checkpoint_id": checkpoint_id,
        "range": {"first_sequence": 1, "last_sequence": head},
        "merkle_root": merkle_root,
        "previous_checkpoint": previous_hash,
        "timestamp": rfc3339(now),
        "entry_count": head,
    });
    let body = to_go_json(&body, GoJsonOptions::DIGEST);
    let signature = keys
        .sign_audit_detached(body.as_bytes())
        .map_err(|_| DbError::Corrupt("audit signing key"))?;
    db::checkpoints::insert(
        pool,
        &StoredCheckpoint {
            number,
            checkpoint_id: checkpoint_id.clone(),
            body,
            signature,
            last_sequence: head,
            merkle_root,
            frontier: frontier.roots_hex(),
            created_at: now,
        },
    )
    .await?;
    metrics::counter!("anip_runtime_checkpoints_total").increment(1);
    tracing::info!(event = "checkpoint_created", checkpoint_id = %checkpoint_id, last_sequence = head, "checkpoint created");
    Ok(checkpoint_id)
}

/// The list form of a checkpoint: its signed body plus `signature`.
pub fn summary(checkpoint: &StoredCheckpoint) -> Value {
    let mut body: Value = serde_json::from_str(&checkpoint.body).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        map.insert(
            "signature".into(),
            Value::String(checkpoint.signature.clone()),
        );
    }
    body
}

/// What a proof request asked for.
#[derive(Clone, Debug, Default)]
pub struct ProofRequest {
    pub include_proof: bool,
    pub leaf_index: Option<u64>,
    pub consistency_from: Option<StoredCheckpoint>,
}

/// `GET /anip/checkpoints/{id}`: the checkpoint, and the proofs asked for.
pub async fn detail(
    pool: &store::Pool,
    checkpoint: &StoredCheckpoint,
    request: &ProofRequest,
) -> Result<Value, DbError> {
    let mut out = json!({"checkpoint": summary(checkpoint)});
    if let Some(expiry) = db::audit::earliest_expiry(pool, 1, checkpoint.last_sequence).await? {
        out["expires_hint"] = json!(rfc3339(expiry));
    }
    let wants_inclusion = request.include_proof && request.leaf_index.is_some();
    if !wants_inclusion && request.consistency_from.is_none() {
        return Ok(out);
    }
    let size = usize::try_from(checkpoint.last_sequence)
        .map_err(|_| DbError::Corrupt("checkpoint range"))?;
    let leaves = db::audit::leaf_hashes(pool, 1, checkpoint.last_sequence).await?;
    if leaves.len() < size {
        out["proof_unavailable"] = json!("audit_entries_expired");
        return Ok(out);
    }
    let tree = MerkleTree::from_leaf_hashes(leaves.into_iter().map(|(_, h)| h).collect());
    if let (true, Some(index)) = (request.include_proof, request.leaf_index) {
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        match tree.inclusion_proof(index) {
            Some(path) => {
                out["inclusion_proof"] = json!({
                    "leaf_index": index,
                    "sequence_number": index + 1,
                    "path": path.iter().map(|(h, side)| json!({"hash": hex(h), "side": side.as_str()})).collect::<Vec<_>>(),
                    "merkle_root": format_root(&tree.root()),
                    "leaf_count": tree.len(),
                });
            }
            None => out["proof_unavailable"] = json!("leaf_index_out_of_range"),
        }
    }
    if let Some(old) = &request.consistency_from {
        let old_size =
            usize::try_from(old.last_sequence).map_err(|_| DbError::Corrupt("checkpoint range"))?;
        match tree.consistency_proof(old_size) {
            Some(path) => {
                out["consistency_proof"] = json!({
                    "old_checkpoint_id": old.checkpoint_id,
                    "new_checkpoint_id": checkpoint.checkpoint_id,
                    "old_size": old_size,
                    "new_size": tree.len(),
                    "old_root": format_root(&tree.root_of(old_size)),
                    "new_root": format_root(&tree.root()),
                    "path": path.iter().map(format_root).collect::<Vec<_>>(),
                });
            }
            None => out["proof_unavailable"] = json!("consistency_from_is_newer"),
        }
    }
    Ok(out)
}
