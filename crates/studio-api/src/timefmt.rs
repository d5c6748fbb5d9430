//! Timestamps as upstream Studio writes them, so records round-trip through snapshots.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A database timestamp as Python's `datetime.isoformat()` writes an aware UTC value:
/// `2026-05-16T22:07:07.745816+00:00`, the fraction omitted when it is zero.
pub fn iso(ts: OffsetDateTime) -> String {
    let ts = ts.to_offset(UtcOffset::UTC);
    let micros = ts.microsecond();
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );
    if micros == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{micros:06}+00:00")
    }
}

/// A timestamp inside JSON data as upstream's browser code writes it
/// (`Date.prototype.toISOString`): milliseconds and `Z`.
pub fn js_iso(ts: OffsetDateTime) -> String {
    let ts = ts.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
        ts.millisecond()
    )
}

/// Now, for data timestamps.
pub fn now_js() -> String {
    js_iso(OffsetDateTime::now_utc())
}

/// Parses an RFC 3339 timestamp (what [`iso`] and [`js_iso`] write).
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_isoformat_round_trips() {
        for text in [
            "2026-05-16T22:07:07.745816+00:00",
            "2026-05-16T22:07:07+00:00",
            "2026-06-06T16:55:38.000100+00:00",
        ] {
            assert_eq!(iso(parse(text).unwrap()), text);
        }
        assert_eq!(
            iso(parse("2026-05-16T23:07:07.5+01:00").unwrap()),
            "2026-05-16T22:07:07.500000+00:00"
        );
    }

    #[test]
    fn js_format() {
        assert_eq!(
            js_iso(parse("2026-05-16T22:07:08.062Z").unwrap()),
            "2026-05-16T22:07:08.062Z"
        );
    }
}
