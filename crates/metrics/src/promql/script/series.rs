//! Series lines of `.test` scripts: `metric{a="b"} 1+2x3 _ stale {{count:2 sum:1}}`.

use sextant_model::{Labels, METRIC_NAME};

use super::histogram_notation::expand_histograms;
use crate::promql::histogram::FloatHistogram;
use crate::promql::value::stale_nan;

/// One slot of a value sequence.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SeqValue {
    /// `_`: no sample, time still advances.
    Omitted,
    Float(f64),
    Histogram {
        h: Box<FloatHistogram>,
        /// Whether `counter_reset_hint` was written (expected values compare it only then).
        hint_set: bool,
    },
}

/// Parses `<labels> <values…>`.
pub(crate) fn parse_series_line(line: &str) -> Result<(Labels, Vec<SeqValue>), String> {
    let (labels, rest) = parse_labels(line)?;
    let values = parse_values(rest)?;
    Ok((labels, values))
}

/// Parses a series selector at the start of `text` (`name`, `name{…}` or `{…}`) and returns
/// it with the remaining text. Empty label values drop the label, as Prometheus does.
pub(crate) fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let text = text.trim_start();
    let name_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let mut pairs: Vec<(String, String)> = Vec::new();
    if name_len > 0 {
        pairs.push((METRIC_NAME.to_string(), text[..name_len].to_string()));
    }
    let mut rest = &text[name_len..];
    if let Some(inner) = rest.strip_prefix('{') {
        rest = parse_braces(inner, &mut pairs)?;
    } else if name_len == 0 {
        return Err(format!("expected a series selector at {text:?}"));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    Ok((Labels::from_pairs(pairs), rest))
}

/// Parses `a="b", "c"="d", "metric"}` (after the `{`); returns the text after `}`.
fn parse_braces<'a>(
    mut rest: &'a str,
    pairs: &mut Vec<(String, String)>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (name, after_name) =
            if rest.starts_with('"') || rest.starts_with('\'') || rest.starts_with('`') {
                read_quoted(rest)?
            } else {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return Err(format!("expected a label name at {rest:?}"));
                }
                (rest[..len].to_string(), &rest[len..])
            };
        rest = after_name.trim_start();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let (value, after_value) = read_quoted(after_eq.trim_start())?;
            pairs.push((name, value));
            rest = after_value;
        } else {
            // A quoted name alone is the metric name (`{"my.metric", a="b"}`).
            pairs.push((METRIC_NAME.to_string(), name));
        }
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Reads a quoted string at the start of `text`; returns its value and the rest.
fn read_quoted(text: &str) -> Result<(String, &str), String> {
    let quote = text.chars().next().ok_or("expected a quoted string")?;
    if !matches!(quote, '"' | '\'' | '`') {
        return Err(format!("expected a quoted string at {text:?}"));
    }
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != '`' => i += 2,
            b if b == quote as u8 => {
                let value = promql_parser::util::unquote_string(&text[..=i])?;
                return Ok((value, &text[i + 1..]));
            }
            _ => i += 1,
        }
    }
    Err(format!("unterminated string {text:?}"))
}

/// Splits a value list on whitespace, keeping `{{…}}` groups (which contain spaces) whole.
fn split_items(text: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut start = None;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if text[i..].starts_with("{{") {
            let close = text[i..]
                .find("}}")
                .ok_or_else(|| format!("unterminated histogram in {text:?}"))?;
            start.get_or_insert(i);
            i += close + 2;
            continue;
        }
        if bytes[i].is_ascii_whitespace() {
            if let Some(s) = start.take() {
                items.push(&text[s..i]);
            }
        } else {
            start.get_or_insert(i);
        }
        i += 1;
    }
    if let Some(s) = start {
        items.push(&text[s..]);
    }
    Ok(items)
}

/// Parses the value notation of a load or expectation line.
pub(crate) fn parse_values(text: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    for item in split_items(text)? {
        if item.starts_with("{{") {
            out.extend(expand_histograms(item)?);
        } else {
            expand_item(item, &mut out)?;
        }
    }
    Ok(out)
}

/// `7`, `_`, `_x3`, `stale`, `a+bxn`, `a-bxn`, `axn`.
fn expand_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if item == "stale" {
        out.push(SeqValue::Float(stale_nan()));
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n
            .parse()
            .map_err(|_| format!("bad repeat count in {item:?}"))?;
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        return Ok(());
    }
    if let Ok(v) = parse_float(item) {
        out.push(SeqValue::Float(v));
        return Ok(());
    }
    let x = item
        .rfind('x')
        .ok_or_else(|| format!("bad value {item:?}"))?;
    let times: usize = item[x + 1..]
        .parse()
        .map_err(|_| format!("bad repeat count in {item:?}"))?;
    let head = &item[..x];
    let (start, delta) = match split_sign(head) {
        Some((a, sign, b)) => (parse_float(a)?, sign * parse_float(b)?),
        None => (parse_float(head)?, 0.0),
    };
    let mut current = start;
    out.push(SeqValue::Float(current));
    for _ in 0..times {
        current += delta;
        out.push(SeqValue::Float(current));
    }
    Ok(())
}

/// Splits `a+b` / `a-b` at the operator (not a leading sign, not an exponent sign).
fn split_sign(head: &str) -> Option<(&str, f64, &str)> {
    let bytes = head.as_bytes();
    (1..bytes.len()).find_map(|i| {
        let after_exponent = matches!(bytes[i - 1], b'e' | b'E');
        match bytes[i] {
            b'+' if !after_exponent => Some((&head[..i], 1.0, &head[i + 1..])),
            b'-' if !after_exponent => Some((&head[..i], -1.0, &head[i + 1..])),
            _ => None,
        }
    })
}

/// A number of an expected scalar line or a histogram field: like [`parse_float`], plus hex
/// integers (`0x3d`).
pub(crate) fn parse_number(text: &str) -> Result<f64, String> {
    let (sign, body) = split_leading_sign(text);
    match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16)
            .map(|v| sign * v as f64)
            .map_err(|_| format!("bad number {text:?}")),
        None => parse_float(text),
    }
}

fn split_leading_sign(text: &str) -> (f64, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, text),
    }
}

/// A float of a series value list: decimal, exponent, `Inf`, `NaN` (any case, signed). No hex:
/// `0x59` there means "0, 59 more times", as upstream's series lexer reads it.
pub(crate) fn parse_float(text: &str) -> Result<f64, String> {
    let bad = || format!("bad number {text:?}");
    let (sign, body) = split_leading_sign(text);
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(bad());
    }
    body.parse::<f64>().map(|v| sign * v).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(values: &[SeqValue]) -> Vec<Option<f64>> {
        values
            .iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expands_value_notation() {
        let cases: Vec<(&str, Vec<Option<f64>>)> = vec![
            (
                "0+10x3",
                vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)],
            ),
            ("5-2x2", vec![Some(5.0), Some(3.0), Some(1.0)]),
            ("-1+1x1", vec![Some(-1.0), Some(0.0)]),
            ("7x2", vec![Some(7.0), Some(7.0), Some(7.0)]),
            ("1 _x2 3", vec![Some(1.0), None, None, Some(3.0)]),
            (
                "0x2 1e-3 -Inf",
                vec![
                    Some(0.0),
                    Some(0.0),
                    Some(0.0),
                    Some(0.001),
                    Some(f64::NEG_INFINITY),
                ],
            ),
            ("1e+2+1e1x1", vec![Some(100.0), Some(110.0)]),
        ];
        for (text, want) in cases {
            assert_eq!(floats(&parse_values(text).unwrap()), want, "{text}");
        }
        let stale = parse_values("stale").unwrap();
        assert!(matches!(stale[0], SeqValue::Float(f) if crate::promql::value::is_stale_nan(f)));
        assert!(parse_values("1+x").is_err());
        assert!(parse_values("abc").is_err());
    }

    #[test]
    fn parses_series_selectors() {
        let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("x 1", vec![("__name__", "x")]),
            ("x{a=\"1\", b=\"\"} 1", vec![("__name__", "x"), ("a", "1")]),
            (
                "{__name__=\"x\",a='q\\'z'} 1",
                vec![("__name__", "x"), ("a", "q'z")],
            ),
            (
                "{\"my.metric\", \"my.label\"=\"v\"} 1",
                vec![("__name__", "my.metric"), ("my.label", "v")],
            ),
            ("{} 1", vec![]),
        ];
        for (line, want) in cases {
            let (labels, values) = parse_series_line(line).unwrap();
            assert_eq!(labels, Labels::from_pairs(want), "{line}");
            assert_eq!(values, vec![SeqValue::Float(1.0)], "{line}");
        }
        assert!(parse_series_line("x{a=1} 1").is_err());
    }

    #[test]
    fn keeps_histograms_whole() {
        let values =
            parse_values("1 {{schema:0 sum:2 count:3 buckets:[1 2]}} _ {{count:1}}x1").unwrap();
        assert_eq!(values.len(), 5);
        assert!(
            matches!(&values[1], SeqValue::Histogram { h, .. } if h.count == 3.0 && h.positive_buckets == vec![1.0, 2.0])
        );
        assert!(matches!(values[2], SeqValue::Omitted));
    }
}
