//! `cargo xtask dist`: release archives of the `anip` CLI.
//!
//! For the host and every other installed target (`rustup target list --installed`) it builds
//! `anip` with the `image` profile (release, stripped), packs
//! `target/dist/anip-<version>-<target>.tar.gz` (the binary, README.md, LICENSE when present,
//! under one top-level folder), writes `target/dist/SHA256SUMS` in `sha256sum` format, and
//! reads everything back: every checksum is recomputed, every archive listed, and the host's
//! binary is unpacked and run.
//!
//! Linux builds are static (`+crt-static`, glibc), built in `target/images` with the same flags
//! as the container images, so the archive's binary is the one in the `anip` image and CI
//! compiles it once.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context};

use crate::local::{cargo, run};

/// The cargo profile for images and archives (root `Cargo.toml`: `[profile.image]`).
pub const PROFILE: &str = "image";

/// Where static release builds go: apart from `target/release`, whose flags differ.
pub fn build_dir(root: &Path) -> PathBuf {
    root.join("target/images")
}

/// Builds the release archives of the CLI and returns their paths (`SHA256SUMS` beside them).
pub fn archives(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let _lock = exclusive(root, "dist")?;
    let version = workspace_version(root)?;
    let host = host_target()?;
    let targets = installed_targets(&host);
    let out = root.join("target/dist");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    fs::create_dir_all(&out)?;
    let mtime = source_date(root);

    let mut written = Vec::new();
    for target in &targets {
        let started = Instant::now();
        // On the host, every shipped binary in one build (one feature resolution), exactly as
        // `cargo xtask images` builds them, so neither build repeats the other's work.
        let bins: &[&str] = if *target == host {
            &SHIPPED_BINS
        } else {
            &["anip"]
        };
        let binary = build_bins(root, target, bins)?.remove(bins.len() - 1);
        eprintln!(
            "dist: built anip for {target} in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        let name = format!("anip-{version}-{target}");
        let path = out.join(format!("{name}.tar.gz"));
        let exe = if target.contains("windows") {
            "anip.exe"
        } else {
            "anip"
        };
        let mut files = vec![(exe.to_owned(), binary, 0o755)];
        for doc in [
            "README.md",
            "LICENSE",
            "LICENSE-APACHE",
            "LICENSE-MIT",
            "NOTICE",
        ] {
            let source = root.join(doc);
            if source.is_file() {
                files.push((doc.to_owned(), source, 0o644));
            }
        }
        pack(&path, &name, &files, mtime)?;
        written.push(path);
    }

    let sums = out.join("SHA256SUMS");
    let mut listing = String::new();
    for path in &written {
        let file = file_name(path)?;
        listing.push_str(&format!("{}  {file}\n", sha256_hex(path)?));
    }
    fs::write(&sums, listing)?;

    verify(&out, &sums, &written, &version, &host)?;
    for path in &written {
        let size = fs::metadata(path)?.len();
        println!("{}  {:.1} MiB", path.display(), mib(size));
    }
    println!("{}", sums.display());
    Ok(written)
}

/// Holds `target/images/<what>.lock` until dropped, so that two runs (a developer's and the
/// gates', say) never clear each other's output folders mid-way.
pub fn exclusive(root: &Path, what: &str) -> anyhow::Result<fs::File> {
    let dir = build_dir(root);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{what}.lock"));
    let file = fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    if file.try_lock().is_err() {
        eprintln!(
            "{what}: waiting for another run to finish ({})",
            path.display()
        );
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
    }
    Ok(file)
}

/// The binaries the project ships (images and archives), the CLI last.
pub const SHIPPED_BINS: [&str; 4] = ["anip-registry", "studio-api", "anip-runtime", "anip"];

/// Builds `bins` statically (Linux) with the image profile for `target`; returns their paths
/// in the order given.
pub fn build_bins(root: &Path, target: &str, bins: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["build", "--profile", PROFILE, "--target", target])
        .env("CARGO_TARGET_DIR", build_dir(root))
        // Our RUSTFLAGS must win; with an explicit --target they apply to the binaries only,
        // not to build scripts and proc macros (which cannot be static).
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if target.contains("-linux-gnu") {
        cmd.env("RUSTFLAGS", "-C target-feature=+crt-static");
    } else {
        cmd.env_remove("RUSTFLAGS");
    }
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    run(&mut cmd)?;
    let dir = build_dir(root).join(target).join(PROFILE);
    bins.iter()
        .map(|bin| {
            let exe = if target.contains("windows") {
                format!("{bin}.exe")
            } else {
                (*bin).to_owned()
            };
            let path = dir.join(exe);
            ensure!(path.is_file(), "cargo built no {}", path.display());
            Ok(path)
        })
        .collect()
}

/// `[workspace.package] version` of the root `Cargo.toml` (internal crates are `0.0.0`).
pub fn workspace_version(root: &Path) -> anyhow::Result<String> {
    let path = root.join("Cargo.toml");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    manifest
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no [workspace.package] version", path.display()))
}

/// The standard output of a command that must succeed, trimmed.
pub fn stdout_of(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    ensure!(
        output.status.success(),
        "{shown} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8(output.stdout)
        .with_context(|| format!("{shown} printed non-UTF-8"))?
        .trim()
        .to_owned())
}

/// The host target triple, from `rustc -vV`.
fn host_target() -> anyhow::Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = stdout_of(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host line")
}

/// The host first, then every other target rustup has installed. Without rustup (a
/// distribution's Rust) only the host.
fn installed_targets(host: &str) -> Vec<String> {
    let mut targets = vec![host.to_owned()];
    match stdout_of(Command::new("rustup").args(["target", "list", "--installed"])) {
        Ok(list) => {
            for target in list.lines().map(str::trim).filter(|t| !t.is_empty()) {
                if !targets.iter().any(|t| t == target) {
                    targets.push(target.to_owned());
                }
            }
        }
        Err(error) => eprintln!("dist: host target only ({error})"),
    }
    targets
}

/// The time stamp archive entries carry: `SOURCE_DATE_EPOCH`, else the commit time, so that
/// the same commit packs the same bytes.
fn source_date(root: &Path) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return epoch;
    }
    stdout_of(
        Command::new("git")
            .current_dir(root)
            .args(["log", "-1", "--format=%ct"]),
    )
    .ok()
    .and_then(|t| t.parse().ok())
    .unwrap_or(0)
}

/// Writes a gzip'd tar with `files` (name in the archive, source, mode) under `folder/`, with
/// fixed owner and time stamps.
fn pack(
    path: &Path,
    folder: &str,
    files: &[(String, PathBuf, u32)],
    mtime: u64,
) -> anyhow::Result<()> {
    let file = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_mtime(mtime);
    dir.set_size(0);
    dir.set_cksum();
    tar.append_data(&mut dir, format!("{folder}/"), std::io::empty())?;
    for (name, source, mode) in files {
        let bytes = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(*mode);
        header.set_mtime(mtime);
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        tar.append_data(&mut header, format!("{folder}/{name}"), bytes.as_slice())?;
    }
    let gz = tar.into_inner()?;
    gz.finish()?.flush()?;
    Ok(())
}

/// Reads back what was written: `SHA256SUMS` names exactly the archives and every sum matches
/// (recomputed here, and by `sha256sum -c` as a second opinion); each archive lists its
/// binary; the host's binary, unpacked, prints our version.
fn verify(
    out: &Path,
    sums: &Path,
    written: &[PathBuf],
    version: &str,
    host: &str,
) -> anyhow::Result<()> {
    let listing = fs::read_to_string(sums)?;
    let mut named = Vec::new();
    for line in listing.lines() {
        let Some((sum, file)) = line.split_once("  ") else {
            bail!("{}: malformed line {line:?}", sums.display());
        };
        let actual = sha256_hex(&out.join(file))?;
        ensure!(
            actual == sum,
            "{file}: SHA-256 {actual}, but SHA256SUMS says {sum}"
        );
        named.push(file.to_owned());
    }
    let mut expected = written
        .iter()
        .map(|p| file_name(p).map(str::to_owned))
        .collect::<anyhow::Result<Vec<_>>>()?;
    expected.sort();
    named.sort();
    ensure!(
        named == expected,
        "SHA256SUMS lists {named:?}, wrote {expected:?}"
    );
    match Command::new("sha256sum")
        .current_dir(out)
        .args(["--check", "--strict", "--quiet", "SHA256SUMS"])
        .status()
    {
        Ok(status) => ensure!(status.success(), "sha256sum --check SHA256SUMS failed"),
        Err(error) => eprintln!("dist: no sha256sum to cross-check with ({error})"),
    }

    for path in written {
        let name = file_name(path)?
            .strip_suffix(".tar.gz")
            .context("archive without .tar.gz")?
            .to_owned();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(fs::File::open(path)?));
        let mut binary = None;
        for entry in archive.entries()? {
            let mut entry = entry?;
            let entry_path = entry.path()?.to_string_lossy().into_owned();
            if entry_path == format!("{name}/anip") || entry_path == format!("{name}/anip.exe") {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                binary = Some(bytes);
            }
        }
        let binary = binary.with_context(|| format!("{} holds no {name}/anip", path.display()))?;
        if name.ends_with(host) {
            let scratch = out.join(".verify");
            fs::create_dir_all(&scratch)?;
            let exe = scratch.join("anip");
            fs::write(&exe, &binary)?;
            set_mode(&exe, 0o755)?;
            let printed = stdout_of(Command::new(&exe).arg("--version"));
            fs::remove_dir_all(&scratch)?;
            let printed = printed?;
            ensure!(
                printed.starts_with("anip "),
                "{}: the unpacked binary printed {printed:?} for --version",
                path.display()
            );
            eprintln!(
                "dist: {} unpacks and runs: {printed} (release {version})",
                path.display()
            );
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_hex(path: &Path) -> anyhow::Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    Ok(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

fn file_name(path: &Path) -> anyhow::Result<&str> {
    path.file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no UTF-8 file name", path.display()))
}

/// Bytes as MiB, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
