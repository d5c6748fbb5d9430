//! What readiness endpoints report.

use std::time::Duration;

use serde::Serialize;

use crate::migrate::{status, MigrationSet};
use crate::url::human;
use crate::Pool;

/// Bound on the whole readiness check (getting a connection, `SELECT 1`,
/// reading the history table).
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness endpoints report: the database is reachable and every
/// embedded migration is applied.
#[derive(Serialize, Clone, Debug)]
pub struct Readiness {
    /// `database_reachable` and no pending or divergent migration.
    pub ready: bool,
    /// A pooled connection answered `SELECT 1` within the timeout.
    pub database_reachable: bool,
    /// Migrations recorded in the history table (`V1__init`, ...).
    pub applied: Vec<String>,
    /// `applied.len()`.
    pub applied_count: usize,
    /// Number of embedded migrations.
    pub expected_count: usize,
    /// Embedded migrations not yet applied.
    pub pending: Vec<String>,
    /// Why the service is not ready, if it is not (never contains the password).
    pub error: Option<String>,
}

/// Checks the database behind `pool` against `set`: reachable (a
/// `SELECT 1` with a short timeout) and every embedded migration applied
/// (the runner's migrations compared with the history table; a missing
/// table means all are pending). Never fails: problems land in
/// [`Readiness::error`].
pub async fn readiness(pool: &Pool, set: &MigrationSet) -> Readiness {
    let expected: Vec<String> = (set.runner)()
        .get_migrations()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut report = Readiness {
        ready: false,
        database_reachable: false,
        applied: Vec::new(),
        applied_count: 0,
        expected_count: expected.len(),
        pending: expected,
        error: None,
    };
    match tokio::time::timeout(READINESS_TIMEOUT, check(pool, set, &mut report)).await {
        Ok(Ok(())) => {}
        Ok(Err(message)) => report.error = Some(message),
        Err(_) => {
            report.error = Some(format!(
                "readiness check timed out after {}",
                human(READINESS_TIMEOUT)
            ));
        }
    }
    report.ready = report.database_reachable && report.error.is_none();
    report
}

async fn check(pool: &Pool, set: &MigrationSet, report: &mut Readiness) -> Result<(), String> {
    let client = pool
        .get()
        .await
        .map_err(|e| format!("database unreachable: {}", crate::error::with_sources(&e)))?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| format!("database unreachable: {e}"))?;
    report.database_reachable = true;

    let status = status(&client, set)
        .await
        .map_err(|e| format!("reading {}: {e}", set.history_table))?;
    report.applied = status.applied;
    report.applied_count = report.applied.len();
    report.expected_count = status.expected;
    report.pending = status.pending;
    if !status.divergent.is_empty() {
        return Err(format!(
            "applied migrations differ from the embedded ones: {}",
            status.divergent.join(", ")
        ));
    }
    if !report.pending.is_empty() {
        return Err(format!(
            "{} of {} migrations pending",
            report.pending.len(),
            report.expected_count
        ));
    }
    Ok(())
}
