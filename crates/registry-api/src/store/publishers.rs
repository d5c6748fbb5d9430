//! Publishers, namespaces, publish tokens and artifact ownership.

use serde_json::json;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use super::{like_escape, rfc3339, Actor, AdminList, Event, Store, StoreError};
use crate::model::{ArtifactSummary, NamespaceSummary, Page, Publisher, TokenScopes, TokenSummary};

/// A publish token as stored (the hash, never the secret).
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub token_id: String,
    pub token_hash: String,
    pub publisher_id: String,
    pub publisher_type: String,
    pub publisher_status: String,
    pub scopes: TokenScopes,
    pub expired: bool,
    pub revoked: bool,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub publisher_id: String,
    pub token_hash: String,
    pub label: String,
    pub scopes: TokenScopes,
    pub expires_at: Option<time::OffsetDateTime>,
}

/// Who owns an artifact id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRow {
    pub publisher_id: String,
    pub status: String,
}

/// A namespace as ownership decisions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRow {
    pub namespace: String,
    pub publisher_id: String,
    pub status: String,
    pub artifact_kinds: Vec<String>,
}

/// A self-service profile update: `None` leaves a field unchanged, `Some("")` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub website_url: Option<String>,
}

/// A publisher status change requested by an admin.
#[derive(Debug, Clone)]
pub struct PublisherStatusChange {
    pub status: String,
    pub trust_level: Option<String>,
    pub reason: String,
}

const PUBLISHER_COLUMNS: &str =
    "publisher_id, publisher_type, display_name, description, website_url, \
    status, trust_level, created_at, updated_at";

fn publisher(row: &Row) -> Publisher {
    Publisher {
        publisher_id: row.get(0),
        publisher_type: row.get(1),
        display_name: row.get(2),
        description: row.get(3),
        website_url: row.get(4),
        status: row.get(5),
        trust_level: row.get(6),
        created_at: rfc3339(row.get(7)),
        updated_at: rfc3339(row.get(8)),
    }
}

pub(super) const NAMESPACE_COLUMNS: &str =
    "namespace, publisher_id, artifact_kinds, status, created_at, updated_at";

pub(super) fn namespace(row: &Row) -> NamespaceSummary {
    NamespaceSummary {
        namespace: row.get(0),
        publisher_id: row.get(1),
        artifact_kinds: row.get(2),
        status: row.get(3),
        created_at: rfc3339(row.get(4)),
        updated_at: rfc3339(row.get(5)),
    }
}

const TOKEN_COLUMNS: &str =
    "token_id::text, publisher_id, label, scopes, expires_at, last_used_at, \
    revoked_at, created_at, updated_at";

fn token(row: &Row) -> TokenSummary {
    let Json(scopes): Json<TokenScopes> = row.get(3);
    let optional = |index: usize| {
        row.get::<_, Option<time::OffsetDateTime>>(index)
            .map(rfc3339)
            .unwrap_or_default()
    };
    TokenSummary {
        token_id: row.get(0),
        publisher_id: row.get(1),
        label: row.get(2),
        scopes,
        expires_at: optional(4),
        last_used_at: optional(5),
        revoked_at: optional(6),
        created_at: rfc3339(row.get(7)),
        updated_at: rfc3339(row.get(8)),
    }
}

pub(super) const ARTIFACT_COLUMNS: &str =
    "artifact_kind, artifact_id, COALESCE(namespace, ''), publisher_id, status, \
    created_at, updated_at";

pub(super) fn artifact(row: &Row) -> ArtifactSummary {
    ArtifactSummary {
        artifact_kind: row.get(0),
        artifact_id: row.get(1),
        namespace: row.get(2),
        publisher_id: row.get(3),
        status: row.get(4),
        created_at: rfc3339(row.get(5)),
        updated_at: rfc3339(row.get(6)),
    }
}

/// The statuses a publisher can have (the table's CHECK constraint).
pub const PUBLISHER_STATUSES: [&str; 3] = ["active", "pending_review", "suspended"];
/// The statuses a namespace claim can have.
pub const NAMESPACE_STATUSES: [&str; 5] = [
    "pending_verification",
    "active",
    "reserved",
    "suspended",
    "rejected",
];
/// The statuses an artifact ownership can have.
pub const ARTIFACT_STATUSES: [&str; 3] = ["active", "transferred", "suspended"];

/// Search/status filters and paging of the admin lists.
#[derive(Debug, Clone, Default)]
pub struct AdminQuery {
    pub search: String,
    pub status: String,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    /// Creates the publisher if it does not exist (the configured first-party publisher at
    /// start-up). An existing row, including its status, is left alone.
    pub async fn ensure_publisher(
        &self,
        publisher_id: &str,
        publisher_type: &str,
        trust_level: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO registry_publishers (publisher_id, publisher_type, display_name, trust_level) \
                 VALUES ($1, $2, $1, $3) ON CONFLICT (publisher_id) DO NOTHING",
                &[&publisher_id, &publisher_type, &trust_level],
            )
            .await?;
        Ok(())
    }

    /// Creates a publisher; `None` if the id is taken.
    pub async fn create_publisher(
        &self,
        publisher_id: String,
        publisher_type: String,
        display_name: String,
        actor: Actor,
    ) -> Result<Option<Publisher>, StoreError> {
        let sql = format!(
            "INSERT INTO registry_publishers (publisher_id, publisher_type, display_name) \
             VALUES ($1, $2, $3) ON CONFLICT (publisher_id) DO NOTHING RETURNING {PUBLISHER_COLUMNS}"
        );
        let event = Event::new(
            actor,
            "publisher.created",
            "publisher",
            &publisher_id,
            json!({"publisher_type": publisher_type}),
        );
        self.write_audited(
            &sql,
            &[&publisher_id, &publisher_type, &display_name],
            |row| (publisher(row), event),
        )
        .await
    }

    /// A publisher by id.
    pub async fn publisher(&self, publisher_id: &str) -> Result<Option<Publisher>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {PUBLISHER_COLUMNS} FROM registry_publishers WHERE publisher_id = $1"
            ))
            .await?;
        Ok(client
            .query_opt(&stmt, &[&publisher_id])
            .await?
            .as_ref()
            .map(publisher))
    }

    /// A publisher's status (`None` when the publisher does not exist).
    pub async fn publisher_status(&self, publisher_id: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT status FROM registry_publishers WHERE publisher_id = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&publisher_id])
            .await?
            .map(|row| row.get(0)))
    }

    /// Updates the self-service profile fields of an active publisher that `change` sets,
    /// leaving the others as they are.
    pub async fn update_publisher_profile(
        &self,
        publisher_id: String,
        change: ProfileChange,
        actor: Actor,
    ) -> Result<Option<Publisher>, StoreError> {
        let sql = format!(
            "UPDATE registry_publishers SET display_name = COALESCE($2, display_name), \
             description = COALESCE($3, description), website_url = COALESCE($4, website_url), \
             updated_at = now() WHERE publisher_id = $1 AND status = 'active' RETURNING {PUBLISHER_COLUMNS}"
        );
        let event = Event::new(
            actor,
            "publisher.updated",
            "publisher",
            &publisher_id,
            json!({"display_name": change.display_name, "website_url": change.website_url}),
        )
        .shown_in_listings();
        self.write_audited(
            &sql,
            &[
                &publisher_id,
                &change.display_name,
                &change.description,
                &change.website_url,
            ],
            |row| (publisher(row), event),
        )
        .await
    }

    /// Sets a publisher's status (and trust level).
    pub async fn set_publisher_status(
        &self,
        publisher_id: String,
        change: PublisherStatusChange,
        actor: Actor,
    ) -> Result<Option<Publisher>, StoreError> {
        let sql = format!(
            "UPDATE registry_publishers SET status = $2, trust_level = COALESCE($3, trust_level), \
             status_reason = $4, updated_at = now() WHERE publisher_id = $1 RETURNING {PUBLISHER_COLUMNS}"
        );
        let event = Event::new(
            actor,
            "publisher.status_updated",
            "publisher",
            &publisher_id,
            json!({"status": change.status, "trust_level": change.trust_level, "reason": change.reason}),
        )
        .shown_in_listings();
        self.write_audited(
            &sql,
            &[
                &publisher_id,
                &change.status,
                &change.trust_level,
                &change.reason,
            ],
            |row| (publisher(row), event),
        )
        .await
    }

    /// The admin publisher list.
    pub async fn list_publishers(&self, query: &AdminQuery) -> Result<Page<Publisher>, StoreError> {
        let list = AdminList {
            table: "registry_publishers",
            columns: PUBLISHER_COLUMNS,
            search_in: &["publisher_id", "display_name"],
            status: "status",
            order: "CASE status WHEN 'pending_review' THEN 0 WHEN 'suspended' THEN 1 ELSE 2 END, \
                    updated_at DESC, publisher_id",
        };
        self.admin_page(&list, query, publisher).await
    }

    /// A publisher's namespaces.
    pub async fn publisher_namespaces(
        &self,
        publisher_id: &str,
    ) -> Result<Vec<NamespaceSummary>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {NAMESPACE_COLUMNS} FROM registry_namespaces WHERE publisher_id = $1 ORDER BY namespace"),
                &[&publisher_id],
            )
            .await?;
        Ok(rows.iter().map(namespace).collect())
    }

    /// The namespaces among `candidates` (exact names), for ownership decisions.
    pub async fn namespaces_named(
        &self,
        candidates: &[String],
    ) -> Result<Vec<NamespaceRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT namespace, publisher_id, status, artifact_kinds FROM registry_namespaces \
                 WHERE namespace = ANY($1)",
            )
            .await?;
        let rows = client.query(&stmt, &[&candidates]).await?;
        Ok(rows
            .iter()
            .map(|row| NamespaceRow {
                namespace: row.get(0),
                publisher_id: row.get(1),
                status: row.get(2),
                artifact_kinds: row.get(3),
            })
            .collect())
    }

    /// Namespaces strictly inside `namespace` (`namespace/...`) that belong to other publishers.
    pub async fn foreign_namespaces_inside(
        &self,
        namespace: &str,
        publisher_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let pattern = format!("{}/%", like_escape(namespace));
        let rows = client
            .query(
                "SELECT namespace FROM registry_namespaces WHERE namespace LIKE $1 AND publisher_id <> $2 \
                 AND status IN ('active', 'reserved', 'suspended') ORDER BY namespace LIMIT 5",
                &[&pattern, &publisher_id],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Artifact ids in `namespace` (the name itself or `namespace/...`) owned by other
    /// publishers.
    pub async fn foreign_artifacts_inside(
        &self,
        namespace: &str,
        publisher_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let pattern = format!("{}/%", like_escape(namespace));
        let rows = client
            .query(
                "SELECT artifact_id FROM registry_artifact_ownership \
                 WHERE (artifact_id = $1 OR artifact_id LIKE $2) AND publisher_id <> $3 \
                 ORDER BY artifact_id LIMIT 5",
                &[&namespace, &pattern, &publisher_id],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Claims a namespace for a publisher as `pending_verification`; `None` if it exists.
    pub async fn claim_namespace(
        &self,
        publisher_id: String,
        namespace_name: String,
        artifact_kinds: Vec<String>,
        actor: Actor,
    ) -> Result<Option<NamespaceSummary>, StoreError> {
        let sql = format!(
            "INSERT INTO registry_namespaces (namespace, publisher_id, artifact_kinds, status) \
             VALUES ($1, $2, $3, 'pending_verification') ON CONFLICT (namespace) DO NOTHING \
             RETURNING {NAMESPACE_COLUMNS}"
        );
        let event = Event::new(
            actor,
            "namespace.claimed",
            "namespace",
            &namespace_name,
            json!({"artifact_kinds": artifact_kinds, "publisher_id": publisher_id}),
        );
        self.write_audited(
            &sql,
            &[&namespace_name, &publisher_id, &artifact_kinds],
            |row| (namespace(row), event),
        )
        .await
    }

    /// Sets a namespace's status.
    pub async fn set_namespace_status(
        &self,
        namespace_name: String,
        status: String,
        reason: String,
        actor: Actor,
    ) -> Result<Option<NamespaceSummary>, StoreError> {
        let sql = format!(
            "UPDATE registry_namespaces SET status = $2, status_reason = $3, updated_at = now() \
             WHERE namespace = $1 RETURNING {NAMESPACE_COLUMNS}"
        );
        let event = Event::new(
            actor,
            "namespace.status_updated",
            "namespace",
            &namespace_name,
            json!({"status": status, "reason": reason}),
        );
        self.write_audited(&sql, &[&namespace_name, &status, &reason], |row| {
            (namespace(row), event)
        })
        .await
    }

    /// The admin namespace list.
    pub async fn list_namespaces(
        &self,
        query: &AdminQuery,
    ) -> Result<Page<NamespaceSummary>, StoreError> {
        let list = AdminList {
            table: "registry_namespaces",
            columns: NAMESPACE_COLUMNS,
            search_in: &["namespace", "publisher_id"],
            status: "status",
            order: "CASE status WHEN 'pending_verification' THEN 0 WHEN 'suspended' THEN 1 \
                    WHEN 'rejected' THEN 2 WHEN 'reserved' THEN 3 ELSE 4 END, updated_at DESC, namespace",
        };
        self.admin_page(&list, query, namespace).await
    }

    /// The owner of an artifact id.
    pub async fn owner(
        &self,
        kind: &str,
        artifact_id: &str,
    ) -> Result<Option<OwnerRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT publisher_id, status FROM registry_artifact_ownership \
                 WHERE artifact_kind = $1 AND artifact_id = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&kind, &artifact_id])
            .await?
            .map(|row| OwnerRow {
                publisher_id: row.get(0),
                status: row.get(1),
            }))
    }

    /// A publisher's artifacts.
    pub async fn publisher_artifacts(
        &self,
        publisher_id: &str,
    ) -> Result<Vec<ArtifactSummary>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ARTIFACT_COLUMNS} FROM registry_artifact_ownership WHERE publisher_id = $1 \
                     ORDER BY artifact_kind, artifact_id"
                ),
                &[&publisher_id],
            )
            .await?;
        Ok(rows.iter().map(artifact).collect())
    }

    /// The admin artifact list.
    pub async fn list_artifacts(
        &self,
        query: &AdminQuery,
    ) -> Result<Page<ArtifactSummary>, StoreError> {
        let list = AdminList {
            table: "registry_artifact_ownership",
            columns: ARTIFACT_COLUMNS,
            search_in: &["artifact_id", "publisher_id"],
            status: "status",
            order: "updated_at DESC, artifact_kind, artifact_id",
        };
        self.admin_page(&list, query, artifact).await
    }

    /// Sets an artifact ownership's status.
    pub async fn set_artifact_status(
        &self,
        kind: String,
        artifact_id: String,
        status: String,
        reason: String,
        actor: Actor,
    ) -> Result<Option<ArtifactSummary>, StoreError> {
        let sql = format!(
            "UPDATE registry_artifact_ownership SET status = $3, updated_at = now() \
             WHERE artifact_kind = $1 AND artifact_id = $2 RETURNING {ARTIFACT_COLUMNS}"
        );
        let event = Event::new(
            actor,
            "artifact.status_updated",
            &kind,
            &artifact_id,
            json!({"status": status, "reason": reason}),
        );
        self.write_audited(&sql, &[&kind, &artifact_id, &status], |row| {
            (artifact(row), event)
        })
        .await
    }

    /// A token by id, with its publisher's type and status.
    pub async fn token(&self, token_id: &str) -> Result<Option<TokenRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT t.token_id::text, t.token_hash, t.publisher_id, p.publisher_type, p.status, t.scopes, \
                 (t.expires_at IS NOT NULL AND t.expires_at <= now()), t.revoked_at IS NOT NULL \
                 FROM registry_publish_tokens t JOIN registry_publishers p ON p.publisher_id = t.publisher_id \
                 WHERE t.token_id = CAST($1 AS text)::uuid",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&token_id]).await?;
        Ok(row.map(|row| {
            let Json(scopes): Json<TokenScopes> = row.get(5);
            TokenRow {
                token_id: row.get(0),
                token_hash: row.get(1),
                publisher_id: row.get(2),
                publisher_type: row.get(3),
                publisher_status: row.get(4),
                scopes,
                expired: row.get(6),
                revoked: row.get(7),
            }
        }))
    }

    /// Records that a token was used (at most once a minute, to keep publishes write-light).
    pub async fn touch_token(&self, token_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE registry_publish_tokens SET last_used_at = now() \
                 WHERE token_id = CAST($1 AS text)::uuid \
                 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            )
            .await?;
        client.execute(&stmt, &[&token_id]).await?;
        Ok(())
    }

    /// Creates a token (the secret's hash only).
    pub async fn create_token(
        &self,
        new: NewToken,
        actor: Actor,
    ) -> Result<TokenSummary, StoreError> {
        let sql = format!(
            "INSERT INTO registry_publish_tokens (token_id, publisher_id, token_hash, label, scopes, expires_at) \
             VALUES (gen_random_uuid(), $1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
        );
        let actor = Actor {
            publisher_id: actor.publisher_id.or(Some(new.publisher_id.clone())),
            ..actor
        };
        let metadata = json!({"label": new.label, "scopes": new.scopes});
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &new.publisher_id,
            &new.token_hash,
            &new.label,
            &Json(&new.scopes),
            &new.expires_at,
        ];
        self.write_audited(&sql, &params, |row| {
            let summary = token(row);
            let event = Event::new(actor, "token.created", "token", &summary.token_id, metadata);
            (summary, event)
        })
        .await?
        .ok_or_else(|| StoreError::Corrupt("a token insert returned no row".into()))
    }

    /// A publisher's tokens.
    pub async fn publisher_tokens(
        &self,
        publisher_id: &str,
    ) -> Result<Vec<TokenSummary>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM registry_publish_tokens WHERE publisher_id = $1 \
                     ORDER BY revoked_at NULLS FIRST, created_at DESC, label"
                ),
                &[&publisher_id],
            )
            .await?;
        Ok(rows.iter().map(token).collect())
    }

    /// Revokes one of a publisher's tokens.
    pub async fn revoke_token(
        &self,
        publisher_id: String,
        token_id: String,
        actor: Actor,
    ) -> Result<Option<TokenSummary>, StoreError> {
        let sql = format!(
            "UPDATE registry_publish_tokens SET revoked_at = COALESCE(revoked_at, now()), updated_at = now() \
             WHERE publisher_id = $1 AND token_id = CAST($2 AS text)::uuid RETURNING {TOKEN_COLUMNS}"
        );
        let event = Event::new(actor, "token.revoked", "token", &token_id, json!({}));
        self.write_audited(&sql, &[&publisher_id, &token_id], |row| (token(row), event))
            .await
    }
}
