//! Source documents: raw bytes in, SHA-256 recorded, previewable as text, downloadable as is.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_text, project};
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{self, DocumentKind, ProjectId, RecordId};
use crate::model::Document;
use crate::store::{self, Db};

/// Largest preview returned, in bytes of text; longer documents are cut (and say so).
pub const PREVIEW_LIMIT: usize = 256 * 1024;

/// A document to store.
#[derive(Debug)]
pub struct Upload {
    /// Id; generated when absent.
    pub id: Option<RecordId>,
    /// Title; the file name when absent.
    pub title: Option<String>,
    /// What the document is.
    pub kind: DocumentKind,
    /// File name.
    pub filename: String,
    /// Media type; guessed from the file name when absent.
    pub media_type: Option<String>,
    /// Where it came from.
    pub source_path: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// Body of the JSON form of `POST /api/projects/{project_id}/documents` (upstream's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonUpload {
    /// Id; generated when absent.
    #[schema(value_type = Option<String>)]
    pub id: Option<RecordId>,
    /// Title.
    pub title: Option<String>,
    /// `business_spec`, `business_intent`, `api_docs`, `mcp_schema` or `reference` (default).
    #[serde(default = "reference")]
    pub kind: DocumentKind,
    /// File name.
    pub filename: String,
    /// Media type.
    pub media_type: Option<String>,
    /// Where it came from.
    #[serde(default)]
    pub source_path: String,
    /// The bytes, standard base64.
    pub content_base64: String,
}

fn reference() -> DocumentKind {
    DocumentKind::Reference
}

/// The media type a file name suggests.
pub fn guess_media_type(filename: &str) -> &'static str {
    let lower = filename.to_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "md" | "markdown" => "text/markdown",
        "txt" | "text" => "text/plain",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Whether a document can be shown as text (upstream's rule).
pub fn is_text(media_type: &str, filename: &str) -> bool {
    let lower = filename.to_lowercase();
    media_type.starts_with("text/")
        || ["application/json", "application/yaml", "application/x-yaml"].contains(&media_type)
        || [".md", ".markdown", ".txt", ".json", ".yaml", ".yml"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// Longest media type accepted (RFC 6838 bounds type and subtype names to 127 characters each;
/// parameters such as a charset fit in the rest).
pub const MAX_MEDIA_TYPE_LEN: usize = 255;

/// Whether `value` is a well-formed media type: `type/subtype` of RFC 9110 token characters,
/// then optional `; name=value` parameters (the value a token or a quoted string), no control
/// characters, at most [`MAX_MEDIA_TYPE_LEN`] bytes. Exactly what can be sent back as a
/// `Content-Type` header.
pub fn is_valid_media_type(value: &str) -> bool {
    fn is_tchar(c: char) -> bool {
        c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
    }
    /// The length of the token at the start of `text` (0: none).
    fn token(text: &str) -> usize {
        text.find(|c: char| !is_tchar(c)).unwrap_or(text.len())
    }
    /// What follows the quoted string at the start of `text`, if it is one.
    fn after_quoted(text: &str) -> Option<&str> {
        let inner = text.strip_prefix('"')?;
        let mut escaped = false;
        for (i, b) in inner.bytes().enumerate() {
            if !(b == b'\t' || (b' '..=b'~').contains(&b)) {
                return None;
            }
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                return Some(&inner[i + 1..]);
            }
        }
        None
    }
    const WHITESPACE: [char; 2] = [' ', '\t'];
    if value.len() > MAX_MEDIA_TYPE_LEN || value.chars().any(char::is_control) {
        return false;
    }
    let kind = token(value);
    let Some(rest) = value[kind..].strip_prefix('/') else {
        return false;
    };
    let subtype = token(rest);
    if kind == 0 || subtype == 0 {
        return false;
    }
    let mut rest = &rest[subtype..];
    loop {
        rest = rest.trim_start_matches(WHITESPACE);
        if rest.is_empty() {
            return true;
        }
        let Some(parameter) = rest.strip_prefix(';') else {
            return false;
        };
        let parameter = parameter.trim_start_matches(WHITESPACE);
        let name = token(parameter);
        let Some(value) = parameter[name..].strip_prefix('=').filter(|_| name > 0) else {
            return false;
        };
        rest = match after_quoted(value) {
            Some(after) => after,
            None => match token(value) {
                0 => return false,
                n => &value[n..],
            },
        };
    }
}

/// 422 naming `media_type` unless it is a well-formed media type.
fn check_media_type(media_type: &str) -> Result<()> {
    if is_valid_media_type(media_type) {
        return Ok(());
    }
    Err(Error::Unprocessable(format!(
        "media_type must be a media type such as text/markdown or text/plain; charset=utf-8 \
         (type/subtype with optional parameters, no control characters, at most \
         {MAX_MEDIA_TYPE_LEN} bytes)"
    )))
}

fn check_filename(filename: &str) -> Result<()> {
    if filename.trim().is_empty() {
        return Err(Error::Unprocessable("filename must not be empty".into()));
    }
    if filename.contains(['/', '\\', '"']) || filename.chars().any(char::is_control) {
        return Err(Error::Unprocessable(
            "filename must be a plain file name (no path separators, quotes or control characters)"
                .into(),
        ));
    }
    check_text("filename", filename, 255)
}

/// A project's documents.
pub async fn list(db: &Db, project_id: &ProjectId) -> Result<Vec<Document>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    store::documents::list(&client, project_id.as_str()).await
}

/// One document's metadata.
pub async fn get(db: &Db, project_id: &ProjectId, id: &RecordId) -> Result<Document> {
    store::documents::get(&db.client().await?, project_id.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("document", id.as_str()))
}

/// Stores an uploaded document.
pub async fn upload(
    db: &Db,
    project_id: &ProjectId,
    upload: Upload,
    max_bytes: usize,
) -> Result<Document> {
    check_filename(&upload.filename)?;
    if upload.content.len() > max_bytes {
        return Err(Error::PayloadTooLarge(format!(
            "The document is larger than the {max_bytes}-byte upload limit."
        )));
    }
    let title = upload
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| upload.filename.clone());
    check_text("title", &title, 500)?;
    check_text("source_path", &upload.source_path, 2_000)?;
    let media_type = upload
        .media_type
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| guess_media_type(&upload.filename).to_owned());
    check_media_type(&media_type)?;
    let document = Document {
        id: upload
            .id
            .map(|i| i.as_str().to_owned())
            .unwrap_or_else(|| ids::new_id("document")),
        project_id: project_id.as_str().to_owned(),
        title: title.trim().to_owned(),
        kind: upload.kind.as_str().to_owned(),
        filename: upload.filename.trim().to_owned(),
        media_type,
        source_path: upload.source_path,
        content_hash: hashing::document_hash(&upload.content),
        size_bytes: 0,
        created_at: String::new(),
        updated_at: String::new(),
    };
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    project(&tx, project_id.as_str()).await?;
    store::documents::insert(&tx, &document, &upload.content, None, None).await?;
    store::projects::touch(&tx, project_id.as_str()).await?;
    let stored = store::documents::get(&tx, project_id.as_str(), &document.id)
        .await?
        .ok_or_else(|| Error::Internal("document vanished after insert".into()))?;
    tx.commit().await?;
    Ok(stored)
}

/// A text preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// The text (invalid UTF-8 replaced).
    pub content: String,
    /// Whether the text was cut at [`PREVIEW_LIMIT`] bytes.
    pub truncated: bool,
}

/// A document's text (415 for documents that are not text).
pub async fn preview(db: &Db, project_id: &ProjectId, id: &RecordId) -> Result<Preview> {
    let (document, bytes) = download(db, project_id, id).await?;
    if !is_text(&document.media_type, &document.filename) {
        return Err(Error::UnsupportedMediaType(
            "Preview is only available for text documents; download it instead.".into(),
        ));
    }
    let truncated = bytes.len() > PREVIEW_LIMIT;
    let mut end = bytes.len().min(PREVIEW_LIMIT);
    // Cut on a character boundary when the cut lands inside a UTF-8 sequence.
    while end < bytes.len() && end > 0 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    Ok(Preview {
        content: String::from_utf8_lossy(&bytes[..end]).into_owned(),
        truncated,
    })
}

/// A document's bytes.
pub async fn download(
    db: &Db,
    project_id: &ProjectId,
    id: &RecordId,
) -> Result<(Document, Vec<u8>)> {
    store::documents::get_with_content(&db.client().await?, project_id.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("document", id.as_str()))
}

/// Deletes a document.
pub async fn delete(db: &Db, project_id: &ProjectId, id: &RecordId) -> Result<()> {
    if !store::documents::delete(&db.client().await?, project_id.as_str(), id.as_str()).await? {
        return Err(Error::not_found("document", id.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_text_detection() {
        assert_eq!(guess_media_type("Spec.MD"), "text/markdown");
        assert_eq!(guess_media_type("blob"), "application/octet-stream");
        assert!(is_text("application/octet-stream", "notes.yaml"));
        assert!(!is_text("application/pdf", "x.pdf"));
    }

    #[test]
    fn media_types_are_well_formed() {
        for good in [
            "text/plain",
            "image/svg+xml",
            "text/plain; charset=utf-8",
            "application/vnd.api+json;version=2",
            "multipart/mixed; boundary=\"a b;c\"",
        ] {
            assert!(is_valid_media_type(good), "{good}");
        }
        for bad in [
            "image/svg+xml\r\nX-Evil: 1",
            "text",
            "text/",
            "/plain",
            "text/plain;",
            "text/plain; charset",
            "text/pl ain",
            "text/plain; a=\"unterminated",
            "text/plain\u{0}",
            "tëxt/plain",
            &format!("text/{}", "a".repeat(300)),
        ] {
            assert!(!is_valid_media_type(bad), "{bad:?}");
        }
        assert!(check_media_type("a\nb")
            .unwrap_err()
            .to_string()
            .contains("media_type"));
    }

    #[test]
    fn filenames_are_plain() {
        assert!(check_filename("spec.md").is_ok());
        assert!(check_filename("../etc/passwd").is_err());
        assert!(check_filename("a\"b").is_err());
        assert!(check_filename(" ").is_err());
    }
}
