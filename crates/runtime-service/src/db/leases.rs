//! `runtime_leases`: leader leases for background roles and exclusive invocation locks.

use std::time::Duration;

use super::{query_error, DbError};

/// Takes or renews `key` for `holder` for `ttl`: succeeds when the lease is free, expired, or
/// already held by `holder`; one statement, so two replicas cannot both win.
pub async fn try_acquire(
    pool: &store::Pool,
    key: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            "INSERT INTO runtime_leases (lease_key, holder, expires_at)
             VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::bigint / 1000.0))
             ON CONFLICT (lease_key) DO UPDATE
                SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                WHERE runtime_leases.expires_at < clock_timestamp() OR runtime_leases.holder = EXCLUDED.holder
             RETURNING holder",
            &[&key, &holder, &ttl_ms],
        )
        .await
        .map_err(query_error("acquiring a lease"))?;
    Ok(row.is_some())
}

/// Releases `key` if `holder` holds it.
pub async fn release(pool: &store::Pool, key: &str, holder: &str) -> Result<(), DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM runtime_leases WHERE lease_key = $1 AND holder = $2",
            &[&key, &holder],
        )
        .await
        .map_err(query_error("releasing a lease"))?;
    Ok(())
}

/// Releases every lease in `keys` that `holder` holds, in one statement; returns how many it
/// released. A stopping replica calls this for its role leases, so another replica takes each
/// role at its next tick instead of when the lease expires.
pub async fn release_all(pool: &store::Pool, keys: &[&str], holder: &str) -> Result<u64, DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM runtime_leases WHERE holder = $1 AND lease_key = ANY($2)",
            &[&holder, &keys],
        )
        .await
        .map_err(query_error("releasing leases"))
}
