//! Observability shared by the ANIP services (Registry, Studio, Runtime).
//!
//! - [`logging`]: JSON-lines logs on stdout, one object per event, tagged with the service name.
//! - [`metrics`]: the process-wide Prometheus recorder and its render handle.
//! - [`HttpMetrics`]: actix-web middleware counting requests and observing latency by route
//!   pattern (never by raw path, so clients cannot grow the series count).
//! - [`health`]: liveness, readiness and metrics endpoints as one reusable service set.
//! - [`server`]: HTTP server limits, JSON 404 default service and the shutdown signal.
//! - [`flags`]: strict boolean parsing for environment flags.

pub mod flags;
pub mod health;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod server;
pub mod startup;

pub use health::{DbReadiness, Health, HealthPaths, ReadinessCheck};
pub use middleware::HttpMetrics;
pub use server::{ErrorStyle, ServerLimits};
