//! The `{{schema:1 sum:2 count:3 buckets:[1 2] …}}` notation of native histograms, and its
//! series forms `{{A}}xN`, `{{A}}+{{B}}xN` and `{{A}}-{{B}}xN`.

use super::series::{parse_number, SeqValue};
use crate::promql::histogram::{CounterResetHint, FloatHistogram, Span};

/// Expands one histogram item of a value list.
pub(super) fn expand_histograms(item: &str) -> Result<Vec<SeqValue>, String> {
    let first_end = item
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram {item:?}"))?
        + 2;
    let (base, hint_set) = parse_histogram(&item[..first_end])?;
    let rest = &item[first_end..];
    let value = |h: FloatHistogram| SeqValue::Histogram {
        h: Box::new(h),
        hint_set,
    };
    if rest.is_empty() {
        return Ok(vec![value(base)]);
    }
    if let Some(times) = rest.strip_prefix('x') {
        let n = parse_count(times, item)?;
        return Ok(std::iter::repeat_n(base, n + 1).map(value).collect());
    }
    let subtract = rest.starts_with('-');
    let rest = rest
        .strip_prefix(['+', '-'])
        .ok_or_else(|| format!("bad histogram series {item:?}"))?;
    let delta_end = rest
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram {item:?}"))?
        + 2;
    let (delta, _) = parse_histogram(&rest[..delta_end])?;
    let times = rest[delta_end..]
        .strip_prefix('x')
        .ok_or_else(|| format!("missing repeat count in {item:?}"))?;
    let n = parse_count(times, item)?;
    let mut out = vec![value(base.clone())];
    let mut current = base;
    for _ in 0..n {
        let mut next = current.clone();
        let result = if subtract {
            next.sub(&delta).map(|_| ())
        } else {
            next.add(&delta).map(|_| ())
        };
        result.map_err(|e| format!("histogram series {item:?}: {e:?}"))?;
        next.counter_reset_hint = current.counter_reset_hint;
        out.push(value(next.clone()));
        current = next;
    }
    Ok(out)
}

fn parse_count(text: &str, item: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("bad repeat count in {item:?}"))
}

/// Parses one `{{…}}`; also says whether `counter_reset_hint` was written.
pub(crate) fn parse_histogram(text: &str) -> Result<(FloatHistogram, bool), String> {
    let inner = text
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .ok_or_else(|| format!("bad histogram {text:?}"))?;
    let mut h = FloatHistogram::default();
    let mut hint_set = false;
    let (mut offset, mut n_offset) = (0i32, 0i32);
    for (key, value) in fields(inner)? {
        let number = || parse_number(value);
        let list = || parse_list(value);
        match key {
            "schema" => h.schema = number()? as i32,
            "sum" => h.sum = number()?,
            "count" => h.count = number()?,
            "z_bucket" => h.zero_count = number()?,
            "z_bucket_w" => h.zero_threshold = number()?,
            "buckets" => h.positive_buckets = list()?,
            "n_buckets" => h.negative_buckets = list()?,
            "offset" => offset = number()? as i32,
            "n_offset" => n_offset = number()? as i32,
            "custom_values" => h.custom_values = list()?,
            "counter_reset_hint" => {
                hint_set = true;
                h.counter_reset_hint = match value {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => return Err(format!("bad counter_reset_hint {value:?}")),
                };
            }
            _ => return Err(format!("unknown histogram field {key:?}")),
        }
    }
    h.positive_spans = one_span(offset, h.positive_buckets.len());
    h.negative_spans = one_span(n_offset, h.negative_buckets.len());
    Ok((h, hint_set))
}

fn one_span(offset: i32, len: usize) -> Vec<Span> {
    if len == 0 {
        return Vec::new();
    }
    vec![Span {
        offset,
        length: len as u32,
    }]
}

/// Splits `key:value key:[a b]` into pairs.
fn fields(inner: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("expected key:value at {rest:?}"))?;
        let key = rest[..colon].trim();
        let after = rest[colon + 1..].trim_start();
        let end = if after.starts_with('[') {
            after
                .find(']')
                .ok_or_else(|| format!("unterminated list at {after:?}"))?
                + 1
        } else {
            after.find(char::is_whitespace).unwrap_or(after.len())
        };
        out.push((key, &after[..end]));
        rest = after[end..].trim_start();
    }
    Ok(out)
}

fn parse_list(value: &str) -> Result<Vec<f64>, String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| format!("expected a list, got {value:?}"))?;
    inner.split_whitespace().map(parse_number).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_fields() {
        let text = "{{schema:1 sum:-0.3 count:3.1 z_bucket:7.1 z_bucket_w:0.05 buckets:[5.1 10 7] offset:-3 \
                    n_buckets:[4.1 5] n_offset:-5 counter_reset_hint:gauge}}";
        let (h, hint_set) = parse_histogram(text).unwrap();
        assert!(hint_set);
        assert_eq!(h.schema, 1);
        assert_eq!(
            (h.sum, h.count, h.zero_count, h.zero_threshold),
            (-0.3, 3.1, 7.1, 0.05)
        );
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: -3,
                length: 3
            }]
        );
        assert_eq!(
            h.negative_spans,
            vec![Span {
                offset: -5,
                length: 2
            }]
        );
        assert_eq!(h.negative_buckets, vec![4.1, 5.0]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
        let (custom, hint_set) =
            parse_histogram("{{schema:-53 custom_values:[5 10] buckets:[1 2]}}").unwrap();
        assert!(!hint_set);
        assert_eq!(custom.custom_values, vec![5.0, 10.0]);
        for bad in ["{{schema}}", "{{foo:1}}", "{{buckets:[1 2}}", "{schema:1}"] {
            assert!(parse_histogram(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expands_histogram_series() {
        let values = expand_histograms("{{count:1 sum:2}}+{{count:2 sum:1}}x2").unwrap();
        let counts: Vec<f64> = values
            .iter()
            .map(|v| match v {
                SeqValue::Histogram { h, .. } => h.count,
                _ => f64::NAN,
            })
            .collect();
        assert_eq!(counts, vec![1.0, 3.0, 5.0]);
        assert_eq!(
            expand_histograms("{{count:4}}-{{count:1}}x1")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(expand_histograms("{{count:4}}x3").unwrap().len(), 4);
        assert!(expand_histograms("{{count:4}}+{{count:1}}").is_err());
    }
}
