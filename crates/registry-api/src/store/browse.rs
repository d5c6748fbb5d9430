//! Reads that only the browse UI needs: a package's versions, a publisher's packages and a
//! template's versions. Each is one query on an index whose leading column is the filter (the
//! primary key or `registry_packages_publisher_idx`), bounded by a limit, so its cost does not
//! grow with the size of the registry.

use super::{lifecycle_at, Store, StoreError, LIFECYCLE_COLUMNS};
use crate::model::Lifecycle;

/// One version of a package, as the versions list shows it.
#[derive(Debug, Clone)]
pub struct PackageVersionRow {
    pub package_id: String,
    pub package_version: String,
    pub published_at: String,
    pub download_count: i64,
    pub lifecycle: Lifecycle,
}

/// One version of a template.
#[derive(Debug, Clone)]
pub struct TemplateVersionRow {
    pub template_version: String,
    pub published_at: String,
    pub download_count: i64,
}

fn package_version(row: &tokio_postgres::Row) -> PackageVersionRow {
    PackageVersionRow {
        package_id: row.get(0),
        package_version: row.get(1),
        published_at: row.get(2),
        download_count: row.get(3),
        lifecycle: lifecycle_at(row, 4),
    }
}

impl Store {
    /// A package's versions, newest first, at most `limit`. Taken-down versions are included
    /// (the UI names them unavailable without showing content). Walks the primary key.
    pub async fn package_versions(
        &self,
        package_id: &str,
        limit: i64,
    ) -> Result<Vec<PackageVersionRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT package_id, package_version, published_at, download_count, {LIFECYCLE_COLUMNS} \
                 FROM registry_packages WHERE package_id = $1 \
                 ORDER BY published_at_ts DESC, package_version DESC LIMIT $2"
            ))
            .await?;
        let rows = client.query(&stmt, &[&package_id, &limit]).await?;
        Ok(rows.iter().map(package_version).collect())
    }

    /// A publisher's listed package versions (not taken down), newest first, at most `limit`.
    /// Walks `registry_packages_publisher_idx`.
    pub async fn publisher_packages(
        &self,
        publisher_id: &str,
        limit: i64,
    ) -> Result<Vec<PackageVersionRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT package_id, package_version, published_at, download_count, {LIFECYCLE_COLUMNS} \
                 FROM registry_packages WHERE publisher_id = $1 AND lifecycle_status <> 'takedown' \
                 ORDER BY published_at_ts DESC LIMIT $2"
            ))
            .await?;
        let rows = client.query(&stmt, &[&publisher_id, &limit]).await?;
        Ok(rows.iter().map(package_version).collect())
    }

    /// A template's versions, newest first, at most `limit`. Walks the primary key.
    pub async fn template_versions(
        &self,
        template_id: &str,
        limit: i64,
    ) -> Result<Vec<TemplateVersionRow>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT template_version, published_at, download_count FROM registry_templates \
                 WHERE template_id = $1 ORDER BY published_at_ts DESC, template_version DESC LIMIT $2",
            )
            .await?;
        let rows = client.query(&stmt, &[&template_id, &limit]).await?;
        Ok(rows
            .iter()
            .map(|row| TemplateVersionRow {
                template_version: row.get(0),
                published_at: row.get(1),
                download_count: row.get(2),
            })
            .collect())
    }
}
