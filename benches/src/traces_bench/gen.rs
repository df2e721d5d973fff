//! Realistic OTLP traces: a shop request crossing three services, ten spans a trace, eight
//! attributes a span, encoded as an `ExportTraceServiceRequest` the way a collector's batch
//! processor sends it (one resource per service holding the spans of every trace of the batch).
//!
//! The tree of one trace (`*` marks the spans that carry the error status in 2 % of traces):
//!
//! ```text
//! frontend  GET /api/cart (server) *
//! frontend  ├─ render (internal)
//! frontend  └─ GET cart (client)
//! cart         └─ GET /cart/{id} (server)
//! cart            ├─ redis GET (client, db)
//! cart            ├─ SELECT cart_items (client, db)
//! cart            └─ POST payments/quote (client)
//! payments           └─ POST /quote (server) *
//! payments              ├─ compute-tax (internal)
//! payments              └─ SELECT rates (client, db)
//! ```

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};

/// Spans per generated trace.
pub const SPANS_PER_TRACE: usize = 10;
/// Attributes per span.
pub const ATTRIBUTES_PER_SPAN: usize = 8;
pub const SERVICES: [&str; 3] = ["frontend", "cart", "payments"];

/// What a span of the tree is: service index, name, OTLP kind, parent index, database span.
struct SpanShape {
    service: usize,
    name: &'static str,
    kind: i32,
    parent: Option<usize>,
    db: Option<&'static str>,
}

const INTERNAL: i32 = 1;
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

const TREE: [SpanShape; SPANS_PER_TRACE] = [
    shape(0, "GET /api/cart", SERVER, None, None),
    shape(0, "render", INTERNAL, Some(0), None),
    shape(0, "GET cart", CLIENT, Some(0), None),
    shape(1, "GET /cart/{id}", SERVER, Some(2), None),
    shape(1, "redis GET", CLIENT, Some(3), Some("redis")),
    shape(1, "SELECT cart_items", CLIENT, Some(3), Some("postgresql")),
    shape(1, "POST payments/quote", CLIENT, Some(3), None),
    shape(2, "POST /quote", SERVER, Some(6), None),
    shape(2, "compute-tax", INTERNAL, Some(7), None),
    shape(2, "SELECT rates", CLIENT, Some(7), Some("postgresql")),
];

const fn shape(
    service: usize,
    name: &'static str,
    kind: i32,
    parent: Option<usize>,
    db: Option<&'static str>,
) -> SpanShape {
    SpanShape {
        service,
        name,
        kind,
        parent,
        db,
    }
}

const TIERS: [&str; 4] = ["free", "silver", "gold", "platinum"];
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];

/// One encoded export and what it carries.
#[derive(Debug, Clone)]
pub struct GeneratedBatch {
    /// An encoded `ExportTraceServiceRequest` (OTLP protobuf, uncompressed).
    pub body: Vec<u8>,
    pub trace_ids: Vec<[u8; 16]>,
    pub spans: usize,
}

/// A deterministic stream of traces (same seed, same traces, but times follow the clock the
/// caller passes).
pub struct TracesGenerator {
    rng: StdRng,
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

fn resource(service: usize) -> Resource {
    let name = SERVICES[service];
    Resource {
        attributes: vec![
            string("service.name", name),
            string("service.version", "1.14.2"),
            string("service.namespace", "shop"),
            string("deployment.environment", "production"),
            string("host.name", format!("node-{}", service * 7 + 3)),
            string("k8s.namespace.name", "shop"),
            string("k8s.pod.name", format!("{name}-7d9f8b6c4-x{service}q2z")),
            string("telemetry.sdk.language", "go"),
        ],
        ..Default::default()
    }
}

impl TracesGenerator {
    pub fn new(seed: u64) -> Self {
        TracesGenerator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The eight attributes of span `i` of a trace.
    fn attributes(&mut self, i: usize, error: bool, user: u64, tier: &str) -> Vec<KeyValue> {
        let s = &TREE[i];
        let status = if error { 500 } else { 200 };
        let mut attributes = vec![
            string("user.id", format!("u{user:06}")),
            string("customer.tier", tier),
            string("cloud.region", REGIONS[user as usize % REGIONS.len()]),
        ];
        match s.db {
            Some(system) => attributes.extend([
                string("db.system", system),
                string("db.statement", format!("{} WHERE user_id = ?", s.name)),
                string("server.address", format!("{system}.shop.svc")),
                int("db.rows", self.rng.random_range(0..50)),
                kv(
                    "cache.hit",
                    any_value::Value::BoolValue(self.rng.random_bool(0.7)),
                ),
            ]),
            None => attributes.extend([
                string(
                    "http.request.method",
                    s.name.split(' ').next().unwrap_or("GET"),
                ),
                string("http.route", s.name.split(' ').nth(1).unwrap_or(s.name)),
                int("http.response.status_code", status),
                string("network.protocol.version", "1.1"),
                int("retry.count", i64::from(self.rng.random_bool(0.05))),
            ]),
        }
        debug_assert_eq!(attributes.len(), ATTRIBUTES_PER_SPAN);
        attributes
    }

    /// The ten spans of one trace, ending by `now_ns`, with their service index.
    fn trace(&mut self, now_ns: u64) -> ([u8; 16], Vec<(usize, Span)>) {
        let trace_id: [u8; 16] = self.rng.random();
        let failed = self.rng.random_bool(0.02);
        let user = self.rng.random_range(0..100_000u64);
        let tier = TIERS[self.rng.random_range(0..TIERS.len())];
        // root duration: mostly tens of ms, a long tail into seconds
        let root_ns = (5.0e6 * (1.0 + 400.0 * self.rng.random::<f64>().powi(6))) as u64;
        let start = now_ns - root_ns - self.rng.random_range(0..2_000_000_000);
        let mut spans: Vec<(usize, Span)> = Vec::with_capacity(SPANS_PER_TRACE);
        let mut bounds = Vec::with_capacity(SPANS_PER_TRACE);
        for (i, s) in TREE.iter().enumerate() {
            let (begin, end) = match s.parent {
                None => (start, start + root_ns),
                Some(p) => {
                    let (pb, pe): (u64, u64) = bounds[p];
                    let len = pe - pb;
                    let b = pb + len / 10 + self.rng.random_range(0..len / 10 + 1);
                    (b, b + len / 2 + self.rng.random_range(0..len / 4 + 1))
                }
            };
            bounds.push((begin, end));
            let error = failed && (i == 0 || i == 7);
            let span = Span {
                trace_id: trace_id.to_vec(),
                span_id: self.rng.random::<[u8; 8]>().to_vec(),
                parent_span_id: s
                    .parent
                    .map_or_else(Vec::new, |p| spans[p].1.span_id.clone()),
                name: s.name.to_string(),
                kind: s.kind,
                start_time_unix_nano: begin,
                end_time_unix_nano: end,
                attributes: self.attributes(i, error, user, tier),
                status: Some(Status {
                    code: if error {
                        status::StatusCode::Error as i32
                    } else {
                        status::StatusCode::Unset as i32
                    },
                    message: if error {
                        "upstream failed".into()
                    } else {
                        String::new()
                    },
                }),
                ..Default::default()
            };
            spans.push((s.service, span));
        }
        (trace_id, spans)
    }

    /// `traces` new traces, encoded as one export.
    pub fn batch(&mut self, traces: usize, now_ns: u64) -> GeneratedBatch {
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        let mut trace_ids = Vec::with_capacity(traces);
        for _ in 0..traces {
            let (id, spans) = self.trace(now_ns);
            trace_ids.push(id);
            for (service, span) in spans {
                by_service[service].push(span);
            }
        }
        let resource_spans = by_service
            .into_iter()
            .enumerate()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(resource(service)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
                            .into(),
                        version: "0.58.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        let request = ExportTraceServiceRequest { resource_spans };
        GeneratedBatch {
            body: request.encode_to_vec(),
            spans: traces * SPANS_PER_TRACE,
            trace_ids,
        }
    }
}
