//! Bad input gets a clear 4xx with `{"detail": ...}`: malformed JSON 400, wrong media type
//! 415, oversized bodies 413, unknown ids 404, conflicting writes 409.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use studio_api::config::Settings;

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = app
        .http
        .request(method, app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    status_json(response).await
}

fn detail(body: &Value) -> &str {
    body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail in {body}"))
}

#[actix_web::test]
async fn malformed_and_mistyped_bodies() {
    let app = spawn_default().await;
    let (status, body) = raw(
        &app,
        reqwest::Method::POST,
        "/api/projects",
        "application/json",
        b"{\"name\": ".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(detail(&body).starts_with("Malformed JSON body"));
    let (status, body) = raw(
        &app,
        reqwest::Method::POST,
        "/api/projects",
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = app
        .post("/api/projects", &json!({"name": "x", "colour": "blue"}))
        .await;
    assert_eq!(status, 400, "unknown members are refused: {body}");
    let (status, body) = app
        .post(
            "/api/projects",
            &json!({"name": "x", "project_type": "gigantic"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .post("/api/projects", &json!({"name": "nul\u{0}byte"}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .post("/api/projects", &json!({"name": "x", "id": "has space"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(detail(&body).contains("project_id"));
    let (status, body) = app.post("/api/projects", &json!({"name": "   "})).await;
    assert_eq!(status, 422, "{body}");
}

#[actix_web::test]
async fn oversized_bodies_are_413() {
    let app = spawn(Settings {
        max_upload_bytes: 1024,
        ..Settings::for_tests()
    })
    .await;
    let pid = project(&app, "Limits").await;
    let big_json = format!("{{\"name\": \"{}\"}}", "x".repeat(9 * 1024 * 1024));
    let (status, body) = raw(
        &app,
        reqwest::Method::POST,
        "/api/projects",
        "application/json",
        big_json.into_bytes(),
    )
    .await;
    assert_eq!(status, 413, "{body}");

    let (status, body) = raw(
        &app,
        reqwest::Method::POST,
        &format!("/api/projects/{pid}/documents?filename=big.bin"),
        "application/octet-stream",
        vec![7u8; 2048],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![1u8; 4096]).file_name("big.bin"),
    );
    let (status, body) = status_json(
        app.http
            .post(app.url(&format!("/api/projects/{pid}/documents")))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    // Exactly at the limit is fine.
    let (status, body) = raw(
        &app,
        reqwest::Method::POST,
        &format!("/api/projects/{pid}/documents?filename=ok.bin"),
        "application/octet-stream",
        vec![7u8; 1024],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, docs) = app.get(&format!("/api/projects/{pid}/documents")).await;
    assert_eq!(
        docs.as_array().unwrap().len(),
        1,
        "refused uploads left nothing behind"
    );
}

#[actix_web::test]
async fn unknown_ids_are_404() {
    let app = spawn_default().await;
    let pid = project(&app, "Known").await;
    for path in [
        "/api/projects/nope".to_owned(),
        "/api/workspaces/nope".to_owned(),
        format!("/api/projects/{pid}/requirements/nope"),
        format!("/api/projects/{pid}/documents/nope/download"),
        format!("/api/projects/{pid}/evaluations/nope"),
        format!("/api/projects/{pid}/product/revisions/7"),
        format!("/api/projects/{pid}/local-publications/nope"),
        "/api/projects/has%20space".to_owned(),
        "/api/projects/nope/history".to_owned(),
        "/api/nothing/here".to_owned(),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    assert_eq!(app.delete("/api/projects/nope").await, 404);
    let (status, _) = app.put("/api/projects/nope", &json!({"name": "x"})).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/evaluations"),
            &json!({
        "scenario_id": "nope", "requirements_id": "nope", "data": {}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[actix_web::test]
async fn conflicting_section_saves_and_references_across_projects() {
    let app = spawn_default().await;
    let pid = project(&app, "One").await;
    let other = project(&app, "Two").await;
    let url = format!("/api/projects/{pid}/product/sections/non_goals");
    let (status, first) = app
        .put(
            &url,
            &json!({"data": {"entries": []}, "expected_content_hash": ""}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    // Two people edited the same version; the second save is refused.
    let base = first["content_hash"].clone();
    let body_a = json!({"data": {"entries": [{"non_goal": "a"}]}, "expected_content_hash": base});
    let body_b = json!({"data": {"entries": [{"non_goal": "b"}]}, "expected_content_hash": base});
    let (a, b) = tokio::join!(app.put(&url, &body_a), app.put(&url, &body_b));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);

    // A shape cannot answer another project's requirements.
    let (_, req) = app
        .post(
            &format!("/api/projects/{other}/requirements"),
            &json!({"title": "R", "data": {}}),
        )
        .await;
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/shapes"),
            &json!({"title": "S", "requirements_id": req["id"], "data": {"services": []}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(detail(&body).contains("another project"));
}

/// A media type is sent back as `Content-Type` on every download: one that is not a media type
/// (a header injection, say) is refused at upload, and one stored before uploads were checked
/// is served as `application/octet-stream` instead of breaking the download.
#[actix_web::test]
async fn media_types_are_checked_at_upload_and_never_break_a_download() {
    let app = spawn_default().await;
    let pid = project(&app, "Media").await;
    let upload = |media_type: &str| json!({"filename": "y.svg", "content_base64": "PHN2Zz4=", "media_type": media_type});
    for bad in [
        "image/svg+xml\r\nX-Evil: 1",
        "image/svg+xml\nX-Evil: 1",
        "not a media type",
        "text/",
        "text/plain; charset",
    ] {
        let (status, body) = app
            .post(&format!("/api/projects/{pid}/documents"), &upload(bad))
            .await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("media_type"),
            "{body}"
        );
    }
    let long = format!("text/{}", "a".repeat(300));
    let (status, body) = app
        .post(&format!("/api/projects/{pid}/documents"), &upload(&long))
        .await;
    assert_eq!(status, 422, "{body}");
    let (_, docs) = app.get(&format!("/api/projects/{pid}/documents")).await;
    assert_eq!(docs, json!([]), "refused uploads left nothing behind");

    let (status, document) = app
        .post(
            &format!("/api/projects/{pid}/documents"),
            &upload("image/svg+xml; charset=utf-8"),
        )
        .await;
    assert_eq!(status, 201, "{document}");
    let id = document["id"].as_str().unwrap();
    let download = format!("/api/projects/{pid}/documents/{id}/download");
    let response = app.http.get(app.url(&download)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );

    // A row written before the check (or by hand) still downloads.
    let client = app.pool.get().await.unwrap();
    client
        .execute(
            "UPDATE project_documents SET media_type = $1, filename = $2 WHERE id = $3",
            &[&"image/svg+xml\r\nX-Evil: 1", &"y\r\n.svg", &id],
        )
        .await
        .unwrap();
    let response = app.http.get(app.url(&download)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(response.headers().get("x-evil").is_none());
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"<svg>");
}

/// A path that exists answers a method it does not support with 405 and `Allow`; a path that
/// does not exist stays 404.
#[actix_web::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_default().await;
    let pid = project(&app, "Methods").await;
    for (method, path, allow) in [
        (
            reqwest::Method::PATCH,
            format!("/api/projects/{pid}"),
            "GET, HEAD, PUT, DELETE",
        ),
        (
            reqwest::Method::DELETE,
            "/api/projects".to_owned(),
            "GET, HEAD, POST",
        ),
        (
            reqwest::Method::GET,
            format!("/api/projects/{pid}/clone"),
            "POST",
        ),
        (reqwest::Method::POST, "/api/health".to_owned(), "GET, HEAD"),
        (
            reqwest::Method::PUT,
            format!("/studio/projects/{pid}"),
            "GET, HEAD",
        ),
        (
            reqwest::Method::DELETE,
            "/api/project-snapshots/import".to_owned(),
            "POST",
        ),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        let header = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = status_json(response).await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(
            body,
            json!({"detail": "Method Not Allowed"}),
            "{method} {path}"
        );
        assert_eq!(header.as_deref(), Some(allow), "{method} {path}");
    }
    let response = app
        .http
        .patch(app.url("/api/no/such/path"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("allow").is_none());
    let (status, body) = status_json(response).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"detail": "Not Found"}));
}
