//! Database plumbing shared by the ANIP services (Registry, Studio, Runtime).
//!
//! * [`connect_pool`] builds a lazily connecting [`Pool`] with per-connection
//!   statement timeouts and an application name.
//! * [`migrate`] applies a service's embedded refinery migrations under a
//!   PostgreSQL advisory lock, so any number of replicas may start at once.
//! * [`readiness`] is what `/readyz`-style endpoints report.
//! * [`listen`] keeps a `LISTEN` session whose notifications arrive on a channel.
//! * Every connection honours libpq's `sslmode` and `sslrootcert` in the URL (TLS through
//!   rustls; see the `tls` module).
//! * [`LocalPostgres`] runs a private PostgreSQL cluster for development.
//! * [`testing`] hands out one freshly migrated database per test.
//! * [`free_port`] finds a loopback port for a server started a moment later (outside the
//!   kernel's ephemeral range, so that no outgoing connection takes it meanwhile).
//!
//! Errors never contain the database password: messages name the target as
//! `host:port/database` only.

#![warn(missing_docs)]

mod error;
mod local;
mod migrate;
mod notify;
mod pool;
mod ports;
mod readiness;
pub mod testing;
mod tls;
mod url;

pub use deadpool_postgres::{Object as PooledClient, Pool};

pub use error::StoreError;
pub use local::{find_pg_bin, LocalPostgres};
pub use migrate::{migrate, MigrationReport, MigrationSet};
pub use notify::{listen, Notifications};
pub use pool::{connect_pool, PoolOptions};
pub use ports::free_port;
pub use readiness::{readiness, Readiness};
