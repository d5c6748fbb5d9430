//! `/api/projects/{project_id}/documents`: upload (multipart form, JSON with base64, or the
//! raw bytes), preview, download.

use actix_multipart::Multipart;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{created, no_content, ok};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::ids::{DocumentKind, ProjectId, RecordId};
use crate::model::Document;
use crate::service::documents::{self as service, JsonUpload, Preview, Upload};

/// Query parameters of a raw-bytes upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RawUploadQuery {
    /// File name (required for raw uploads).
    filename: Option<String>,
    /// Title.
    title: Option<String>,
    /// Document kind.
    #[param(value_type = Option<String>)]
    kind: Option<DocumentKind>,
    /// Where it came from.
    source_path: Option<String>,
}

/// The multipart form fields (documentation only; parsed by hand to stream with a limit).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Title.
    title: Option<String>,
    /// `business_spec`, `business_intent`, `api_docs`, `mcp_schema` or `reference`.
    kind: Option<String>,
    /// Where it came from.
    source_path: Option<String>,
}

fn too_large(max: usize) -> Error {
    Error::PayloadTooLarge(format!("The upload is larger than the {max}-byte limit."))
}

async fn read_body(mut payload: web::Payload, max: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Error::BadRequest(format!("Reading the upload failed: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads an upload in any of the accepted forms; `max` bounds the document's bytes.
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    query: RawUploadQuery,
    max: usize,
) -> Result<Upload> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        // JSON carries base64 (4/3 of the bytes) plus a little metadata.
        if length > max.saturating_mul(4) / 3 + 64 * 1024 {
            return Err(too_large(max));
        }
    }
    if content_type.starts_with("multipart/form-data") {
        return read_multipart(req, payload, max, query).await;
    }
    if content_type.starts_with("application/json") {
        let body = read_body(payload, max.saturating_mul(4) / 3 + 64 * 1024).await?;
        let json: JsonUpload = serde_json::from_slice(&body)
            .map_err(|e| Error::BadRequest(format!("Malformed JSON body: {e}")))?;
        let content = base64::engine::general_purpose::STANDARD
            .decode(json.content_base64.trim())
            .map_err(|_| Error::Unprocessable("content_base64 is not valid base64".into()))?;
        return Ok(Upload {
            id: json.id,
            title: json.title,
            kind: json.kind,
            filename: json.filename,
            media_type: json.media_type,
            source_path: json.source_path,
            content,
        });
    }
    let filename = query.filename.ok_or_else(|| {
        Error::BadRequest(
            "A raw upload needs ?filename=; or send multipart/form-data or JSON.".into(),
        )
    })?;
    let content = read_body(payload, max).await?;
    Ok(Upload {
        id: None,
        title: query.title,
        kind: query.kind.unwrap_or(DocumentKind::Reference),
        media_type: (!content_type.is_empty() && content_type != "application/octet-stream").then(
            || {
                content_type
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            },
        ),
        filename,
        source_path: query.source_path.unwrap_or_default(),
        content,
    })
}

/// Refuses a form field that contradicts the same setting given in the query.
fn agree(name: &str, query: Option<&str>, form: &str) -> Result<()> {
    match query {
        Some(q) if q != form => Err(Error::BadRequest(format!(
            "{name} is {q:?} in the query but {form:?} in the form; give it once, or the same in both."
        ))),
        _ => Ok(()),
    }
}

/// Reads a multipart upload. The query's `kind`, `title` and `source_path` apply here too (as
/// for a raw upload); a form field may repeat one but not contradict it.
async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
    max: usize,
    query: RawUploadQuery,
) -> Result<Upload> {
    let mut multipart = Multipart::new(req.headers(), payload);
    let query_kind = query.kind;
    let query_title = query.title.clone();
    let query_source = query.source_path.clone();
    let mut upload = Upload {
        id: None,
        title: query.title,
        kind: query.kind.unwrap_or(DocumentKind::Reference),
        filename: String::new(),
        media_type: None,
        source_path: query.source_path.unwrap_or_default(),
        content: Vec::new(),
    };
    let mut saw_file = false;
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| Error::BadRequest(format!("Malformed multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = name == "file";
        if is_file {
            saw_file = true;
            upload.filename = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .unwrap_or_default()
                .to_owned();
            upload.media_type = field
                .content_type()
                .map(|m| m.essence_str().to_owned())
                .filter(|m| m != "application/octet-stream");
        }
        let limit = if is_file { max } else { 64 * 1024 };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| Error::BadRequest(format!("Malformed multipart body: {e}")))?;
            if bytes.len() + chunk.len() > limit {
                return Err(if is_file {
                    too_large(max)
                } else {
                    Error::BadRequest(format!("Form field {name} is too long."))
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        match name.as_str() {
            "file" => upload.content = bytes,
            "title" => {
                let title = text();
                if !title.is_empty() {
                    agree("title", query_title.as_deref(), &title)?;
                    upload.title = Some(title);
                }
            }
            "kind" => {
                let kind = text();
                if !kind.is_empty() {
                    let kind = DocumentKind::parse(&kind)?;
                    agree("kind", query_kind.map(|k| k.as_str()), kind.as_str())?;
                    upload.kind = kind;
                }
            }
            "source_path" => {
                let source = text();
                if !source.is_empty() {
                    agree("source_path", query_source.as_deref(), &source)?;
                    upload.source_path = source;
                }
            }
            "filename" => {
                let name = text();
                if !name.is_empty() {
                    upload.filename = name;
                }
            }
            "id" => {
                let id = text();
                if !id.is_empty() {
                    upload.id = Some(RecordId::parse(id)?);
                }
            }
            _ => {}
        }
    }
    if !saw_file {
        return Err(Error::BadRequest("The form has no file field.".into()));
    }
    Ok(upload)
}

#[utoipa::path(get, path = "/api/projects/{project_id}/documents", tag = "documents",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 200, body = Vec<Document>), (status = 404)))]
pub(super) async fn list(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse> {
    Ok(ok(service::list(&state.db, &id).await?))
}

#[utoipa::path(post, path = "/api/projects/{project_id}/documents", tag = "documents",
    params(("project_id" = String, Path, description = "Project id"), RawUploadQuery),
    request_body(description = "multipart/form-data with a `file` field; JSON with `content_base64`; or the raw bytes with `?filename=`",
        content((UploadForm = "multipart/form-data"), (JsonUpload = "application/json"), (Vec<u8> = "application/octet-stream"))),
    responses((status = 201, body = Document), (status = 400), (status = 404), (status = 413, description = "Larger than STUDIO_MAX_UPLOAD_BYTES"),
              (status = 422, description = "An invalid filename, title, source_path or media_type (a media type is type/subtype with optional parameters)")))]
pub(super) async fn upload(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    req: HttpRequest,
    query: web::Query<RawUploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let max = state.settings.max_upload_bytes;
    let upload = read_upload(&req, payload, query.into_inner(), max).await?;
    Ok(created(service::upload(&state.db, &id, upload, max).await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/documents/{document_id}", tag = "documents",
    params(("project_id" = String, Path, description = "Project id"), ("document_id" = String, Path, description = "Document id")),
    responses((status = 200, body = Document), (status = 404)))]
pub(super) async fn get(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    Ok(ok(service::get(&state.db, &project, &id).await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/documents/{document_id}/preview", tag = "documents",
    params(("project_id" = String, Path, description = "Project id"), ("document_id" = String, Path, description = "Document id")),
    responses((status = 200, body = Preview), (status = 404), (status = 415, description = "Not a text document")))]
pub(super) async fn preview(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    Ok(ok(service::preview(&state.db, &project, &id).await?))
}

#[utoipa::path(get, path = "/api/projects/{project_id}/documents/{document_id}/download", tag = "documents",
    params(("project_id" = String, Path, description = "Project id"), ("document_id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The bytes as uploaded", content_type = "application/octet-stream"), (status = 404)))]
pub(super) async fn download(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    let (document, bytes) = service::download(&state.db, &project, &id).await?;
    Ok(file_response(&document, bytes))
}

/// The bytes of a document as an attachment. Whatever is stored, the headers can be sent: a
/// media type that is not well-formed (rows written before uploads were checked, or imported)
/// is served as `application/octet-stream`, and control characters in a file name become `_`.
/// The bytes are the author's, served from Studio's origin: a sandboxing CSP keeps an SVG or
/// HTML document that a browser renders anyway from running anything.
pub(crate) fn file_response(document: &Document, bytes: Vec<u8>) -> HttpResponse {
    let media_type = if service::is_valid_media_type(&document.media_type) {
        document.media_type.as_str()
    } else {
        "application/octet-stream"
    };
    let filename: String = document
        .filename
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(filename)],
    };
    HttpResponse::Ok()
        .content_type(media_type)
        .insert_header(disposition)
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("content-security-policy", DOWNLOAD_CSP))
        // Hashed from the bytes sent, not read from the record: the header is a promise about
        // this body, whatever an older import stored.
        .insert_header(("x-content-sha256", crate::hashing::document_hash(&bytes)))
        .body(bytes)
}

/// The Content-Security-Policy of a document download: nothing loads, nothing runs.
pub(crate) const DOWNLOAD_CSP: &str = "default-src 'none'; sandbox";

#[utoipa::path(delete, path = "/api/projects/{project_id}/documents/{document_id}", tag = "documents",
    params(("project_id" = String, Path, description = "Project id"), ("document_id" = String, Path, description = "Document id")),
    responses((status = 204), (status = 404)))]
pub(super) async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
) -> Result<HttpResponse> {
    let (project, id) = path.into_inner();
    service::delete(&state.db, &project, &id).await?;
    Ok(no_content())
}
