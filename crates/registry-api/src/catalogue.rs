//! The catalogue: every listed version held in memory, in the listing order, with the indexes a
//! search needs, so that `GET publications` and the browse UI's list answer without a query,
//! whatever the page, the search or the size of the catalogue.
//!
//! Rules:
//! - A [`Snapshot`] is built from [`Store::catalogue_rows`], which returns the rows in the
//!   database's own listing order: the position of a row is its rank, so the catalogue orders
//!   exactly as the database does (collation included). [`Snapshot::page`] answers exactly what
//!   [`Store::list_publications_page`] answers for the same rows (tests/catalogue.rs checks the
//!   two against each other on a real Postgres).
//! - A snapshot is served only while it is current: it was loaded at the listing generation
//!   that is current now (no write that alters listings has happened since its query started,
//!   on this replica or, through `NOTIFY`, on another), the database answered within
//!   [`CONFIRM_WINDOW`] (so a database outage is soon a 503, not an old list), and it is younger
//!   than [`MAX_AGE`]. Otherwise the request goes to the database, through the listing cache.
//! - [`maintain`] reloads the snapshot when the generation moves (at most once per
//!   [`MIN_SPACING`]). Every [`REFRESH`] it compares the snapshot's download counts with the
//!   database's (their sum: counts only grow) and reloads when they differ, which bounds how
//!   stale the counts and their ordering are in lists. The record and the detail page always
//!   read the database.
//! - Memory: about 2 KB per listed version (the summary, its search text and its index
//!   entries; measured: 207 MB of resident memory with 100,000), twice that while a reload
//!   builds the next snapshot beside the current one. A catalogue above
//!   `ANIP_REGISTRY_CATALOGUE_MAX_VERSIONS` is not loaded, and every list queries the database
//!   as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::model::PublicationSummary;
use crate::store::{CatalogueRow, ListQuery, PublicationPage, Store, SEARCH_COUNT_CAP};

/// How often the snapshot's download counts are compared with the database's (and the snapshot
/// reloaded when they moved): the bound on how stale the counts, and the order they give, are in
/// a list. A load of 100,000 versions takes about a second of one core, so this keeps reloads
/// to a few percent of one.
pub const REFRESH: Duration = Duration::from_secs(60);

/// Loads are at least this far apart: a burst of writes costs one reload, and lists go to the
/// database meanwhile.
pub const MIN_SPACING: Duration = Duration::from_secs(1);

/// A snapshot is served only if the database answered a ping started at most this long ago.
/// Pings go out every [`TICK`]; under full load a ping's answer can take several hundred
/// milliseconds to be read (its connection's I/O shares a busy worker), so the window leaves
/// room for that and still ends lists from memory within seconds of an outage.
pub const CONFIRM_WINDOW: Duration = Duration::from_secs(5);

/// A snapshot older than this is never served (reloads have been failing).
pub const MAX_AGE: Duration = Duration::from_secs(180);

/// How often [`maintain`] looks at the generation, and its pinger pings the database.
const TICK: Duration = Duration::from_millis(250);

/// The current snapshot, if any, and when the database last answered; cheap to share (`Arc`).
#[derive(Debug)]
pub struct Catalogue {
    current: RwLock<Option<Arc<Snapshot>>>,
    /// The start of the last ping the database answered.
    confirmed: Moment,
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue {
            current: RwLock::new(None),
            confirmed: Moment::new(Instant::now()),
        }
    }
}

impl Catalogue {
    /// The page for `query` from the snapshot, if it is current at `generation` (see the module
    /// rules); `None` sends the request to the database.
    pub fn page(&self, query: &ListQuery, generation: u64) -> Option<PublicationPage> {
        let snapshot = self.current()?;
        let miss = if snapshot.generation != generation {
            Some("stale")
        } else if self.confirmed.get().elapsed() >= CONFIRM_WINDOW {
            Some("unconfirmed")
        } else if snapshot.verified().elapsed() >= MAX_AGE {
            Some("expired")
        } else {
            None
        };
        if let Some(reason) = miss {
            metrics::counter!("anip_registry_catalogue_misses_total", "reason" => reason)
                .increment(1);
            return None;
        }
        metrics::counter!("anip_registry_catalogue_pages_total").increment(1);
        Some(snapshot.page(query))
    }

    /// The snapshot held, current or not.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|current| current.clone())
    }

    /// Replaces the snapshot; its load counts as the database's latest answer.
    pub fn install(&self, snapshot: Snapshot) {
        self.confirm(snapshot.started);
        metrics::gauge!("anip_registry_catalogue_versions").set(snapshot.entries.len() as f64);
        let previous = match self.current.write() {
            Ok(mut current) => current.replace(Arc::new(snapshot)),
            Err(_) => None,
        };
        // Freeing a large snapshot takes a while: never under the lock every list reads,
        // and not on the async worker either.
        if let Some(previous) = previous {
            tokio::task::spawn_blocking(move || drop(previous));
        }
    }

    /// Forgets the snapshot (the catalogue outgrew its limit).
    pub fn clear(&self) {
        metrics::gauge!("anip_registry_catalogue_versions").set(0.0);
        if let Ok(mut current) = self.current.write() {
            *current = None;
        }
    }

    /// The database answered a ping started at `at`.
    pub fn confirm(&self, at: Instant) {
        self.confirmed.advance_to(at);
    }
}

/// Keeps `listings`' catalogue current for its generation, holding at most `max_versions`:
/// reloads it when the generation moves and checks it every [`REFRESH`], while a task of its
/// own pings the database (a load can take longer than a tick). Runs until the process ends.
pub async fn maintain(
    listings: Arc<crate::listing_cache::ListingCache>,
    store: Store,
    max_versions: i64,
) {
    let catalogue = Arc::clone(listings.catalogue());
    tokio::spawn(confirm(Arc::clone(&catalogue), store.clone()));
    let mut last_load: Option<Instant> = None;
    let mut failing = false;
    loop {
        let generation = listings.generation();
        let snapshot = catalogue.current();
        let due = match &snapshot {
            None => true,
            Some(snapshot) => snapshot.generation != generation,
        };
        let spaced = last_load.is_none_or(|at| at.elapsed() >= MIN_SPACING);
        let outcome = if due && spaced {
            last_load = Some(Instant::now());
            Some(reload(&catalogue, &store, generation, max_versions).await)
        } else {
            match snapshot.filter(|s| s.verified().elapsed() >= REFRESH) {
                Some(snapshot) => {
                    Some(recheck(&catalogue, &store, &snapshot, generation, max_versions).await)
                }
                None => None,
            }
        };
        if let Some(loaded) = outcome {
            match loaded {
                Ok(()) => failing = false,
                // Logged once per outage, not at every attempt.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(
                        event = "registry_catalogue_load_failed",
                        error = %error,
                        "catalogue not loaded; lists query the database"
                    );
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Pings the database every [`TICK`], confirming the catalogue at each answer.
async fn confirm(catalogue: Arc<Catalogue>, store: Store) {
    loop {
        let started = Instant::now();
        if let Ok(Ok(())) = tokio::time::timeout(CONFIRM_WINDOW, store.ping()).await {
            catalogue.confirm(started);
        }
        tokio::time::sleep(TICK).await;
    }
}

/// The periodic check: the snapshot stays if the database's listed versions and download
/// counts are still its own, otherwise it is reloaded.
async fn recheck(
    catalogue: &Catalogue,
    store: &Store,
    snapshot: &Snapshot,
    generation: u64,
    max_versions: i64,
) -> Result<(), crate::store::StoreError> {
    let started = Instant::now();
    if store.catalogue_fingerprint().await? == snapshot.fingerprint() {
        snapshot.verified_at(started);
        return Ok(());
    }
    reload(catalogue, store, generation, max_versions).await
}

/// One load: the rows, then the indexes built off the async workers.
async fn reload(
    catalogue: &Catalogue,
    store: &Store,
    generation: u64,
    max_versions: i64,
) -> Result<(), crate::store::StoreError> {
    let started = Instant::now();
    if store.listed_count().await? > max_versions {
        catalogue.clear();
        return Ok(());
    }
    let rows = store.catalogue_rows().await?;
    let rows_ms = started.elapsed().as_millis() as u64;
    let snapshot = tokio::task::spawn_blocking(move || Snapshot::build(generation, started, rows))
        .await
        .map_err(|join| crate::store::StoreError::Task(join.to_string()))?;
    let seconds = started.elapsed().as_secs_f64();
    metrics::gauge!("anip_registry_catalogue_load_seconds").set(seconds);
    tracing::debug!(
        event = "registry_catalogue_loaded",
        versions = snapshot.entries.len(),
        ms = (seconds * 1000.0) as u64,
        rows_ms,
        "catalogue loaded"
    );
    catalogue.install(snapshot);
    Ok(())
}

/// Every listed version at one listing generation, in the listing order, indexed for search.
#[derive(Debug)]
pub struct Snapshot {
    generation: u64,
    /// When the query that loaded it started.
    started: Instant,
    /// Its load, or the start of the last check that found the database unchanged
    /// ([`recheck`]).
    verified: Moment,
    /// The sum of the download counts it holds.
    downloads: i64,
    entries: Vec<Entry>,
    /// Byte trigram of a search text (packed in the low 24 bits) → positions holding it, in
    /// order.
    trigrams: HashMap<u32, Vec<u32>>,
    /// The first one and the first two bytes of a lower-cased id (length in the top byte) →
    /// positions, in order.
    prefixes: HashMap<u32, Vec<u32>>,
    /// Lower-cased id → positions, in order.
    exact: HashMap<Box<str>, Vec<u32>>,
}

#[derive(Debug)]
struct Entry {
    summary: PublicationSummary,
    search_text: Box<str>,
    lower_id: Box<str>,
}

impl Snapshot {
    /// Indexes `rows`, which are in the listing order, loaded at `generation` by a query that
    /// began at `started`.
    pub fn build(generation: u64, started: Instant, rows: Vec<CatalogueRow>) -> Self {
        let mut snapshot = Snapshot {
            generation,
            started,
            verified: Moment::new(started),
            downloads: rows.iter().map(|row| row.summary.download_count).sum(),
            entries: Vec::with_capacity(rows.len()),
            trigrams: HashMap::new(),
            prefixes: HashMap::new(),
            exact: HashMap::new(),
        };
        for (position, row) in rows.into_iter().enumerate() {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            let lower_id = row.summary.package_id.to_lowercase();
            for trigram in row.search_text.as_bytes().windows(3) {
                push_once(
                    snapshot.trigrams.entry(pack(trigram)).or_default(),
                    position,
                );
            }
            for len in 1..=lower_id.len().min(2) {
                let key = prefix_key(&lower_id.as_bytes()[..len]);
                push_once(snapshot.prefixes.entry(key).or_default(), position);
            }
            snapshot
                .exact
                .entry(lower_id.as_str().into())
                .or_default()
                .push(position);
            snapshot.entries.push(Entry {
                summary: row.summary,
                search_text: row.search_text.into(),
                lower_id: lower_id.into(),
            });
        }
        snapshot
    }

    /// When the snapshot was last known to match the database: its load, or its last check.
    fn verified(&self) -> Instant {
        self.verified.get()
    }

    /// The database was found unchanged by a check started at `at`.
    fn verified_at(&self, at: Instant) {
        self.verified.advance_to(at);
    }

    /// Listed versions and the sum of their download counts, as
    /// [`Store::catalogue_fingerprint`] counts them in the database.
    pub fn fingerprint(&self) -> (i64, i64) {
        (self.entries.len() as i64, self.downloads)
    }

    /// Listed versions held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no version is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The page for `query`, as [`Store::list_publications_page`] answers it: without a search,
    /// the slice of the listing; with one (lower-cased, as the route passes it), exact id
    /// matches first, then the other matches, each in the listing order, counted up to
    /// [`SEARCH_COUNT_CAP`]. Queries of three characters or more match the search text as a
    /// substring; shorter ones match id prefixes.
    pub fn page(&self, query: &ListQuery) -> PublicationPage {
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(0);
        match query.q.as_deref().filter(|q| !q.is_empty()) {
            None => PublicationPage {
                items: self
                    .entries
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|entry| entry.summary.clone())
                    .collect(),
                total: self.entries.len() as i64,
                total_exact: true,
            },
            Some(q) => self.search(q, offset, limit),
        }
    }

    fn search(&self, q: &str, offset: usize, limit: usize) -> PublicationPage {
        let cap = usize::try_from(SEARCH_COUNT_CAP).unwrap_or(usize::MAX);
        let end = offset.saturating_add(limit);
        let mut count = 0usize;
        let mut page = Vec::with_capacity(limit.min(128));
        let mut take = |position: u32, count: &mut usize| {
            if *count >= offset && *count < end {
                page.push(position);
            }
            *count += 1;
        };
        for &position in self.exact.get(q).map_or(&[][..], Vec::as_slice) {
            take(position, &mut count);
        }
        let by_prefix = q.chars().count() < 3;
        for &position in self.candidates(q, by_prefix) {
            if count > cap && count >= end {
                break;
            }
            let entry = &self.entries[position as usize];
            let matches = if by_prefix {
                entry.lower_id.starts_with(q)
            } else {
                entry.search_text.contains(q)
            };
            if matches && &*entry.lower_id != q {
                take(position, &mut count);
            }
        }
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        PublicationPage {
            items: page
                .into_iter()
                .map(|position| self.entries[position as usize].summary.clone())
                .collect(),
            total: count.min(SEARCH_COUNT_CAP),
            total_exact: count <= SEARCH_COUNT_CAP,
        }
    }

    /// Positions that may match `q`, in order: every match is among them. For a substring
    /// search, the shortest posting list of `q`'s trigrams (none when one is absent anywhere);
    /// for a prefix search, the ids starting with `q`'s first one or two bytes.
    fn candidates(&self, q: &str, by_prefix: bool) -> &[u32] {
        let bytes = q.as_bytes();
        let list = if by_prefix {
            self.prefixes.get(&prefix_key(&bytes[..bytes.len().min(2)]))
        } else {
            let mut shortest: Option<&Vec<u32>> = None;
            for trigram in bytes.windows(3) {
                match self.trigrams.get(&pack(trigram)) {
                    None => return &[],
                    Some(list) if shortest.is_none_or(|s| list.len() < s.len()) => {
                        shortest = Some(list)
                    }
                    Some(_) => {}
                }
            }
            shortest
        };
        list.map_or(&[][..], Vec::as_slice)
    }
}

/// An instant that only moves forward, shared without a lock: milliseconds past a base.
#[derive(Debug)]
struct Moment {
    base: Instant,
    ms: AtomicU64,
}

impl Moment {
    fn new(base: Instant) -> Self {
        Moment {
            base,
            ms: AtomicU64::new(0),
        }
    }

    fn get(&self) -> Instant {
        self.base + Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }

    /// Moves to `at`, unless it is already later.
    fn advance_to(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.base).as_millis();
        self.ms
            .fetch_max(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::SeqCst);
    }
}

/// Appends `position` unless it is already the last one (a text repeating a trigram).
fn push_once(list: &mut Vec<u32>, position: u32) {
    if list.last() != Some(&position) {
        list.push(position);
    }
}

fn pack(trigram: &[u8]) -> u32 {
    u32::from(trigram[0]) << 16 | u32::from(trigram[1]) << 8 | u32::from(trigram[2])
}

/// A one- or two-byte prefix, with its length in the top byte.
fn prefix_key(prefix: &[u8]) -> u32 {
    let mut key = (prefix.len() as u32) << 24;
    for (i, byte) in prefix.iter().enumerate() {
        key |= u32::from(*byte) << (8 * (1 - i));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Lifecycle;

    fn row(id: &str, search: &str) -> CatalogueRow {
        CatalogueRow {
            summary: PublicationSummary {
                package_id: id.to_owned(),
                package_version: "1.0.0".to_owned(),
                project_ref: String::new(),
                product_revision_ref: String::new(),
                developer_revision_ref: String::new(),
                contract_signature: String::new(),
                publisher_id: String::new(),
                publisher_type: String::new(),
                publisher: None,
                lineage: None,
                published_at: String::new(),
                download_count: 0,
                lifecycle: Lifecycle::active(),
            },
            search_text: search.to_owned(),
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::build(
            0,
            Instant::now(),
            vec![
                row("alpha", "alpha first tool"),
                row("beta", "beta tool alpha-like"),
                row("Alpha", "alpha upper"),
                row("gamma", "gamma"),
            ],
        )
    }

    fn ids(page: &PublicationPage) -> Vec<&str> {
        page.items.iter().map(|s| s.package_id.as_str()).collect()
    }

    fn search(q: &str, limit: i64, offset: i64) -> PublicationPage {
        snapshot().page(&ListQuery {
            q: Some(q.to_owned()),
            limit,
            offset,
        })
    }

    #[test]
    fn a_list_is_a_slice_of_the_listing_order() {
        let page = snapshot().page(&ListQuery {
            q: None,
            limit: 2,
            offset: 1,
        });
        assert_eq!(ids(&page), ["beta", "Alpha"]);
        assert_eq!((page.total, page.total_exact), (4, true));
    }

    #[test]
    fn exact_id_matches_come_first_then_the_listing_order() {
        let page = search("alpha", 10, 0);
        assert_eq!(ids(&page), ["alpha", "Alpha", "beta"]);
        assert_eq!(page.total, 3);
        assert_eq!(ids(&search("alpha", 1, 2)), ["beta"]);
    }

    #[test]
    fn short_queries_match_id_prefixes_only() {
        assert_eq!(ids(&search("al", 10, 0)), ["alpha", "Alpha"]);
        assert_eq!(ids(&search("t", 10, 0)), Vec::<&str>::new());
        assert_eq!(ids(&search("g", 10, 0)), ["gamma"]);
    }

    #[test]
    fn a_trigram_absent_everywhere_matches_nothing() {
        let page = search("tool zeta", 10, 0);
        assert!(page.items.is_empty());
        assert_eq!((page.total, page.total_exact), (0, true));
    }

    #[test]
    fn counts_stop_at_the_cap() {
        let rows = (0..1500)
            .map(|i| row(&format!("pkg-{i}"), &format!("pkg-{i} package")))
            .collect();
        let snapshot = Snapshot::build(0, Instant::now(), rows);
        let page = snapshot.page(&ListQuery {
            q: Some("package".into()),
            limit: 5,
            offset: 1200,
        });
        assert_eq!(
            ids(&page),
            ["pkg-1200", "pkg-1201", "pkg-1202", "pkg-1203", "pkg-1204"]
        );
        assert_eq!((page.total, page.total_exact), (SEARCH_COUNT_CAP, false));
    }
}
