//! `cargo xtask test`: the one command that checks everything, locally and in CI.
//!
//! It runs `cargo fmt --check`, clippy over every target with warnings denied, every test of
//! the workspace against a private Postgres cluster started here and stopped afterwards, and then
//! the release gates (`cargo xtask gates`: docs, CLI archives, images, and the smoke,
//! conformance and scenario gates against a freshly started local platform). The tests find
//! Postgres through `ANIP_TEST_DATABASE_URL`; each test clones its own database from a migrated
//! template (see `store::testing`).

use std::fs;

use crate::local::{cargo, run as run_command, workspace_root};

#[derive(clap::Args)]
pub struct TestArgs {
    /// Skip the format and clippy checks.
    #[arg(long)]
    no_lint: bool,
    /// Skip the release gates (for a quicker local loop; CI runs them).
    #[arg(long)]
    no_gates: bool,
    /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    if !args.no_lint {
        eprintln!("== cargo fmt --check");
        run_command(cargo().args(["fmt", "--all", "--", "--check"]))?;
        eprintln!("== cargo clippy (warnings denied)");
        run_command(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }

    // Cross-service tests start the real binaries; build them all first.
    eprintln!("== cargo build --bins");
    run_command(cargo().args(["build", "--workspace", "--bins"]))?;

    let pg_dir = root.join("target/xtask-test-pg");
    // A fresh cluster each run: tests must not depend on what an earlier run left behind.
    let _ = fs::remove_dir_all(&pg_dir);
    eprintln!("== starting a private Postgres for the tests");
    let pg = store::LocalPostgres::start(&pg_dir, None)?;
    let url = pg.url("postgres");
    eprintln!("== cargo test --workspace (ANIP_TEST_DATABASE_URL={url})");
    let mut test = cargo();
    test.args(["test", "--workspace"])
        .env("ANIP_TEST_DATABASE_URL", &url);
    if !args.cargo_test_args.is_empty() {
        test.arg("--").args(&args.cargo_test_args);
    }
    let outcome = run_command(&mut test);
    pg.stop()?;
    outcome?;

    if !args.no_gates && args.cargo_test_args.is_empty() {
        eprintln!("== cargo xtask gates");
        run_command(cargo().args(["xtask", "gates"]))?;
    }
    Ok(())
}
