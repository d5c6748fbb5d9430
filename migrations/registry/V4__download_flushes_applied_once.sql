-- Download counts are added once. A replica adds its batched counts under a random flush id
-- in one statement that first claims the id here; a flush sent again after an error that left
-- its outcome unknown (the connection dropped after COMMIT) finds its id taken and adds
-- nothing. Ids are kept for a day, far longer than any retry; each flush removes older ones.
CREATE TABLE registry_download_flushes (
    flush_id   BIGINT PRIMARY KEY,
    flushed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_download_flushes_flushed_at ON registry_download_flushes (flushed_at);
