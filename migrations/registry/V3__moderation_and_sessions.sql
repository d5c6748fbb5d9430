-- Moderation and browser sign-in: registry users (GitHub accounts), publisher memberships,
-- browser sessions, and abuse reports.

-- Users who signed in through GitHub. The GitHub account id is the identity; the login is
-- refreshed at every sign-in and is unique among current holders (a login freed by a rename
-- and taken by another account moves to the new holder), because admin rights are granted by
-- login (ANIP_REGISTRY_ADMIN_GITHUB_LOGINS).
CREATE TABLE registry_users (
    user_id        UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    github_user_id TEXT UNIQUE CHECK (github_user_id ~ '^[0-9]{1,20}$'),
    github_login   TEXT CHECK (length(github_login) BETWEEN 1 AND 100),
    display_name   TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 255),
    email          TEXT NOT NULL DEFAULT '' CHECK (length(email) <= 320),
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at  TIMESTAMPTZ
);

CREATE UNIQUE INDEX registry_users_github_login_idx
    ON registry_users (lower(github_login)) WHERE github_login IS NOT NULL;

-- The admin list's order (most recent activity first).
CREATE INDEX registry_users_activity_idx
    ON registry_users ((COALESCE(last_login_at, updated_at)) DESC, user_id);

-- The user whose sign-in created a publisher (individual publishers made from a GitHub login).
ALTER TABLE registry_publishers
    ADD COLUMN created_by_user_id UUID REFERENCES registry_users (user_id) ON DELETE SET NULL;

-- Who may act for a publisher through a browser session.
CREATE TABLE registry_publisher_memberships (
    publisher_id TEXT NOT NULL REFERENCES registry_publishers (publisher_id) ON DELETE CASCADE,
    user_id      UUID NOT NULL REFERENCES registry_users (user_id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'maintainer', 'publisher', 'viewer')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (publisher_id, user_id)
);

CREATE INDEX registry_publisher_memberships_user_idx
    ON registry_publisher_memberships (user_id, role);

-- Browser sessions: the cookie carries `anip_sid_<session_id>_<secret>`; only the SHA-256 (hex)
-- of the secret is stored, compared in constant time.
CREATE TABLE registry_browser_sessions (
    session_id   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      UUID NOT NULL REFERENCES registry_users (user_id) ON DELETE CASCADE,
    session_hash TEXT NOT NULL UNIQUE CHECK (session_hash ~ '^[0-9a-f]{64}$'),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_browser_sessions_user_idx
    ON registry_browser_sessions (user_id, expires_at);

-- Abuse reports and their review. `target_version` (ours; upstream reports name no version)
-- narrows a package report to one version, which a takedown then takes down alone.
CREATE TABLE registry_abuse_reports (
    report_id        UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    target_kind      TEXT NOT NULL CHECK (target_kind IN ('package', 'template', 'publisher', 'namespace')),
    target_id        TEXT NOT NULL CHECK (length(target_id) BETWEEN 1 AND 256),
    target_version   TEXT NOT NULL DEFAULT '' CHECK (length(target_version) <= 128),
    category         TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    reason           TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    reporter_contact TEXT NOT NULL DEFAULT '' CHECK (length(reporter_contact) <= 320),
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'reviewing', 'resolved', 'rejected')),
    resolution       TEXT NOT NULL DEFAULT '' CHECK (length(resolution) <= 2000),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX registry_abuse_reports_status_idx
    ON registry_abuse_reports (status, updated_at DESC);

CREATE INDEX registry_abuse_reports_target_idx
    ON registry_abuse_reports (target_kind, target_id, updated_at DESC);
