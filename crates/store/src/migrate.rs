//! Embedded migrations applied under an advisory lock.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio_postgres::Client;

use crate::url::{connect_dedicated, describe_target, parse_target, DEFAULT_CONNECT_TIMEOUT};
use crate::StoreError;

/// A service's embedded refinery migrations.
///
/// A service declares:
///
/// ```text
/// mod embedded {
///     refinery::embed_migrations!("../../migrations/registry");
/// }
/// pub static MIGRATIONS: store::MigrationSet = store::MigrationSet {
///     service: "registry",
///     lock_id: 0x414e4950_0001,
///     history_table: "registry_schema_history",
///     runner: embedded::migrations::runner,
/// };
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MigrationSet {
    /// Short service name, used in messages and template database names.
    pub service: &'static str,
    /// Key of the session-level `pg_advisory_lock` serializing migrators.
    pub lock_id: i64,
    /// Name of refinery's history table (an SQL identifier, used verbatim).
    pub history_table: &'static str,
    /// `embedded::migrations::runner` from `refinery::embed_migrations!`.
    pub runner: fn() -> refinery::Runner,
}

/// What [`migrate`] did. Names look like `V1__init`.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations this call applied (empty when another caller got there first).
    pub applied_now: Vec<String>,
    /// Every migration recorded in the history table afterwards.
    pub applied: Vec<String>,
    /// Embedded migrations still not applied (empty after success).
    pub pending: Vec<String>,
}

/// Opens a dedicated session (not from a pool), takes
/// `pg_advisory_lock(lock_id)`, runs the refinery runner with the set's
/// history table, releases the lock, logs one `<service>_migrations` event and returns what
/// was applied.
///
/// Any number of concurrent callers against one database is safe: each
/// migration is applied exactly once and all callers succeed. Each migration
/// runs in its own transaction together with its history row, so a failure
/// leaves the database at the last good migration and a retry resumes there.
/// Migrations whose applied checksum differs from the embedded one, or that
/// are recorded but no longer embedded, abort the run (refinery's
/// `abort_divergent` / `abort_missing`).
///
/// Connection failures give [`StoreError::Unreachable`] naming
/// `host:port/db` (never the password); the URL's `connect_timeout`
/// (default 5 s) bounds the attempt.
pub async fn migrate(url: &str, set: &MigrationSet) -> Result<MigrationReport, StoreError> {
    if !valid_table_name(set.history_table) {
        return Err(StoreError::Migration {
            service: set.service,
            reason: format!("invalid history table name {:?}", set.history_table),
        });
    }
    let target = parse_target(url)?;
    let mut client = connect_dedicated(&target, DEFAULT_CONNECT_TIMEOUT).await?;
    let described = describe_target(&target.config);
    let failed = |reason: String| StoreError::Migration {
        service: set.service,
        reason,
    };

    client
        .execute("SELECT pg_advisory_lock($1)", &[&set.lock_id])
        .await
        .map_err(|e| failed(format!("taking advisory lock {}: {e}", set.lock_id)))?;
    tracing::debug!(service = set.service, target = %described, "migration lock taken");

    let mut runner = (set.runner)()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .set_grouped(false);
    runner.set_migration_table_name(set.history_table);
    let outcome = runner.run_async(&mut client).await;

    // Closing the session would release the lock too; unlock explicitly so
    // the next waiter proceeds without waiting for the disconnect.
    if let Err(e) = client
        .execute("SELECT pg_advisory_unlock($1)", &[&set.lock_id])
        .await
    {
        tracing::warn!(service = set.service, error = %e, "releasing the migration lock failed");
    }

    let report = outcome.map_err(|e| {
        let partial = e
            .report()
            .map(|r| {
                r.applied_migrations()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if partial.is_empty() {
            failed(e.to_string())
        } else {
            failed(format!(
                "{e} (applied before the failure: {})",
                partial.join(", ")
            ))
        }
    })?;
    let applied_now: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(ToString::to_string)
        .collect();
    for name in &applied_now {
        tracing::info!(service = set.service, migration = %name, "applied migration");
    }

    let status = status(&client, set)
        .await
        .map_err(|e| failed(format!("reading {}: {e}", set.history_table)))?;
    let report = MigrationReport {
        applied_now,
        applied: status.applied,
        pending: status.pending,
    };
    tracing::info!(
        event = %format!("{}_migrations", set.service),
        applied_now = ?report.applied_now,
        applied = report.applied.len(),
        pending = ?report.pending,
        "migrations checked"
    );
    Ok(report)
}

/// Refinery splices the history table name into SQL unquoted: allow only
/// (optionally schema-qualified) plain identifiers.
pub(crate) fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && !part.starts_with(|c: char| c.is_ascii_digit())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// The history table compared with the embedded migrations.
#[derive(Debug, Default)]
pub(crate) struct Status {
    /// Recorded migrations, by version.
    pub applied: Vec<String>,
    /// Embedded migrations not recorded, by version.
    pub pending: Vec<String>,
    /// Recorded migrations whose checksum differs from the embedded one.
    pub divergent: Vec<String>,
    /// Number of embedded migrations.
    pub expected: usize,
}

/// Reads the history table (a missing table means everything is pending).
pub(crate) async fn status(
    client: &Client,
    set: &MigrationSet,
) -> Result<Status, tokio_postgres::Error> {
    let runner = (set.runner)();
    let embedded: BTreeMap<i64, &refinery::Migration> = runner
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m))
        .collect();

    if !valid_table_name(set.history_table) {
        // Reported as "all pending"; `migrate` explains the problem.
        return Ok(Status {
            expected: embedded.len(),
            pending: embedded.values().map(ToString::to_string).collect(),
            ..Status::default()
        });
    }
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1::text) IS NOT NULL",
            &[&set.history_table],
        )
        .await?
        .get(0);
    let rows = if exists {
        client
            .query(
                &format!(
                    "SELECT version::int8, name::text, checksum::text FROM {} ORDER BY version",
                    set.history_table
                ),
                &[],
            )
            .await?
    } else {
        Vec::new()
    };

    let mut status = Status {
        expected: embedded.len(),
        ..Status::default()
    };
    let mut recorded = BTreeMap::new();
    for row in rows {
        let version: i64 = row.get(0);
        let name: Option<String> = row.get(1);
        let checksum: Option<String> = row.get(2);
        let label = match embedded.get(&version) {
            Some(m) => {
                if checksum.as_deref() != Some(m.checksum().to_string().as_str()) {
                    status.divergent.push(m.to_string());
                }
                m.to_string()
            }
            None => format!("V{version}__{}", name.unwrap_or_default()),
        };
        recorded.insert(version, label);
    }
    status.applied = recorded.values().cloned().collect();
    status.pending = embedded
        .iter()
        .filter(|(version, _)| !recorded.contains_key(version))
        .map(|(_, m)| m.to_string())
        .collect();
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::valid_table_name;

    #[test]
    fn table_names() {
        assert!(valid_table_name("registry_schema_history"));
        assert!(valid_table_name("anip.history"));
        assert!(!valid_table_name(""));
        assert!(!valid_table_name("x; DROP TABLE y"));
        assert!(!valid_table_name("1abc"));
        assert!(!valid_table_name("a..b"));
    }
}
