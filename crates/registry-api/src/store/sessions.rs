//! GitHub sign-in and browser sessions. A session is stored as the SHA-256 of its secret only.

use serde_json::json;

use super::users::{user_at, RegistryUser, USER_COLUMNS};
use super::{audit, Actor, Store, StoreError};

/// The GitHub account that completed an OAuth sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubIdentity {
    /// GitHub's numeric account id, as text.
    pub github_user_id: String,
    pub login: String,
    pub display_name: String,
    pub email: String,
    /// `https://github.com/<login>`, when GitHub gave one.
    pub profile_url: String,
}

/// What a sign-in did.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// A session was created for the user, who acts for `publisher_id`.
    Created {
        session_id: String,
        user: Box<RegistryUser>,
        publisher_id: String,
    },
    /// The user is suspended: no session.
    UserSuspended,
    /// Neither the login's publisher id nor `github-<id>` is free or the user's own.
    NoPublisherId,
}

/// A live (unrevoked, unexpired) session as stored.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The SHA-256 (hex) of the session secret.
    pub session_hash: String,
    pub user: RegistryUser,
    /// The publisher the session acts for: the user's membership, active publishers and
    /// stronger roles first.
    pub publisher_id: Option<String>,
}

/// The publisher id a GitHub login maps to (upstream's rule): lower-cased, runs of anything but
/// letters, digits and `-` become `-`, trimmed of `-`; `github-<id>` when nothing is left.
pub fn publisher_id_for_login(login: &str, github_user_id: &str) -> String {
    let mut out = String::with_capacity(login.len());
    let mut in_run = false;
    for c in login.trim().to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        format!("github-{github_user_id}")
    } else {
        trimmed.chars().take(128).collect()
    }
}

impl Store {
    /// Records a GitHub sign-in in one transaction: creates or refreshes the user (the login
    /// moves to this account if another one held it), finds or creates the user's individual
    /// publisher and owner membership, and stores a session that expires after `ttl`.
    pub async fn github_login(
        &self,
        identity: GitHubIdentity,
        session_hash: String,
        ttl: std::time::Duration,
    ) -> Result<LoginOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE registry_users SET github_login = NULL, updated_at = now() \
             WHERE lower(github_login) = lower($2) AND github_user_id IS DISTINCT FROM $1",
            &[&identity.github_user_id, &identity.login],
        )
        .await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO registry_users AS u (github_user_id, github_login, display_name, email, last_login_at) \
                     VALUES ($1, $2, $3, $4, now()) \
                     ON CONFLICT (github_user_id) DO UPDATE SET github_login = EXCLUDED.github_login, \
                     display_name = EXCLUDED.display_name, email = EXCLUDED.email, updated_at = now(), \
                     last_login_at = now() RETURNING {USER_COLUMNS}"
                ),
                &[
                    &identity.github_user_id,
                    &identity.login,
                    &identity.display_name,
                    &identity.email,
                ],
            )
            .await?;
        let user = user_at(&row, 0);
        if user.status != "active" {
            return Ok(LoginOutcome::UserSuspended);
        }
        let actor = Actor {
            actor: format!("github:{}", identity.login),
            publisher_id: None,
            token_id: None,
        };
        let Some(publisher_id) = ensure_user_publisher(&tx, &user, &identity, &actor).await? else {
            return Ok(LoginOutcome::NoPublisherId);
        };
        tx.execute(
            "INSERT INTO registry_publisher_memberships (publisher_id, user_id, role) \
             VALUES ($1, CAST($2 AS text)::uuid, 'owner') \
             ON CONFLICT (publisher_id, user_id) DO UPDATE SET role = 'owner', updated_at = now()",
            &[&publisher_id, &user.user_id],
        )
        .await?;
        // Dead sessions of this user go now, so the table does not grow with every sign-in.
        tx.execute(
            "DELETE FROM registry_browser_sessions WHERE user_id = CAST($1 AS text)::uuid \
             AND (expires_at <= now() OR revoked_at IS NOT NULL)",
            &[&user.user_id],
        )
        .await?;
        let ttl_seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let session_id: String = tx
            .query_one(
                "INSERT INTO registry_browser_sessions (user_id, session_hash, expires_at) \
                 VALUES (CAST($1 AS text)::uuid, $2, now() + $3::bigint * interval '1 second') \
                 RETURNING session_id::text",
                &[&user.user_id, &session_hash, &ttl_seconds],
            )
            .await?
            .get(0);
        audit(
            &tx,
            &Actor {
                publisher_id: Some(publisher_id.clone()),
                ..actor
            },
            "user.signed_in",
            "user",
            &user.user_id,
            &json!({"github_login": identity.login, "session_id": session_id}),
        )
        .await?;
        tx.commit().await?;
        Ok(LoginOutcome::Created {
            session_id,
            user: Box::new(user),
            publisher_id,
        })
    }

    /// A live session by id (`session_id` must be a UUID), with its user whatever the user's
    /// status; `None` when unknown, revoked or expired.
    pub async fn browser_session(
        &self,
        session_id: &str,
    ) -> Result<Option<SessionRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT s.session_hash, {USER_COLUMNS}, m.publisher_id \
                 FROM registry_browser_sessions s JOIN registry_users u ON u.user_id = s.user_id \
                 LEFT JOIN LATERAL ( \
                   SELECT m.publisher_id FROM registry_publisher_memberships m \
                   JOIN registry_publishers p ON p.publisher_id = m.publisher_id \
                   WHERE m.user_id = u.user_id AND m.role <> 'viewer' \
                   ORDER BY (p.status = 'active') DESC, \
                   CASE m.role WHEN 'owner' THEN 1 WHEN 'maintainer' THEN 2 ELSE 3 END, m.publisher_id \
                   LIMIT 1) m ON TRUE \
                 WHERE s.session_id = CAST($1 AS text)::uuid AND s.revoked_at IS NULL AND s.expires_at > now()"
            ))
            .await?;
        Ok(client
            .query_opt(&stmt, &[&session_id])
            .await?
            .map(|row| SessionRow {
                session_hash: row.get(0),
                user: user_at(&row, 1),
                publisher_id: row.get(10),
            }))
    }

    /// Revokes a session (idempotent); `false` when no session has that id and hash.
    pub async fn revoke_browser_session(
        &self,
        session_id: &str,
        session_hash: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "UPDATE registry_browser_sessions SET revoked_at = COALESCE(revoked_at, now()), \
                 updated_at = now() WHERE session_id = CAST($1 AS text)::uuid AND session_hash = $2",
                &[&session_id, &session_hash],
            )
            .await?
            > 0)
    }
}

/// The user's individual publisher: the one their sign-in created before, else the login's
/// publisher id or `github-<id>`, created if free or kept if it is already the user's. `None`
/// when both ids belong to someone else.
async fn ensure_user_publisher(
    tx: &tokio_postgres::Transaction<'_>,
    user: &RegistryUser,
    identity: &GitHubIdentity,
    actor: &Actor,
) -> Result<Option<String>, StoreError> {
    // A renamed GitHub account keeps its publisher (upstream made a second one).
    if let Some(row) = tx
        .query_opt(
            "SELECT publisher_id FROM registry_publishers WHERE created_by_user_id = CAST($1 AS text)::uuid \
             ORDER BY created_at, publisher_id LIMIT 1",
            &[&user.user_id],
        )
        .await?
    {
        return Ok(Some(row.get(0)));
    }
    let candidates = [
        publisher_id_for_login(&identity.login, &identity.github_user_id),
        format!("github-{}", identity.github_user_id),
    ];
    let description = if identity.profile_url.is_empty() {
        "Individual publisher created from GitHub login.".to_owned()
    } else {
        format!(
            "Individual publisher linked to GitHub profile {}.",
            identity.profile_url
        )
    };
    let display_name: String = user.display_name.chars().take(120).collect();
    for candidate in candidates {
        let created = tx
            .execute(
                "INSERT INTO registry_publishers (publisher_id, publisher_type, display_name, description, \
                 website_url, status, trust_level, created_by_user_id) \
                 VALUES ($1, 'individual', $2, $3, $4, 'active', 'unverified', CAST($5 AS text)::uuid) \
                 ON CONFLICT (publisher_id) DO NOTHING",
                &[
                    &candidate,
                    &display_name,
                    &description,
                    &identity.profile_url,
                    &user.user_id,
                ],
            )
            .await?;
        if created > 0 {
            audit(
                tx,
                actor,
                "publisher.created",
                "publisher",
                &candidate,
                &json!({"publisher_type": "individual", "created_by_user_id": user.user_id}),
            )
            .await?;
            return Ok(Some(candidate));
        }
        let ours = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM registry_publishers WHERE publisher_id = $1 \
                 AND created_by_user_id = CAST($2 AS text)::uuid) \
                 OR EXISTS (SELECT 1 FROM registry_publisher_memberships WHERE publisher_id = $1 \
                 AND user_id = CAST($2 AS text)::uuid)",
                &[&candidate, &user.user_id],
            )
            .await?
            .get::<_, bool>(0);
        if ours {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_ids_from_logins() {
        assert_eq!(publisher_id_for_login("Samir-Labs", "1"), "samir-labs");
        assert_eq!(publisher_id_for_login("a_b..c", "1"), "a-b-c");
        assert_eq!(publisher_id_for_login("--x--", "1"), "x");
        assert_eq!(publisher_id_for_login("___", "42"), "github-42");
    }
}
