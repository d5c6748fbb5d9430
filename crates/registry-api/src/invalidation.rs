//! How writes reach every replica's in-memory caches ([`DownloadCache`] and [`ListingCache`]).
//!
//! A write that changes what the caches hold sends `NOTIFY registry_lifecycle` in its
//! transaction ([`LIFECYCLE_CHANNEL`]): payload `id@version` for a lifecycle change (yank,
//! deprecate, takedown), [`LISTINGS_CHANGED`] for a change that alters listings but no
//! download (a publish, a publisher's status or profile, a transfer). One `LISTEN` session per
//! process ([`listen_for_lifecycle_changes`]) applies every notification to both caches: the
//! download cache evicts the version a lifecycle change names, and the listing cache drops its
//! pages on any notification. A lost session drops both caches, since notifications sent
//! meanwhile were lost; their TTLs bound staleness while it reconnects.

use std::sync::Arc;
use std::time::Duration;

use crate::download_cache::DownloadCache;
use crate::listing_cache::ListingCache;

/// The Postgres channel lifecycle changes are announced on (payload `id@version`), and other
/// changes to listings (payload [`LISTINGS_CHANGED`]).
pub const LIFECYCLE_CHANNEL: &str = "registry_lifecycle";

/// The payload on [`LIFECYCLE_CHANNEL`] of a change that alters listings but no download (a
/// publish, a publisher's status or profile, a transfer).
pub const LISTINGS_CHANGED: &str = "listings";

/// What a notification on [`LIFECYCLE_CHANNEL`] says changed. Every kind alters listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// [`LISTINGS_CHANGED`]: listings changed, no download did.
    Listings,
    /// `id@version`: this version's lifecycle changed.
    Lifecycle {
        /// The package id.
        package_id: &'a str,
        /// The package version.
        version: &'a str,
    },
    /// A payload of no known form: anything may have changed.
    Unknown,
}

impl<'a> Change<'a> {
    /// Reads a notification payload.
    pub fn parse(payload: &'a str) -> Self {
        if payload == LISTINGS_CHANGED {
            return Change::Listings;
        }
        match payload.rsplit_once('@') {
            Some((package_id, version)) => Change::Lifecycle {
                package_id,
                version,
            },
            None => Change::Unknown,
        }
    }
}

/// The payload announcing a lifecycle change of `package_id`@`version`, as
/// [`Change::parse`] reads it.
pub fn lifecycle_payload(package_id: &str, version: &str) -> String {
    format!("{package_id}@{version}")
}

/// Applies one notification payload to this replica's caches.
fn apply(payload: &str, downloads: &DownloadCache, listings: &ListingCache) {
    match Change::parse(payload) {
        Change::Listings => {}
        Change::Lifecycle {
            package_id,
            version,
        } => downloads.evict(package_id, version),
        Change::Unknown => downloads.clear(),
    }
    listings.invalidate();
}

/// Keeps a `LISTEN registry_lifecycle` session open and evicts what other replicas change: the
/// downloads a lifecycle change concerns, and every listing page on any notification.
///
/// Runs until the process ends; reconnects with a backoff, clearing both caches after every
/// reconnect because notifications sent meanwhile were lost.
pub async fn listen_for_lifecycle_changes(
    database_url: String,
    downloads: Arc<DownloadCache>,
    listings: Arc<ListingCache>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match store::listen(&database_url, LIFECYCLE_CHANNEL).await {
            Ok(mut notifications) => {
                downloads.clear();
                listings.invalidate();
                backoff = Duration::from_millis(200);
                while let Some(payload) = notifications.recv().await {
                    apply(&payload, &downloads, &listings);
                }
                tracing::warn!(
                    event = "registry_lifecycle_listener_lost",
                    "lifecycle notifications interrupted; reconnecting"
                );
            }
            Err(_) => {
                tracing::warn!(
                    event = "registry_lifecycle_listener_unavailable",
                    "cannot listen for lifecycle changes; cached downloads and listings expire by TTL"
                );
            }
        }
        downloads.clear();
        listings.invalidate();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use actix_web::web::Bytes;

    use super::*;
    use crate::model::Lifecycle;

    #[test]
    fn payloads_parse_into_changes() {
        assert_eq!(Change::parse(LISTINGS_CHANGED), Change::Listings);
        assert_eq!(
            Change::parse(&lifecycle_payload("acme/tools", "1.0.0")),
            Change::Lifecycle {
                package_id: "acme/tools",
                version: "1.0.0"
            }
        );
        assert_eq!(
            Change::parse("acme.flights@1.0.0"),
            Change::Lifecycle {
                package_id: "acme.flights",
                version: "1.0.0"
            }
        );
        assert_eq!(
            Change::parse("a@b@2.0.0"),
            Change::Lifecycle {
                package_id: "a@b",
                version: "2.0.0"
            },
            "the version follows the last @"
        );
        assert_eq!(Change::parse("something else"), Change::Unknown);
    }

    #[test]
    fn a_notification_reaches_both_caches() {
        let downloads = DownloadCache::new(Duration::from_secs(60), 1 << 20);
        let listings = ListingCache::new(Duration::from_secs(60), 16);
        let cached = |id: &str| {
            downloads.insert(
                id,
                "1.0.0",
                Some(Bytes::from_static(b"{}")),
                "e".into(),
                Lifecycle {
                    status: "active".into(),
                    reason: String::new(),
                    replacement: None,
                    updated_at: String::new(),
                    updated_by: String::new(),
                },
            );
        };
        cached("a");
        cached("b");

        let generation = listings.generation();
        apply(LISTINGS_CHANGED, &downloads, &listings);
        assert_eq!(listings.generation(), generation + 1);
        assert!(downloads.get("a", "1.0.0").is_some(), "no download changed");

        apply("a@1.0.0", &downloads, &listings);
        assert_eq!(listings.generation(), generation + 2);
        assert!(downloads.get("a", "1.0.0").is_none());
        assert!(
            downloads.get("b", "1.0.0").is_some(),
            "only a@1.0.0 is evicted"
        );

        apply("unexpected", &downloads, &listings);
        assert_eq!(listings.generation(), generation + 3);
        assert!(
            downloads.get("b", "1.0.0").is_none(),
            "an unknown payload clears everything"
        );
    }
}
