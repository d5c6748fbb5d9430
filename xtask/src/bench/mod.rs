//! Benchmarks: load harnesses that start the real services and measure them beside a baseline
//! run on the same machine in the same run.

pub mod cpu;
pub mod load;
pub mod registry;
pub mod runtime;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// Registry publish, download, list and search, beside nginx serving the same bytes.
    Registry(registry::RegistryBenchArgs),
    /// Runtime discovery, token issuance and invocation with durable audit, beside the upstream
    /// Python reference flight service.
    Runtime(runtime::RuntimeBenchArgs),
}

pub fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Registry(args) => registry::run(args),
        Bench::Runtime(args) => runtime::run(args),
    }
}
