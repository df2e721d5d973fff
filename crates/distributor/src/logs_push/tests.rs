//! The logs push path end to end through the router, against scripted in-memory ingesters on
//! a fixed ring (three instances, or more to see streams split), RF 3.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use parking_lot::Mutex;
use prost::Message;
use rand::SeedableRng;
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_logs::push::{batch_from_push_request, push_request_from_streams};
use sextant_model::{Labels, TenantLimits};
use sextant_proto::otlp::collector::logs::v1::ExportLogsServiceResponse;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_ring::{Operation, TokenRing};
use tower::ServiceExt;

use super::*;
use crate::test_support::{self, random_tokens, test_ring, Answer, ScriptedIngesters};

/// What one scripted ingester does with every push.
#[derive(Debug, Clone, Copy, Default)]
pub(super) enum Behaviour {
    #[default]
    Ok,
    /// Takes the push but refuses part of it, with this message.
    Refuse(&'static str),
    Fail(tonic::Code, &'static str),
    /// Never answers.
    Hang,
}

/// A stream as an ingester received it: labels text and (timestamp, line) entries.
pub(super) type ReceivedStream = (String, Vec<(i64, String)>);

/// Ingesters whose answers are scripted per address; records every push they are given.
pub(super) type FakeIngesters = ScriptedIngesters<Behaviour, LogsPushRequest>;

impl FakeIngesters {
    pub(super) fn streams_at(&self, addr: &str) -> Vec<ReceivedStream> {
        let received = self.received.lock();
        let mut out = Vec::new();
        for (_, request) in received.iter().filter(|(a, _)| a == addr) {
            let batch = batch_from_push_request(request.push.clone().unwrap()).unwrap();
            out.extend(batch.streams.iter().map(received_stream));
        }
        out
    }
}

impl LogsIngesterClient for FakeIngesters {
    fn push(
        &self,
        addr: &str,
        request: LogsPushRequest,
    ) -> BoxFuture<'static, Result<LogsPushResponse, tonic::Status>> {
        let answer = match self.take(addr, request) {
            Behaviour::Ok => Answer::Respond(LogsPushResponse::default()),
            Behaviour::Refuse(message) => Answer::Respond(LogsPushResponse {
                entries_rejected: 1,
                rejections: vec![message.to_string()],
                ..LogsPushResponse::default()
            }),
            Behaviour::Fail(code, message) => Answer::Fail(code, message),
            Behaviour::Hang => Answer::Hang,
        };
        answer.into_future()
    }
}

fn received_stream(stream: &Stream) -> ReceivedStream {
    (
        stream.labels.to_string(),
        stream
            .entries
            .iter()
            .map(|e| (e.ts_ns, e.line.clone()))
            .collect(),
    )
}

fn addr(i: usize) -> String {
    format!("ingester-{i}:9095")
}

/// `n` ACTIVE, healthy instances with 128 seeded random tokens each, RF 3.
fn ring_of(n: usize) -> Arc<TokenRing> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    test_ring(n, "ingester", |_| random_tokens(&mut rng))
}

pub(super) type Setup = test_support::Setup<Behaviour>;

impl Setup {
    fn build(self) -> (Router, Arc<FakeIngesters>) {
        let (distributor, ingesters) = self.distributor();
        (distributor.router(), ingesters)
    }

    pub(super) fn distributor(self) -> (Arc<LogsDistributor>, Arc<FakeIngesters>) {
        let ring = ring_of(self.instances);
        self.assemble(ring, addr, |config, tenants, overrides, ring, clients| {
            let registry = &mut Registry::default();
            LogsDistributor::new(config, tenants, overrides, ring, clients, registry)
        })
    }
}

fn stream(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> Stream {
    Stream {
        labels: Labels::from_pairs(labels.iter().copied()),
        entries: entries
            .iter()
            .map(|&(ts_ns, line)| Entry {
                ts_ns,
                line: line.to_string(),
                metadata: Labels::default(),
            })
            .collect(),
    }
}

/// A push as Promtail builds it: a snappy-block protobuf `PushRequest`.
fn promtail_body(streams: &[Stream]) -> Vec<u8> {
    let raw = push_request_from_streams(streams).encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn post(path: &str, content_type: &str, body: Vec<u8>, org: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(path).header("content-type", content_type);
    if let Some(org) = org {
        builder = builder.header("X-Scope-OrgID", org);
    }
    builder.body(Body::from(body)).unwrap()
}

fn loki_request(streams: &[Stream]) -> Request<Body> {
    post(
        "/loki/api/v1/push",
        "application/x-protobuf",
        promtail_body(streams),
        None,
    )
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

async fn send_text(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let (status, _, body) = send(router, request).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Two valid streams with recent entries.
fn two_streams() -> Vec<Stream> {
    let now = now_ns();
    vec![
        stream(
            &[("app", "api"), ("env", "prod")],
            &[(now - 1000, "GET /users 200"), (now, "GET /orders 500")],
        ),
        stream(&[("job", "varlogs")], &[(now, "kernel: oom")]),
    ]
}

/// The streams with the `service_name` the distributor discovers.
fn discovered(streams: &[Stream]) -> Vec<Stream> {
    let mut batch = sextant_logs::model::LogBatch {
        streams: streams.to_vec(),
    };
    let discover: Vec<String> = sextant_logs::push::DEFAULT_DISCOVER_SERVICE_NAME
        .iter()
        .map(|s| s.to_string())
        .collect();
    sextant_logs::push::discover_service_name(&mut batch, &discover);
    batch.streams
}

/// The streams as the ingesters must receive them.
fn as_received(streams: &[Stream]) -> Vec<ReceivedStream> {
    discovered(streams).iter().map(received_stream).collect()
}

pub(super) fn assert_every_replica_has(
    ingesters: &FakeIngesters,
    want: &[ReceivedStream],
    name: &str,
) {
    for i in 1..=3 {
        let got = ingesters.streams_at(&addr(i));
        assert_eq!(got.len(), want.len(), "{name}: ingester-{i} got {got:?}");
        for stream in want {
            assert!(
                got.contains(stream),
                "{name}: ingester-{i} lacks {stream:?}"
            );
        }
    }
}

#[tokio::test]
async fn replication_outcomes() {
    use tonic::Code;
    let ok = Behaviour::Ok;
    let down = Behaviour::Fail(Code::Unavailable, "connection refused");
    // (name, behaviours, status, the body must contain)
    let cases: &[(&str, [Behaviour; 3], StatusCode, &str)] = &[
        ("all ok", [ok, ok, ok], StatusCode::NO_CONTENT, ""),
        ("one down", [ok, down, ok], StatusCode::NO_CONTENT, ""),
        (
            "one hangs",
            [Behaviour::Hang, ok, ok],
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "two down",
            [down, ok, down],
            StatusCode::INTERNAL_SERVER_ERROR,
            "connection refused",
        ),
        (
            "one down, one hangs past remote_timeout",
            [down, Behaviour::Hang, ok],
            StatusCode::INTERNAL_SERVER_ERROR,
            "no answer within 200ms",
        ),
        (
            "ingesters refuse an entry",
            [Behaviour::Refuse("entry out of order"), ok, ok],
            StatusCode::BAD_REQUEST,
            "entry out of order",
        ),
        (
            "an InvalidArgument answer is the client's problem",
            [
                Behaviour::Fail(Code::InvalidArgument, "stream limit"),
                ok,
                ok,
            ],
            StatusCode::BAD_REQUEST,
            "stream limit",
        ),
        (
            "a limit the ingesters enforce (the tenant's streams) is a 429, as in Loki",
            [
                Behaviour::Fail(
                    Code::ResourceExhausted,
                    "Maximum active stream limit exceeded",
                ),
                Behaviour::Fail(
                    Code::ResourceExhausted,
                    "Maximum active stream limit exceeded",
                ),
                ok,
            ],
            StatusCode::TOO_MANY_REQUESTS,
            "Maximum active stream limit exceeded",
        ),
    ];
    let sent = two_streams();
    for (name, behaviour, want_status, want_body) in cases {
        let (router, ingesters) = Setup {
            behaviour: behaviour.to_vec(),
            ..Setup::default()
        }
        .build();
        let (status, body) = send_text(&router, loki_request(&sent)).await;
        assert_eq!(status, *want_status, "{name}: {body}");
        assert!(body.contains(want_body), "{name}: {body:?}");
        // RF 3 on 3 instances: every ingester is sent every stream, whatever it answers.
        assert_every_replica_has(&ingesters, &as_received(&sent), name);
        assert_eq!(ingesters.tenants(), vec!["anonymous".to_string(); 3]);
    }
}

#[tokio::test]
async fn promtail_and_json_pushes_reach_every_replica() {
    let now = now_ns();
    let json = format!(
        r#"{{"streams":[{{"stream":{{"app":"web","level":"info"}},"values":[["{now}","hello"],["{}","world",{{"trace_id":"abc"}}]]}}]}}"#,
        now + 1
    );
    let want_json = vec![(
        r#"{app="web", level="info", service_name="web"}"#.to_string(),
        vec![(now, "hello".to_string()), (now + 1, "world".to_string())],
    )];
    let sent = two_streams();
    // (name, request, expected streams)
    let cases = [
        ("promtail protobuf", loki_request(&sent), as_received(&sent)),
        (
            "json",
            post(
                "/loki/api/v1/push",
                "application/json",
                json.into_bytes(),
                None,
            ),
            want_json,
        ),
    ];
    for (name, request, want) in cases {
        let (router, ingesters) = Setup::default().build();
        let (status, body) = send_text(&router, request).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}: {body}");
        assert_every_replica_has(&ingesters, &want, name);
    }
}

#[tokio::test]
async fn streams_split_across_ingesters_by_hash() {
    let (router, ingesters) = Setup {
        instances: 6,
        ..Setup::default()
    }
    .build();
    let now = now_ns();
    let streams: Vec<Stream> = (0..40)
        .map(|i| stream(&[("app", &format!("app-{i}"))], &[(now, "line")]))
        .collect();
    let (status, body) = send_text(&router, loki_request(&streams)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ring = ring_of(6);
    let tenant = TenantId::default_tenant();
    let mut replicas = Vec::new();
    let mut per_ingester = vec![0; 6];
    for sent in discovered(&streams) {
        let stream = received_stream(&sent);
        let token = prepare::stream_token(&tenant, &sent.labels);
        ring.get_indices(token, Operation::Write, now / 1_000_000, &mut replicas)
            .unwrap();
        assert_eq!(replicas.len(), 3);
        for (i, count) in per_ingester.iter_mut().enumerate() {
            let at = ingesters.streams_at(&ring.instances()[i].addr);
            let owner = replicas.contains(&i);
            assert_eq!(at.contains(&stream), owner, "{} on instance {i}", stream.0);
            *count += usize::from(owner);
        }
    }
    // each ingester got a part of the streams, not all of them
    assert!(
        per_ingester.iter().all(|&n| n > 0 && n < 40),
        "{per_ingester:?}"
    );
}

#[tokio::test]
async fn invalid_entries_are_reported_and_valid_ones_written() {
    let (router, ingesters) = Setup::default().build();
    let now = now_ns();
    let month_ago = now - 30 * 24 * 3600 * 1_000_000_000;
    let names: Vec<String> = (0..16).map(|i| format!("l{i}")).collect();
    let too_many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let sent = [
        stream(&[("app", "api")], &[(month_ago, "too old"), (now, "fresh")]),
        stream(&too_many, &[(now, "too many labels")]),
    ];
    let (status, body) = send_text(&router, loki_request(&sent)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2, "{body}");
    assert!(lines[0].contains("has timestamp too old"), "{body}");
    assert!(lines[1].contains("has 16 label names; limit 15"), "{body}");
    let want = as_received(&[stream(&[("app", "api")], &[(now, "fresh")])]);
    assert_every_replica_has(&ingesters, &want, "partial accept");
}

#[tokio::test]
async fn many_rejections_list_the_first_ten() {
    let (router, ingesters) = Setup::default().build();
    let month_ago = now_ns() - 30 * 24 * 3600 * 1_000_000_000;
    let streams: Vec<Stream> = (0..12)
        .map(|i| stream(&[("app", "api")], &[(month_ago - i * 1_000_000_000, "old")]))
        .collect();
    let (status, body) = send_text(&router, loki_request(&streams)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body.lines().count(), 11, "{body}");
    assert!(
        body.ends_with("(and 2 more errors in this request)"),
        "{body}"
    );
    assert_eq!(ingesters.push_count(), 0, "nothing valid to forward");
}

#[tokio::test]
async fn rate_limit_answers_429_with_lokis_message() {
    let mut limits = TenantLimits::default();
    limits.logs.ingestion_rate_mb = 100.0 / MIB;
    limits.logs.ingestion_burst_size_mb = 150.0 / MIB;
    let (router, ingesters) = Setup {
        limits,
        ..Setup::default()
    }
    .build();
    let line = "x".repeat(100);
    let one = [stream(&[("app", "api")], &[(now_ns(), line.as_str())])];
    let (status, body) = send_text(&router, loki_request(&one)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(ingesters.push_count(), 3);
    let (status, body) = send_text(&router, loki_request(&one)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body,
        "Ingestion rate limit exceeded for user anonymous (limit: 100 bytes/sec) while \
         attempting to ingest '1' lines totaling '100' bytes, reduce log volume or contact \
         your Loki administrator to see if the limit can be increased"
    );
    assert_eq!(ingesters.push_count(), 3, "a limited push is not forwarded");
}

#[tokio::test]
async fn bad_bodies_are_refused_before_forwarding() {
    let small = DistributorConfig {
        max_recv_msg_size: 16,
        ..DistributorConfig::default()
    };
    let body = promtail_body(&two_streams());
    assert!(body.len() > 16);
    let loki = "/loki/api/v1/push";
    // (name, config, path, content type, body, status, body must contain)
    let cases = [
        (
            "wrong content type",
            DistributorConfig::default(),
            loki,
            "text/plain",
            body.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "text/plain",
        ),
        (
            "body over max_recv_msg_size",
            small,
            loki,
            "application/x-protobuf",
            body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "max_recv_msg_size",
        ),
        (
            "not snappy",
            DistributorConfig::default(),
            loki,
            "application/x-protobuf",
            b"not snappy at all".to_vec(),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
        (
            "bad json",
            DistributorConfig::default(),
            loki,
            "application/json",
            br#"{"streams":[{"stream":{"a":"b"},"values":[["x","l"]]}]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "streams[0]",
        ),
        (
            "bad otlp",
            DistributorConfig::default(),
            "/otlp/v1/logs",
            "application/json",
            b"{".to_vec(),
            StatusCode::BAD_REQUEST,
            "OTLP",
        ),
        (
            "otlp without content type",
            DistributorConfig::default(),
            "/otlp/v1/logs",
            "",
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
    ];
    for (name, config, path, content_type, body, want_status, want_body) in cases {
        let (router, ingesters) = Setup {
            config,
            ..Setup::default()
        }
        .build();
        let (status, text) = send_text(&router, post(path, content_type, body, None)).await;
        assert_eq!(status, want_status, "{name}: {text}");
        assert!(text.contains(want_body), "{name}: {text}");
        assert_eq!(ingesters.push_count(), 0, "{name}");
    }
}

pub(super) fn otlp_request(now: i64) -> ExportLogsServiceRequest {
    let string = |s: &str| AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".to_string(),
                    value: Some(string("checkout")),
                    ..KeyValue::default()
                }],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now as u64,
                    body: Some(string("order placed")),
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

#[tokio::test]
async fn otlp_bodies_answer_200_with_the_response_in_kind() {
    let now = now_ns();
    let json = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"checkout"}}}}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{now}","body":{{"stringValue":"order placed"}}}}]}}]}}]}}"#
    );
    let protobuf = otlp_request(now).encode_to_vec();
    let want = vec![(
        r#"{service_name="checkout"}"#.to_string(),
        vec![(now, "order placed".to_string())],
    )];
    // (name, content type, body, response content type)
    let cases = [
        (
            "protobuf",
            "application/x-protobuf",
            protobuf,
            "application/x-protobuf",
        ),
        (
            "json",
            "application/json",
            json.into_bytes(),
            "application/json",
        ),
    ];
    for (name, content_type, body, want_type) in cases {
        let (router, ingesters) = Setup::default().build();
        let (status, headers, body) =
            send(&router, post("/otlp/v1/logs", content_type, body, None)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(headers["content-type"], want_type, "{name}");
        let response = if want_type == "application/json" {
            serde_json::from_slice::<ExportLogsServiceResponse>(&body).unwrap()
        } else {
            ExportLogsServiceResponse::decode(body.as_slice()).unwrap()
        };
        assert_eq!(response, ExportLogsServiceResponse::default(), "{name}");
        assert_every_replica_has(&ingesters, &want, name);
    }
}

#[tokio::test]
async fn the_tenant_limits_choose_the_otlp_labels_and_service_name_discovery() {
    let now = now_ns();
    let mut request = otlp_request(now);
    let resource = request.resource_logs[0].resource.as_mut().unwrap();
    resource.attributes = vec![KeyValue {
        key: "team.name".to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("payments".to_string())),
        }),
        ..KeyValue::default()
    }];
    let protobuf = request.encode_to_vec();
    let loki = r#"{"streams":[{"stream":{"owner":"ops"},"values":[["NOW","hello"]]}]}"#
        .replace("NOW", &now.to_string());
    // (name, resource attributes as labels, discover_service_name, path, type, body, streams)
    let cases = [
        (
            "defaults: team.name is metadata, no service",
            None,
            None,
            "/otlp/v1/logs",
            "application/x-protobuf",
            protobuf.clone(),
            r#"{service_name="unknown_service"}"#,
        ),
        (
            "team.name indexed and naming the service",
            Some(vec!["team.name".to_string()]),
            Some(vec!["team_name".to_string()]),
            "/otlp/v1/logs",
            "application/x-protobuf",
            protobuf,
            r#"{service_name="payments", team_name="payments"}"#,
        ),
        (
            "a Loki push names the service from the tenant's list",
            None,
            Some(vec!["owner".to_string()]),
            "/loki/api/v1/push",
            "application/json",
            loki.into_bytes(),
            r#"{owner="ops", service_name="ops"}"#,
        ),
    ];
    for (name, as_labels, discover, path, content_type, body, want) in cases {
        let mut limits = TenantLimits::default();
        if let Some(list) = as_labels {
            limits.logs.otlp_resource_attributes_as_labels = list;
        }
        if let Some(list) = discover {
            limits.logs.discover_service_name = list;
        }
        let (router, ingesters) = Setup {
            limits,
            ..Setup::default()
        }
        .build();
        let (status, _, body) = send(&router, post(path, content_type, body, None)).await;
        assert!(
            status.is_success(),
            "{name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        let line = if path.starts_with("/otlp") {
            "order placed"
        } else {
            "hello"
        };
        let want = vec![(want.to_string(), vec![(now, line.to_string())])];
        assert_every_replica_has(&ingesters, &want, name);
    }
}

#[tokio::test]
async fn decoded_otlp_requests_take_the_same_path() {
    let ring = ring_of(3);
    let ingesters = Arc::new(FakeIngesters {
        behaviour: HashMap::new(),
        received: Mutex::new(Vec::new()),
    });
    let distributor = LogsDistributor::new(
        DistributorConfig::default(),
        TenantResolver::new(false),
        Overrides::fixed(TenantLimits::default()),
        Arc::new(move || ring.clone()),
        ingesters.clone(),
        &mut Registry::default(),
    );
    let now = now_ns();
    let tenant = TenantId::parse("team-a").unwrap();
    let report = distributor
        .push_logs(&tenant, LogsPushInput::OtlpRequest(otlp_request(now)))
        .await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.status(), 204);
    let written = LogsPushOutcome {
        entries: 1,
        bytes: "order placed".len() as u64,
    };
    assert_eq!(report.written, written);
    assert_eq!(ingesters.tenants(), vec!["team-a".to_string(); 3]);
}

#[tokio::test]
async fn tenant_comes_from_the_org_id_header_when_multitenant() {
    let (router, ingesters) = Setup {
        multitenancy: true,
        ..Setup::default()
    }
    .build();
    let body = promtail_body(&two_streams());
    let path = "/loki/api/v1/push";
    let proto = "application/x-protobuf";
    let (status, _) = send_text(&router, post(path, proto, body.clone(), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(ingesters.push_count(), 0);
    let (status, text) = send_text(&router, post(path, proto, body, Some("team-a"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(ingesters.tenants(), vec!["team-a".to_string(); 3]);
}

#[test]
fn rejection_error_lists_unique_messages() {
    let m = |s: &str| s.to_string();
    // (messages, an ingester refused for a limit, message, kind)
    let cases: Vec<(Vec<String>, bool, Option<&str>, ErrorKind)> = vec![
        (vec![], false, None, ErrorKind::BadRequest),
        (vec![m("a")], false, Some("a"), ErrorKind::BadRequest),
        (
            vec![m("a"), m("b"), m("a")],
            false,
            Some("a\nb"),
            ErrorKind::BadRequest,
        ),
        (vec![m("a")], true, Some("a"), ErrorKind::TooManyRequests),
    ];
    for (messages, limited, want, want_kind) in cases {
        let got = rejection_error(messages.clone(), limited);
        assert_eq!(
            got.as_ref().map(|e| e.message.as_str()),
            want,
            "{messages:?}"
        );
        if let Some(e) = got {
            assert_eq!(e.kind, want_kind, "{messages:?}");
        }
    }
}

#[tokio::test]
async fn self_metrics_count_entries_and_share_a_registry_with_metrics() {
    let mut registry = Registry::default();
    let ring = ring_of(3);
    let ring_for_metrics = ring.clone();
    let _metrics_path = crate::Distributor::new(
        DistributorConfig::default(),
        TenantResolver::new(false),
        Overrides::fixed(TenantLimits::default()),
        Arc::new(move || ring_for_metrics.clone()),
        Arc::new(NoMetricsIngesters),
        &mut registry,
    );
    let distributor = LogsDistributor::new(
        DistributorConfig::default(),
        TenantResolver::new(false),
        Overrides::fixed(TenantLimits::default()),
        Arc::new(move || ring.clone()),
        Arc::new(FakeIngesters {
            behaviour: HashMap::new(),
            received: Mutex::new(Vec::new()),
        }),
        &mut registry,
    );
    let router = Arc::new(distributor).router();
    let now = now_ns();
    let month_ago = now - 30 * 24 * 3600 * 1_000_000_000;
    let sent = [stream(
        &[("app", "api")],
        &[(month_ago, "old"), (now, "fresh")],
    )];
    let (status, _) = send_text(&router, loki_request(&sent)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for want in [
        r#"sextant_distributor_log_entries_received_total{format="loki"} 1"#,
        r#"sextant_distributor_log_bytes_received_total{format="loki"} 5"#,
        r#"sextant_distributor_log_entries_discarded_total{reason="greater_than_max_sample_age"} 1"#,
        r#"sextant_distributor_log_requests_total{format="loki",status="400"} 1"#,
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    let mut unique = types.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        types.len(),
        unique.len(),
        "a metric registered twice: {types:?}"
    );
}

/// The metrics path's client, never called here.
struct NoMetricsIngesters;

impl crate::IngesterClientFactory for NoMetricsIngesters {
    fn push(
        &self,
        _addr: &str,
        _request: sextant_proto::ingester::MetricsPushRequest,
    ) -> BoxFuture<'static, Result<sextant_proto::ingester::MetricsPushResponse, tonic::Status>>
    {
        Box::pin(async { Err(tonic::Status::unimplemented("metrics")) })
    }
}
