//! A micro-cache in front of publication listing and search (`GET publications` and the browse
//! UI's package list), so a busy listing costs one query per page per TTL, not one per request.
//!
//! Rules:
//! - An entry is a page for one normalized query (lower-cased `q`, `limit`, `offset`), trusted
//!   for a short `ttl` measured from when its query started. The TTL is what bounds the
//!   staleness of the download-count ordering, which changes without any write here.
//! - Every change that alters listings (publish, import, lifecycle and takedown, publisher
//!   status or profile, transfers) bumps a generation that invalidates every entry at once. This
//!   replica bumps it itself before the write's response leaves (so a client reads its own
//!   writes; see `app::invalidate_listings_after_writes`); other replicas bump it when the
//!   change's `NOTIFY registry_lifecycle` arrives ([`crate::invalidation`]'s listener), and
//!   drop everything whenever that listener reconnects, since it may have missed some.
//! - Single flight: concurrent misses on one key run one query on its own task and all await
//!   it. A failed query is never kept: its waiters get the error (a 503), and the next request
//!   asks the database again.
//! - At most `max_entries` pages; a full cache first forgets expired entries, then everything.
//!
//! - In front of it all, the in-memory [`Catalogue`] answers every page while it is current
//!   (same generation); the cache serves what the database answers meanwhile.
//!
//! A `ttl` of zero turns caching off, the catalogue included: every request queries the
//! database.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use crate::catalogue::Catalogue;
use crate::store::{ListQuery, PublicationPage, Store, StoreError};

/// Pages kept at most. A page of 100 items takes roughly 100 to 200 kB, so this bounds the
/// cache to a few tens of MB, beside the download cache, inside the deployment's memory limit;
/// the pages worth keeping (first pages, popular searches) are far fewer.
pub const DEFAULT_MAX_ENTRIES: usize = 256;

/// A cached page: shared by every request that reads it.
pub type CachedPage = Arc<PublicationPage>;

type PageResult = Result<CachedPage, Arc<StoreError>>;
type Load = Shared<BoxFuture<'static, PageResult>>;

/// What a cached page is looked up by: the query as the store runs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    q: Option<String>,
    limit: i64,
    offset: i64,
}

impl Key {
    /// Lower-cases `q` and treats an empty one as no search, as the store does.
    fn new(query: &ListQuery) -> Self {
        Key {
            q: query
                .q
                .as_deref()
                .map(str::to_lowercase)
                .filter(|q| !q.is_empty()),
            limit: query.limit,
            offset: query.offset,
        }
    }

    fn query(&self) -> ListQuery {
        ListQuery {
            q: self.q.clone(),
            limit: self.limit,
            offset: self.offset,
        }
    }
}

struct Entry {
    generation: u64,
    started: Instant,
    load: Load,
}

impl Entry {
    /// Whether a request may use this entry now: the current generation, and either still
    /// loading (joining it is the freshest answer there is) or loaded successfully within the
    /// TTL.
    fn usable(&self, generation: u64, ttl: Duration) -> bool {
        self.generation == generation
            && match self.load.peek() {
                None => true,
                Some(Ok(_)) => self.started.elapsed() < ttl,
                Some(Err(_)) => false,
            }
    }
}

/// The cache; cheap to share (`Arc`).
pub struct ListingCache {
    ttl: Duration,
    max_entries: usize,
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
    catalogue: Arc<Catalogue>,
}

impl std::fmt::Debug for ListingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListingCache")
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .field("generation", &self.generation())
            .field("entries", &self.len())
            .finish()
    }
}

impl ListingCache {
    /// A cache trusting pages for `ttl` (zero turns caching off) and holding at most
    /// `max_entries` of them.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        ListingCache {
            ttl,
            max_entries: max_entries.max(1),
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            catalogue: Arc::new(Catalogue::default()),
        }
    }

    /// The in-memory catalogue consulted before any page ([`crate::catalogue`]); kept loaded by
    /// [`crate::catalogue::maintain`] when caching is on.
    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// Whether pages are cached at all.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The current generation: it grows by one at every [`ListingCache::invalidate`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Pages currently held (loading or loaded).
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.len())
    }

    /// Whether no page is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Something that changes listings happened: every page held so far is forgotten, and a
    /// query already running when this is called is never served to a later request.
    pub fn invalidate(&self) {
        // Bumped under the lock, so a lookup sees either the old map and old generation (and
        // its entry is then removed here) or the new generation.
        match self.entries.lock() {
            Ok(mut entries) => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                entries.clear();
            }
            Err(_) => {
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// The page for `query`: from the catalogue while it is current, otherwise through the
    /// cache, asking `store` on a miss.
    pub async fn page(&self, store: &Store, query: &ListQuery) -> Result<CachedPage, StoreError> {
        if let Some(page) = self
            .catalogue
            .page(&Key::new(query).query(), self.generation())
        {
            return Ok(Arc::new(page));
        }
        let store = store.clone();
        self.get_or_load(query, move |query| async move {
            store.list_publications_page(&query).await
        })
        .await
    }

    /// The page for `query`: a usable cached one, the result of the same query already running,
    /// or the result of `load` (run on its own task, so a client hanging up does not cancel it
    /// for the others waiting).
    pub async fn get_or_load<F, Fut>(
        &self,
        query: &ListQuery,
        load: F,
    ) -> Result<CachedPage, StoreError>
    where
        F: FnOnce(ListQuery) -> Fut,
        Fut: Future<Output = Result<PublicationPage, StoreError>> + Send + 'static,
    {
        let key = Key::new(query);
        if !self.enabled() {
            return load(key.query()).await.map(Arc::new);
        }
        let shared = {
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| StoreError::Task("listing cache lock poisoned".into()))?;
            let generation = self.generation();
            match entries.get(&key) {
                Some(entry) if entry.usable(generation, self.ttl) => entry.load.clone(),
                _ => {
                    let task = tokio::spawn(load(key.query()));
                    let shared: Load = async move {
                        match task.await {
                            Ok(Ok(page)) => Ok(Arc::new(page)),
                            Ok(Err(error)) => Err(Arc::new(error)),
                            Err(join) => Err(Arc::new(StoreError::Task(join.to_string()))),
                        }
                    }
                    .boxed()
                    .shared();
                    if entries.len() >= self.max_entries && !entries.contains_key(&key) {
                        entries.retain(|_, entry| entry.usable(generation, self.ttl));
                        if entries.len() >= self.max_entries {
                            entries.clear();
                        }
                    }
                    entries.insert(
                        key.clone(),
                        Entry {
                            generation,
                            started: Instant::now(),
                            load: shared.clone(),
                        },
                    );
                    shared
                }
            }
        };
        match shared.clone().await {
            Ok(page) => Ok(page),
            Err(error) => {
                // Never kept: the next request for this key queries again.
                if let Ok(mut entries) = self.entries.lock() {
                    if entries
                        .get(&key)
                        .is_some_and(|entry| entry.load.ptr_eq(&shared))
                    {
                        entries.remove(&key);
                    }
                }
                Err(shared_error(&error))
            }
        }
    }
}

/// The store error a waiter reports: the same failure, described (the original is shared by
/// every waiter of the query; either maps to a 503).
fn shared_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Corrupt(message) => StoreError::Corrupt(message.clone()),
        StoreError::Task(message) => StoreError::Task(message.clone()),
        StoreError::Database(error) => StoreError::Unavailable(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn page(total: i64) -> PublicationPage {
        PublicationPage {
            items: Vec::new(),
            total,
            total_exact: true,
        }
    }

    fn query(q: Option<&str>, offset: i64) -> ListQuery {
        ListQuery {
            q: q.map(str::to_owned),
            limit: 20,
            offset,
        }
    }

    /// Loads answering `total` = the number of loads so far, counting them in `calls`.
    async fn counted(
        cache: &ListingCache,
        calls: &Arc<AtomicUsize>,
        query: &ListQuery,
    ) -> Result<CachedPage, StoreError> {
        let calls = Arc::clone(calls);
        cache
            .get_or_load(query, move |_| async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(page(i64::try_from(n).unwrap()))
            })
            .await
    }

    /// The total of the page [`counted`] answers (each load returns the number of loads so far).
    async fn total(cache: &ListingCache, calls: &Arc<AtomicUsize>, query: &ListQuery) -> i64 {
        counted(cache, calls, query).await.unwrap().total
    }

    #[tokio::test]
    async fn a_page_is_reused_within_the_ttl_for_the_normalized_query() {
        let cache = ListingCache::new(Duration::from_secs(60), 16);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(total(&cache, &calls, &query(Some("Pkg"), 0)).await, 1);
        assert_eq!(
            total(&cache, &calls, &query(Some("pkg"), 0)).await,
            1,
            "q is compared lower-cased"
        );
        assert_eq!(
            total(&cache, &calls, &query(Some("pkg"), 20)).await,
            2,
            "another offset is another page"
        );
        assert_eq!(total(&cache, &calls, &query(Some(""), 0)).await, 3);
        assert_eq!(
            total(&cache, &calls, &query(None, 0)).await,
            3,
            "an empty q is no search"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_generation_bump_forgets_every_page() {
        let cache = ListingCache::new(Duration::from_secs(60), 16);
        let calls = Arc::new(AtomicUsize::new(0));
        counted(&cache, &calls, &query(None, 0)).await.unwrap();
        counted(&cache, &calls, &query(Some("a"), 0)).await.unwrap();
        let before = cache.generation();
        cache.invalidate();
        assert_eq!(cache.generation(), before + 1);
        assert!(cache.is_empty());
        assert_eq!(total(&cache, &calls, &query(None, 0)).await, 3);
        assert_eq!(total(&cache, &calls, &query(Some("a"), 0)).await, 4);
    }

    #[tokio::test]
    async fn a_query_running_across_a_bump_is_not_served_afterwards() {
        let cache = Arc::new(ListingCache::new(Duration::from_secs(60), 16));
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_load(&query(None, 0), move |_| async move {
                        let _ = wait.await;
                        Ok(page(1))
                    })
                    .await
            })
        };
        while cache.is_empty() {
            tokio::task::yield_now().await;
        }
        cache.invalidate();
        release.send(()).unwrap();
        assert_eq!(slow.await.unwrap().unwrap().total, 1);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            total(&cache, &calls, &query(None, 0)).await,
            1,
            "the page read before the bump was not kept"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn pages_expire_after_the_ttl() {
        let cache = ListingCache::new(Duration::from_millis(30), 16);
        let calls = Arc::new(AtomicUsize::new(0));
        counted(&cache, &calls, &query(None, 0)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(total(&cache, &calls, &query(None, 0)).await, 2);
    }

    #[tokio::test]
    async fn a_zero_ttl_queries_every_time() {
        let cache = ListingCache::new(Duration::ZERO, 16);
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            counted(&cache, &calls, &query(None, 0)).await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(cache.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_run_one_query() {
        let cache = Arc::new(ListingCache::new(Duration::from_secs(60), 16));
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut waiters = Vec::new();
        for _ in 0..16 {
            let (cache, calls, mut wait) = (Arc::clone(&cache), Arc::clone(&calls), wait.clone());
            waiters.push(tokio::spawn(async move {
                cache
                    .get_or_load(&query(Some("x"), 0), move |_| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = wait.wait_for(|released| *released).await;
                        Ok(page(7))
                    })
                    .await
            }));
        }
        // Release the query only once all 16 requests are parked on it (each holds two handles
        // of the one running query, the map a third), so none of them was served from memory.
        let key = Key::new(&query(Some("x"), 0));
        loop {
            let handles = cache
                .entries
                .lock()
                .unwrap()
                .get(&key)
                .and_then(|entry| entry.load.strong_count());
            if handles == Some(1 + 2 * 16) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(true).unwrap();
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap().unwrap().total, 7);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_reach_every_waiter_and_are_never_kept() {
        let cache = Arc::new(ListingCache::new(Duration::from_secs(60), 16));
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let failing = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_load(&query(None, 0), move |_| async move {
                        let _ = wait.await;
                        Err(StoreError::Unavailable("connection refused".into()))
                    })
                    .await
            })
        };
        while cache.is_empty() {
            tokio::task::yield_now().await;
        }
        // A second request for the same page joins the failing query.
        let joined = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_load(&query(None, 0), |_| async { Ok::<_, StoreError>(page(99)) })
                    .await
            })
        };
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        assert!(matches!(
            failing.await.unwrap(),
            Err(StoreError::Unavailable(_))
        ));
        let joined = joined.await.unwrap();
        // Either it joined (the same error) or it came after the failure was dropped (a fresh
        // query); never a cached failure or an empty page.
        match joined {
            Err(StoreError::Unavailable(message)) => assert!(message.contains("refused")),
            Ok(page) => assert_eq!(page.total, 99),
            Err(other) => panic!("unexpected {other}"),
        }
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            total(&cache, &calls, &query(None, 0)).await,
            1,
            "the failure was not kept"
        );
    }

    #[tokio::test]
    async fn the_entry_count_is_bounded() {
        let cache = ListingCache::new(Duration::from_secs(60), 8);
        let calls = Arc::new(AtomicUsize::new(0));
        for offset in 0..100 {
            counted(&cache, &calls, &query(None, offset)).await.unwrap();
            assert!(cache.len() <= 8);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 100);
        // The newest page survives the clear that made room for it.
        counted(&cache, &calls, &query(None, 99)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 100);
    }
}
