//! ISO 8601 durations as ANIP uses them (`PT15M`, `PT1H30M`, `P90D`, `P1W`), without years or
//! months, whose length depends on the calendar.

use std::time::Duration;

/// Parses `P[nW][nD][T[nH][nM][nS]]` (fractional seconds allowed). `None` for anything else,
/// including an empty `P` or `PT`.
pub fn parse_iso8601(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) => {
            if time.is_empty() {
                return None;
            }
            (date, Some(time))
        }
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut seconds = 0f64;
    seconds += components(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time) = time {
        seconds += components(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// Sums `number unit` pairs, units in the given order, each at most once.
fn components(text: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut next_unit = 0;
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let position = units[next_unit..].iter().position(|(unit, _)| *unit == c)? + next_unit;
        if number.is_empty() {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        total += value * units[position].1;
        number.clear();
        next_unit = position + 1;
    }
    if number.is_empty() {
        Some(total)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_anip_uses() {
        let cases = [
            ("PT15M", 900),
            ("PT1H30M", 5400),
            ("P90D", 7_776_000),
            ("P1W", 604_800),
            ("PT30S", 30),
            ("P1DT1S", 86_401),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_iso8601(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in [
            "",
            "P",
            "PT",
            "15M",
            "PT15",
            "PTM",
            "P1Y",
            "PT1M1H",
            "not_applicable",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
