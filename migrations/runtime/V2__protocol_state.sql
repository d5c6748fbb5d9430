-- Durable protocol state shared by every replica: tokens, the audit log and its append head,
-- checkpoints, leases, approval requests and grants.

-- Delegation tokens. The JWT is never stored: only the claims that a presented token must match.
CREATE TABLE runtime_tokens (
    token_id         TEXT PRIMARY KEY,
    issuer           TEXT NOT NULL,
    subject          TEXT NOT NULL,
    scope            JSONB NOT NULL,
    purpose          JSONB NOT NULL,
    parent_token_id  TEXT REFERENCES runtime_tokens (token_id),
    root_principal   TEXT NOT NULL,
    constraints      JSONB NOT NULL,
    caller_class     TEXT,
    session_id       TEXT,
    issued_at        TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX runtime_tokens_parent ON runtime_tokens (parent_token_id);

-- The append-only, hash-chained audit log. `canonical` holds the exact bytes that were hashed
-- (the entry without `signature`), so the chain and Merkle leaves are recomputed from storage
-- byte for byte. The other columns are copies used for filtering.
CREATE TABLE runtime_audit_log (
    sequence_number       BIGINT PRIMARY KEY CHECK (sequence_number > 0),
    canonical             TEXT NOT NULL,
    entry_hash            TEXT NOT NULL,
    previous_hash         TEXT NOT NULL,
    signature             TEXT NOT NULL,
    leaf_hash             BYTEA NOT NULL,
    recorded_at           TIMESTAMPTZ NOT NULL,
    root_principal        TEXT,
    capability            TEXT,
    invocation_id         TEXT,
    client_reference_id   TEXT,
    task_id               TEXT,
    parent_invocation_id  TEXT,
    event_class           TEXT,
    expires_at            TIMESTAMPTZ
);
CREATE INDEX runtime_audit_principal ON runtime_audit_log (root_principal, sequence_number DESC);
CREATE INDEX runtime_audit_invocation ON runtime_audit_log (invocation_id);
CREATE INDEX runtime_audit_task ON runtime_audit_log (task_id);
CREATE INDEX runtime_audit_expiry ON runtime_audit_log (expires_at);

-- The single row every append locks (SELECT ... FOR UPDATE) to take the next sequence number
-- and the previous hash: appends from all replicas are serialized here, so the sequence has no
-- gaps and the chain no forks, and retention may delete old rows without breaking either.
CREATE TABLE runtime_audit_head (
    id             SMALLINT PRIMARY KEY CHECK (id = 1),
    last_sequence  BIGINT NOT NULL,
    last_hash      TEXT NOT NULL
);
INSERT INTO runtime_audit_head (id, last_sequence, last_hash) VALUES (1, 0, 'sha256:0');

-- Cumulative checkpoints (ckpt-N covers sequence 1..last_sequence). `body` is the exact signed
-- canonical JSON. `frontier` holds the roots of the perfect subtrees of the Merkle tree at
-- `last_sequence` (largest first), so the next checkpoint needs only the entries after this one
-- and retention can delete checkpointed entries.
CREATE TABLE runtime_checkpoints (
    number          BIGINT PRIMARY KEY,
    checkpoint_id   TEXT NOT NULL UNIQUE,
    body            TEXT NOT NULL,
    signature       TEXT NOT NULL,
    last_sequence   BIGINT NOT NULL,
    merkle_root     TEXT NOT NULL,
    frontier        JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Leases: background roles (one checkpoint producer, one retention sweeper) and exclusive
-- invocation locks per root principal. A lease is taken when free or expired, renewed by its
-- holder, and taken over by another replica once it expires.
CREATE TABLE runtime_leases (
    lease_key   TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE runtime_approval_requests (
    approval_request_id          TEXT PRIMARY KEY,
    capability                   TEXT NOT NULL,
    scope                        JSONB NOT NULL,
    requester                    JSONB NOT NULL,
    parent_invocation_id         TEXT,
    preview                      JSONB NOT NULL,
    preview_digest               TEXT NOT NULL,
    requested_parameters         JSONB NOT NULL,
    requested_parameters_digest  TEXT NOT NULL,
    grant_policy                 JSONB NOT NULL,
    status                       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    approver                     JSONB,
    decided_at                   TIMESTAMPTZ,
    created_at                   TIMESTAMPTZ NOT NULL,
    expires_at                   TIMESTAMPTZ NOT NULL
);

CREATE TABLE runtime_approval_grants (
    grant_id                     TEXT PRIMARY KEY,
    approval_request_id          TEXT NOT NULL UNIQUE REFERENCES runtime_approval_requests (approval_request_id),
    grant_type                   TEXT NOT NULL CHECK (grant_type IN ('one_time', 'session_bound')),
    capability                   TEXT NOT NULL,
    scope                        JSONB NOT NULL,
    approved_parameters_digest   TEXT NOT NULL,
    preview_digest               TEXT NOT NULL,
    requester                    JSONB NOT NULL,
    approver                     JSONB NOT NULL,
    issued_at                    TIMESTAMPTZ NOT NULL,
    expires_at                   TIMESTAMPTZ NOT NULL,
    max_uses                     INTEGER NOT NULL CHECK (max_uses > 0),
    use_count                    INTEGER NOT NULL DEFAULT 0 CHECK (use_count <= max_uses),
    session_id                   TEXT,
    signature                    TEXT NOT NULL
);
