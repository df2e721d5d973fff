//! In-memory traces ingesters behind [`TracesIngesterQueryClients`]: each holds trace
//! fragments and answers through the wire messages from a [`MemTracesSource`] of them (the
//! engine's evaluator and tag collectors, as a real ingester's head); and a ring of them.

use std::sync::Arc;

use futures::future::BoxFuture;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_model::TenantId;
use sextant_proto::ingester::{
    TraceByIdRequest, TraceByIdResponse, TracesSearchRequest, TracesSearchResponse,
    TracesSearchTagValuesRequest, TracesSearchTagValuesResponse, TracesSearchTagsRequest,
    TracesSearchTagsResponse, TracesTagScope as WireTagScope, TracesTagValue as WireTagValue,
};
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sextant_ring::{InstanceState, TokenRing};
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::search::{encode_trace, trace_match_to_proto};
use tonic::Status;

use super::{TracesIngesterQueryClients, TracesQuerier};
use crate::config::QuerierConfig;
use crate::ingesters::fakes::{fake_ring, FakeIngesterPool, MayFail};
use crate::source::QuerierError;
use crate::tempo_api::MemTracesSource;
use crate::traces_source::{TracesSearchParams, TracesSource, TracesTagValue};

/// One fake ingester: the fragments it holds (any tenant), or a failure.
#[derive(Default, Clone)]
pub(super) struct FakeTracesIngester {
    pub(super) traces: Vec<Trace>,
    pub(super) fail: bool,
}

impl MayFail for FakeTracesIngester {
    fn fails(&self) -> bool {
        self.fail
    }
}

/// Ingesters by address; records the address of every request.
pub(super) type FakeTracesIngesters = FakeIngesterPool<FakeTracesIngester>;

impl FakeTracesIngesters {
    /// Runs `f` over the fragments of the ingester at `addr` held as `tenant`'s, or fails
    /// like a down one.
    fn answer<T, F>(&self, addr: &str, tenant: &str, f: F) -> BoxFuture<'static, Result<T, Status>>
    where
        F: FnOnce(MemTracesSource, TenantId) -> BoxFuture<'static, Result<T, Status>>,
    {
        let held = self.reach(addr).and_then(|ingester| {
            let tenant =
                TenantId::parse(tenant).map_err(|e| Status::invalid_argument(e.to_string()))?;
            let source = MemTracesSource::new();
            for t in &ingester.traces {
                source.push(tenant.as_str(), t.clone());
            }
            Ok((source, tenant))
        });
        match held {
            Ok((source, tenant)) => f(source, tenant),
            Err(status) => Box::pin(async { Err(status) }),
        }
    }
}

fn status(e: QuerierError) -> Status {
    match e {
        QuerierError::BadRequest(message) => Status::invalid_argument(message),
        other => Status::internal(other.to_string()),
    }
}

impl TracesIngesterQueryClients for FakeTracesIngesters {
    /// The whole range: an ingester's head ignores it.
    fn find_trace_by_id(
        &self,
        addr: &str,
        r: TraceByIdRequest,
    ) -> BoxFuture<'static, Result<TraceByIdResponse, Status>> {
        self.answer(addr, &r.tenant, move |data, tenant| {
            Box::pin(async move {
                let id = TraceId::from_bytes(&r.trace_id)
                    .ok_or_else(|| Status::invalid_argument("bad trace ID"))?;
                let found = data.trace_by_id(&tenant, id, 0, 0).await.map_err(status)?;
                Ok(TraceByIdResponse {
                    trace: found.map(|t| encode_trace(&t)).unwrap_or_default(),
                })
            })
        })
    }

    fn search(
        &self,
        addr: &str,
        r: TracesSearchRequest,
    ) -> BoxFuture<'static, Result<TracesSearchResponse, Status>> {
        self.answer(addr, &r.tenant, move |data, tenant| {
            Box::pin(async move {
                let params = TracesSearchParams {
                    query: r.query,
                    start_ns: r.start_ns,
                    end_ns: r.end_ns,
                    limit: r.limit,
                    spans_per_span_set: r.spans_per_span_set,
                    min_duration_ns: r.min_duration_ns,
                    max_duration_ns: r.max_duration_ns,
                };
                let outcome = data.search(&tenant, params).await.map_err(status)?;
                let traces = outcome
                    .traces
                    .iter()
                    .map(|m| trace_match_to_proto(m).map_err(|e| Status::internal(e.to_string())))
                    .collect::<Result<_, _>>()?;
                Ok(TracesSearchResponse {
                    traces,
                    inspected_traces: outcome.inspected_traces,
                    inspected_bytes: outcome.inspected_bytes,
                })
            })
        })
    }

    fn search_tags(
        &self,
        addr: &str,
        r: TracesSearchTagsRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagsResponse, Status>> {
        self.answer(addr, &r.tenant, move |data, tenant| {
            Box::pin(async move {
                let scopes = data
                    .tag_names(&tenant, &r.scope, r.start_ns, r.end_ns, r.limit)
                    .await
                    .map_err(status)?;
                let scopes = scopes
                    .into_iter()
                    .map(|s| WireTagScope {
                        name: s.name,
                        tags: s.tags,
                    })
                    .collect();
                Ok(TracesSearchTagsResponse { scopes })
            })
        })
    }

    fn search_tag_values(
        &self,
        addr: &str,
        r: TracesSearchTagValuesRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagValuesResponse, Status>> {
        self.answer(addr, &r.tenant, move |data, tenant| {
            Box::pin(async move {
                let values = data
                    .tag_values(&tenant, &r.tag, &r.query, r.start_ns, r.end_ns, r.limit)
                    .await
                    .map_err(status)?;
                let values = values
                    .into_iter()
                    .map(|v| WireTagValue {
                        r#type: v.value_type,
                        value: v.value,
                    })
                    .collect();
                Ok(TracesSearchTagValuesResponse { values })
            })
        })
    }
}

/// A ring with RF 3 of ACTIVE instances `(id, heartbeat ms)` at `<id>:9095`.
fn ring(instances: &[(&str, i64)]) -> Arc<TokenRing> {
    let addrs: Vec<String> = instances
        .iter()
        .map(|(id, _)| format!("{id}:9095"))
        .collect();
    let instances: Vec<(&str, &str, InstanceState, i64)> = instances
        .iter()
        .zip(&addrs)
        .map(|(&(id, heartbeat_ms), addr)| (id, addr.as_str(), InstanceState::Active, heartbeat_ms))
        .collect();
    fake_ring(&instances, 1 << 24)
}

/// Heartbeats and the querier's clock, in ms.
pub(super) const NOW_MS: i64 = 1_700_000_100_000;

pub(super) fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

/// A querier over `fakes` at `a:9095`, `b:9095` and `c:9095`, heartbeating at [`NOW_MS`],
/// reading also the blocks in `blocks` when given.
pub(super) fn querier_over(
    fakes: FakeTracesIngesters,
    blocks: Option<(Arc<dyn ObjectStore>, &QuerierConfig)>,
) -> TracesQuerier {
    let ring = ring(&[("a", NOW_MS), ("b", NOW_MS), ("c", NOW_MS)]);
    let mut registry = Registry::default();
    let querier = TracesQuerier::new(
        Arc::new(move || Arc::clone(&ring)),
        Arc::new(fakes),
        &mut registry,
    )
    .with_clock(Arc::new(|| NOW_MS));
    match blocks {
        Some((store, config)) => querier.with_blocks(config, store, &mut registry),
        None => querier,
    }
}

/// `string` tag values.
pub(super) fn strings(values: &[&str]) -> Vec<TracesTagValue> {
    values
        .iter()
        .map(|v| TracesTagValue {
            value_type: "string".into(),
            value: v.to_string(),
        })
        .collect()
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
