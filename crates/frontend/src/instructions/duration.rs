//! Durations written the way Go's `time.ParseDuration` reads them (`30s`, `1m30s`, `1.5h`,
//! `300ms`) and printed the way Go's `Duration.String` writes them, because HEALTHCHECK
//! takes them in that syntax and BuildKit's history text prints them that way.
//!
//! Values are nanoseconds in an `i64`, as Docker stores them in the image config.

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Parses a Go duration into nanoseconds.
pub(crate) fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = take_digits(rest);
        let (fraction, after_fraction) = match after_whole.strip_prefix('.') {
            Some(tail) => take_digits(tail),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_fraction
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_fraction.len());
        let unit = &after_fraction[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let scale = unit_nanos(unit)
            .ok_or_else(|| format!("time: unknown unit {unit:?} in duration {text:?}"))?;
        total += component_nanos(whole, fraction, scale).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
        rest = &after_fraction[unit_len..];
    }
    let total = total as i64;
    Ok(if negative { -total } else { total })
}

fn take_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

fn component_nanos(whole: &str, fraction: &str, scale: u128) -> Option<u128> {
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole_value.checked_mul(scale)?;
    // Digits beyond nanosecond precision cannot change the result.
    let fraction = &fraction[..fraction.len().min(30)];
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        let divisor = 10u128.checked_pow(fraction.len() as u32)?;
        nanos = nanos.checked_add(digits.checked_mul(scale)? / divisor)?;
    }
    Some(nanos)
}

/// Formats nanoseconds as Go's `Duration.String` does (`0s`, `1.5ms`, `1m30s`, `1h0m0s`).
pub(crate) fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let magnitude = nanos.unsigned_abs();
    let body = if magnitude < NANOS_PER_SECOND {
        let (unit, scale, digits) = if magnitude < 1_000 {
            ("ns", 1, 0)
        } else if magnitude < 1_000_000 {
            ("\u{b5}s", 1_000, 3)
        } else {
            ("ms", 1_000_000, 6)
        };
        format!(
            "{}{}{unit}",
            magnitude / scale,
            fraction_text(magnitude % scale, digits)
        )
    } else {
        let seconds = magnitude / NANOS_PER_SECOND;
        let tail = format!(
            "{}{}s",
            seconds % 60,
            fraction_text(magnitude % NANOS_PER_SECOND, 9)
        );
        let minutes = seconds / 60;
        match (minutes / 60, minutes % 60) {
            (0, 0) => tail,
            (0, m) => format!("{m}m{tail}"),
            (h, m) => format!("{h}h{m}m{tail}"),
        }
    };
    if nanos < 0 {
        format!("-{body}")
    } else {
        body
    }
}

/// `.123` for a remainder of `digits` decimal places, trailing zeros dropped; empty for 0.
fn fraction_text(remainder: u64, digits: usize) -> String {
    if remainder == 0 {
        return String::new();
    }
    let padded = format!("{remainder:0digits$}");
    format!(".{}", padded.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let cases = [
            ("0", 0),
            ("30s", 30 * NANOS_PER_SECOND as i64),
            ("1m30s", 90 * NANOS_PER_SECOND as i64),
            ("1.5h", 5400 * NANOS_PER_SECOND as i64),
            ("300ms", 300_000_000),
            ("10us", 10_000),
            ("10\u{b5}s", 10_000),
            ("1ns", 1),
            (".5s", 500_000_000),
            ("-2s", -2 * NANOS_PER_SECOND as i64),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_go_duration(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for text in ["", "s", "10", "1x", "1.s.", "-", "9999999999h"] {
            assert!(parse_go_duration(text).is_err(), "{text}");
        }
        assert_eq!(
            parse_go_duration("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (1_500_000, "1.5ms"),
            (30 * NANOS_PER_SECOND as i64, "30s"),
            (90 * NANOS_PER_SECOND as i64, "1m30s"),
            (300 * NANOS_PER_SECOND as i64, "5m0s"),
            (3600 * NANOS_PER_SECOND as i64, "1h0m0s"),
            (1_500_000_000, "1.5s"),
            (-2 * NANOS_PER_SECOND as i64, "-2s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_go_duration(nanos), text);
        }
    }
}
