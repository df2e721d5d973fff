//! In-memory traces ingesters behind [`TracesIngesterQueryClients`]: each holds trace
//! fragments and answers through the wire messages with the engine's evaluator and tag
//! collectors, as a real ingester's head does; and a ring of them.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use sextant_proto::ingester::{
    TraceByIdRequest, TraceByIdResponse, TracesSearchRequest, TracesSearchResponse,
    TracesSearchTagValuesRequest, TracesSearchTagValuesResponse, TracesSearchTagsRequest,
    TracesSearchTagsResponse, TracesTagScope as WireTagScope, TracesTagValue as WireTagValue,
};
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sextant_ring::{InstanceDesc, InstanceState, ReplicationConfig, RingDesc, TokenRing};
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::search::{encode_trace, merge_traces, trace_match_to_proto};
use sextant_traces::tags::{TraceTag, TraceTagNames, TraceTagScope, TraceTagValues};
use sextant_traces::traceql::eval::TraceqlEvaluator;
use sextant_traces::traceql::parse;
use tonic::Status;

use super::TracesIngesterQueryClients;

/// One fake ingester: the fragments it holds (any tenant), or a failure.
#[derive(Default, Clone)]
pub(super) struct FakeTracesIngester {
    pub(super) traces: Vec<Trace>,
    pub(super) fail: bool,
}

/// Ingesters by address; records the address of every request.
#[derive(Default)]
pub(super) struct FakeTracesIngesters {
    pub(super) by_addr: BTreeMap<String, FakeTracesIngester>,
    pub(super) requests: Mutex<Vec<String>>,
}

impl FakeTracesIngester {
    /// Its traces, fragments of one ID merged.
    fn merged(&self) -> Vec<Trace> {
        let mut by_id: BTreeMap<TraceId, Vec<Trace>> = BTreeMap::new();
        for t in &self.traces {
            by_id.entry(t.id).or_default().push(t.clone());
        }
        by_id.into_values().map(merge_traces).collect()
    }
}

/// The trace's span time range in ns.
fn bounds(t: &Trace) -> (u64, u64) {
    let start = t.spans().map(|s| s.start_time_unix_nano).min();
    let end = t.spans().map(|s| s.end_time_unix_nano).max();
    (start.unwrap_or(0), end.unwrap_or(0))
}

fn in_range(t: &Trace, start_ns: i64, end_ns: i64) -> bool {
    let (start, end) = bounds(t);
    (end_ns == 0 || (start as i64) < end_ns) && (start_ns == 0 || end as i64 >= start_ns)
}

fn search(
    ingester: &FakeTracesIngester,
    r: &TracesSearchRequest,
) -> Result<TracesSearchResponse, Status> {
    let query = parse(&r.query).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let eval =
        TraceqlEvaluator::new(&query).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut response = TracesSearchResponse::default();
    for trace in ingester.merged() {
        let (start, end) = bounds(&trace);
        let duration = end - start;
        let too_short = r.min_duration_ns > 0 && duration < r.min_duration_ns;
        let too_long = r.max_duration_ns > 0 && duration > r.max_duration_ns;
        if !in_range(&trace, r.start_ns, r.end_ns) || too_short || too_long {
            continue;
        }
        response.inspected_traces += 1;
        if let Some(m) = eval.search(&trace, r.spans_per_span_set as usize) {
            let m = trace_match_to_proto(&m).map_err(|e| Status::internal(e.to_string()))?;
            response.traces.push(m);
        }
    }
    response
        .traces
        .sort_by_key(|m| Reverse(m.start_time_unix_nano));
    if r.limit > 0 {
        response.traces.truncate(r.limit as usize);
    }
    Ok(response)
}

fn tags(
    ingester: &FakeTracesIngester,
    r: &TracesSearchTagsRequest,
) -> Result<TracesSearchTagsResponse, Status> {
    let scopes = TraceTagScope::parse_filter(&r.scope)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut names = TraceTagNames::new(scopes, r.limit as usize);
    for trace in ingester
        .merged()
        .iter()
        .filter(|t| in_range(t, r.start_ns, r.end_ns))
    {
        names.add_trace(trace);
    }
    Ok(TracesSearchTagsResponse {
        scopes: names
            .scopes()
            .into_iter()
            .map(|(scope, tags)| WireTagScope {
                name: scope.as_str().to_owned(),
                tags,
            })
            .collect(),
    })
}

fn tag_values(
    ingester: &FakeTracesIngester,
    r: &TracesSearchTagValuesRequest,
) -> Result<TracesSearchTagValuesResponse, Status> {
    let tag = TraceTag::parse(&r.tag).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let query = parse(&r.query).ok();
    let eval = query.as_ref().and_then(|q| TraceqlEvaluator::new(q).ok());
    let mut values = TraceTagValues::new(r.limit as usize);
    for trace in ingester
        .merged()
        .iter()
        .filter(|t| in_range(t, r.start_ns, r.end_ns))
    {
        values.add_trace(trace, &tag, eval.as_ref());
    }
    Ok(TracesSearchTagValuesResponse {
        values: values
            .into_vec()
            .into_iter()
            .map(|v| WireTagValue {
                r#type: v.value_type.to_owned(),
                value: v.value,
            })
            .collect(),
    })
}

impl FakeTracesIngesters {
    /// Runs `f` on the ingester at `addr`, or fails like an unreachable one.
    fn answer<T, F>(&self, addr: &str, f: F) -> BoxFuture<'static, Result<T, Status>>
    where
        T: Send + 'static,
        F: FnOnce(&FakeTracesIngester) -> Result<T, Status>,
    {
        self.requests.lock().push(addr.to_string());
        let result = match self.by_addr.get(addr) {
            Some(ingester) if !ingester.fail => f(ingester),
            Some(_) => Err(Status::unavailable("injected failure")),
            None => Err(Status::unavailable("no such ingester")),
        };
        Box::pin(async move { result })
    }
}

impl TracesIngesterQueryClients for FakeTracesIngesters {
    fn find_trace_by_id(
        &self,
        addr: &str,
        r: TraceByIdRequest,
    ) -> BoxFuture<'static, Result<TraceByIdResponse, Status>> {
        self.answer(addr, |ingester| {
            let id = TraceId::from_bytes(&r.trace_id)
                .ok_or_else(|| Status::invalid_argument("bad trace ID"))?;
            let found = ingester.merged().into_iter().find(|t| t.id == id);
            Ok(TraceByIdResponse {
                trace: found.map(|t| encode_trace(&t)).unwrap_or_default(),
            })
        })
    }

    fn search(
        &self,
        addr: &str,
        r: TracesSearchRequest,
    ) -> BoxFuture<'static, Result<TracesSearchResponse, Status>> {
        self.answer(addr, |ingester| search(ingester, &r))
    }

    fn search_tags(
        &self,
        addr: &str,
        r: TracesSearchTagsRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagsResponse, Status>> {
        self.answer(addr, |ingester| tags(ingester, &r))
    }

    fn search_tag_values(
        &self,
        addr: &str,
        r: TracesSearchTagValuesRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagValuesResponse, Status>> {
        self.answer(addr, |ingester| tag_values(ingester, &r))
    }
}

/// A ring with RF 3 of ACTIVE instances `(id, heartbeat ms)` at `<id>:9095`.
pub(super) fn ring(instances: &[(&str, i64)]) -> Arc<TokenRing> {
    let mut desc = RingDesc::default();
    for (i, (id, heartbeat_ms)) in instances.iter().enumerate() {
        let instance = InstanceDesc {
            id: id.to_string(),
            addr: format!("{id}:9095"),
            zone: String::new(),
            state: InstanceState::Active,
            tokens: vec![(i as u32 + 1) << 24],
            heartbeat_ms: *heartbeat_ms,
            registered_ms: 0,
        };
        desc.instances.insert(id.to_string(), instance);
    }
    let config = ReplicationConfig {
        replication_factor: 3,
        zone_awareness_enabled: false,
        heartbeat_timeout: Duration::from_secs(60),
    };
    Arc::new(TokenRing::new(&desc, config))
}

/// 2023-11-14T22:13:20Z in ns: the start of every test trace.
pub(super) const T0: u64 = 1_700_000_000_000_000_000;
pub(super) const MS: u64 = 1_000_000;

/// The trace ID whose last byte is `n`.
pub(super) fn trace_id(n: u8) -> TraceId {
    let mut id = [0; 16];
    id[15] = n;
    TraceId(id)
}

/// A fragment of trace `trace` sent by `service`: spans `(span ID byte, name, start ms after
/// T0, duration ms, parent span ID byte or 0 for a root)`, each with `http.route = name`.
pub(super) fn fragment(trace: u8, service: &str, spans: &[(u8, &str, u64, u64, u8)]) -> Trace {
    let id = trace_id(trace);
    let span = |&(span, name, start_ms, duration_ms, parent): &(u8, &str, u64, u64, u8)| Span {
        trace_id: id.as_bytes().to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, span],
        parent_span_id: match parent {
            0 => Vec::new(),
            p => vec![0, 0, 0, 0, 0, 0, 0, p],
        },
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: T0 + start_ms * MS,
        end_time_unix_nano: T0 + (start_ms + duration_ms) * MS,
        attributes: vec![string_attr("http.route", name)],
        ..Span::default()
    };
    Trace {
        id,
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", service)],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: spans.iter().map(span).collect(),
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// The last byte of every span ID of a trace, sorted (duplicates kept).
pub(super) fn span_ids(trace: &Trace) -> Vec<u8> {
    let mut ids: Vec<u8> = trace.spans().map(|s| s.span_id[7]).collect();
    ids.sort_unstable();
    ids
}
