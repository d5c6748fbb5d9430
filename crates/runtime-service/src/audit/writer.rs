//! The batching audit writer (group commit): one background task per replica collects the
//! entries waiting to be written and commits them together, then acknowledges each. Callers
//! wait for their acknowledgement, so no invocation is answered before its entry is durable,
//! while a burst of invocations costs one commit instead of many: the entries that arrive while
//! one batch commits form the next batch.
//!
//! Each batch is one statement on a connection the writer keeps: the entries are sealed
//! (sequence numbers, chain, signatures) after the head this replica last wrote, and the
//! statement advances the head only if no other replica appended since, inserting the entries
//! only if it did (`db::audit::insert_after`). While that statement commits, the entries arriving
//! meanwhile are already sealed after the head it will leave, so sealing (signing, mostly) never
//! waits for the disk and the disk never waits for sealing. When another replica did append,
//! the batch is sealed again under the head row's lock (`db::audit::append_locked`), which
//! serializes every replica; either way sequence numbers are gap-free and the chain has no
//! forks.
//!
//! The callers do the per-entry work that does not depend on the log's head (classification,
//! the canonical text around the two open members), so the writer only fills in, hashes and
//! signs.

use std::sync::Arc;

use serde_json::Value;
use signing::digest::{hex, sha256};
use tokio::sync::{mpsc, oneshot, Notify};

use super::{entry_json, merkle, CanonicalTemplate, NewEntry};
use crate::db::audit::{Columns, Head, Rows, Sealed};
use crate::db::{self, DbError};
use crate::keys::Keys;

/// The most entries committed in one statement.
const MAX_BATCH: usize = 512;

/// The most entries sealed ahead before the statement in flight is polled again.
const SEAL_AHEAD_STEP: usize = 32;

/// An entry as committed.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub sequence_number: i64,
    /// The exact text hashed into the chain.
    pub canonical: String,
    pub signature: String,
}

impl Recorded {
    /// The entry as `/anip/audit` returns it (with `signature`).
    pub fn entry(&self) -> Value {
        entry_json(&self.canonical, &self.signature)
    }
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
    template: CanonicalTemplate,
    columns: Columns,
    ack: oneshot::Sender<Result<Recorded, String>>,
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    jobs: mpsc::Sender<Job>,
    appended: Arc<Notify>,
}

impl AuditWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub fn spawn(pool: store::Pool, keys: Keys) -> AuditWriter {
        let (jobs, receiver) = mpsc::channel(8 * MAX_BATCH);
        let appended = Arc::new(Notify::new());
        tokio::spawn(run(
            Writer {
                pool,
                keys,
                client: None,
                head: None,
                appended: appended.clone(),
            },
            receiver,
        ));
        AuditWriter { jobs, appended }
    }

    /// Notified (`notify_waiters`) after each batch this writer commits; the checkpoint
    /// producer listens to it while the log is fully checkpointed.
    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// Records one entry and waits until it is committed.
    pub async fn record(&self, entry: NewEntry) -> Result<Recorded, AuditError> {
        let prepared = entry.prepare(time::OffsetDateTime::now_utc());
        let (ack, done) = oneshot::channel();
        self.jobs
            .send(Job {
                template: prepared.template(),
                columns: prepared.columns,
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

/// The writer's state between batches.
struct Writer {
    pool: store::Pool,
    keys: Keys,
    /// The connection the writer keeps (dropped after an error).
    client: Option<Arc<store::PooledClient>>,
    /// The head after this replica's last append; `None` until the first one, and after an
    /// error.
    head: Option<Head>,
    /// Notified after each committed batch.
    appended: Arc<Notify>,
}

/// Entries sealed in order: the head they follow, their rows, and the head they leave.
type SealedRun = (Head, Rows, Head);

/// Jobs waiting for the next statement, sealed (all of them, in order) after `from` when
/// `sealed` is set.
struct Next {
    jobs: Vec<Job>,
    sealed: Option<SealedRun>,
}

async fn run(mut writer: Writer, mut receiver: mpsc::Receiver<Job>) {
    // Take a connection now and keep it. Every pooled connection is driven on the runtime that
    // built the pool (`main`'s, where this task runs too), never on a busy request worker.
    if let Ok(client) = writer.pool.get().await {
        writer.client = Some(Arc::new(client));
    }
    let mut next = Next {
        jobs: Vec::with_capacity(MAX_BATCH),
        sealed: None,
    };
    let mut open = true;
    loop {
        if next.jobs.is_empty() {
            if !open || receiver.recv_many(&mut next.jobs, MAX_BATCH).await == 0 {
                return;
            }
            next.sealed = None;
        }
        let batch = std::mem::take(&mut next.jobs);
        let started = std::time::Instant::now();
        let Some(head) = writer.head.clone() else {
            // The first batch, or the first after an error: under the head's lock.
            let outcome = writer.commit_locked(&batch).await;
            writer.finish(batch, outcome, started);
            continue;
        };
        let (from, rows, to) = match next.sealed.take() {
            Some((from, rows, to)) if from == head && rows.len() == batch.len() => (from, rows, to),
            _ => match writer.seal(&batch, head) {
                Ok(sealed) => sealed,
                Err(error) => {
                    writer.reset();
                    writer.finish(batch, Err(error), started);
                    continue;
                }
            },
        };
        let client = match writer.client().await {
            Ok(client) => client,
            Err(error) => {
                writer.reset();
                writer.finish(batch, Err(error), started);
                continue;
            }
        };
        let in_flight_end = to.clone();
        let statement = tokio::spawn(async move {
            let outcome = db::audit::insert_after(&client, &from, &rows, &to).await;
            (outcome, rows, to)
        });
        tokio::pin!(statement);
        // While the statement commits, take in and seal what arrives, after the head it leaves.
        let mut ahead: Option<SealedRun> = None;
        let finished = loop {
            // A few at a time, so that the statement's answer is looked at between them.
            let room = (MAX_BATCH - next.jobs.len()).min(SEAL_AHEAD_STEP);
            tokio::select! {
                biased;
                finished = &mut statement => break finished,
                received = receiver.recv_many(&mut next.jobs, room),
                    if open && room > 0 =>
                {
                    if received == 0 {
                        open = false;
                        continue;
                    }
                    writer.seal_ahead(&mut ahead, &next.jobs, &in_flight_end);
                }
            }
        };
        match finished {
            Ok((Ok(true), rows, to)) => {
                writer.head = Some(to.clone());
                next.sealed = ahead.filter(|(from, _, _)| *from == to);
                writer.finish(batch, Ok(committed(rows)), started);
            }
            Ok((Ok(false), _, _)) => {
                // Another replica appended since this one last did.
                metrics::counter!("anip_runtime_audit_locked_appends_total").increment(1);
                let outcome = writer.commit_locked(&batch).await;
                writer.finish(batch, outcome, started);
            }
            Ok((Err(error), _, _)) => {
                writer.reset();
                writer.finish(batch, Err(error), started);
            }
            Err(_) => {
                writer.reset();
                writer.finish(
                    batch,
                    Err(DbError::Corrupt("audit writer statement task")),
                    started,
                );
            }
        }
    }
}

fn committed(rows: Rows) -> Vec<Recorded> {
    rows.into_committed()
        .map(|(sequence_number, canonical, signature)| Recorded {
            sequence_number,
            canonical,
            signature,
        })
        .collect()
}

impl Writer {
    /// Acknowledges every job of a batch, and tells listeners when it was committed.
    fn finish(
        &self,
        batch: Vec<Job>,
        outcome: Result<Vec<Recorded>, DbError>,
        started: std::time::Instant,
    ) {
        metrics::histogram!("anip_runtime_audit_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("anip_runtime_audit_batch_size").record(batch.len() as f64);
        match outcome {
            Ok(recorded) => {
                self.appended.notify_waiters();
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

    /// Forgets the connection and the head: after an error both are in doubt.
    fn reset(&mut self) {
        self.client = None;
        self.head = None;
    }

    async fn client(&mut self) -> Result<Arc<store::PooledClient>, DbError> {
        match &self.client {
            Some(client) => Ok(client.clone()),
            None => Ok(self.client.insert(Arc::new(self.pool.get().await?)).clone()),
        }
    }

    /// `jobs` sealed after `from`: `(from, rows, the head after them)`.
    fn seal(&self, jobs: &[Job], from: Head) -> Result<SealedRun, DbError> {
        let mut head = from.clone();
        let mut rows = Rows::default();
        for job in jobs {
            rows.push_sealed(&job.columns, &mut head, |sequence, previous| {
                seal(&self.keys, &job.template, sequence, previous)
            })?;
        }
        Ok((from, rows, head))
    }

    /// Seals the jobs of `jobs` not yet in `ahead`, which starts at `start`, the head the
    /// batch in flight leaves. A failure drops `ahead`: the jobs are sealed again when sent.
    fn seal_ahead(&self, ahead: &mut Option<SealedRun>, jobs: &[Job], start: &Head) {
        let (_, rows, head) =
            ahead.get_or_insert_with(|| (start.clone(), Rows::default(), start.clone()));
        for job in &jobs[rows.len()..] {
            let sealed = rows.push_sealed(&job.columns, head, |sequence, previous| {
                seal(&self.keys, &job.template, sequence, previous)
            });
            if sealed.is_err() {
                *ahead = None;
                return;
            }
        }
    }

    async fn commit_locked(&mut self, batch: &[Job]) -> Result<Vec<Recorded>, DbError> {
        let outcome = async {
            let mut client = self.pool.get().await?;
            let columns: Vec<Columns> = batch.iter().map(|job| job.columns.clone()).collect();
            let keys = &self.keys;
            db::audit::append_locked(&mut client, &columns, |index, sequence, previous| {
                seal(keys, &batch[index].template, sequence, previous)
            })
            .await
        }
        .await;
        match outcome {
            Ok((rows, head)) => {
                self.head = Some(head);
                Ok(committed(rows))
            }
            Err(error) => {
                self.reset();
                Err(error)
            }
        }
    }
}

/// Makes an entry final at `sequence` after `previous_hash`: its canonical text, hash, signature
/// and Merkle leaf.
fn seal(
    keys: &Keys,
    template: &CanonicalTemplate,
    sequence: i64,
    previous_hash: &str,
) -> Result<Sealed, DbError> {
    let text = template.fill(sequence, previous_hash);
    let digest = hex(&sha256(text.as_bytes()));
    let signature = keys
        .sign_audit_hash(&digest)
        .map_err(|_| DbError::Corrupt("audit signing key"))?;
    Ok(Sealed {
        leaf_hash: merkle::leaf_hash(text.as_bytes()).to_vec(),
        entry_hash: format!("sha256:{digest}"),
        canonical: text,
        signature,
    })
}
