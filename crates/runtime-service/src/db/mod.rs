//! All SQL of the runtime, one module per table group. Everything here is plain data in, plain
//! data out; protocol rules live in the modules that call these functions.

pub mod approvals;
pub mod audit;
pub mod checkpoints;
pub mod keys;
pub mod leases;
pub mod tokens;

/// A storage failure. The message names the operation and never a credential or a row's
/// content.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool.
    #[error("the database is unavailable ({0})")]
    Unavailable(String),
    /// A statement failed.
    #[error("{operation} failed: {reason}")]
    Query {
        /// What was being done.
        operation: &'static str,
        /// The database's message.
        reason: String,
    },
    /// Stored data does not have the expected shape.
    #[error("stored {0} is malformed")]
    Corrupt(&'static str),
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// Wraps a `tokio_postgres` error with the operation's name.
pub(crate) fn query_error(
    operation: &'static str,
) -> impl FnOnce(tokio_postgres::Error) -> DbError {
    move |err| DbError::Query {
        operation,
        reason: err.to_string(),
    }
}
