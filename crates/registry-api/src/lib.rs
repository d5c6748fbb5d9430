//! The ANIP Registry: distributes signed packages and starter templates.
//!
//! Codemap:
//! - [`config`]: every setting, from the environment as the deployment guide names it.
//! - [`ids`], [`validate`], [`publish`], [`templates`], [`bundle`], [`record`]: the domain as
//!   plain functions (parse ids at the edge, publish rules, digests and receipts, bundle import,
//!   the rendered record).
//! - [`store`]: all SQL.
//! - [`auth`]: tokens, publishers, ownership decisions.
//! - [`app`] and `routes`: the HTTP layer (thin handlers), [`downloads`]: batched download
//!   counts, [`download_cache`] and [`listing_cache`]: what is served from memory,
//!   [`invalidation`]: how writes reach every replica's copy.
//! - `ui`: the browse UI, server-rendered HTML under `/registry`.
//!
//! Architecture invariants: published content, digests, receipts and lineages never change after
//! the insert that created them; signing never happens inside a database transaction; a
//! database failure is a 503, never a 404 or an empty list.

pub mod app;
pub mod auth;
pub mod bundle;
pub mod catalogue;
pub mod config;
pub mod download_cache;
pub mod downloads;
pub mod error;
pub mod github;
mod http;
pub mod ids;
pub mod invalidation;
pub mod keys;
pub mod listing_cache;
pub mod metrics;
pub mod model;
pub mod publish;
pub mod record;
mod routes;
pub mod seed;
pub mod store;
pub mod templates;
mod ui;
pub mod validate;

mod embedded {
    refinery::embed_migrations!("../../migrations/registry");
}

/// The Registry's embedded migrations.
pub static MIGRATIONS: ::store::MigrationSet = ::store::MigrationSet {
    service: "registry",
    lock_id: 0x414e_4950_0001,
    history_table: "registry_schema_history",
    runner: embedded::migrations::runner,
};
