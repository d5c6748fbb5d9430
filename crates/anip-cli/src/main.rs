//! `anip`: the ANIP platform's command line.
//!
//! * `anip keygen`: a fresh Ed25519 registry signing key, as environment lines.
//! * `anip package verify | publish | pull`: registry packages, verified with the one verifier
//!   in `registry-client`.
//!
//! Exit codes: 0 success; 1 a verification check failed (or the registry refused a
//! publication); 2 a usage, file or network error.

mod keygen;
mod package;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The ANIP platform command line.
#[derive(Debug, Parser)]
#[command(name = "anip", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a Registry Ed25519 signing key and print it as environment lines for a
    /// secret manager.
    Keygen(keygen::KeygenArgs),
    /// Verify, publish and pull Registry packages.
    #[command(subcommand)]
    Package(package::PackageCommand),
}

/// How a command that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything succeeded.
    Success,
    /// A check failed or the registry refused: exit 1.
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Package(command) => package::run(command),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
