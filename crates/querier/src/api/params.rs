//! Request parameters as Prometheus reads them: the URL query and a form-encoded POST body
//! merged (body values first, like Go's `Request.Form`), times, durations, limits and series
//! selectors, with Prometheus's error texts.

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, Method};
use promql_parser::parser::{self, Expr};
use sextant_model::{MatchOp, Matcher, METRIC_NAME};

use super::PromError;

/// Prometheus's `minTime` (`time.Unix(math.MinInt64/1000+62135596801, 0)`) in milliseconds:
/// the default start of metadata queries.
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus's `maxTime` in milliseconds: the default end of metadata queries.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;
/// `minTime` as Go's RFC3339Nano prints it; clients send this literal for "no start".
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
/// `maxTime` as Go's RFC3339Nano prints it.
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

const NANOS_PER_MS: i64 = 1_000_000;

/// All parameters of a request, in Go's `Request.Form` order: body first, then URL query.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from a URL query string and an optional form-encoded body.
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let body = form_body.into_iter().flat_map(form_urlencoded::parse);
        let url = query
            .into_iter()
            .flat_map(|q| form_urlencoded::parse(q.as_bytes()));
        let pairs = body
            .chain(url)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params { pairs }
    }

    /// The first value of a parameter, `""` when absent (Go's `FormValue`).
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter such as `match[]`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter, `default` when absent (Prometheus's `parseTimeParam`).
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, PromError> {
        let value = self.get(name);
        if value.is_empty() {
            return Ok(default);
        }
        parse_time(value)
            .map_err(|e| invalid_param(name, format!("invalid time value for '{name}': {e}")))
    }

    /// A required time parameter (`start`/`end` of range queries).
    pub fn time(&self, name: &str) -> Result<i64, PromError> {
        parse_time(self.get(name)).map_err(|e| invalid_param(name, e))
    }

    /// `limit`: 0 when absent, never negative (Prometheus's `parseLimitParam`).
    pub fn limit(&self) -> Result<usize, PromError> {
        let value = self.get("limit");
        if value.is_empty() {
            return Ok(0);
        }
        let limit = parse_go_int(value).map_err(|e| invalid_param("limit", e))?;
        usize::try_from(limit)
            .map_err(|_| invalid_param("limit", "limit must be non-negative".to_string()))
    }

    /// An optional duration parameter in nanoseconds (`timeout`, `lookback_delta`).
    pub fn duration(&self, name: &str) -> Result<Option<i64>, String> {
        match self.get(name) {
            "" => Ok(None),
            value => parse_duration(value).map(Some),
        }
    }

    /// The `match[]` selectors as matcher sets (Prometheus's `parseMatchersParam`).
    pub fn matcher_sets(&self) -> Result<Vec<Vec<Matcher>>, PromError> {
        let mut sets = Vec::new();
        for selector in self.all("match[]") {
            sets.extend(parse_metric_selector(selector).map_err(PromError::bad_data)?);
        }
        if sets
            .iter()
            .any(|set| set.iter().all(Matcher::matches_empty))
        {
            return Err(PromError::bad_data(
                "match[] must contain at least one non-empty matcher",
            ));
        }
        Ok(sets)
    }
}

/// Reads the parameters of a request; the body counts only for a form-encoded POST.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().map(str::to_owned);
        let is_form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Ok(Params::parse(query.as_deref(), None));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Params::parse(query.as_deref(), Some(&body)))
    }
}

/// `invalid parameter "<name>": <reason>`, a `bad_data` error.
pub fn invalid_param(name: &str, reason: impl std::fmt::Display) -> PromError {
    PromError::bad_data(format!("invalid parameter {name:?}: {reason}"))
}

/// A timestamp as unix seconds with an optional fraction (rounded to milliseconds) or
/// RFC3339, in milliseconds (Prometheus's `parseTime`). Out-of-range numbers saturate at
/// Prometheus's min and max times.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Some(seconds) = parse_go_float(s) {
        if !seconds.is_nan() {
            let whole = seconds.trunc();
            let ms = if seconds.is_infinite() {
                seconds
            } else {
                whole * 1000.0 + ((seconds - whole) * 1000.0).round()
            };
            return Ok(if ms >= MAX_TIME_MS as f64 {
                MAX_TIME_MS
            } else if ms <= MIN_TIME_MS as f64 {
                MIN_TIME_MS
            } else {
                ms as i64
            });
        }
    }
    if let Some(ms) = parse_rfc3339_ms(s) {
        return Ok(ms);
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(format!("cannot parse {s:?} to a valid timestamp")),
    }
}

/// A duration as float seconds or a Prometheus duration (`1h30m`), in nanoseconds
/// (Prometheus's `parseDuration`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Some(seconds) = parse_go_float(s) {
        let ns = seconds * 1e9;
        if ns.is_nan() || ns >= i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    parse_prometheus_duration_ms(s)
        .and_then(|ms| ms.checked_mul(NANOS_PER_MS))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// A duration like `1y2w3d4h5m6s7ms` (units in this order, each at most once) or `0`, in
/// milliseconds (Prometheus's `model.ParseDuration`).
pub fn parse_prometheus_duration_ms(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let (index, (unit, scale)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len())?;
        rest = &rest[unit.len()..];
        next_unit = index + 1;
        total = total.checked_add(number.checked_mul(*scale)?)?;
    }
    (!s.is_empty()).then_some(total)
}

/// Go's `strconv.ParseFloat` for base 10: decimal and exponent forms, `Inf`/`NaN` in any
/// case, no surrounding spaces (Rust's float syntax is the same set).
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Go's `strconv.Atoi`, with its error text.
fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` in milliseconds (fraction truncated), as
/// Go's `time.Parse(time.RFC3339Nano, ..)` accepts it.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    let offset_seconds = parse_offset(rest)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1000 + millis)
}

fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" {
        return Some(0);
    }
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' || !s.is_ascii() {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |part: &str| -> Option<i64> {
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (hours, minutes) = (two(&s[1..3])?, two(&s[4..6])?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One series selector (`up{job="a"}`, `{__name__=~"x.*"}`) as matcher sets: one set, or
/// one per branch of an `or` inside the braces (Prometheus's `ParseMetricSelector`).
pub fn parse_metric_selector(s: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let selector = match parser::parse(s)? {
        Expr::VectorSelector(vs) => vs,
        _ => {
            return Err(format!(
                "invalid series selector {s:?}: not a vector selector"
            ))
        }
    };
    let name = selector
        .name
        .map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME, n))
        .transpose()
        .map_err(|e| e.to_string())?;
    // With `or`, every branch is in `or_matchers` and `matchers` is empty.
    let branches = if selector.matchers.or_matchers.is_empty() {
        vec![selector.matchers.matchers]
    } else {
        selector.matchers.or_matchers
    };
    let mut sets = Vec::with_capacity(branches.len());
    for branch in branches {
        let mut set: Vec<Matcher> = name.iter().cloned().collect();
        for m in branch {
            set.push(convert_matcher(m)?);
        }
        sets.push(set);
    }
    Ok(sets)
}

fn convert_matcher(m: promql_parser::label::Matcher) -> Result<Matcher, String> {
    use promql_parser::label::MatchOp as P;
    let op = match m.op {
        P::Equal => MatchOp::Equal,
        P::NotEqual => MatchOp::NotEqual,
        P::Re(_) => MatchOp::RegexMatch,
        P::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name, m.value).map_err(|e| e.to_string())
}

/// Decodes Prometheus's `U__` escaping of label names in URL paths
/// (`U__service_2e_name` -> `service.name`, `__` -> `_`); names without the prefix and
/// invalid escapes come back unchanged (`model.UnescapeName` with value-encoding escaping).
pub fn unescape_label_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let b = escaped.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'_' {
            let c = escaped[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        i += 1;
        match b.get(i) {
            None => return name.to_string(),
            Some(b'_') => {
                out.push('_');
                i += 1;
            }
            Some(_) => {
                let hex_len = b[i..].iter().take_while(|c| **c != b'_').count();
                let closed = i + hex_len < b.len();
                if !closed || hex_len == 0 || hex_len > 6 {
                    return name.to_string();
                }
                let hex = &escaped[i..i + hex_len];
                let decoded = hex
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit())
                    .then(|| u32::from_str_radix(hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match decoded {
                    Some(c) => out.push(c),
                    None => return name.to_string(),
                }
                i += hex_len + 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
