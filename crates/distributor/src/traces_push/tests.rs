//! The traces push path end to end through the router, against scripted in-memory ingesters
//! on a fixed ring (three instances unless a case needs more), RF 3.

use std::collections::BTreeMap;
use std::io::Write;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use prost::Message;
use sextant_model::TenantLimits;
use sextant_proto::ingester::TracesRejection;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
use sextant_ring::{Operation, TokenRing};
use sextant_traces::model::TraceId;
use tower::ServiceExt;

use super::*;
use crate::test_support::{self, test_ring, Answer, ScriptedIngesters};

/// What one scripted ingester does with every push.
#[derive(Debug, Clone, Copy, Default)]
pub(super) enum Behaviour {
    #[default]
    Ok,
    /// Takes the push but refuses every trace for `limit`, with this message.
    Refuse(&'static str, &'static str),
    Fail(tonic::Code, &'static str),
    /// Never answers.
    Hang,
}

/// Ingesters whose answers are scripted per address; record every push they are given.
pub(super) type FakeIngesters = ScriptedIngesters<Behaviour, TracesPushRequest>;

/// The spans of one trace as an ingester received them: span names in order.
type ReceivedTrace = Vec<String>;

impl FakeIngesters {
    /// Per trace ID, the spans the ingester at `addr` received.
    pub(super) fn traces_at(&self, addr: &str) -> BTreeMap<TraceId, ReceivedTrace> {
        let mut out = BTreeMap::new();
        for (_, request) in self.received.lock().iter().filter(|(a, _)| a == addr) {
            assert_eq!(request.trace_ids.len(), request.traces.len());
            for (id, data) in request.trace_ids.iter().zip(&request.traces) {
                let id = TraceId::from_bytes(id).expect("a 16-byte trace ID");
                let data = TracesData::decode(data.as_slice()).expect("an encoded TracesData");
                let names = data
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                    .inspect(|span| assert_eq!(span.trace_id, id.0, "a span of another trace"))
                    .map(|span| span.name.clone());
                let previous = out.insert(id, names.collect());
                assert!(previous.is_none(), "{id} sent twice to {addr}");
            }
        }
        out
    }
}

impl TracesIngesterClient for FakeIngesters {
    fn push(
        &self,
        addr: &str,
        request: TracesPushRequest,
    ) -> BoxFuture<'static, Result<TracesPushResponse, tonic::Status>> {
        let traces = request.traces.len() as u64;
        let spans = request
            .traces
            .iter()
            .map(|t| span_count(t.as_slice()))
            .sum();
        let answer = match self.take(addr, request) {
            Behaviour::Ok => Answer::Respond(TracesPushResponse {
                traces_written: traces,
                spans_written: spans,
                rejections: Vec::new(),
            }),
            Behaviour::Refuse(limit, message) => Answer::Respond(TracesPushResponse {
                rejections: vec![TracesRejection {
                    limit: limit.to_string(),
                    traces,
                    spans,
                    message: message.to_string(),
                }],
                ..TracesPushResponse::default()
            }),
            Behaviour::Fail(code, message) => Answer::Fail(code, message),
            Behaviour::Hang => Answer::Hang,
        };
        answer.into_future()
    }
}

fn span_count(data: &[u8]) -> u64 {
    let data = TracesData::decode(data).expect("an encoded TracesData");
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

pub(super) fn addr(i: usize) -> String {
    format!("traces-ingester-{i}:9095")
}

/// `n` ACTIVE, healthy instances with 64 tokens each spread by a multiplicative hash, RF 3.
pub(super) fn ring_of(n: usize) -> Arc<TokenRing> {
    test_ring(n, "traces-ingester", |i| {
        let mut tokens: Vec<u32> = (0..64u32)
            .map(|k| (i as u32 * 64 + k).wrapping_mul(0x9E37_79B9))
            .collect();
        tokens.sort_unstable();
        tokens
    })
}

pub(super) type Setup = test_support::Setup<Behaviour>;

impl Setup {
    fn build(self) -> (Router, Arc<FakeIngesters>) {
        let (distributor, ingesters) = self.distributor(&mut Registry::default());
        (distributor.router(), ingesters)
    }

    pub(super) fn distributor(
        self,
        registry: &mut Registry,
    ) -> (Arc<TracesDistributor>, Arc<FakeIngesters>) {
        let ring = ring_of(self.instances);
        self.assemble(ring, addr, |config, tenants, overrides, ring, clients| {
            TracesDistributor::new(config, tenants, overrides, ring, clients, registry)
        })
    }
}

/// The ID of test trace `n` (n > 0).
pub(super) fn trace_id(n: u8) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = 0xa0;
    id[15] = n;
    TraceId(id)
}

fn string(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    })
}

/// A valid span of trace `trace` named `name`, with span ID `n`.
pub(super) fn span(trace: u8, n: u8, name: &str) -> Span {
    Span {
        trace_id: trace_id(trace).0.to_vec(),
        span_id: vec![n; 8],
        name: name.to_string(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        ..Span::default()
    }
}

/// One resource per service, each with one scope holding the given spans.
pub(super) fn request(services: &[(&str, Vec<Span>)]) -> ExportTraceServiceRequest {
    let resource_spans = services
        .iter()
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_string(),
                    value: string(service),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".to_string(),
                    ..InstrumentationScope::default()
                }),
                spans: spans.clone(),
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Trace 1 (spans "a1", "a2" in `checkout`, "a3" in `payments`) and trace 2 ("b1").
pub(super) fn two_traces() -> ExportTraceServiceRequest {
    request(&[
        (
            "checkout",
            vec![span(1, 1, "a1"), span(2, 2, "b1"), span(1, 3, "a2")],
        ),
        ("payments", vec![span(1, 4, "a3")]),
    ])
}

fn two_traces_as_received() -> BTreeMap<TraceId, ReceivedTrace> {
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
    BTreeMap::from([
        (trace_id(1), names(&["a1", "a2", "a3"])),
        (trace_id(2), names(&["b1"])),
    ])
}

fn post(content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post("/v1/traces").header("content-type", content_type);
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    builder.body(Body::from(body)).unwrap()
}

fn protobuf(request: &ExportTraceServiceRequest) -> Request<Body> {
    post("application/x-protobuf", None, request.encode_to_vec())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, content_type, body.to_vec())
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test]
async fn protobuf_gzip_and_json_pushes_reach_every_replica_whole() {
    let sent = two_traces();
    let raw = sent.encode_to_vec();
    let json = serde_json::to_vec(&sent).unwrap();
    // (name, request, response content type)
    let cases = [
        ("protobuf", protobuf(&sent), "application/x-protobuf"),
        (
            "gzip protobuf",
            post("application/x-protobuf", Some("gzip"), gzip(&raw)),
            "application/x-protobuf",
        ),
        (
            "json",
            post("application/json", None, json.clone()),
            "application/json",
        ),
        (
            "gzip json",
            post("application/json; charset=utf-8", Some("gzip"), gzip(&json)),
            "application/json",
        ),
    ];
    for (name, request, want_type) in cases {
        let (router, ingesters) = Setup::default().build();
        let (status, content_type, body) = send(&router, request).await;
        assert_eq!(status, StatusCode::OK, "{name}: {}", text(&body));
        assert_eq!(content_type, want_type, "{name}");
        let response = match want_type {
            "application/json" => serde_json::from_slice(&body).unwrap(),
            _ => ExportTraceServiceResponse::decode(body.as_slice()).unwrap(),
        };
        assert_eq!(response, ExportTraceServiceResponse::default(), "{name}");
        for i in 1..=3 {
            let got = ingesters.traces_at(&addr(i));
            assert_eq!(got, two_traces_as_received(), "{name}: ingester {i}");
        }
        let tenants: Vec<String> = ingesters
            .received
            .lock()
            .iter()
            .map(|(_, r)| r.tenant.clone())
            .collect();
        assert_eq!(tenants, vec!["anonymous".to_string(); 3], "{name}");
    }
}

#[tokio::test]
async fn otlp_json_with_hex_ids_as_exporters_send_it() {
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name",
        "value":{"stringValue":"checkout"}}]},"scopeSpans":[{"scope":{"name":"manual"},
        "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "name":"GET /cart","kind":2,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":"1544712661000000000"}]}]}]}"#;
    let (router, ingesters) = Setup::default().build();
    let request = Request::post("/otlp/v1/traces")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, _, answer) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&answer));
    let id: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
    let want = BTreeMap::from([(id, vec!["GET /cart".to_string()])]);
    for i in 1..=3 {
        assert_eq!(ingesters.traces_at(&addr(i)), want, "ingester {i}");
    }
}

#[tokio::test]
async fn each_trace_goes_whole_to_exactly_its_rf_replicas() {
    let instances = 6;
    let (router, ingesters) = Setup {
        instances,
        ..Setup::default()
    }
    .build();
    // 60 traces of 3 spans each, every trace's spans spread over two resources.
    let (mut front, mut back) = (Vec::new(), Vec::new());
    for t in 1..=60u8 {
        front.push(span(t, 1, &format!("t{t}-root")));
        front.push(span(t, 2, &format!("t{t}-child")));
        back.push(span(t, 3, &format!("t{t}-db")));
    }
    let sent = request(&[("frontend", front), ("db", back)]);
    let (status, _, body) = send(&router, protobuf(&sent)).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let ring = ring_of(instances);
    let tenant = TenantId::default_tenant();
    let received: Vec<_> = (1..=instances)
        .map(|i| ingesters.traces_at(&addr(i)))
        .collect();
    let mut replicas = Vec::new();
    for t in 1..=60u8 {
        let id = trace_id(t);
        ring.get_indices(id.token(&tenant), Operation::Write, now_ms(), &mut replicas)
            .unwrap();
        assert_eq!(replicas.len(), 3);
        let want = vec![
            format!("t{t}-root"),
            format!("t{t}-child"),
            format!("t{t}-db"),
        ];
        for (i, at) in received.iter().enumerate() {
            let owner = replicas.contains(&i);
            assert_eq!(at.get(&id), owner.then_some(&want), "{id} on instance {i}");
        }
    }
    // one request per ingester, and the traces spread over all of them
    assert_eq!(ingesters.push_count(), instances);
    assert!(received.iter().all(|at| !at.is_empty()), "{received:?}");
}

#[tokio::test]
async fn replication_outcomes() {
    use tonic::Code;
    let ok = Behaviour::Ok;
    let down = Behaviour::Fail(Code::Unavailable, "connection refused");
    let live = Behaviour::Refuse(
        "max_traces_per_user",
        "LIVE_TRACES_EXCEEDED: max live traces per tenant exceeded: per-user traces limit \
         (local: 2 global: 0 actual local: 2) exceeded (max_traces_per_user)",
    );
    let too_large = Behaviour::Refuse(
        "max_bytes_per_trace",
        "TRACE_TOO_LARGE: max size of trace (10) exceeded while adding 20 bytes to trace \
         a0000000000000000000000000000001 (max_bytes_per_trace)",
    );
    // (name, behaviours, status, the body must contain)
    let cases: &[(&str, [Behaviour; 3], StatusCode, &str)] = &[
        ("all ok", [ok, ok, ok], StatusCode::OK, ""),
        ("one down", [ok, down, ok], StatusCode::OK, ""),
        ("one hangs", [Behaviour::Hang, ok, ok], StatusCode::OK, ""),
        (
            "two down",
            [down, ok, down],
            StatusCode::SERVICE_UNAVAILABLE,
            "failed to reach a quorum of ingesters for the write: ingester traces-ingester-",
        ),
        (
            "one down, one hangs past remote_timeout",
            [down, Behaviour::Hang, ok],
            StatusCode::SERVICE_UNAVAILABLE,
            "no answer within 200ms",
        ),
        (
            "live traces exceeded",
            [live, live, ok],
            StatusCode::TOO_MANY_REQUESTS,
            "exceeded (max_traces_per_user)",
        ),
        (
            "a ResourceExhausted answer is a limit",
            [
                Behaviour::Fail(Code::ResourceExhausted, "slow down"),
                Behaviour::Fail(Code::ResourceExhausted, "slow down"),
                ok,
            ],
            StatusCode::TOO_MANY_REQUESTS,
            "slow down",
        ),
        (
            "traces too large are a partial success",
            [too_large, too_large, too_large],
            StatusCode::OK,
            "",
        ),
    ];
    for (name, behaviour, want_status, want_body) in cases {
        let (router, ingesters) = Setup {
            behaviour: behaviour.to_vec(),
            ..Setup::default()
        }
        .build();
        let (status, _, body) = send(&router, protobuf(&two_traces())).await;
        assert_eq!(status, *want_status, "{name}: {}", text(&body));
        if status != StatusCode::OK {
            assert!(text(&body).contains(want_body), "{name}: {}", text(&body));
        }
        // RF 3 on 3 instances: every ingester is sent every trace, whatever it answers.
        for i in 1..=3 {
            assert_eq!(ingesters.traces_at(&addr(i)), two_traces_as_received());
        }
    }
}

#[tokio::test]
async fn traces_too_large_are_reported_in_partial_success() {
    let too_large = Behaviour::Refuse(
        "max_bytes_per_trace",
        "TRACE_TOO_LARGE: max size of trace (10) exceeded (max_bytes_per_trace)",
    );
    // (name, behaviours, rejected spans); the quorum is met by the first two answers, so a
    // hanging third ingester makes the second case deterministic.
    let cases = [
        ("every replica refuses", [too_large; 3], 4),
        (
            "one replica refuses",
            [too_large, Behaviour::Ok, Behaviour::Hang],
            2,
        ),
    ];
    for (name, behaviour, rejected) in cases {
        let (router, _) = Setup {
            behaviour: behaviour.to_vec(),
            ..Setup::default()
        }
        .build();
        let (status, _, body) = send(&router, protobuf(&two_traces())).await;
        assert_eq!(status, StatusCode::OK, "{name}: {}", text(&body));
        let response = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
        let partial = response.partial_success.expect("a partial success");
        assert_eq!(partial.rejected_spans, rejected, "{name}");
        assert_eq!(
            partial.error_message,
            format!(
                "{rejected} spans refused (trace_too_large): TRACE_TOO_LARGE: max size of \
                 trace (10) exceeded (max_bytes_per_trace)"
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn invalid_spans_are_dropped_and_reported() {
    let mut bad_span = span(2, 9, "bad");
    bad_span.span_id = vec![1, 2, 3];
    let some_bad = request(&[("checkout", vec![span(1, 1, "good"), bad_span.clone()])]);
    let (router, ingesters) = Setup::default().build();
    let (status, _, body) = send(&router, protobuf(&some_bad)).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let response = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
    let partial = response.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial
            .error_message
            .contains("resourceSpans[0].scopeSpans[0].spans[1].spanId: span ID must be 8 bytes"),
        "{partial:?}"
    );
    let want = BTreeMap::from([(trace_id(1), vec!["good".to_string()])]);
    assert_eq!(ingesters.traces_at(&addr(1)), want);

    // the same as OTLP/JSON: the answer is OTLP/JSON too
    let (router, _) = Setup::default().build();
    let json = post(
        "application/json",
        None,
        serde_json::to_vec(&some_bad).unwrap(),
    );
    let (status, _, body) = send(&router, json).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(partial["rejectedSpans"].to_string(), "1", "{answer}");
    let message = partial["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("spans[1].spanId"), "{answer}");

    // nothing valid left: 400 naming the field, and nothing sent
    let all_bad = request(&[("checkout", vec![bad_span])]);
    let (router, ingesters) = Setup::default().build();
    let (status, _, body) = send(&router, protobuf(&all_bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text(&body).starts_with(
            "no valid span in the request: 1 spans refused (invalid_span_id): \
             resourceSpans[0].scopeSpans[0].spans[0].spanId"
        ),
        "{}",
        text(&body)
    );
    assert_eq!(ingesters.push_count(), 0);
}

#[tokio::test]
async fn an_empty_export_is_answered_200_without_sending() {
    let (router, ingesters) = Setup::default().build();
    let (status, _, body) = send(&router, protobuf(&request(&[]))).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert_eq!(ingesters.push_count(), 0);
}

#[tokio::test]
async fn bad_bodies_are_refused_before_sending() {
    let small = Setup {
        config: DistributorConfig {
            max_recv_msg_size: 64,
            max_decompressed_size: 128,
            ..DistributorConfig::default()
        },
        ..Setup::default()
    };
    let big = request(&[("checkout", (1..=10).map(|n| span(1, n, "x")).collect())]);
    let raw = big.encode_to_vec();
    assert!(raw.len() > 128, "the body must exceed both limits");
    // (name, setup, request, status, the body must contain)
    let cases = [
        (
            "other content type",
            Setup::default(),
            post("text/plain", None, raw.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content type \"text/plain\" is not supported",
        ),
        (
            "other content encoding",
            Setup::default(),
            post("application/x-protobuf", Some("br"), raw.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content encoding \"br\" is not supported",
        ),
        (
            "body over max_recv_msg_size",
            small,
            protobuf(&big),
            StatusCode::PAYLOAD_TOO_LARGE,
            "the limit is 64 bytes (distributor.max_recv_msg_size)",
        ),
        (
            "gzip body over max_decompressed_size",
            Setup {
                config: DistributorConfig {
                    max_decompressed_size: 128,
                    ..DistributorConfig::default()
                },
                ..Setup::default()
            },
            post("application/x-protobuf", Some("gzip"), gzip(&raw)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "more than 128 bytes after decompression (distributor.max_decompressed_size)",
        ),
        (
            "malformed protobuf",
            Setup::default(),
            post("application/x-protobuf", None, vec![0xff; 8]),
            StatusCode::BAD_REQUEST,
            "decoding OTLP protobuf traces request",
        ),
    ];
    for (name, setup, request, want_status, want_body) in cases {
        let (router, ingesters) = setup.build();
        let (status, _, body) = send(&router, request).await;
        assert_eq!(status, want_status, "{name}: {}", text(&body));
        assert!(text(&body).contains(want_body), "{name}: {}", text(&body));
        assert_eq!(ingesters.push_count(), 0, "{name}");
    }
}

#[tokio::test]
async fn rate_limit_answers_429_naming_the_limit() {
    let sent = two_traces();
    let size = sextant_traces::model::TraceBatch::from_request(sent.clone()).encoded_len() as u64;
    let mut limits = TenantLimits::default();
    limits.traces.ingestion_rate_limit_bytes = 1;
    limits.traces.ingestion_burst_size_bytes = size;
    let (router, ingesters) = Setup {
        limits,
        ..Setup::default()
    }
    .build();
    let (status, _, body) = send(&router, protobuf(&sent)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the burst fits one push: {}",
        text(&body)
    );
    let (status, _, body) = send(&router, protobuf(&sent)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let want = format!(
        "RATE_LIMITED: ingestion rate limit (1 bytes) exceeded while adding {size} bytes for \
         user anonymous; reduce the span volume or raise the tenant's \
         limits.traces.ingestion_rate_limit_bytes"
    );
    assert!(text(&body).starts_with(&want), "{}", text(&body));
    assert_eq!(ingesters.push_count(), 3, "only the first push was sent");
}

#[tokio::test]
async fn tenants_come_from_the_org_id_header() {
    let (router, ingesters) = Setup {
        multitenancy: true,
        ..Setup::default()
    }
    .build();
    let mut request = protobuf(&two_traces());
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", text(&body));
    request = protobuf(&two_traces());
    request
        .headers_mut()
        .insert("X-Scope-OrgID", "team-a".parse().unwrap());
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let tenants: Vec<String> = ingesters
        .received
        .lock()
        .iter()
        .map(|(_, r)| r.tenant.clone())
        .collect();
    assert_eq!(tenants, vec!["team-a".to_string(); 3]);
}

#[tokio::test]
async fn self_metrics_count_spans_and_refusals() {
    let mut registry = Registry::default();
    let mut bad_span = span(3, 9, "bad");
    bad_span.trace_id = vec![0; 16];
    let mut sent = two_traces();
    sent.resource_spans[0].scope_spans[0].spans.push(bad_span);
    let (distributor, _) = Setup::default().distributor(&mut registry);
    let report = distributor
        .push_traces(
            &TenantId::default_tenant(),
            TracesPushInput::OtlpRequest(sent),
        )
        .await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(report.written.traces, 2);
    assert_eq!(report.written.spans, 4);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        "sextant_distributor_traces_received_spans_total{transport=\"otlp_grpc\"} 4",
        "sextant_distributor_traces_discarded_spans_total{reason=\"invalid_trace_id\"} 1",
        "sextant_distributor_traces_requests_total{transport=\"otlp_grpc\",status=\"200\"} 1",
        "sextant_distributor_traces_push_duration_seconds_count{transport=\"otlp_grpc\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    let bytes = format!(
        "sextant_distributor_traces_received_bytes_total{{transport=\"otlp_grpc\"}} {}",
        report.written.bytes
    );
    assert!(report.written.bytes > 0 && text.contains(&bytes), "{text}");
}
