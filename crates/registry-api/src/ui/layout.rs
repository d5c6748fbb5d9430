//! The page shell (head, header, footer, the one inline stylesheet) and the small pieces every
//! page uses: badges, counts, timestamps, safe links, pagination.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::paths;

/// Which top-level section a page belongs to (highlighted in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Packages,
    Templates,
    None,
}

/// The one stylesheet, inline (the CSP allows inline styles and nothing external). System
/// fonts, no images, light and dark schemes, one column on phones.
const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--border:#d8dee4;--bg:#fff;--subtle:#f6f8fa;--accent:#0a58ca;
--head:#0d1b2a;--ok:#1a7f37;--ok-bg:#dafbe1;--warn:#9a6700;--warn-bg:#fff8c5;--bad:#cf222e;--bad-bg:#ffebe9;
--info:#0550ae;--info-bg:#ddf4ff;--gray-bg:#eaeef2;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--border:#30363d;--bg:#0d1117;
--subtle:#151b23;--accent:#4493f8;--head:#010409;--ok:#3fb950;--ok-bg:#12261e;--warn:#d29922;--warn-bg:#272115;
--bad:#f85149;--bad-bg:#2d1214;--info:#4493f8;--info-bg:#121d2f;--gray-bg:#212830}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code,pre,.mono{font-family:var(--mono);font-size:.86em}
.wrap{max-width:1120px;margin:0 auto;padding:0 20px}
header.top{background:var(--head);color:#fff}
header.top .wrap{display:flex;align-items:center;gap:24px;min-height:56px;flex-wrap:wrap}
.brand{color:#fff;font-weight:650;font-size:17px;letter-spacing:.2px;display:flex;align-items:center;gap:10px}
.brand:hover{text-decoration:none}
.logo{display:inline-grid;place-items:center;width:28px;height:28px;border-radius:7px;background:linear-gradient(135deg,#3b82f6,#14b8a6);font-size:13px;font-weight:800}
nav.main{display:flex;gap:4px}
nav.main a{color:#c9d1d9;padding:6px 12px;border-radius:6px;font-weight:500}
nav.main a:hover{background:rgba(255,255,255,.08);text-decoration:none;color:#fff}
nav.main a.on{color:#fff;background:rgba(255,255,255,.14)}
main{padding:28px 0 48px}
footer{border-top:1px solid var(--border);color:var(--muted);font-size:13px;padding:18px 0 28px}
footer .wrap{display:flex;gap:16px;flex-wrap:wrap;justify-content:space-between}
h1{font-size:26px;line-height:1.25;margin:0 0 6px;font-weight:650;overflow-wrap:anywhere}
h2{font-size:18px;margin:0 0 12px;font-weight:620}
.lede{color:var(--muted);margin:0 0 20px}
.crumbs{font-size:14px;color:var(--muted);margin-bottom:10px;overflow-wrap:anywhere}
.crumbs a{color:var(--muted)}
.title-row{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.title-row h1{margin:0}
.search{display:flex;gap:8px;margin:0 0 18px}
.search input{flex:1;min-width:0;font:inherit;padding:9px 12px;border:1px solid var(--border);border-radius:8px;background:var(--bg);color:var(--fg)}
.search input:focus{outline:2px solid var(--accent);outline-offset:-1px}
.search button{font:inherit;font-weight:600;padding:9px 18px;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
.summary{color:var(--muted);font-size:14px;margin:0 0 10px}
.list{list-style:none;margin:0;padding:0;border:1px solid var(--border);border-radius:10px;overflow:hidden}
.list>li{padding:14px 16px;border-top:1px solid var(--border);display:flex;gap:8px 16px;align-items:center;flex-wrap:wrap}
.list>li:first-child{border-top:0}
.list>li:hover{background:var(--subtle)}
.row-main{flex:1 1 320px;min-width:0}
.row-title{font-weight:600;font-size:16px;overflow-wrap:anywhere}
.row-title .ver{font-weight:500;color:var(--muted);font-family:var(--mono);font-size:13px;margin-left:6px}
.meta{color:var(--muted);font-size:13px;display:flex;gap:4px 14px;flex-wrap:wrap;margin-top:2px}
.meta a{color:var(--muted);text-decoration:underline;text-decoration-color:var(--border)}
.row-side{display:flex;align-items:center;gap:12px;margin-left:auto}
.count{font-variant-numeric:tabular-nums;color:var(--muted);font-size:13px;white-space:nowrap}
.empty{border:1px dashed var(--border);border-radius:10px;padding:36px 20px;text-align:center;color:var(--muted)}
.empty strong{display:block;color:var(--fg);font-size:16px;margin-bottom:4px}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:16px;gap:12px;font-size:14px}
.pager a,.pager span.off{padding:7px 14px;border:1px solid var(--border);border-radius:8px}
.pager span.off{color:var(--muted);opacity:.6}
.badge{display:inline-flex;align-items:center;gap:4px;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;line-height:20px;white-space:nowrap;border:1px solid transparent}
.b-active,.b-pass,.b-verified,.b-official{color:var(--ok);background:var(--ok-bg)}
.b-superseded,.b-info,.b-skip,.b-unverified{color:var(--info);background:var(--info-bg)}
.b-deprecated,.b-warn,.b-pending_review,.b-pending_verification,.b-reserved{color:var(--warn);background:var(--warn-bg)}
.b-yanked,.b-takedown,.b-fail,.b-not-verified,.b-suspended,.b-rejected{color:var(--bad);background:var(--bad-bg)}
.b-neutral{color:var(--muted);background:var(--gray-bg)}
.layout{display:grid;grid-template-columns:minmax(0,1fr) 340px;gap:28px;margin-top:22px}
@media (max-width:900px){.layout{grid-template-columns:minmax(0,1fr);gap:0}}
.card{border:1px solid var(--border);border-radius:10px;padding:16px 18px;margin-bottom:20px;background:var(--bg)}
.card>h2{font-size:15px;margin:0 0 12px;display:flex;align-items:center;gap:8px;justify-content:space-between;flex-wrap:wrap}
.card>h2 a{font-size:13px;font-weight:500}
details.all-checks>summary{cursor:pointer;color:var(--accent);font-size:14px;margin-bottom:8px}
.notice{border-radius:10px;padding:14px 18px;margin:18px 0 0;border:1px solid}
.notice strong{display:block;margin-bottom:2px}
.notice p{margin:4px 0 0}
.n-warn{background:var(--warn-bg);border-color:var(--warn);color:var(--fg)}
.n-bad{background:var(--bad-bg);border-color:var(--bad);color:var(--fg)}
.n-info{background:var(--info-bg);border-color:var(--info);color:var(--fg)}
dl.kv{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:6px 14px;margin:0;font-size:14px}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0;overflow-wrap:anywhere}
.hash{font-family:var(--mono);font-size:12.5px;overflow-wrap:anywhere;word-break:break-all}
.checks{list-style:none;margin:0;padding:0}
.checks li{display:grid;grid-template-columns:64px minmax(0,1fr);gap:2px 12px;padding:8px 0;border-top:1px solid var(--border);font-size:14px}
.checks li:first-child{border-top:0;padding-top:0}
.checks .badge{justify-content:center;grid-row:span 2;align-self:start}
.checks .name{font-family:var(--mono);font-size:13px;font-weight:600}
.checks .why{color:var(--muted);font-size:13px;overflow-wrap:anywhere}
.links{list-style:none;margin:0;padding:0;font-size:14px}
.links li{padding:5px 0;overflow-wrap:anywhere}
.links .hint{color:var(--muted);font-size:12.5px;display:block}
.versions{list-style:none;margin:0;padding:0;font-size:14px}
.versions li{display:flex;align-items:center;gap:8px;padding:6px 0;border-top:1px solid var(--border);flex-wrap:wrap}
.versions li:first-child{border-top:0}
.versions .v{font-family:var(--mono);font-weight:600}
.versions .when{color:var(--muted);font-size:12.5px;margin-left:auto}
.versions li.current .v{color:var(--fg)}
.versions li.current{font-weight:600}
.readme{overflow-wrap:anywhere}
.readme>:first-child{margin-top:0}
.readme h2,.readme h3,.readme h4,.readme h5,.readme h6{margin:1.4em 0 .5em;line-height:1.3}
.readme h2{font-size:21px;padding-bottom:6px;border-bottom:1px solid var(--border)}
.readme h3{font-size:17px}.readme h4,.readme h5,.readme h6{font-size:15px}
.readme p,.readme ul,.readme ol,.readme blockquote,.readme pre{margin:0 0 1em}
.readme ul,.readme ol{padding-left:1.6em}
.readme code{background:var(--gray-bg);padding:.15em .35em;border-radius:5px}
.readme pre{background:var(--subtle);border:1px solid var(--border);border-radius:8px;padding:12px 14px;overflow-x:auto;line-height:1.45}
.readme pre code{background:none;padding:0;font-size:13px}
.readme blockquote{border-left:3px solid var(--border);padding:0 1em;color:var(--muted)}
.readme hr{border:0;border-top:1px solid var(--border);margin:1.5em 0}
.muted{color:var(--muted)}
.center{text-align:center}
@media (max-width:480px){.wrap{padding:0 14px}header.top .wrap{gap:8px}nav.main a{padding:5px 8px;font-size:14px}
.brand{font-size:16px;gap:8px}main{padding:20px 0 36px}h1{font-size:23px}.card{padding:14px}
dl.kv{grid-template-columns:minmax(0,1fr);gap:0}dl.kv dd{margin-bottom:8px}}
.big{font-size:64px;font-weight:700;color:var(--muted);margin:24px 0 0;line-height:1}
"#;

/// A complete HTML page.
pub fn page(title: &str, section: Section, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · ANIP Registry" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    div.wrap {
                        a.brand href=(paths::packages()) {
                            span.logo aria-hidden="true" { "A" }
                            "ANIP Registry"
                        }
                        nav.main aria-label="Sections" {
                            a.on[section == Section::Packages] href=(paths::packages()) { "Packages" }
                            a.on[section == Section::Templates] href=(paths::templates()) { "Templates" }
                        }
                    }
                }
                main { div.wrap { (body) } }
                footer {
                    div.wrap {
                        span { "ANIP Registry · each package page checks the version's receipt against this registry's signing keys" }
                        a href=(format!("{}/keys", paths::API_PREFIX)) { "Signing keys (JSON)" }
                    }
                }
            }
        }
    }
}

/// An HTML response.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .body(markup.into_string())
}

/// An error page: a status, a headline and a sentence.
pub fn error_page(status: StatusCode, headline: &str, message: &str) -> Markup {
    page(
        headline,
        Section::None,
        html! {
            div.center {
                p.big { (status.as_u16()) }
                h1 { (headline) }
                p.lede { (message) }
                p { a href=(paths::packages()) { "Browse packages" } " · " a href=(paths::templates()) { "Browse templates" } }
            }
        },
    )
}

/// The badge of a lifecycle status.
pub fn lifecycle_badge(status: &str) -> Markup {
    let (class, label) = match status {
        "" | "active" => ("b-active", "active"),
        "superseded" => ("b-superseded", "superseded"),
        "deprecated" => ("b-deprecated", "deprecated"),
        "yanked" => ("b-yanked", "yanked"),
        "takedown" => ("b-takedown", "taken down"),
        _ => ("b-neutral", "unknown"),
    };
    html! {
        span class=(format!("badge lifecycle {class}")) data-lifecycle=(label_key(status)) { (label) }
    }
}

fn label_key(status: &str) -> &str {
    if status.is_empty() {
        "active"
    } else {
        status
    }
}

/// A neutral or status-coloured badge; `kind` picks the colour class (`b-<kind>`).
pub fn badge(kind: &str, label: &str) -> Markup {
    html! { span class=(format!("badge b-{kind}")) { (label) } }
}

/// `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).unwrap_or_default())
        .collect();
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", groups.join(","))
}

/// `1 download` / `2,345 downloads`.
pub fn downloads(n: i64) -> String {
    if n == 1 {
        "1 download".to_owned()
    } else {
        format!("{} downloads", count(n))
    }
}

/// An RFC 3339 timestamp as a date (`2026-05-15`), with the full value in a `<time>`.
pub fn date(rfc3339: &str) -> Markup {
    let day = rfc3339
        .get(..10)
        .filter(|d| d.len() == 10)
        .unwrap_or(rfc3339);
    html! { time datetime=(rfc3339) title=(rfc3339) { (day) } }
}

/// `url` when it is an absolute http or https URL that is safe in an `href`, else `None`.
/// Anything else (`javascript:`, `data:`, relative paths, whitespace or control characters)
/// is shown as text, never linked.
pub fn safe_href(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let host_ok = url
        .split_once("://")
        .map(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
        .unwrap_or(false);
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    (scheme_ok && host_ok && clean && url.len() <= 2048).then_some(url)
}

/// Previous/next links for `limit`/`offset` paging; `query` holds the other parameters.
pub fn pager(base: &str, query: &[(&str, &str)], limit: i64, offset: i64, total: i64) -> Markup {
    let link = |offset: i64| {
        let mut parts: Vec<String> = query
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", paths::encode(v)))
            .collect();
        parts.push(format!("limit={limit}"));
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        format!("{base}?{}", parts.join("&"))
    };
    let has_prev = offset > 0;
    let has_next = offset + limit < total;
    html! {
        @if has_prev || has_next {
            nav.pager aria-label="Pagination" {
                @if has_prev {
                    a rel="prev" data-page="prev" href=(link((offset - limit).max(0))) { "← Previous" }
                } @else {
                    span.off { "← Previous" }
                }
                span.muted { "Page " (offset / limit.max(1) + 1) " of " ((total + limit - 1) / limit.max(1)) }
                @if has_next {
                    a rel="next" data-page="next" href=(link(offset + limit)) { "Next →" }
                } @else {
                    span.off { "Next →" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_links() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(-12345), "-12,345");
        assert_eq!(downloads(1), "1 download");
        assert_eq!(
            safe_href(" https://example.com/x "),
            Some("https://example.com/x")
        );
        assert_eq!(safe_href("HTTP://example.com"), Some("HTTP://example.com"));
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,x"), None);
        assert_eq!(safe_href("//evil.example"), None);
        assert_eq!(safe_href("https:///path"), None);
        assert_eq!(safe_href("https://a.example/\"onmouseover=x"), None);
    }
}
