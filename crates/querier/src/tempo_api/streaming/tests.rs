//! The streaming API: request translation and answers in unit tests; then Grafana's T4 over
//! a real socket (the Tempo HTTP router merged with [`tempo_streaming_router`] over a
//! [`MemTracesSource`]): a tonic client on plaintext HTTP/2 and an HTTP/1.1 `GET /api/echo`
//! on the same port, the gRPC answers compared with the HTTP API's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value as Json;
use sextant_kit::tenant::TenantResolver;
use sextant_proto::tempopb::streaming_querier_client::StreamingQuerierClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use tonic::Code;

use super::*;
use crate::tempo_api::tests::{app, checkout_trace, get, health_trace, SECOND, T0, TENANT};
use crate::tempo_api::MemTracesSource;

/// Tempo's form of the checkout trace's ID (hex without leading zeros).
const CHECKOUT: &str = "af7651916cd43dd8448eb211c80319c";

fn base() -> TracesSearchParams {
    TracesSearchParams {
        query: "{}".into(),
        limit: search::DEFAULT_LIMIT,
        spans_per_span_set: search::DEFAULT_SPANS_PER_SPAN_SET,
        ..Default::default()
    }
}

fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn search_requests_follow_the_http_rules() {
    let cases = [
        (SearchRequest::default(), base()),
        (
            SearchRequest {
                query: "{ .a = 1 }".into(),
                limit: 5,
                spans_per_span_set: 10,
                start: 10,
                end: 20,
                ..Default::default()
            },
            TracesSearchParams {
                query: "{ .a = 1 }".into(),
                limit: 5,
                spans_per_span_set: 10,
                start_ns: 10 * SECOND as i64,
                end_ns: 20 * SECOND as i64,
                ..base()
            },
        ),
        (
            SearchRequest {
                tags: tags(&[("service.name", "api"), ("error", "true")]),
                min_duration_ms: 100,
                ..Default::default()
            },
            TracesSearchParams {
                query:
                    r#"{ status = error && .service.name = "api" && traceDuration >= 100000000ns }"#
                        .into(),
                min_duration_ns: 100_000_000,
                ..base()
            },
        ),
        (
            SearchRequest {
                max_duration_ms: 1000,
                ..Default::default()
            },
            TracesSearchParams {
                query: "{ traceDuration <= 1000000000ns }".into(),
                max_duration_ns: SECOND,
                ..base()
            },
        ),
    ];
    for (request, want) in cases {
        assert_eq!(
            search_request_params(&request).unwrap(),
            want,
            "{request:?}"
        );
    }
}

#[test]
fn bad_search_requests_are_rejected() {
    let cases = [
        (
            SearchRequest {
                query: "{}".into(),
                tags: tags(&[("a", "1")]),
                ..Default::default()
            },
            "can't specify tags and q",
        ),
        (
            SearchRequest {
                min_duration_ms: 2000,
                max_duration_ms: 1000,
                ..Default::default()
            },
            "must be greater than minDuration",
        ),
        (
            SearchRequest {
                start: 20,
                end: 10,
                ..Default::default()
            },
            "start must be before end",
        ),
    ];
    for (request, want) in cases {
        let e = search_request_params(&request).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains(want), "{request:?}: {}", e.message);
    }
}

#[test]
fn errors_map_to_grpc_codes() {
    let cases = [
        (
            status_from_tempo(TempoError::bad_request("x")),
            Code::InvalidArgument,
        ),
        (
            status_from_tempo(TempoError::not_found("x")),
            Code::NotFound,
        ),
        (status_from_tempo(TempoError::internal("x")), Code::Internal),
        (
            status_from_source(QuerierError::Ingesters("down".into())),
            Code::Unavailable,
        ),
        (
            status_from_source(QuerierError::Blocks("corrupt".into())),
            Code::Internal,
        ),
        (
            status_from_source(QuerierError::BadRequest("no".into())),
            Code::InvalidArgument,
        ),
    ];
    for (status, want) in cases {
        assert_eq!(status.code(), want, "{status:?}");
    }
}

#[test]
fn search_responses_are_complete() {
    let outcome = TracesSearchOutcome {
        traces: vec![TraceqlTraceMatch {
            trace_id: "ab".into(),
            root_service_name: "svc".into(),
            root_trace_name: "GET /".into(),
            start_time_unix_nano: 7,
            duration_ms: u64::MAX,
            span_sets: vec![TraceqlSpanSet {
                spans: vec![TraceqlSpan {
                    span_id: "01".into(),
                    name: "GET /".into(),
                    start_time_unix_nano: 7,
                    duration_nanos: 9,
                    attributes: vec![],
                }],
                matched: 3,
                attributes: vec![],
            }],
        }],
        inspected_traces: 4,
        inspected_bytes: 100,
        completed_jobs: 2,
        total_jobs: 3,
    };
    let response = search_response(outcome);
    let trace = &response.traces[0];
    assert_eq!(trace.trace_id, "ab");
    assert_eq!(trace.duration_ms, u32::MAX);
    assert_eq!(trace.span_set.as_ref(), trace.span_sets.first());
    assert_eq!(trace.span_sets[0].matched, 3);
    assert_eq!(trace.span_sets[0].spans[0].duration_nanos, 9);
    let metrics = response.metrics.unwrap();
    assert_eq!(
        (
            metrics.inspected_traces,
            metrics.inspected_bytes,
            metrics.completed_jobs,
            metrics.total_jobs
        ),
        (4, 100, 3, 3)
    );
}

/// The service alone (no socket), multi-tenancy on.
fn service() -> (TempoStreamingQuerier, Arc<MemTracesSource>) {
    let source = Arc::new(MemTracesSource::new());
    source.push(TENANT, checkout_trace());
    source.push(TENANT, health_trace());
    let state = TempoApiState::new(source.clone(), TenantResolver::new(true));
    (TempoStreamingQuerier::new(state), source)
}

fn with_tenant<T>(message: T, tenant: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(tenant) = tenant {
        request
            .metadata_mut()
            .insert("x-scope-orgid", tenant.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn failures_are_statuses() {
    let (service, source) = service();
    let query = |q: &str| SearchRequest {
        query: q.to_owned(),
        ..Default::default()
    };
    let e = service
        .search(with_tenant(query("{}"), None))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = service
        .search(with_tenant(query("{ .a = }"), Some(TENANT)))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("invalid TraceQL query"), "{e:?}");
    let e = service
        .search_tag_values_v2(with_tenant(
            SearchTagValuesRequest {
                tag_name: "foo".into(),
                ..Default::default()
            },
            Some(TENANT),
        ))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), Code::InvalidArgument);
    source.set_failure(Some(QuerierError::Ingesters("no quorum".into())));
    let e = service
        .search(with_tenant(query("{}"), Some(TENANT)))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("no quorum"), "{e:?}");
}

/// The Tempo HTTP API and the streaming API on one listener, as the server wires them.
async fn serve() -> (SocketAddr, axum::Router) {
    let (http, source) = app();
    let state = TempoApiState::new(source, TenantResolver::new(true));
    let router = http.clone().merge(tempo_streaming_router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, http)
}

async fn client(addr: SocketAddr) -> StreamingQuerierClient<Channel> {
    StreamingQuerierClient::connect(format!("http://{addr}"))
        .await
        .expect("h2c connection")
}

/// Every message of a server stream.
async fn all<T>(stream: Result<Response<tonic::Streaming<T>>, Status>) -> Vec<T> {
    let mut stream = stream.expect("call").into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.next().await {
        messages.push(message.expect("message"));
    }
    messages
}

/// A raw HTTP/1.1 exchange: the status line and the body.
async fn http1_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    socket.read_to_string(&mut reply).await.unwrap();
    let status = reply.lines().next().unwrap_or_default().to_owned();
    let body = reply
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn t4_grafana_streaming_search_on_the_http_port() {
    let (addr, http) = serve().await;
    let mut grpc = client(addr).await;
    let (start, end) = (T0 / SECOND, T0 / SECOND + 3600);
    let q = r#"{ resource.service.name = "checkout" }"#;
    let request = SearchRequest {
        query: q.into(),
        limit: 20,
        spans_per_span_set: 3,
        start: u32::try_from(start).unwrap(),
        end: u32::try_from(end).unwrap(),
        ..Default::default()
    };
    let messages = all(grpc.search(with_tenant(request, Some(TENANT))).await).await;
    assert_eq!(messages.len(), 1, "one final message");
    let answer = &messages[0];
    let ids: Vec<&str> = answer.traces.iter().map(|t| t.trace_id.as_str()).collect();
    assert_eq!(ids, [CHECKOUT]);
    let trace = &answer.traces[0];
    assert_eq!(trace.root_service_name, "frontend");
    assert_eq!(trace.root_trace_name, "GET /checkout");
    assert_eq!(trace.start_time_unix_nano, T0 + 10 * SECOND);
    let metrics = answer.metrics.unwrap();
    assert_eq!(metrics.completed_jobs, metrics.total_jobs);

    // The same search over HTTP says the same, span set by span set.
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let uri = format!("/api/search?q={q}&limit=20&spss=3&start={start}&end={end}");
    let json = get(&http, &uri, &[("X-Scope-OrgID", TENANT)]).await.json();
    let http_trace = &json["traces"][0];
    assert_eq!(http_trace["durationMs"], u64::from(trace.duration_ms));
    let http_sets = http_trace["spanSets"].as_array().unwrap();
    assert_eq!(http_sets.len(), trace.span_sets.len());
    for (http_set, set) in http_sets.iter().zip(&trace.span_sets) {
        assert_eq!(http_set["matched"], set.matched);
        let http_spans: Vec<&str> = http_set["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["spanID"].as_str().unwrap())
            .collect();
        let spans: Vec<&str> = set.spans.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(http_spans, spans);
    }
    assert_eq!(trace.span_set.as_ref(), trace.span_sets.first());

    // HTTP/1.1 still works on the same port.
    let (status, body) = http1_get(addr, "/api/echo").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "echo");
    let (status, _) = http1_get(addr, "/no/such/path").await;
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
}

#[tokio::test]
async fn t4_grafana_streaming_tags_match_the_http_api() {
    let (addr, http) = serve().await;
    let mut grpc = client(addr).await;
    let tenant_header = [("X-Scope-OrgID", TENANT)];

    let v2 = all(grpc
        .search_tags_v2(with_tenant(SearchTagsRequest::default(), Some(TENANT)))
        .await)
    .await;
    let json = get(&http, "/api/v2/search/tags", &tenant_header)
        .await
        .json();
    let scopes: Vec<Json> = v2[0]
        .scopes
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "tags": s.tags}))
        .collect();
    assert_eq!(Json::Array(scopes), json["scopes"]);
    assert!(v2[0].scopes.iter().any(|s| s.name == "intrinsic"));

    let v1 = all(grpc
        .search_tags(with_tenant(SearchTagsRequest::default(), Some(TENANT)))
        .await)
    .await;
    let json = get(&http, "/api/search/tags", &tenant_header).await.json();
    assert_eq!(serde_json::json!(v1[0].tag_names), json["tagNames"]);
    assert!(v1[0].tag_names.iter().any(|t| t == "service.name"));

    let request = SearchTagValuesRequest {
        tag_name: "resource.service.name".into(),
        query: r#"{ resource.service.name = "checkout" && }"#.into(),
        ..Default::default()
    };
    let values = all(grpc
        .search_tag_values_v2(with_tenant(request, Some(TENANT)))
        .await)
    .await;
    let got: Vec<(&str, &str)> = values[0]
        .tag_values
        .iter()
        .map(|v| (v.r#type.as_str(), v.value.as_str()))
        .collect();
    assert!(got.contains(&("string", "checkout")), "{got:?}");
    let json = get(
        &http,
        "/api/v2/search/tag/resource.service.name/values",
        &tenant_header,
    )
    .await
    .json();
    let want: Vec<(&str, &str)> = json["tagValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["type"].as_str().unwrap(), v["value"].as_str().unwrap()))
        .collect();
    assert_eq!(got, want);

    let request = SearchTagValuesRequest {
        tag_name: "service.name".into(),
        ..Default::default()
    };
    let values = all(grpc
        .search_tag_values(with_tenant(request, Some(TENANT)))
        .await)
    .await;
    let json = get(&http, "/api/search/tag/service.name/values", &tenant_header)
        .await
        .json();
    assert_eq!(serde_json::json!(values[0].tag_values), json["tagValues"]);
    assert!(values[0].tag_values.iter().any(|v| v == "frontend"));

    let e = grpc
        .search_tags(SearchTagsRequest::default())
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), Code::Unauthenticated);
}
