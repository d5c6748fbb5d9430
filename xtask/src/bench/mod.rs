//! Benchmarks: load harnesses that start the real services and measure them beside a baseline
//! run on the same machine in the same run.

pub mod load;
pub mod registry;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// Registry publish, download, list and search, beside nginx serving the same bytes.
    Registry(registry::RegistryBenchArgs),
}

pub fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Registry(args) => registry::run(args),
    }
}
