//! The connection pool.
//!
//! # Where a connection lives
//!
//! A `tokio_postgres` connection is two halves: the `Client` that queries, and a task that
//! drives the socket. The task, and the socket's registration, belong to the runtime it was
//! spawned on. By default deadpool opens a connection on whatever runtime asks for it first;
//! under actix-web that is one of the request workers, each its own runtime, so a worker's
//! shutdown killed every connection it had opened while other runtimes still used them. On
//! SIGTERM the download flusher then lost its connection after Postgres had committed its
//! `UPDATE`, saw an error, kept the counts and wrote them a second time.
//!
//! So the pool opens every connection on the runtime that built it (each binary builds its
//! pools in `main`, whose runtime outlives the workers). Only when that runtime is already
//! gone does a connection open on the caller's.

use std::time::Duration;

use crate::url::parse_target;
use crate::StoreError;
use deadpool_postgres::tokio_postgres::{Client, Config, Error};
use deadpool_postgres::{Connect, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How [`connect_pool`] configures the pool and its connections.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Maximum number of open connections.
    pub max_size: usize,
    /// Bound on establishing one connection (TCP, TLS, startup, auth).
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` of every pooled connection
    /// (`Duration::ZERO` disables it).
    pub statement_timeout: Duration,
    /// How long `pool.get()` waits for a free connection.
    pub wait_timeout: Duration,
    /// `application_name` reported to the server (visible in
    /// `pg_stat_activity`); an empty string keeps the URL's value.
    pub application_name: String,
}

impl Default for PoolOptions {
    /// 16 connections, 5 s connect, 30 s statement, 5 s wait, `anip`.
    fn default() -> Self {
        PoolOptions {
            max_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(5),
            application_name: "anip".to_owned(),
        }
    }
}

/// Builds a pool lazily (no connection is made here); validates the URL
/// (the error never echoes the password).
///
/// Connections are created on demand; each one runs with the configured
/// `statement_timeout` and `application_name`, passed as startup
/// parameters so they cost no extra round trip. Existing `options` in the
/// URL are kept. Connections live on the runtime current here, if any (see
/// the module documentation).
pub fn connect_pool(url: &str, opts: &PoolOptions) -> Result<Pool, StoreError> {
    let target = parse_target(url)?;
    let mut config = target.config;
    config.connect_timeout(opts.connect_timeout);
    if !opts.application_name.is_empty() {
        config.application_name(&opts.application_name);
    }
    let timeout = format!(
        "-c statement_timeout={}",
        opts.statement_timeout.as_millis()
    );
    let options = match config.get_options() {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {timeout}"),
        _ => timeout,
    };
    config.options(options);

    let manager = Manager::from_connect(
        config,
        OnHomeRuntime {
            tls: target.tls,
            home: Handle::try_current().ok(),
        },
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(opts.max_size.max(1))
        .wait_timeout(Some(opts.wait_timeout))
        .create_timeout(Some(opts.connect_timeout))
        .recycle_timeout(Some(opts.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}

/// Opens connections on `home` (the runtime that built the pool), or on the caller's runtime
/// when there is no home or it has shut down.
struct OnHomeRuntime {
    tls: MakeRustlsConnect,
    home: Option<Handle>,
}

type Opened = Result<(Client, JoinHandle<()>), Error>;

/// Opens a connection and spawns its driver on the current runtime.
async fn open(config: Config, tls: MakeRustlsConnect) -> Opened {
    let (client, connection) = config.connect(tls).await?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(target: "deadpool.postgres", "Connection error: {}", error);
        }
    });
    Ok((client, driver))
}

impl Connect for OnHomeRuntime {
    fn connect(&self, config: &Config) -> BoxFuture<'_, Opened> {
        let (config, tls, home) = (config.clone(), self.tls.clone(), self.home.clone());
        Box::pin(async move {
            if let Some(home) = home {
                match home.spawn(open(config.clone(), tls.clone())).await {
                    Ok(opened) => return opened,
                    Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                    // The home runtime is shutting down: open here instead.
                    Err(_) => {}
                }
            }
            open(config, tls).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_without_connecting() {
        // Port 1 is closed; building must still succeed.
        let pool = connect_pool("postgres://u:pw@127.0.0.1:1/db", &PoolOptions::default());
        assert!(pool.is_ok());
    }

    #[test]
    fn rejects_bad_url_without_password() {
        let err = connect_pool("postgres://u:topsecret@h:xx/db", &PoolOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid database URL"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
    }
}
