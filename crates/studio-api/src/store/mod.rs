//! All of Studio's SQL. Functions take any client or transaction (`C: GenericClient`), so the
//! service layer decides the transaction boundaries; nothing here commits.
//!
//! Functions return `Ok(None)` / `Ok(false)` for "no such row" and leave the wording of 404s
//! to the caller; database failures become [`crate::error::Error`] through its
//! `From<tokio_postgres::Error>` (unique violations are 409, a broken connection is 503).

pub mod artifacts;
pub mod connections;
pub mod documents;
pub mod evaluations;
pub mod projects;
pub mod publications;
pub mod settings;
pub mod snapshots;
pub mod workspaces;

pub use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::Row;

use crate::error::Result;
use crate::timefmt;

/// The database handle the application shares.
#[derive(Clone)]
pub struct Db {
    pool: ::store::Pool,
}

impl Db {
    /// Wraps a pool.
    pub fn new(pool: ::store::Pool) -> Self {
        Db { pool }
    }

    /// The underlying pool (for readiness checks).
    pub fn pool(&self) -> &::store::Pool {
        &self.pool
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<::store::PooledClient> {
        Ok(self.pool.get().await?)
    }
}

/// Reads a `timestamptz` column as upstream's isoformat text.
pub(crate) fn ts(row: &Row, column: &str) -> String {
    let value: OffsetDateTime = row.get(column);
    timefmt::iso(value)
}

/// Parses an optional timestamp from a snapshot row; `None` means "now" to the SQL
/// (`COALESCE($n, now())`).
pub(crate) fn parse_ts(text: Option<&str>) -> Option<OffsetDateTime> {
    text.and_then(timefmt::parse)
}
