//! Runtime tests against real parts: Postgres (`store::testing`), the real flight backend and
//! the real runtime app on loopback HTTP. One test binary, one module per behaviour.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod approvals;
mod audit_chain;
mod backends;
mod checkpoints;
mod packages;
mod protocol;
mod support;
