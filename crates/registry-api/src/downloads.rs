//! Download counting off the request path.
//!
//! A download only bumps an in-memory counter (one of a few mutex-guarded shards, so workers
//! rarely contend); a background task adds the accumulated counts to the database about once a
//! second, in one statement per flush, and [`DownloadCounter::flush`] runs once more on
//! graceful shutdown, so a clean stop loses nothing. A crash loses at most the last second.
//!
//! Each flush is a [`Batch`] under a random id, and the statement claims the id before it adds
//! anything. A write that fails may still have committed (the connection can drop after
//! Postgres committed and before it answered), so a failed batch is kept *as it is* and sent
//! again, under the same id, before any newer counts: if the first attempt did commit, the id
//! is taken and the retry adds nothing. Counts are added exactly once either way.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{Store, StoreError};

/// How often the background task flushes.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

const SHARDS: usize = 8;

/// What was downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Package,
    Template,
}

impl Kind {
    /// The `kind` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Package => "package",
            Kind::Template => "template",
        }
    }
}

/// What one count is for: the kind, the id and the version.
pub type Key = (Kind, String, String);

/// Counts taken from the counter to be added in one statement under one id.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The flush id the statement claims.
    pub id: i64,
    pub counts: Vec<(Key, i64)>,
}

impl Batch {
    fn total(&self) -> i64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// Pending download counts.
#[derive(Default)]
pub struct DownloadCounter {
    shards: [Mutex<HashMap<Key, i64>>; SHARDS],
    hasher: std::collections::hash_map::RandomState,
    /// The batch whose last write failed, its outcome unknown: sent again before anything new.
    unsettled: Mutex<Option<Batch>>,
    /// Batches made so far, for their ids.
    batches: AtomicU64,
}

impl DownloadCounter {
    /// An empty counter.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, i64>> {
        // The modulo keeps the index below SHARDS, so the cast cannot truncate meaningfully.
        #[allow(clippy::cast_possible_truncation)]
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        &self.shards[index]
    }

    /// Counts one download.
    pub fn record(&self, kind: Kind, id: &str, version: &str) {
        self.add((kind, id.to_owned(), version.to_owned()), 1);
    }

    fn add(&self, key: Key, n: i64) {
        let shard = self.shard(&key);
        // A poisoned shard only means another thread panicked mid-insert; the map is still
        // usable, and losing the count would be worse.
        let mut map = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(key).or_insert(0) += n;
    }

    /// Takes every pending count.
    fn drain(&self) -> Vec<(Key, i64)> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let mut map = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            all.extend(map.drain());
        }
        all
    }

    /// A new flush id: unique, not secret. SipHash under this counter's random keys (std seeds
    /// them from the OS) of the batch's number, so replicas' ids do not meet.
    fn flush_id(&self) -> i64 {
        let n = self.batches.fetch_add(1, Ordering::Relaxed);
        i64::from_ne_bytes(self.hasher.hash_one(("flush", n)).to_ne_bytes())
    }

    fn unsettled(&self) -> std::sync::MutexGuard<'_, Option<Batch>> {
        self.unsettled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pending counts not yet written, the unsettled batch's included (for tests and shutdown
    /// logs).
    pub fn pending(&self) -> i64 {
        let counted: i64 = self
            .shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .values()
                    .sum::<i64>()
            })
            .sum();
        counted + self.unsettled().as_ref().map_or(0, Batch::total)
    }

    /// The batch whose last write failed, if any (for tests).
    pub fn unsettled_batch(&self) -> Option<Batch> {
        self.unsettled().clone()
    }

    /// Writes pending counts to the database: the unsettled batch if there is one, else
    /// everything counted so far as a new batch. Returns how many downloads this call added;
    /// on failure the batch is kept, unchanged, for the next call and the error is returned.
    /// Only one flush runs at a time (the flusher task's).
    pub async fn flush(&self, store: &Store) -> Result<i64, StoreError> {
        let unsettled = self.unsettled().take();
        let batch = match unsettled {
            Some(batch) => batch,
            None => {
                let counts = self.drain();
                if counts.is_empty() {
                    return Ok(0);
                }
                Batch {
                    id: self.flush_id(),
                    counts,
                }
            }
        };
        match store.add_downloads(batch.id, &batch.counts).await {
            Ok(true) => Ok(batch.total()),
            // An earlier attempt committed after all.
            Ok(false) => Ok(0),
            Err(error) => {
                *self.unsettled() = Some(batch);
                Err(error)
            }
        }
    }

    /// Flushes every [`FLUSH_INTERVAL`] until `stop` fires, then flushes a last time.
    pub async fn run(self: Arc<Self>, store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            // After a failure, the unsettled batch goes first and newer counts wait a tick.
            if let Err(error) = self.flush(&store).await {
                tracing::warn!(event = "registry_download_flush_failed", error = %error, pending = self.pending(), "download counts kept for retry");
            }
        }
        self.final_flush(&store).await;
    }

    /// The shutdown flush: a few attempts, then the counts are reported as lost.
    pub async fn final_flush(&self, store: &Store) {
        // An unsettled batch and the newer counts are two flushes; failures get three tries.
        let mut written = 0;
        let mut attempt = 0;
        while self.pending() > 0 && attempt < 3 {
            match self.flush(store).await {
                Ok(n) => written += n,
                Err(error) => {
                    attempt += 1;
                    tracing::warn!(event = "registry_download_flush_failed", attempt, error = %error, "flushing download counts at shutdown");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        if written > 0 {
            tracing::info!(
                event = "registry_download_flush",
                written,
                "flushed download counts at shutdown"
            );
        }
        let pending = self.pending();
        if pending > 0 {
            tracing::error!(
                event = "registry_download_counts_lost",
                pending,
                "download counts could not be written"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_per_key_and_drain() {
        let counter = DownloadCounter::new();
        for _ in 0..5 {
            counter.record(Kind::Package, "a", "1.0.0");
        }
        counter.record(Kind::Template, "a", "1.0.0");
        counter.record(Kind::Package, "b", "1.0.0");
        assert_eq!(counter.pending(), 7);
        let mut drained = counter.drain();
        drained.sort_by(|a, b| a.0 .1.cmp(&b.0 .1).then(a.1.cmp(&b.1)));
        assert_eq!(drained.len(), 3);
        assert_eq!(counter.pending(), 0);
        let package_a = drained
            .iter()
            .find(|((k, id, _), _)| *k == Kind::Package && id == "a")
            .unwrap();
        assert_eq!(package_a.1, 5);
    }
}
