//! The process-wide Prometheus recorder.
//!
//! [`handle`] installs one recorder per process as the global `metrics` recorder (first call
//! wins) and returns a handle to render it. Histograms whose names end in `_duration_seconds` are
//! true Prometheus histograms with [`LATENCY_BUCKETS`]; other histograms render as summaries.
//!
//! A background thread (`metrics-upkeep`) drains recorded histogram samples every
//! [`UPKEEP_INTERVAL`], so memory stays bounded even when nothing scrapes.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// The render handle type, re-exported so callers need not depend on the exporter crate.
pub use metrics_exporter_prometheus::PrometheusHandle;

/// Histogram bucket upper bounds, in seconds, for metrics ending in `_duration_seconds`.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The suffix that selects [`LATENCY_BUCKETS`].
pub const DURATION_SUFFIX: &str = "_duration_seconds";

/// How often histogram samples are drained into their buckets.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The content type of [`PrometheusHandle::render`] output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Returns the process-wide Prometheus handle, installing the recorder on first use.
///
/// If some other recorder was already installed as the global `metrics` recorder, ours is still
/// built and its handle returned (it renders whatever is recorded into it, which is nothing
/// recorded through the `metrics` macros); a warning is logged. Never panics.
pub fn handle() -> PrometheusHandle {
    HANDLE.get_or_init(install).clone()
}

fn builder() -> PrometheusBuilder {
    match PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix(DURATION_SUFFIX.to_owned()), LATENCY_BUCKETS)
    {
        Ok(builder) => builder,
        // Only possible with empty buckets, which LATENCY_BUCKETS is not.
        Err(_) => PrometheusBuilder::new(),
    }
}

fn install() -> PrometheusHandle {
    let recorder = builder().build_recorder();
    let handle = recorder.handle();
    if let Err(error) = ::metrics::set_global_recorder(recorder) {
        tracing::warn!(
            event = "metrics_recorder_exists",
            error = %error,
            "a global metrics recorder was already installed; the Prometheus handle will not see \
             metrics recorded through it"
        );
    }
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            upkeep.run_upkeep();
        });
    if let Err(error) = spawned {
        tracing::warn!(
            event = "metrics_upkeep_not_started",
            error = %error,
            "histogram samples will only be drained when metrics are rendered"
        );
    }
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_is_shared_and_duration_histograms_have_latency_buckets() {
        let a = handle();
        let b = handle();
        ::metrics::histogram!("obs_unit_request_duration_seconds").record(0.003);
        ::metrics::histogram!("obs_unit_request_duration_seconds").record(20.0);
        ::metrics::counter!("obs_unit_total").increment(2);
        let text = a.render();
        assert_eq!(text, b.render());
        assert!(
            text.contains("# TYPE obs_unit_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("obs_unit_request_duration_seconds_bucket{le=\"0.0005\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("obs_unit_request_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("obs_unit_request_duration_seconds_bucket{le=\"10\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("obs_unit_request_duration_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("obs_unit_request_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.contains("obs_unit_total 2"), "{text}");
    }
}
