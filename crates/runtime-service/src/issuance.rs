//! Durable token storage with group commit: issued tokens are handed to one background task
//! per replica, which stores every token waiting in one statement (one commit) and then
//! acknowledges each, so no token is returned before it is durable while a burst of issuances
//! costs one commit instead of one each. Tokens are independent (unlike audit entries, nothing
//! orders them), so a few batches may commit at once, each on its own connection: a batch
//! never waits for another's disk flush. Should a batch fail, its tokens are stored one by
//! one, so one token's failure is never another's.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

use crate::db::{self, DbError};
use crate::delegation::Token;

/// The most tokens stored in one statement.
const MAX_BATCH: usize = 256;

/// The most batches committing at once.
const IN_FLIGHT: usize = 4;

struct Job {
    token: Token,
    ack: oneshot::Sender<Result<(), String>>,
}

/// A handle to the token writer; cheap to clone.
#[derive(Clone)]
pub struct TokenWriter {
    jobs: mpsc::Sender<Job>,
}

impl TokenWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub fn spawn(pool: store::Pool) -> TokenWriter {
        let (jobs, receiver) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(run(pool, receiver));
        TokenWriter { jobs }
    }

    /// Stores `token` and waits until it is committed.
    pub async fn insert(&self, token: Token) -> Result<(), DbError> {
        let (ack, done) = oneshot::channel();
        self.jobs
            .send(Job { token, ack })
            .await
            .map_err(|_| DbError::Unavailable("the token writer has stopped".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(DbError::Unavailable(reason)),
            Err(_) => Err(DbError::Unavailable("the token writer has stopped".into())),
        }
    }
}

async fn run(pool: store::Pool, mut receiver: mpsc::Receiver<Job>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    // Connections kept between batches, taken at start on this runtime (see the audit writer).
    let mut kept = Vec::with_capacity(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        if let Ok(client) = pool.get().await {
            kept.push(client);
        }
    }
    let idle = Arc::new(Mutex::new(kept));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let (pool, idle) = (pool.clone(), idle.clone());
        tokio::spawn(async move {
            let client = idle.lock().await.pop();
            if let Some(client) = store_batch(&pool, client, batch).await {
                idle.lock().await.push(client);
            }
            drop(permit);
        });
    }
}

/// Stores one batch and acknowledges its tokens; returns the connection if it is still good.
async fn store_batch(
    pool: &store::Pool,
    client: Option<store::PooledClient>,
    mut batch: Vec<Job>,
) -> Option<store::PooledClient> {
    let tokens: Vec<Token> = batch.iter().map(|job| job.token.clone()).collect();
    let connection = match client {
        Some(connection) => Ok(connection),
        None => pool.get().await.map_err(DbError::from),
    };
    let (stored, client) = match connection {
        Ok(connection) => {
            let stored = db::tokens::insert_many(&connection, &tokens).await;
            let keep = stored.is_ok().then_some(connection);
            (stored, keep)
        }
        Err(error) => (Err(error), None),
    };
    match stored {
        Ok(()) => {
            for job in batch.drain(..) {
                let _ = job.ack.send(Ok(()));
            }
        }
        Err(error) => {
            tracing::warn!(event = "token_batch_failed", tokens = batch.len(), error = %error, "storing tokens one by one");
            for job in batch.drain(..) {
                let outcome = db::tokens::insert(pool, &job.token)
                    .await
                    .map_err(|e| e.to_string());
                let _ = job.ack.send(outcome);
            }
        }
    }
    client
}
