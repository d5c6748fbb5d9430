//! Registry users: the GitHub accounts that signed in through the browser.

use serde::Serialize;
use tokio_postgres::Row;

use super::publishers::AdminQuery;
use super::{rfc3339, AdminList, Store, StoreError};
use crate::model::Page;

/// A registry user as the admin list and the session show it (upstream's `RegistryUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryUser {
    pub user_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub github_user_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub github_login: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_login_at: String,
}

/// The user columns, in [`user_at`] order (`u` is the users table).
pub(super) const USER_COLUMNS: &str = "u.user_id::text, COALESCE(u.github_user_id, ''), \
    COALESCE(u.github_login, ''), u.display_name, u.email, u.status, u.created_at, u.updated_at, \
    u.last_login_at";

/// Reads the nine [`USER_COLUMNS`] starting at `start`.
pub(super) fn user_at(row: &Row, start: usize) -> RegistryUser {
    RegistryUser {
        user_id: row.get(start),
        github_user_id: row.get(start + 1),
        github_login: row.get(start + 2),
        display_name: row.get(start + 3),
        email: row.get(start + 4),
        status: row.get(start + 5),
        created_at: rfc3339(row.get(start + 6)),
        updated_at: rfc3339(row.get(start + 7)),
        last_login_at: row
            .get::<_, Option<time::OffsetDateTime>>(start + 8)
            .map(rfc3339)
            .unwrap_or_default(),
    }
}

/// The statuses a user can have.
pub const USER_STATUSES: [&str; 2] = ["active", "suspended"];

impl Store {
    /// The admin user list: search over login, name, email and id; most recent activity first.
    pub async fn list_users(&self, query: &AdminQuery) -> Result<Page<RegistryUser>, StoreError> {
        let list = AdminList {
            table: "registry_users u",
            columns: USER_COLUMNS,
            search_in: &[
                "u.github_login",
                "u.display_name",
                "u.email",
                "u.user_id::text",
            ],
            status: "u.status",
            order: "COALESCE(u.last_login_at, u.updated_at) DESC, u.github_login ASC NULLS LAST, \
                    u.user_id",
        };
        self.admin_page(&list, query, |row| user_at(row, 0)).await
    }
}
