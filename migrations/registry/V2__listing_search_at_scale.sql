-- Listing and search whose cost does not grow with the catalogue.
--
-- 1. The trigram index keeps at most 64 kB of unmerged entries. GIN's pending list (4 MB by
--    default) is unsorted, and every search reads all of it until a vacuum merges it: after an
--    import that was most of a search's cost. A 64 kB list bounds that to a few pages, while
--    bulk inserts still merge their entries in sorted batches (turning the list off makes each
--    row insert its trigrams one by one: three times slower to import 100,000 packages).
ALTER INDEX registry_packages_search_trgm_idx SET (gin_pending_list_limit = 64);
SELECT gin_clean_pending_list('registry_packages_search_trgm_idx'::regclass);

-- 2. The listing index also carries `search_text`, so a search that matches many packages walks
--    the index in listing order and tests the pattern on the index entries alone (an index-only
--    scan) until it has a page, and a deep page skips index entries without visiting the table.
CREATE INDEX registry_packages_listing_search_idx
    ON registry_packages (download_count DESC, published_at_ts DESC, package_id ASC, package_version DESC)
    INCLUDE (search_text)
    WHERE lifecycle_status <> 'takedown';

DROP INDEX registry_packages_listing_idx;
