//! Sextant against a real Prometheus on the same data: a deterministic dashboard-like dataset,
//! a list of dashboard-style queries, and a comparison of the two HTTP API answers.
//!
//! The dataset is pushed to both through remote write (Prometheus with
//! `--web.enable-remote-write-receiver`), so both hold exactly the same samples.
//!
//! The reference is Debian's Prometheus 2.42, so the list avoids what changed in Prometheus 3
//! (`holt_winters` renamed, `limitk`), and samples sit off the evaluation grid: 2.x range
//! selectors are closed on the left, 3.x (and Sextant) left-open, which only differs for a
//! sample exactly at `t - range`.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sextant_proto::prometheus::{Label, Sample, TimeSeries};

/// Scrape interval of the dataset.
pub const INTERVAL_MS: i64 = 15_000;

/// Queries of the kind dashboards run. Each is compared as an instant query at several times
/// and as a range query.
pub const DASHBOARD_QUERIES: &[&str] = &[
    "up",
    "sum(up)",
    "count by (job) (up)",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "sum(rate(http_requests_total[5m]))",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum by (job, code) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))",
    "rate(http_requests_total{method!=\"GET\"}[2m])",
    "delta(node_memory_bytes[10m])",
    "deriv(node_memory_bytes[10m])",
    "idelta(node_memory_bytes[5m])",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[10m]))",
    "sum(rate(http_request_duration_seconds_sum[5m])) / sum(rate(http_request_duration_seconds_count[5m]))",
    // Tie-free inputs for topk/bottomk: Prometheus 2.x breaks ties in range queries by Go map
    // order, i.e. at random.
    "topk(3, rate(node_cpu_seconds_total[5m]))",
    "bottomk(2, node_memory_bytes)",
    "topk(1, sum by (instance) (rate(node_cpu_seconds_total[5m])))",
    "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "label_join(up, \"id\", \"-\", \"job\", \"instance\")",
    "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "avg_over_time(node_memory_bytes[1h])",
    "min_over_time(node_memory_bytes[1h])",
    "max_over_time(node_memory_bytes[1h])",
    "sum_over_time(up[10m])",
    "count_over_time(node_memory_bytes[30m])",
    "stddev_over_time(node_memory_bytes[30m])",
    "quantile_over_time(0.95, node_memory_bytes[30m])",
    "last_over_time(node_memory_bytes[10m])",
    "absent(nonexistent_metric)",
    "absent(up{job=\"api\"})",
    "absent_over_time(nonexistent_metric[5m])",
    "predict_linear(node_memory_bytes[30m], 3600)",
    "changes(node_temperature_celsius[30m])",
    "resets(http_requests_total[1h])",
    "avg by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))",
    "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))",
    "sum by (mode) (rate(node_cpu_seconds_total[5m])) * 100",
    "node_memory_bytes / 1024 / 1024",
    "node_memory_bytes > 5e8",
    "node_memory_bytes > bool 5e8",
    "up == 0",
    "up and on (instance) node_memory_bytes > 5e8",
    "up unless on (instance) node_memory_bytes > 5e8",
    "rate(http_requests_total[5m]) * on (instance) group_left (zone) node_info",
    "sum by (zone) (rate(http_requests_total[5m]) * on (instance) group_left (zone) node_info)",
    "quantile(0.9, rate(http_requests_total[5m]))",
    "stddev(node_memory_bytes)",
    "count_values(\"value\", up)",
    "avg(node_temperature_celsius)",
    "clamp_max(node_temperature_celsius, 40)",
    "round(node_temperature_celsius, 0.5)",
    "abs(deriv(node_temperature_celsius[15m]))",
    "rate(http_requests_total[5m] offset 10m)",
    "sum(rate(http_requests_total[5m] offset 1h))",
    "max_over_time(sum(rate(http_requests_total[1m]))[1h:5m])",
    "avg_over_time(up[1h])",
    "time() - timestamp(up)",
    "sort_desc(sum by (job) (rate(http_requests_total[5m])))",
    "scalar(sum(up)) * 2",
    "vector(1) + on () group_left sum(up)",
    "sgn(delta(node_memory_bytes[5m]))",
    "http_requests_total @ end()",
    "rate(http_requests_total[5m] @ start())",
    "min(node_temperature_celsius) by (zone)",
    "sum by (instance) (rate(http_requests_total[5m])) > 2",
    "count by (job) (http_requests_total > 1000)",
];

/// Instances of the dataset.
const INSTANCES: &[&str] = &[
    "10.0.0.1:9100",
    "10.0.0.2:9100",
    "10.0.0.3:9100",
    "10.0.0.4:9100",
];
const JOBS: &[&str] = &["api", "web"];
const METHODS: &[&str] = &["GET", "POST"];
const CODES: &[&str] = &["200", "404", "500"];
const BUCKETS: &[&str] = &["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
const MODES: &[&str] = &["idle", "user", "system"];

/// A series of the dataset: labels and a value function of the sample index.
struct SeriesSpec {
    labels: Vec<(String, String)>,
    value: Box<dyn Fn(usize) -> Option<f64>>,
}

fn labels(name: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![("__name__".to_string(), name.to_string())];
    v.extend(
        pairs
            .iter()
            .map(|(k, val)| (k.to_string(), val.to_string())),
    );
    v.sort();
    v
}

/// A cheap deterministic pseudo-random number in [0, 1) from two seeds.
fn noise(seed: u64, i: usize) -> f64 {
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i as u64);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn specs() -> Vec<SeriesSpec> {
    let mut out = Vec::new();
    let mut seed = 1u64;
    for (j, job) in JOBS.iter().enumerate() {
        for (n, instance) in INSTANCES.iter().enumerate() {
            seed += 1;
            let down = j == 1 && n == 3;
            out.push(SeriesSpec {
                labels: labels("up", &[("job", job), ("instance", instance)]),
                value: Box::new(move |i| Some(if down && i % 50 < 10 { 0.0 } else { 1.0 })),
            });
            for method in METHODS {
                for code in CODES {
                    seed += 1;
                    let s = seed;
                    let reset_at = if s.is_multiple_of(7) {
                        Some(200usize)
                    } else {
                        None
                    };
                    out.push(SeriesSpec {
                        labels: labels(
                            "http_requests_total",
                            &[
                                ("job", job),
                                ("instance", instance),
                                ("method", method),
                                ("code", code),
                            ],
                        ),
                        value: Box::new(move |i| {
                            let start = reset_at.filter(|r| i >= *r).unwrap_or(0);
                            let total: f64 =
                                (start..=i).map(|k| (noise(s, k) * 10.0).floor()).sum();
                            Some(total)
                        }),
                    });
                }
            }
            seed += 1;
            let s = seed;
            let mut cumulative = 0.0;
            let weights: Vec<f64> = BUCKETS
                .iter()
                .map(|_| {
                    cumulative += 1.0;
                    cumulative
                })
                .collect();
            for (b, le) in BUCKETS.iter().enumerate() {
                let w = weights[b];
                out.push(SeriesSpec {
                    labels: labels(
                        "http_request_duration_seconds_bucket",
                        &[("job", job), ("instance", instance), ("le", le)],
                    ),
                    value: Box::new(move |i| {
                        Some((0..=i).map(|k| (noise(s, k) * w * 3.0).floor()).sum())
                    }),
                });
            }
            out.push(SeriesSpec {
                labels: labels(
                    "http_request_duration_seconds_count",
                    &[("job", job), ("instance", instance)],
                ),
                value: Box::new(move |i| {
                    Some((0..=i).map(|k| (noise(s, k) * 7.0 * 3.0).floor()).sum())
                }),
            });
            out.push(SeriesSpec {
                labels: labels(
                    "http_request_duration_seconds_sum",
                    &[("job", job), ("instance", instance)],
                ),
                value: Box::new(move |i| Some((0..=i).map(|k| noise(s + 99, k) * 4.0).sum())),
            });
        }
    }
    for (n, instance) in INSTANCES.iter().enumerate() {
        seed += 1;
        let s = seed;
        let zone = if n % 2 == 0 { "a" } else { "b" };
        out.push(SeriesSpec {
            labels: labels(
                "node_memory_bytes",
                &[("instance", instance), ("zone", zone)],
            ),
            value: Box::new(move |i| {
                Some(4e8 + 2e8 * ((i as f64) / 40.0 + n as f64).sin() + 1e6 * noise(s, i))
            }),
        });
        out.push(SeriesSpec {
            labels: labels("node_info", &[("instance", instance), ("zone", zone)]),
            value: Box::new(|_| Some(1.0)),
        });
        out.push(SeriesSpec {
            labels: labels(
                "node_temperature_celsius",
                &[("instance", instance), ("zone", zone)],
            ),
            // Gaps: one sample in nine is missing.
            value: Box::new(move |i| {
                (i % 9 != 4).then(|| 35.0 + 10.0 * noise(s, i / 20) + (i % 20) as f64 * 0.25)
            }),
        });
        for mode in MODES {
            seed += 1;
            let s = seed;
            let share = match *mode {
                "idle" => 0.7,
                "user" => 0.2,
                _ => 0.1,
            };
            out.push(SeriesSpec {
                labels: labels(
                    "node_cpu_seconds_total",
                    &[("instance", instance), ("mode", mode), ("cpu", "0")],
                ),
                value: Box::new(move |i| {
                    Some(
                        (0..=i)
                            .map(|k| 15.0 * share * (0.8 + 0.4 * noise(s, k)))
                            .sum(),
                    )
                }),
            });
        }
    }
    out
}

/// The dataset as remote-write series, `points` samples per series ending at `end_ms`, cut into
/// batches of `batch_points` timestamps (time order across batches, as a sender would).
pub fn dashboard_dataset(end_ms: i64, points: usize, batch_points: usize) -> Vec<Vec<TimeSeries>> {
    let specs = specs();
    let first = end_ms - (points as i64 - 1) * INTERVAL_MS;
    let mut batches = Vec::new();
    let mut from = 0;
    while from < points {
        let to = (from + batch_points).min(points);
        let mut batch = Vec::new();
        for spec in &specs {
            let samples: Vec<Sample> = (from..to)
                .filter_map(|i| {
                    (spec.value)(i).map(|value| Sample {
                        value,
                        timestamp: first + i as i64 * INTERVAL_MS,
                    })
                })
                .collect();
            if samples.is_empty() {
                continue;
            }
            batch.push(TimeSeries {
                labels: spec
                    .labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples,
                ..TimeSeries::default()
            });
        }
        batches.push(batch);
        from = to;
    }
    batches
}

/// GETs a Prometheus-API URL and returns `data`, failing on a non-success envelope.
pub async fn api_get(
    http: &reqwest::Client,
    url: &str,
    params: &[(&str, String)],
) -> Result<Value> {
    let response = http
        .get(url)
        .query(params)
        .send()
        .await
        .context(url.to_string())?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url}: body is not JSON ({status})"))?;
    if body["status"] != "success" {
        bail!("{url} {params:?}: {status} {body}");
    }
    Ok(body["data"].clone())
}

/// Points of a result (`[t, value]`) by series (the label map as JSON text).
type SeriesPoints = BTreeMap<String, Vec<(f64, String)>>;

/// A result's type and its series, for comparison.
fn result_map(data: &Value) -> Result<(String, SeriesPoints)> {
    let kind = data["resultType"].as_str().unwrap_or_default().to_string();
    let mut out = BTreeMap::new();
    match kind.as_str() {
        "scalar" | "string" => {
            let v = &data["result"];
            out.insert(String::new(), vec![point(v)?]);
        }
        "vector" | "matrix" => {
            for item in data["result"]
                .as_array()
                .context("result is not an array")?
            {
                let key = item["metric"].to_string();
                let points = if kind == "vector" {
                    vec![point(&item["value"])?]
                } else {
                    item["values"]
                        .as_array()
                        .context("values is not an array")?
                        .iter()
                        .map(point)
                        .collect::<Result<_>>()?
                };
                if out.insert(key.clone(), points).is_some() {
                    bail!("duplicate series {key}");
                }
            }
        }
        other => bail!("unknown resultType {other:?}"),
    }
    Ok((kind, out))
}

fn point(v: &Value) -> Result<(f64, String)> {
    let t = v[0].as_f64().context("point time")?;
    let value = v[1].as_str().context("point value")?.to_string();
    Ok((t, value))
}

/// Two float texts equal within `rel` relative tolerance (NaN equals NaN, infinities exactly,
/// and an absolute floor of 1e-12 when one side is 0, as the shared query bench compares).
pub fn values_equal(a: &str, b: &str, rel: f64) -> bool {
    if a == b {
        return true;
    }
    let (Ok(x), Ok(y)) = (parse_float(a), parse_float(b)) else {
        return false;
    };
    if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
        return x.is_nan() && y.is_nan() || x == y;
    }
    if x == 0.0 || y == 0.0 {
        return (x - y).abs() < 1e-12;
    }
    (x - y).abs() / (x.abs() + y.abs()) < rel
}

fn parse_float(s: &str) -> Result<f64, std::num::ParseFloatError> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other.parse(),
    }
}

/// Compares two `data` objects of query answers; returns the differences (empty when equal).
pub fn compare(ours: &Value, reference: &Value, rel: f64) -> Vec<String> {
    let (a, b) = match (result_map(ours), result_map(reference)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return vec![format!("ours: {e:#}")],
        (_, Err(e)) => return vec![format!("reference: {e:#}")],
    };
    let mut diffs = Vec::new();
    if a.0 != b.0 {
        diffs.push(format!("resultType {} != {}", a.0, b.0));
    }
    for (key, points) in &b.1 {
        match a.1.get(key) {
            None => diffs.push(format!("missing series {key}")),
            Some(ours) if ours.len() != points.len() => diffs.push(format!(
                "{key}: {} points, reference has {}",
                ours.len(),
                points.len()
            )),
            Some(ours) => {
                for (p, q) in ours.iter().zip(points) {
                    if p.0 != q.0 || !values_equal(&p.1, &q.1, rel) {
                        diffs.push(format!("{key}: {p:?} != {q:?}"));
                        break;
                    }
                }
            }
        }
    }
    for key in a.1.keys().filter(|k| !b.1.contains_key(*k)) {
        diffs.push(format!("extra series {key}"));
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_fifty_queries() {
        assert!(DASHBOARD_QUERIES.len() >= 50, "{}", DASHBOARD_QUERIES.len());
    }

    #[test]
    fn dataset_is_in_time_order_and_deterministic() {
        let a = dashboard_dataset(1_000_000_000, 100, 30);
        let b = dashboard_dataset(1_000_000_000, 100, 30);
        assert_eq!(a, b);
        assert_eq!(a.len(), 4);
        let last = |batch: &Vec<TimeSeries>| {
            batch
                .iter()
                .flat_map(|s| s.samples.iter().map(|x| x.timestamp))
                .max()
                .unwrap()
        };
        assert!(last(&a[0]) < last(&a[1]));
        assert_eq!(last(&a[3]), 1_000_000_000);
    }

    #[test]
    fn value_tolerance() {
        assert!(values_equal("1", "1.0000000001", 1e-6));
        assert!(!values_equal("1", "1.1", 1e-6));
        assert!(values_equal("NaN", "NaN", 1e-6));
        assert!(!values_equal("+Inf", "1", 1e-6));
        // Near zero an absolute floor of 1e-12 applies (as in the shared query bench).
        assert!(values_equal("0", "1e-300", 1e-6));
        assert!(!values_equal("0", "1e-9", 1e-6));
    }

    #[test]
    fn compare_reports_missing_and_different_series() {
        let a: Value = serde_json::json!({"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1.0,"2"]}]});
        let b: Value = serde_json::json!({"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1.0,"3"]},{"metric":{"a":"2"},"value":[1.0,"3"]}]});
        let diffs = compare(&a, &b, 1e-6);
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert!(compare(&a, &a, 1e-6).is_empty());
    }
}
