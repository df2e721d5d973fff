//! OTLP `AnyValue` as text, exactly as Loki gets it from the collector's `pcommon.Value.AsString`:
//! strings as they are, scalars formatted like Go, bytes in base64, arrays and maps as Go's
//! `encoding/json` writes them (sorted keys, HTML-safe escapes).

use sextant_proto::otlp::common::v1::any_value::Value as Kind;
use sextant_proto::otlp::common::v1::{AnyValue, KeyValue};

/// `pcommon.Value.AsString()`.
pub(crate) fn as_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Kind::StringValue(s)) => s.clone(),
        Some(Kind::BoolValue(b)) => b.to_string(),
        Some(Kind::IntValue(i)) => i.to_string(),
        Some(Kind::DoubleValue(d)) if !d.is_finite() => {
            format!("json: unsupported value: {}", go_special_float(*d))
        }
        Some(Kind::DoubleValue(d)) => go_float(*d),
        Some(Kind::BytesValue(b)) => base64(b),
        Some(Kind::ArrayValue(a)) => to_json(|out| write_array(&a.values, out)),
        Some(Kind::KvlistValue(kv)) => to_json(|out| write_map(&kv.values, out)),
        // Profiling-only reference into a string table: no text without the table.
        Some(Kind::StringValueStrindex(_)) => String::new(),
    }
}

/// Runs a JSON writer; Go's `json.Marshal` fails on NaN and infinities, and `AsString` then
/// returns the empty string.
fn to_json(write: impl FnOnce(&mut String) -> Result<(), ()>) -> String {
    let mut out = String::new();
    match write(&mut out) {
        Ok(()) => out,
        Err(()) => String::new(),
    }
}

fn write_value(value: Option<&AnyValue>, out: &mut String) -> Result<(), ()> {
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(Kind::StringValueStrindex(_)) => out.push_str("null"),
        Some(Kind::StringValue(s)) => write_string(s, out),
        Some(Kind::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Kind::IntValue(i)) => out.push_str(&i.to_string()),
        Some(Kind::DoubleValue(d)) if !d.is_finite() => return Err(()),
        Some(Kind::DoubleValue(d)) => out.push_str(&go_float(*d)),
        Some(Kind::BytesValue(b)) => write_string(&base64(b), out),
        Some(Kind::ArrayValue(a)) => write_array(&a.values, out)?,
        Some(Kind::KvlistValue(kv)) => write_map(&kv.values, out)?,
    }
    Ok(())
}

fn write_array(values: &[AnyValue], out: &mut String) -> Result<(), ()> {
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(Some(v), out)?;
    }
    out.push(']');
    Ok(())
}

/// A Go `map[string]any`: keys sorted, the last of duplicate keys wins.
fn write_map(values: &[KeyValue], out: &mut String) -> Result<(), ()> {
    let mut entries: Vec<&KeyValue> = values.iter().collect();
    entries.reverse();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries.dedup_by(|a, b| a.key == b.key);
    out.push('{');
    for (i, kv) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&kv.key, out);
        out.push(':');
        write_value(kv.value.as_ref(), out)?;
    }
    out.push('}');
    Ok(())
}

/// A JSON string as Go's `encoding/json` escapes it (HTML characters included).
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite float the way Go's `encoding/json` (and `float64AsString`) prints it: shortest
/// round-trip digits, exponent form below 1e-6 and from 1e21 on (`1e-7`, `1e+21`).
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` of NaN and infinities.
fn go_special_float(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use sextant_proto::otlp::common::v1::{ArrayValue, KeyValueList};

    use super::*;

    fn v(kind: Kind) -> AnyValue {
        AnyValue { value: Some(kind) }
    }

    fn kv(key: &str, kind: Kind) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(v(kind)),
            key_strindex: 0,
        }
    }

    #[test]
    fn values_as_loki_stores_them() {
        let nested = v(Kind::KvlistValue(KeyValueList {
            values: vec![
                kv("z", Kind::IntValue(-3)),
                kv("a", Kind::StringValue("<b>&\"x\"\n".into())),
                kv(
                    "m",
                    Kind::ArrayValue(ArrayValue {
                        values: vec![v(Kind::BoolValue(true)), AnyValue { value: None }],
                    }),
                ),
                kv("a2", Kind::DoubleValue(1.5)),
                kv("z", Kind::IntValue(7)),
            ],
        }));
        let cases = [
            (AnyValue { value: None }, ""),
            (v(Kind::StringValue("plain line".into())), "plain line"),
            (v(Kind::BoolValue(false)), "false"),
            (v(Kind::IntValue(-42)), "-42"),
            (v(Kind::DoubleValue(0.1)), "0.1"),
            (v(Kind::DoubleValue(3.0)), "3"),
            (v(Kind::DoubleValue(-0.0)), "-0"),
            (v(Kind::DoubleValue(1e21)), "1e+21"),
            (v(Kind::DoubleValue(1.5e-7)), "1.5e-7"),
            (v(Kind::DoubleValue(123456789.125)), "123456789.125"),
            (
                v(Kind::DoubleValue(f64::NAN)),
                "json: unsupported value: NaN",
            ),
            (
                v(Kind::DoubleValue(f64::NEG_INFINITY)),
                "json: unsupported value: -Inf",
            ),
            (v(Kind::BytesValue(b"hello".to_vec())), "aGVsbG8="),
            (v(Kind::BytesValue(vec![0xff, 0xfe])), "//4="),
            (v(Kind::BytesValue(vec![])), ""),
            (
                v(Kind::ArrayValue(ArrayValue {
                    values: vec![
                        v(Kind::StringValue("a".into())),
                        v(Kind::IntValue(1)),
                        v(Kind::BytesValue(b"hi!".to_vec())),
                    ],
                })),
                r#"["a",1,"aGkh"]"#,
            ),
            (
                nested,
                r#"{"a":"\u003cb\u003e\u0026\"x\"\n","a2":1.5,"m":[true,null],"z":7}"#,
            ),
            (
                v(Kind::ArrayValue(ArrayValue {
                    values: vec![v(Kind::DoubleValue(f64::NAN))],
                })),
                "",
            ),
            (
                v(Kind::StringValue("\u{1}\u{8}\u{2028}".into())),
                "\u{1}\u{8}\u{2028}",
            ),
            (
                v(Kind::ArrayValue(ArrayValue {
                    values: vec![v(Kind::StringValue("\u{1}\u{8}\u{2028}".into()))],
                })),
                r#"["\u0001\b\u2028"]"#,
            ),
        ];
        for (value, want) in cases {
            assert_eq!(as_string(Some(&value)), want, "{value:?}");
        }
        assert_eq!(as_string(None), "");
    }
}
