//! The server-rendered UI: every page renders for authored and imported projects, the whole
//! authoring flow works through plain HTML forms (no JavaScript), read-only mode shows a
//! banner and no mutating controls, and cross-site posts are refused.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use studio_api::config::Settings;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(http: &reqwest::Client, url: String) -> (u16, String) {
    let response = http.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Posts a form; expects 303 and returns the location.
async fn submit(http: &reqwest::Client, url: String, form: &[(&str, &str)]) -> String {
    let response = http.post(url.clone()).form(form).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(status, 303, "POST {url}: {body}");
    location.unwrap()
}

const PAGES: [&str; 7] = [
    "",
    "/documents",
    "/product",
    "/design",
    "/developer",
    "/publish",
    "/history",
];

#[actix_web::test]
async fn the_authoring_flow_works_through_html_forms() {
    let app = spawn_default().await;
    let http = no_redirects();
    let response = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let (status, home) = page(&http, app.url("/studio")).await;
    assert_eq!(status, 200);
    assert!(
        home.contains("New project") && !home.contains("Read-only"),
        "{home}"
    );

    let location = submit(
        &http,
        app.url("/studio/workspaces"),
        &[("name", "Forms team")],
    )
    .await;
    assert!(
        location.starts_with("/studio/workspaces/workspace-"),
        "{location}"
    );
    let workspace_id = location
        .trim_start_matches("/studio/workspaces/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let location = submit(
        &http,
        app.url("/studio/projects"),
        &[
            ("name", "Expense Approvals"),
            ("workspace_id", &workspace_id),
            ("domain", "expenses"),
        ],
    )
    .await;
    let pid = location
        .trim_start_matches("/studio/projects/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let base = app.url(&format!("/studio/projects/{pid}"));

    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(SPEC.as_bytes().to_vec())
                .file_name("spec.md")
                .mime_str("text/markdown")
                .unwrap(),
        )
        .text("kind", "business_spec");
    let response = http
        .post(format!("{base}/documents"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (_, documents) = page(&http, format!("{base}/documents")).await;
    assert!(documents.contains("spec.md"));

    // The assistant proposes on a page; accepting ticks checkboxes (repeated fields).
    let response = http
        .post(format!("{base}/assistant/sections"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let proposal_page = response.text().await.unwrap();
    assert!(
        proposal_page.contains("Nothing has been saved"),
        "{proposal_page}"
    );
    let proposal = app
        .post(
            &format!("/api/projects/{pid}/assistant/sections"),
            &json!({}),
        )
        .await
        .1;
    let encoded = proposal.to_string();
    submit(
        &http,
        format!("{base}/assistant/accept"),
        &[
            ("kind", "sections"),
            ("proposal", &encoded),
            ("accepted", "product_summary"),
            ("accepted", "actor_model"),
        ],
    )
    .await;
    let (_, product) = page(&http, format!("{base}/product")).await;
    assert!(
        product.contains("Employees submit expense reports"),
        "accepted section shows"
    );

    submit(
        &http,
        format!("{base}/product/sections/non_goals"),
        &[
            ("data", r#"{"entries": [{"non_goal": "Payroll"}]}"#),
            ("expected_content_hash", ""),
        ],
    )
    .await;
    submit(
        &http,
        format!("{base}/product/revisions"),
        &[("expected_previous_revision", "")],
    )
    .await;
    // A stale page's second save is refused with an error page, not a redirect.
    let response = http
        .post(format!("{base}/product/revisions"))
        .form(&[("expected_previous_revision", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("was saved meanwhile"));

    submit(
        &http,
        format!("{base}/design/requirements"),
        &[
            ("title", "Requirements"),
            ("data", r#"{"system": {"name": "expenses"}}"#),
        ],
    )
    .await;
    submit(
        &http,
        format!("{base}/design/scenarios"),
        &[
            ("title", "Approve"),
            ("data", r#"{"scenario": {"name": "approve"}}"#),
        ],
    )
    .await;
    submit(
        &http,
        format!("{base}/developer/baseline"),
        &[("expected_locked_at", "")],
    )
    .await;
    let definition = sound_definition().to_string();
    submit(
        &http,
        format!("{base}/developer/definition"),
        &[("data", &definition), ("expected_content_hash", "")],
    )
    .await;
    submit(
        &http,
        format!("{base}/developer/revisions"),
        &[("expected_previous_revision", "")],
    )
    .await;
    let (_, developer) = page(&http, format!("{base}/developer")).await;
    assert!(developer.contains("No findings."), "{developer}");

    let location = submit(
        &http,
        format!("{base}/publish"),
        &[
            ("package_id", "expense-approvals"),
            ("package_version", "1.0.0"),
            ("target", "local"),
        ],
    )
    .await;
    assert!(
        location.contains("notice=Published%20locally"),
        "{location}"
    );
    let (_, publish) = page(&http, format!("{base}/publish")).await;
    let verify = publish
        .split("href=\"")
        .find(|s| s.contains("/verify\""))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, verification) = page(&http, app.url(&verify)).await;
    assert_eq!(status, 200);
    assert!(verification.contains("verified"), "{verification}");

    for suffix in PAGES {
        let (status, html) = page(&http, format!("{base}{suffix}")).await;
        assert_eq!(status, 200, "{suffix}: {html}");
        if suffix != "/history" {
            assert!(
                html.contains("method=\"post\""),
                "{suffix} offers actions when writable"
            );
        }
    }
    for path in [
        "/studio/templates",
        "/studio/settings",
        &format!("/studio/workspaces/{workspace_id}"),
    ] {
        assert_eq!(page(&http, app.url(path)).await.0, 200, "{path}");
    }
    let (_, history) = page(&http, format!("{base}/history")).await;
    assert!(history.contains("Revision"), "{history}");

    // Cross-site form posts are refused (Studio has no sessions; this is its CSRF defence).
    let response = http
        .post(format!("{base}/delete"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = http
        .post(format!("{base}/delete"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.get(&format!("/api/projects/{pid}")).await.0, 200);

    let location = submit(&http, format!("{base}/delete"), &[]).await;
    assert!(location.starts_with("/studio?notice="));
}

#[actix_web::test]
async fn read_only_pages_show_a_banner_and_no_controls() {
    let app = spawn_default().await;
    for name in SNAPSHOTS {
        assert_eq!(
            app.post("/api/project-snapshots/import", &fixture(name))
                .await
                .0,
            200
        );
    }
    let authored = authored_project(&app, "Browsable").await;
    let (base, handle) = app.serve_again(Settings {
        read_only: true,
        read_only_reason: "Public demo".into(),
        ..Settings::for_tests()
    });
    let http = no_redirects();
    let mut ids: Vec<String> = SNAPSHOTS
        .iter()
        .map(|n| fixture(n)["project"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.push(authored);
    for pid in &ids {
        for suffix in PAGES {
            let (status, html) = page(&http, format!("{base}/studio/projects/{pid}{suffix}")).await;
            assert_eq!(status, 200, "{pid}{suffix}: {html}");
            assert!(html.contains("Read-only: Public demo"), "{pid}{suffix}");
            assert!(
                !html.contains("method=\"post\""),
                "{pid}{suffix} shows a mutating control"
            );
        }
        let (_, docs) = app.get(&format!("/api/projects/{pid}/documents")).await;
        for doc in docs.as_array().unwrap() {
            let (status, _) = page(
                &http,
                format!(
                    "{base}/studio/projects/{pid}/documents/{}",
                    doc["id"].as_str().unwrap()
                ),
            )
            .await;
            assert_eq!(status, 200);
        }
    }
    for path in [
        "/studio",
        "/studio/templates",
        "/studio/settings",
        "/studio/workspaces/showcase",
        "/studio/workspaces/default",
    ] {
        let (status, html) = page(&http, format!("{base}{path}")).await;
        assert!(
            status == 200 || (path.ends_with("showcase") && status == 404),
            "{path}: {status}"
        );
        assert!(!html.contains("method=\"post\""), "{path}");
    }
    let response = http
        .post(format!("{base}/studio/projects"))
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    handle.stop(false).await;
}

#[actix_web::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Heads").await;
    use base64::Engine;
    let (status, doc) = app
        .post(
            &format!("/api/projects/{pid}/documents"),
            &json!({"title": "Spec", "kind": "business_spec", "filename": "spec.md",
                    "content_base64": base64::engine::general_purpose::STANDARD.encode(SPEC)}),
        )
        .await;
    assert_eq!(status, 201, "{doc}");
    let doc_id = doc["id"].as_str().unwrap();
    let http = no_redirects();
    for path in [
        "/api/health".to_owned(),
        "/api/readyz".to_owned(),
        "/studio".to_owned(),
        format!("/studio/projects/{pid}"),
        format!("/studio/projects/{pid}/publish"),
        format!("/api/projects/{pid}"),
        format!("/api/projects/{pid}/documents/{doc_id}/download"),
    ] {
        let get = http.get(app.url(&path)).send().await.unwrap();
        let get_status = get.status();
        let get_type = get.headers().get("content-type").cloned();
        let get_body = get.bytes().await.unwrap();
        let head = http.head(app.url(&path)).send().await.unwrap();
        assert_eq!(head.status(), get_status, "HEAD {path}");
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type").cloned(),
            get_type,
            "{path}"
        );
        if !path.ends_with("readyz") && !path.ends_with("health") {
            // Same length as GET (pages and records are deterministic between two reads).
            assert_eq!(
                head.headers()
                    .get("content-length")
                    .map(|l| l.to_str().unwrap().to_owned()),
                Some(get_body.len().to_string()),
                "{path}"
            );
        }
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    // The download is byte-for-byte what was uploaded.
    let download = http
        .get(app.url(&format!("/api/projects/{pid}/documents/{doc_id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap(), SPEC.as_bytes());
    // HEAD on a path nobody serves is still a 404.
    let missing = http.head(app.url("/studio/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

/// Every page (errors and redirects included) carries the Registry UI's security headers, with a
/// policy that allows no script; a document download gets a stricter, sandboxing policy.
#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_default().await;
    let pid = project(&app, "Headers").await;
    let (status, doc) = app
        .post(
            &format!("/api/projects/{pid}/documents"),
            &json!({"filename": "y.svg", "content_base64": "PHN2Zz4=", "media_type": "image/svg+xml"}),
        )
        .await;
    assert_eq!(status, 201, "{doc}");
    let doc_id = doc["id"].as_str().unwrap();
    let http = no_redirects();
    let mut paths: Vec<String> = PAGES
        .iter()
        .map(|suffix| format!("/studio/projects/{pid}{suffix}"))
        .collect();
    paths.extend([
        "/".to_owned(),
        "/studio".to_owned(),
        "/studio/settings".to_owned(),
        "/studio/templates".to_owned(),
        format!("/studio/projects/{pid}/documents/{doc_id}"),
        "/studio/projects/nope".to_owned(),
        "/studio/nowhere".to_owned(),
        format!("/api/projects/{pid}"),
    ]);
    for path in &paths {
        let response = http.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"))
            .to_str()
            .unwrap();
        assert_eq!(csp, studio_api::app::CSP, "{path}");
        assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    let page = http
        .get(app.url(&format!("/studio/projects/{pid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script") && !page.contains("javascript:"));

    let download = http
        .get(app.url(&format!("/api/projects/{pid}/documents/{doc_id}/download")))
        .send()
        .await
        .unwrap();
    let headers = download.headers();
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

/// Regression: a form field that is not UTF-8 once percent-decoded was stored with U+FFFD
/// and reported saved. It is refused with 400, as the JSON API refuses such a body.
#[actix_web::test]
async fn forms_with_invalid_utf8_are_refused() {
    let app = spawn_default().await;
    let http = no_redirects();
    let pid = project(&app, "Strict").await;
    let response = http
        .post(app.url(&format!("/studio/projects/{pid}/edit")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Strict&summary=%C3%28")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("summary"),
        "{body}"
    );
    let (_, stored) = app.get(&format!("/api/projects/{pid}")).await;
    assert_eq!(stored["summary"], "", "{stored}");

    // Valid UTF-8, percent-encoded, still works.
    let location = submit(
        &http,
        app.url(&format!("/studio/projects/{pid}/edit")),
        &[("name", "Strict"), ("summary", "Caf\u{e9} + tea")],
    )
    .await;
    assert!(location.contains("notice="), "{location}");
    let (_, stored) = app.get(&format!("/api/projects/{pid}")).await;
    assert_eq!(stored["summary"], "Caf\u{e9} + tea");
}
