//! The Tempo API end to end through [`tempo_api_router`] over a [`MemTracesSource`] holding
//! a multi-service trace: Grafana's requests (reference/grafana-requests.md, section 3)
//! replayed as it sends them. T1 (echo), T2 (trace by ID, v2 then v1 on 404, protobuf), T9
//! (buildinfo), TraceQL metrics, tenants and failures here; T3 (search) in `tests/search.rs`;
//! T5 and T6 (tags) in `tests/tags.rs`.

mod search;
mod tags;

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http::{header, HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use serde_json::Value as Json;
use sextant_kit::tenant::TenantResolver;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::span::{Event, SpanKind};
use sextant_proto::otlp::trace::v1::status::StatusCode as OtlpStatus;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, TracesData};
use sextant_traces::model::{Trace, TraceId};
use tower::ServiceExt;

use super::trace_by_id::TempoTraceByIdResponse;
use super::*;

pub const TENANT: &str = "team-a";
/// 2023-11-14T22:13:20Z in nanoseconds.
pub const T0: u64 = 1_700_000_000_000_000_000;
pub const SECOND: u64 = 1_000_000_000;
pub const MS: u64 = 1_000_000;
/// The checkout trace: frontend -> checkout -> db, 300 ms from `T0 + 10s`.
pub const CHECKOUT_ID: &str = "0af7651916cd43dd8448eb211c80319c";
/// The health-check trace, written as Grafana may send a short ID: one frontend span,
/// 5 ms from `T0 + 20s`.
pub const HEALTH_ID: &str = "1";

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub fn string(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                string("service.name", service),
                string("deployment.environment", "prod"),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "io.opentelemetry.http".to_owned(),
                version: "1.0".to_owned(),
                attributes: vec![string("library.language", "rust")],
                ..Default::default()
            }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

struct SpanSpec<'a> {
    id: u8,
    parent: Option<u8>,
    name: &'a str,
    kind: SpanKind,
    start_ms: u64,
    duration_ms: u64,
    status: OtlpStatus,
    attributes: Vec<KeyValue>,
}

fn span(trace: &TraceId, base: u64, s: SpanSpec<'_>) -> Span {
    let start = base + s.start_ms * MS;
    Span {
        trace_id: trace.as_bytes().to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, s.id],
        parent_span_id: s
            .parent
            .map_or(Vec::new(), |p| vec![0, 0, 0, 0, 0, 0, 0, p]),
        name: s.name.to_owned(),
        kind: s.kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + s.duration_ms * MS,
        attributes: s.attributes,
        status: Some(Status {
            code: s.status as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// frontend `GET /checkout` (server, 300 ms) -> checkout `charge` (client, error) -> db
/// `SELECT` (with a `query` event).
pub fn checkout_trace() -> Trace {
    let id: TraceId = CHECKOUT_ID.parse().unwrap();
    let base = T0 + 10 * SECOND;
    let root = span(
        &id,
        base,
        SpanSpec {
            id: 1,
            parent: None,
            name: "GET /checkout",
            kind: SpanKind::Server,
            start_ms: 0,
            duration_ms: 300,
            status: OtlpStatus::Ok,
            attributes: vec![
                string("http.method", "GET"),
                kv("http.status_code", any_value::Value::IntValue(200)),
            ],
        },
    );
    let charge = span(
        &id,
        base,
        SpanSpec {
            id: 2,
            parent: Some(1),
            name: "charge",
            kind: SpanKind::Client,
            start_ms: 10,
            duration_ms: 200,
            status: OtlpStatus::Error,
            attributes: vec![
                kv("payment.amount", any_value::Value::DoubleValue(12.5)),
                kv("retry", any_value::Value::BoolValue(true)),
            ],
        },
    );
    let mut select = span(
        &id,
        base,
        SpanSpec {
            id: 3,
            parent: Some(2),
            name: "SELECT",
            kind: SpanKind::Client,
            start_ms: 20,
            duration_ms: 50,
            status: OtlpStatus::Unset,
            attributes: vec![string("db.system", "postgres")],
        },
    );
    select.events.push(Event {
        time_unix_nano: base + 25 * MS,
        name: "query".to_owned(),
        attributes: vec![string("db.rows", "3")],
        ..Default::default()
    });
    Trace {
        id,
        resource_spans: vec![
            resource_spans("frontend", vec![root]),
            resource_spans("checkout", vec![charge]),
            resource_spans("db", vec![select]),
        ],
    }
}

/// One frontend span whose status code is a string attribute.
pub fn health_trace() -> Trace {
    let id: TraceId = HEALTH_ID.parse().unwrap();
    let root = span(
        &id,
        T0 + 20 * SECOND,
        SpanSpec {
            id: 9,
            parent: None,
            name: "GET /health",
            kind: SpanKind::Server,
            start_ms: 0,
            duration_ms: 5,
            status: OtlpStatus::Unset,
            attributes: vec![
                string("http.method", "GET"),
                string("http.status_code", "200"),
            ],
        },
    );
    Trace {
        id,
        resource_spans: vec![resource_spans("frontend", vec![root])],
    }
}

/// The router over both traces of [`TENANT`], multi-tenancy on.
pub fn app() -> (Router, Arc<MemTracesSource>) {
    let source = Arc::new(MemTracesSource::new());
    source.push(TENANT, checkout_trace());
    source.push(TENANT, health_trace());
    let state = TempoApiState::new(source.clone(), TenantResolver::new(true));
    (tempo_api_router(state), source)
}

/// A response: status, headers, body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON body of a 200.
    pub fn json(&self) -> Json {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        assert_eq!(self.headers[header::CONTENT_TYPE], "application/json");
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The plain-text body of an error with this status.
    pub fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        self.text()
    }
}

/// `GET uri` as Grafana sends it (with the tenant header), plus `headers`.
pub async fn get(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::get(uri).header("X-Scope-OrgID", TENANT);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

const PROTOBUF: [(&str, &str); 1] = [("Accept", "application/protobuf")];

fn span_ids(resource_spans: &[ResourceSpans]) -> Vec<Vec<u8>> {
    resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.span_id.clone())
        .collect()
}

#[tokio::test]
async fn t1_echo() {
    let (app, _) = app();
    let reply = get(&app, "/api/echo", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "echo");
}

/// Grafana asks v2 with protobuf; on 404 it asks v1.
#[tokio::test]
async fn t2_trace_by_id_protobuf_v2_then_v1() {
    let (app, _) = app();
    let want = span_ids(&checkout_trace().resource_spans);

    let v2 = get(&app, &format!("/api/v2/traces/{CHECKOUT_ID}"), &PROTOBUF).await;
    assert_eq!(v2.status, StatusCode::OK, "{}", v2.text());
    assert_eq!(v2.headers[header::CONTENT_TYPE], "application/protobuf");
    let decoded = TempoTraceByIdResponse::decode(v2.body.clone()).unwrap();
    assert_eq!(decoded.status, 0, "COMPLETE");
    let trace = decoded.trace.expect("trace");
    assert_eq!(span_ids(&trace.resource_spans), want);
    assert_eq!(trace.resource_spans, checkout_trace().resource_spans);

    let v1 = get(&app, &format!("/api/traces/{CHECKOUT_ID}"), &PROTOBUF).await;
    assert_eq!(v1.status, StatusCode::OK);
    assert_eq!(v1.headers[header::CONTENT_TYPE], "application/protobuf");
    let data = TracesData::decode(v1.body.clone()).unwrap();
    assert_eq!(data.resource_spans, checkout_trace().resource_spans);

    // Unknown: v2 says 404, so Grafana asks v1, which says 404 too.
    let missing = "ffffffffffffffffffffffffffffffff";
    for path in ["/api/v2/traces/", "/api/traces/"] {
        let reply = get(&app, &format!("{path}{missing}"), &PROTOBUF).await;
        assert_eq!(reply.error(StatusCode::NOT_FOUND), TRACE_NOT_FOUND);
    }
}

#[tokio::test]
async fn t2_trace_by_id_json_shapes() {
    let (app, _) = app();
    let v1 = get(&app, &format!("/api/traces/{CHECKOUT_ID}"), &[])
        .await
        .json();
    let batches = v1["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 3);
    let root = &batches[0]["scopeSpans"][0]["spans"][0];
    assert_eq!(root["traceId"], CHECKOUT_ID);
    assert_eq!(root["spanId"], "0000000000000001");
    assert_eq!(root["name"], "GET /checkout");
    assert_eq!(root["startTimeUnixNano"], (T0 + 10 * SECOND).to_string());
    assert_eq!(
        root["endTimeUnixNano"],
        (T0 + 10 * SECOND + 300 * MS).to_string()
    );
    assert_eq!(root["attributes"][1]["key"], "http.status_code");
    assert_eq!(root["attributes"][1]["value"]["intValue"], "200");
    let child = &batches[1]["scopeSpans"][0]["spans"][0];
    assert_eq!(child["parentSpanId"], "0000000000000001");
    assert_eq!(
        batches[1]["resource"]["attributes"][0]["value"]["stringValue"],
        "checkout"
    );
    assert_eq!(
        batches[0]["scopeSpans"][0]["scope"]["name"],
        "io.opentelemetry.http"
    );
    let event = &batches[2]["scopeSpans"][0]["spans"][0]["events"][0];
    assert_eq!(
        event["timeUnixNano"],
        (T0 + 10 * SECOND + 25 * MS).to_string()
    );

    let v2 = get(&app, &format!("/api/v2/traces/{CHECKOUT_ID}"), &[])
        .await
        .json();
    assert_eq!(v2["trace"]["resourceSpans"], v1["batches"]);
    // The JSON reads back as the trace (OTLP/JSON round trip).
    let back: Vec<ResourceSpans> = serde_json::from_value(v1["batches"].clone()).unwrap();
    assert_eq!(back, checkout_trace().resource_spans);
}

#[tokio::test]
async fn t2_trace_ids_and_time_shift() {
    let (app, _) = app();
    let padded = "00000000000000000000000000000001";
    for id in [HEALTH_ID, padded, "0001"] {
        let reply = get(&app, &format!("/api/v2/traces/{id}"), &[]).await.json();
        let spans = &reply["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(spans[0]["traceId"], padded, "{id}");
    }
    for id in ["xyz", "0af7651916cd43dd8448eb211c80319c0"] {
        let reply = get(&app, &format!("/api/traces/{id}"), &[]).await;
        assert!(
            reply.error(StatusCode::BAD_REQUEST).contains("traceID"),
            "{id}"
        );
    }
    // start/end (Unix seconds) as Grafana adds them with a time shift.
    let s = T0 / SECOND;
    let cases = [
        (s, s + 60, StatusCode::OK),
        (s + 100, s + 200, StatusCode::NOT_FOUND),
        (s + 60, s, StatusCode::BAD_REQUEST),
    ];
    for (start, end, status) in cases {
        let uri = format!("/api/v2/traces/{CHECKOUT_ID}?start={start}&end={end}");
        let reply = get(&app, &uri, &PROTOBUF).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text());
    }
}

#[tokio::test]
async fn t9_buildinfo() {
    let (app, _) = app();
    let info = get(&app, "/api/status/buildinfo", &[]).await.json();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    for field in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(info[field].is_string(), "{field}: {info}");
    }
}

#[tokio::test]
async fn traceql_metrics_are_refused() {
    let (app, _) = app();
    for path in ["/api/metrics/query_range", "/api/metrics/query"] {
        let uri = format!("{path}?q=%7B%7D%20%7C%20rate()&start=1&end=2");
        let message = get(&app, &uri, &[]).await.error(StatusCode::BAD_REQUEST);
        assert!(message.contains("not supported"), "{message}");
    }
}

#[tokio::test]
async fn tenants_and_failures() {
    let (app, source) = app();
    let uri = format!("/api/v2/traces/{CHECKOUT_ID}");
    let anonymous = Request::get(&uri).body(Body::empty()).unwrap();
    assert_eq!(send(&app, anonymous).await.status, StatusCode::UNAUTHORIZED);
    let other = Request::get(&uri)
        .header("X-Scope-OrgID", "team-b")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, other).await.status, StatusCode::NOT_FOUND);

    source.set_failure(Some(QuerierError::Ingesters("2 of 3 down".into())));
    let cases = [
        (uri.as_str(), StatusCode::SERVICE_UNAVAILABLE),
        ("/api/search?q=%7B%7D", StatusCode::SERVICE_UNAVAILABLE),
        ("/api/v2/search/tags", StatusCode::SERVICE_UNAVAILABLE),
    ];
    for (uri, status) in cases {
        let message = get(&app, uri, &[]).await.error(status);
        assert!(message.contains("2 of 3 down"), "{uri}: {message}");
    }
    source.set_failure(Some(QuerierError::Blocks("corrupt".into())));
    get(&app, &uri, &[])
        .await
        .error(StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn pushing_a_trace_again_adds_each_span_once() {
    let source = MemTracesSource::new();
    source.push(TENANT, checkout_trace());
    source.push(TENANT, checkout_trace());
    let mut partial = health_trace();
    partial.id = checkout_trace().id;
    source.push(TENANT, partial);
    let tenant = TenantId::parse(TENANT).unwrap();
    let id = checkout_trace().id;
    let held = source
        .trace_by_id(&tenant, id, 0, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.span_count(), 4);
}
