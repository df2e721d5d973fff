//! Query results in Loki's JSON: streams with string nanosecond timestamps, samples with
//! float-second timestamps (millisecond precision) and string values, and the `stats`
//! summary.

use std::time::Duration;

use sextant_logs::logql::eval::{QueryValue, Stream};
use sextant_model::Labels;

use super::queryable::LokiProcessed;
use crate::api::json::{format_float, push_labels, push_string};

/// `[{"stream":{..},"values":[["<ns>","<line>"],..]},..]`.
pub fn push_streams(out: &mut String, streams: &[Stream]) {
    out.push('[');
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":");
        push_labels(out, &stream.labels, false);
        out.push_str(",\"values\":[");
        for (j, entry) in stream.entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("[\"");
            out.push_str(&entry.ts_ns.to_string());
            out.push_str("\",");
            push_string(out, &entry.line);
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// A nanosecond time as Loki writes sample times: seconds with at most three decimals
/// (Prometheus's `model.Time`), e.g. `1700000000.5`.
pub fn push_seconds(out: &mut String, ts_ns: i64) {
    let ms = ts_ns.div_euclid(1_000_000);
    if ms < 0 {
        out.push('-');
    }
    let abs = ms.unsigned_abs();
    out.push_str(&(abs / 1000).to_string());
    let fraction = abs % 1000;
    if fraction != 0 {
        let digits = format!(".{fraction:03}");
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// `[<seconds>,"<value>"]`.
pub fn push_point(out: &mut String, ts_ns: i64, value: f64) {
    out.push('[');
    push_seconds(out, ts_ns);
    out.push_str(",\"");
    out.push_str(&format_float(value));
    out.push_str("\"]");
}

/// `"resultType":"..","result":..` of a metric query; vector and scalar samples carry
/// `ts_ns`, the query time.
pub fn push_metric_result(out: &mut String, value: &QueryValue, ts_ns: i64) {
    match value {
        QueryValue::Scalar(v) => {
            out.push_str("\"resultType\":\"scalar\",\"result\":");
            push_point(out, ts_ns, *v);
        }
        QueryValue::Vector(samples) => {
            out.push_str("\"resultType\":\"vector\",\"result\":");
            let samples = samples.iter().map(|s| (&s.labels, s.value));
            push_vector(out, samples, ts_ns);
        }
        QueryValue::Matrix(series) => {
            out.push_str("\"resultType\":\"matrix\",\"result\":");
            let series = series.iter().map(|s| (&s.labels, s.points.as_slice()));
            push_matrix(out, series);
        }
    }
}

/// `[{"metric":{..},"value":[<sec>,"<v>"]},..]`.
pub fn push_vector<'a>(
    out: &mut String,
    samples: impl Iterator<Item = (&'a Labels, f64)>,
    ts_ns: i64,
) {
    out.push('[');
    for (i, (labels, value)) in samples.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        push_labels(out, labels, false);
        out.push_str(",\"value\":");
        push_point(out, ts_ns, value);
        out.push('}');
    }
    out.push(']');
}

/// `[{"metric":{..},"values":[[<sec>,"<v>"],..]},..]`.
pub fn push_matrix<'a>(
    out: &mut String,
    series: impl Iterator<Item = (&'a Labels, &'a [(i64, f64)])>,
) {
    out.push('[');
    for (i, (labels, points)) in series.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        push_labels(out, labels, false);
        out.push_str(",\"values\":[");
        for (j, (t, v)) in points.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_point(out, *t, *v);
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// What Sextant measures of one query, for Loki's `stats.summary`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LokiQueryStats {
    pub processed: LokiProcessed,
    /// Entries (log queries) or samples (metric queries) in the answer.
    pub returned: u64,
    pub exec_time: Duration,
    pub queue_time: Duration,
}

/// `"stats":{"summary":{..}}` with Loki's field names. Post-filter lines, splits, shards
/// and subqueries are not measured and reported as 0.
pub fn push_stats(out: &mut String, stats: &LokiQueryStats) {
    let exec = stats.exec_time.as_secs_f64();
    let per_second = |n: u64| {
        if exec > 0.0 {
            (n as f64 / exec) as u64
        } else {
            0
        }
    };
    let p = &stats.processed;
    out.push_str(&format!(
        "\"stats\":{{\"summary\":{{\"bytesProcessedPerSecond\":{},\
         \"linesProcessedPerSecond\":{},\"totalBytesProcessed\":{},\
         \"totalLinesProcessed\":{},\"execTime\":{},\"queueTime\":{},\"subqueries\":0,\
         \"totalEntriesReturned\":{},\"splits\":0,\"shards\":0,\"totalPostFilterLines\":0,\
         \"totalStructuredMetadataBytesProcessed\":{}}}}}",
        per_second(p.bytes + p.metadata_bytes),
        per_second(p.lines),
        p.bytes + p.metadata_bytes,
        p.lines,
        exec,
        stats.queue_time.as_secs_f64(),
        stats.returned,
        p.metadata_bytes,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_logs::logql::eval::{Entry, Sample, SampleSeries};

    #[test]
    fn seconds_like_model_time() {
        let cases = [
            (0, "0"),
            (4_000_000_000_000_000_000, "4000000000"),
            (1_500_000_000, "1.5"),
            (1_001_000_000, "1.001"),
            (1_000_999_999, "1"),
            (-5_000_000, "-0.005"),
        ];
        for (ns, want) in cases {
            let mut out = String::new();
            push_seconds(&mut out, ns);
            assert_eq!(out, want, "{ns}");
        }
    }

    #[test]
    fn results() {
        let labels = Labels::from_pairs([("app", "a")]);
        let streams = vec![Stream {
            labels: labels.clone(),
            entries: vec![Entry {
                ts_ns: 5,
                line: "say \"hi\"".to_string(),
                metadata: Labels::default(),
            }],
        }];
        let mut out = String::new();
        push_streams(&mut out, &streams);
        assert_eq!(
            out,
            r#"[{"stream":{"app":"a"},"values":[["5","say \"hi\""]]}]"#
        );
        let cases = [
            (
                QueryValue::Scalar(2.0),
                r#""resultType":"scalar","result":[1.5,"2"]"#,
            ),
            (
                QueryValue::Vector(vec![Sample {
                    labels: labels.clone(),
                    value: 0.25,
                }]),
                r#""resultType":"vector","result":[{"metric":{"app":"a"},"value":[1.5,"0.25"]}]"#,
            ),
            (
                QueryValue::Matrix(vec![SampleSeries {
                    labels,
                    points: vec![(1_000_000_000, 1.0), (2_000_000_000, f64::INFINITY)],
                }]),
                r#""resultType":"matrix","result":[{"metric":{"app":"a"},"values":[[1,"1"],[2,"+Inf"]]}]"#,
            ),
        ];
        for (value, want) in cases {
            let mut out = String::new();
            push_metric_result(&mut out, &value, 1_500_000_000);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn stats_summary() {
        let stats = LokiQueryStats {
            processed: LokiProcessed {
                lines: 10,
                bytes: 100,
                metadata_bytes: 20,
            },
            returned: 3,
            exec_time: Duration::from_millis(500),
            queue_time: Duration::ZERO,
        };
        let mut out = String::from("{");
        push_stats(&mut out, &stats);
        out.push('}');
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let summary = &json["stats"]["summary"];
        assert_eq!(summary["totalBytesProcessed"], 120);
        assert_eq!(summary["bytesProcessedPerSecond"], 240);
        assert_eq!(summary["totalLinesProcessed"], 10);
        assert_eq!(summary["totalEntriesReturned"], 3);
        assert_eq!(summary["totalStructuredMetadataBytesProcessed"], 20);
        assert_eq!(summary["execTime"], 0.5);
    }
}
