//! `runtime_signing_keys`: the two ES256 keys, generated once and shared by every replica.

use super::{query_error, DbError};

/// Returns the PKCS#8 document stored for `purpose`, storing `candidate` first if there is
/// none. Concurrent first starts race on the primary key; every caller gets the winner's key.
pub async fn load_or_insert(
    pool: &store::Pool,
    purpose: &str,
    kid: &str,
    candidate: &[u8],
) -> Result<Vec<u8>, DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO runtime_signing_keys (purpose, kid, pkcs8) VALUES ($1, $2, $3) ON CONFLICT (purpose) DO NOTHING",
            &[&purpose, &kid, &candidate],
        )
        .await
        .map_err(query_error("storing a signing key"))?;
    let row = client
        .query_one(
            "SELECT pkcs8 FROM runtime_signing_keys WHERE purpose = $1",
            &[&purpose],
        )
        .await
        .map_err(query_error("loading a signing key"))?;
    Ok(row.get(0))
}
