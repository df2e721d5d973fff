//! `GET /api/search`: a TraceQL search (`q`), or the legacy form (`tags`, `minDuration`,
//! `maxDuration`) translated to TraceQL; `limit` (20), `spss` (3), `start`/`end` in Unix
//! seconds. The query is parsed and validated here, so that a bad or unsupported query is a
//! 400 with the parser's message before the data layer is asked.
//!
//! The answer is Tempo's `SearchResponse` in JSON: every trace with its `spanSets` and the
//! deprecated `spanSet` (the first one) that older Grafana versions read, nanosecond fields
//! and `inspectedBytes` as strings.

use axum::extract::State;
use serde::{Serialize, Serializer};
use sextant_traces::traceql::eval::{TraceqlEvaluator, TraceqlSpanSet, TraceqlTraceMatch};
use sextant_traces::traceql::parse;

use super::params::{duration_ns, positive_count, time_range_ns};
use super::{legacy, TempoApiState, TempoError, TempoJson, TempoTenant};
use crate::api::params::Params;
use crate::traces_source::{TracesSearchOutcome, TracesSearchParams};

/// Traces returned when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;
/// Spans shown per spanset when `spss` is absent.
pub const DEFAULT_SPANS_PER_SPAN_SET: u32 = 3;

/// `GET /api/search`.
pub async fn search(
    TempoTenant(tenant): TempoTenant,
    State(state): State<TempoApiState>,
    params: Params,
) -> Result<TempoJson, TempoError> {
    let request = search_params(&params)?;
    check_query(&request.query)?;
    let outcome = state
        .source
        .search(&tenant, request)
        .await
        .map_err(TempoError::from_source)?;
    TempoJson::serialize(&SearchResponse::new(&outcome))
}

/// The search a request asks for (Tempo's `ParseSearchRequest`).
pub fn search_params(params: &Params) -> Result<TracesSearchParams, TempoError> {
    let (start_ns, end_ns) = time_range_ns(params)?;
    let min_duration_ns = duration_ns(params, "minDuration")?;
    let max_duration_ns = duration_ns(params, "maxDuration")?;
    if min_duration_ns != 0 && max_duration_ns != 0 && min_duration_ns > max_duration_ns {
        return Err(TempoError::bad_request(
            "invalid maxDuration: must be greater than minDuration",
        ));
    }
    let (q, tags) = (params.get("q"), params.get("tags"));
    let query = match (q.is_empty(), tags.is_empty()) {
        (false, false) => {
            return Err(TempoError::bad_request(
                "invalid request: can't specify tags and q in the same query",
            ))
        }
        (false, true) => q.to_owned(),
        (true, _) => {
            let pairs = legacy::parse_logfmt(tags)
                .map_err(|e| TempoError::bad_request(format!("invalid tags: {e}")))?;
            legacy::legacy_query(&pairs, min_duration_ns, max_duration_ns)
        }
    };
    Ok(TracesSearchParams {
        query,
        start_ns,
        end_ns,
        limit: positive_count(params, "limit", DEFAULT_LIMIT)?,
        spans_per_span_set: positive_count(params, "spss", DEFAULT_SPANS_PER_SPAN_SET)?,
        min_duration_ns,
        max_duration_ns,
    })
}

/// Parses and validates a search query: 400 with the parser's message when it is not
/// TraceQL, is invalid, or is valid but not supported (e.g. TraceQL metrics).
pub fn check_query(query: &str) -> Result<(), TempoError> {
    let parsed = parse(query).map_err(|e| TempoError::from_traceql(&e))?;
    TraceqlEvaluator::new(&parsed).map_err(|e| TempoError::from_traceql(&e))?;
    Ok(())
}

/// Tempo's `SearchResponse`.
#[derive(Serialize)]
struct SearchResponse<'a> {
    traces: Vec<SearchTrace<'a>>,
    metrics: SearchMetrics,
}

/// A trace with the deprecated `spanSet` beside `spanSets`.
#[derive(Serialize)]
struct SearchTrace<'a> {
    #[serde(flatten)]
    trace: &'a TraceqlTraceMatch,
    #[serde(rename = "spanSet", skip_serializing_if = "Option::is_none")]
    span_set: Option<&'a TraceqlSpanSet>,
}

/// Tempo's `SearchMetrics` (uint64 fields are strings in protobuf JSON).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchMetrics {
    inspected_traces: u64,
    #[serde(serialize_with = "as_string")]
    inspected_bytes: u64,
    completed_jobs: u64,
    total_jobs: u64,
}

fn as_string<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl<'a> SearchResponse<'a> {
    fn new(outcome: &'a TracesSearchOutcome) -> Self {
        SearchResponse {
            traces: outcome
                .traces
                .iter()
                .map(|trace| SearchTrace {
                    trace,
                    span_set: trace.span_sets.first(),
                })
                .collect(),
            metrics: SearchMetrics {
                inspected_traces: outcome.inspected_traces,
                inspected_bytes: outcome.inspected_bytes,
                completed_jobs: outcome.completed_jobs,
                total_jobs: outcome.total_jobs,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query), None)
    }

    #[test]
    fn requests() {
        let s = 1_000_000_000;
        let base = TracesSearchParams {
            query: "{}".into(),
            limit: 20,
            spans_per_span_set: 3,
            ..Default::default()
        };
        let cases = [
            ("", base.clone()),
            (
                "q=%7B.a%3D1%7D&limit=5&spss=10&start=10&end=20",
                TracesSearchParams {
                    query: "{.a=1}".into(),
                    limit: 5,
                    spans_per_span_set: 10,
                    start_ns: 10 * s,
                    end_ns: 20 * s,
                    ..base.clone()
                },
            ),
            (
                "tags=service.name%3Dapi&minDuration=100ms",
                TracesSearchParams {
                    query: r#"{ .service.name = "api" && traceDuration >= 100000000ns }"#.into(),
                    min_duration_ns: 100_000_000,
                    ..base.clone()
                },
            ),
            (
                "q=%7B%7D&maxDuration=1s",
                TracesSearchParams {
                    max_duration_ns: s as u64,
                    ..base.clone()
                },
            ),
        ];
        for (query, want) in cases {
            assert_eq!(search_params(&params(query)).unwrap(), want, "{query}");
        }
    }

    #[test]
    fn bad_requests() {
        let cases = [
            ("q=%7B%7D&tags=a%3D1", "can't specify tags and q"),
            ("tags=%3Da", "invalid tags: unexpected '=' at pos 1"),
            (
                "minDuration=2s&maxDuration=1s",
                "must be greater than minDuration",
            ),
            ("minDuration=1", "invalid minDuration: time: missing unit"),
            ("spss=0", "invalid spss: must be a positive number"),
            ("limit=x", "invalid limit"),
        ];
        for (query, want) in cases {
            let e = search_params(&params(query)).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{query}: {}", e.message);
        }
    }

    #[test]
    fn queries_are_checked() {
        let cases = [
            ("{}", None),
            ("{ .a = 1 } | count() > 1", None),
            (
                "{ .a = }",
                Some("invalid TraceQL query: parse error at line 1"),
            ),
            ("{ } | rate()", Some("unsupported TraceQL")),
            ("{ .a = 1 } | max(name) > 1", Some("invalid TraceQL query")),
        ];
        for (query, want) in cases {
            match (check_query(query), want) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => {
                    assert_eq!(e.status, 400);
                    assert!(e.message.starts_with(want), "{query}: {}", e.message);
                }
                (got, want) => panic!("{query}: {got:?} vs {want:?}"),
            }
        }
    }
}
