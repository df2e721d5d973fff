//! Go's value parsers as Loki uses them: `strconv.ParseFloat`, `time.ParseDuration` and
//! humanize's `ParseBytes`. Error texts follow Go's so `__error_details__` reads the same.

/// `strconv.ParseFloat(s, 64)`: decimal numbers, exponents, `inf`/`infinity`/`nan` in any case.
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    let invalid = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )
    };
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let special = ["inf", "infinity", "nan"]
        .iter()
        .any(|w| body.eq_ignore_ascii_case(w));
    let plain = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !special && !plain {
        return Err(invalid());
    }
    s.parse::<f64>().map_err(|_| invalid())
}

/// Go's `%q` for the short strings that appear in error messages.
pub(crate) fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

const NANOS: [(&str, f64); 9] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
    ("d", f64::NAN), // not a Go unit: listed so the error names it as unknown
];

/// `time.ParseDuration`, in nanoseconds: `1h30m`, `1.5s`, `-2ms`, `0`.
pub(crate) fn parse_duration_ns(s: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(s)));
        }
        let scale = NANOS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .filter(|scale| !scale.is_nan())
            .ok_or_else(|| {
                format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                )
            })?;
        let value: f64 = number.parse().map_err(|_| invalid())?;
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    // Go truncates to whole nanoseconds.
    let total = total.trunc();
    Ok(if negative { -total } else { total })
}

/// humanize's `ParseBytes`: `10KB` = 10000, `10KiB` = 10240, `5 MB`, `1,000 B`, `42`.
pub(crate) fn parse_bytes(s: &str) -> Result<u64, String> {
    let digits_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(s.len(), |(i, _)| i);
    let number: String = s[..digits_end].chars().filter(|c| *c != ',').collect();
    let value = parse_float(&number)?;
    let unit = s[digits_end..].trim().to_ascii_lowercase();
    let multiplier = byte_unit(&unit).ok_or_else(|| format!("unhandled size name: {unit}"))?;
    let bytes = value * multiplier;
    if bytes >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(bytes as u64)
}

fn byte_unit(unit: &str) -> Option<f64> {
    let (prefix, binary) = match unit.strip_suffix('b').unwrap_or(unit) {
        u if u.ends_with('i') => (&u[..u.len() - 1], true),
        u => (u, false),
    };
    if binary && prefix.is_empty() {
        return None;
    }
    let power = match prefix {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    Some(base.powi(power))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("-1.5", Some(-1.5)),
            ("+2e3", Some(2000.0)),
            (".5", Some(0.5)),
            ("Inf", Some(f64::INFINITY)),
            ("-infinity", Some(f64::NEG_INFINITY)),
            ("", None),
            ("abc", None),
            ("1.2.3", None),
            (" 1", None),
            ("1ms", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_float(input).ok(), *want, "{input:?}");
        }
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(
            parse_float("abc").unwrap_err(),
            r#"strconv.ParseFloat: parsing "abc": invalid syntax"#
        );
    }

    #[test]
    fn durations_like_go() {
        let cases: &[(&str, Option<f64>)] = &[
            ("0", Some(0.0)),
            ("1s", Some(1e9)),
            ("1.5s", Some(1.5e9)),
            ("1h30m", Some(5400e9)),
            ("-2ms", Some(-2e6)),
            ("250us", Some(250e3)),
            ("3µs", Some(3e3)),
            ("10ns", Some(10.0)),
            ("1", None),
            ("", None),
            ("1d", None),
            ("s", None),
            ("1.s", Some(1e9)),
            ("abc", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration_ns(input).ok(), *want, "{input:?}");
        }
        assert_eq!(
            parse_duration_ns("1").unwrap_err(),
            r#"time: missing unit in duration "1""#
        );
        assert_eq!(
            parse_duration_ns("1x").unwrap_err(),
            r#"time: unknown unit "x" in duration "1x""#
        );
    }

    #[test]
    fn bytes_like_humanize() {
        let cases: &[(&str, Option<u64>)] = &[
            ("42", Some(42)),
            ("42B", Some(42)),
            ("10KB", Some(10_000)),
            ("10kb", Some(10_000)),
            ("10KiB", Some(10_240)),
            ("10Ki", Some(10_240)),
            ("5 MB", Some(5_000_000)),
            ("1.5GB", Some(1_500_000_000)),
            ("1,000 B", Some(1000)),
            ("2TiB", Some(2 * (1u64 << 40))),
            ("1ib", None),
            ("10XB", None),
            ("abc", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_bytes(input).ok(), *want, "{input:?}");
        }
    }
}
