//! Fault drills (deployment issue 6): the real binaries under load while something breaks.
//!
//! | drill | what breaks | what must hold |
//! | --- | --- | --- |
//! | [`kill_registry`] | `kill -9` of the Registry amid concurrent publications | every acknowledged publication is present and verifies; nothing is half-written |
//! | [`postgres_restart`] | Postgres (a private cluster) stopped and started under a request loop | readiness and the API answer 503 JSON while it is down, never a 500, a false 404 or an empty list; all recover without a restart |
//! | [`replicas`] | nothing: two Registry and two runtime replicas share one database | no error response, no lost download count, one gap-free, unbroken audit chain |
//! | [`backup_restore`] | the database is lost | a `pg_dump` restored into a fresh database serves the same bytes, which verify |
//!
//! The binaries must be built first (`cargo build --bins`); the drills find them beside the test
//! executable. Service output goes to files under `CARGO_TARGET_TMPDIR/fault-drills/`.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod backup_restore;
mod kill_registry;
mod postgres_restart;
mod replicas;
mod support;
