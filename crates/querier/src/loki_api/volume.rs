//! `index/volume` and `index/volume_range`: bytes of log lines per label set, Loki's way.
//! A stream's key is its labels restricted to `targetLabels` (comma separated), or to the
//! selector's label names when none are given (the whole stream for `{}`). With
//! `aggregateBy=labels` each such label counts on its own, as `{name:""}`. The `limit`
//! largest keys are kept (by total bytes, then name). Instant answers are a vector at
//! `end`; range answers a matrix with one point per `step` bucket `[t, t+step)` that has
//! data.

use std::collections::BTreeMap;

use axum::extract::State;
use sextant_logs::logql::eval::Stream;
use sextant_model::{Label, Labels, Matcher, TenantId};

use super::json::{push_matrix, push_vector};
use super::params::{self, bounds, selector_matchers};
use super::{LokiApiState, LokiError, LokiJson, LokiTenant};
use crate::api::params::Params;

/// Keys an answer keeps when `limit` is absent or 0.
const DEFAULT_VOLUME_LIMIT: usize = 100;

/// How a volume request groups streams.
#[derive(Debug, Clone, PartialEq)]
struct VolumeRequest {
    matchers: Vec<Matcher>,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    target_labels: Vec<String>,
    by_labels: bool,
}

impl VolumeRequest {
    fn parse(params: &Params, start_ns: i64, end_ns: i64) -> Result<Self, LokiError> {
        let limit = match params.get("limit") {
            "" | "0" => DEFAULT_VOLUME_LIMIT,
            _ => params::limit(params)?,
        };
        let by_labels = match params.get("aggregateBy") {
            "" | "series" => false,
            "labels" => true,
            _ => return Err(LokiError::bad_request("invalid aggregation option")),
        };
        let query = params.get("query");
        let matchers = if query.trim() == "{}" {
            Vec::new()
        } else {
            selector_matchers(query)?
        };
        let target_labels = params
            .get("targetLabels")
            .split(',')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        Ok(VolumeRequest {
            matchers,
            start_ns,
            end_ns,
            limit,
            target_labels,
            by_labels,
        })
    }

    /// The names a stream is keyed by; empty = all of its labels.
    fn key_names(&self) -> Vec<&str> {
        if !self.target_labels.is_empty() {
            return self.target_labels.iter().map(String::as_str).collect();
        }
        self.matchers.iter().map(|m| m.name.as_str()).collect()
    }

    /// The keys a stream's bytes count towards.
    fn keys(&self, labels: &Labels) -> Vec<Labels> {
        let names = self.key_names();
        let kept: Vec<Label> = labels
            .iter()
            .filter(|l| names.is_empty() || names.contains(&l.name.as_str()))
            .cloned()
            .collect();
        if self.by_labels {
            return kept
                .into_iter()
                .map(|l| Labels::from_sorted(vec![Label::new(l.name, "")]))
                .collect();
        }
        if kept.is_empty() {
            return Vec::new();
        }
        vec![Labels::from_sorted(kept)]
    }
}

/// Bytes per key and per bucket start (one bucket for instant requests).
type Volumes = BTreeMap<Labels, BTreeMap<i64, f64>>;

fn accumulate(request: &VolumeRequest, streams: &[Stream], step_ns: Option<i64>) -> Volumes {
    let mut volumes = Volumes::new();
    for stream in streams {
        let keys = request.keys(&stream.labels);
        if keys.is_empty() {
            continue;
        }
        for entry in &stream.entries {
            let bucket = match step_ns {
                Some(step) => request.start_ns + (entry.ts_ns - request.start_ns) / step * step,
                None => request.end_ns,
            };
            for key in &keys {
                *volumes
                    .entry(key.clone())
                    .or_default()
                    .entry(bucket)
                    .or_default() += entry.line.len() as f64;
            }
        }
    }
    top(volumes, request.limit)
}

/// The `limit` keys with the most bytes (ties by key).
fn top(volumes: Volumes, limit: usize) -> Volumes {
    let mut totals: Vec<(f64, Labels)> = volumes
        .iter()
        .map(|(key, points)| (points.values().sum(), key.clone()))
        .collect();
    totals.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let keep: Vec<Labels> = totals.into_iter().take(limit).map(|(_, k)| k).collect();
    volumes
        .into_iter()
        .filter(|(key, _)| keep.contains(key))
        .collect()
}

/// The request's streams, accumulated on a blocking thread (every entry is visited).
async fn volumes(
    state: &LokiApiState,
    tenant: &TenantId,
    request: VolumeRequest,
    step_ns: Option<i64>,
) -> Result<Volumes, LokiError> {
    let streams = state
        .source
        .select(tenant, &request.matchers, request.start_ns, request.end_ns)
        .await
        .map_err(LokiError::from_source)?;
    tokio::task::spawn_blocking(move || accumulate(&request, &streams, step_ns))
        .await
        .map_err(|e| LokiError::internal(format!("computing volumes failed: {e}")))
}

/// `GET|POST /index/volume`: `query`, `start`, `end`, `limit`, `targetLabels`,
/// `aggregateBy`.
pub async fn instant(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    params::direction(&params)?;
    let (start, end) = bounds(&params, (state.now_ns)())?;
    if end < start {
        return Err(LokiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    let request = VolumeRequest::parse(&params, start, end)?;
    let volumes = volumes(&state, &tenant, request, None).await?;
    let mut samples: Vec<(&Labels, f64)> = volumes
        .iter()
        .map(|(key, points)| (key, points.values().sum()))
        .collect();
    samples.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut data = String::from("{\"resultType\":\"vector\",\"result\":");
    push_vector(&mut data, samples.into_iter(), end);
    data.push('}');
    Ok(LokiJson::success(&data))
}

/// `GET|POST /index/volume_range`: as [`instant`], plus `step`.
pub async fn range(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    params: Params,
) -> Result<LokiJson, LokiError> {
    let (start, end) = params::range_bounds(&params, (state.now_ns)())?;
    params::direction(&params)?;
    let step = params::step(&params, start, end)?;
    let request = VolumeRequest::parse(&params, start, end)?;
    let volumes = volumes(&state, &tenant, request, Some(step)).await?;
    let series: Vec<(&Labels, Vec<(i64, f64)>)> = volumes
        .iter()
        .map(|(key, points)| (key, points.iter().map(|(t, v)| (*t, *v)).collect()))
        .collect();
    let mut data = String::from("{\"resultType\":\"matrix\",\"result\":");
    push_matrix(&mut data, series.iter().map(|(k, p)| (*k, p.as_slice())));
    data.push('}');
    Ok(LokiJson::success(&data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_logs::logql::eval::Entry;

    fn stream(pairs: &[(&str, &str)], entries: &[(i64, usize)]) -> Stream {
        Stream {
            labels: Labels::from_pairs(pairs.iter().copied()),
            entries: entries
                .iter()
                .map(|(ts, len)| Entry {
                    ts_ns: *ts,
                    line: "x".repeat(*len),
                    metadata: Labels::default(),
                })
                .collect(),
        }
    }

    fn request(query: &str) -> VolumeRequest {
        VolumeRequest::parse(&Params::parse(Some(query), None), 0, 100).unwrap()
    }

    /// (key as pairs, bucket, bytes)
    fn flat(volumes: &Volumes) -> Vec<(String, i64, f64)> {
        volumes
            .iter()
            .flat_map(|(k, points)| points.iter().map(move |(t, v)| (k.to_string(), *t, *v)))
            .collect()
    }

    #[test]
    fn keys_limits_and_buckets() {
        let streams = vec![
            stream(&[("app", "a"), ("env", "prod")], &[(0, 10), (50, 5)]),
            stream(&[("app", "b"), ("env", "prod")], &[(10, 1)]),
            stream(&[("env", "dev")], &[(10, 100)]),
        ];
        let a = r#"{app="a"}"#.to_string();
        let b = r#"{app="b"}"#.to_string();
        type Case<'a> = (&'a str, Option<i64>, Vec<(String, i64, f64)>);
        let cases: Vec<Case<'_>> = vec![
            (
                "query={app=~\".%2B\"}",
                None,
                vec![(a.clone(), 100, 15.0), (b.clone(), 100, 1.0)],
            ),
            (
                "query={app=~\".%2B\"}&limit=1",
                None,
                vec![(a.clone(), 100, 15.0)],
            ),
            (
                "query={}&targetLabels=env",
                None,
                vec![
                    (r#"{env="dev"}"#.to_string(), 100, 100.0),
                    (r#"{env="prod"}"#.to_string(), 100, 16.0),
                ],
            ),
            (
                "query={}&aggregateBy=labels",
                None,
                vec![
                    (r#"{app=""}"#.to_string(), 100, 16.0),
                    (r#"{env=""}"#.to_string(), 100, 116.0),
                ],
            ),
            (
                "query={app=~\".%2B\"}",
                Some(30),
                vec![(a.clone(), 0, 10.0), (a, 30, 5.0), (b, 0, 1.0)],
            ),
        ];
        for (query, step, want) in cases {
            let got = accumulate(&request(query), &streams, step);
            assert_eq!(flat(&got), want, "{query}");
        }
    }

    #[test]
    fn bad_aggregation() {
        let params = Params::parse(Some("query={}&aggregateBy=x"), None);
        let error = VolumeRequest::parse(&params, 0, 1).unwrap_err();
        assert_eq!(error.message, "invalid aggregation option");
    }
}
