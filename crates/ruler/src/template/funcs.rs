//! The functions templates may call: Go's text/template builtins that matter for alert
//! labels and annotations, and Prometheus's (`humanize*`, `match`, `reReplaceAll`, `title`,
//! `stripPort`, ...), with Prometheus's exact outputs.

use std::cmp::Ordering;

use super::gofmt::{self, fmt_g};
use super::value::Value;
use super::TemplateData;

const FUNCTIONS: [&str; 32] = [
    "and",
    "eq",
    "externalURL",
    "ge",
    "gt",
    "html",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "index",
    "le",
    "len",
    "lt",
    "match",
    "ne",
    "not",
    "or",
    "parseDuration",
    "pathPrefix",
    "print",
    "printf",
    "println",
    "reReplaceAll",
    "safeHtml",
    "stripDomain",
    "stripPort",
    "title",
    "toLower",
    "toUpper",
    "urlquery",
];

/// Whether `name` is a function templates may call.
pub(super) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

/// Calls function `name`; the error is the bare reason (the caller adds where).
pub(super) fn call<'a>(
    name: &str,
    args: Vec<Value<'a>>,
    data: &'a TemplateData<'a>,
) -> Result<Value<'a>, String> {
    let one = |args: &[Value<'a>]| -> Result<Value<'a>, String> {
        match args {
            [arg] => Ok(arg.clone()),
            _ => Err(arity(name, 1, args.len())),
        }
    };
    let text = |s: String| Ok(Value::Str(s));
    match name {
        "humanize" => text(humanize(one(&args)?.to_float()?)),
        "humanize1024" => text(humanize1024(one(&args)?.to_float()?)),
        "humanizeDuration" => text(humanize_duration(one(&args)?.to_float()?)),
        "humanizePercentage" => text(format!(
            "{}%",
            fmt_g(one(&args)?.to_float()? * 100.0, Some(4))
        )),
        "humanizeTimestamp" => humanize_timestamp(one(&args)?.to_float()?).map(Value::Str),
        "toUpper" => text(one(&args)?.to_str()?.to_uppercase()),
        "toLower" => text(one(&args)?.to_str()?.to_lowercase()),
        "title" => text(title(one(&args)?.to_str()?)),
        "safeHtml" => text(one(&args)?.to_str()?.to_string()),
        "stripPort" => text(strip_port(one(&args)?.to_str()?)),
        "stripDomain" => text(strip_domain(one(&args)?.to_str()?)),
        "parseDuration" => parse_duration(one(&args)?.to_str()?),
        "not" => Ok(Value::Bool(!one(&args)?.is_true())),
        "printf" => printf(name, &args),
        "print" => text(sprint(&args)),
        "println" => text(sprintln(&args)),
        "html" => text(html_escape(&sprint(&args))),
        "urlquery" => text(query_escape(&sprint(&args))),
        "externalURL" => no_args(name, &args, data.external_url.to_string()),
        "pathPrefix" => no_args(name, &args, path_prefix(data.external_url)),
        "and" => pick(name, args, false),
        "or" => pick(name, args, true),
        "len" => length(one(&args)?),
        "index" => index(args),
        "match" => regex_match(&args),
        "reReplaceAll" => regex_replace(&args),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare_call(name, &args),
        other => Err(format!("function {other:?} not defined")),
    }
}

fn arity(name: &str, want: usize, got: usize) -> String {
    format!("wrong number of args for {name}: want {want} got {got}")
}

fn no_args<'a>(name: &str, args: &[Value<'a>], out: String) -> Result<Value<'a>, String> {
    match args {
        [] => Ok(Value::Str(out)),
        _ => Err(arity(name, 0, args.len())),
    }
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
pub(super) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fmt_g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub(super) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return fmt_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// Prometheus's `humanizeDuration` of seconds: `1d 2h 3m 4s`, `1.234s`, `100ms`.
pub(super) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return fmt_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let total = v as i64;
        let (days, hours) = (total / 86_400, total / 3600 % 24);
        let (minutes, seconds) = (total / 60 % 60, total % 60);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", fmt_g(v, Some(4)))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, Some(4)))
}

/// Prometheus's `humanizeTimestamp` of Unix seconds, at millisecond precision, in UTC.
pub(super) fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(fmt_g(v, Some(4)));
    }
    let nanos = v * 1e9;
    // i64::MIN as f64 is exactly -2^63; i64::MAX rounds up to 2^63, which does not fit.
    let limit = -(i64::MIN as f64);
    if !(-limit..limit).contains(&nanos) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::float_v(v)
        ));
    }
    Ok(gofmt::time_string(nanos as i64 / 1_000_000))
}

/// Go's `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    !c.is_alphanumeric() && c.is_whitespace()
}

/// Go's `net.SplitHostPort`, `None` where Go returns an error.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let colon = s.rfind(':')?;
    let host = if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']')? + 1;
        if close + 1 != colon {
            return None;
        }
        &s[1..close]
    } else {
        let host = &s[..colon];
        if host.contains([':', '[', ']']) {
            return None;
        }
        host
    };
    Some((host, &s[colon + 1..]))
}

fn strip_port(host_port: &str) -> String {
    split_host_port(host_port)
        .map_or(host_port, |(host, _)| host)
        .to_string()
}

fn strip_domain(host_port: &str) -> String {
    let (host, port) = split_host_port(host_port).unwrap_or((host_port, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host_port.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    match (port, host.contains(':')) {
        ("", _) => host.to_string(),
        (port, true) => format!("[{host}]:{port}"),
        (port, false) => format!("{host}:{port}"),
    }
}

fn parse_duration<'a>(text: &str) -> Result<Value<'a>, String> {
    sextant_model::duration::parse(text)
        .map(|d| Value::Float(d.as_secs_f64()))
        .map_err(|e| e.to_string())
}

/// The path of the external URL (`http://host:9090/prefix` → `/prefix`).
fn path_prefix(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("").to_string()
}

fn printf<'a>(name: &str, args: &[Value<'a>]) -> Result<Value<'a>, String> {
    let Some((format, rest)) = args.split_first() else {
        return Err(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        ));
    };
    Ok(Value::Str(gofmt::sprintf(format.to_str()?, rest)))
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_str = |v: &Value<'_>| matches!(v, Value::Str(_));
        if i > 0 && !is_str(arg) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&arg.to_go_string());
    }
    out
}

fn sprintln(args: &[Value<'_>]) -> String {
    let parts: Vec<String> = args.iter().map(Value::to_go_string).collect();
    format!("{}\n", parts.join(" "))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `and` (first false argument, else the last) and `or` (first true argument, else the last).
fn pick<'a>(name: &str, args: Vec<Value<'a>>, want: bool) -> Result<Value<'a>, String> {
    if args.is_empty() {
        return Err(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        ));
    }
    let last = args.len() - 1;
    Ok(args
        .into_iter()
        .enumerate()
        .find(|(i, v)| v.is_true() == want || *i == last)
        .map(|(_, v)| v)
        .unwrap_or(Value::Nil))
}

fn length<'a>(value: Value<'a>) -> Result<Value<'a>, String> {
    match value {
        Value::Str(s) => Ok(Value::Int(s.len() as i64)),
        Value::Map(map) => Ok(Value::Int(map.len() as i64)),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

fn index<'a>(args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    match args.as_slice() {
        [Value::Map(map), key] => Ok(Value::Str(
            map.get(key.to_str()?).cloned().unwrap_or_default(),
        )),
        [Value::Str(s), Value::Int(i)] => usize::try_from(*i)
            .ok()
            .and_then(|i| s.as_bytes().get(i))
            .map(|b| Value::Int(i64::from(*b)))
            .ok_or_else(|| format!("index out of range: {i}")),
        [collection, ..] if args.len() == 2 => Err(format!(
            "can't index item of type {}",
            collection.type_name()
        )),
        _ => Err(arity("index", 2, args.len())),
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))
}

fn regex_match<'a>(args: &[Value<'a>]) -> Result<Value<'a>, String> {
    match args {
        [pattern, text] => Ok(Value::Bool(
            regex(pattern.to_str()?)?.is_match(text.to_str()?),
        )),
        _ => Err(arity("match", 2, args.len())),
    }
}

fn regex_replace<'a>(args: &[Value<'a>]) -> Result<Value<'a>, String> {
    match args {
        [pattern, replacement, text] => {
            let re = regex(pattern.to_str()?)?;
            let out = re.replace_all(text.to_str()?, replacement.to_str()?);
            Ok(Value::Str(out.into_owned()))
        }
        _ => Err(arity("reReplaceAll", 3, args.len())),
    }
}

fn compare_call<'a>(name: &str, args: &[Value<'a>]) -> Result<Value<'a>, String> {
    let result = match (name, args) {
        ("eq", [first, rest @ ..]) if !rest.is_empty() => {
            let mut any = false;
            for other in rest {
                any |= order(first, other, true)? == Some(Ordering::Equal);
            }
            any
        }
        ("ne", [a, b]) => order(a, b, true)? != Some(Ordering::Equal),
        (_, [a, b]) => {
            let ord = order(a, b, false)?.ok_or("incompatible types for comparison")?;
            match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }
        }
        _ => return Err(arity(name, 2, args.len())),
    };
    Ok(Value::Bool(result))
}

/// How two values compare. Numbers compare across int and float (friendlier than Go, where
/// `gt $value 100` fails because 100 is an int); `None` for NaN.
fn order(a: &Value<'_>, b: &Value<'_>, equality: bool) -> Result<Option<Ordering>, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(Some(x.cmp(y))),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            Ok(a.to_float()?.partial_cmp(&b.to_float()?))
        }
        (Value::Str(x), Value::Str(y)) => Ok(Some(x.cmp(y))),
        (Value::Bool(x), Value::Bool(y)) if equality => Ok(Some(x.cmp(y))),
        (Value::Nil, Value::Nil) if equality => Ok(Some(Ordering::Equal)),
        (Value::Bool(_) | Value::Nil, _) | (_, Value::Bool(_) | Value::Nil) if !equality => {
            Err("invalid type for comparison".to_string())
        }
        (Value::Map(_) | Value::Root(_), _) | (_, Value::Map(_) | Value::Root(_)) => {
            Err("non-comparable type".to_string())
        }
        _ => Err("incompatible types for comparison".to_string()),
    }
}
