//! Packages, lineages, receipts, lifecycle and download counts.

use std::borrow::Cow;

use serde_json::{json, Value};
use tokio_postgres::types::{Json, ToSql, Type};

use super::{audit, lifecycle_at, like_escape, Actor, Store, StoreError, LIFECYCLE_COLUMNS};
use crate::model::{Lifecycle, PublicationSummary, PublisherSummary, Receipt};
use crate::record::{PackageRecord, Rendered};

/// A package version to insert, with everything committed alongside it.
#[derive(Debug, Clone)]
pub struct NewPackage {
    pub record: PackageRecord,
    pub rendered: Rendered,
    pub receipt: Receipt,
    pub payload_version: signing::PayloadVersion,
    /// `published` or `imported`.
    pub origin: &'static str,
    /// The namespace that grants the ownership claim, if the id is unowned and one does.
    pub claim_namespace: Option<String>,
    /// Create the publisher row if it does not exist (imports of foreign publishers).
    pub ensure_publisher: bool,
    /// A public key to advertise because it verified an imported receipt.
    pub imported_key: Option<(String, String)>,
    pub actor: Actor,
}

/// What inserting a package did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Committed.
    Inserted,
    /// This id and version already exist (nothing changed).
    VersionExists,
    /// The package id belongs to another publisher, or its ownership is not active.
    NotOwner { owner: String, status: String },
    /// An imported key id is already recorded with a different key.
    ImportedKeyConflict { key_id: String },
}

/// The download query's answer.
#[derive(Debug, Clone)]
pub struct DownloadRow {
    /// `None` when the client's ETag already matches, or the lifecycle blocks the download.
    pub body: Option<Vec<u8>>,
    pub etag: String,
    pub lifecycle: Lifecycle,
}

/// The record query's answer.
#[derive(Debug, Clone)]
pub struct RecordRow {
    pub body: Vec<u8>,
    pub etag: String,
    pub download_count: i64,
    pub lifecycle: Lifecycle,
}

/// What the lock endpoint needs.
#[derive(Debug, Clone)]
pub struct LockRow {
    pub package_id: String,
    pub package_version: String,
    pub contract_signature: String,
    pub schema_version: String,
    pub definition_digest: String,
    pub manifest_digest: String,
    pub lock_digest: String,
    pub package_execution_signature: String,
    pub publisher_id: String,
    pub publisher_type: String,
    pub lifecycle: Lifecycle,
    pub receipt: Option<Receipt>,
}

/// A listed version as the in-memory catalogue holds it ([`Store::catalogue_rows`]).
#[derive(Debug, Clone)]
pub struct CatalogueRow {
    pub summary: PublicationSummary,
    /// Lower-cased `package_id name publisher_id`: what `?q=` searches.
    pub search_text: String,
}

/// A page request for `GET publications`.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Lower-cased search text, if any.
    pub q: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One page of `GET publications`.
#[derive(Debug, Clone)]
pub struct PublicationPage {
    pub items: Vec<PublicationSummary>,
    /// Listed versions, or for a search the matches, counted up to [`SEARCH_COUNT_CAP`].
    pub total: i64,
    /// False when a search matched more than [`SEARCH_COUNT_CAP`] versions: `total` is then the
    /// cap, a lower bound. Listing without a search always counts exactly.
    pub total_exact: bool,
}

/// A search counts its matches up to this many. Counting every match of a broad pattern costs
/// time in proportion to the catalogue; counting up to a fixed cap does not, and the page itself
/// never needs more than the cap to be ordered.
pub const SEARCH_COUNT_CAP: i64 = 1000;

/// The columns of a [`PublicationSummary`], in [`summary_at`] order, over `p` (the package) and
/// `pub` (its publisher).
macro_rules! list_columns {
    () => {
        "p.package_id, p.package_version, p.project_ref, p.product_revision_ref, \
         p.developer_revision_ref, p.contract_signature, p.publisher_id, p.publisher_type, p.lineage, \
         p.published_at, p.download_count, \
         p.lifecycle_status, p.lifecycle_reason, p.lifecycle_replacement_package_id, \
         p.lifecycle_replacement_package_version, p.lifecycle_updated_at, p.lifecycle_updated_by, \
         pub.publisher_id, pub.publisher_type, pub.display_name, pub.website_url, pub.status, \
         pub.trust_level"
    };
}

/// The public listing order, as `registry_packages_listing_search_idx` holds it, over an alias.
macro_rules! listing_order {
    ($alias:expr) => {
        concat!(
            $alias,
            ".download_count DESC, ",
            $alias,
            ".published_at_ts DESC, ",
            $alias,
            ".package_id ASC, ",
            $alias,
            ".package_version DESC"
        )
    };
}

/// The page's rows, from its keys (`$1` ids and `$2` versions, in page order): one primary-key
/// lookup per row of the page, and its publisher. Prepared once per connection: whatever the
/// keys, the plan is the same handful of index lookups, so a generic plan is right here and,
/// once Postgres' plan cache settles on it (after five runs on a connection), no request pays
/// for planning. A version taken down between the key statement and this one is left out
/// rather than listed.
const PAGE_ROWS_SQL: &str = concat!(
    "SELECT ",
    list_columns!(),
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY k(package_id, package_version, n) \
     JOIN registry_packages p \
       ON p.package_id = k.package_id AND p.package_version = k.package_version \
     LEFT JOIN registry_publishers pub ON pub.publisher_id = p.publisher_id \
     WHERE p.lifecycle_status <> 'takedown' \
     ORDER BY k.n"
);

/// Every listed version, in the listing order, with its search text after the
/// [`list_columns`] (see [`Store::catalogue_rows`]).
const CATALOGUE_ROWS_SQL: &str = concat!(
    "SELECT ",
    list_columns!(),
    ", p.search_text FROM registry_packages p \
     LEFT JOIN registry_publishers pub ON pub.publisher_id = p.publisher_id \
     WHERE p.lifecycle_status <> 'takedown' ORDER BY ",
    listing_order!("p")
);

/// How many columns [`list_columns`] names.
const LIST_COLUMN_COUNT: usize = 23;

/// The number of listed versions, kept in step with the rows (prepared; sent together with the
/// key statement, in the same round trip).
const LISTED_COUNT_SQL: &str = "SELECT value FROM registry_counters WHERE name = 'listed_packages'";

/// The unfiltered page's keys: the listing index is walked (index-only) to the page; a deep
/// `offset` skips index entries only. A small statement, sent with its parameters each time
/// (`query_typed`) so it is planned for the actual page: the generic plan of a prepared
/// statement assumes a page of 10% of the table and may sort a sequential scan instead of
/// walking the index.
const LIST_KEYS_SQL: &str = concat!(
    "SELECT package_id, package_version FROM registry_packages \
     WHERE lifecycle_status <> 'takedown' ORDER BY ",
    listing_order!("registry_packages"),
    " LIMIT $1 OFFSET $2"
);

/// A search's keys and count, in one statement; `{filter}` is a predicate on `p` over the
/// pattern `$4`, `$3` is the lower-cased query, `$1`/`$2` limit and offset. Every row carries
/// the count; no match at all is one row with NULL keys.
///
/// - `capped`: up to [`SEARCH_COUNT_CAP`] + 1 matches in any order, found however is cheapest
///   (a trigram bitmap for a rare pattern, a short sequential or index walk for a common one).
/// - When that found every match, the page is those matches sorted: exact id matches first,
///   then the listing order.
/// - Otherwise the pattern is common, so walking the listing index (the pattern tested on
///   index entries) reaches a page after a bounded number of entries; exact id matches, found
///   through the id index, come first.
///
/// Only one of the two page branches runs (each is gated on the count). The statement is sent
/// with its parameters each time (`query_typed`), so it is planned for the actual pattern: a
/// generic plan cannot tell a rare pattern from a common one. The rows themselves come from
/// [`PAGE_ROWS_SQL`], so this statement stays small to plan.
const SEARCH_KEYS_SQL: &str = concat!(
    "WITH capped AS MATERIALIZED (\
       SELECT p.package_id, p.package_version, p.download_count, p.published_at_ts, \
              lower(p.package_id) = $3 AS exact \
       FROM registry_packages p WHERE p.lifecycle_status <> 'takedown' AND {filter} \
       LIMIT {cap_plus_one}), \
     total AS (SELECT count(*) AS n FROM capped), \
     keys AS (\
       (SELECT c.exact, c.download_count, c.published_at_ts, c.package_id, c.package_version \
        FROM capped c WHERE (SELECT n FROM total) <= {cap} \
        ORDER BY c.exact DESC, ",
    listing_order!("c"),
    " LIMIT $1 OFFSET $2) \
       UNION ALL \
       (SELECT b.* FROM (\
          (SELECT true AS exact, p.download_count, p.published_at_ts, p.package_id, p.package_version \
           FROM registry_packages p WHERE lower(p.package_id) = $3 AND p.lifecycle_status <> 'takedown' \
           ORDER BY ",
    listing_order!("p"),
    " LIMIT $1 + $2) \
          UNION ALL \
          (SELECT false, p.download_count, p.published_at_ts, p.package_id, p.package_version \
           FROM registry_packages p \
           WHERE {filter} AND lower(p.package_id) <> $3 AND p.lifecycle_status <> 'takedown' \
           ORDER BY ",
    listing_order!("p"),
    " LIMIT $1 + $2)\
        ) b WHERE (SELECT n FROM total) > {cap} \
        ORDER BY b.exact DESC, ",
    listing_order!("b"),
    " LIMIT $1 OFFSET $2)) \
     SELECT (SELECT n FROM total), k.package_id, k.package_version \
     FROM (SELECT 1) one LEFT JOIN keys k ON true \
     ORDER BY k.exact DESC, ",
    listing_order!("k")
);

/// A page's keys (in page order) and its count, as the key statement found them.
struct PageKeys {
    ids: Vec<String>,
    versions: Vec<String>,
    counted: i64,
}

impl PageKeys {
    /// Rows of `(package_id, package_version)` from column `first`; NULL keys (a search's
    /// count-only row) are skipped.
    fn read(rows: &[tokio_postgres::Row], first: usize, counted: i64) -> Result<Self, StoreError> {
        let mut keys = PageKeys {
            ids: Vec::with_capacity(rows.len()),
            versions: Vec::with_capacity(rows.len()),
            counted,
        };
        for row in rows {
            let id: Option<String> = row.try_get(first)?;
            let version: Option<String> = row.try_get(first + 1)?;
            if let (Some(id), Some(version)) = (id, version) {
                keys.ids.push(id);
                keys.versions.push(version);
            }
        }
        Ok(keys)
    }
}

impl Store {
    /// Whether this package version exists (upstream's pre-validation 409 check).
    pub async fn package_exists(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT 1 FROM registry_packages WHERE package_id = $1 AND package_version = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&package_id, &version])
            .await?
            .is_some())
    }

    /// Inserts a package version with its lineage, receipt, ownership claim and audit event in
    /// one transaction. Concurrent publishes of the same version: exactly one commits, the
    /// others get [`InsertOutcome::VersionExists`].
    pub async fn insert_package(&self, new: NewPackage) -> Result<InsertOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let record = &new.record;

        if new.ensure_publisher {
            tx.execute(
                "INSERT INTO registry_publishers (publisher_id, publisher_type, display_name) \
                 VALUES ($1, $2, $1) ON CONFLICT (publisher_id) DO NOTHING",
                &[&record.publisher_id, &record.publisher_type],
            )
            .await?;
        }

        // Claim the id if it is unowned; a concurrent claim waits on the unique key and then
        // sees the winner's row.
        tx.execute(
            "INSERT INTO registry_artifact_ownership (artifact_kind, artifact_id, publisher_id, namespace) \
             VALUES ('package', $1, $2, $3) ON CONFLICT (artifact_kind, artifact_id) DO NOTHING",
            &[&record.package_id, &record.publisher_id, &new.claim_namespace],
        )
        .await?;
        let owner = tx
            .query_one(
                "SELECT publisher_id, status FROM registry_artifact_ownership \
                 WHERE artifact_kind = 'package' AND artifact_id = $1",
                &[&record.package_id],
            )
            .await?;
        let (owner_id, owner_status): (String, String) = (owner.get(0), owner.get(1));
        if owner_id != record.publisher_id || owner_status != "active" {
            return Ok(InsertOutcome::NotOwner {
                owner: owner_id,
                status: owner_status,
            });
        }

        if let Some((key_id, public_key)) = &new.imported_key {
            tx.execute(
                "INSERT INTO registry_imported_keys (key_id, public_key) VALUES ($1, $2) \
                 ON CONFLICT (key_id) DO NOTHING",
                &[key_id, public_key],
            )
            .await?;
            let stored: String = tx
                .query_one(
                    "SELECT public_key FROM registry_imported_keys WHERE key_id = $1",
                    &[key_id],
                )
                .await?
                .get(0);
            if &stored != public_key {
                return Ok(InsertOutcome::ImportedKeyConflict {
                    key_id: key_id.clone(),
                });
            }
        }

        let published_at_ts = parse_timestamp(&record.published_at);
        let lineage = record.lineage.as_ref().map(Json);
        let inserted = tx
            .execute(
                "INSERT INTO registry_packages (package_id, package_version, project_ref, \
                 product_revision_ref, developer_revision_ref, contract_signature, schema_version, \
                 publisher_id, publisher_type, manifest_digest, definition_digest, lock_digest, \
                 package_execution_signature, name, search_text, published_at, published_at_ts, \
                 manifest, service_definition, recommended_lock, lineage, record_json, record_etag, origin) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, $21, $22, $23, $24) \
                 ON CONFLICT (package_id, package_version) DO NOTHING",
                &[
                    &record.package_id,
                    &record.package_version,
                    &record.project_ref,
                    &record.product_revision_ref,
                    &record.developer_revision_ref,
                    &record.contract_signature,
                    &record.schema_version,
                    &record.publisher_id,
                    &record.publisher_type,
                    &record.manifest_digest,
                    &record.definition_digest,
                    &record.lock_digest,
                    &record.package_execution_signature,
                    &record.name(),
                    &record.search_text(),
                    &record.published_at,
                    &published_at_ts,
                    &Json(&record.manifest),
                    &Json(&record.service_definition),
                    &Json(&record.recommended_lock),
                    &lineage,
                    &new.rendered.bytes,
                    &new.rendered.etag,
                    &new.origin,
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(InsertOutcome::VersionExists);
        }

        tx.execute(
            "INSERT INTO registry_lineages (package_id, package_version, project_ref, \
             product_revision_ref, developer_revision_ref, contract_signature, publisher_id, \
             publisher_type, lineage, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &record.package_id,
                &record.package_version,
                &record.project_ref,
                &record.product_revision_ref,
                &record.developer_revision_ref,
                &record.contract_signature,
                &record.publisher_id,
                &record.publisher_type,
                &lineage,
                &record.published_at,
            ],
        )
        .await?;

        let receipt = &new.receipt;
        let payload_version = match new.payload_version {
            signing::PayloadVersion::Current => "current",
            signing::PayloadVersion::Legacy => "legacy",
        };
        tx.execute(
            "INSERT INTO registry_receipts (receipt_id, package_id, package_version, \
             registry_signature, signature_algorithm, key_id, publisher_id, publisher_type, \
             issued_at, payload_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &receipt.receipt_id,
                &receipt.package_id,
                &receipt.package_version,
                &receipt.registry_signature,
                &receipt.signature_algorithm,
                &receipt.key_id,
                &receipt.publisher_id,
                &receipt.publisher_type,
                &receipt.issued_at,
                &payload_version,
            ],
        )
        .await?;

        tx.execute(
            "UPDATE registry_counters SET value = value + 1 WHERE name = 'listed_packages'",
            &[],
        )
        .await?;

        let event = if new.origin == "imported" {
            "package.imported"
        } else {
            "package.published"
        };
        audit(
            &tx,
            &new.actor,
            event,
            "package",
            &format!("{}@{}", record.package_id, record.package_version),
            &json!({
                "manifest_digest": record.manifest_digest,
                "definition_digest": record.definition_digest,
                "lock_digest": record.lock_digest,
                "receipt_id": receipt.receipt_id,
                "key_id": receipt.key_id,
                "publisher_id": record.publisher_id,
            }),
        )
        .await?;
        notify_listings_changed(&tx).await?;
        tx.commit().await?;
        Ok(InsertOutcome::Inserted)
    }

    /// The download: one query returning the stored body (unless the client's plain ETag
    /// already matches an active package, or the lifecycle blocks it) and the lifecycle.
    pub async fn download_row(
        &self,
        package_id: &str,
        version: &str,
        plain_etags: &[String],
        allow_yanked: bool,
    ) -> Result<Option<DownloadRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT record_etag, {LIFECYCLE_COLUMNS}, \
                 CASE WHEN lifecycle_status = 'takedown' \
                        OR (lifecycle_status = 'yanked' AND NOT $4) \
                        OR (lifecycle_status = 'active' AND record_etag = ANY($3)) \
                      THEN NULL ELSE record_json END \
                 FROM registry_packages WHERE package_id = $1 AND package_version = $2"
            ))
            .await?;
        let row = client
            .query_opt(&stmt, &[&package_id, &version, &plain_etags, &allow_yanked])
            .await?;
        Ok(row.map(|row| DownloadRow {
            etag: row.get(0),
            lifecycle: lifecycle_at(&row, 1),
            body: row.get(7),
        }))
    }

    /// The record view: stored body, download count and lifecycle, in one query.
    pub async fn record_row(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<Option<RecordRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT record_etag, {LIFECYCLE_COLUMNS}, download_count, record_json \
                 FROM registry_packages WHERE package_id = $1 AND package_version = $2"
            ))
            .await?;
        let row = client.query_opt(&stmt, &[&package_id, &version]).await?;
        Ok(row.map(|row| RecordRow {
            etag: row.get(0),
            lifecycle: lifecycle_at(&row, 1),
            download_count: row.get(7),
            body: row.get(8),
        }))
    }

    /// The fields of the lock endpoint, with the receipt, in one query.
    pub async fn lock_row(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<Option<LockRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT p.package_id, p.package_version, p.contract_signature, p.schema_version, \
                 p.definition_digest, p.manifest_digest, p.lock_digest, p.package_execution_signature, \
                 p.publisher_id, p.publisher_type, {}, \
                 r.receipt_id, r.registry_signature, r.signature_algorithm, r.key_id, \
                 r.publisher_id, r.publisher_type, r.issued_at \
                 FROM registry_packages p \
                 LEFT JOIN registry_receipts r \
                   ON r.package_id = p.package_id AND r.package_version = p.package_version \
                 WHERE p.package_id = $1 AND p.package_version = $2",
                LIFECYCLE_COLUMNS
                    .split(", ")
                    .map(|c| format!("p.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&package_id, &version]).await? else {
            return Ok(None);
        };
        let receipt_id: Option<String> = row.get(16);
        let receipt = receipt_id.map(|receipt_id| Receipt {
            receipt_id,
            package_id: row.get(0),
            package_version: row.get(1),
            registry_signature: row.get(17),
            signature_algorithm: row.get(18),
            key_id: row.get(19),
            publisher_id: row.get(20),
            publisher_type: row.get(21),
            issued_at: row.get(22),
        });
        Ok(Some(LockRow {
            package_id: row.get(0),
            package_version: row.get(1),
            contract_signature: row.get(2),
            schema_version: row.get(3),
            definition_digest: row.get(4),
            manifest_digest: row.get(5),
            lock_digest: row.get(6),
            package_execution_signature: row.get(7),
            publisher_id: row.get(8),
            publisher_type: row.get(9),
            lifecycle: lifecycle_at(&row, 10),
            receipt,
        }))
    }

    /// A package version's receipt.
    pub async fn receipt(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT receipt_id, package_id, package_version, registry_signature, \
                 signature_algorithm, key_id, publisher_id, publisher_type, issued_at \
                 FROM registry_receipts WHERE package_id = $1 AND package_version = $2",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&package_id, &version]).await?;
        Ok(row.map(|row| Receipt {
            receipt_id: row.get(0),
            package_id: row.get(1),
            package_version: row.get(2),
            registry_signature: row.get(3),
            signature_algorithm: row.get(4),
            key_id: row.get(5),
            publisher_id: row.get(6),
            publisher_type: row.get(7),
            issued_at: row.get(8),
        }))
    }
    /// One page of publications, most downloaded first (taken-down versions are not listed),
    /// with the total. A search (`q`) matches the lower-cased id, name and publisher by
    /// substring (ids by prefix for queries under three characters, which have no trigram),
    /// lists exact id matches first, and counts up to [`SEARCH_COUNT_CAP`].
    ///
    /// Two round trips whose cost is bounded by the page, the offset and the cap, not by the
    /// catalogue: a small key statement planned for the actual values (the listing walks an
    /// index to the page's keys, with the counter row read alongside; a search reads at most
    /// cap + 1 matches, or walks the listing index when the pattern is common), then the page's
    /// rows by primary key through a prepared statement.
    pub async fn list_publications_page(
        &self,
        query: &ListQuery,
    ) -> Result<PublicationPage, StoreError> {
        let client = self.client().await?;
        let keys = page_keys(&client, query).await?;
        let (total, total_exact) = match query.q.as_deref().filter(|q| !q.is_empty()) {
            Some(_) => (
                keys.counted.min(SEARCH_COUNT_CAP),
                keys.counted <= SEARCH_COUNT_CAP,
            ),
            None => (keys.counted, true),
        };
        // Run even for an empty page, so every page costs the same statements.
        let stmt = client.prepare_cached(PAGE_ROWS_SQL).await?;
        let rows = client.query(&stmt, &[&keys.ids, &keys.versions]).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(summary_at(row, 0)?);
        }
        Ok(PublicationPage {
            items,
            total,
            total_exact,
        })
    }

    /// The number of listed versions (the counter kept in step with the rows).
    pub async fn listed_count(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LISTED_COUNT_SQL).await?;
        Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
    }

    /// Listed versions and the sum of their download counts: what the catalogue compares to
    /// tell whether its snapshot still holds (counts only grow, so an equal sum means no count
    /// moved). One pass over the table's rows, no sort.
    pub async fn catalogue_fingerprint(&self) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), coalesce(sum(download_count), 0)::bigint \
                 FROM registry_packages WHERE lifecycle_status <> 'takedown'",
                &[],
            )
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Every listed version (not taken down) with what `?q=` searches, in the listing order:
    /// what [`crate::catalogue`] holds in memory. Rows stream from the database, so only the
    /// decoded rows are held, never the whole result twice.
    pub async fn catalogue_rows(&self) -> Result<Vec<CatalogueRow>, StoreError> {
        use futures_util::TryStreamExt;
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        // The whole catalogue is sorted at once: in memory, not in temporary files.
        tx.batch_execute("SET LOCAL work_mem = '64MB'").await?;
        let mut out = Vec::new();
        {
            let rows = tx
                .query_raw(
                    CATALOGUE_ROWS_SQL,
                    std::iter::empty::<&(dyn ToSql + Sync)>(),
                )
                .await?;
            futures_util::pin_mut!(rows);
            while let Some(row) = rows.try_next().await? {
                out.push(CatalogueRow {
                    summary: summary_at(&row, 0)?,
                    search_text: row.try_get(LIST_COLUMN_COUNT)?,
                });
                // Buffered rows arrive without waiting on the socket: let the thread's other
                // tasks (the catalogue's pinger among them) run between batches.
                if out.len() % 1000 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of the statements [`Store::list_publications_page`] runs
    /// for `query`, planned as that method plans them: the key statement with the actual
    /// values, then the rows statement for the keys it found, with the generic plan its
    /// prepared statement uses (for tests and operators checking plans).
    pub async fn explain_publications(&self, query: &ListQuery) -> Result<String, StoreError> {
        let mut client = self.client().await?;
        let (keys, key_plan) = explain_page_keys(&client, query).await?;
        let mut plan = format!("-- keys\n{key_plan}");
        if !keys.ids.is_empty() {
            // A throwaway SQL-level prepared statement shows the generic plan; the setting is
            // local to this transaction, and the statement is dropped again.
            let _ = client
                .batch_execute("DEALLOCATE anip_explain_page_rows")
                .await;
            client
                .batch_execute(&format!(
                    "PREPARE anip_explain_page_rows(text[], text[]) AS {PAGE_ROWS_SQL}"
                ))
                .await?;
            let explained = async {
                let tx = client.transaction().await?;
                tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
                    .await?;
                // A utility statement takes no parameters: the keys go in as quoted literals.
                let rows = tx
                    .query(
                        &format!(
                            "{EXPLAIN}EXECUTE anip_explain_page_rows({}, {})",
                            text_array_literal(&keys.ids),
                            text_array_literal(&keys.versions)
                        ),
                        &[],
                    )
                    .await?;
                tx.commit().await?;
                plan_text(&rows)
            }
            .await;
            client
                .batch_execute("DEALLOCATE anip_explain_page_rows")
                .await?;
            plan.push_str(&format!("\n-- rows\n{}", explained?));
        }
        Ok(plan)
    }

    /// Sets a package version's lifecycle and records the change (one transaction). Returns
    /// `None` when the version does not exist, `Some(Err(_))` when the replacement names a
    /// version that does not exist or may not be used.
    pub async fn update_lifecycle(
        &self,
        package_id: String,
        version: String,
        lifecycle: Lifecycle,
        actor: Actor,
    ) -> Result<Option<Result<RecordRow, UnusableReplacement>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = set_lifecycle(&tx, &package_id, &version, &lifecycle, &actor).await?;
        if matches!(outcome, Some(Ok(_))) {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// Adds a batch of download counts under `flush_id`, once: the statement claims the id
    /// first and adds nothing if an earlier attempt with the same id committed (see
    /// [`crate::downloads`]). Returns whether this call added the counts. Claimed ids older
    /// than a day are removed on the way.
    pub async fn add_downloads(
        &self,
        flush_id: i64,
        counts: &[(crate::downloads::Key, i64)],
    ) -> Result<bool, StoreError> {
        use crate::downloads::Kind;
        let columns = |kind: Kind| {
            let of_kind = || counts.iter().filter(move |((k, _, _), _)| *k == kind);
            let ids: Vec<&str> = of_kind().map(|((_, id, _), _)| id.as_str()).collect();
            let versions: Vec<&str> = of_kind().map(|((_, _, v), _)| v.as_str()).collect();
            let ns: Vec<i64> = of_kind().map(|(_, n)| *n).collect();
            (ids, versions, ns)
        };
        let (package_ids, package_versions, package_counts) = columns(Kind::Package);
        let (template_ids, template_versions, template_counts) = columns(Kind::Template);
        let client = self.client().await?;
        let row = client
            .query_one(
                "WITH claim AS ( \
                     INSERT INTO registry_download_flushes (flush_id) VALUES ($1) \
                     ON CONFLICT (flush_id) DO NOTHING RETURNING flush_id \
                 ), packages AS ( \
                     UPDATE registry_packages t SET download_count = t.download_count + d.n \
                     FROM claim, unnest($2::text[], $3::text[], $4::int8[]) AS d(id, v, n) \
                     WHERE t.package_id = d.id AND t.package_version = d.v \
                 ), templates AS ( \
                     UPDATE registry_templates t SET download_count = t.download_count + d.n \
                     FROM claim, unnest($5::text[], $6::text[], $7::int8[]) AS d(id, v, n) \
                     WHERE t.template_id = d.id AND t.template_version = d.v \
                 ), expired AS ( \
                     DELETE FROM registry_download_flushes \
                     WHERE flushed_at < now() - interval '1 day' \
                 ) \
                 SELECT count(*) FROM claim",
                &[
                    &flush_id,
                    &package_ids,
                    &package_versions,
                    &package_counts,
                    &template_ids,
                    &template_versions,
                    &template_counts,
                ],
            )
            .await?;
        Ok(row.get::<_, i64>(0) == 1)
    }

    /// Total downloads recorded for a package version (for tests and tools).
    pub async fn package_download_count(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT download_count FROM registry_packages WHERE package_id = $1 AND package_version = $2",
                &[&package_id, &version],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Audit events about one target, newest first (for tests and the admin UI).
    pub async fn audit_events(
        &self,
        target_type: &str,
        target_id: &str,
    ) -> Result<Vec<(String, String, Value)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT event_type, actor, metadata FROM registry_audit_events \
                 WHERE target_type = $1 AND target_id = $2 ORDER BY created_at DESC",
                &[&target_type, &target_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }
}

/// Tells every replica's listing cache, when the caller's transaction commits, that listings
/// changed (a lifecycle change needs no call: its own notification says so). One round trip,
/// constant text.
pub(super) async fn notify_listings_changed(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), StoreError> {
    tx.batch_execute(&format!(
        "SELECT pg_notify('{}', '{}')",
        crate::invalidation::LIFECYCLE_CHANNEL,
        crate::invalidation::LISTINGS_CHANGED
    ))
    .await?;
    Ok(())
}

/// Why a lifecycle replacement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnusableReplacement {
    /// No such package version.
    Missing,
    /// The version's own lifecycle (`takedown` or `yanked`) makes its download a 410.
    Unavailable(String),
}

/// Sets a package version's lifecycle inside the caller's transaction: counters, the
/// cross-replica cache notification (sent when the transaction commits) and the audit event.
/// The outcome is [`Store::update_lifecycle`]'s; the caller commits.
pub(super) async fn set_lifecycle(
    tx: &tokio_postgres::Transaction<'_>,
    package_id: &str,
    version: &str,
    lifecycle: &Lifecycle,
    actor: &Actor,
) -> Result<Option<Result<RecordRow, UnusableReplacement>>, StoreError> {
    let Some(current) = tx
        .query_opt(
            "SELECT lifecycle_status FROM registry_packages \
             WHERE package_id = $1 AND package_version = $2 FOR UPDATE",
            &[&package_id, &version],
        )
        .await?
    else {
        return Ok(None);
    };
    let previous: String = current.get(0);
    let (replacement_id, replacement_version) = match &lifecycle.replacement {
        Some(r) => (Some(r.package_id.clone()), Some(r.package_version.clone())),
        None => (None, None),
    };
    if let (Some(id), Some(v)) = (&replacement_id, &replacement_version) {
        let status: Option<String> = tx
            .query_opt(
                "SELECT lifecycle_status FROM registry_packages \
                 WHERE package_id = $1 AND package_version = $2",
                &[id, v],
            )
            .await?
            .map(|row| row.get(0));
        match status.as_deref() {
            None => return Ok(Some(Err(UnusableReplacement::Missing))),
            // Users sent there would get a 410.
            Some(status @ ("takedown" | "yanked")) => {
                return Ok(Some(Err(UnusableReplacement::Unavailable(
                    status.to_owned(),
                ))));
            }
            Some(_) => {}
        }
    }
    let row = tx
        .query_one(
            &format!(
                "UPDATE registry_packages SET lifecycle_status = $3, lifecycle_reason = $4, \
                 lifecycle_replacement_package_id = $5, lifecycle_replacement_package_version = $6, \
                 lifecycle_updated_at = $7, lifecycle_updated_by = $8 \
                 WHERE package_id = $1 AND package_version = $2 \
                 RETURNING record_etag, {LIFECYCLE_COLUMNS}, download_count, record_json"
            ),
            &[
                &package_id,
                &version,
                &lifecycle.status,
                &lifecycle.stored_reason(),
                &replacement_id,
                &replacement_version,
                &lifecycle.updated_at,
                &lifecycle.updated_by,
            ],
        )
        .await?;
    let delta: i64 = match (previous == "takedown", lifecycle.status == "takedown") {
        (false, true) => -1,
        (true, false) => 1,
        _ => 0,
    };
    if delta != 0 {
        tx.execute(
            "UPDATE registry_counters SET value = value + $1 WHERE name = 'listed_packages'",
            &[&delta],
        )
        .await?;
    }
    // Every replica's download cache drops this version when the transaction commits.
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[
            &crate::invalidation::LIFECYCLE_CHANNEL,
            &crate::invalidation::lifecycle_payload(package_id, version),
        ],
    )
    .await?;
    audit(
        tx,
        actor,
        "package.lifecycle_updated",
        "package",
        &format!("{package_id}@{version}"),
        &json!({
            "previous_status": previous,
            "status": lifecycle.status,
            "reason": lifecycle.reason,
            "replacement": lifecycle.replacement,
        }),
    )
    .await?;
    Ok(Some(Ok(RecordRow {
        etag: row.get(0),
        lifecycle: lifecycle_at(&row, 1),
        download_count: row.get(7),
        body: row.get(8),
    })))
}

/// What [`Store::explain_publications`] prefixes the statements it plans with.
const EXPLAIN: &str = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ";

/// The key statement for a query and the values it runs with: the listing's
/// ([`LIST_KEYS_SQL`]) or a search's ([`search_statement`]).
struct KeyStatement {
    sql: Cow<'static, str>,
    limit: i64,
    offset: i64,
    /// A search's query and pattern (`$3` and `$4`); `None` for the listing.
    search: Option<(String, String)>,
}

impl KeyStatement {
    fn new(query: &ListQuery) -> Self {
        let (sql, search) = match query.q.as_deref().filter(|q| !q.is_empty()) {
            None => (Cow::Borrowed(LIST_KEYS_SQL), None),
            Some(q) => {
                let (sql, pattern) = search_statement(q);
                (Cow::Owned(sql), Some((q.to_owned(), pattern)))
            }
        };
        KeyStatement {
            sql,
            limit: query.limit,
            offset: query.offset,
            search,
        }
    }

    /// The parameters with their types, so the statement is planned for these values.
    fn params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> =
            vec![(&self.limit, Type::INT8), (&self.offset, Type::INT8)];
        if let Some((q, pattern)) = &self.search {
            params.push((q, Type::TEXT));
            params.push((pattern, Type::TEXT));
        }
        params
    }
}

/// Runs the key statement for `query`. The listing's count comes from the counter row, read in
/// the same round trip; a search's is the first column of its key statement.
async fn page_keys(
    client: &deadpool_postgres::Object,
    query: &ListQuery,
) -> Result<PageKeys, StoreError> {
    let statement = KeyStatement::new(query);
    let params = statement.params();
    if statement.search.is_none() {
        let counter = client.prepare_cached(LISTED_COUNT_SQL).await?;
        // Both statements go out before either answer is read.
        let (rows, count) = futures_util::future::try_join(
            client.query_typed(&statement.sql, &params),
            client.query_one(&counter, &[]),
        )
        .await?;
        PageKeys::read(&rows, 0, count.try_get(0)?)
    } else {
        let rows = client.query_typed(&statement.sql, &params).await?;
        // Always one row at least, carrying the count.
        let counted: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        PageKeys::read(&rows, 1, counted)
    }
}

/// The plan of the key statement [`page_keys`] runs for `query` (as text, planned for the same
/// values), and the keys it finds: the statement runs once explained, then once as
/// [`page_keys`] runs it.
async fn explain_page_keys(
    client: &deadpool_postgres::Object,
    query: &ListQuery,
) -> Result<(PageKeys, String), StoreError> {
    let statement = KeyStatement::new(query);
    let explained = client
        .query_typed(&format!("{EXPLAIN}{}", statement.sql), &statement.params())
        .await?;
    let plan = plan_text(&explained)?;
    Ok((page_keys(client, query).await?, plan))
}

/// The search key statement for the lower-cased query `q`, and its pattern. Trigram search
/// needs three characters; shorter queries match id prefixes.
fn search_statement(q: &str) -> (String, String) {
    let (filter, pattern) = if q.chars().count() >= 3 {
        ("p.search_text LIKE $4", format!("%{}%", like_escape(q)))
    } else {
        (
            "lower(p.package_id) LIKE $4",
            format!("{}%", like_escape(q)),
        )
    };
    let sql = SEARCH_KEYS_SQL
        .replace("{filter}", filter)
        .replace("{cap_plus_one}", &(SEARCH_COUNT_CAP + 1).to_string())
        .replace("{cap}", &SEARCH_COUNT_CAP.to_string());
    (sql, pattern)
}

/// `'{"a","b"}'::text[]`: a SQL literal of a text array, every element quoted and escaped.
fn text_array_literal(items: &[String]) -> String {
    let elements: Vec<String> = items
        .iter()
        .map(|item| format!("\"{}\"", item.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("'{{{}}}'::text[]", elements.join(",").replace('\'', "''"))
}

fn plan_text(rows: &[tokio_postgres::Row]) -> Result<String, StoreError> {
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        lines.push(row.try_get::<_, String>(0)?);
    }
    Ok(lines.join("\n"))
}

/// Reads a [`PublicationSummary`] from the [`list_columns`] starting at column `start`.
fn summary_at(row: &tokio_postgres::Row, start: usize) -> Result<PublicationSummary, StoreError> {
    let lineage: Option<Json<crate::model::JsonMap>> = row.try_get(start + 8)?;
    let publisher_id: Option<String> = row.try_get(start + 17)?;
    Ok(PublicationSummary {
        package_id: row.try_get(start)?,
        package_version: row.try_get(start + 1)?,
        project_ref: row.try_get(start + 2)?,
        product_revision_ref: row.try_get(start + 3)?,
        developer_revision_ref: row.try_get(start + 4)?,
        contract_signature: row.try_get(start + 5)?,
        publisher_id: row.try_get(start + 6)?,
        publisher_type: row.try_get(start + 7)?,
        lineage: lineage.map(|Json(l)| l).filter(|l| !l.is_empty()),
        published_at: row.try_get(start + 9)?,
        download_count: row.try_get(start + 10)?,
        lifecycle: lifecycle_at(row, start + 11),
        publisher: match publisher_id {
            Some(publisher_id) => Some(PublisherSummary {
                publisher_id,
                publisher_type: row.try_get(start + 18)?,
                display_name: row.try_get(start + 19)?,
                website_url: row.try_get(start + 20)?,
                status: row.try_get(start + 21)?,
                trust_level: row.try_get(start + 22)?,
            }),
            None => None,
        },
    })
}

/// Parses an RFC 3339 timestamp for the sortable column; unparseable (imported) values sort
/// as now.
fn parse_timestamp(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_every_element() {
        assert_eq!(
            text_array_literal(&["a".into(), r#"b"c\d'e"#.into(), "".into()]),
            r#"'{"a","b\"c\\d''e",""}'::text[]"#
        );
    }
}
