//! The registry's own counters (request counts and latencies come from
//! `observability::HttpMetrics`). Names and labels match upstream, so its dashboards and alerts
//! keep working.

/// Metric name prefix.
pub const PREFIX: &str = "anip_registry";

/// `anip_registry_publish_total{kind,status}` status values.
pub const PUBLISH_STATUSES: [&str; 6] = [
    "success",
    "conflict",
    "invalid",
    "invalid_request",
    "unauthorized",
    "error",
];

/// Counts a publish attempt.
pub fn publish(kind: &'static str, status: &'static str) {
    metrics::counter!("anip_registry_publish_total", "kind" => kind, "status" => status)
        .increment(1);
}

/// Counts a download.
pub fn download(kind: &'static str) {
    metrics::counter!("anip_registry_download_total", "kind" => kind).increment(1);
}

/// Registers every series at zero, so dashboards see them before the first event.
pub fn register() {
    metrics::describe_counter!(
        "anip_registry_publish_total",
        "Publish attempts by artifact kind and outcome"
    );
    metrics::describe_counter!("anip_registry_download_total", "Downloads by artifact kind");
    metrics::describe_gauge!(
        "anip_registry_catalogue_versions",
        "Listed versions held in memory by the catalogue"
    );
    metrics::describe_gauge!(
        "anip_registry_catalogue_load_seconds",
        "How long the catalogue's last load took (rows and indexes)"
    );
    metrics::describe_counter!(
        "anip_registry_catalogue_pages_total",
        "List and search pages answered from the in-memory catalogue"
    );
    metrics::describe_counter!(
        "anip_registry_catalogue_misses_total",
        "Lists the catalogue held but could not answer, by reason: stale (a write since its \
         load), unconfirmed (no recent database answer), expired"
    );
    metrics::gauge!("anip_registry_catalogue_versions").set(0.0);
    metrics::counter!("anip_registry_catalogue_pages_total").increment(0);
    for kind in ["package", "template"] {
        for status in PUBLISH_STATUSES {
            metrics::counter!("anip_registry_publish_total", "kind" => kind, "status" => status)
                .increment(0);
        }
        metrics::counter!("anip_registry_download_total", "kind" => kind).increment(0);
    }
}
