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
