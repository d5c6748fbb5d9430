-- Workspaces are Studio's top-level containers; a `default` one always exists.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    summary     TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO workspaces (id, name, summary)
VALUES ('default', 'Default workspace', 'Created with the database.');
