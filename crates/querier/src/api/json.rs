//! Query results as Prometheus's JSON: timestamps as seconds with up to three decimals,
//! sample values as strings (`"1.5"`, `"NaN"`, `"+Inf"`), native histograms with their
//! buckets. Written by hand so the bytes match Prometheus's `jsonutil`.

use std::fmt::Write;

use sextant_metrics::promql::histogram::{Span, CUSTOM_BUCKETS_SCHEMA};
use sextant_metrics::promql::{FloatHistogram, Series, Value};
use sextant_model::{Labels, METRIC_NAME};

/// A sample value as Go's `strconv.FormatFloat(f, 'f', -1, 64)` prints it: the shortest
/// decimal that reads back to the same float, never in exponent form.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's `Display` for f64 is the shortest round-trip form without an exponent.
        f.to_string()
    }
}

/// A JSON string literal.
pub fn push_string(out: &mut String, s: &str) {
    // Serialising a `&str` cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// A millisecond timestamp as seconds: `1435781451.781`, `4`, `-1.5` (`MarshalTimestamp`).
pub fn push_timestamp(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let abs = t.unsigned_abs();
    let _ = write!(out, "{}", abs / 1000);
    let fraction = abs % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// `[<ts>,"<value>"]`.
fn push_float_point(out: &mut String, t: i64, f: f64) {
    out.push('[');
    push_timestamp(out, t);
    out.push_str(",\"");
    out.push_str(&format_float(f));
    out.push_str("\"]");
}

/// `[<ts>,{histogram}]`.
fn push_histogram_point(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    push_timestamp(out, t);
    out.push(',');
    push_histogram(out, h);
    out.push(']');
}

/// A label set as an object; `__name__` left out when `drop_name` is set.
pub fn push_labels(out: &mut String, labels: &Labels, drop_name: bool) {
    out.push('{');
    let mut first = true;
    for label in labels {
        if drop_name && label.name == METRIC_NAME {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_string(out, &label.name);
        out.push(':');
        push_string(out, &label.value);
    }
    out.push('}');
}

/// `{"resultType":"..","result":..}` of a query.
pub fn push_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":");
    push_string(out, value.type_name());
    out.push_str(",\"result\":");
    match value {
        Value::Scalar { t, f } => push_float_point(out, *t, *f),
        Value::String { t, s } => {
            out.push('[');
            push_timestamp(out, *t);
            out.push(',');
            push_string(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, &sample.metric, sample.drop_name);
                match &sample.h {
                    Some(h) => {
                        out.push_str(",\"histogram\":");
                        push_histogram_point(out, sample.t, h);
                    }
                    None => {
                        out.push_str(",\"value\":");
                        push_float_point(out, sample.t, sample.f);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_series(out, s);
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// `{"metric":{..},"values":[..],"histograms":[..]}`, each list only when not empty.
fn push_series(out: &mut String, s: &Series) {
    out.push_str("{\"metric\":");
    push_labels(out, &s.metric, s.drop_name);
    if !s.floats.is_empty() {
        out.push_str(",\"values\":[");
        for (i, p) in s.floats.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_float_point(out, p.t, p.f);
        }
        out.push(']');
    }
    if !s.histograms.is_empty() {
        out.push_str(",\"histograms\":[");
        for (i, p) in s.histograms.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_histogram_point(out, p.t, &p.h);
        }
        out.push(']');
    }
    out.push('}');
}

/// `{"count":"..","sum":"..","buckets":[[boundary_rule,"lower","upper","count"],..]}`; empty
/// buckets are left out, and so is `buckets` when all are empty (`MarshalHistogram`).
pub fn push_histogram(out: &mut String, h: &FloatHistogram) {
    out.push_str("{\"count\":\"");
    out.push_str(&format_float(h.count));
    out.push_str("\",\"sum\":\"");
    out.push_str(&format_float(h.sum));
    out.push('"');
    let buckets: Vec<Bucket> = all_buckets(h)
        .into_iter()
        .filter(|b| b.count != 0.0)
        .collect();
    if !buckets.is_empty() {
        out.push_str(",\"buckets\":[");
        for (i, b) in buckets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "[{},\"{}\",\"{}\",\"{}\"]",
                b.boundary_rule(),
                format_float(b.lower),
                format_float(b.upper),
                format_float(b.count)
            );
        }
        out.push(']');
    }
    out.push('}');
}

/// One bucket of a histogram with its boundaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: f64,
}

impl Bucket {
    /// 0: (lower, upper], 1: [lower, upper), 2: (lower, upper), 3: [lower, upper].
    pub fn boundary_rule(&self) -> u8 {
        match (self.lower_inclusive, self.upper_inclusive) {
            (false, true) => 0,
            (true, false) => 1,
            (false, false) => 2,
            (true, true) => 3,
        }
    }
}

/// Every bucket from the most negative to the most positive, the zero bucket in between when
/// it holds observations (Prometheus's `AllBucketIterator`).
pub fn all_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let zt = h.zero_threshold;
    let mut out = Vec::new();
    let negative = indexed(&h.negative_spans, &h.negative_buckets);
    for (idx, count) in negative.into_iter().rev() {
        let mut b = bucket_at(h, idx, count, false);
        if b.upper < 0.0 && b.upper > -zt {
            b.upper = -zt;
        }
        out.push(b);
    }
    if h.zero_count > 0.0 {
        out.push(Bucket {
            lower: -zt,
            upper: zt,
            lower_inclusive: true,
            upper_inclusive: true,
            count: h.zero_count,
        });
    }
    for (idx, count) in indexed(&h.positive_spans, &h.positive_buckets) {
        let mut b = bucket_at(h, idx, count, true);
        if b.lower > 0.0 && b.lower < zt {
            b.lower = zt;
        }
        out.push(b);
    }
    out
}

/// The bucket indexes of spans paired with their counts.
fn indexed(spans: &[Span], counts: &[f64]) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(counts.len());
    let mut idx: i32 = 0;
    let mut counts = counts.iter();
    for span in spans {
        idx = idx.saturating_add(span.offset);
        for _ in 0..span.length {
            let Some(count) = counts.next() else {
                return out;
            };
            out.push((idx, *count));
            idx = idx.saturating_add(1);
        }
    }
    out
}

fn bucket_at(h: &FloatHistogram, idx: i32, count: f64, positive: bool) -> Bucket {
    let upper = bound(idx, h.schema, &h.custom_values);
    let lower = bound(idx.saturating_sub(1), h.schema, &h.custom_values);
    let (lower, upper) = if positive {
        (lower, upper)
    } else {
        (-upper, -lower)
    };
    let (lower_inclusive, upper_inclusive) = if h.schema == CUSTOM_BUCKETS_SCHEMA {
        (idx == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive,
        upper_inclusive,
        count,
    }
}

/// The upper bound of bucket `idx` (Prometheus's `getBound`).
fn bound(idx: i32, schema: i32, custom_values: &[f64]) -> f64 {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        return match usize::try_from(idx) {
            Ok(i) if i < custom_values.len() => custom_values[i],
            Ok(_) => f64::INFINITY,
            Err(_) => f64::NEG_INFINITY,
        };
    }
    if schema < 0 {
        let exp = i64::from(idx) << (-schema).min(8);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let per_power = 1i64 << schema.min(8);
    let frac_idx = i64::from(idx) & (per_power - 1);
    let frac = 0.5 * (frac_idx as f64 / per_power as f64).exp2();
    let exp = (i64::from(idx) >> schema.min(8)) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// `x * 2^exp` without intermediate overflow or underflow.
fn ldexp(mut x: f64, mut exp: i64) -> f64 {
    while exp > 1000 {
        x *= 2f64.powi(1000);
        exp -= 1000;
    }
    while exp < -1000 {
        x *= 2f64.powi(-1000);
        exp += 1000;
    }
    x * 2f64.powi(exp as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        let cases = [
            (1.5, "1.5"),
            (2.0, "2"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e21, "1000000000000000000000"),
            (1e-7, "0.0000001"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want, "{f:?}");
        }
    }

    #[test]
    fn timestamps_like_prometheus() {
        let cases = [
            (0, "0"),
            (4000, "4"),
            (1_435_781_451_781, "1435781451.781"),
            (1_100, "1.100"),
            (1_001, "1.001"),
            (-1_500, "-1.500"),
            (-5, "-0.005"),
        ];
        for (t, want) in cases {
            let mut out = String::new();
            push_timestamp(&mut out, t);
            assert_eq!(out, want, "{t}");
        }
    }

    #[test]
    fn exponential_bounds() {
        // (idx, schema, bound)
        let cases = [
            (0, 0, 1.0),
            (1, 0, 2.0),
            (-1, 0, 0.5),
            (1, 1, std::f64::consts::SQRT_2),
            (2, 1, 2.0),
            (1, -1, 4.0),
            (1024, 0, f64::MAX),
            (1025, 0, f64::INFINITY),
            (4, 2, 2.0),
        ];
        for (idx, schema, want) in cases {
            assert_eq!(bound(idx, schema, &[]), want, "idx {idx} schema {schema}");
        }
    }

    #[test]
    fn histogram_json() {
        let h = FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 10.0,
            sum: 12.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![3.0, 0.0],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            negative_buckets: vec![5.0],
            ..FloatHistogram::default()
        };
        let mut out = String::new();
        push_histogram(&mut out, &h);
        assert_eq!(
            out,
            concat!(
                r#"{"count":"10","sum":"12.5","buckets":["#,
                r#"[1,"-2","-1","5"],[3,"-0.001","0.001","2"],[0,"0.5","1","3"]]}"#
            )
        );
        let empty = FloatHistogram::default();
        let mut out = String::new();
        push_histogram(&mut out, &empty);
        assert_eq!(out, r#"{"count":"0","sum":"0"}"#);
    }

    #[test]
    fn custom_buckets() {
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 6.0,
            sum: 3.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 2.0, 3.0],
            custom_values: vec![0.5, 1.0],
            ..FloatHistogram::default()
        };
        let got: Vec<(f64, f64, u8)> = all_buckets(&h)
            .iter()
            .map(|b| (b.lower, b.upper, b.boundary_rule()))
            .collect();
        assert_eq!(
            got,
            vec![
                (f64::NEG_INFINITY, 0.5, 3),
                (0.5, 1.0, 0),
                (1.0, f64::INFINITY, 0)
            ]
        );
    }
}
