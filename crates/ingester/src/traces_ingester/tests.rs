//! The traces ingester driven through its gRPC methods, on a temporary WAL directory.

use std::sync::atomic::AtomicU64;

use sextant_kit::overrides::Overrides;
use sextant_model::TenantLimits;
use sextant_proto::ingester::traces_ingester_server::TracesIngester as _;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sextant_traces::model::Trace;
use sextant_traces::search::{decode_trace, encode_trace};

use super::*;
use crate::test_support::test_clock;

const SEC: u64 = 1_000_000_000;
/// 2023-11-14, in ns: the spans' times.
pub(super) const BASE_NS: u64 = 1_700_000_000 * SEC;

pub(super) fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// A span of trace `trace`: span ID `span`, its parent (0 = root), `start_s` past
/// [`BASE_NS`], lasting `ms`, with an `http.method` attribute.
pub(super) fn span(trace: u8, span: u8, parent: u8, name: &str, start_s: u64, ms: u64) -> Span {
    let start = BASE_NS + start_s * SEC;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![span; 8],
        parent_span_id: match parent {
            0 => Vec::new(),
            p => vec![p; 8],
        },
        name: name.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * 1_000_000,
        attributes: vec![attr(
            "http.method",
            if span.is_multiple_of(2) {
                "GET"
            } else {
                "POST"
            },
        )],
        ..Span::default()
    }
}

/// Trace `id` of one service holding `spans`.
pub(super) fn trace(id: u8, service: &str, spans: Vec<Span>) -> Trace {
    Trace {
        id: TraceId([id; 16]),
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr("service.name", service)],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

pub(super) fn push_request(tenant: &str, traces: &[Trace]) -> TracesPushRequest {
    TracesPushRequest {
        tenant: tenant.into(),
        trace_ids: traces.iter().map(|t| t.id.0.to_vec()).collect(),
        traces: traces.iter().map(encode_trace).collect(),
    }
}

pub(super) fn ingester_with(
    dir: &Path,
    config: &IngesterTracesConfig,
    limits: TenantLimits,
    clock: Clock,
) -> Arc<TracesIngester> {
    let limits = TracesIngesterLimits::new(Overrides::fixed(limits), None, 3);
    let mut registry = Registry::default();
    Arc::new(TracesIngester::new(dir, config, limits, &mut registry).with_clock(clock))
}

fn ingester(dir: &Path) -> Arc<TracesIngester> {
    let clock = test_clock(&Arc::new(AtomicU64::new(1_700_000_000)));
    let config = IngesterTracesConfig::default();
    ingester_with(dir, &config, TenantLimits::default(), clock)
}

async fn find(grpc: &TracesGrpc, tenant: &str, id: u8) -> Option<Trace> {
    let request = TraceByIdRequest {
        tenant: tenant.into(),
        trace_id: vec![id; 16],
        ..TraceByIdRequest::default()
    };
    let answer = grpc.find_trace_by_id(Request::new(request)).await.unwrap();
    let bytes = answer.into_inner().trace;
    (!bytes.is_empty()).then(|| decode_trace(TraceId([id; 16]), &bytes).unwrap())
}

fn span_ids(trace: &Trace) -> Vec<u8> {
    let mut ids: Vec<u8> = trace.spans().map(|s| s.span_id[0]).collect();
    ids.sort();
    ids
}

/// Three traces: 1 (api, 3 spans, 2 s long), 2 (web, 2 spans), 3 (api, 1 span, 100 ms).
fn three_traces() -> Vec<Trace> {
    vec![
        trace(
            1,
            "api",
            vec![
                span(1, 1, 0, "GET /users", 0, 2000),
                span(1, 2, 1, "select", 0, 50),
                span(1, 3, 1, "render", 1, 30),
            ],
        ),
        trace(
            2,
            "web",
            vec![
                span(2, 1, 0, "GET /", 10, 300),
                span(2, 2, 1, "fetch", 10, 200),
            ],
        ),
        trace(3, "api", vec![span(3, 4, 0, "POST /orders", 20, 100)]),
    ]
}

#[tokio::test]
async fn pushed_fragments_are_found_merged_and_replayed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ingester = ingester(dir.path());
    let grpc = TracesGrpc(ingester.clone());
    let first = trace(7, "api", vec![span(7, 1, 0, "root", 0, 500)]);
    let reply = grpc
        .push(Request::new(push_request("t", &[first])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.traces_written, reply.spans_written), (1, 1));
    // a later fragment repeats span 1: every span comes back once
    let later = trace(
        7,
        "api",
        vec![span(7, 1, 0, "root", 0, 500), span(7, 2, 1, "child", 0, 20)],
    );
    grpc.push(Request::new(push_request("t", &[later])))
        .await
        .unwrap();
    let found = find(&grpc, "t", 7).await.unwrap();
    assert_eq!(span_ids(&found), [1, 2]);
    // (tenant, id) -> nothing held
    for (tenant, id) in [("t", 8), ("other", 7)] {
        assert_eq!(find(&grpc, tenant, id).await, None, "{tenant} {id}");
    }
    let (live, spans, wal_bytes) = ingester.metrics.snapshot();
    assert_eq!((live, spans), (1, 3));
    assert!(wal_bytes > 0);

    drop((grpc, ingester));
    let restarted = self::ingester(dir.path());
    assert_eq!(restarted.replay_all().await.unwrap(), 1);
    let found = find(&TracesGrpc(restarted), "t", 7).await.unwrap();
    assert_eq!(span_ids(&found), [1, 2]);
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = TracesGrpc(ingester(dir.path()));
    let mut uneven = push_request("t", &three_traces());
    uneven.trace_ids.pop();
    let mut short_id = push_request("t", &three_traces());
    short_id.trace_ids[1] = vec![1; 15];
    let bad_tenant = push_request("", &three_traces());
    // (request, text in the message)
    let cases = [
        (uneven, "2 trace IDs for 3 traces"),
        (short_id, "16 bytes, got 15"),
        (bad_tenant, "invalid tenant"),
    ];
    for (request, want) in cases {
        let status = grpc.push(Request::new(request)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{want}");
        assert!(status.message().contains(want), "{}", status.message());
    }
    let short = TraceByIdRequest {
        tenant: "t".into(),
        trace_id: vec![1; 4],
        ..TraceByIdRequest::default()
    };
    let status = grpc
        .find_trace_by_id(Request::new(short))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn traces_past_the_limits_are_refused_with_the_limit_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut limits = TenantLimits::default();
    limits.traces.max_traces_per_user = 2;
    limits.traces.max_bytes_per_trace = 800;
    let clock = test_clock(&Arc::new(AtomicU64::new(1_700_000_000)));
    let config = IngesterTracesConfig::default();
    let ingester = ingester_with(dir.path(), &config, limits, clock);
    let grpc = TracesGrpc(ingester.clone());
    let big_spans = (1..=20).map(|i| span(9, i, 0, "big", 0, 1)).collect();
    let mut traces = three_traces();
    traces.insert(0, trace(9, "api", big_spans));
    let reply = grpc
        .push(Request::new(push_request("t", &traces)))
        .await
        .unwrap()
        .into_inner();
    // trace 9 is too big; 1 and 2 fill the live traces; 3 is one too many
    assert_eq!((reply.traces_written, reply.spans_written), (2, 5));
    let by_limit: Vec<(&str, u64, u64)> = reply
        .rejections
        .iter()
        .map(|r| (r.limit.as_str(), r.traces, r.spans))
        .collect();
    assert_eq!(
        by_limit,
        [
            ("max_bytes_per_trace", 1, 20),
            ("max_traces_per_user", 1, 1)
        ]
    );
    for r in &reply.rejections {
        assert!(r.message.contains(&r.limit), "{}", r.message);
    }
    assert_eq!(ingester.metrics.refused("max_traces_per_user"), 1);
    assert_eq!(ingester.metrics.refused("max_bytes_per_trace"), 1);
    assert!(find(&grpc, "t", 3).await.is_none());
    // a live trace keeps accepting spans
    let more = trace(1, "api", vec![span(1, 5, 1, "more", 1, 10)]);
    let reply = grpc
        .push(Request::new(push_request("t", &[more])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.traces_written, reply.rejections.len()), (1, 0));
}

fn search_request(query: &str, limit: u32) -> TracesSearchRequest {
    TracesSearchRequest {
        tenant: "t".into(),
        query: query.into(),
        limit,
        spans_per_span_set: 3,
        ..TracesSearchRequest::default()
    }
}

/// The trace IDs (first byte) of a search's answer, in order.
async fn search_ids(grpc: &TracesGrpc, request: TracesSearchRequest) -> Vec<u8> {
    let answer = grpc
        .search(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    answer.traces.iter().map(|t| t.trace_id[0]).collect()
}

#[tokio::test]
async fn search_runs_traceql_over_the_traces_held() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = TracesGrpc(ingester(dir.path()));
    grpc.push(Request::new(push_request("t", &three_traces())))
        .await
        .unwrap();
    // (query, limit) -> trace IDs, newest first
    let cases: &[(&str, u32, &[u8])] = &[
        ("{}", 0, &[3, 2, 1]),
        ("", 0, &[3, 2, 1]),
        ("{}", 2, &[3, 2]),
        ("{ resource.service.name = \"api\" }", 0, &[3, 1]),
        (
            "{ span.http.method = \"POST\" && name = \"render\" }",
            0,
            &[1],
        ),
        ("{ duration > 1s }", 0, &[1]),
        ("{ resource.service.name = \"db\" }", 0, &[]),
    ];
    for &(query, limit, want) in cases {
        let got = search_ids(&grpc, search_request(query, limit)).await;
        assert_eq!(got, want, "{query} limit {limit}");
    }
    let answer = grpc
        .search(Request::new(search_request("{ name = \"select\" }", 0)))
        .await
        .unwrap()
        .into_inner();
    let m = &answer.traces[0];
    assert_eq!(
        (m.root_service_name.as_str(), m.root_trace_name.as_str()),
        ("api", "GET /users")
    );
    assert_eq!((m.duration_ms, m.span_sets[0].matched), (2000, 1));
    assert!(answer.inspected_traces >= 1 && answer.inspected_bytes > 0);
    // trace duration bounds and the time range
    let mut bounded = search_request("{}", 0);
    bounded.min_duration_ns = 250_000_000;
    assert_eq!(search_ids(&grpc, bounded).await, [2, 1]);
    let mut recent = search_request("{}", 0);
    recent.start_ns = (BASE_NS + 15 * SEC) as i64;
    assert_eq!(search_ids(&grpc, recent).await, [3]);
    // (query, text in the message)
    let bad = [
        ("{ .a = ", "invalid TraceQL query: parse error"),
        ("{ .a + 1 }", "invalid TraceQL query"),
    ];
    for (query, want) in bad {
        let status = grpc
            .search(Request::new(search_request(query, 0)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{query}");
        assert!(
            status.message().contains(want),
            "{query}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn tag_names_and_values_through_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = TracesGrpc(ingester(dir.path()));
    grpc.push(Request::new(push_request("t", &three_traces())))
        .await
        .unwrap();
    let tags = |scope: &str| TracesSearchTagsRequest {
        tenant: "t".into(),
        scope: scope.into(),
        ..TracesSearchTagsRequest::default()
    };
    let answer = grpc
        .search_tags(Request::new(tags("")))
        .await
        .unwrap()
        .into_inner();
    let scopes: Vec<(&str, Vec<&str>)> = answer
        .scopes
        .iter()
        .filter(|s| !s.tags.is_empty())
        .map(|s| (s.name.as_str(), s.tags.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        scopes,
        [
            ("resource", vec!["service.name"]),
            ("span", vec!["http.method"])
        ]
    );
    let status = grpc
        .search_tags(Request::new(tags("spam")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let values = |tag: &str, query: &str| TracesSearchTagValuesRequest {
        tenant: "t".into(),
        tag: tag.into(),
        query: query.into(),
        ..TracesSearchTagValuesRequest::default()
    };
    // (tag, filter) -> typed values
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case<'_>] = &[
        (
            "resource.service.name",
            "",
            &[("string", "api"), ("string", "web")],
        ),
        (
            "resource.service.name",
            "{ name = \"fetch\" }",
            &[("string", "web")],
        ),
        // a filter that does not parse is ignored
        (
            "resource.service.name",
            "{ name = ",
            &[("string", "api"), ("string", "web")],
        ),
        (
            "span.http.method",
            "{ resource.service.name = \"web\" }",
            &[("string", "GET"), ("string", "POST")],
        ),
    ];
    for &(tag, query, want) in cases {
        let answer = grpc
            .search_tag_values(Request::new(values(tag, query)))
            .await
            .unwrap()
            .into_inner();
        let got: Vec<(&str, &str)> = answer
            .values
            .iter()
            .map(|v| (v.r#type.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(got, want, "{tag} {query}");
    }
    let status = grpc
        .search_tag_values(Request::new(values("resource.", "")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}
