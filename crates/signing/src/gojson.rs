//! A JSON writer that produces exactly the bytes Go's `encoding/json` produces for a
//! `map[string]any` that was itself decoded from JSON.
//!
//! Upstream ANIP (Go) computes every digest and signs every receipt over such bytes, so we
//! must reproduce them byte for byte; `serde_json` differs in three ways that matter:
//!
//! * **Numbers.** Go decodes every JSON number into a `float64` and writes it back with
//!   `strconv.FormatFloat(f, 'f', -1, 64)` when `1e-6 <= |f| < 1e21`, else with the `'e'`
//!   format whose exponent is cleaned up (`1e+21`, `1e-7`). So `1.0` prints `1` and an integer
//!   above 2^53 prints its nearest `float64`.
//! * **Strings.** Go escapes U+2028/U+2029 always, `<`, `>`, `&` when HTML escaping is on (the
//!   `json.Marshal` default), and writes control characters as `\b`, `\f`, `\n`, `\r`, `\t`
//!   (the short forms for `\b` and `\f` since Go 1.22; upstream builds with Go 1.25) or
//!   `\u00xx` with lowercase hex.
//! * **Objects.** Go writes map keys sorted by their bytes; we ignore the insertion order that
//!   `serde_json`'s `preserve_order` keeps.
//!
//! Output never has whitespace and never a trailing newline (Go's `Encoder.Encode` appends
//! one, and upstream strips it before hashing; see [`crate::digest`]).

use serde_json::{Map, Number, Value};

/// How to write strings. Everything else is fixed by Go's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GoJsonOptions {
    /// Escape `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`.
    ///
    /// `true` is Go's `json.Marshal` (used for receipt payloads); `false` is a Go `Encoder` with
    /// `SetEscapeHTML(false)` (used for digests).
    pub escape_html: bool,
}

impl GoJsonOptions {
    /// The encoding upstream hashes for digests: `json.NewEncoder` with
    /// `SetEscapeHTML(false)`.
    pub const DIGEST: GoJsonOptions = GoJsonOptions { escape_html: false };

    /// Go's `json.Marshal`, which escapes `<`, `>`, `&`: what upstream signs for receipts.
    pub const MARSHAL: GoJsonOptions = GoJsonOptions { escape_html: true };
}

/// Writes `value` as Go's `encoding/json` would (see the module docs).
pub fn to_go_json(value: &Value, opts: GoJsonOptions) -> String {
    let mut out = String::new();
    write_value(&mut out, value, opts);
    out
}

/// Like [`to_go_json`], appending to `out`.
pub fn push_go_json(out: &mut String, value: &Value, opts: GoJsonOptions) {
    write_value(out, value, opts);
}

/// The JSON string `text` as Go writes it, appended to `out`.
pub fn push_go_string(out: &mut String, text: &str, opts: GoJsonOptions) {
    write_string(out, text, opts);
}

/// Like [`to_go_json`], but returns the UTF-8 bytes, ready to hash or sign.
pub fn to_go_json_bytes(value: &Value, opts: GoJsonOptions) -> Vec<u8> {
    to_go_json(value, opts).into_bytes()
}

/// Like [`to_go_json`], writing into `writer`.
pub fn to_writer<W: std::io::Write>(
    writer: &mut W,
    value: &Value,
    opts: GoJsonOptions,
) -> std::io::Result<()> {
    writer.write_all(to_go_json(value, opts).as_bytes())
}

fn write_value(out: &mut String, value: &Value, opts: GoJsonOptions) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text, opts),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item, opts);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, opts),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>, opts: GoJsonOptions) {
    // Go sorts map keys with plain string comparison, i.e. by UTF-8 bytes; `str`'s `Ord` is the
    // same byte order.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (index, (key, item)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(out, key, opts);
        out.push(':');
        write_value(out, item, opts);
    }
    out.push('}');
}

fn write_number(out: &mut String, number: &Number) {
    // Go holds every number as float64, whatever it looked like in the input. `u64 as f64`
    // and `i64 as f64` round to nearest, ties to even, as Go's ParseFloat does.
    let float = if let Some(unsigned) = number.as_u64() {
        unsigned as f64
    } else if let Some(signed) = number.as_i64() {
        signed as f64
    } else {
        // serde_json (without arbitrary_precision) stores every other number as a finite f64.
        number.as_f64().unwrap_or(0.0)
    };
    out.push_str(&format_go_float(float));
}

/// Formats a finite `f64` exactly as Go's `encoding/json` float encoder does.
///
/// Both Rust's and Go's formatters print the shortest digit string that round-trips, so only
/// the layout differs: Go switches to exponent form outside `[1e-6, 1e21)`, writes the exponent
/// sign always, and pads exponents to two digits before json strips the zero of `e-0d`.
pub fn format_go_float(value: f64) -> String {
    let abs = value.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // `{}` never uses an exponent and prints `-0` for negative zero, like Go's 'f' format.
        return format!("{value}");
    }
    // Rust writes `1e21`, `1.5e-7`; Go's json writes `1e+21`, `1.5e-7`.
    let formatted = format!("{value:e}");
    match formatted.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => {
            format!("{mantissa}e+{exponent}")
        }
        _ => formatted,
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_string(out: &mut String, text: &str, opts: GoJsonOptions) {
    out.push('"');
    // Runs of characters written as they are are copied whole; only the rest is looked at one
    // character at a time.
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let plain = match byte {
            b'"' | b'\\' => false,
            b'<' | b'>' | b'&' => !opts.escape_html,
            0x00..=0x1f => false,
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            0xe2 => {
                !(bytes.get(index + 1) == Some(&0x80)
                    && matches!(bytes.get(index + 2), Some(0xa8 | 0xa9)))
            }
            _ => true,
        };
        if plain {
            index += 1;
            continue;
        }
        out.push_str(&text[run..index]);
        let ch = text[index..].chars().next().unwrap_or_default();
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            // Escaped unconditionally by Go, for the sake of JSONP.
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            // The other control characters, and `<`, `>`, `&` when HTML is escaped.
            c => push_u00(out, c as u8),
        }
        index += ch.len_utf8();
        run = index;
    }
    out.push_str(&text[run..]);
    out.push('"');
}

fn push_u00(out: &mut String, byte: u8) {
    out.push_str("\\u00");
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest_form(value: &Value) -> String {
        to_go_json(value, GoJsonOptions::DIGEST)
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn floats_follow_go_layout() {
        let cases: &[(&str, &str)] = &[
            ("0", "0"),
            ("-0", "-0"),
            ("-0.0", "-0"),
            ("1.0", "1"),
            ("100", "100"),
            ("0.1", "0.1"),
            ("-2.5", "-2.5"),
            ("1e2", "100"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("1e-7", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("1e-10", "1e-10"),
            ("1e-100", "1e-100"),
            ("5e-324", "5e-324"),
            ("1e20", "100000000000000000000"),
            ("123456789012345678901", "123456789012345680000"),
            ("1e21", "1e+21"),
            ("1000000000000000000000", "1e+21"),
            ("-1e21", "-1e+21"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("12345.678", "12345.678"),
            ("0.30000000000000004", "0.30000000000000004"),
        ];
        for (input, expected) in cases {
            assert_eq!(digest_form(&parse(input)), *expected, "input {input}");
        }
    }

    #[test]
    fn large_integers_go_through_float64() {
        // 2^53 + 1 is not a float64; Go prints the nearest one.
        assert_eq!(digest_form(&parse("9007199254740993")), "9007199254740992");
        // 2^64 and -2^63: Go's 'f' format writes the shortest round-trip digits, then zeros.
        assert_eq!(digest_form(&json!(u64::MAX)), "18446744073709552000");
        assert_eq!(digest_form(&json!(i64::MIN)), "-9223372036854776000");
        assert_eq!(digest_form(&json!(-17)), "-17");
    }

    #[test]
    fn html_escaping_is_an_option() {
        let value = json!({"a": "<b> & </b>"});
        assert_eq!(
            to_go_json(&value, GoJsonOptions::MARSHAL),
            r#"{"a":"\u003cb\u003e \u0026 \u003c/b\u003e"}"#
        );
        assert_eq!(
            to_go_json(&value, GoJsonOptions::DIGEST),
            r#"{"a":"<b> & </b>"}"#
        );
        // Keys are strings too.
        assert_eq!(
            to_go_json(&json!({"<&>": 1}), GoJsonOptions::MARSHAL),
            r#"{"\u003c\u0026\u003e":1}"#
        );
    }

    #[test]
    fn line_and_paragraph_separators_are_always_escaped() {
        let value = json!("a\u{2028}b\u{2029}c");
        assert_eq!(
            to_go_json(&value, GoJsonOptions::DIGEST),
            r#""a\u2028b\u2029c""#
        );
        assert_eq!(
            to_go_json(&value, GoJsonOptions::MARSHAL),
            r#""a\u2028b\u2029c""#
        );
    }

    #[test]
    fn control_characters() {
        let value = json!("q\"b\\n\nr\rt\tb\u{8}f\u{c}z\u{0}o\u{1}u\u{1f}d\u{7f}");
        assert_eq!(
            digest_form(&value),
            r#""q\"b\\n\nr\rt\tb\bf\fz\u0000o\u0001u\u001fd"#.to_owned() + "\u{7f}\""
        );
    }

    /// The escaping rule one character at a time, as Go states it.
    fn escaped_per_character(text: &str, opts: GoJsonOptions) -> String {
        let mut out = String::from('"');
        for ch in text.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                '<' | '>' | '&' if opts.escape_html => push_u00(&mut out, ch as u8),
                c if (c as u32) < 0x20 => push_u00(&mut out, c as u8),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_escape_exactly_the_characters_go_escapes() {
        let mut samples: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b{c}"))
            .collect();
        samples.extend(
            [
                "",
                "plain",
                "\u{2028}",
                "x\u{2029}",
                "\u{2027}\u{202a}\u{20ac}",
                "\u{e2}\u{80}",
                "é<&>ü\u{1f600}\"\\\u{7f}",
                "\u{0}\u{1f}end",
            ]
            .map(str::to_owned),
        );
        for text in &samples {
            for opts in [GoJsonOptions::DIGEST, GoJsonOptions::MARSHAL] {
                let mut out = String::new();
                push_go_string(&mut out, text, opts);
                assert_eq!(out, escaped_per_character(text, opts), "{text:?}");
            }
        }
    }

    #[test]
    fn non_ascii_passes_through() {
        assert_eq!(digest_form(&json!("é😀/")), "\"é😀/\"");
    }

    #[test]
    fn objects_sort_by_bytes_at_every_depth_and_have_no_whitespace() {
        // Insertion order (kept by preserve_order) must not matter. Byte order puts uppercase
        // before lowercase, and non-ASCII (UTF-8 lead bytes >= 0xC2) after all ASCII; "é" (C3 A9)
        // sorts before "ü" (C3 BC) and "z" before both.
        let value = parse(
            r#"{"ü": 1, "b": {"z": [3, {"y": null, "x": true}], "a": false}, "é": 2, "B": "", "a": [], "": {}}"#,
        );
        assert_eq!(
            digest_form(&value),
            r#"{"":{},"B":"","a":[],"b":{"a":false,"z":[3,{"x":true,"y":null}]},"é":2,"ü":1}"#
        );
    }

    #[test]
    fn writer_matches_string() {
        let value = json!({"k": [1.5, "v"]});
        let mut buffer = Vec::new();
        to_writer(&mut buffer, &value, GoJsonOptions::DIGEST).unwrap();
        assert_eq!(buffer, to_go_json_bytes(&value, GoJsonOptions::DIGEST));
        assert_eq!(buffer, br#"{"k":[1.5,"v"]}"#);
    }
}
