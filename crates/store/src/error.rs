//! The crate's single error type.

/// Everything that can go wrong in this crate.
///
/// No variant ever carries the database password: connection targets are
/// described as `host:port/database`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL could not be parsed or is unusable.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),

    /// A connection to the database could not be established (refused,
    /// timed out, authentication failed, database missing, ...).
    #[error("database {target} is unreachable: {reason}")]
    Unreachable {
        /// `host:port/database` of the attempted connection.
        target: String,
        /// Why the connection failed.
        reason: String,
    },

    /// Applying a service's migrations failed.
    #[error("migrating the {service} database failed: {reason}")]
    Migration {
        /// The service whose migrations failed (see [`crate::MigrationSet::service`]).
        service: &'static str,
        /// What refinery or the database reported.
        reason: String,
    },

    /// A statement failed on an established connection.
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),

    /// The connection pool could not be built or could not hand out a connection.
    #[error("connection pool error: {0}")]
    Pool(String),

    /// Managing a local PostgreSQL cluster failed (initdb, pg_ctl, ...).
    #[error("local PostgreSQL: {0}")]
    LocalPostgres(String),

    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}

/// An error with its chain of sources (`a: b: c`): pool and TLS errors keep their reason (an
/// expired or misnamed certificate, say) a few levels down.
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}
