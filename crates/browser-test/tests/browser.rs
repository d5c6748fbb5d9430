//! The browser handle against a tiny page served from this process: navigation, reading,
//! forms, screenshots, and that nothing outlives the handle.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use browser_test::{fresh_temp_dir, processes_mentioning, Browser};

/// Serves one HTML page on 127.0.0.1:0 from a thread: a form, and the query echoed back.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            // One thread per connection: Chromium opens speculative connections that stay
            // idle, and must not hold up the next request.
            std::thread::spawn(move || respond(stream));
        }
    });
    format!("http://{addr}")
}

fn respond(mut stream: std::net::TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let target = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let body = format!(
        "<!doctype html><html><head><title>Fixture</title></head><body>\
         <h1 id=\"greeting\">Hello &amp; welcome</h1>\
         <p id=\"query\">{}</p>\
         <form id=\"search\" method=\"get\" action=\"/\">\
         <input name=\"q\" id=\"q\"><button type=\"submit\">Go</button></form>\
         <a id=\"link\" href=\"/?q=linked\">link</a>\
         </body></html>",
        query.replace('<', "&lt;")
    );
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[tokio::test]
async fn drives_a_page_and_leaves_no_process_behind() {
    let base = serve();
    let browser = Browser::launch()
        .await
        .unwrap_or_else(|e| panic!("launching headless Chromium failed: {e}"));
    let profile = browser.profile_dir().to_owned();
    assert!(
        !processes_mentioning(&profile).is_empty(),
        "Chromium runs with the fresh profile {}",
        profile.display()
    );

    browser.goto(&base).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Fixture");
    assert_eq!(browser.text("#greeting").await.unwrap(), "Hello & welcome");
    assert_eq!(browser.count("p").await.unwrap(), 1);
    assert!(browser.find("#missing").await.is_err());

    browser.fill("#q", "needle").await.unwrap();
    browser.submit("#search").await.unwrap();
    browser
        .wait_for("#query", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(browser.current_url().await.unwrap().ends_with("/?q=needle"));
    assert_eq!(browser.text("#query").await.unwrap(), "q=needle");

    browser.click("#link").await.unwrap();
    assert_eq!(browser.text("#query").await.unwrap(), "q=linked");
    assert_eq!(browser.alert_text().await.unwrap(), None);

    browser.set_window_size(390, 844).await.unwrap();
    let (width, _) = browser.viewport_size().await.unwrap();
    assert!(width <= 390, "viewport {width} px wide");
    let dir = fresh_temp_dir("browser-test-shot").unwrap();
    let shot = dir.join("page.png");
    let bytes = browser.screenshot(&shot).await.unwrap();
    assert!(bytes > 100);
    assert!(std::fs::read(&shot)
        .unwrap()
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    std::fs::remove_dir_all(&dir).unwrap();

    drop(browser);
    assert!(
        processes_mentioning(&profile).is_empty(),
        "a process still uses {}",
        profile.display()
    );
    assert!(!profile.exists(), "the profile directory is removed");
}

#[tokio::test]
async fn close_reports_success_and_cleans_up() {
    let browser = Browser::launch()
        .await
        .unwrap_or_else(|e| panic!("launching headless Chromium failed: {e}"));
    let profile = browser.profile_dir().to_owned();
    browser.goto("about:blank").await.unwrap();
    browser.close().await.unwrap();
    assert!(processes_mentioning(&profile).is_empty());
    assert!(!profile.exists());
}
