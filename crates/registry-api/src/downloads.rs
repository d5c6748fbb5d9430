//! Download counting off the request path.
//!
//! A download only bumps an in-memory counter (one of a few mutex-guarded shards, so workers
//! rarely contend); a background task adds the accumulated counts to the database about once a
//! second, one `UPDATE ... FROM unnest(...)` per artifact kind. Counts that fail to flush are
//! put back and retried, and [`DownloadCounter::flush`] runs once more on graceful shutdown, so
//! a clean stop loses nothing. A crash loses at most the last second.

use std::collections::HashMap;
use std::hash::BuildHasher;
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

type Key = (Kind, String, String);

/// Pending download counts.
#[derive(Default)]
pub struct DownloadCounter {
    shards: [Mutex<HashMap<Key, i64>>; SHARDS],
    hasher: std::collections::hash_map::RandomState,
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

    /// Pending counts not yet written (for tests and shutdown logs).
    pub fn pending(&self) -> i64 {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .values()
                    .sum::<i64>()
            })
            .sum()
    }

    /// Writes every pending count to the database; on failure the counts are kept for the next
    /// attempt and the error is returned.
    pub async fn flush(&self, store: &Store) -> Result<i64, StoreError> {
        let drained = self.drain();
        if drained.is_empty() {
            return Ok(0);
        }
        let mut total = 0;
        let mut failure = None;
        for kind in [Kind::Package, Kind::Template] {
            let batch: Vec<&(Key, i64)> =
                drained.iter().filter(|((k, _, _), _)| *k == kind).collect();
            if batch.is_empty() {
                continue;
            }
            let ids = batch.iter().map(|((_, id, _), _)| id.clone()).collect();
            let versions = batch.iter().map(|((_, _, v), _)| v.clone()).collect();
            let counts: Vec<i64> = batch.iter().map(|(_, n)| *n).collect();
            let sum: i64 = counts.iter().sum();
            match store.add_downloads(kind, ids, versions, counts).await {
                Ok(()) => total += sum,
                Err(error) => {
                    for (key, n) in batch {
                        self.add(key.clone(), *n);
                    }
                    failure = Some(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(total),
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
            if let Err(error) = self.flush(&store).await {
                tracing::warn!(event = "registry_download_flush_failed", error = %error, pending = self.pending(), "download counts kept for retry");
            }
        }
        self.final_flush(&store).await;
    }

    /// The shutdown flush: a few attempts, then the counts are reported as lost.
    pub async fn final_flush(&self, store: &Store) {
        for attempt in 1..=3 {
            match self.flush(store).await {
                Ok(written) => {
                    if written > 0 {
                        tracing::info!(
                            event = "registry_download_flush",
                            written,
                            "flushed download counts at shutdown"
                        );
                    }
                    return;
                }
                Err(error) => {
                    tracing::warn!(event = "registry_download_flush_failed", attempt, error = %error, "flushing download counts at shutdown");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tracing::error!(
            event = "registry_download_counts_lost",
            pending = self.pending(),
            "download counts could not be written"
        );
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
