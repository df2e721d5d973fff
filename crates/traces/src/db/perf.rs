//! Release-mode measurements, run by hand:
//! `cargo test -p sextant-traces --release --lib -- --ignored --nocapture db::perf`.

use std::time::Instant;

use bytes::Bytes;
use prost::Message;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, TracesData};

use super::*;
use crate::model::TraceId;
use crate::traceql::eval::TraceqlEvaluator;
use crate::traceql::parse;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// A trace of 10 spans with 8 attributes each, from one of 3 services.
fn realistic_trace(rng: &mut Rng, n: u64) -> (TraceId, Bytes) {
    const SERVICES: [&str; 3] = ["checkout", "payments", "inventory"];
    const ROUTES: [&str; 4] = ["/api/cart", "/api/pay", "/api/items/{id}", "/health"];
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8..].copy_from_slice(&rng.next(u64::MAX).to_be_bytes());
    let start = 1_700_000_000_000_000_000 + n * 1_000_000;
    let spans: Vec<Span> = (0..10u64)
        .map(|i| Span {
            trace_id: id.to_vec(),
            span_id: (n * 16 + i + 1).to_be_bytes().to_vec(),
            parent_span_id: if i == 0 {
                Vec::new()
            } else {
                (n * 16 + 1).to_be_bytes().to_vec()
            },
            name: format!(
                "{} {}",
                ["GET", "POST"][rng.next(2) as usize],
                ROUTES[rng.next(4) as usize]
            ),
            kind: 2 + (i > 0) as i32,
            start_time_unix_nano: start + i * 1_000,
            end_time_unix_nano: start + i * 1_000 + rng.next(50_000_000),
            attributes: vec![
                kv("http.method", s("GET")),
                kv("http.route", s(ROUTES[rng.next(4) as usize])),
                kv("http.status_code", any_value::Value::IntValue(200)),
                kv(
                    "net.peer.name",
                    s(&format!("10.0.{}.{}", rng.next(256), rng.next(256))),
                ),
                kv("user.id", s(&format!("user-{}", rng.next(100_000)))),
                kv("db.system", s("postgresql")),
                kv("thread.id", any_value::Value::IntValue(rng.next(64) as i64)),
                kv("retry", any_value::Value::BoolValue(rng.next(10) == 0)),
            ],
            status: Some(Status {
                code: if rng.next(50) == 0 { 2 } else { 0 },
                message: String::new(),
            }),
            ..Span::default()
        })
        .collect();
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(SERVICES[rng.next(3) as usize])),
                    kv("k8s.pod.name", s(&format!("pod-{}", rng.next(20)))),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    version: "1.30.0".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    (TraceId(id), data.encode_to_vec().into())
}

#[test]
#[ignore = "measurement; run in release by hand"]
fn measure_append_find_and_search() {
    const TRACES: u64 = 50_000;
    const PER_PUSH: usize = 100;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let traces: Vec<(TraceId, Bytes)> = (0..TRACES).map(|n| realistic_trace(&mut rng, n)).collect();
    let bytes: usize = traces.iter().map(|(_, b)| b.len()).sum();
    let spans = TRACES * 10;
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = TracesTenantDb::open(TracesDbConfig {
        dir: dir.path().to_path_buf(),
        ..TracesDbConfig::default()
    })
    .unwrap();
    let start = Instant::now();
    for (id, data) in &traces {
        super::state::fragment_meta(id, data).unwrap();
    }
    eprintln!("decoding for metadata alone: {:?}", start.elapsed());
    let start = Instant::now();
    for push in traces.chunks(PER_PUSH) {
        let report = db.append(push, TracesAppendLimits::default(), 0).unwrap();
        assert_eq!(report.traces_written, push.len() as u64);
    }
    db.sync().unwrap();
    let append = start.elapsed();
    eprintln!(
        "append: {TRACES} traces, {spans} spans, {bytes} bytes in {append:?}: {:.0} spans/s, \
         {:.1} MB/s ({:.0} B/span), wal {} bytes",
        spans as f64 / append.as_secs_f64(),
        bytes as f64 / append.as_secs_f64() / 1e6,
        bytes as f64 / spans as f64,
        db.wal_bytes_written()
    );
    let start = Instant::now();
    for (id, _) in traces.iter().step_by(50) {
        assert_eq!(db.find(id).unwrap().span_count(), 10);
    }
    let finds = traces.len() / 50;
    eprintln!(
        "find: {:?} per trace ({finds} lookups)",
        start.elapsed() / finds as u32
    );
    for q in [
        r#"{ resource.service.name = "payments" && status = error }"#,
        "{ span.http.status_code = 404 }",
    ] {
        let query = parse(q).unwrap();
        let eval = TraceqlEvaluator::new(&query).unwrap();
        let start = Instant::now();
        let result = db.search(
            &eval,
            &TracesDbSearch {
                limit: 20,
                required_strings: TracesDbSearch::required_strings_of(&query),
                ..TracesDbSearch::default()
            },
        );
        eprintln!(
            "search {q}: {} matches, {} traces inspected in {:?}",
            result.traces.len(),
            result.inspected_traces,
            start.elapsed()
        );
    }
    drop(db);
    let config = TracesDbConfig {
        dir: dir.path().to_path_buf(),
        ..TracesDbConfig::default()
    };
    let (db, stats) = TracesTenantDb::open(config.clone()).unwrap();
    eprintln!(
        "replay: {} traces, {} spans in {:?}",
        stats.traces, stats.spans, stats.duration
    );
    let start = Instant::now();
    db.cut_idle(i64::MAX);
    let cut = db.cut_block(0, Duration::ZERO, 0, true).unwrap();
    let cut_time = start.elapsed();
    let start = Instant::now();
    let released = db.release(cut.seq).unwrap();
    eprintln!(
        "cut_block of {} traces: {cut_time:?}; release ({} segments deleted): {:?}",
        cut.len(),
        released.segments_deleted,
        start.elapsed()
    );
    assert_eq!(db.bytes_in_memory(), 0);
}
