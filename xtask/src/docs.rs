//! `cargo xtask docs`: the mdBook in `docs/`, built with the `mdbook-driver` library (nothing
//! to install) into `target/book`, then link-checked: every relative `href`/`src` in the
//! generated HTML names a file of the book, and every `#fragment` an `id` in its page.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{ensure, Context};

pub fn run_cli() -> anyhow::Result<()> {
    let out = build(&crate::local::workspace_root())?;
    println!("{}", out.join("index.html").display());
    Ok(())
}

/// Builds the book and checks its links; returns the output folder.
pub fn build(root: &Path) -> anyhow::Result<PathBuf> {
    let book_root = root.join("docs");
    let book = mdbook_driver::MDBook::load(&book_root)
        .with_context(|| format!("loading the book in {}", book_root.display()))?;
    book.build().context("building the book")?;
    // `build-dir` is `../target/book`: resolve the `..` so that paths compare.
    let out = book.build_dir_for("html");
    let out = fs::canonicalize(&out).with_context(|| format!("resolving {}", out.display()))?;
    let pages = check_links(&out)?;
    eprintln!(
        "docs: {} pages in {}, every relative link and anchor resolves",
        pages,
        out.display()
    );
    Ok(out)
}

/// One generated HTML file: the ids it defines, the links it makes, its `<base href>`.
struct Page {
    ids: BTreeSet<String>,
    links: Vec<String>,
    base: Option<String>,
}

/// Checks every link of every HTML file under `out`; returns the number of pages.
fn check_links(out: &Path) -> anyhow::Result<usize> {
    let out = &normalize(out);
    let mut pages = BTreeMap::new();
    collect_pages(out, &mut pages)?;
    ensure!(
        pages.contains_key(&out.join("index.html")),
        "the book has no index.html"
    );
    let mut broken = Vec::new();
    for (path, page) in &pages {
        let dir = path.parent().unwrap_or(out);
        // A `<base href="/">` (mdBook's 404 page) makes relative links start at the site root.
        let from = match page.base.as_deref() {
            Some(base) if base.starts_with('/') => out.join(base.trim_start_matches('/')),
            _ => dir.to_path_buf(),
        };
        for link in &page.links {
            if let Some(problem) = check_link(out, path, &from, link, &pages) {
                broken.push(format!(
                    "{}: {link}: {problem}",
                    path.strip_prefix(out).unwrap_or(path).display()
                ));
            }
        }
    }
    ensure!(
        broken.is_empty(),
        "{} broken links in the book:\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
    Ok(pages.len())
}

/// Why `link` (found in `page`, resolved from `from`) does not resolve, or `None`.
fn check_link(
    out: &Path,
    page: &Path,
    from: &Path,
    link: &str,
    pages: &BTreeMap<PathBuf, Page>,
) -> Option<String> {
    let link = decode_entities(link);
    if is_external(&link) {
        return None;
    }
    let (rest, fragment) = match link.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (link.as_str(), None),
    };
    let rest = rest.split('?').next().unwrap_or("");
    let target = if rest.is_empty() {
        page.to_path_buf()
    } else {
        let mut target = normalize(&from.join(percent_decode(rest)));
        if !target.starts_with(out) {
            return Some("points outside the book".to_owned());
        }
        if target.is_dir() {
            target = target.join("index.html");
        }
        if !target.is_file() {
            return Some(format!(
                "no file {}",
                target.strip_prefix(out).unwrap_or(&target).display()
            ));
        }
        target
    };
    let fragment = percent_decode(fragment?);
    if fragment.is_empty() {
        return None;
    }
    let Some(target_page) = pages.get(&target) else {
        // A fragment into a non-HTML file (a script, an image) is not ours to check.
        return None;
    };
    (!target_page.ids.contains(&fragment)).then(|| {
        format!(
            "no id {fragment:?} in {}",
            target.strip_prefix(out).unwrap_or(&target).display()
        )
    })
}

/// Links that leave the book: a scheme (`https:`, `mailto:`, `javascript:`…) or `//host`.
fn is_external(link: &str) -> bool {
    if link.starts_with("//") {
        return true;
    }
    match link.find(':') {
        Some(colon) => {
            let scheme = &link[..colon];
            !scheme.is_empty()
                && !scheme.contains(['/', '#', '?'])
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn collect_pages(dir: &Path, pages: &mut BTreeMap<PathBuf, Page>) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_pages(&path, pages)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            let html =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            pages.insert(normalize(&path), parse_page(&html));
        }
    }
    Ok(())
}

/// The ids, links and base of an HTML page. mdBook writes attributes double-quoted, and text
/// that looks like markup is escaped (`&quot;`), so scanning for `name="` finds attributes only.
fn parse_page(html: &str) -> Page {
    let mut ids = BTreeSet::new();
    let mut links = Vec::new();
    let mut base = None;
    for tag in html.split('<').skip(1) {
        let Some(end) = tag.find('>') else { continue };
        let tag = &tag[..end];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        for (attribute, value) in attributes(tag) {
            match attribute.as_str() {
                // `<a name>` is the old way to make an anchor; browsers still follow it.
                "id" => {
                    ids.insert(decode_entities(value));
                }
                "name" if name == "a" => {
                    ids.insert(decode_entities(value));
                }
                "href" if name == "base" => base = Some(decode_entities(value)),
                "href" | "src" => links.push(value.to_owned()),
                _ => {}
            }
        }
    }
    Page { ids, links, base }
}

/// The `name="value"` attributes of a tag's text (after its name).
fn attributes(tag: &str) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name: String = rest[..eq]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after = &rest[eq + 2..];
        let Some(close) = after.find('"') else { break };
        out.push((name.to_ascii_lowercase(), &after[..close]));
        rest = &after[close + 1..];
    }
    out
}

/// `&amp;`-style entities in an attribute value.
fn decode_entities(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `%XX` escapes in a URL path or fragment.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a/./b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_ids_links_and_base() {
        let page = parse_page(
            r##"<html><head><base href="/"><link href="css/a.css" rel="stylesheet"></head>
            <h2 id="registry"><a class="header" href="#registry">Registry</a></h2>
            <pre>&lt;a href=&quot;nowhere.html&quot;&gt;</pre><a name="old"></a><img src="i.png"></html>"##,
        );
        assert_eq!(page.base.as_deref(), Some("/"));
        assert_eq!(page.links, ["css/a.css", "#registry", "i.png"]);
        assert_eq!(
            page.ids.into_iter().collect::<Vec<_>>(),
            ["old", "registry"]
        );
    }

    #[test]
    fn tells_external_links() {
        for link in [
            "https://x.org/a",
            "mailto:a@b",
            "//cdn/x.js",
            "javascript:void(0)",
        ] {
            assert!(is_external(link), "{link}");
        }
        for link in ["a.html", "a.html#b:c", "#x", "../b/c.html", "?q=a:b"] {
            assert!(!is_external(link), "{link}");
        }
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn finds_broken_links_in_a_built_tree() {
        let dir = std::env::temp_dir().join(format!("xtask-docs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(
            dir.join("index.html"),
            r##"<a href="sub/b.html#here">ok</a><a href="sub/b.html#gone">bad anchor</a>
            <a href="missing.html">bad file</a><a href="sub/">dir</a><a href="https://e.org">x</a>"##,
        )
        .unwrap();
        fs::write(
            dir.join("sub/b.html"),
            r#"<h1 id="here">B</h1><a href="../index.html">up</a>"#,
        )
        .unwrap();
        fs::write(dir.join("sub/index.html"), r#"<p>sub</p>"#).unwrap();
        let error = check_links(&dir).unwrap_err().to_string();
        fs::remove_dir_all(&dir).unwrap();
        assert!(error.starts_with("2 broken links"), "{error}");
        assert!(error.contains("sub/b.html#gone: no id \"gone\""), "{error}");
        assert!(
            error.contains("missing.html: no file missing.html"),
            "{error}"
        );
    }
}
