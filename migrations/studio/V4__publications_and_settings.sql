-- Immutable Studio-local package records: one per project, package and version.
CREATE TABLE local_publications (
    id                     TEXT PRIMARY KEY,
    project_id             TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    package_id             TEXT NOT NULL,
    package_version        TEXT NOT NULL,
    project_ref            TEXT NOT NULL,
    product_revision_ref   TEXT NOT NULL,
    developer_revision_ref TEXT NOT NULL,
    contract_signature     TEXT NOT NULL,
    schema_version         TEXT NOT NULL,
    manifest_digest        TEXT NOT NULL,
    definition_digest      TEXT NOT NULL,
    package_record         JSONB NOT NULL,
    receipt                JSONB NOT NULL,
    authority              TEXT NOT NULL DEFAULT 'local-studio',
    published_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT local_publications_one_version UNIQUE (project_id, package_id, package_version)
);
CREATE INDEX local_publications_project_idx ON local_publications (project_id, published_at DESC);

CREATE FUNCTION studio_refuse_publication_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'local publication % is immutable', OLD.id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'studio_publication_immutable';
END
$$;
CREATE TRIGGER local_publications_immutable
    BEFORE UPDATE ON local_publications
    FOR EACH ROW EXECUTE FUNCTION studio_refuse_publication_update();

-- Settings changed from the UI or API. Settings given in the environment win and are locked;
-- secrets (tokens, API keys) are never stored here.
CREATE TABLE studio_settings (
    key        TEXT PRIMARY KEY,
    value      JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Where an imported project came from: the snapshot envelope that records do not carry, so an
-- export gives back what was imported, and showcase seeding can skip unchanged snapshots.
CREATE TABLE project_snapshot_sources (
    project_id         TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    snapshot_id        TEXT NOT NULL DEFAULT '',
    source             TEXT NOT NULL DEFAULT '',
    exported_at        TEXT NOT NULL DEFAULT '',
    published_packages JSONB NOT NULL DEFAULT '[]',
    snapshot_sha256    TEXT NOT NULL DEFAULT '',
    imported_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
