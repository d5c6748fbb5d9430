//! All SQL of the Registry, in one place.
//!
//! Every method either returns what the database holds or a [`StoreError`]; "not found" is an
//! `Option`/outcome, never an error, and an error is never turned into "not found" or an empty
//! list (the HTTP layer maps errors to 503).
//!
//! Cancellation: reads may be dropped at any await point harmlessly. Writes run in one
//! transaction each; a dropped [`tokio_postgres::Transaction`] rolls back, so a cancelled write
//! leaves nothing behind. The HTTP layer additionally runs writes on a spawned task
//! ([`Store::detached`]) so a client disconnecting mid-publish cannot cancel a commit half way.

pub mod abuse;
mod browse;
mod packages;
pub mod publishers;
pub mod sessions;
mod templates;
pub mod transfers;
pub mod users;

use std::future::Future;

use deadpool_postgres::{Object, Pool};
use serde_json::Value;
use tokio_postgres::error::SqlState;

pub use browse::{PackageVersionRow, TemplateVersionRow};
pub use packages::{
    CatalogueRow, DownloadRow, InsertOutcome, ListQuery, LockRow, NewPackage, PublicationPage,
    RecordRow, UnusableReplacement, SEARCH_COUNT_CAP,
};
pub use publishers::{
    AdminQuery, NamespaceRow, NewToken, OwnerRow, ProfileChange, PublisherStatusChange, TokenRow,
};
pub use templates::{NewTemplate, TemplateDownloadRow, TemplateRecordRow};

use crate::model::{Lifecycle, LifecycleReplacement};

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (pool timeout, connection refused, ...).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    /// Stored data does not decode (a bug or manual tampering).
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
    /// A spawned database task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether the error is a unique violation (a concurrent insert won).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
    }
}

/// The registry's database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

/// Who did something, for audit events.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// `publisher:<id>`, `registry-admin`, `seed`, ...
    pub actor: String,
    pub publisher_id: Option<String>,
    pub token_id: Option<String>,
}

impl Actor {
    /// The admin token.
    pub fn admin() -> Self {
        Actor {
            actor: "registry-admin".into(),
            publisher_id: None,
            token_id: None,
        }
    }

    /// A system task such as seeding.
    pub fn system(name: &str) -> Self {
        Actor {
            actor: name.to_owned(),
            publisher_id: None,
            token_id: None,
        }
    }
}

impl Store {
    /// A store on `pool`.
    pub fn new(pool: Pool) -> Self {
        Store { pool }
    }

    /// The pool, for readiness checks.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Whether the database answers a trivial statement.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Runs `work` on its own task, so dropping the caller (a client that hung up) cannot
    /// interrupt it between statements of a transaction.
    pub async fn detached<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(work(self.clone()))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The dev signing key shared by the replicas: inserts `(key_id, seed)` unless a key is
    /// already stored, then returns the stored one.
    pub async fn dev_key_get_or_insert(
        &self,
        key_id: &str,
        seed_b64: &str,
    ) -> Result<(String, String), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO registry_dev_keys (singleton, key_id, seed_b64) VALUES (TRUE, $1, $2) \
                 ON CONFLICT (singleton) DO NOTHING",
                &[&key_id, &seed_b64],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT key_id, seed_b64 FROM registry_dev_keys WHERE singleton",
                &[],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Public keys recorded when importing bundles whose receipts they verified.
    pub async fn imported_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT key_id, public_key FROM registry_imported_keys ORDER BY key_id")
            .await?;
        let rows = client.query(&stmt, &[]).await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

/// The audit event recorded with a write, in its transaction: who did what to which target.
pub(crate) struct Event {
    pub actor: Actor,
    pub event_type: &'static str,
    pub target_type: String,
    pub target_id: String,
    pub metadata: Value,
    /// The write changes what the public listings show (a publisher's name or status): every
    /// replica's listing cache is told, in the same transaction.
    pub listings: bool,
}

impl Event {
    pub fn new(
        actor: Actor,
        event_type: &'static str,
        target_type: &str,
        target_id: &str,
        metadata: Value,
    ) -> Self {
        Event {
            actor,
            event_type,
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            metadata,
            listings: false,
        }
    }

    /// Marks the write as one the listings show.
    pub fn shown_in_listings(self) -> Self {
        Event {
            listings: true,
            ..self
        }
    }
}

impl Store {
    /// Runs `sql`, a write that returns the row it wrote (`RETURNING`) or none, and when there
    /// is a row, records the event `describe` makes of it, in one transaction. `None` when the
    /// write matched nothing: nothing is recorded and the transaction rolls back.
    pub(crate) async fn write_audited<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        describe: impl FnOnce(&tokio_postgres::Row) -> (T, Event),
    ) -> Result<Option<T>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx.query_opt(sql, params).await? else {
            return Ok(None);
        };
        let (written, event) = describe(&row);
        audit(
            &tx,
            &event.actor,
            event.event_type,
            &event.target_type,
            &event.target_id,
            &event.metadata,
        )
        .await?;
        if event.listings {
            packages::notify_listings_changed(&tx).await?;
        }
        tx.commit().await?;
        Ok(Some(written))
    }
}

/// Writes an audit event inside the caller's transaction.
pub(crate) async fn audit(
    client: &tokio_postgres::Transaction<'_>,
    actor: &Actor,
    event_type: &str,
    target_type: &str,
    target_id: &str,
    metadata: &Value,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO registry_audit_events \
             (actor, actor_publisher_id, token_id, event_type, target_type, target_id, metadata) \
             VALUES ($1, $2, CAST($3 AS text)::uuid, $4, $5, $6, $7)",
            &[
                &actor.actor,
                &actor.publisher_id,
                &actor.token_id,
                &event_type,
                &target_type,
                &target_id,
                metadata,
            ],
        )
        .await?;
    Ok(())
}

/// Reads the six lifecycle columns starting at `start`.
pub(crate) fn lifecycle_at(row: &tokio_postgres::Row, start: usize) -> Lifecycle {
    let replacement_id: Option<String> = row.get(start + 2);
    let replacement_version: Option<String> = row.get(start + 3);
    Lifecycle {
        status: row.get(start),
        reason: row.get(start + 1),
        replacement: match (replacement_id, replacement_version) {
            (Some(package_id), Some(package_version)) => Some(LifecycleReplacement {
                package_id,
                package_version,
            }),
            _ => None,
        },
        updated_at: row.get::<_, Option<String>>(start + 4).unwrap_or_default(),
        updated_by: row.get::<_, Option<String>>(start + 5).unwrap_or_default(),
    }
}

/// The lifecycle columns, in [`lifecycle_at`] order.
pub(crate) const LIFECYCLE_COLUMNS: &str = "lifecycle_status, lifecycle_reason, \
    lifecycle_replacement_package_id, lifecycle_replacement_package_version, \
    lifecycle_updated_at, lifecycle_updated_by";

/// Formats a timestamp column as the API shows it.
pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    crate::publish::format_rfc3339(at)
}

/// What an admin list pages through: `table` (with any alias), the `columns` of an item, the
/// columns a search matches (case-insensitive substring), the status column and the order.
pub(crate) struct AdminList {
    pub table: &'static str,
    pub columns: &'static str,
    pub search_in: &'static [&'static str],
    pub status: &'static str,
    pub order: &'static str,
}

impl Store {
    /// One page of an admin list and the total it pages through: two statements over one filter
    /// (`search` as a substring of any `search_in` column, `status` exactly; empty matches all).
    pub(crate) async fn admin_page<T>(
        &self,
        list: &AdminList,
        query: &publishers::AdminQuery,
        item: impl Fn(&tokio_postgres::Row) -> T,
    ) -> Result<crate::model::Page<T>, StoreError> {
        let client = self.client().await?;
        let pattern = format!("%{}%", like_escape(&query.search));
        let matches: Vec<String> = list
            .search_in
            .iter()
            .map(|column| format!("{column} ILIKE $2"))
            .collect();
        let filter = format!(
            "($1 = '' OR {}) AND ($3 = '' OR {} = $3)",
            matches.join(" OR "),
            list.status
        );
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {} WHERE {filter}", list.table),
                &[&query.search, &pattern, &query.status],
            )
            .await?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {} FROM {} WHERE {filter} ORDER BY {} LIMIT $4 OFFSET $5",
                    list.columns, list.table, list.order
                ),
                &[
                    &query.search,
                    &pattern,
                    &query.status,
                    &query.limit,
                    &query.offset,
                ],
            )
            .await?;
        Ok(crate::model::Page {
            items: rows.iter().map(item).collect(),
            total,
            limit: query.limit,
            offset: query.offset,
        })
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
