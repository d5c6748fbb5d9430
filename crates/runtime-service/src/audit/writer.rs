//! The batching audit writer: one background task per replica collects the entries waiting to
//! be written and commits them together in one transaction (see `db::audit::append_batch`),
//! then acknowledges each. Callers wait for their acknowledgement, so no invocation is answered
//! before its entry is durable, while a burst of invocations costs one commit instead of many.

use serde_json::Value;
use signing::digest::{hex, sha256};
use tokio::sync::{mpsc, oneshot};

use super::{canonical, entry_json, merkle, NewEntry, PreparedEntry};
use crate::db::{self, DbError};
use crate::keys::Keys;

/// The most entries committed in one transaction.
const MAX_BATCH: usize = 256;

/// An entry as committed.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub sequence_number: i64,
    /// The entry as `/anip/audit` returns it (with `signature`).
    pub entry: Value,
}

/// Why an entry could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log is unavailable: {0}")]
    Unavailable(String),
    #[error("the audit writer has stopped")]
    Stopped,
}

struct Job {
    entry: PreparedEntry,
    ack: oneshot::Sender<Result<Recorded, String>>,
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    jobs: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub fn spawn(pool: store::Pool, keys: Keys) -> AuditWriter {
        let (jobs, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, keys, receiver));
        AuditWriter { jobs }
    }

    /// Records one entry and waits until it is committed.
    pub async fn record(&self, entry: NewEntry) -> Result<Recorded, AuditError> {
        let prepared = entry.prepare(time::OffsetDateTime::now_utc());
        let (ack, done) = oneshot::channel();
        self.jobs
            .send(Job {
                entry: prepared,
                ack,
            })
            .await
            .map_err(|_| AuditError::Stopped)?;
        match done.await {
            Ok(Ok(recorded)) => Ok(recorded),
            Ok(Err(reason)) => Err(AuditError::Unavailable(reason)),
            Err(_) => Err(AuditError::Stopped),
        }
    }
}

async fn run(pool: store::Pool, keys: Keys, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let outcome = commit(&pool, &keys, &batch).await;
        metrics::histogram!("anip_runtime_audit_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("anip_runtime_audit_batch_size").record(batch.len() as f64);
        match outcome {
            Ok(recorded) => {
                for (job, recorded) in batch.into_iter().zip(recorded) {
                    // A caller that gave up waiting is not an error: its entry is committed.
                    let _ = job.ack.send(Ok(recorded));
                }
            }
            Err(error) => {
                tracing::error!(event = "audit_append_failed", entries = batch.len(), error = %error, "audit batch not committed");
                for job in batch {
                    let _ = job.ack.send(Err(error.to_string()));
                }
            }
        }
    }
}

async fn commit(pool: &store::Pool, keys: &Keys, batch: &[Job]) -> Result<Vec<Recorded>, DbError> {
    let columns: Vec<db::audit::Columns> =
        batch.iter().map(|job| job.entry.columns.clone()).collect();
    let mut finished: Vec<Value> = Vec::with_capacity(batch.len());
    let sealed = db::audit::append_batch(pool, &columns, |index, sequence, previous_hash| {
        let mut fields = batch[index].entry.fields.clone();
        fields.insert("sequence_number".into(), Value::from(sequence));
        fields.insert(
            "previous_hash".into(),
            Value::String(previous_hash.to_owned()),
        );
        let text = canonical(&fields);
        let digest = hex(&sha256(text.as_bytes()));
        let signature = keys
            .sign_audit_hash(&digest)
            .map_err(|_| DbError::Corrupt("audit signing key"))?;
        finished.push(entry_json(&text, &signature));
        Ok(db::audit::Sealed {
            leaf_hash: merkle::leaf_hash(text.as_bytes()).to_vec(),
            entry_hash: format!("sha256:{digest}"),
            canonical: text,
            signature,
        })
    })
    .await?;
    Ok(sealed
        .into_iter()
        .zip(finished)
        .map(|((sequence_number, _), entry)| Recorded {
            sequence_number,
            entry,
        })
        .collect())
}
