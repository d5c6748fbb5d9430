//! The walk in headless Chromium (through `browser-test`), against the real Registry
//! served in-process and Studio pointing at it: a person creates a project, uploads a
//! document, accepts an assistant draft, saves product and developer revisions, publishes
//! locally and to the Registry and sees the publication verified; then a read-only Studio
//! shows the same pages with its banner and no control that changes anything.
//!
//! Without `chromium` and `chromedriver` this test fails (it never skips). Screenshots of the
//! project page (phone and desktop) go to `ANIP_UI_SCREENSHOT_DIR` when set, else to a
//! temporary directory removed when the test passes.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "common/registry.rs"]
mod registry_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use browser_test::Browser;
use common::*;
use registry_server::{Registry, TOKEN};
use studio_api::config::Settings;

const PAGES: [&str; 7] = [
    "",
    "/documents",
    "/product",
    "/design",
    "/developer",
    "/publish",
    "/history",
];

const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 900);

/// Waits until the element's rendered text contains `needle` (pages load after a form post's
/// redirect), failing with what the page shows instead.
async fn wait_text(browser: &Browser, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(text) = browser.text(css).await {
            if text.contains(needle) {
                return text;
            }
        }
        if Instant::now() > deadline {
            let url = browser.current_url().await.unwrap_or_default();
            let body = browser.text("body").await.unwrap_or_default();
            panic!("`{css}` never showed {needle:?} on {url}:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits the form (by its button, as a person would) and waits for the notice the next page
/// shows.
async fn submit(browser: &Browser, form: &str, notice: &str) -> String {
    browser.submit(form).await.unwrap();
    wait_text(browser, "div.notice", notice).await
}

/// Clicks a button and waits for the notice the next page shows.
async fn click(browser: &Browser, button: &str, notice: &str) -> String {
    browser.click(button).await.unwrap();
    wait_text(browser, "div.notice", notice).await
}

/// Saves a screenshot at a window size, checking the page does not scroll sideways.
async fn shot(browser: &Browser, dir: &Path, name: &str, (width, height): (u32, u32)) {
    browser.set_window_size(width, height).await.unwrap();
    browser
        .execute("window.scrollTo(0, 0); return null;", vec![])
        .await
        .unwrap();
    let path = dir.join(format!("{name}.png"));
    let bytes = browser.screenshot(&path).await.unwrap();
    // What sticks out to the right, if anything: the page must not scroll sideways.
    let wide = browser
        .execute(
            "const w = window.innerWidth; return [...document.querySelectorAll('body *')]\
               .filter(e => e.getBoundingClientRect().right > w + 0.5)\
               .slice(0, 5)\
               .map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' + \
                         Math.round(e.getBoundingClientRect().right));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        wide,
        serde_json::json!([]),
        "{name}: wider than the {width} px window"
    );
    assert!(bytes > 1_000, "{}: {bytes} bytes", path.display());
}

fn screenshot_dir() -> (PathBuf, bool) {
    match std::env::var_os("ANIP_UI_SCREENSHOT_DIR") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            (PathBuf::from(dir), false)
        }
        None => (
            browser_test::fresh_temp_dir("studio-browser").unwrap(),
            true,
        ),
    }
}

/// The project id from `/studio/projects/{id}?notice=...`.
fn project_id(url: &str) -> String {
    url.split("/studio/projects/")
        .nth(1)
        .and_then(|rest| rest.split(['?', '/']).next())
        .unwrap_or_else(|| panic!("not a project page: {url}"))
        .to_owned()
}

/// No form posts anywhere but to the validation routes the read-only guard lets through, and
/// no control that edits.
async fn assert_nothing_mutates(browser: &Browser, what: &str) {
    for form in browser.find_all("form").await.unwrap() {
        let method = form.attr("method").await.unwrap().unwrap_or_default();
        if method.eq_ignore_ascii_case("post") {
            let action = form.attr("action").await.unwrap().unwrap_or_default();
            let path = action.split('?').next().unwrap_or_default().to_owned();
            assert!(
                studio_api::read_only::VALIDATION_POSTS
                    .iter()
                    .any(|allowed| studio_api::read_only::path_matches(allowed, &path)),
                "{what}: a form posts to {action}"
            );
        }
    }
    for control in [
        "button",
        "input[type=submit]",
        "input[type=file]",
        "textarea",
    ] {
        assert_eq!(
            browser.count(control).await.unwrap(),
            0,
            "{what}: a `{control}` is shown in read-only mode"
        );
    }
}

#[actix_web::test]
async fn a_person_authors_and_publishes_in_chromium_and_read_only_shows_no_controls() {
    let registry = Registry::start().await;
    let key_id = registry.active_key_id().await;
    let settings = Settings {
        registry_url: Some(registry.api.clone()),
        registry_publish_token: Some(signing::Secret::new(TOKEN)),
        registry_required_mode: Some("dev".into()),
        registry_trusted_key_id: Some(key_id.clone()),
        ..Settings::for_tests()
    };
    let app = spawn(settings.clone()).await;
    let browser = Browser::launch()
        .await
        .unwrap_or_else(|e| panic!("this test needs headless Chromium: {e}"));
    let (shots, remove_shots) = screenshot_dir();

    // A project, from the home page's form.
    browser.goto(&app.url("/studio")).await.unwrap();
    // The page is served with its Content-Security-Policy, and its inline stylesheet (and
    // `style` attribute) still apply under it.
    let styled = browser
        .execute(
            "return getComputedStyle(document.querySelector('header.top')).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        styled,
        serde_json::json!("rgb(16, 24, 40)"),
        "the stylesheet is blocked"
    );
    browser.fill("#p-name", "Expense Approvals").await.unwrap();
    browser.fill("#p-domain", "expenses").await.unwrap();
    browser
        .fill("#p-summary", "Approve expense reports within policy.")
        .await
        .unwrap();
    submit(
        &browser,
        "form[action='/studio/projects']",
        "Project created.",
    )
    .await;
    let pid = project_id(&browser.current_url().await.unwrap());
    let base = app.url(&format!("/studio/projects/{pid}"));
    assert_eq!(browser.text("h1").await.unwrap(), "Expense Approvals");

    // A source document, through the file input.
    let upload_dir = browser_test::fresh_temp_dir("studio-upload").unwrap();
    let spec = upload_dir.join("expense-spec.md");
    std::fs::write(&spec, SPEC).unwrap();
    browser.goto(&format!("{base}/documents")).await.unwrap();
    browser
        .find("#d-file")
        .await
        .unwrap()
        .send_keys(&spec.to_string_lossy())
        .await
        .unwrap();
    browser.fill("#d-title", "Expense spec").await.unwrap();
    submit(
        &browser,
        "form[enctype='multipart/form-data']",
        "Document uploaded.",
    )
    .await;
    assert!(browser
        .text("pre")
        .await
        .unwrap()
        .contains("Employees submit expense reports"));
    let document_page = browser.current_url().await.unwrap();
    let document_page = document_page.split('?').next().unwrap().to_owned();
    std::fs::remove_dir_all(&upload_dir).unwrap();

    // The assistant drafts product sections; the person accepts them.
    browser.goto(&format!("{base}/documents")).await.unwrap();
    browser
        .submit("form[action$='/assistant/sections']")
        .await
        .unwrap();
    wait_text(&browser, "h1", "Assistant proposal").await;
    assert!(browser.count("input[name=accepted]:checked").await.unwrap() >= 2);
    submit(&browser, "form[action$='/assistant/accept']", "Accepted.").await;
    assert!(browser
        .source()
        .await
        .unwrap()
        .contains("Employees submit expense reports"));

    // Product revision.
    submit(
        &browser,
        "form[action$='/product/revisions']",
        "Product Design Revision",
    )
    .await;
    assert!(browser
        .text("section.card")
        .await
        .unwrap()
        .contains("Latest frozen revision: 1"));

    // Baseline, definition, developer revision.
    browser.goto(&format!("{base}/developer")).await.unwrap();
    submit(
        &browser,
        "form[action$='/developer/baseline']",
        "Baseline locked.",
    )
    .await;
    browser
        .fill("#def", &sound_definition().to_string())
        .await
        .unwrap();
    submit(
        &browser,
        "form[action$='/developer/definition']",
        "Definition saved.",
    )
    .await;
    submit(&browser, "form[action$='/developer/revisions']", "Saved").await;
    assert!(browser.source().await.unwrap().contains("No findings."));

    // Publish locally, and verify the local publication.
    browser.goto(&format!("{base}/publish")).await.unwrap();
    browser.fill("#pk-v", "1.0.0").await.unwrap();
    click(&browser, "button[value=local]", "Published locally").await;
    browser.click("a[href$='/verify']").await.unwrap();
    wait_text(&browser, "main p .pill", "verified").await;
    let verify_page = browser.current_url().await.unwrap();

    // Publish to the Registry: the shared verifier's verdict is shown, with its checks.
    browser.goto(&format!("{base}/publish")).await.unwrap();
    browser.fill("#pk-v", "1.0.0").await.unwrap();
    let notice = click(
        &browser,
        "button[value=registry]",
        "Published to the Registry.",
    )
    .await;
    assert!(notice.contains("Verified"), "{notice}");
    assert_eq!(
        browser
            .text("#registry-publications .verdict")
            .await
            .unwrap(),
        "verified"
    );
    browser
        .click("#registry-publications details summary")
        .await
        .unwrap();
    for check in ["identity", "signature", "required_mode", "trusted_key_id"] {
        let row = browser
            .text(&format!("#registry-publications tr[data-check={check}]"))
            .await
            .unwrap();
        assert!(row.contains("pass"), "{check}: {row}");
    }
    assert!(browser
        .text("#registry-publications")
        .await
        .unwrap()
        .contains(&key_id));
    shot(&browser, &shots, "publish-desktop", DESKTOP).await;
    shot(&browser, &shots, "publish-phone", PHONE).await;

    // The project page, on a phone and on a desktop.
    browser.goto(&base).await.unwrap();
    shot(&browser, &shots, "project-phone", PHONE).await;
    shot(&browser, &shots, "project-desktop", DESKTOP).await;

    // Read-only: the same pages, a banner, nothing that changes anything.
    let (read_only, handle) = app.serve_again(Settings {
        read_only: true,
        read_only_reason: "Public demo".into(),
        ..settings
    });
    let mut pages: Vec<String> = PAGES
        .iter()
        .map(|suffix| format!("{read_only}/studio/projects/{pid}{suffix}"))
        .collect();
    pages.push(document_page.replace(&app.base, &read_only));
    pages.push(verify_page.replace(&app.base, &read_only));
    pages.push(format!("{read_only}/studio"));
    pages.push(format!("{read_only}/studio/settings"));
    pages.push(format!("{read_only}/studio/templates"));
    for page in &pages {
        browser.goto(page).await.unwrap();
        assert_eq!(
            browser.text(".banner").await.unwrap(),
            "Read-only: Public demo",
            "{page}"
        );
        assert_nothing_mutates(&browser, page).await;
    }
    browser
        .goto(&format!("{read_only}/studio/projects/{pid}/publish"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .text("#registry-publications .verdict")
            .await
            .unwrap(),
        "verified"
    );
    browser
        .goto(&format!("{read_only}/studio/projects/{pid}"))
        .await
        .unwrap();
    shot(&browser, &shots, "project-read-only-phone", PHONE).await;
    shot(&browser, &shots, "project-read-only-desktop", DESKTOP).await;

    handle.stop(false).await;
    browser.close().await.unwrap();
    registry.stop().await;
    if remove_shots {
        std::fs::remove_dir_all(&shots).unwrap();
    } else {
        eprintln!("screenshots in {}", shots.display());
    }
}
