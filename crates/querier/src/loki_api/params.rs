//! Loki's request parameters (`pkg/loghttp/params.go`): timestamps as nanoseconds, seconds
//! or RFC3339; `limit`, `direction`, `step`, `interval`, `since`; stream selectors. Texts of
//! the errors are Loki's.

use sextant_logs::logql::ast::Expr;
use sextant_logs::logql::eval::Direction;
use sextant_logs::logql::parse::parse_expr;
use sextant_model::Matcher;

use super::LokiError;
use crate::api::params::{parse_prometheus_duration_ms, parse_rfc3339_ms, Params};

/// Entries a log query returns when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;
/// How far back `start` defaults from `end`.
pub const DEFAULT_SINCE_NS: i64 = 3_600 * NANOS_PER_SECOND;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `start` and `end` (Loki's `determineBounds`): `end` defaults to now, `start` to `end`
/// minus `since` (default one hour).
pub fn bounds(params: &Params, now_ns: i64) -> Result<(i64, i64), LokiError> {
    let end = timestamp_or(params.get("end"), now_ns)?;
    let since = match params.get("since") {
        "" => DEFAULT_SINCE_NS,
        value => seconds_or_duration(value)?,
    };
    let start = timestamp_or(params.get("start"), end.saturating_sub(since))?;
    Ok((start, end))
}

/// `start`/`end` of a range query: as [`bounds`], and `end` not before `start`.
pub fn range_bounds(params: &Params, now_ns: i64) -> Result<(i64, i64), LokiError> {
    let (start, end) = bounds(params, now_ns)?;
    if end < start {
        return Err(LokiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

/// `time` of an instant query, now when absent.
pub fn time(params: &Params, now_ns: i64) -> Result<i64, LokiError> {
    timestamp_or(params.get("time"), now_ns)
}

fn timestamp_or(value: &str, default: i64) -> Result<i64, LokiError> {
    if value.is_empty() {
        return Ok(default);
    }
    parse_timestamp_ns(value).map_err(LokiError::bad_request)
}

/// Loki's `parseTimestamp`: a number with a `.` is float seconds (rounded to
/// milliseconds); an integer of at most 10 characters is seconds, a longer one
/// nanoseconds; anything else must be RFC3339.
pub fn parse_timestamp_ns(value: &str) -> Result<i64, String> {
    if value.contains('.') {
        if let Ok(seconds) = value.parse::<f64>() {
            if seconds.is_finite() {
                let whole = seconds.trunc();
                let millis = ((seconds - whole) * 1000.0).round() as i64;
                if whole.abs() < (i64::MAX / NANOS_PER_SECOND) as f64 {
                    return Ok(whole as i64 * NANOS_PER_SECOND + millis * 1_000_000);
                }
            }
        }
    }
    match parse_go_int(value, "ParseInt") {
        Ok(n) if value.len() <= 10 => n
            .checked_mul(NANOS_PER_SECOND)
            .ok_or_else(|| format!("strconv.ParseInt: parsing {value:?}: value out of range")),
        Ok(n) => Ok(n),
        Err(e) => parse_rfc3339_ns(value).ok_or(e),
    }
}

/// RFC3339 with up to nanosecond precision.
fn parse_rfc3339_ns(value: &str) -> Option<i64> {
    let (head, rest) = value.split_at_checked(19)?;
    let (fraction_ns, zone) = match rest.strip_prefix('.') {
        Some(frac) => {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let padded = format!("{:0<9}", &frac[..digits]);
            (padded.parse::<i64>().ok()?, &frac[digits..])
        }
        None => (0, rest),
    };
    let whole_ms = parse_rfc3339_ms(&format!("{head}{zone}"))?;
    whole_ms.checked_mul(1_000_000)?.checked_add(fraction_ns)
}

/// Go's `strconv.Atoi`/`ParseInt` with its error texts.
pub(crate) fn parse_go_int(value: &str, func: &str) -> Result<i64, String> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.{func}: parsing {value:?}: invalid syntax"));
    }
    value
        .parse()
        .map_err(|_| format!("strconv.{func}: parsing {value:?}: value out of range"))
}

/// `limit`: [`DEFAULT_LIMIT`] when absent, positive.
pub fn limit(params: &Params) -> Result<usize, LokiError> {
    let limit = match params.get("limit") {
        "" => DEFAULT_LIMIT as i64,
        value => parse_go_int(value, "Atoi").map_err(LokiError::bad_request)?,
    };
    if limit <= 0 {
        return Err(LokiError::bad_request("limit must be a positive value"));
    }
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// `direction`: `forward` or `backward` in any case, backward when absent.
pub fn direction(params: &Params) -> Result<Direction, LokiError> {
    let value = params.get("direction");
    match value.to_ascii_uppercase().as_str() {
        "" | "BACKWARD" => Ok(Direction::Backward),
        "FORWARD" => Ok(Direction::Forward),
        _ => Err(LokiError::bad_request(format!(
            "invalid direction '{value}'"
        ))),
    }
}

/// `step` of a range query in nanoseconds: positive, at most 11,000 steps; when absent
/// `max(1s, (end - start) / 250)` in whole seconds.
pub fn step(params: &Params, start_ns: i64, end_ns: i64) -> Result<i64, LokiError> {
    let step = match params.get("step") {
        "" => ((end_ns - start_ns) / NANOS_PER_SECOND / 250).max(1) * NANOS_PER_SECOND,
        value => seconds_or_duration(value)?,
    };
    if step <= 0 {
        return Err(LokiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end_ns - start_ns) / step > 11_000 {
        return Err(LokiError::bad_request(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
        ));
    }
    Ok(step)
}

/// `interval` of a log range query in nanoseconds: 0 when absent, never negative.
pub fn interval(params: &Params) -> Result<i64, LokiError> {
    let interval = match params.get("interval") {
        "" => 0,
        value => seconds_or_duration(value)?,
    };
    if interval < 0 {
        return Err(LokiError::bad_request("interval must be >= 0"));
    }
    Ok(interval)
}

/// Loki's `parseSecondsOrDuration`: float seconds or a Prometheus duration, in nanoseconds.
pub fn seconds_or_duration(value: &str) -> Result<i64, LokiError> {
    if let Ok(seconds) = value.parse::<f64>() {
        let ns = seconds * 1e9;
        if ns.is_nan() || ns >= i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(LokiError::bad_request(format!(
                "cannot parse {value:?} to a valid duration. It overflows int64"
            )));
        }
        return Ok(ns as i64);
    }
    parse_prometheus_duration_ms(value)
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| {
            LokiError::bad_request(format!("cannot parse {value:?} to a valid duration"))
        })
}

/// A stream selector without pipeline (Loki's `ParseMatchers`), as `query` of the label
/// endpoints and `match[]` of `series` take it.
pub fn parse_matchers(query: &str) -> Result<Vec<Matcher>, LokiError> {
    match parse_expr(query).map_err(|e| LokiError::bad_request(e.to_string()))? {
        Expr::Log(log) if log.pipeline.is_empty() => Ok(log.matchers),
        _ => Err(LokiError::bad_request("only label matchers are supported")),
    }
}

/// The stream selector of a log query, pipeline ignored (index stats and volume accept
/// whole log queries).
pub fn selector_matchers(query: &str) -> Result<Vec<Matcher>, LokiError> {
    match parse_expr(query).map_err(|e| LokiError::bad_request(e.to_string()))? {
        Expr::Log(log) => Ok(log.matchers),
        Expr::Sample(_) => Err(LokiError::bad_request("only label matchers are supported")),
    }
}

/// `query` as matchers when given (the label endpoints' optional filter).
pub fn optional_matchers(params: &Params) -> Result<Option<Vec<Matcher>>, LokiError> {
    match params.get("query") {
        "" => Ok(None),
        query => parse_matchers(query).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query), None)
    }

    #[test]
    fn timestamps_like_loki() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("4000000000", Ok(4_000_000_000 * NANOS_PER_SECOND)),
            ("1700000000000000000", Ok(1_700_000_000_000_000_000)),
            ("12345678901", Ok(12_345_678_901)),
            ("1.5", Ok(1_500_000_000)),
            ("1700000000.1234", Ok(1_700_000_000_123_000_000)),
            ("2023-11-14T22:13:20Z", Ok(1_700_000_000 * NANOS_PER_SECOND)),
            (
                "2023-11-14T22:13:20.000000123Z",
                Ok(1_700_000_000_000_000_123),
            ),
            (
                "2023-11-14T23:13:20+01:00",
                Ok(1_700_000_000 * NANOS_PER_SECOND),
            ),
            ("-5", Ok(-5 * NANOS_PER_SECOND)),
            (
                "abc",
                Err("strconv.ParseInt: parsing \"abc\": invalid syntax"),
            ),
            (
                "99999999999999999999",
                Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_timestamp_ns(value),
                want.map_err(str::to_string),
                "{value}"
            );
        }
    }

    #[test]
    fn bounds_defaults_and_order() {
        let now = 10_000 * NANOS_PER_SECOND;
        type Case<'a> = (&'a str, Result<(i64, i64), &'a str>);
        let cases: &[Case<'_>] = &[
            ("", Ok((now - DEFAULT_SINCE_NS, now))),
            ("since=10s", Ok((now - 10 * NANOS_PER_SECOND, now))),
            (
                "start=1&end=2",
                Ok((NANOS_PER_SECOND, 2 * NANOS_PER_SECOND)),
            ),
            (
                "start=3&end=2",
                Err("end timestamp must not be before or equal to start time"),
            ),
            (
                "start=x",
                Err("strconv.ParseInt: parsing \"x\": invalid syntax"),
            ),
        ];
        for (query, want) in cases {
            let got = range_bounds(&params(query), now).map_err(|e| e.message);
            assert_eq!(got, want.map_err(str::to_string), "{query}");
        }
    }

    #[test]
    fn limit_direction_step_interval() {
        let cases: &[(&str, Result<usize, &str>)] = &[
            ("", Ok(100)),
            ("limit=1000", Ok(1000)),
            ("limit=0", Err("limit must be a positive value")),
            ("limit=-1", Err("limit must be a positive value")),
            (
                "limit=x",
                Err("strconv.Atoi: parsing \"x\": invalid syntax"),
            ),
        ];
        for (query, want) in cases {
            let got = limit(&params(query)).map_err(|e| e.message);
            assert_eq!(got, want.map_err(str::to_string), "{query}");
        }
        let directions: &[(&str, Result<Direction, &str>)] = &[
            ("", Ok(Direction::Backward)),
            ("direction=forward", Ok(Direction::Forward)),
            ("direction=BACKWARD", Ok(Direction::Backward)),
            ("direction=up", Err("invalid direction 'up'")),
        ];
        for (query, want) in directions {
            let got = direction(&params(query)).map_err(|e| e.message);
            assert_eq!(got, want.map_err(str::to_string), "{query}");
        }
        let s = NANOS_PER_SECOND;
        let steps: &[(&str, i64, Result<i64, &str>)] = &[
            ("step=15s", 3600 * s, Ok(15 * s)),
            ("step=15000ms", 3600 * s, Ok(15 * s)),
            ("step=0.5", 60 * s, Ok(s / 2)),
            ("", 3600 * s, Ok(14 * s)),
            ("", 100 * s, Ok(s)),
            ("step=0", 10 * s, Err("zero or negative query resolution step widths are not accepted. Try a positive integer")),
            ("step=1s", 11_001 * s, Err("exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter")),
            ("step=x", 10 * s, Err("cannot parse \"x\" to a valid duration")),
        ];
        for (query, range, want) in steps {
            let got = step(&params(query), 0, *range).map_err(|e| e.message);
            assert_eq!(got, want.map_err(str::to_string), "{query}");
        }
        assert_eq!(interval(&params("interval=2s")).unwrap(), 2 * s);
        assert_eq!(interval(&params("")).unwrap(), 0);
        assert_eq!(
            interval(&params("interval=-1")).unwrap_err().message,
            "interval must be >= 0"
        );
    }

    #[test]
    fn selectors() {
        assert_eq!(parse_matchers(r#"{app="a", env=~"p.*"}"#).unwrap().len(), 2);
        let pipeline = parse_matchers(r#"{app="a"} |= "x""#).unwrap_err();
        assert_eq!(pipeline.message, "only label matchers are supported");
        assert_eq!(selector_matchers(r#"{app="a"} |= "x""#).unwrap().len(), 1);
        assert!(selector_matchers(r#"rate({app="a"}[1m])"#).is_err());
        let bad = parse_matchers("{app=}").unwrap_err();
        assert_eq!(bad.status, 400);
        assert!(bad.message.starts_with("parse error"), "{}", bad.message);
    }
}
