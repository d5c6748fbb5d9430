//! Runtime tests against real parts: Postgres (`store::testing`), the real flight backend, the
//! real runtime app on loopback HTTP, the real `anip-runtime` binary and a real Registry. One test
//! binary, one module per behaviour.

// Test helpers outside `#[test]` functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod approvals;
mod audit_chain;
mod audit_writer;
mod backends;
mod checkpoints;
mod crash;
mod packages;
mod protocol;
mod sinks;
mod support;
mod trust;
