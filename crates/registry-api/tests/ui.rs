//! The browse UI: real pages from the real app on 127.0.0.1:0 against its own database, read
//! by headless Chromium (through `browser-test`) and by plain HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use browser_test::Browser;
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const GITLAB: &str = "gitlab-fronting-showcase-0.2.0";

const HOSTILE_README: &str = "# Hostile readme\n\n<script>alert(1)</script>\n\n\
    <img src=x onerror=\"window.__pwned = 1\">\n\n\
    A [bad link](javascript:alert(1)) and a [good link](https://example.com/docs).\n\n\
    - item one\n- item `two`\n";

/// `http://127.0.0.1:port`.
fn base(app: &TestApp) -> String {
    app.api.trim_end_matches("/registry-api/v1").to_owned()
}

/// A client that shows redirects instead of following them.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = http()
        .get(format!("{}{path}", base(app)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn publish_ok(app: &TestApp, body: &Value) {
    let (status, response) = app.publish(body).await;
    assert_eq!(status, 201, "{response}");
}

async fn set_lifecycle(app: &TestApp, id: &str, version: &str, body: Value) {
    let id = id.replace('/', "%2F");
    let (status, response) = app
        .patch_json(
            &format!("admin/packages/{id}/{version}/lifecycle"),
            Some(ADMIN_TOKEN),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{response}");
}

/// With ANIP_UI_SCREENSHOT_DIR set, saves the current page for a human to look at.
async fn review_shot(browser: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("ANIP_UI_SCREENSHOT_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        browser.screenshot(&path).await.unwrap();
    }
}

fn is_png(path: &std::path::Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

#[tokio::test]
async fn browsing_in_chromium() {
    let (app, _db) = spawn_app().await;
    let gitlab = bundle(GITLAB);
    let (status, imported) = app.import(&gitlab).await;
    assert_eq!(status, 201, "{imported}");
    let mut hostile = publish_request("acme/xss-demo", "1.0.0");
    hostile["readme"] = json!(HOSTILE_README);
    publish_ok(&app, &hostile).await;
    publish_ok(&app, &publish_request("acme/xss-demo", "1.1.0")).await;
    publish_ok(&app, &publish_request("takedown-demo", "1.0.0")).await;

    let browser = Browser::launch()
        .await
        .unwrap_or_else(|e| panic!("the UI tests need headless Chromium: {e}"));
    let base = base(&app);

    // `/` → `/registry` → `/registry/packages`, listing the imported package.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{base}/registry/packages")
    );
    let row = r#"li.package[data-package-id="gitlab-fronting-showcase"]"#;
    assert_eq!(browser.count(row).await.unwrap(), 1);
    assert!(browser
        .text(&format!("{row} .lifecycle"))
        .await
        .unwrap()
        .contains("active"));

    // Search finds it and only it; nonsense finds nothing and says so.
    browser.fill("#q", "gitlab").await.unwrap();
    browser.submit("form.search").await.unwrap();
    assert!(browser.current_url().await.unwrap().ends_with("q=gitlab"));
    assert_eq!(browser.count(row).await.unwrap(), 1);
    assert_eq!(browser.count("li.package").await.unwrap(), 1);
    assert_eq!(
        browser.attr("#q", "value").await.unwrap().as_deref(),
        Some("gitlab")
    );
    browser.fill("#q", "zqxj-no-such-thing").await.unwrap();
    browser.submit("form.search").await.unwrap();
    assert_eq!(browser.count("li.package").await.unwrap(), 0);
    assert!(browser
        .text("#empty-state")
        .await
        .unwrap()
        .contains("No packages match"));

    // The detail page verifies the package with the shared verifier.
    browser
        .goto(&format!("{base}/registry/packages"))
        .await
        .unwrap();
    browser.click(&format!("{row} .row-title a")).await.unwrap();
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{base}/registry/packages/gitlab-fronting-showcase/0.2.0")
    );
    let status = browser.find("#verification-status").await.unwrap();
    assert_eq!(
        status.attr("data-verified").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(status.text().await.unwrap().contains("Verified"));
    for check in [
        "identity",
        "manifest_digest",
        "definition_digest",
        "lock_digest",
        "signature",
    ] {
        assert_eq!(
            browser
                .attr(&format!(r#"li.check[data-check="{check}"]"#), "data-status")
                .await
                .unwrap()
                .as_deref(),
            Some("pass"),
            "{check}"
        );
    }
    assert_eq!(
        browser.text(r#"dd[data-digest="manifest"]"#).await.unwrap(),
        gitlab["package"]["manifest_digest"].as_str().unwrap()
    );
    assert_eq!(
        browser.text("#receipt-key-id").await.unwrap(),
        gitlab["receipt"]["key_id"].as_str().unwrap()
    );
    assert_eq!(
        browser
            .attr("#download-count", "data-downloads")
            .await
            .unwrap()
            .as_deref(),
        Some("0")
    );
    assert!(browser.count("#readme .readme h2").await.unwrap() >= 1);

    // Phone and desktop screenshots; on a phone nothing scrolls sideways.
    let shots = std::env::var_os("ANIP_UI_SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| browser_test::fresh_temp_dir("registry-ui").unwrap());
    for (name, width, height) in [("phone", 390, 844), ("desktop", 1280, 900)] {
        browser.set_window_size(width, height).await.unwrap();
        let (inner, _) = browser.viewport_size().await.unwrap();
        let scroll_width = browser
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await
            .unwrap();
        assert!(
            scroll_width.as_u64().unwrap() <= inner,
            "{name}: the page is {scroll_width} px wide in a {inner} px viewport"
        );
        let path = shots.join(format!("detail-{name}.png"));
        browser.screenshot(&path).await.unwrap();
        assert!(is_png(&path), "{}", path.display());
        eprintln!("screenshot: {}", path.display());
    }
    if std::env::var_os("ANIP_UI_SCREENSHOT_DIR").is_some() {
        for (name, path) in [
            ("list", "/registry/packages"),
            ("publisher", "/registry/publishers/studio-test"),
            ("xss", "/registry/packages/acme%2Fxss-demo/1.0.0"),
        ] {
            browser.goto(&format!("{base}{path}")).await.unwrap();
            browser
                .screenshot(&shots.join(format!("{name}-desktop.png")))
                .await
                .unwrap();
            browser.set_window_size(390, 844).await.unwrap();
            browser
                .screenshot(&shots.join(format!("{name}-phone.png")))
                .await
                .unwrap();
            browser.set_window_size(1280, 900).await.unwrap();
        }
        browser
            .goto(&format!(
                "{base}/registry/packages/gitlab-fronting-showcase/0.2.0"
            ))
            .await
            .unwrap();
        for (name, width) in [("detail-full-desktop", 1280), ("detail-full-phone", 390)] {
            browser.set_window_size(width, 3200).await.unwrap();
            browser
                .screenshot(&shots.join(format!("{name}.png")))
                .await
                .unwrap();
        }
        browser.set_window_size(1280, 900).await.unwrap();
    } else {
        std::fs::remove_dir_all(&shots).unwrap();
    }

    // A hostile readme renders as text: no script element, nothing executed.
    browser
        .goto(&format!("{base}/registry/packages/acme%2Fxss-demo/1.0.0"))
        .await
        .unwrap();
    let readme = browser.text("#readme .readme").await.unwrap();
    assert!(readme.contains("<script>alert(1)</script>"), "{readme}");
    assert!(readme.contains("<img src=x"), "{readme}");
    let scripts = browser
        .execute(
            "return [document.getElementsByTagName('script').length, \
             document.querySelectorAll('#readme img').length, \
             window.__pwned === undefined];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scripts, json!([0, 0, true]));
    assert_eq!(browser.alert_text().await.unwrap(), None);
    let links = browser.find_all("#readme .readme a").await.unwrap();
    assert_eq!(links.len(), 1, "only the https link is a link");
    assert_eq!(
        links[0].attr("href").await.unwrap().as_deref(),
        Some("https://example.com/docs")
    );
    assert_eq!(
        browser
            .attr("li.source-link a", "rel")
            .await
            .unwrap()
            .as_deref(),
        Some("noopener nofollow")
    );

    // The id may also be written as a tail path.
    browser
        .goto(&format!("{base}/registry/packages/acme/xss-demo/1.0.0"))
        .await
        .unwrap();
    assert_eq!(browser.text("#package-id").await.unwrap(), "acme/xss-demo");
    browser
        .goto(&format!("{base}/registry/packages/acme/xss-demo"))
        .await
        .unwrap();
    assert_eq!(browser.count("#versions li.version").await.unwrap(), 2);

    // Yanking shows the badge, the reason and the replacement; the content still verifies.
    set_lifecycle(
        &app,
        "acme/xss-demo",
        "1.0.0",
        json!({
            "status": "yanked",
            "reason": "broken build",
            "replacement_package_id": "acme/xss-demo",
            "replacement_package_version": "1.1.0",
        }),
    )
    .await;
    browser
        .goto(&format!("{base}/registry/packages/acme%2Fxss-demo/1.0.0"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .count(r#".title-row .lifecycle[data-lifecycle="yanked"]"#)
            .await
            .unwrap(),
        1
    );
    review_shot(&browser, "yanked-desktop").await;
    assert!(browser
        .text("#lifecycle-notice")
        .await
        .unwrap()
        .contains("broken build"));
    assert_eq!(
        browser
            .attr("#replacement", "href")
            .await
            .unwrap()
            .as_deref(),
        Some("/registry/packages/acme%2Fxss-demo/1.1.0")
    );
    assert_eq!(
        browser
            .attr(r#"li.check[data-check="lifecycle"]"#, "data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("warn")
    );
    assert_eq!(
        browser
            .attr("#verification-status", "data-verified")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );

    // A takedown shows a notice and none of the content.
    set_lifecycle(
        &app,
        "takedown-demo",
        "1.0.0",
        json!({"status": "takedown", "reason": "court order 42"}),
    )
    .await;
    browser
        .goto(&format!("{base}/registry/packages/takedown-demo/1.0.0"))
        .await
        .unwrap();
    review_shot(&browser, "takedown-desktop").await;
    assert!(browser
        .text("#takedown-notice")
        .await
        .unwrap()
        .contains("court order 42"));
    for hidden in [
        "#readme",
        "#digests",
        "#receipt",
        "#verification",
        "#downloads",
    ] {
        assert_eq!(browser.count(hidden).await.unwrap(), 0, "{hidden}");
    }

    // Publisher pages list their packages.
    browser
        .goto(&format!("{base}/registry/publishers/{PUBLISHER_ID}"))
        .await
        .unwrap();
    assert!(
        browser
            .count(r#"#publisher-packages li.package[data-package-id="acme/xss-demo"]"#)
            .await
            .unwrap()
            >= 1
    );
    assert_eq!(
        browser
            .count(r#"#publisher-packages li.package[data-package-id="takedown-demo"]"#)
            .await
            .unwrap(),
        0,
        "taken-down versions are not listed"
    );
    let publisher = gitlab["package"]["publisher_id"].as_str().unwrap();
    browser
        .goto(&format!("{base}/registry/publishers/{publisher}"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .count(r#"li.package[data-package-id="gitlab-fronting-showcase"]"#)
            .await
            .unwrap(),
        1
    );
    browser
        .goto(&format!("{base}/registry/no-such-page"))
        .await
        .unwrap();
    assert_eq!(browser.text("h1").await.unwrap(), "Not found");
    review_shot(&browser, "not-found-desktop").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn redirects_security_headers_and_html_errors() {
    let (app, _db) = spawn_app().await;
    for (path, location) in [
        ("/", "/registry"),
        ("/registry", "/registry/packages"),
        ("/registry/", "/registry/packages"),
        ("/registry/packages/", "/registry/packages"),
    ] {
        let (status, headers, _) = page(&app, path).await;
        assert_eq!(status, 302, "{path}");
        assert_eq!(headers["location"], location, "{path}");
    }

    let (status, headers, body) = page(&app, "/registry/packages").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(body.starts_with("<!DOCTYPE html>"));
    assert!(
        body.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    assert!(body.contains("No packages yet"));
    for external in ["<script", "<link", " src=", "http://", "https://"] {
        assert!(!body.contains(external), "{external} in {body}");
    }

    for path in [
        "/registry/nothing-here",
        "/registry/packages/missing",
        "/registry/packages/missing/1.0.0",
        "/registry/packages/a/b/c/1.0.0",
        "/registry/packages/%ff/1.0.0",
        "/registry/packages/..%2Fetc/1.0.0",
        "/registry/templates/missing/1.0.0",
        "/registry/publishers/nobody",
    ] {
        let (status, headers, body) = page(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert!(body.contains("Not found"), "{path}: {body}");
    }
    for path in [
        "/registry/packages?limit=abc",
        &format!("/registry/packages?q={}", "x".repeat(201)),
        "/registry/packages?q=a%01b",
    ] {
        let (status, headers, body) = page(&app, path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        assert!(body.contains("Bad request"), "{path}");
    }
    let response = http()
        .post(format!("{}/registry/packages", base(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let response = http()
        .head(format!("{}/registry/packages", base(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The API keeps its JSON errors.
    let (status, body) = app.get_json("no-such-route").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, headers, _) = page(&app, "/registry-api/v1/nothing").await;
    assert_eq!(status, 404);
    assert!(headers.get("content-security-policy").is_none());
}

#[tokio::test]
async fn lists_paginate_and_every_page_renders() {
    let (app, _db) = spawn_app().await;
    for i in 0..5 {
        publish_ok(&app, &publish_request(&format!("acme/pkg-{i}"), "1.0.0")).await;
    }
    publish_ok(&app, &publish_request("acme/pkg-0", "1.0.1")).await;

    let (status, _, first) = page(&app, "/registry/packages?limit=4").await;
    assert_eq!(status, 200);
    assert_eq!(first.matches(r#"<li class="package""#).count(), 4);
    assert!(first.contains("6 published versions"));
    assert!(
        first.contains(r#"href="/registry/packages?limit=4&amp;offset=4""#),
        "{first}"
    );
    let (_, _, second) = page(&app, "/registry/packages?limit=4&offset=4").await;
    assert_eq!(second.matches(r#"<li class="package""#).count(), 2);
    assert!(second.contains(r#"href="/registry/packages?limit=4""#));
    let (_, _, searched) = page(&app, "/registry/packages?q=pkg-3&limit=4").await;
    assert_eq!(searched.matches(r#"<li class="package""#).count(), 1);
    assert!(searched.contains(r#"data-package-id="acme/pkg-3""#));

    // Every page of a package renders, whichever way the id is written.
    for path in [
        "/registry/packages/acme%2Fpkg-0",
        "/registry/packages/acme/pkg-0",
        "/registry/packages/acme%2Fpkg-0/1.0.1",
        "/registry/packages/acme/pkg-0/1.0.1",
        "/registry/publishers/studio-test",
    ] {
        let (status, headers, body) = page(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-security-policy"], CSP);
        assert!(body.contains("acme/pkg-0"), "{path}");
    }
    let (_, _, detail) = page(&app, "/registry/packages/acme/pkg-0/1.0.1").await;
    assert!(detail.contains(r#"data-verified="true""#));
    assert!(detail.contains("/registry-api/v1/packages/acme%2Fpkg-0/1.0.1/download"));
    // The publish request's name `Work Item Fronting <&>` is escaped.
    assert!(detail.contains("Work Item Fronting &lt;&amp;&gt;"));

    // A taken-down version answers 410 with a notice and no content.
    set_lifecycle(
        &app,
        "acme/pkg-1",
        "1.0.0",
        json!({"status": "takedown", "reason": "malware"}),
    )
    .await;
    let (status, _, gone) = page(&app, "/registry/packages/acme%2Fpkg-1/1.0.0").await;
    assert_eq!(status, 410);
    assert!(gone.contains("takedown-notice") && gone.contains("malware"));
    assert!(
        !gone.contains("sha256:"),
        "no digests of taken-down content"
    );
    let (_, _, list) = page(&app, "/registry/packages").await;
    assert!(!list.contains(r#"data-package-id="acme/pkg-1""#));

    // Templates: list and detail, with the registry's signature checked.
    let template = json!({
        "schema": "anip-starter-template/v0",
        "id": "acme/gitlab-starter",
        "kind": "service",
        "projectType": "fronting",
        "anipSpecVersion": "anip/0.24",
        "domain": "devops",
        "documents": [{"filename": "README.md", "content": "# Start <here>"}],
    });
    let body = json!({
        "template_id": "acme/gitlab-starter",
        "template_version": "1.0.0",
        "manifest": {
            "schema": "anip-starter-template-manifest/v0",
            "template_id": "acme/gitlab-starter",
            "anip_spec_version": "anip/0.24",
            "template_digest": signing::digest_value(&template),
            "systems": ["gitlab"],
        },
        "template": template,
    });
    let (status, created) = app.post_json("templates", Some(PUBLISH_TOKEN), &body).await;
    assert_eq!(status, 201, "{created}");
    let (status, _, templates) = page(&app, "/registry/templates").await;
    assert_eq!(status, 200);
    assert!(templates.contains(r#"data-template-id="acme/gitlab-starter""#));
    for path in [
        "/registry/templates/acme%2Fgitlab-starter/1.0.0",
        "/registry/templates/acme/gitlab-starter/1.0.0",
    ] {
        let (status, _, detail) = page(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(detail.contains(r#"data-verified="true""#), "{path}");
        assert!(detail.contains("Start &lt;here&gt;"), "{path}");
    }
    let (status, _, versions) = page(&app, "/registry/templates/acme/gitlab-starter").await;
    assert_eq!(status, 200);
    assert!(versions.contains(r#"data-version="1.0.0""#));

    // Pages are labelled by route pattern in the metrics, never by raw path.
    let metrics = app.get("metrics").await.text().await.unwrap();
    for route in [
        "/registry/packages",
        "/registry/packages/{package_id}",
        "/registry/packages/{package_id}/{version}",
        "/registry/packages/{tail:.+}",
        "/registry/publishers/{publisher_id}",
    ] {
        assert!(
            metrics.contains(&format!("route=\"{route}\"")),
            "{route} missing from metrics"
        );
    }
    assert!(!metrics.contains("pkg-0"), "raw paths leak into labels");
}

/// A proxy in front of Postgres that counts the statements the app executes (frontend
/// `Execute` and simple `Query` messages).
async fn counting_proxy(target: String) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let target = target.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let outbound = TcpStream::connect(target).await.unwrap();
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                // The startup message has no type byte; every later message does.
                let mut length = [0u8; 4];
                if client_read.read_exact(&mut length).await.is_err() {
                    return;
                }
                let mut body = vec![0; u32::from_be_bytes(length) as usize - 4];
                client_read.read_exact(&mut body).await.unwrap();
                server_write.write_all(&length).await.unwrap();
                server_write.write_all(&body).await.unwrap();
                loop {
                    let mut header = [0u8; 5];
                    if client_read.read_exact(&mut header).await.is_err() {
                        return;
                    }
                    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                    let mut body = vec![0; length as usize - 4];
                    if client_read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if matches!(header[0], b'E' | b'Q') {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    if server_write.write_all(&header).await.is_err()
                        || server_write.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

/// Statements executed while the app serves `path`.
async fn statements(app: &TestApp, count: &AtomicU64, path: &str) -> u64 {
    let before = count.load(Ordering::SeqCst);
    let (status, _, body) = page(app, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    count.load(Ordering::SeqCst) - before
}

#[tokio::test]
async fn a_list_page_costs_the_same_queries_at_100k_packages() {
    let db = database().await;
    let (before, after) = db.url.split_once("@127.0.0.1:").unwrap();
    let (target_port, rest) = after.split_once('/').unwrap();
    let (proxy_port, count) = counting_proxy(format!("127.0.0.1:{target_port}")).await;
    let app = spawn_with_pool_url(
        &db.url,
        // The proxy reads plaintext protocol messages: no TLS negotiation (libpq's default
        // `prefer` would open with an SSLRequest).
        &format!("{before}@127.0.0.1:{proxy_port}/{rest}?sslmode=disable"),
        // Every request reaches the store (no pages served from memory).
        &["--listing-cache-ttl-ms", "0"],
    )
    .await;
    for i in 0..3 {
        publish_ok(&app, &publish_request(&format!("pkg-{i}"), "1.0.0")).await;
    }
    let paths = [
        "/registry/packages",
        "/registry/packages?offset=20",
        "/registry/packages?q=pkg-1",
        "/registry/packages?q=pk",
    ];
    // Warm up, then count.
    for path in paths {
        statements(&app, &count, path).await;
    }
    let mut small = Vec::new();
    for path in paths {
        small.push(statements(&app, &count, path).await);
    }
    // The list: its keys and the counter row (one round trip), then the rows; a search: its
    // keys and count, then the rows.
    assert_eq!(small, [3, 3, 2, 2], "statements per page");

    let client = db.pool().get().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO registry_packages (package_id, package_version, project_ref, product_revision_ref, \
             developer_revision_ref, contract_signature, schema_version, publisher_id, publisher_type, \
             manifest_digest, definition_digest, lock_digest, name, search_text, published_at, published_at_ts, \
             manifest, service_definition, recommended_lock, record_json, record_etag, download_count) \
             SELECT 'bulk-' || i, '1.0.0', 'p', 'r', 'd', 'c', 'anip-service-definition/v1', 'bulk', 'organization', \
             'sha256:m', 'sha256:d', 'sha256:l', 'Package ' || i, 'bulk-' || i || ' package ' || i || ' bulk', \
             '2026-01-01T00:00:00Z', now() - (i || ' seconds')::interval, '{}', '{}', '{}', '\\x7b7d0a', 'e', i % 1000 \
             FROM generate_series(1, 100000) AS i; \
             UPDATE registry_counters SET value = value + 100000 WHERE name = 'listed_packages'; \
             ANALYZE registry_packages;",
        )
        .await
        .unwrap();
    let mut large = Vec::new();
    for path in paths {
        large.push(statements(&app, &count, path).await);
    }
    assert_eq!(
        large, small,
        "statements per page at 3 and 100,003 packages"
    );
    let (_, _, body) = page(&app, "/registry/packages").await;
    assert!(body.contains("100,003 published versions"), "{body}");
    let (status, _, body) = page(&app, "/registry/packages?q=bulk-4242").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"data-package-id="bulk-4242""#));
    // A search matching more than the count cap says "at least".
    let (status, _, body) = page(&app, "/registry/packages?q=bulk").await;
    assert_eq!(status, 200);
    assert!(body.contains("1,000+ results for"), "{body}");
}
