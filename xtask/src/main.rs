//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `up`: the whole platform on an embedded default (a private Postgres, dev keys, the three
//!   services), kept running until Ctrl-C.
//! - `bench registry`: load benchmarks beside a baseline measured in the same run.
//! - `test`: the one command that checks everything: format, clippy, every test against a
//!   private Postgres.
//! - `images`: the container images from static binaries, tagged and checked.
//! - `docs`: the mdBook in `docs/`, built and link-checked.
//! - `dist`: the `anip` CLI's release archives with SHA256SUMS.
//! - `gates`: the deployment guide's release gates, PASS/FAIL/SKIP per gate, against the local
//!   platform or deployed URLs.

mod bench;
mod dist;
mod docs;
mod gates;
mod images;
mod local;
mod sample_package;
mod test;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ANIP platform automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start Postgres, the Registry, Studio and the runtime locally, and keep them running.
    Up(up::UpArgs),
    /// Format check, clippy with warnings denied, and every test against a private Postgres.
    Test(test::TestArgs),
    /// Load benchmarks (release builds, loopback only, bounded in time).
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Build the container images (static binaries, FROM scratch), tag, check, print sizes.
    Images(images::ImagesArgs),
    /// Build the mdBook in docs/ into target/book and check every link and anchor.
    Docs,
    /// Build the anip CLI release archives and SHA256SUMS under target/dist.
    Dist,
    /// The release gates: one PASS/FAIL/SKIP line per gate; non-zero exit unless all pass.
    Gates(Box<gates::GatesArgs>),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up::run(args),
        Command::Test(args) => test::run(args),
        Command::Bench(bench) => bench::run(bench),
        Command::Images(args) => images::run_cli(args),
        Command::Docs => docs::run_cli(),
        Command::Dist => dist::archives(&local::workspace_root()).map(drop),
        Command::Gates(args) => gates::run(*args),
    }
}
