-- Projects and the authoring records they own. Table and column names follow upstream Studio,
-- so `anip-studio-project-snapshot/v1` records map one to one onto rows (snapshots round-trip
-- without loss). Every project-owned row goes when its project goes (ON DELETE CASCADE).

CREATE TABLE projects (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    summary             TEXT NOT NULL DEFAULT '',
    domain              TEXT NOT NULL DEFAULT '',
    labels              JSONB NOT NULL DEFAULT '[]',
    project_type        TEXT NOT NULL DEFAULT 'standard'
                        CHECK (project_type IN ('standard', 'governed_service_project')),
    integration_profile JSONB NOT NULL DEFAULT '{"kind":"none","systems":[]}',
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX projects_workspace_idx ON projects (workspace_id, updated_at DESC);

-- Backend systems a workspace talks to. Secrets are never stored: `secret_ref` names one
-- (an environment variable, a vault path).
CREATE TABLE workspace_connections (
    id                    TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    display_name          TEXT NOT NULL,
    backend_kind          TEXT NOT NULL CHECK (backend_kind IN ('native_api', 'mcp', 'database', 'hybrid')),
    system_kind           TEXT NOT NULL DEFAULT '',
    endpoint_ref          TEXT NOT NULL DEFAULT '',
    auth_mode             TEXT NOT NULL CHECK (auth_mode IN ('user_delegated', 'service_delegated', 'external')),
    identity_provider_ref TEXT NOT NULL DEFAULT '',
    secret_ref            TEXT NOT NULL DEFAULT '',
    allowed_project_refs  JSONB NOT NULL DEFAULT '[]',
    metadata              JSONB NOT NULL DEFAULT '{}',
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workspace_connections_workspace_idx ON workspace_connections (workspace_id, updated_at DESC);

-- "What matters": at most one primary set per project.
CREATE TABLE requirements_sets (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    role         TEXT NOT NULL DEFAULT 'alternative' CHECK (role IN ('primary', 'alternative')),
    data         JSONB NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX requirements_sets_project_idx ON requirements_sets (project_id, created_at);
CREATE UNIQUE INDEX requirements_sets_one_primary ON requirements_sets (project_id) WHERE role = 'primary';

-- "Real situations".
CREATE TABLE scenarios (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    data         JSONB NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX scenarios_project_idx ON scenarios (project_id, created_at);

-- Observed service metadata (kept for snapshot fidelity).
CREATE TABLE service_metadata_artifacts (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('draft', 'active', 'archived')),
    data         JSONB NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX service_metadata_artifacts_project_idx ON service_metadata_artifacts (project_id, created_at);

-- Backend operations discovered behind a workspace connection.
CREATE TABLE integration_discovery_records (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    connection_id        TEXT REFERENCES workspace_connections(id) ON DELETE SET NULL,
    operation_id         TEXT NOT NULL,
    backend_kind         TEXT NOT NULL CHECK (backend_kind IN ('native_api', 'mcp', 'database', 'hybrid')),
    method               TEXT NOT NULL DEFAULT '',
    path_template        TEXT NOT NULL DEFAULT '',
    side_effect_level    TEXT NOT NULL DEFAULT 'read',
    input_schema_summary JSONB NOT NULL DEFAULT '{}',
    risk_notes           JSONB NOT NULL DEFAULT '[]',
    data                 JSONB NOT NULL DEFAULT '{}',
    content_hash         TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX integration_discovery_records_project_idx ON integration_discovery_records (project_id, created_at);

-- Product and developer design records. `data.artifact_type` says what a row is: the six
-- product sections, `product_design_revision`, `developer_baseline`, `developer_definition`,
-- `developer_definition_revision`, `developer_registry_publication`, assistant acceptances, ...
CREATE TABLE pm_artifacts (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'frozen' CHECK (status IN ('draft', 'active', 'frozen', 'archived')),
    data            JSONB NOT NULL,
    content_hash    TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    artifact_type   TEXT GENERATED ALWAYS AS (data ->> 'artifact_type') STORED,
    -- Revision numbers of the two immutable revision kinds, for the uniqueness below.
    revision_number BIGINT GENERATED ALWAYS AS (
        CASE
            WHEN data ->> 'artifact_type' = 'product_design_revision'
                 AND jsonb_typeof(data -> 'revision_number') = 'number'
                THEN (data ->> 'revision_number')::numeric::bigint
            WHEN data ->> 'artifact_type' = 'developer_definition_revision'
                 AND jsonb_typeof(data #> '{saved_revision,revision_number}') = 'number'
                THEN (data #>> '{saved_revision,revision_number}')::numeric::bigint
        END
    ) STORED
);
CREATE INDEX pm_artifacts_project_idx ON pm_artifacts (project_id, created_at);
CREATE INDEX pm_artifacts_type_idx ON pm_artifacts (project_id, artifact_type);
-- Two saves racing for the same revision number: exactly one insert wins.
CREATE UNIQUE INDEX pm_artifacts_one_revision_number
    ON pm_artifacts (project_id, artifact_type, revision_number)
    WHERE revision_number IS NOT NULL;

-- Frozen revisions never change (they may only disappear with their project).
CREATE FUNCTION studio_refuse_revision_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.data ->> 'artifact_type' IN ('product_design_revision', 'developer_definition_revision') THEN
        RAISE EXCEPTION 'frozen revision % is immutable', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'studio_revision_immutable';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER pm_artifacts_revisions_immutable
    BEFORE UPDATE ON pm_artifacts
    FOR EACH ROW EXECUTE FUNCTION studio_refuse_revision_update();

-- Older upstream service proposals (kept for snapshot fidelity).
CREATE TABLE proposals (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    requirements_id TEXT NOT NULL REFERENCES requirements_sets(id),
    title           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    data            JSONB NOT NULL,
    content_hash    TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX proposals_project_idx ON proposals (project_id, created_at);

-- The service design; checked for internal consistency on every write.
CREATE TABLE shapes (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    requirements_id TEXT NOT NULL REFERENCES requirements_sets(id),
    title           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    data            JSONB NOT NULL,
    content_hash    TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX shapes_project_idx ON shapes (project_id, created_at);

-- Evaluations freeze the content hashes of their inputs; "stale" once an input changes.
CREATE TABLE evaluations (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    proposal_id          TEXT REFERENCES proposals(id),
    scenario_id          TEXT NOT NULL REFERENCES scenarios(id),
    requirements_id      TEXT NOT NULL REFERENCES requirements_sets(id),
    shape_id             TEXT REFERENCES shapes(id),
    result               TEXT NOT NULL CHECK (result IN ('HANDLED', 'PARTIAL', 'REQUIRES_GLUE')),
    source               TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ('live_validation', 'imported', 'manual')),
    data                 JSONB NOT NULL,
    input_snapshot       JSONB NOT NULL,
    requirements_hash    TEXT NOT NULL DEFAULT '',
    proposal_hash        TEXT NOT NULL DEFAULT '',
    scenario_hash        TEXT NOT NULL DEFAULT '',
    shape_hash           TEXT NOT NULL DEFAULT '',
    derived_expectations JSONB,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX evaluations_project_idx ON evaluations (project_id, created_at);

-- Saved developer drafts of the older upstream editors (kept for snapshot fidelity).
CREATE TABLE data_access_projects (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    studio_project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    state             JSONB NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX data_access_projects_project_idx ON data_access_projects (studio_project_id);

CREATE TABLE application_integration_projects (
    id                TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    studio_project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    state             JSONB NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX application_integration_projects_project_idx ON application_integration_projects (studio_project_id);
