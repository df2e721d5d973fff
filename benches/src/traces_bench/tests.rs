//! The generator's traces are what the docs say, and the whole tool runs against an
//! in-process fake of Sextant's traces HTTP API that keeps what it is sent.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use prost::Message;
use sextant_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};

use super::gen::{TracesGenerator, ATTRIBUTES_PER_SPAN, SERVICES, SPANS_PER_TRACE};
use super::push::PushSpec;
use super::read::{hex, DEFAULT_QUERIES};
use super::{run, TracesBenchSpec};

fn decode(body: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(body).unwrap()
}

fn service_of(rs: &ResourceSpans) -> String {
    let attributes = &rs.resource.as_ref().unwrap().attributes;
    let name = attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .unwrap();
    format!("{:?}", name.value)
}

#[test]
fn a_batch_holds_whole_trees_of_ten_spans_over_three_services() {
    let now = 1_800_000_000_000_000_000u64;
    let batch = TracesGenerator::new(7).batch(25, now);
    assert_eq!(batch.spans, 25 * SPANS_PER_TRACE);
    assert_eq!(batch.trace_ids.len(), 25);
    let request = decode(&batch.body);
    assert_eq!(request.resource_spans.len(), SERVICES.len());
    let services: BTreeSet<String> = request.resource_spans.iter().map(service_of).collect();
    assert_eq!(services.len(), SERVICES.len());
    let spans: Vec<&Span> = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    assert_eq!(spans.len(), batch.spans);
    for id in &batch.trace_ids {
        let trace: Vec<&&Span> = spans.iter().filter(|s| s.trace_id == id).collect();
        assert_eq!(trace.len(), SPANS_PER_TRACE);
        let ids: BTreeSet<&Vec<u8>> = trace.iter().map(|s| &s.span_id).collect();
        assert_eq!(ids.len(), SPANS_PER_TRACE, "span IDs unique in a trace");
        let roots = trace.iter().filter(|s| s.parent_span_id.is_empty()).count();
        assert_eq!(roots, 1);
        for span in &trace {
            assert_eq!(span.attributes.len(), ATTRIBUTES_PER_SPAN, "{}", span.name);
            assert!(span.start_time_unix_nano < span.end_time_unix_nano);
            assert!(span.end_time_unix_nano <= now);
            if !span.parent_span_id.is_empty() {
                let parent = trace.iter().find(|p| p.span_id == span.parent_span_id);
                let parent = parent.expect("the parent is in the trace");
                assert!(parent.start_time_unix_nano <= span.start_time_unix_nano);
                assert!(span.end_time_unix_nano <= parent.end_time_unix_nano);
            }
        }
    }
    let unique: BTreeSet<[u8; 16]> = batch.trace_ids.iter().copied().collect();
    assert_eq!(unique.len(), 25);
}

#[test]
fn the_same_seed_gives_the_same_traces() {
    let now = 1_800_000_000_000_000_000u64;
    let a = TracesGenerator::new(3).batch(5, now);
    let b = TracesGenerator::new(3).batch(5, now);
    let c = TracesGenerator::new(4).batch(5, now);
    assert_eq!(a.body, b.body);
    assert_ne!(a.trace_ids, c.trace_ids);
}

/// Spans by trace ID, as the fake received them.
#[derive(Default)]
struct Fake {
    traces: Mutex<HashMap<Vec<u8>, Vec<Span>>>,
    storage: std::path::PathBuf,
}

async fn push(State(fake): State<Arc<Fake>>, body: Bytes) -> impl IntoResponse {
    let request = decode(&body);
    let mut traces = fake.traces.lock().unwrap();
    for span in request
        .resource_spans
        .into_iter()
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
    {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

async fn trace_by_id(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> impl IntoResponse {
    let key: Vec<u8> = (0..id.len() / 2)
        .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    match fake.traces.lock().unwrap().get(&key) {
        None => (StatusCode::NOT_FOUND, Vec::new()),
        Some(spans) => {
            let data = TracesData {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: spans.clone(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            (StatusCode::OK, data.encode_to_vec())
        }
    }
}

async fn search(State(fake): State<Arc<Fake>>) -> impl IntoResponse {
    let traces: Vec<serde_json::Value> = fake
        .traces
        .lock()
        .unwrap()
        .keys()
        .take(3)
        .map(|id| serde_json::json!({ "traceID": hex(id) }))
        .collect();
    serde_json::json!({ "traces": traces }).to_string()
}

/// A flush "uploads" 1000 bytes per trace held.
async fn flush(State(fake): State<Arc<Fake>>) -> StatusCode {
    let n = fake.traces.lock().unwrap().len();
    let dir = fake.storage.join("traces").join("anonymous");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data"), vec![0u8; n * 1000]).unwrap();
    StatusCode::NO_CONTENT
}

#[test]
fn the_tool_pushes_flushes_looks_up_and_searches() {
    let storage = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake {
        traces: Mutex::default(),
        storage: storage.path().to_path_buf(),
    });
    let router = Router::new()
        .route("/v1/traces", post(push))
        .route("/api/traces/{id}", get(trace_by_id))
        .route("/api/search", get(search))
        .route("/ingester/traces/flush", post(flush))
        .with_state(Arc::clone(&fake));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let spec = TracesBenchSpec {
            push: PushSpec {
                url: format!("http://{addr}/"),
                tenant: None,
                pid: Some(std::process::id()),
                workers: 2,
                duration: Duration::from_millis(300),
                traces_per_request: 10,
                seed: 1,
            },
            storage_dir: Some(storage.path().to_path_buf()),
            lookups: 20,
            queries: DEFAULT_QUERIES.iter().map(|q| q.to_string()).collect(),
            search_runs: 2,
            search_limit: 20,
        };
        run(&spec).await.unwrap()
    });
    let held = fake.traces.lock().unwrap().len() as u64;
    let p = &report.push;
    assert!(p.requests_ok >= 2 && p.requests_failed == 0, "{p:?}");
    assert_eq!(p.traces_acked_whole, held);
    assert_eq!(p.spans_acked, held * SPANS_PER_TRACE as u64);
    assert_eq!(p.spans_sent, p.spans_acked);
    assert!(p.spans_per_s > 0.0 && p.bytes_per_span > 100.0, "{p:?}");
    let stored = report.stored.as_ref().unwrap();
    assert_eq!(stored.bytes_after, held * 1000);
    assert!((stored.bytes_per_span - 100.0).abs() < 1e-9, "{stored:?}");
    let lookups = report.lookups.as_ref().unwrap();
    assert_eq!(
        (lookups.lookups, lookups.found_whole),
        (20, 20),
        "{lookups:?}"
    );
    assert_eq!(report.searches.len(), DEFAULT_QUERIES.len());
    assert!(report
        .searches
        .iter()
        .all(|s| s.runs == 2 && s.errors == 0 && s.traces_found == 3));
    let text = report.to_markdown();
    assert!(text.contains("bytes per span"), "{text}");
    assert_eq!(
        text.matches("| `{").count(),
        DEFAULT_QUERIES.len(),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["lookups"]["found_whole"], 20);
}
