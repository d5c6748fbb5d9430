//! A safe subset of Markdown for readmes: headings, paragraphs, lists, block quotes, rules,
//! fenced code, inline code, emphasis and links.
//!
//! Safety by construction: the input is parsed into a small tree of text nodes and rendered
//! with maud, which escapes every text node and attribute. Raw HTML in a readme is never
//! passed through (it shows as text); a link becomes an `<a>` only when its target is an
//! absolute http or https URL ([`layout::safe_href`]), and carries
//! `rel="nofollow noopener ugc"`. Inline parsing looks for a closing delimiter only within a
//! bounded window, so hostile input (thousands of unmatched `[` or `` ` ``) costs linear time.

use maud::{html, Markup};

use super::layout::safe_href;

/// How far past an opening delimiter the closing one is looked for.
const WINDOW: usize = 400;
/// How deeply emphasis and links may nest.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Heading(u8, String),
    Paragraph(String),
    Code(String),
    List { ordered: bool, items: Vec<String> },
    Quote(String),
    Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inline {
    Text(String),
    Code(String),
    Strong(Vec<Inline>),
    Em(Vec<Inline>),
    Link { text: Vec<Inline>, href: String },
}

/// Renders `text` as Markdown. Headings start at `<h2>` (the page owns `<h1>`).
pub fn render(text: &str) -> Markup {
    let blocks = parse_blocks(text);
    html! {
        @for block in &blocks {
            (render_block(block))
        }
    }
}

fn render_block(block: &Block) -> Markup {
    match block {
        Block::Heading(level, text) => {
            let inner = render_inline(&parse_inline(text, 0));
            match level {
                1 => html! { h2 { (inner) } },
                2 => html! { h3 { (inner) } },
                3 => html! { h4 { (inner) } },
                4 => html! { h5 { (inner) } },
                _ => html! { h6 { (inner) } },
            }
        }
        Block::Paragraph(text) => html! { p { (render_inline(&parse_inline(text, 0))) } },
        Block::Code(code) => html! { pre { code { (code) } } },
        Block::List { ordered, items } => {
            let items = html! {
                @for item in items { li { (render_inline(&parse_inline(item, 0))) } }
            };
            if *ordered {
                html! { ol { (items) } }
            } else {
                html! { ul { (items) } }
            }
        }
        Block::Quote(text) => {
            html! { blockquote { p { (render_inline(&parse_inline(text, 0))) } } }
        }
        Block::Rule => html! { hr; },
    }
}

fn render_inline(nodes: &[Inline]) -> Markup {
    html! {
        @for node in nodes {
            @match node {
                Inline::Text(text) => (text),
                Inline::Code(code) => code { (code) },
                Inline::Strong(inner) => strong { (render_inline(inner)) },
                Inline::Em(inner) => em { (render_inline(inner)) },
                Inline::Link { text, href } => {
                    a href=(href) rel="nofollow noopener ugc" { (render_inline(text)) }
                }
            }
        }
    }
}

fn heading(line: &str) -> Option<(u8, String)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end();
    Some((u8::try_from(hashes).unwrap_or(6), text.to_owned()))
}

fn is_rule(line: &str) -> bool {
    let mut marks = line.chars().filter(|c| !c.is_whitespace());
    let first = marks.next();
    matches!(first, Some('-' | '*' | '_'))
        && line.chars().filter(|c| !c.is_whitespace()).count() >= 3
        && marks.all(|c| Some(c) == first)
}

/// `(ordered, item text)` when the line starts a list item.
fn list_item(line: &str) -> Option<(bool, &str)> {
    let trimmed = line.trim_start();
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = trimmed.strip_prefix(marker) {
            return Some((false, rest.trim()));
        }
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &trimmed[digits..];
        for marker in [". ", ") "] {
            if let Some(rest) = rest.strip_prefix(marker) {
                return Some((true, rest.trim()));
            }
        }
    }
    None
}

fn fence(line: &str) -> Option<&'static str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("```") {
        Some("```")
    } else if trimmed.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

fn parse_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut quote: Vec<&str> = Vec::new();
    let mut list: Option<(bool, Vec<String>)> = None;
    let mut lines = text.lines();

    fn flush(
        blocks: &mut Vec<Block>,
        paragraph: &mut Vec<&str>,
        quote: &mut Vec<&str>,
        list: &mut Option<(bool, Vec<String>)>,
    ) {
        if !paragraph.is_empty() {
            blocks.push(Block::Paragraph(paragraph.join(" ")));
            paragraph.clear();
        }
        if !quote.is_empty() {
            blocks.push(Block::Quote(quote.join(" ")));
            quote.clear();
        }
        if let Some((ordered, items)) = list.take() {
            blocks.push(Block::List { ordered, items });
        }
    }

    while let Some(line) = lines.next() {
        if let Some(marker) = fence(line) {
            flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with(marker) {
                    break;
                }
                code.push(inner);
            }
            blocks.push(Block::Code(code.join("\n")));
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
            continue;
        }
        if let Some((level, text)) = heading(line.trim_start()) {
            flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
            blocks.push(Block::Heading(level, text));
            continue;
        }
        if is_rule(line) {
            flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
            blocks.push(Block::Rule);
            continue;
        }
        if let Some(rest) = line.trim_start().strip_prefix('>') {
            if quote.is_empty() {
                flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
            }
            quote.push(rest.trim());
            continue;
        }
        if let Some((ordered, item)) = list_item(line) {
            if !paragraph.is_empty() || !quote.is_empty() {
                flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
            }
            match &mut list {
                Some((kind, items)) if *kind == ordered => items.push(item.to_owned()),
                _ => {
                    flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
                    list = Some((ordered, vec![item.to_owned()]));
                }
            }
            continue;
        }
        // A continuation line of a list item, a quote or a paragraph.
        if let Some((_, items)) = &mut list {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
                continue;
            }
        }
        if !quote.is_empty() {
            quote.push(line.trim());
            continue;
        }
        paragraph.push(line.trim());
    }
    flush(&mut blocks, &mut paragraph, &mut quote, &mut list);
    blocks
}

/// The index of `needle` in `chars` at or after `from`, within the window.
fn find(chars: &[char], from: usize, needle: &[char]) -> Option<usize> {
    let end = chars.len().min(from + WINDOW + needle.len());
    (from..end.saturating_sub(needle.len() - 1)).find(|&i| chars[i..].starts_with(needle))
}

fn parse_inline(text: &str, depth: usize) -> Vec<Inline> {
    let chars: Vec<char> = text.chars().collect();
    let mut nodes = Vec::new();
    let mut plain = String::new();
    let mut i = 0;
    let push_plain = |nodes: &mut Vec<Inline>, plain: &mut String| {
        if !plain.is_empty() {
            nodes.push(Inline::Text(std::mem::take(plain)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        // Backslash escapes a punctuation character.
        if c == '\\' && chars.get(i + 1).is_some_and(char::is_ascii_punctuation) {
            plain.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '`' {
            if let Some(end) = find(&chars, i + 1, &['`']) {
                push_plain(&mut nodes, &mut plain);
                nodes.push(Inline::Code(chars[i + 1..end].iter().collect()));
                i = end + 1;
                continue;
            }
        }
        if depth < MAX_DEPTH {
            if c == '[' {
                if let Some((text, href, next)) = link(&chars, i) {
                    push_plain(&mut nodes, &mut plain);
                    let inner = parse_inline(&text, depth + 1);
                    match safe_href(&href) {
                        Some(href) => nodes.push(Inline::Link {
                            text: inner,
                            href: href.to_owned(),
                        }),
                        // An unsafe target: keep the words, drop the link.
                        None => nodes.extend(inner),
                    }
                    i = next;
                    continue;
                }
            }
            if c == '<' {
                // An autolink: <https://example.com>.
                if let Some(end) = find(&chars, i + 1, &['>']) {
                    let target: String = chars[i + 1..end].iter().collect();
                    if let Some(href) = safe_href(&target) {
                        push_plain(&mut nodes, &mut plain);
                        nodes.push(Inline::Link {
                            text: vec![Inline::Text(href.to_owned())],
                            href: href.to_owned(),
                        });
                        i = end + 1;
                        continue;
                    }
                }
            }
            if c == '*' || c == '_' {
                let double = chars.get(i + 1) == Some(&c);
                let width = if double { 2 } else { 1 };
                let delimiter = vec![c; width];
                // `_` inside a word (snake_case) is not emphasis.
                let intraword = c == '_' && i > 0 && chars[i - 1].is_alphanumeric();
                let opens = chars
                    .get(i + width)
                    .is_some_and(|next| !next.is_whitespace());
                if opens && !intraword {
                    if let Some(end) = find(&chars, i + width + 1, &delimiter) {
                        let trailing_space = chars[end - 1].is_whitespace();
                        let intraword_close =
                            c == '_' && chars.get(end + width).is_some_and(|n| n.is_alphanumeric());
                        let closes = !trailing_space && !intraword_close;
                        if closes {
                            push_plain(&mut nodes, &mut plain);
                            let inner: String = chars[i + width..end].iter().collect();
                            let inner = parse_inline(&inner, depth + 1);
                            nodes.push(if double {
                                Inline::Strong(inner)
                            } else {
                                Inline::Em(inner)
                            });
                            i = end + width;
                            continue;
                        }
                    }
                }
            }
        }
        plain.push(c);
        i += 1;
    }
    push_plain(&mut nodes, &mut plain);
    nodes
}

/// `[text](target)` starting at `start`: the text, the target and the index after it.
fn link(chars: &[char], start: usize) -> Option<(String, String, usize)> {
    let close = find(chars, start + 1, &[']'])?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    // The target ends at the `)` that balances the opening one: `(https://x/a_(b))`.
    let mut depth = 0usize;
    let window_end = chars.len().min(close + 2 + WINDOW);
    let end = (close + 2..window_end).find(|&i| match chars[i] {
        '(' => {
            depth += 1;
            false
        }
        ')' if depth == 0 => true,
        ')' => {
            depth -= 1;
            false
        }
        _ => false,
    })?;
    let text: String = chars[start + 1..close].iter().collect();
    let target: String = chars[close + 2..end].iter().collect();
    // `[text](url "title")`: the title is dropped.
    let target = target
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    Some((text, target, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(text: &str) -> String {
        render(text).into_string()
    }

    #[test]
    fn renders_the_subset() {
        assert_eq!(
            html("# Title\n\nSome *em*, **strong**, `code` and [a link](https://example.com/x)."),
            "<h2>Title</h2><p>Some <em>em</em>, <strong>strong</strong>, <code>code</code> and \
             <a href=\"https://example.com/x\" rel=\"nofollow noopener ugc\">a link</a>.</p>"
        );
        assert_eq!(
            html("- one\n- two\n  continued\n\n1. first\n2. second"),
            "<ul><li>one</li><li>two continued</li></ul><ol><li>first</li><li>second</li></ol>"
        );
        assert_eq!(
            html("```bash\necho <hi> && ls\n```\n> quoted\n\n---"),
            "<pre><code>echo &lt;hi&gt; &amp;&amp; ls</code></pre><blockquote><p>quoted</p></blockquote><hr>"
        );
        assert_eq!(html("snake_case_name"), "<p>snake_case_name</p>");
        assert_eq!(
            html("see <https://example.com>"),
            "<p>see <a href=\"https://example.com\" rel=\"nofollow noopener ugc\">https://example.com</a></p>"
        );
    }

    #[test]
    fn never_passes_html_or_unsafe_links_through() {
        let out = html("<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        for target in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<b>x</b>",
            "/relative",
            "vbscript:x",
            "javascript:alert(document.cookie(1))",
        ] {
            let out = html(&format!("[click]({target}) after"));
            assert_eq!(out, "<p>click after</p>", "{target}");
        }
        let out = html("[x](https://example.com/\"onmouseover=\"alert(1))");
        assert!(!out.contains("onmouseover=\""), "{out}");
        let out = html("## <b>bold</b> heading");
        assert_eq!(out, "<h3>&lt;b&gt;bold&lt;/b&gt; heading</h3>");
    }

    #[test]
    fn hostile_input_stays_linear() {
        let text = "[".repeat(30_000) + &"`".repeat(30_000) + &"*_".repeat(10_000);
        let started = std::time::Instant::now();
        let out = html(&text);
        assert!(out.len() > 60_000);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
