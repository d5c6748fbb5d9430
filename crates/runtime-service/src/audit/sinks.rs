//! Publishing checkpoints to the sinks of an anchored service (SPEC.md §7.5–§7.6), so that
//! someone outside the service holds each signed checkpoint and can later hold the service to
//! it.
//!
//! The sinks are the package's `trust.anchoring.sink` URIs, or the operator's
//! `ANIP_RUNTIME_CHECKPOINT_SINKS` in their place, parsed when the runtime starts: a URI it
//! cannot publish to stops it there. One replica at a time publishes (a lease, like the
//! checkpoint producer's). Each sink receives every checkpoint, in order; a delivery is recorded
//! in Postgres with the sink's answer (its receipt), so a replica that takes over continues where
//! the last one stopped. A sink that fails is retried with a growing pause, and the checkpoints
//! it is owed wait for it; the other sinks do not.
//!
//! What a sink receives is the signed checkpoint as upstream's sinks receive it:
//! `{"body": <the exact signed body>, "signature": "<detached JWS>"}`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use tokio::task::JoinHandle;

use crate::app::Stop;
use crate::backend::client::{BackendClient, Body, TransportError};
use crate::db::{self, checkpoints::StoredCheckpoint, DbError};
use crate::package::Package;

/// The lease every publisher competes for.
pub const LEASE: &str = "role:checkpoint-sinks";

/// The environment variable that replaces the package's sinks.
pub const SINKS_ENV: &str = "ANIP_RUNTIME_CHECKPOINT_SINKS";

/// How long one delivery to an HTTP sink may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer (receipt) taken from a sink; a larger one fails the delivery.
const MAX_RECEIPT: usize = 64 * 1024;

/// The most checkpoints delivered to one sink in one round.
const ROUND_LIMIT: i64 = 50;

/// The pause after a sink's first failure; it doubles with each further failure.
const FIRST_PAUSE: Duration = Duration::from_secs(2);

/// The longest pause between attempts at a failing sink.
const LONGEST_PAUSE: Duration = Duration::from_secs(300);

/// A place checkpoints are published to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// `https://…`, or `http://` to a loopback address: each checkpoint is POSTed as JSON, and
    /// a 2xx answer is the sink's receipt.
    Http { uri: String, target: Uri },
    /// `file:///dir`: each checkpoint is written to `dir/<checkpoint_id>.json`. For development:
    /// it does not qualify as an external sink (§7.6).
    File { uri: String, dir: PathBuf },
}

/// A sink URI the runtime cannot publish to. It is shown without credentials or a query,
/// which a refused URI might carry.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint sink {shown:?}: {reason}")]
pub struct SinkError {
    pub shown: String,
    pub reason: &'static str,
}

/// `uri` without user information, query or fragment, for messages.
fn redact(uri: &str) -> String {
    let uri = uri.split(['?', '#']).next().unwrap_or_default();
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or_default();
            let hidden = if authority.contains('@') { "…@" } else { "" };
            format!("{scheme}://{hidden}{host}{path}")
        }
        None => uri.to_owned(),
    }
}

impl Sink {
    /// Parses a sink URI. It may not carry credentials or a query: the sinks are published in
    /// the manifest.
    pub fn parse(uri: &str) -> Result<Sink, SinkError> {
        let refuse = |reason| SinkError {
            shown: redact(uri),
            reason,
        };
        if let Some(path) = uri.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(refuse(
                    "a file: sink names an absolute directory (file:///dir)",
                ));
            }
            if path.contains(['?', '#', '%']) {
                return Err(refuse("a file: sink is a plain directory path"));
            }
            return Ok(Sink::File {
                uri: uri.to_owned(),
                dir: PathBuf::from(path),
            });
        }
        if uri.starts_with("witness:") {
            return Err(refuse(
                "witness: sinks are not supported; set ANIP_RUNTIME_CHECKPOINT_SINKS to the \
                 https: sinks to publish to instead",
            ));
        }
        let target: Uri = uri
            .parse()
            .map_err(|_| refuse("not a URI (expected https://, or file:///dir)"))?;
        let authority = target
            .authority()
            .ok_or_else(|| refuse("expected https://host/path"))?;
        if authority.as_str().contains('@') {
            return Err(refuse(
                "a sink URI may not carry credentials (the manifest publishes it)",
            ));
        }
        if target.query().is_some() {
            return Err(refuse(
                "a sink URI may not carry a query (the manifest publishes it)",
            ));
        }
        match target.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(authority.host()) => {}
            Some("http") => {
                return Err(refuse(
                    "plain http: is accepted only to a loopback address; use https:",
                ))
            }
            _ => {
                return Err(refuse(
                    "unsupported scheme (expected https://, or file:///dir)",
                ))
            }
        }
        Ok(Sink::Http {
            uri: uri.to_owned(),
            target,
        })
    }

    /// The URI as configured.
    pub fn uri(&self) -> &str {
        match self {
            Sink::Http { uri, .. } | Sink::File { uri, .. } => uri,
        }
    }

    /// Whether the sink counts as external for an anchored service (§7.6): an https: one.
    pub fn qualifies(&self) -> bool {
        matches!(self, Sink::Http { target, .. } if target.scheme_str() == Some("https"))
    }

    /// The sink in logs and metric labels: scheme and host, never the path.
    pub fn label(&self) -> String {
        match self {
            Sink::Http { target, .. } => format!(
                "{}://{}",
                target.scheme_str().unwrap_or_default(),
                target.authority().map_or("", |a| a.as_str())
            ),
            Sink::File { .. } => "file".to_owned(),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses every URI, in order.
pub fn parse_all<'a>(uris: impl IntoIterator<Item = &'a str>) -> Result<Vec<Sink>, SinkError> {
    uris.into_iter().map(Sink::parse).collect()
}

/// Parses `ANIP_RUNTIME_CHECKPOINT_SINKS`: URIs separated by commas, each checked by
/// [`Sink::parse`].
pub fn parse_list(text: &str) -> Result<Vec<Sink>, SinkSetupError> {
    let uris = text.split(',').map(str::trim).filter(|uri| !uri.is_empty());
    let sinks = parse_all(uris).map_err(SinkSetupError::Configured)?;
    if sinks.is_empty() {
        return Err(SinkSetupError::EmptyList);
    }
    Ok(sinks)
}

/// Why the runtime cannot publish the package's checkpoints as configured.
#[derive(Debug, thiserror::Error)]
pub enum SinkSetupError {
    #[error(
        "{SINKS_ENV} is set, but the package is not anchored: it has no checkpoints to publish"
    )]
    NotAnchored,
    #[error("{SINKS_ENV} is set but names no sink (expected URIs separated by commas)")]
    EmptyList,
    #[error("{0} (from {SINKS_ENV})")]
    Configured(SinkError),
    #[error("{0} (declared by the package in trust.anchoring.sink; {SINKS_ENV} replaces the package's sinks)")]
    Declared(SinkError),
}

/// The sinks this runtime publishes `package`'s checkpoints to: `configured` (the operator's
/// [`SINKS_ENV`]) in place of the package's own when given, written into the package so that
/// the manifest shows the sinks actually used; else the package's. Empty when the package
/// produces no checkpoints.
pub fn effective(
    package: &mut Package,
    configured: Option<&str>,
) -> Result<Vec<Sink>, SinkSetupError> {
    let anchored = package.trust.is_anchored();
    let Some(anchoring) = package.trust.anchoring.as_mut().filter(|_| anchored) else {
        return match configured {
            Some(_) => Err(SinkSetupError::NotAnchored),
            None => Ok(Vec::new()),
        };
    };
    match configured {
        Some(text) => {
            let sinks = parse_list(text)?;
            anchoring.sink = sinks.iter().map(|sink| sink.uri().to_owned()).collect();
            Ok(sinks)
        }
        None => {
            parse_all(anchoring.sink.iter().map(String::as_str)).map_err(SinkSetupError::Declared)
        }
    }
}

/// Why a checkpoint was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("the sink answered {0}")]
    Rejected(u16),
    #[error("no answer from the sink ({})", .0.label())]
    Transport(TransportError),
    #[error("writing the checkpoint file failed: {0}")]
    Write(std::io::Error),
}

impl DeliveryError {
    /// The `reason` label of `anip_runtime_checkpoint_delivery_failures_total`.
    pub fn label(&self) -> &'static str {
        match self {
            DeliveryError::Db(_) => "database",
            DeliveryError::Rejected(_) => "rejected",
            DeliveryError::Transport(error) => error.label(),
            DeliveryError::Write(_) => "write",
        }
    }
}

/// The JSON a sink receives for `checkpoint`: the stored body spliced in byte for byte, so that
/// the signature verifies over exactly what the sink holds.
pub fn payload(checkpoint: &StoredCheckpoint) -> String {
    let signature = serde_json::to_string(&checkpoint.signature).unwrap_or_default();
    format!("{{\"body\":{},\"signature\":{signature}}}", checkpoint.body)
}

/// Delivers to `sink`, in order, the checkpoints it is owed (at most [`ROUND_LIMIT`]), stopping
/// at the first that fails, then sets `anip_runtime_checkpoint_sink_owed` to what it is still
/// owed. Returns how many were delivered.
pub async fn deliver_owed(
    pool: &store::Pool,
    client: &BackendClient,
    sink: &Sink,
) -> Result<usize, DeliveryError> {
    let (owed, total) = db::checkpoints::undelivered(pool, sink.uri(), ROUND_LIMIT).await?;
    let mut delivered = 0;
    let outcome = async {
        for checkpoint in &owed {
            let receipt = deliver(client, sink, checkpoint).await?;
            db::checkpoints::record_delivery(pool, sink.uri(), checkpoint.number, &receipt)
                .await?;
            tracing::info!(event = "checkpoint_delivered", sink = %sink.label(), checkpoint_id = %checkpoint.checkpoint_id, "checkpoint published");
            metrics::counter!("anip_runtime_checkpoint_deliveries_total", "sink" => sink.label())
                .increment(1);
            delivered += 1;
        }
        Ok(())
    }
    .await;
    metrics::gauge!("anip_runtime_checkpoint_sink_owed", "sink" => sink.label())
        .set((total - delivered as i64) as f64);
    outcome.map(|()| delivered)
}

/// Delivers one checkpoint; returns the sink's receipt.
async fn deliver(
    client: &BackendClient,
    sink: &Sink,
    checkpoint: &StoredCheckpoint,
) -> Result<String, DeliveryError> {
    let payload = payload(checkpoint);
    match sink {
        Sink::Http { target, .. } => {
            let mut request = Request::new(Body::new(Bytes::from(payload)));
            *request.method_mut() = Method::POST;
            *request.uri_mut() = target.clone();
            let headers = request.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(USER_AGENT, HeaderValue::from_static("anip-runtime"));
            let answer = client
                .send(request, DELIVERY_TIMEOUT, MAX_RECEIPT)
                .await
                .map_err(DeliveryError::Transport)?;
            if !answer.status.is_success() {
                return Err(DeliveryError::Rejected(answer.status.as_u16()));
            }
            Ok(String::from_utf8_lossy(&answer.body).into_owned())
        }
        Sink::File { dir, .. } => {
            let path = dir.join(format!("{}.json", checkpoint.checkpoint_id));
            let written = path.clone();
            tokio::task::spawn_blocking(move || write_durably(&written, payload.as_bytes()))
                .await
                .map_err(|e| DeliveryError::Write(std::io::Error::other(e.to_string())))?
                .map_err(DeliveryError::Write)?;
            Ok(format!("written to {}", path.display()))
        }
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, each synced, so that
/// the file is either absent or whole.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("json.partial");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Runs the publisher loop on the current runtime until `stop` is requested: every `tick`, the
/// lease holder delivers to each sink not pausing after a failure.
pub fn spawn(
    pool: store::Pool,
    client: BackendClient,
    sinks: Vec<Sink>,
    holder: String,
    tick: Duration,
    mut stop: Stop,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let lease_ttl = (tick * 10).max(Duration::from_secs(30));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pauses = Pauses::default();
        loop {
            tokio::select! {
                biased;
                () = stop.requested() => return,
                _ = interval.tick() => {}
            }
            match db::leases::try_acquire(&pool, LEASE, &holder, lease_ttl).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    tracing::warn!(event = "checkpoint_sink_lease_failed", error = %error, "lease not checked");
                    continue;
                }
            }
            for sink in &sinks {
                // A stop does not wait for a slow sink: a delivery cut short is not recorded,
                // so the next publisher sends that checkpoint again.
                tokio::select! {
                    biased;
                    () = stop.requested() => return,
                    () = publish(&pool, &client, sink, &mut pauses) => {}
                }
            }
        }
    })
}

/// One round for one sink: delivers what it is owed unless it is pausing after a failure, and
/// reports the outcome.
async fn publish(pool: &store::Pool, client: &BackendClient, sink: &Sink, pauses: &mut Pauses) {
    if pauses.waiting(sink, Instant::now()) {
        return;
    }
    match deliver_owed(pool, client, sink).await {
        Ok(_) => pauses.succeeded(sink),
        Err(error) => {
            let pause = pauses.failed(sink, Instant::now());
            metrics::counter!(
                "anip_runtime_checkpoint_delivery_failures_total",
                "sink" => sink.label(),
                "reason" => error.label()
            )
            .increment(1);
            tracing::warn!(event = "checkpoint_delivery_failed", sink = %sink.label(), error = %error, retry_in_seconds = pause.as_secs(), "checkpoint not published");
        }
    }
}

/// When each failing sink may be tried again: [`FIRST_PAUSE`] after a first failure, doubling
/// with each further one up to [`LONGEST_PAUSE`], and none after a success.
#[derive(Default)]
struct Pauses(HashMap<String, (Instant, Duration)>);

impl Pauses {
    fn waiting(&self, sink: &Sink, now: Instant) -> bool {
        self.0
            .get(sink.uri())
            .is_some_and(|(until, _)| now < *until)
    }

    /// Records a failure at `now`; returns the pause before the next attempt.
    fn failed(&mut self, sink: &Sink, now: Instant) -> Duration {
        let pause = self
            .0
            .get(sink.uri())
            .map_or(FIRST_PAUSE, |(_, last)| (*last * 2).min(LONGEST_PAUSE));
        self.0.insert(sink.uri().to_owned(), (now + pause, pause));
        pause
    }

    fn succeeded(&mut self, sink: &Sink) {
        self.0.remove(sink.uri());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_uris_are_parsed_at_the_edge() {
        let https = Sink::parse("https://witness.example.com/anip/checkpoints").unwrap();
        assert!(https.qualifies());
        assert_eq!(https.label(), "https://witness.example.com");

        let local = Sink::parse("http://127.0.0.1:9000/sink").unwrap();
        assert!(!local.qualifies());
        assert!(Sink::parse("http://localhost:9000/sink").is_ok());
        assert!(Sink::parse("http://[::1]:9000/sink").is_ok());

        let file = Sink::parse("file:///var/lib/anip/checkpoints").unwrap();
        assert_eq!(
            file,
            Sink::File {
                uri: "file:///var/lib/anip/checkpoints".to_owned(),
                dir: PathBuf::from("/var/lib/anip/checkpoints"),
            }
        );
        assert!(!file.qualifies());
        assert_eq!(file.label(), "file");

        for (uri, says) in [
            ("http://witness.example.com/sink", "loopback"),
            (
                "https://user:secret@witness.example.com/sink",
                "credentials",
            ),
            ("https://witness.example.com/sink?token=secret", "query"),
            (
                "witness:rekor.sigstore.dev",
                "ANIP_RUNTIME_CHECKPOINT_SINKS",
            ),
            ("file://relative/dir", "absolute"),
            ("ftp://witness.example.com/sink", "unsupported scheme"),
            ("not a uri", "not a URI"),
        ] {
            let error = Sink::parse(uri).unwrap_err().to_string();
            assert!(error.contains(says), "{uri}: {error}");
            assert!(!error.contains("secret"), "{uri}: {error}");
        }
        let error = Sink::parse("https://user:secret@witness.example.com/sink?x=1")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"https://…@witness.example.com/sink\""),
            "{error}"
        );
    }

    #[test]
    fn a_failing_sink_pauses_longer_each_time_until_it_succeeds() {
        let sink = Sink::parse("https://witness.example.com/x").unwrap();
        let other = Sink::parse("https://other.example.com/x").unwrap();
        let mut pauses = Pauses::default();
        let start = Instant::now();
        assert!(!pauses.waiting(&sink, start));
        let seen: Vec<u64> = (0..10)
            .map(|_| pauses.failed(&sink, start).as_secs())
            .collect();
        assert_eq!(seen, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert!(pauses.waiting(&sink, start + Duration::from_secs(299)));
        assert!(!pauses.waiting(&sink, start + Duration::from_secs(300)));
        assert!(
            !pauses.waiting(&other, start),
            "each sink pauses on its own"
        );
        pauses.succeeded(&sink);
        assert!(!pauses.waiting(&sink, start));
        assert_eq!(pauses.failed(&sink, start), FIRST_PAUSE);
    }

    #[test]
    fn the_sink_list_is_comma_separated_and_checked_whole() {
        let sinks = parse_list(" https://a.example/x , file:///tmp/ckpt ").unwrap();
        let uris: Vec<&str> = sinks.iter().map(Sink::uri).collect();
        assert_eq!(uris, ["https://a.example/x", "file:///tmp/ckpt"]);
        assert!(matches!(parse_list(" , "), Err(SinkSetupError::EmptyList)));
        let error = parse_list("https://a.example/x,http://b.example/y?token=secret")
            .unwrap_err()
            .to_string();
        assert!(error.contains("http://b.example/y"), "{error}");
        assert!(error.contains(SINKS_ENV), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn the_payload_carries_the_signed_body_byte_for_byte() {
        let checkpoint = StoredCheckpoint {
            number: 1,
            checkpoint_id: "ckpt-1".to_owned(),
            body: r#"{"checkpoint_id":"ckpt-1","entry_count":3}"#.to_owned(),
            signature: "eyJhbGciOiJFUzI1NiJ9..c2ln".to_owned(),
            last_sequence: 3,
            merkle_root: "sha256:00".to_owned(),
            frontier: Vec::new(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(
            payload(&checkpoint),
            r#"{"body":{"checkpoint_id":"ckpt-1","entry_count":3},"signature":"eyJhbGciOiJFUzI1NiJ9..c2ln"}"#
        );
    }
}
