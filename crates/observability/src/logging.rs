//! JSON-lines logging on stdout.
//!
//! Every event becomes one JSON object on one line:
//!
//! ```json
//! {"timestamp":"2025-01-01T00:00:00.000000Z","level":"INFO","target":"registry_api::app",
//!  "service":"anip-registry","message":"listening","port":8080,
//!  "span":{"name":"request","request_id":"…"},"spans":[{"name":"request","request_id":"…"}]}
//! ```
//!
//! Event fields are flattened next to `message`; the fixed keys (`timestamp`, `level`, `target`,
//! `service`, `message`, `span`, `spans`) win over event fields of the same name. `span` (the
//! innermost span) and `spans` (root first) appear only inside spans. Events from the `log` crate
//! (actix-server, for one) are bridged and keep their own target.
//!
//! The level comes from `RUST_LOG` (tracing-subscriber's `EnvFilter` syntax); when it is unset or
//! invalid the filter is `info`.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global JSON-lines subscriber for `service`, filtered by `RUST_LOG` (default
/// `info`), and bridges the `log` crate into it.
///
/// Idempotent: when a global subscriber is already installed (a second call, or a test harness),
/// this does nothing. Returns whether this call installed the subscriber.
pub fn init(service: &'static str) -> bool {
    subscriber(service, env_filter(), std::io::stdout)
        .try_init()
        .is_ok()
}

/// The filter from `RUST_LOG`, or `info` when it is unset or does not parse.
pub fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Builds (without installing) the JSON-lines subscriber writing to `writer`.
///
/// [`init`] uses this with stdout; tests use it with an in-memory writer under
/// `tracing::subscriber::with_default`.
pub fn subscriber<W>(
    service: &'static str,
    filter: EnvFilter,
    writer: W,
) -> impl Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines { service })
        .with_writer(writer)
        .finish()
}

/// The event formatter: one flat JSON object per line.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines {
    /// The value of the `service` key on every line.
    pub service: &'static str,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::with_capacity(32);
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;

        let mut fields = FieldVisitor::default();
        event.record(&mut fields);

        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert(
            "level".into(),
            Value::String(meta.level().as_str().to_owned()),
        );
        let target = fields
            .log_target
            .take()
            .unwrap_or_else(|| meta.target().to_owned());
        line.insert("target".into(), Value::String(target));
        line.insert("service".into(), Value::String(self.service.to_owned()));
        line.insert(
            "message".into(),
            Value::String(fields.message.take().unwrap_or_default()),
        );

        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let mut obj = Map::new();
                    obj.insert("name".into(), Value::String(span.name().to_owned()));
                    let ext = span.extensions();
                    if let Some(formatted) = ext.get::<FormattedFields<N>>() {
                        match serde_json::from_str::<Map<String, Value>>(formatted.as_str()) {
                            Ok(map) => {
                                for (k, v) in map {
                                    obj.entry(k).or_insert(v);
                                }
                            }
                            Err(_) if formatted.is_empty() => {}
                            Err(_) => {
                                obj.insert(
                                    "fields".into(),
                                    Value::String(formatted.as_str().to_owned()),
                                );
                            }
                        }
                    }
                    Value::Object(obj)
                })
                .collect();
            if let Some(leaf) = spans.last() {
                line.insert("span".into(), leaf.clone());
            }
            line.insert("spans".into(), Value::Array(spans));
        }

        for (k, v) in fields.fields {
            line.entry(k).or_insert(v);
        }

        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields as JSON values.
#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    log_target: Option<String>,
    fields: Map<String, Value>,
}

impl FieldVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = Some(match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                });
            }
            "log.target" => {
                if let Value::String(s) = value {
                    self.log_target = Some(s);
                }
            }
            // Bridged `log` records carry these; they add noise, not information.
            "log.module_path" | "log.file" | "log.line" => {}
            name => {
                self.fields.insert(name.to_owned(), value);
            }
        }
    }
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.put(field, v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = i64::try_from(value)
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(value.to_string()));
        self.put(field, v);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = u64::try_from(value)
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(value.to_string()));
        self.put(field, v);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(filter: &str, f: impl FnOnce()) -> Vec<Map<String, Value>> {
        let buf = Buf::default();
        let sub = subscriber("test-svc", EnvFilter::new(filter), buf.clone());
        tracing::subscriber::with_default(sub, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    #[test]
    fn one_flat_json_object_per_event() {
        let lines = capture("info", || {
            tracing::info!(
                event = "started",
                port = 8080_u16,
                ok = true,
                ratio = 0.5,
                "hello {}",
                "world"
            );
        });
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        let keys: Vec<&str> = l.keys().map(String::as_str).collect();
        assert_eq!(
            &keys[..5],
            ["timestamp", "level", "target", "service", "message"]
        );
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["service"], "test-svc");
        assert_eq!(l["message"], "hello world");
        assert_eq!(l["target"], module_path!());
        assert_eq!(l["event"], "started");
        assert_eq!(l["port"], 8080);
        assert_eq!(l["ok"], true);
        assert_eq!(l["ratio"], 0.5);
        let ts = l["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
        assert!(!l.contains_key("span"));
    }

    #[test]
    fn filter_applies_and_fixed_keys_win() {
        let lines = capture("warn", || {
            tracing::info!("dropped");
            tracing::warn!(service = "spoofed", level = "x", "kept");
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "kept");
        assert_eq!(lines[0]["service"], "test-svc");
        assert_eq!(lines[0]["level"], "WARN");
    }

    #[test]
    fn span_fields_are_included() {
        let lines = capture("info", || {
            let outer = tracing::info_span!("request", request_id = "r-1");
            let _o = outer.enter();
            let inner = tracing::info_span!("handler", id = 7);
            let _i = inner.enter();
            tracing::info!("inside");
        });
        let l = &lines[0];
        assert_eq!(l["span"]["name"], "handler");
        assert_eq!(l["span"]["id"], 7);
        assert_eq!(l["spans"][0]["name"], "request");
        assert_eq!(l["spans"][0]["request_id"], "r-1");
    }

    #[test]
    fn bridged_log_records_keep_their_target() {
        // What tracing-log's `LogTracer` produces for a `log` record.
        let lines = capture("info", || {
            tracing::info!(
                log.target = "actix_server::builder",
                log.module_path = "actix_server::builder",
                log.file = "src/builder.rs",
                log.line = 1_u32,
                "starting 2 workers"
            );
        });
        let l = &lines[0];
        assert_eq!(l["target"], "actix_server::builder");
        assert_eq!(l["message"], "starting 2 workers");
        assert!(l.keys().all(|k| !k.starts_with("log.")), "{l:?}");
    }

    #[test]
    fn errors_and_debug_values_are_strings() {
        let err = io::Error::other("boom");
        let lines = capture("info", || {
            tracing::error!(error = &err as &dyn std::error::Error, list = ?vec![1, 2], "failed");
        });
        assert_eq!(lines[0]["error"], "boom");
        assert_eq!(lines[0]["list"], "[1, 2]");
        assert_eq!(lines[0]["level"], "ERROR");
    }
}
