//! The ANIP runtime service: starts from a verified package and serves its capabilities to
//! agents over the ANIP protocol, with durable tokens, audit and checkpoints in Postgres.
//!
//! Codemap: `package` (bundle loading and verification, service definitions, backend bindings)
//! → `contract` (the declarations served) → `runtime` and `invoke` (the protocol operations) →
//! `backend` and `compose` (where the work happens) → `audit` (hash-chained log, checkpoints,
//! retention) → `db` (all SQL) → `http` (handlers) and `app` (assembly).

pub mod app;
pub mod approval;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod bearer;
pub mod compose;
pub mod config;
pub mod contract;
pub mod db;
pub mod delegation;
pub mod duration;
pub mod failure;
pub mod http;
pub mod ids;
pub mod invoke;
pub mod issuance;
pub mod keys;
pub mod package;
pub mod runtime;

mod embedded {
    refinery::embed_migrations!("../../migrations/runtime");
}

/// The runtime's embedded migrations, applied under their own advisory lock.
pub static MIGRATIONS: store::MigrationSet = store::MigrationSet {
    service: "runtime",
    lock_id: 0x414e_4950_0003,
    history_table: "runtime_schema_history",
    runner: embedded::migrations::runner,
};
