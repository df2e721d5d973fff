//! The template functions: Go's builtins, Loki's own and the sprig functions Loki enables.

use std::cmp::Ordering;

use regex::Regex;

use super::decimal::{self, Op};
use super::gotime::GoTime;
use super::printf::{sprint, sprintf};
use super::value::Value;
use crate::pipeline::convert;

/// What functions may read besides their arguments.
pub(crate) struct Env<'a> {
    pub(crate) line: &'a str,
    pub(crate) ts_ns: i64,
}

const KNOWN: &[&str] = &[
    // Go builtins (`and` / `or` run in the executor)
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "html",
    "urlquery",
    // Loki
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "urldecode",
    "urlencode",
    "bytes",
    "duration",
    "duration_seconds",
    "unixEpochMillis",
    "unixEpochNanos",
    "toDateInZone",
    "unixToTime",
    "alignLeft",
    "alignRight",
    "__line__",
    "__timestamp__",
    // sprig
    "b64enc",
    "b64dec",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "abs",
    "fromJson",
    "date",
    "toDate",
    "now",
    "unixEpoch",
    "default",
];

pub(crate) fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

/// Functions whose first argument is a regex (compiled once when it is a literal).
pub(crate) fn takes_regex(name: &str) -> bool {
    matches!(name, "regexReplaceAll" | "regexReplaceAllLiteral" | "count")
}

/// How an arity error starts; the executor names the function after it, as Go does
/// (`wrong number of args for replace: want 3 got 2`).
pub(crate) const ARITY_ERROR: &str = "wrong number of args: ";

fn arity(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("{ARITY_ERROR}want {n} got {}", args.len()))
    }
}

fn at_least(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() >= n {
        Ok(())
    } else {
        Err(format!("{ARITY_ERROR}want at least {n} got {}", args.len()))
    }
}

fn s(args: &[Value], i: usize) -> String {
    args.get(i).map(Value::to_str).unwrap_or_default()
}

fn str1(args: &[Value], f: impl Fn(&str) -> String) -> Result<Value, String> {
    arity(args, 1)?;
    Ok(Value::Str(f(&s(args, 0))))
}

fn str2(args: &[Value], f: impl Fn(&str, &str) -> String) -> Result<Value, String> {
    arity(args, 2)?;
    Ok(Value::Str(f(&s(args, 0), &s(args, 1))))
}

fn bool2(args: &[Value], f: impl Fn(&str, &str) -> bool) -> Result<Value, String> {
    arity(args, 2)?;
    Ok(Value::Bool(f(&s(args, 0), &s(args, 1))))
}

/// Calls a function (not `and` / `or`).
pub(crate) fn call(
    name: &str,
    args: Vec<Value>,
    env: &Env<'_>,
    regex: Option<&Regex>,
) -> Result<Value, String> {
    let a = &args[..];
    match name {
        "not" => {
            arity(a, 1)?;
            Ok(Value::Bool(!a[0].truthy()))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare(name, a),
        "len" => length(a),
        "index" => index(a),
        "print" => Ok(Value::Str(sprint(a))),
        "println" => Ok(Value::Str(println(a))),
        "printf" => {
            at_least(a, 1)?;
            Ok(Value::Str(sprintf(&s(a, 0), &a[1..])))
        }
        "html" => Ok(Value::Str(html_escape(&sprint(a)))),
        "urlquery" | "urlencode" => Ok(Value::Str(query_escape(&sprint(a)))),
        "urldecode" => {
            arity(a, 1)?;
            query_unescape(&s(a, 0)).map(Value::Str)
        }
        "__line__" => arity(a, 0).map(|()| Value::Str(env.line.to_owned())),
        "__timestamp__" => arity(a, 0).map(|()| Value::Time(GoTime::from_unix_nanos(env.ts_ns))),
        _ => call_strings(name, a, regex)
            .or_else(|| call_numbers(name, a))
            .or_else(|| call_times(name, a))
            .unwrap_or_else(|| Err(format!("function {name:?} not defined"))),
    }
}

fn call_strings(name: &str, a: &[Value], regex: Option<&Regex>) -> Option<Result<Value, String>> {
    Some(match name {
        "ToLower" | "lower" => str1(a, str::to_lowercase),
        "ToUpper" | "upper" => str1(a, str::to_uppercase),
        "TrimSpace" | "trim" => str1(a, |v| v.trim().to_owned()),
        "title" => str1(a, title),
        "b64enc" => str1(a, |v| base64_encode(v.as_bytes())),
        "b64dec" => str1(a, |v| match base64_decode(v) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => e,
        }),
        "Trim" => str2(a, |v, cut| v.trim_matches(|c| cut.contains(c)).to_owned()),
        "TrimLeft" => str2(a, |v, cut| {
            v.trim_start_matches(|c| cut.contains(c)).to_owned()
        }),
        "TrimRight" => str2(a, |v, cut| {
            v.trim_end_matches(|c| cut.contains(c)).to_owned()
        }),
        "TrimPrefix" => str2(a, |v, p| v.strip_prefix(p).unwrap_or(v).to_owned()),
        "TrimSuffix" => str2(a, |v, p| v.strip_suffix(p).unwrap_or(v).to_owned()),
        "trimAll" => str2(a, |cut, v| v.trim_matches(|c| cut.contains(c)).to_owned()),
        "trimPrefix" => str2(a, |p, v| v.strip_prefix(p).unwrap_or(v).to_owned()),
        "trimSuffix" => str2(a, |p, v| v.strip_suffix(p).unwrap_or(v).to_owned()),
        "contains" => bool2(a, |sub, v| v.contains(sub)),
        "hasPrefix" => bool2(a, |p, v| v.starts_with(p)),
        "hasSuffix" => bool2(a, |p, v| v.ends_with(p)),
        "Replace" => replace_n(a),
        "replace" => arity(a, 3).map(|()| Value::Str(s(a, 2).replace(&s(a, 0), &s(a, 1)))),
        "repeat" => arity(a, 2).and_then(|()| {
            let n = usize::try_from(a[0].to_int()).map_err(|_| "negative Repeat count")?;
            let v = s(a, 1);
            if v.len().saturating_mul(n) > 1 << 20 {
                return Err("repeat result too large".into());
            }
            Ok(Value::Str(v.repeat(n)))
        }),
        "trunc" => arity(a, 2).map(|()| Value::Str(trunc(a[0].to_int(), &s(a, 1)))),
        "substr" => arity(a, 3).map(|()| substr(a[0].to_int(), a[1].to_int(), &s(a, 2))),
        "indent" => arity(a, 2).map(|()| Value::Str(indent(a[0].to_int(), &s(a, 1)))),
        "nindent" => {
            arity(a, 2).map(|()| Value::Str(format!("\n{}", indent(a[0].to_int(), &s(a, 1)))))
        }
        "alignLeft" => arity(a, 2).map(|()| Value::Str(align(a[0].to_int(), &s(a, 1), true))),
        "alignRight" => arity(a, 2).map(|()| Value::Str(align(a[0].to_int(), &s(a, 1), false))),
        "regexReplaceAll" | "regexReplaceAllLiteral" | "count" => regex_call(name, a, regex),
        "default" => at_least(a, 1).map(|()| match a.get(1) {
            Some(given) if !is_empty(given) => given.clone(),
            _ => a[0].clone(),
        }),
        "fromJson" => str_arg(a).map(|v| from_json(&v)),
        _ => return None,
    })
}

fn str_arg(a: &[Value]) -> Result<String, String> {
    arity(a, 1)?;
    Ok(s(a, 0))
}

fn call_numbers(name: &str, a: &[Value]) -> Option<Result<Value, String>> {
    let ints = || a.iter().map(Value::to_int);
    let floats = || a.iter().map(Value::to_float);
    Some(match name {
        "int" => arity(a, 1).map(|()| Value::Int(a[0].to_int())),
        "float64" => arity(a, 1).map(|()| Value::Float(a[0].to_float())),
        "add" => Ok(Value::Int(ints().fold(0i64, i64::wrapping_add))),
        "mul" => at_least(a, 1).map(|()| Value::Int(ints().fold(1i64, i64::wrapping_mul))),
        "sub" => arity(a, 2).map(|()| Value::Int(a[0].to_int().wrapping_sub(a[1].to_int()))),
        "div" | "mod" => arity(a, 2).and_then(|()| {
            let (x, y) = (a[0].to_int(), a[1].to_int());
            if y == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Value::Int(if name == "div" {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            }))
        }),
        "addf" => decimal::fold(Op::Add, 0.0, floats()).map(Value::Float),
        "subf" | "mulf" | "divf" => at_least(a, 1).and_then(|()| {
            let op = match name {
                "subf" => Op::Sub,
                "mulf" => Op::Mul,
                _ => Op::Div,
            };
            decimal::fold(op, a[0].to_float(), floats().skip(1)).map(Value::Float)
        }),
        "max" => at_least(a, 1).map(|()| Value::Int(ints().max().unwrap_or(0))),
        "min" => at_least(a, 1).map(|()| Value::Int(ints().min().unwrap_or(0))),
        "maxf" => at_least(a, 1).map(|()| Value::Float(floats().fold(f64::NEG_INFINITY, f64::max))),
        "minf" => at_least(a, 1).map(|()| Value::Float(floats().fold(f64::INFINITY, f64::min))),
        "ceil" => arity(a, 1).map(|()| Value::Float(a[0].to_float().ceil())),
        "floor" => arity(a, 1).map(|()| Value::Float(a[0].to_float().floor())),
        "abs" => arity(a, 1).map(|()| match &a[0] {
            Value::Int(i) => Value::Int(i.wrapping_abs()),
            v => Value::Float(v.to_float().abs()),
        }),
        "round" => at_least(a, 2).map(|()| Value::Float(round(a))),
        "bytes" => arity(a, 1).and_then(|()| {
            convert::parse_bytes(&s(a, 0).replace(' ', "")).map(|b| Value::Float(b as f64))
        }),
        "duration" | "duration_seconds" => arity(a, 1)
            .and_then(|()| convert::parse_duration_ns(&s(a, 0)).map(|ns| Value::Float(ns / 1e9))),
        _ => return None,
    })
}

/// sprig's `round(value, places, [roundOn])`.
fn round(a: &[Value]) -> f64 {
    let round_on = a.get(2).map_or(0.5, Value::to_float);
    let pow = 10f64.powf(a[1].to_int() as f64);
    let digit = pow * a[0].to_float();
    let rounded = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    rounded / pow
}

fn call_times(name: &str, a: &[Value]) -> Option<Result<Value, String>> {
    Some(match name {
        "now" => arity(a, 0).map(|()| Value::Time(now())),
        "date" => arity(a, 2).map(|()| Value::Str(as_time(&a[1]).format(&s(a, 0)))),
        "toDate" => arity(a, 2).map(|()| Value::Time(parse_or_zero(&s(a, 0), &s(a, 1)))),
        "toDateInZone" => arity(a, 3).map(|()| Value::Time(parse_or_zero(&s(a, 0), &s(a, 2)))),
        "unixEpoch" => time_arg(a).map(|t| Value::Str(t.secs.to_string())),
        "unixEpochMillis" => {
            time_arg(a).map(|t| Value::Str((t.unix_nanos().div_euclid(1_000_000)).to_string()))
        }
        "unixEpochNanos" => time_arg(a).map(|t| Value::Str(t.unix_nanos().to_string())),
        "unixToTime" => arity(a, 1).and_then(|()| unix_to_time(&s(a, 0))),
        _ => return None,
    })
}

fn time_arg(a: &[Value]) -> Result<GoTime, String> {
    arity(a, 1)?;
    match &a[0] {
        Value::Time(t) => Ok(t.clone()),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            other.type_name()
        )),
    }
}

/// sprig's `date` accepts a time or Unix seconds; anything else means now.
fn as_time(v: &Value) -> GoTime {
    match v {
        Value::Time(t) => t.clone(),
        Value::Int(secs) => GoTime::from_unix_nanos(secs.saturating_mul(1_000_000_000)),
        _ => now(),
    }
}

fn now() -> GoTime {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    GoTime::from_unix_nanos(ns)
}

/// `toDate` ignores parse errors and yields Go's zero time.
fn parse_or_zero(layout: &str, value: &str) -> GoTime {
    GoTime::parse(layout, value).unwrap_or(GoTime {
        secs: -62_135_596_800,
        nanos: 0,
        offset: 0,
        zone: Some("UTC".into()),
    })
}

/// Loki's `unixToTime`: the unit follows the digit count (days, s, ms, µs, ns).
fn unix_to_time(epoch: &str) -> Result<Value, String> {
    let i: i64 = epoch
        .parse()
        .map_err(|_| format!("unable to parse time '{epoch}': invalid syntax"))?;
    let ns = match epoch.len() {
        5 => i.saturating_mul(86_400 * 1_000_000_000),
        10 => i.saturating_mul(1_000_000_000),
        13 => i.saturating_mul(1_000_000),
        16 => i.saturating_mul(1_000),
        19 => i,
        n => {
            return Err(format!(
                "unable to parse time '{epoch}': unknown timestamp length {n}"
            ))
        }
    };
    Ok(Value::Time(GoTime::from_unix_nanos(ns)))
}

fn compare(name: &str, a: &[Value]) -> Result<Value, String> {
    at_least(a, 2)?;
    if name == "eq" {
        for other in &a[1..] {
            if order(&a[0], other, true)? == Ordering::Equal {
                return Ok(Value::Bool(true));
            }
        }
        return Ok(Value::Bool(false));
    }
    arity(a, 2)?;
    let ord = order(&a[0], &a[1], name == "ne")?;
    Ok(Value::Bool(match name {
        "ne" => ord != Ordering::Equal,
        "lt" => ord == Ordering::Less,
        "le" => ord != Ordering::Greater,
        "gt" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }))
}

/// Go's basic-kind comparison: same kinds only; booleans only for equality.
fn order(x: &Value, y: &Value, equality: bool) -> Result<Ordering, String> {
    let incompatible = || Err("incompatible types for comparison".to_owned());
    match (x, y) {
        (Value::Int(a), Value::Int(b)) => Ok(a.cmp(b)),
        (Value::Float(a), Value::Float(b)) => Ok(a.partial_cmp(b).unwrap_or(Ordering::Less)),
        (Value::Str(a), Value::Str(b)) => Ok(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if equality => Ok(a.cmp(b)),
        (Value::Nil, Value::Nil) if equality => Ok(Ordering::Equal),
        (Value::Bool(_), Value::Bool(_)) => Err("invalid type for comparison".into()),
        _ => incompatible(),
    }
}

fn length(a: &[Value]) -> Result<Value, String> {
    arity(a, 1)?;
    let n = match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn index(a: &[Value]) -> Result<Value, String> {
    at_least(a, 1)?;
    let mut current = a[0].clone();
    for key in &a[1..] {
        current = match (current, key) {
            (Value::Map(m), k) => {
                let k = k.to_str();
                m.into_iter()
                    .find(|(name, _)| *name == k)
                    .map_or(Value::Nil, |(_, v)| v)
            }
            (Value::List(l), k) => {
                let i = k.to_int();
                usize::try_from(i)
                    .ok()
                    .and_then(|i| l.into_iter().nth(i))
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            (other, _) => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(current)
}

fn println(a: &[Value]) -> String {
    let parts: Vec<String> = a.iter().map(Value::display).collect();
    format!("{}\n", parts.join(" "))
}

fn replace_n(a: &[Value]) -> Result<Value, String> {
    arity(a, 4)?;
    let (v, old, new, n) = (s(a, 0), s(a, 1), s(a, 2), a[3].to_int());
    Ok(Value::Str(match usize::try_from(n) {
        Ok(n) => v.replacen(&old, &new, n),
        Err(_) => v.replace(&old, &new),
    }))
}

fn regex_call(name: &str, a: &[Value], precompiled: Option<&Regex>) -> Result<Value, String> {
    arity(a, if name == "count" { 2 } else { 3 })?;
    let compiled;
    let re = match precompiled {
        Some(re) => re,
        None => {
            compiled = Regex::new(&s(a, 0)).map_err(|e| format!("error parsing regexp: {e}"))?;
            &compiled
        }
    };
    let input = s(a, 1);
    Ok(match name {
        "count" => Value::Int(re.find_iter(&input).count() as i64),
        "regexReplaceAll" => Value::Str(re.replace_all(&input, s(a, 2).as_str()).into_owned()),
        _ => Value::Str(
            re.replace_all(&input, regex::NoExpand(&s(a, 2)))
                .into_owned(),
        ),
    })
}

/// sprig's emptiness for `default`.
fn is_empty(v: &Value) -> bool {
    !v.truthy()
}

fn title(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut prev_letter = false;
    for c in v.chars() {
        let letter = c.is_alphanumeric() || c == '_' || c == '\'';
        if letter && !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = letter;
    }
    out
}

/// Loki's rune-based `trunc`: the first `n` characters, or the last `-n`.
fn trunc(n: i64, v: &str) -> String {
    let runes: Vec<char> = v.chars().collect();
    let len = runes.len() as i64;
    if n < 0 && len + n > 0 {
        runes[(len + n) as usize..].iter().collect()
    } else if n >= 0 && len > n {
        runes[..n as usize].iter().collect()
    } else {
        v.to_owned()
    }
}

/// Loki's rune-based `substr`: bounds are clamped, never an error.
fn substr(start: i64, end: i64, v: &str) -> Value {
    let runes: Vec<char> = v.chars().collect();
    let len = runes.len() as i64;
    let (start, end) = (start.min(len), end.min(len));
    let range = match (start < 0, end < 0) {
        (true, true) => 0..0,
        (true, false) => 0..end,
        (false, true) => start..len,
        (false, false) if start > end => 0..0,
        (false, false) => start..end,
    };
    Value::Str(
        runes[range.start as usize..range.end as usize]
            .iter()
            .collect(),
    )
}

fn indent(n: i64, v: &str) -> String {
    let pad = " ".repeat(usize::try_from(n).unwrap_or(0).min(1 << 16));
    format!("{pad}{}", v.replace('\n', &format!("\n{pad}")))
}

fn align(count: i64, v: &str, left: bool) -> String {
    let runes: Vec<char> = v.chars().collect();
    let Ok(count) = usize::try_from(count) else {
        return v.to_owned();
    };
    let count = count.min(1 << 16);
    if count == runes.len() {
        return v.to_owned();
    }
    if count > runes.len() {
        let pad = " ".repeat(count - runes.len());
        return if left {
            format!("{v}{pad}")
        } else {
            format!("{pad}{v}")
        };
    }
    if left {
        runes[..count].iter().collect()
    } else {
        runes[runes.len() - count..].iter().collect()
    }
}

fn from_json(text: &str) -> Value {
    fn convert(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(convert).collect()),
            serde_json::Value::Object(o) => {
                let mut entries: Vec<(String, Value)> =
                    o.into_iter().map(|(k, v)| (k, convert(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Map(entries)
            }
        }
    }
    serde_json::from_str(text).map_or(Value::Nil, convert)
}

fn html_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
fn query_unescape(v: &str) -> Result<String, String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = v
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let bad = v.get(i..(i + 3).min(v.len())).unwrap_or("%");
                    return Err(format!("invalid URL escape {bad:?}"));
                };
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(input: &str) -> Result<Vec<u8>, String> {
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for (i, c) in trimmed.bytes().enumerate() {
        let v = B64
            .iter()
            .position(|&b| b == c)
            .ok_or_else(|| format!("illegal base64 data at input byte {i}"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if !input.len().is_multiple_of(4) {
        return Err(format!("illegal base64 data at input byte {}", input.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("Zm9").is_err());
        assert!(base64_decode("@@@@").is_err());
    }

    #[test]
    fn url_escaping_like_go() {
        assert_eq!(query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(query_unescape("a+b%26c%3Dd%2F%C3%A9").unwrap(), "a b&c=d/é");
        assert!(query_unescape("%zz").is_err());
    }

    #[test]
    fn string_helpers() {
        assert_eq!(trunc(3, "hello"), "hel");
        assert_eq!(trunc(-3, "hello"), "llo");
        assert_eq!(trunc(10, "hello"), "hello");
        assert_eq!(trunc(2, "héllo"), "hé");
        let cases = [
            (1, 3, "el"),
            (-1, 2, "he"),
            (2, 99, "llo"),
            (9, 10, ""),
            (3, 1, ""),
            (-1, -1, ""),
            (2, -1, "llo"),
        ];
        for (start, end, want) in cases {
            assert_eq!(substr(start, end, "hello"), Value::Str(want.into()));
        }
        assert_eq!(substr(1, 2, "héllo"), Value::Str("é".into()));
        assert_eq!(align(5, "ab", true), "ab   ");
        assert_eq!(align(5, "ab", false), "   ab");
        assert_eq!(align(2, "abcd", true), "ab");
        assert_eq!(align(2, "abcd", false), "cd");
        assert_eq!(indent(2, "a\nb"), "  a\n  b");
        assert_eq!(title("hello wORLD-x"), "Hello WORLD-X");
    }
}
