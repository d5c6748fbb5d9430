//! ANIP Studio: authors projects from source documents into revisioned contracts, builds
//! packages and publishes them to a Registry it verifies.
//!
//! Layers, outside in: [`app`] (middleware, routes) → [`api`] (JSON handlers) and [`ui`]
//! (server-rendered pages) → [`service`] (operations, transactions) → [`rules`] (plain
//! business rules) and [`store`] (all SQL). [`registry`] is the seam to the Registry
//! (the shared `registry_client` for HTTP and verification);
//! [`assistant`] drafts proposals.

pub mod api;
pub mod app;
pub mod assistant;
pub mod config;
pub mod error;
pub mod hashing;
pub mod ids;
pub mod model;
pub mod read_only;
pub mod registry;
pub mod routing;
pub mod rules;
pub mod service;
pub mod store;
pub mod timefmt;
pub mod ui;

mod embedded {
    refinery::embed_migrations!("../../migrations/studio");
}

/// Studio's embedded migrations, applied under their own advisory lock.
pub static MIGRATIONS: ::store::MigrationSet = ::store::MigrationSet {
    service: "studio",
    lock_id: 0x414e_4950_0002,
    history_table: "studio_schema_history",
    runner: embedded::migrations::runner,
};
