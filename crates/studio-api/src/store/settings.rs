//! `studio_settings`: settings changed through the API (never secrets).

use serde_json::Value;

use super::GenericClient;
use crate::error::Result;

/// A stored setting.
pub async fn get(c: &impl GenericClient, key: &str) -> Result<Option<Value>> {
    let row = c
        .query_opt("SELECT value FROM studio_settings WHERE key = $1", &[&key])
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Stores a setting.
pub async fn put(c: &impl GenericClient, key: &str, value: &Value) -> Result<()> {
    c.execute(
        "INSERT INTO studio_settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        &[&key, value],
    )
    .await?;
    Ok(())
}
