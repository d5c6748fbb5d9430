-- The runtime's ES256 keys (one for tokens and the manifest, one for audit and checkpoints).
-- Kept in the database so that every replica signs with the same keys and a restart keeps them.
CREATE TABLE runtime_signing_keys (
    purpose     TEXT PRIMARY KEY CHECK (purpose IN ('sig', 'audit')),
    kid         TEXT NOT NULL UNIQUE,
    pkcs8       BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
