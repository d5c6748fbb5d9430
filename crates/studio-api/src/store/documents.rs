//! `project_documents`.

use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{ts, GenericClient};
use crate::error::Result;
use crate::model::Document;

const META: &str = "id, project_id, title, kind, filename, media_type, source_path, \
    content_hash, octet_length(content)::int8 AS size_bytes, created_at, updated_at";

fn meta(row: &Row) -> Document {
    Document {
        id: row.get("id"),
        project_id: row.get("project_id"),
        title: row.get("title"),
        kind: row.get("kind"),
        filename: row.get("filename"),
        media_type: row.get("media_type"),
        source_path: row.get("source_path"),
        content_hash: row.get("content_hash"),
        size_bytes: row.get("size_bytes"),
        created_at: ts(row, "created_at"),
        updated_at: ts(row, "updated_at"),
    }
}

/// A project's documents (metadata only), oldest first.
pub async fn list(c: &impl GenericClient, project_id: &str) -> Result<Vec<Document>> {
    let rows = c
        .query(
            &format!("SELECT {META} FROM project_documents WHERE project_id = $1 ORDER BY created_at, id"),
            &[&project_id],
        )
        .await?;
    Ok(rows.iter().map(meta).collect())
}

/// One document's metadata.
pub async fn get(c: &impl GenericClient, project_id: &str, id: &str) -> Result<Option<Document>> {
    let row = c
        .query_opt(
            &format!("SELECT {META} FROM project_documents WHERE project_id = $1 AND id = $2"),
            &[&project_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(meta))
}

/// One document with its bytes.
pub async fn get_with_content(
    c: &impl GenericClient,
    project_id: &str,
    id: &str,
) -> Result<Option<(Document, Vec<u8>)>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {META}, content FROM project_documents WHERE project_id = $1 AND id = $2"
            ),
            &[&project_id, &id],
        )
        .await?;
    Ok(row.map(|r| (meta(&r), r.get("content"))))
}

/// A project's documents with their bytes, oldest first (assistant input, snapshots).
pub async fn list_with_content(
    c: &impl GenericClient,
    project_id: &str,
) -> Result<Vec<(Document, Vec<u8>)>> {
    let rows = c
        .query(
            &format!("SELECT {META}, content FROM project_documents WHERE project_id = $1 ORDER BY created_at, id"),
            &[&project_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (meta(r), r.get("content"))).collect())
}

/// Inserts a document (`size_bytes` of the argument is ignored).
pub async fn insert(
    c: &impl GenericClient,
    d: &Document,
    content: &[u8],
    created_at: Option<OffsetDateTime>,
    updated_at: Option<OffsetDateTime>,
) -> Result<()> {
    c.execute(
        "INSERT INTO project_documents (id, project_id, title, kind, filename, media_type, \
         source_path, content, content_hash, created_at, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()), COALESCE($11, now()))",
        &[
            &d.id,
            &d.project_id,
            &d.title,
            &d.kind,
            &d.filename,
            &d.media_type,
            &d.source_path,
            &content,
            &d.content_hash,
            &created_at,
            &updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes a document.
pub async fn delete(c: &impl GenericClient, project_id: &str, id: &str) -> Result<bool> {
    Ok(c.execute(
        "DELETE FROM project_documents WHERE project_id = $1 AND id = $2",
        &[&project_id, &id],
    )
    .await?
        == 1)
}
