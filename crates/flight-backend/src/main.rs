//! `flight-backend`: the example backend the ANIP runtime fronts.

use std::process::ExitCode;

use actix_web::{App, HttpServer};
use clap::Parser;
use flight_backend::{configure, Backend};

/// mimalloc: requests allocate many short-lived buffers, and glibc's malloc cost about a fifth
/// of the runtime's CPU per invocation (`cargo xtask bench runtime`: 3,659 → 4,871 invokes/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Configuration; every flag has a `FLIGHT_BACKEND_*` variable. No `Debug`: it holds a key.
#[derive(Parser)]
#[command(
    name = "flight-backend",
    version,
    about = "Example flight-booking backend for the ANIP runtime"
)]
struct Config {
    /// Address to bind.
    #[arg(long, env = "FLIGHT_BACKEND_BIND", default_value = "127.0.0.1")]
    bind: String,
    /// Port to listen on.
    #[arg(long, env = "FLIGHT_BACKEND_PORT", default_value_t = 9200)]
    port: u16,
    /// API key required in `X-Api-Key` (unset: no authentication).
    #[arg(long, env = "FLIGHT_BACKEND_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    observability::logging::init("flight-backend");
    let backend = Backend::new(config.api_key.map(signing::Secret::new));
    tracing::info!(event = "flight_backend_listening", bind = %config.bind, port = config.port, "flight backend listening");
    let server = match HttpServer::new(move || App::new().configure(configure(backend.clone())))
        .bind((config.bind.as_str(), config.port))
    {
        Ok(server) => server,
        Err(error) => {
            tracing::error!(event = "flight_backend_bind_failed", error = %error, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    match server.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(event = "flight_backend_failed", error = %error, "server failed");
            ExitCode::FAILURE
        }
    }
}
