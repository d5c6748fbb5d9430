//! The build gates: the documentation site, the CLI release archives and the container images.
//! The builds themselves belong to `cargo xtask docs|dist|images`; the gates call them and then
//! check their output independently (pages exist, checksums recompute, both images are there).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context};

use super::{GateResult, Verdict};

/// Website docs build passes (mdBook in `docs/`, links checked by the build).
pub fn docs(root: &Path) -> GateResult {
    let out = crate::docs::build(root)?;
    let pages = count_html(&out)?;
    ensure!(pages > 0, "{} holds no HTML page", out.display());
    ensure!(
        out.join("index.html").is_file(),
        "{} has no index.html",
        out.display()
    );
    Ok(Verdict::Pass(format!(
        "{pages} pages in {}, links and anchors checked",
        crate::up::shown_dir(&out)
    )))
}

fn count_html(dir: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            count += count_html(&path)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            count += 1;
        }
    }
    Ok(count)
}

/// CLI release archives for the host target, each with a SHA-256 checksum that recomputes.
pub fn cli_archives(root: &Path) -> GateResult {
    let archives = crate::dist::archives(root)?;
    ensure!(!archives.is_empty(), "no archive was written");
    let host = host_target()?;
    ensure!(
        archives.iter().any(|a| a
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(&host))),
        "no archive for the host target {host}: {archives:?}"
    );
    let dir = archives[0].parent().context("archive without a folder")?;
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .with_context(|| format!("reading {}/SHA256SUMS", dir.display()))?;
    let mut names = Vec::new();
    for archive in &archives {
        let name = archive
            .file_name()
            .context("archive without a name")?
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(archive).with_context(|| format!("reading {name}"))?;
        let actual = signing::digest::sha256_hex(&bytes);
        let listed = sums.lines().find_map(|line| {
            let (sum, file) = line.split_once(char::is_whitespace)?;
            (file.trim().trim_start_matches('*') == name).then(|| sum.to_owned())
        });
        match listed {
            Some(sum) if sum == actual => {}
            Some(sum) => bail!("{name}: SHA256SUMS says {sum}, the file hashes to {actual}"),
            None => bail!("{name} is not listed in SHA256SUMS"),
        }
        names.push(format!(
            "{name} ({:.1} MiB)",
            bytes.len() as f64 / 1_048_576.0
        ));
    }
    Ok(Verdict::Pass(format!(
        "{} with SHA256SUMS recomputed",
        names.join(", ")
    )))
}

fn host_target() -> anyhow::Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("-vV").output()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host line")
}

/// Registry and Studio images build.
pub fn images(root: &Path) -> GateResult {
    let built = crate::images::build_all(root)?;
    let mut shown = Vec::new();
    for wanted in ["registry", "studio"] {
        let image = built
            .iter()
            .find(|i| i.name.contains(wanted))
            .with_context(|| {
                format!(
                    "no {wanted} image among {:?}",
                    built.iter().map(|i| &i.name).collect::<Vec<_>>()
                )
            })?;
        ensure!(!image.tags.is_empty(), "{} has no tag", image.name);
        ensure!(image.size_bytes > 0, "{} has no size", image.name);
        shown.push(format!(
            "{} ({:.1} MiB)",
            image.tags[0],
            image.size_bytes as f64 / 1_048_576.0
        ));
    }
    Ok(Verdict::Pass(format!(
        "{} built ({} images in all)",
        shown.join(", "),
        built.len()
    )))
}
