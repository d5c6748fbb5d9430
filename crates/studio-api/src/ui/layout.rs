//! Page chrome: layout, navigation, the read-only banner, notices, error pages, and small
//! rendering helpers. Pages work without JavaScript.

use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;

use crate::app::AppState;
use crate::error::Error;

const STYLE: &str = r#"
:root { --fg:#1d2433; --muted:#5b6577; --line:#d9dee7; --bg:#f6f7fa; --accent:#2454c5; --ok:#1f7a45; --bad:#b3261e; --warn:#8a5a00; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header.top { background:#101828; color:#fff; padding:.6rem 1.2rem; display:flex; gap:1.2rem; align-items:center; }
header.top a { color:#dfe6f5; text-decoration:none; } header.top a.brand { font-weight:700; color:#fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
.banner { background:#fff4d6; border-bottom:1px solid #e8c66a; color:#5c4300; padding:.5rem 1.2rem; font-weight:600; }
.notice { background:#e7f4ec; border:1px solid #a9d8b8; padding:.5rem .8rem; border-radius:6px; margin:.6rem 0; }
.error { background:#fdecea; border:1px solid #f0b3ad; padding:.5rem .8rem; border-radius:6px; margin:.6rem 0; }
nav.tabs { display:flex; flex-wrap:wrap; gap:.3rem; margin:.4rem 0 1rem; border-bottom:1px solid var(--line); }
nav.tabs a { padding:.4rem .7rem; text-decoration:none; color:var(--muted); border-radius:6px 6px 0 0; }
nav.tabs a.here { color:var(--fg); background:#fff; border:1px solid var(--line); border-bottom-color:#fff; margin-bottom:-1px; }
section.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; margin:.8rem 0; }
h1 { font-size:1.5rem; margin:.6rem 0; } h2 { font-size:1.15rem; margin:.2rem 0 .6rem; } h3 { font-size:1rem; margin:.6rem 0 .3rem; }
table { border-collapse:collapse; width:100%; } th, td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; overflow-wrap:anywhere; }
th { color:var(--muted); font-weight:600; font-size:.85rem; }
code, pre, textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
pre { background:#f2f4f8; padding:.6rem; border-radius:6px; overflow:auto; max-height:32rem; white-space:pre-wrap; word-break:break-word; }
textarea { width:100%; min-height:10rem; }
input[type=text], select { padding:.3rem .4rem; min-width:14rem; }
form.inline { display:inline; } form.stack label { display:block; margin:.4rem 0 .15rem; color:var(--muted); font-size:.9rem; }
button { background:var(--accent); color:#fff; border:0; border-radius:6px; padding:.4rem .8rem; cursor:pointer; font-size:.9rem; }
button.danger { background:var(--bad); } button.quiet { background:#e4e8f0; color:var(--fg); }
.muted { color:var(--muted); } .ok { color:var(--ok); font-weight:600; } .bad { color:var(--bad); font-weight:600; } .warn { color:var(--warn); font-weight:600; }
.pill { display:inline-block; padding:0 .45rem; border-radius:99px; font-size:.8rem; background:#e4e8f0; }
.pill.ok { background:#dff3e6; } .pill.bad { background:#fbe3e1; } .pill.warn { background:#fdf0d2; }
.grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap:.6rem; }
.grid.facts { grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap:.3rem .8rem; margin:.4rem 0; }
form.stack input[type=text], form.stack select { width:100%; max-width:32rem; min-width:0; }
details > summary { cursor:pointer; }
@media (max-width: 640px) {
  header.top { flex-wrap:wrap; gap:.3rem 1rem; padding:.6rem .8rem; }
  main { padding:.6rem .6rem 2rem; }
  section.card { padding:.7rem .75rem; }
  table, tbody, tr, td { display:block; width:100%; }
  tr:has(> th) { display:none; }
  tr { border-bottom:1px solid var(--line); padding:.35rem 0; }
  td { border:0; padding:.1rem 0; }
  input[type=text], select { min-width:0; width:100%; }
}
"#;

/// What every page knows.
pub struct Page<'a> {
    /// Shared state (read-only flag and reason).
    pub state: &'a AppState,
    /// `<title>` and heading.
    pub title: String,
    /// A success message from the previous action (`?notice=`).
    pub notice: Option<String>,
}

/// Whether the page may show mutating controls.
pub fn writable(state: &AppState) -> bool {
    !state.settings.read_only
}

/// The full HTML document.
pub fn render(page: Page<'_>, body: Markup) -> Markup {
    let settings = &page.state.settings;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) " · ANIP Studio" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    a.brand href="/studio" { "ANIP Studio" }
                    a href="/studio" { "Workspaces" }
                    a href="/studio/templates" { "Templates" }
                    a href="/studio/settings" { "Settings" }
                    a href="/api/openapi.json" { "API" }
                }
                @if settings.read_only {
                    div.banner role="status" { "Read-only: " (settings.read_only_reason) }
                }
                main {
                    @if let Some(notice) = &page.notice {
                        div.notice role="status" { (notice) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A 200 page.
pub fn respond(page: Page<'_>, body: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(render(page, body).into_string())
}

/// An error page with the error's status; the message is the API's `detail`.
pub fn error_page(state: &AppState, error: &Error) -> HttpResponse {
    let status = error.status();
    let page = Page {
        state,
        title: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        ),
        notice: None,
    };
    let body = html! {
        h1 { (page.title) }
        div.error { (error.detail()) }
        // No `javascript:` link: the Content-Security-Policy allows no script (the browser's
        // own Back button does the same).
        p { a href="/studio" { "Workspaces" } }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(render(page, body).into_string())
}

/// Runs a page handler, turning errors into error pages.
pub fn page_or_error(state: &AppState, result: crate::error::Result<HttpResponse>) -> HttpResponse {
    result.unwrap_or_else(|error| error_page(state, &error))
}

/// 303 to `location` with a notice.
pub fn redirect(location: &str, notice: &str) -> HttpResponse {
    let separator = if location.contains('?') { '&' } else { '?' };
    HttpResponse::SeeOther()
        .insert_header((
            "location",
            format!("{location}{separator}notice={}", encode(notice)),
        ))
        .finish()
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Refuses form posts from other sites (the browser says so in `Sec-Fetch-Site`, or the
/// `Origin` names another host): Studio has no sessions, so this is its CSRF defence.
pub fn same_origin(req: &HttpRequest) -> crate::error::Result<()> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if header("sec-fetch-site").as_deref() == Some("cross-site") {
        return Err(Error::Forbidden(
            "Cross-site form posts are refused.".into(),
        ));
    }
    if let (Some(origin), Some(host)) = (header("origin"), header("host")) {
        let origin_host = origin.split("://").nth(1).unwrap_or(&origin);
        if origin != "null" && origin_host != host {
            return Err(Error::Forbidden(
                "Cross-site form posts are refused.".into(),
            ));
        }
    }
    Ok(())
}

/// Pretty JSON for display.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A status pill.
pub fn pill(text: &str, class: &str) -> Markup {
    html! { span class={ "pill " (class) } { (text) } }
}

/// A check list (`name`, `status` of `pass`/`warn`/`skip`/`fail`, and `reason` or `detail`)
/// as a table.
pub fn checks_table(checks: &[Value]) -> Markup {
    html! {
        table.checks {
            tr { th { "Check" } th { "Result" } th { "Why" } }
            @for check in checks {
                @let status = check["status"].as_str().unwrap_or("fail");
                tr data-check=(check["name"].as_str().unwrap_or_default()) {
                    td { code { (check["name"].as_str().unwrap_or_default()) } }
                    td {
                        @match status {
                            "pass" => span.ok { "pass" },
                            "warn" => span.warn { "warn" },
                            "skip" => span.muted { "skip" },
                            _ => span.bad { "fail" },
                        }
                    }
                    td.muted { (check["reason"].as_str().or_else(|| check["detail"].as_str()).unwrap_or_default()) }
                }
            }
        }
    }
}
