//! An in-process cache of package downloads, so a hot download costs no query.
//!
//! Published bytes never change; only a version's lifecycle can (yank, deprecate, takedown). An
//! entry therefore holds the immutable bytes and the lifecycle as last read, and is trusted for
//! a short time only (`ttl`). Lifecycle changes evict entries at once: in this process directly
//! (the admin route calls [`DownloadCache::evict`]) and in every other replica through Postgres
//! `NOTIFY registry_lifecycle` (see [`crate::invalidation`]). The TTL bounds staleness when a
//! notification is missed, e.g. while the listening connection reconnects.
//!
//! Memory is bounded by `max_bytes`; past it, the least recently used entries go first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

use crate::model::Lifecycle;

/// One cached download: the stored (immutable) body, its ETag and the lifecycle as last read.
#[derive(Debug)]
pub struct CachedDownload {
    /// `None` for a taken-down version (its bytes are never served).
    pub body: Option<Bytes>,
    pub etag: String,
    pub lifecycle: Lifecycle,
    fetched: Instant,
    last_used: AtomicU64,
}

impl CachedDownload {
    fn size(&self) -> usize {
        self.body.as_ref().map_or(0, Bytes::len) + self.etag.len() + 256
    }
}

/// The cache; cheap to share (`Arc`).
#[derive(Debug)]
pub struct DownloadCache {
    entries: RwLock<HashMap<(String, String), Arc<CachedDownload>>>,
    bytes: AtomicUsize,
    ttl: Duration,
    max_bytes: usize,
    epoch: Instant,
}

impl DownloadCache {
    /// A cache trusting entries for `ttl` and holding at most `max_bytes` of bodies
    /// (`max_bytes == 0` disables caching).
    pub fn new(ttl: Duration, max_bytes: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            ttl,
            max_bytes,
            epoch: Instant::now(),
        }
    }

    fn now_tick(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A fresh entry for `id@version`, if there is one.
    pub fn get(&self, package_id: &str, version: &str) -> Option<Arc<CachedDownload>> {
        let entries = self.entries.read().ok()?;
        // The key is owned; a borrowed lookup would need a custom key type for little gain.
        let entry = entries.get(&(package_id.to_owned(), version.to_owned()))?;
        if entry.fetched.elapsed() > self.ttl {
            return None;
        }
        entry.last_used.store(self.now_tick(), Ordering::Relaxed);
        Some(Arc::clone(entry))
    }

    /// Stores what the database answered and returns it as an entry.
    pub fn insert(
        &self,
        package_id: &str,
        version: &str,
        body: Option<Bytes>,
        etag: String,
        lifecycle: Lifecycle,
    ) -> Arc<CachedDownload> {
        let entry = Arc::new(CachedDownload {
            body,
            etag,
            lifecycle,
            fetched: Instant::now(),
            last_used: AtomicU64::new(self.now_tick()),
        });
        let size = entry.size();
        if self.max_bytes == 0 || size > self.max_bytes / 4 {
            return entry;
        }
        if let Ok(mut entries) = self.entries.write() {
            if let Some(old) = entries.insert(
                (package_id.to_owned(), version.to_owned()),
                Arc::clone(&entry),
            ) {
                self.bytes.fetch_sub(old.size(), Ordering::Relaxed);
            }
            let total = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
            if total > self.max_bytes {
                self.shrink(&mut entries);
            }
        }
        entry
    }

    /// Drops the least recently used entries until at most three quarters of the budget is used.
    fn shrink(&self, entries: &mut HashMap<(String, String), Arc<CachedDownload>>) {
        let mut by_age: Vec<((String, String), u64)> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.last_used.load(Ordering::Relaxed)))
            .collect();
        by_age.sort_by_key(|(_, used)| *used);
        let target = self.max_bytes / 4 * 3;
        for (key, _) in by_age {
            if self.bytes.load(Ordering::Relaxed) <= target {
                break;
            }
            if let Some(old) = entries.remove(&key) {
                self.bytes.fetch_sub(old.size(), Ordering::Relaxed);
            }
        }
    }

    /// Forgets `id@version` (its lifecycle changed).
    pub fn evict(&self, package_id: &str, version: &str) {
        if let Ok(mut entries) = self.entries.write() {
            if let Some(old) = entries.remove(&(package_id.to_owned(), version.to_owned())) {
                self.bytes.fetch_sub(old.size(), Ordering::Relaxed);
            }
        }
    }

    /// Forgets everything (lifecycle notifications may have been missed).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(status: &str) -> Lifecycle {
        Lifecycle {
            status: status.to_owned(),
            reason: String::new(),
            replacement: None,
            updated_at: String::new(),
            updated_by: String::new(),
        }
    }

    #[test]
    fn entries_expire_and_evict() {
        let cache = DownloadCache::new(Duration::from_millis(50), 1 << 20);
        cache.insert(
            "a",
            "1.0.0",
            Some(Bytes::from_static(b"{}")),
            "e".into(),
            lifecycle("active"),
        );
        assert!(cache.get("a", "1.0.0").is_some());
        cache.evict("a", "1.0.0");
        assert!(cache.get("a", "1.0.0").is_none());
        cache.insert("a", "1.0.0", None, "e".into(), lifecycle("takedown"));
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            cache.get("a", "1.0.0").is_none(),
            "stale entries are not served"
        );
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let cache = DownloadCache::new(Duration::from_secs(60), 64 * 1024);
        let body = Bytes::from(vec![b'x'; 8 * 1024]);
        for i in 0..100 {
            cache.insert(
                &format!("p{i}"),
                "1.0.0",
                Some(body.clone()),
                "e".into(),
                lifecycle("active"),
            );
        }
        assert!(cache.bytes.load(Ordering::Relaxed) <= 64 * 1024);
        assert!(
            cache.get("p99", "1.0.0").is_some(),
            "the newest entry stays"
        );
    }
}
