//! Literal syntaxes LogQL borrows from Go and Prometheus: durations, byte sizes, floats and
//! quoted strings, both ways (parsing and canonical printing).

/// Prometheus' `model.ParseDuration` (units `y w d h m s ms`, in that order, integers only),
/// in milliseconds. Errors carry Prometheus' messages.
pub(crate) fn parse_prom_duration_ms(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("empty duration string".to_string());
    }
    if text == "0" {
        return Ok(0);
    }
    let invalid = || format!("not a valid duration string: {text:?}");
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let index = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(invalid)?
            + next_unit;
        next_unit = index + 1;
        total = n
            .checked_mul(UNITS[index].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration out of range".to_string())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Go's `time.ParseDuration` (fractions, `ns us µs ms s m h`, optional sign), in nanoseconds.
pub(crate) fn parse_go_duration_ns(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if negative { -ns } else { ns })
}

/// Loki's `parseDuration`: Prometheus syntax first, then Go's.
pub(crate) fn parse_duration_ns(text: &str) -> Option<i64> {
    match parse_prom_duration_ms(text) {
        Ok(ms) => ms.checked_mul(1_000_000),
        Err(_) => parse_go_duration_ns(text),
    }
}

/// go-humanize's `ParseBytes`: `10KB` (SI), `1KiB` (IEC), `2,048`, case-insensitive units.
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(text.len());
    let number = text[..number_len].replace(',', "");
    let value = parse_go_float(&number)
        .map_err(|_| format!("strconv.ParseFloat: parsing {number:?}: invalid syntax"))?;
    let unit = text[number_len..].trim().to_lowercase();
    let scale: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let bytes = value * scale;
    if bytes >= u64::MAX as f64 {
        return Err(format!("too large: {text}"));
    }
    Ok(bytes as u64)
}

/// Go's `strconv.ParseFloat` for the decimal syntax the lexer produces (no hex, octal,
/// binary or underscores: those are errors, as `0x10` is in Loki).
pub(crate) fn parse_go_float(text: &str) -> Result<f64, String> {
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && text.chars().any(|c| c.is_ascii_digit());
    let parsed = if valid {
        text.parse::<f64>().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| format!("strconv.ParseFloat: parsing {text:?}: invalid syntax"))
}

/// Applies Go escape sequences to the body of a `"…"` literal.
pub(crate) fn unquote(body: &str) -> Result<String, String> {
    let invalid = || "invalid syntax".to_string();
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let escaped = chars.next().ok_or_else(invalid)?;
        let simple = match escaped {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        match escaped {
            'x' => out.push(take_radix(&mut chars, 2, 16).ok_or_else(invalid)? as u8),
            'u' | 'U' => {
                let digits = if escaped == 'u' { 4 } else { 8 };
                let code = take_radix(&mut chars, digits, 16).ok_or_else(invalid)?;
                let c = char::from_u32(code).ok_or_else(invalid)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let rest = take_radix(&mut chars, 2, 8).ok_or_else(invalid)?;
                let value = escaped.to_digit(8).unwrap_or(0) * 64 + rest;
                out.push(u8::try_from(value).map_err(|_| invalid())?);
            }
            _ => return Err(invalid()),
        }
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8 rune".to_string())
}

fn take_radix(chars: &mut std::str::Chars<'_>, digits: usize, radix: u32) -> Option<u32> {
    let mut value = 0u32;
    for _ in 0..digits {
        value = value * radix + chars.next()?.to_digit(radix)?;
    }
    Some(value)
}

/// Quotes a string as Go's `strconv.Quote` would, so the lexer reads it back unchanged.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let code = c as u32;
                if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints a millisecond duration the way Prometheus does (`1h30m`, `500ms`, `0s`); negative
/// values in Go syntax so that the lexer reads them back.
pub(crate) fn format_duration_ms(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}ms", ms.unsigned_abs());
    }
    let mut rest = ms;
    if rest == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// Prints a float so that [`parse_go_float`] reads back the same value.
pub(crate) fn format_float(value: f64) -> String {
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prom_durations() {
        let cases: &[(&str, Result<i64, ()>)] = &[
            ("5m", Ok(300_000)),
            ("1h30m", Ok(5_400_000)),
            ("1d", Ok(86_400_000)),
            ("1y", Ok(365 * 86_400_000)),
            ("500ms", Ok(500)),
            ("0", Ok(0)),
            ("30m1h", Err(())),
            ("1.5s", Err(())),
            ("", Err(())),
            ("5", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_prom_duration_ms(text).map_err(|_| ()),
                *want,
                "{text}"
            );
        }
    }

    #[test]
    fn go_durations() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1.5s", Some(1_500_000_000)),
            ("1.5us", Some(1_500)),
            ("-5s", Some(-5_000_000_000)),
            ("3600000000000ns", Some(3_600_000_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("1d", None),
            ("5", None),
            ("s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration_ns(text), *want, "{text}");
        }
    }

    #[test]
    fn byte_sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("1KB", Some(1000)),
            ("1KiB", Some(1024)),
            ("1.5KB", Some(1500)),
            ("2,048", Some(2048)),
            ("1MiB", Some(1 << 20)),
            ("1B", Some(1)),
            ("1024", Some(1024)),
            ("1XB", None),
            ("oops", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bytes(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn go_floats() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("1.5e3", Some(1500.0)),
            (".5", Some(0.5)),
            ("0x10", None),
            ("0o17", None),
            ("1_000", None),
            ("inf", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_float(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn escapes() {
        let cases: &[(&str, Option<&str>)] = &[
            (r"a\nb", Some("a\nb")),
            (r#"\"q\""#, Some("\"q\"")),
            (r"\x41\101\u00e9", Some("AAé")),
            (r"\q", None),
            (r"\xff", None),
        ];
        for (body, want) in cases {
            assert_eq!(unquote(body).ok().as_deref(), *want, "{body}");
        }
    }

    proptest! {
        #[test]
        fn quote_roundtrips(s in any::<String>()) {
            let quoted = quote(&s);
            prop_assert_eq!(unquote(&quoted[1..quoted.len() - 1]), Ok(s));
        }

        #[test]
        fn duration_format_roundtrips(ms in 0i64..10_000_000_000_000) {
            prop_assert_eq!(parse_prom_duration_ms(&format_duration_ms(ms)), Ok(ms));
        }

        #[test]
        fn float_format_roundtrips(v in any::<f64>().prop_filter("finite", |v| v.is_finite() && *v >= 0.0)) {
            prop_assert_eq!(parse_go_float(&format_float(v)), Ok(v));
        }
    }
}
