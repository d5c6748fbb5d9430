//! A client-side ANIP conformance suite and a declarative scenario runner.
//!
//! * [`run`]: named checks against a runtime URL, written from the runtime protocol (SPEC.md
//!   v0.24): discovery, JWKS, the signed manifest, tokens and delegation, permissions, invoke
//!   success and failure shapes, budgets, bindings, non-delegable actions, the audit log and a
//!   checkpoint's Merkle inclusion proof, verified here on the client.
//! * [`scenario`]: JSON scenario files (requests, expectations, captures) that describe an
//!   agent's flow and run against a runtime.
//!
//! Everything here is an HTTP client: it works the same against a local runtime and a deployed
//! one, which is how `cargo xtask gates` uses it after a deployment.

#![warn(missing_docs)]

pub mod audit;
mod checks;
mod client;
mod merkle;
pub mod scenario;

use std::fmt;

use serde_json::Value;
use signing::Secret;

pub use client::Response;

/// The runtime under test.
pub struct Target {
    /// The runtime's base URL, e.g. `http://127.0.0.1:9100` (no trailing slash needed).
    pub base_url: String,
    /// A bootstrap credential the runtime maps to a principal (an API key).
    pub bootstrap_bearer: Secret,
    /// Sample invoke parameters keyed by capability name (the upstream `--sample-inputs` file).
    pub sample_inputs: Value,
}

/// What one check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every assertion held.
    Pass,
    /// An assertion failed; the detail says which.
    Fail,
    /// The service declares nothing this check could exercise (never counted as a pass).
    Skip,
}

impl Status {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One named check and its outcome.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// Stable name, e.g. `manifest_signature`.
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// One line: what was shown, or what failed.
    pub detail: String,
}

/// Every check that ran, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The checks.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Checks that passed.
    pub fn passed(&self) -> usize {
        self.count(Status::Pass)
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.count(Status::Fail)
    }

    /// Checks that were skipped.
    pub fn skipped(&self) -> usize {
        self.count(Status::Skip)
    }

    /// True when no check failed and none was skipped.
    pub fn all_passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.status == Status::Pass)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    /// The check with this name.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// `PASS name — detail`: one line per check, as reports print them.
impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} — {}", self.status.label(), self.name, self.detail)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
}

/// Errors that stop a run before any check (the scenario runner's file and format errors).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// A scenario file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A scenario file is not a valid scenario.
    #[error("{path} is not a valid scenario: {reason}")]
    InvalidScenario {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// Runs every conformance check against `target`, in order. Checks that need state from an
/// earlier one (the audit entry of a successful invocation) run after it; a check never stops
/// the run.
pub async fn run(target: &Target) -> Report {
    checks::run_all(target).await
}
