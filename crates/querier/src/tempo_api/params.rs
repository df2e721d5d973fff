//! Tempo's request parameters (`pkg/api/http.go`): trace IDs, `start`/`end` in Unix seconds,
//! positive counts (`limit`, `spss`), Go durations (`minDuration`), and tag names that
//! Grafana URL-encodes twice. Error texts are Tempo's, naming the parameter.

use sextant_traces::model::TraceId;

use super::TempoError;
use crate::api::params::Params;
use crate::loki_api::params::parse_go_int;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A trace ID as Tempo reads it: 1 to 32 hex digits, left-padded with zeros.
pub fn trace_id(text: &str) -> Result<TraceId, TempoError> {
    text.parse::<TraceId>()
        .map_err(|e| TempoError::bad_request(format!("invalid traceID {text:?}: {e}")))
}

/// A Unix-seconds parameter (Tempo parses it as a 32-bit integer) in nanoseconds; 0 when
/// absent.
pub fn unix_seconds_ns(params: &Params, name: &str) -> Result<i64, TempoError> {
    let value = params.get(name);
    if value.is_empty() {
        return Ok(0);
    }
    let invalid = |reason: String| TempoError::bad_request(format!("invalid {name}: {reason}"));
    let seconds = parse_go_int(value, "ParseInt").map_err(invalid)?;
    if i32::try_from(seconds).is_err() {
        return Err(invalid(format!(
            "strconv.ParseInt: parsing {value:?}: value out of range"
        )));
    }
    if seconds < 0 {
        return Err(invalid("must not be negative".to_string()));
    }
    Ok(seconds * NANOS_PER_SECOND)
}

/// `start` and `end` in nanoseconds (0 = unbounded); when either is set, `end` must be
/// after `start`.
pub fn time_range_ns(params: &Params) -> Result<(i64, i64), TempoError> {
    let start = unix_seconds_ns(params, "start")?;
    let end = unix_seconds_ns(params, "end")?;
    if (start != 0 || end != 0) && end <= start {
        return Err(TempoError::bad_request(format!(
            "http parameter start must be before end. received start={} end={}",
            start / NANOS_PER_SECOND,
            end / NANOS_PER_SECOND
        )));
    }
    Ok((start, end))
}

/// A positive count such as `limit` or `spss`, `default` when absent.
pub fn positive_count(params: &Params, name: &str, default: u32) -> Result<u32, TempoError> {
    let value = params.get(name);
    if value.is_empty() {
        return Ok(default);
    }
    let invalid = |reason: String| TempoError::bad_request(format!("invalid {name}: {reason}"));
    let n = parse_go_int(value, "Atoi").map_err(invalid)?;
    if n <= 0 {
        return Err(invalid("must be a positive number".to_string()));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// An optional count (the `limit` of tag requests): 0 (no limit) when absent.
pub fn optional_count(params: &Params, name: &str) -> Result<u32, TempoError> {
    match params.get(name) {
        "" => Ok(0),
        _ => positive_count(params, name, 0),
    }
}

/// An optional Go duration (`minDuration=100ms`) in nanoseconds, 0 when absent.
pub fn duration_ns(params: &Params, name: &str) -> Result<u64, TempoError> {
    let value = params.get(name);
    if value.is_empty() {
        return Ok(0);
    }
    let invalid = |reason: String| TempoError::bad_request(format!("invalid {name}: {reason}"));
    let ns = parse_go_duration(value).map_err(invalid)?;
    u64::try_from(ns).map_err(|_| invalid("must not be negative".to_string()))
}

/// Go's `time.ParseDuration` in nanoseconds: `300ms`, `-1.5h`, `2h45m`, `1µs`, with Go's
/// error texts. Fractions are truncated to the nanosecond.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after) = split_digits(rest);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => split_digits(after),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let per_unit = unit_nanos(unit)
            .ok_or_else(|| format!("time: unknown unit {unit:?} in duration {text:?}"))?;
        total = total
            .checked_add(component_nanos(whole, fraction, per_unit).ok_or_else(invalid)?)
            .ok_or_else(invalid)?;
        rest = &after[unit_len..];
    }
    let magnitude = i128::try_from(total).map_err(|_| invalid())?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| invalid())
}

fn split_digits(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s.split_at(n)
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// `whole.fraction` units in nanoseconds; `None` on overflow.
fn component_nanos(whole: &str, fraction: &str, per_unit: u128) -> Option<u128> {
    let whole: u128 = if whole.is_empty() {
        0
    } else if whole.len() > 20 {
        return None;
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(per_unit)?;
    // Digits past the 18th are below a nanosecond for every unit up to hours.
    let digits = &fraction[..fraction.len().min(18)];
    if !digits.is_empty() {
        let numerator: u128 = digits.parse().ok()?;
        let scale = 10u128.pow(u32::try_from(digits.len()).ok()?);
        nanos = nanos.checked_add(numerator * per_unit / scale)?;
    }
    Some(nanos)
}

/// A tag name from the path: axum decoded it once; Grafana encodes it twice, so decode
/// again while it still holds `%XX` escapes. Invalid escapes are kept as they are.
pub fn decode_tag(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match escape {
            Some((high, low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| raw.to_owned())
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query), None)
    }

    #[test]
    fn trace_ids_are_left_padded_hex() {
        let cases = [
            ("1", Some("00000000000000000000000000000001")),
            (
                "0123456789abcdefABCDEF0123456789",
                Some("0123456789abcdefabcdef0123456789"),
            ),
            ("", None),
            ("xyz", None),
            ("000000000000000000000000000000001", None),
        ];
        for (text, want) in cases {
            let got = trace_id(text).map(|id| id.to_string());
            match want {
                Some(want) => assert_eq!(got.unwrap(), want, "{text}"),
                None => {
                    let e = got.unwrap_err();
                    assert_eq!(e.status, 400);
                    assert!(e.message.contains("traceID"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn time_ranges() {
        let s = NANOS_PER_SECOND;
        type Want = Result<(i64, i64), &'static str>;
        let cases: [(&str, Want); 6] = [
            ("", Ok((0, 0))),
            ("start=10&end=20", Ok((10 * s, 20 * s))),
            ("start=20&end=10", Err("start must be before end")),
            ("start=10", Err("received start=10 end=0")),
            ("start=x&end=1", Err("invalid start: strconv.ParseInt")),
            ("start=1&end=99999999999", Err("value out of range")),
        ];
        for (query, want) in cases {
            match (time_range_ns(&params(query)), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{query}"),
                (Err(e), Err(want)) => assert!(e.message.contains(want), "{query}: {}", e.message),
                (got, want) => panic!("{query}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn counts() {
        let cases: [(&str, Result<u32, &str>); 5] = [
            ("", Ok(20)),
            ("limit=5", Ok(5)),
            ("limit=0", Err("invalid limit: must be a positive number")),
            ("limit=-1", Err("invalid limit: must be a positive number")),
            ("limit=a", Err("invalid limit: strconv.Atoi: parsing \"a\"")),
        ];
        for (query, want) in cases {
            match (positive_count(&params(query), "limit", 20), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{query}"),
                (Err(e), Err(want)) => assert!(e.message.contains(want), "{query}: {}", e.message),
                (got, want) => panic!("{query}: {got:?} vs {want:?}"),
            }
        }
        assert_eq!(optional_count(&params(""), "limit").unwrap(), 0);
        assert_eq!(
            optional_count(&params("limit=5000"), "limit").unwrap(),
            5000
        );
    }

    #[test]
    fn go_durations() {
        let cases: [(&str, Result<i64, &str>); 14] = [
            ("0", Ok(0)),
            ("100ms", Ok(100_000_000)),
            ("1.5s", Ok(1_500_000_000)),
            ("1h30m", Ok(5_400_000_000_000)),
            ("-2us", Ok(-2_000)),
            ("3µs", Ok(3_000)),
            (".5m", Ok(30_000_000_000)),
            ("1.s", Ok(1_000_000_000)),
            ("7ns", Ok(7)),
            ("1", Err("time: missing unit in duration \"1\"")),
            ("1d", Err("time: unknown unit \"d\" in duration \"1d\"")),
            ("", Err("time: invalid duration \"\"")),
            (".s", Err("time: invalid duration \".s\"")),
            ("9999999999h", Err("time: invalid duration")),
        ];
        for (text, want) in cases {
            match (parse_go_duration(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{text}: {e}"),
                (got, want) => panic!("{text}: {got:?} vs {want:?}"),
            }
        }
        let e = duration_ns(&params("minDuration=-1s"), "minDuration").unwrap_err();
        assert_eq!(e.message, "invalid minDuration: must not be negative");
    }

    #[test]
    fn tags_are_decoded_once_more() {
        let cases = [
            ("resource.service.name", "resource.service.name"),
            ("span.http%2Eroute", "span.http.route"),
            ("span.%25cpu", "span.%cpu"),
            ("span.%cpu", "span.%cpu"),
            ("span.%", "span.%"),
            ("span.%C3%A9", "span.é"),
            ("span.%FF", "span.%FF"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_tag(raw), want, "{raw}");
        }
    }

    proptest! {
        #[test]
        fn durations_never_panic(text in "[-+0-9.µa-z]{0,24}") {
            let _ = parse_go_duration(&text);
        }

        #[test]
        fn whole_milliseconds_round_trip(ms in 0i64..1_000_000_000) {
            prop_assert_eq!(parse_go_duration(&format!("{ms}ms")), Ok(ms * 1_000_000));
        }

        #[test]
        fn decoding_never_panics(raw in "[%a-fA-F0-9.é]{0,16}") {
            let _ = decode_tag(&raw);
        }
    }
}
