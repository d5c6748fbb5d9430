-- ANIP Registry schema, first version.
--
-- Published content (packages, templates, receipts, lineages) is immutable: rows are inserted
-- once and only the lifecycle columns and the download counters ever change. The exact bytes a
-- download serves are rendered once at publish time (`record_json`) with their strong ETag
-- (`record_etag`), so a download is one primary-key lookup and no JSON work.

-- Trigram search for `GET publications?q=`; pg_trgm ships with PostgreSQL's contrib and is a
-- trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Publishers: who may own namespaces and artifacts. The configured first-party publisher
-- (ANIP_REGISTRY_PUBLISHER_ID) is upserted here at start-up so it can be suspended like any other.
CREATE TABLE registry_publishers (
    publisher_id   TEXT PRIMARY KEY CHECK (length(publisher_id) BETWEEN 1 AND 128),
    publisher_type TEXT NOT NULL CHECK (length(publisher_type) BETWEEN 1 AND 40),
    display_name   TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    website_url    TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'pending_review', 'suspended')),
    trust_level    TEXT NOT NULL DEFAULT 'unverified'
                   CHECK (trust_level IN ('unverified', 'verified', 'official')),
    status_reason  TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_publishers_status_idx
    ON registry_publishers (status, trust_level, publisher_id);

-- Namespaces: a namespace `ns` covers the ids `ns` and `ns/...`. Claims start as
-- `pending_verification`; only `active` namespaces grant publishing rights.
CREATE TABLE registry_namespaces (
    namespace      TEXT PRIMARY KEY CHECK (length(namespace) BETWEEN 1 AND 80),
    publisher_id   TEXT NOT NULL REFERENCES registry_publishers (publisher_id) ON DELETE RESTRICT,
    artifact_kinds TEXT[] NOT NULL DEFAULT ARRAY['package', 'template']::TEXT[],
    status         TEXT NOT NULL DEFAULT 'pending_verification'
                   CHECK (status IN ('pending_verification', 'active', 'reserved', 'suspended', 'rejected')),
    status_reason  TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_namespaces_publisher_idx
    ON registry_namespaces (publisher_id, status);

-- Publish tokens: only the SHA-256 (hex) of the secret is stored; the bearer secret is shown
-- once, when the token is created.
CREATE TABLE registry_publish_tokens (
    token_id     UUID PRIMARY KEY,
    publisher_id TEXT NOT NULL REFERENCES registry_publishers (publisher_id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    label        TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 120),
    scopes       JSONB NOT NULL DEFAULT '{}'::JSONB,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_publish_tokens_publisher_idx
    ON registry_publish_tokens (publisher_id, created_at DESC);

-- Packages. Primary key (package_id, package_version); content columns never change.
CREATE TABLE registry_packages (
    package_id             TEXT NOT NULL CHECK (length(package_id) BETWEEN 1 AND 256),
    package_version        TEXT NOT NULL CHECK (length(package_version) BETWEEN 1 AND 128),
    project_ref            TEXT NOT NULL,
    product_revision_ref   TEXT NOT NULL,
    developer_revision_ref TEXT NOT NULL,
    contract_signature     TEXT NOT NULL,
    schema_version         TEXT NOT NULL,
    publisher_id           TEXT NOT NULL,
    publisher_type         TEXT NOT NULL,
    manifest_digest        TEXT NOT NULL,
    definition_digest      TEXT NOT NULL,
    lock_digest            TEXT NOT NULL,
    package_execution_signature TEXT NOT NULL DEFAULT '',
    -- The manifest's display name, kept for listing and search.
    name                   TEXT NOT NULL DEFAULT '',
    -- Lower-cased "package_id name publisher_id", the target of the trigram index.
    search_text            TEXT NOT NULL,
    -- The published_at string exactly as served (RFC 3339, seconds, UTC).
    published_at           TEXT NOT NULL,
    published_at_ts        TIMESTAMPTZ NOT NULL,
    manifest               JSONB NOT NULL,
    service_definition     JSONB NOT NULL,
    recommended_lock       JSONB NOT NULL,
    lineage                JSONB,
    -- The download body: the record without its mutable fields (download_count, lifecycle),
    -- rendered once, and the hex SHA-256 of those bytes (the strong ETag).
    record_json            BYTEA NOT NULL,
    record_etag            TEXT NOT NULL,
    -- 'published' through POST publications, 'imported' from an upstream bundle (digests and
    -- receipt kept as they were).
    origin                 TEXT NOT NULL DEFAULT 'published' CHECK (origin IN ('published', 'imported')),
    download_count         BIGINT NOT NULL DEFAULT 0 CHECK (download_count >= 0),
    lifecycle_status       TEXT NOT NULL DEFAULT 'active'
                           CHECK (lifecycle_status IN ('active', 'superseded', 'deprecated', 'yanked', 'takedown')),
    lifecycle_reason       TEXT NOT NULL DEFAULT '',
    lifecycle_replacement_package_id      TEXT,
    lifecycle_replacement_package_version TEXT,
    lifecycle_updated_at   TEXT,
    lifecycle_updated_by   TEXT,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (package_id, package_version),
    CHECK (lifecycle_status = 'active' OR lifecycle_reason <> ''),
    CHECK ((lifecycle_replacement_package_id IS NULL) = (lifecycle_replacement_package_version IS NULL))
);

-- The public listing order (most downloaded first), matching upstream's order. Taken-down
-- packages are never listed, so the index leaves them out.
CREATE INDEX registry_packages_listing_idx
    ON registry_packages (download_count DESC, published_at_ts DESC, package_id ASC, package_version DESC)
    WHERE lifecycle_status <> 'takedown';

CREATE INDEX registry_packages_search_trgm_idx
    ON registry_packages USING GIN (search_text gin_trgm_ops);

-- Short queries (under three characters) have no trigram: they match id prefixes instead.
CREATE INDEX registry_packages_id_prefix_idx
    ON registry_packages (lower(package_id) text_pattern_ops);

CREATE INDEX registry_packages_publisher_idx
    ON registry_packages (publisher_id, published_at_ts DESC);

-- Lineage of every publication: which project and revisions produced which package version.
CREATE TABLE registry_lineages (
    package_id             TEXT NOT NULL,
    package_version        TEXT NOT NULL,
    project_ref            TEXT NOT NULL,
    product_revision_ref   TEXT NOT NULL,
    developer_revision_ref TEXT NOT NULL,
    contract_signature     TEXT NOT NULL,
    publisher_id           TEXT NOT NULL,
    publisher_type         TEXT NOT NULL,
    lineage                JSONB,
    published_at           TEXT NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (package_id, package_version),
    FOREIGN KEY (package_id, package_version)
        REFERENCES registry_packages (package_id, package_version) ON DELETE RESTRICT
);

CREATE INDEX registry_lineages_project_idx ON registry_lineages (project_ref, published_at DESC);

-- Receipts: one per package version. `issued_at` is the exact string that was signed.
CREATE TABLE registry_receipts (
    receipt_id          TEXT PRIMARY KEY,
    package_id          TEXT NOT NULL,
    package_version     TEXT NOT NULL,
    registry_signature  TEXT NOT NULL,
    signature_algorithm TEXT NOT NULL DEFAULT '',
    key_id              TEXT NOT NULL DEFAULT '',
    publisher_id        TEXT NOT NULL DEFAULT '',
    publisher_type      TEXT NOT NULL DEFAULT '',
    issued_at           TEXT NOT NULL,
    -- 'current' (with package_execution_signature) or 'legacy' (older upstream receipts).
    payload_version     TEXT NOT NULL DEFAULT 'current' CHECK (payload_version IN ('current', 'legacy')),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (package_id, package_version),
    FOREIGN KEY (package_id, package_version)
        REFERENCES registry_packages (package_id, package_version) ON DELETE RESTRICT
);

-- Public keys that verified imported receipts (from an upstream bundle's registry_keys), so
-- clients can verify those receipts too. Never a private key.
CREATE TABLE registry_imported_keys (
    key_id     TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
    public_key TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Starter templates. Like packages, content never changes.
CREATE TABLE registry_templates (
    template_id       TEXT NOT NULL CHECK (length(template_id) BETWEEN 1 AND 256),
    template_version  TEXT NOT NULL CHECK (length(template_version) BETWEEN 1 AND 128),
    template_kind     TEXT NOT NULL DEFAULT '',
    project_type      TEXT NOT NULL DEFAULT '',
    anip_spec_version TEXT NOT NULL DEFAULT '',
    domain            TEXT NOT NULL DEFAULT '',
    industry          TEXT NOT NULL DEFAULT '',
    systems           JSONB NOT NULL DEFAULT '[]'::JSONB,
    publisher_id      TEXT NOT NULL,
    publisher_type    TEXT NOT NULL,
    manifest_digest   TEXT NOT NULL,
    template_digest   TEXT NOT NULL,
    package_digest    TEXT NOT NULL,
    published_at      TEXT NOT NULL,
    published_at_ts   TIMESTAMPTZ NOT NULL,
    manifest          JSONB NOT NULL,
    template          JSONB NOT NULL,
    package           JSONB NOT NULL,
    -- The template record (without download_count) and the template package (the download),
    -- rendered once, each with the hex SHA-256 of its bytes.
    record_json       BYTEA NOT NULL,
    record_etag       TEXT NOT NULL,
    package_json      BYTEA NOT NULL,
    package_etag      TEXT NOT NULL,
    download_count    BIGINT NOT NULL DEFAULT 0 CHECK (download_count >= 0),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, template_version)
);

CREATE INDEX registry_templates_listing_idx
    ON registry_templates (download_count DESC, published_at_ts DESC, template_id ASC, template_version DESC);

-- Template receipts: upstream templates carry no signature; ours do.
CREATE TABLE registry_template_receipts (
    receipt_id          TEXT PRIMARY KEY,
    template_id         TEXT NOT NULL,
    template_version    TEXT NOT NULL,
    registry_signature  TEXT NOT NULL,
    signature_algorithm TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    publisher_id        TEXT NOT NULL,
    publisher_type      TEXT NOT NULL,
    issued_at           TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (template_id, template_version),
    FOREIGN KEY (template_id, template_version)
        REFERENCES registry_templates (template_id, template_version) ON DELETE RESTRICT
);

-- Artifact ownership: the first publisher of an id owns it; nobody else may publish under it.
CREATE TABLE registry_artifact_ownership (
    artifact_kind TEXT NOT NULL CHECK (artifact_kind IN ('package', 'template')),
    artifact_id   TEXT NOT NULL,
    publisher_id  TEXT NOT NULL REFERENCES registry_publishers (publisher_id) ON DELETE RESTRICT,
    -- The namespace that granted the claim, when one did.
    namespace     TEXT REFERENCES registry_namespaces (namespace) ON DELETE RESTRICT,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'transferred', 'suspended')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (artifact_kind, artifact_id)
);

CREATE INDEX registry_artifact_ownership_publisher_idx
    ON registry_artifact_ownership (publisher_id, artifact_kind, artifact_id);

-- Audit events, written in the same transaction as the change they record.
CREATE TABLE registry_audit_events (
    event_id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    actor              TEXT NOT NULL,
    actor_publisher_id TEXT,
    token_id           UUID,
    event_type         TEXT NOT NULL,
    target_type        TEXT NOT NULL,
    target_id          TEXT NOT NULL,
    metadata           JSONB NOT NULL DEFAULT '{}'::JSONB,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_audit_events_target_idx
    ON registry_audit_events (target_type, target_id, created_at DESC);

CREATE INDEX registry_audit_events_actor_idx
    ON registry_audit_events (actor_publisher_id, created_at DESC);

-- Counters kept in step with the rows they count (same transaction), so listing totals cost one
-- primary-key read instead of a count over every package.
CREATE TABLE registry_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL DEFAULT 0
);

INSERT INTO registry_counters (name, value) VALUES ('listed_packages', 0), ('templates', 0);

-- The generated dev-mode signing key, shared by every replica of a dev registry that has no
-- ANIP_REGISTRY_DEV_KEY_FILE. One row at most. Never used in production mode.
CREATE TABLE registry_dev_keys (
    singleton  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    key_id     TEXT NOT NULL,
    seed_b64   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
