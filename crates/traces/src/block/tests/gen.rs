//! Deterministic, realistic traces: three services, nested spans with eight attributes.

use sextant_proto::otlp::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::model::{Trace, TraceId};

pub const SERVICES: [&str; 3] = ["frontend", "checkout", "postgres"];
pub const NAMES: [&str; 5] = [
    "GET /api/cart",
    "SELECT cart",
    "charge",
    "render",
    "cache.get",
];
pub const BASE_NS: u64 = 1_700_000_000_000_000_000;

/// A pseudo-random trace ID for `n`.
pub fn trace_id(n: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&xxh3_64_with_seed(&n.to_le_bytes(), 7).to_be_bytes());
    id[8..].copy_from_slice(&xxh3_64_with_seed(&n.to_le_bytes(), 8).to_be_bytes());
    TraceId(id)
}

pub fn value(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

pub fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value(v),
        ..Default::default()
    }
}

pub fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// `n` traces of `spans` spans each, sorted by ID.
pub fn generated_traces(n: u64, spans: usize) -> Vec<Trace> {
    let mut traces: Vec<Trace> = (0..n).map(|i| generated_trace(i, spans)).collect();
    traces.sort_by_key(|t| t.id);
    traces
}

/// Trace `i`: span 0 is the root (service `i % 3`), span `j` a child of span `(j - 1) / 2`,
/// spread over the three services.
pub fn generated_trace(i: u64, spans: usize) -> Trace {
    let id = trace_id(i);
    let mut resources: Vec<ResourceSpans> = (0..SERVICES.len())
        .map(|r| resource(SERVICES[(i as usize + r) % 3], r))
        .collect();
    for j in 0..spans {
        let r = j % resources.len();
        resources[r].scope_spans[0]
            .spans
            .push(generated_span(&id, i, j as u64));
    }
    resources.retain(|rs| !rs.scope_spans[0].spans.is_empty());
    Trace {
        id,
        resource_spans: resources,
    }
}

fn resource(service: &str, r: usize) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", s(service)),
                kv("host.name", s(&format!("host-{r}"))),
                kv("deployment.environment", s("prod")),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans::default()],
        ..Default::default()
    }
}

fn span_id(j: u64) -> Vec<u8> {
    (j + 1).to_be_bytes().to_vec()
}

fn generated_span(id: &TraceId, i: u64, j: u64) -> Span {
    use any_value::Value::{ArrayValue as Arr, BoolValue, DoubleValue, IntValue};
    let start = BASE_NS + i * 1_000_000 + j * 1_000;
    let status = [200, 404, 500][((i + j) % 3) as usize];
    let mut attributes = vec![
        kv("http.method", s(["GET", "POST"][(j % 2) as usize])),
        kv("http.status_code", IntValue(status)),
        kv("http.url", s(&format!("/api/items/{}", i % 50))),
        kv("db.rows", IntValue(((i * (j + 1)) % 100) as i64)),
        kv("ratio", DoubleValue(j as f64 / 4.0)),
        kv("cache.hit", BoolValue((i + j).is_multiple_of(2))),
        kv("user.id", s(&format!("user-{}", i % 100))),
    ];
    attributes.push(if j == 1 {
        let values = vec![
            AnyValue {
                value: Some(s("a")),
            },
            AnyValue {
                value: Some(s("b")),
            },
        ];
        kv("labels", Arr(ArrayValue { values }))
    } else {
        kv("retries", IntValue((j % 3) as i64))
    });
    Span {
        trace_id: id.0.to_vec(),
        span_id: span_id(j),
        parent_span_id: if j == 0 {
            Vec::new()
        } else {
            span_id((j - 1) / 2)
        },
        name: NAMES[((i + j) % 5) as usize].into(),
        kind: [2, 3, 1][(j % 3) as usize],
        start_time_unix_nano: start,
        end_time_unix_nano: start + (j + 1) * 1_000_000 * (i % 7 + 1),
        attributes,
        status: Some(Status {
            code: if (i + j).is_multiple_of(17) { 2 } else { 0 },
            ..Default::default()
        }),
        events: if j == 2 {
            vec![span::Event {
                name: "retry".into(),
                attributes: vec![kv("attempt", IntValue(1))],
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}
