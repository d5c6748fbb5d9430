//! The retention sweep (§6.8): one replica at a time deletes audit entries whose `expires_at`
//! has passed. With checkpoints enabled it deletes only checkpointed entries, so the next
//! checkpoint never needs a deleted one; the chain head is unaffected, so the sequence and the
//! hash chain continue.

use std::time::Duration;

use time::OffsetDateTime;

use crate::db::{self, DbError};

/// The lease every sweeper competes for.
pub const LEASE: &str = "role:retention";

/// Deletes what has expired at `now`; returns how many entries were deleted.
pub async fn sweep(
    pool: &store::Pool,
    now: OffsetDateTime,
    checkpoints_enabled: bool,
) -> Result<u64, DbError> {
    let up_to = if checkpoints_enabled {
        db::checkpoints::latest(pool)
            .await?
            .map_or(0, |c| c.last_sequence)
    } else {
        db::audit::head(pool).await?
    };
    db::audit::delete_expired(pool, now, up_to).await
}

/// Runs the sweep every `every` on the current runtime, under the retention lease, until `stop`
/// is requested (a sweep in progress finishes first).
pub fn spawn(
    pool: store::Pool,
    holder: String,
    every: Duration,
    checkpoints_enabled: bool,
    mut stop: crate::app::Stop,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.requested() => return,
                _ = interval.tick() => {}
            }
            match db::leases::try_acquire(&pool, LEASE, &holder, every * 2).await {
                Ok(true) => {
                    match sweep(&pool, OffsetDateTime::now_utc(), checkpoints_enabled).await {
                        Ok(deleted) => {
                            metrics::counter!("anip_runtime_audit_entries_expired_total")
                                .increment(deleted);
                            if deleted > 0 {
                                tracing::info!(
                                    event = "retention_sweep",
                                    deleted,
                                    "expired audit entries deleted"
                                );
                            }
                        }
                        Err(error) => {
                            tracing::warn!(event = "retention_sweep_failed", error = %error, "retention sweep failed")
                        }
                    }
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(event = "retention_lease_failed", error = %error, "lease not checked")
                }
            }
        }
    })
}
