//! Paths and processes shared by the xtask commands.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::Context;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` under `root`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Runs a command to completion, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    anyhow::ensure!(status.success(), "{shown} failed with {status}");
    Ok(())
}

/// `cargo`, as the one that runs us (so the toolchain matches).
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// Asks a child to stop with SIGTERM (graceful shutdown), waiting up to `grace` before SIGKILL.
pub fn terminate(child: &mut Child, name: &str, grace: std::time::Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // std has no SIGTERM; `kill` is on every Unix and keeps us free of unsafe code.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("  {name} stopped ({status})");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!("  {name} did not stop within {grace:?}; killing it");
    let _ = child.kill();
    let _ = child.wait();
}
