//! By-hand measurement of the block reader (release build):
//! `SEXTANT_PERF_TRACES=100000 cargo test -p sextant-querier --release --lib traces_blocks::perf -- --ignored --nocapture`
//! Realistic traces: 10 spans, 3 services, 8 span attributes; one trace in 1000 has a 500.

use std::sync::Arc;
use std::time::Instant;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_model::TenantId;
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sextant_traces::block::{TracesBlockOptions, TracesBlockWriter};
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::traceql::parse;

use super::testing::put_traces_block;
use super::{TracesBlockReader, TracesBlockSearch};
use crate::config::QuerierConfig;
use crate::traces_source::TracesSearchParams;

const T0: u64 = 1_700_000_000_000_000_000;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn id(n: u64) -> TraceId {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    TraceId(id)
}

fn trace(n: u64) -> Trace {
    use any_value::Value::{IntValue, StringValue};
    let trace_id = id(n);
    let start = T0 + n * 1_000_000;
    let resource_spans = (0..3u64)
        .map(|service| {
            let spans = (0..10u64)
                .filter(|s| s % 3 == service)
                .map(|s| Span {
                    trace_id: trace_id.0.to_vec(),
                    span_id: (n * 16 + s + 1).to_be_bytes().to_vec(),
                    parent_span_id: if s == 0 {
                        vec![]
                    } else {
                        (n * 16 + 1).to_be_bytes().to_vec()
                    },
                    name: format!("op-{s}"),
                    kind: 2,
                    start_time_unix_nano: start + s * 1_000,
                    end_time_unix_nano: start + s * 1_000 + 5_000_000,
                    attributes: vec![
                        kv("http.method", StringValue("GET".into())),
                        kv(
                            "http.status_code",
                            IntValue(if n % 1000 == 7 { 500 } else { 200 }),
                        ),
                        kv(
                            "http.route",
                            StringValue(format!("/api/v1/items/{}", s % 4)),
                        ),
                        kv("net.peer.name", StringValue(format!("host-{}", n % 50))),
                        kv("user.id", StringValue(format!("user-{}", n % 5000))),
                        kv("region", StringValue("eu-west-1".into())),
                        kv("db.system", StringValue("postgresql".into())),
                        kv("component", StringValue("http".into())),
                    ],
                    ..Span::default()
                })
                .collect();
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", StringValue(format!("svc-{service}")))],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    Trace {
        id: trace_id,
        resource_spans,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand in release"]
async fn measure_block_reads() {
    let n: u64 = std::env::var("SEXTANT_PERF_TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let tenant = TenantId::parse("perf").unwrap();
    let mut traces: Vec<Trace> = (0..n).map(trace).collect();
    traces.sort_by_key(|t| t.id);
    let t = Instant::now();
    let mut writer = TracesBlockWriter::new(TracesBlockOptions::default());
    traces.iter().for_each(|tr| writer.add_trace(tr).unwrap());
    let block = writer.finish("01PERF".into(), "a".into()).unwrap();
    let m = &block.meta;
    eprintln!(
        "block: {n} traces written in {:?}; data {} B, index {} B, bloom {} B, search {} B, {} pages",
        t.elapsed(), m.data_bytes, m.index_bytes, m.bloom_bytes, m.search_bytes, m.pages
    );
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    put_traces_block(&*store, &tenant, "01PERF", &block).await;
    let reader = TracesBlockReader::new(&QuerierConfig::default(), store, &mut Registry::default());

    let t = Instant::now();
    assert_eq!(reader.find(&tenant, id(1), 0, 0).await.unwrap().len(), 1);
    eprintln!(
        "trace by id, cold (index + bloom + page): {:?}",
        t.elapsed()
    );
    let lookups = 200u64;
    let t = Instant::now();
    for i in 0..lookups {
        assert_eq!(
            reader
                .find(&tenant, id(i * (n / lookups)), 0, 0)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    eprintln!(
        "trace by id, warm, present: {:?} each",
        t.elapsed() / lookups as u32
    );
    let t = Instant::now();
    for i in 0..lookups {
        assert!(reader
            .find(&tenant, id(n + i), 0, 0)
            .await
            .unwrap()
            .is_empty());
    }
    eprintln!(
        "trace by id, warm, absent: {:?} each",
        t.elapsed() / lookups as u32
    );

    for (query, limit) in [
        ("{}", 20),
        (
            r#"{ resource.service.name = "svc-1" && span.http.status_code = 500 }"#,
            20,
        ),
        (r#"{ span.http.status_code = 500 }"#, 0),
        (r#"{ name = "nope" }"#, 20),
    ] {
        let params = TracesSearchParams {
            query: query.into(),
            limit,
            spans_per_span_set: 3,
            ..TracesSearchParams::default()
        };
        let search = TracesBlockSearch::new(Arc::new(parse(query).unwrap()), &params);
        let t = Instant::now();
        let r = reader.search(&tenant, search).await.unwrap();
        eprintln!(
            "search {query} limit {limit}: {:?}, {} matches, {} traces / {} bytes inspected",
            t.elapsed(),
            r.matches.len(),
            r.inspected_traces,
            r.inspected_bytes
        );
    }
}
