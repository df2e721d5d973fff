//! The CPU half of a traces push: decode, validate (dropping invalid spans, grouping the rest
//! per trace ID), hash every trace ID onto the ring and build one `TracesPushRequest` per
//! ingester, each trace encoded once as an OTLP `TracesData` for all its replicas. Runs on the
//! blocking pool.

use prost::Message;
use sextant_model::limits::TenantTracesLimits;
use sextant_model::TenantId;
use sextant_proto::ingester::TracesPushRequest;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sextant_proto::otlp::trace::v1::TracesData;
use sextant_ring::TokenRing;
use sextant_traces::model::TraceBatch;
use sextant_traces::push::{
    decode_otlp_traces, validate_traces, TracesPushError, TracesValidationLimits, ValidatedTraces,
};

use super::{TracesPushInput, TracesPushOutcome};
use crate::error::DistributorError;
use crate::replication::ReplicaPlan;

/// The CPU half's result: what to send where, and what validation refused.
pub(super) struct PreparedTraces {
    pub plan: ReplicaPlan,
    /// One request per `plan.destinations` entry (the tenant is set).
    pub requests: Vec<TracesPushRequest>,
    /// The spans in each request, per `plan.destinations` entry.
    pub spans_per_request: Vec<u64>,
    /// What validation accepted.
    pub accepted: TracesPushOutcome,
    /// What validation refused or truncated (its batch is emptied: the traces are in
    /// `requests`).
    pub validated: ValidatedTraces,
}

/// Where a push is prepared: the tenant, its limits and the ring at one instant.
pub(super) struct PrepareContext<'a> {
    pub tenant: &'a TenantId,
    pub limits: &'a TenantTracesLimits,
    pub ring: &'a TokenRing,
    pub max_decompressed: usize,
    pub now_ms: i64,
}

/// Decode, validate, route and build the per-ingester requests.
pub(super) fn prepare_blocking(
    input: TracesPushInput,
    cx: &PrepareContext<'_>,
) -> Result<PreparedTraces, DistributorError> {
    let request = decode(input, cx.max_decompressed)?;
    let mut validated = validate_traces(request, &TracesValidationLimits::from(cx.limits));
    let batch = std::mem::take(&mut validated.batch);
    let accepted = TracesPushOutcome {
        traces: batch.traces.len() as u64,
        spans: batch.span_count() as u64,
        bytes: batch.encoded_len() as u64,
    };
    // trace `i` of the batch is series `i` of the plan
    let tokens = batch.traces.iter().map(|trace| trace.id.token(cx.tenant));
    let plan = ReplicaPlan::route(cx.ring, cx.now_ms, tokens)?;
    let (requests, spans_per_request) = build_requests(batch, &plan, cx.tenant);
    Ok(PreparedTraces {
        plan,
        requests,
        spans_per_request,
        accepted,
        validated,
    })
}

fn decode(
    input: TracesPushInput,
    max_decompressed: usize,
) -> Result<ExportTraceServiceRequest, DistributorError> {
    match input {
        TracesPushInput::Otlp {
            content_type,
            content_encoding,
            body,
        } => decode_otlp_traces(
            content_type.as_deref(),
            content_encoding.as_deref(),
            &body,
            max_decompressed,
        )
        .map_err(decode_error),
        TracesPushInput::OtlpRequest(request) => Ok(request),
    }
}

fn decode_error(e: TracesPushError) -> DistributorError {
    let too_large = matches!(e, TracesPushError::TooLarge { .. });
    DistributorError {
        kind: e.kind(),
        id: too_large.then_some("err-sextant-request-too-large"),
        message: e.to_string(),
    }
}

/// Encodes every trace once as a `TracesData` and gives each destination the traces routed to
/// it; returns the requests and the span count of each.
fn build_requests(
    batch: TraceBatch,
    plan: &ReplicaPlan,
    tenant: &TenantId,
) -> (Vec<TracesPushRequest>, Vec<u64>) {
    let encoded: Vec<(Vec<u8>, Vec<u8>, u64)> = batch
        .traces
        .into_iter()
        .map(|trace| {
            let spans = trace.span_count() as u64;
            let data = TracesData {
                resource_spans: trace.resource_spans,
            };
            (trace.id.as_bytes().to_vec(), data.encode_to_vec(), spans)
        })
        .collect();
    plan.destinations
        .iter()
        .map(|dest| {
            let mut request = TracesPushRequest {
                tenant: tenant.to_string(),
                trace_ids: Vec::with_capacity(dest.series.len()),
                traces: Vec::with_capacity(dest.series.len()),
            };
            let mut spans = 0;
            for &i in &dest.series {
                let (id, data, n) = &encoded[i as usize];
                request.trace_ids.push(id.clone());
                request.traces.push(data.clone());
                spans += n;
            }
            (request, spans)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use sextant_ring::Operation;
    use sextant_traces::model::TraceId;

    use super::*;
    use crate::traces_push::tests::{request, ring_of, span, trace_id};

    /// Per trace ID, the sorted span IDs a request carries; asserts each trace's spans are
    /// all of that trace.
    fn spans_by_trace(request: &TracesPushRequest) -> BTreeMap<TraceId, Vec<Vec<u8>>> {
        let mut out = BTreeMap::new();
        for (id, data) in request.trace_ids.iter().zip(&request.traces) {
            let id = TraceId::from_bytes(id).expect("a 16-byte trace ID");
            let data = TracesData::decode(data.as_slice()).expect("an encoded TracesData");
            let mut spans: Vec<Vec<u8>> = data
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .inspect(|s| assert_eq!(s.trace_id, id.0))
                .map(|s| s.span_id.clone())
                .collect();
            spans.sort();
            out.insert(id, spans);
        }
        out
    }

    proptest! {
        /// Whatever the spans and however they are spread over resources, every trace goes
        /// whole, encoded once, to exactly the RF instances its token picks on the ring.
        #[test]
        fn every_trace_goes_whole_to_its_replica_set(
            spans in prop::collection::vec((1u8..=30, 0usize..3), 1..60),
            instances in 3usize..=6,
        ) {
            let mut services: Vec<(&str, Vec<_>)> =
                vec![("a", Vec::new()), ("b", Vec::new()), ("c", Vec::new())];
            let mut want: BTreeMap<TraceId, Vec<Vec<u8>>> = BTreeMap::new();
            for (i, &(trace, resource)) in spans.iter().enumerate() {
                let mut s = span(trace, 1, "op");
                s.span_id = (i as u64 + 1).to_be_bytes().to_vec();
                want.entry(trace_id(trace)).or_default().push(s.span_id.clone());
                services[resource].1.push(s);
            }
            want.values_mut().for_each(|v| v.sort());
            let ring = ring_of(instances);
            let tenant = TenantId::parse("tenant-1").unwrap();
            let now_ms = crate::traces_push::now_ms();
            let cx = PrepareContext {
                tenant: &tenant,
                limits: &TenantTracesLimits::default(),
                ring: &ring,
                max_decompressed: 0,
                now_ms,
            };
            let input = TracesPushInput::OtlpRequest(request(&services));
            let prepared = prepare_blocking(input, &cx).unwrap();
            prop_assert_eq!(prepared.accepted.spans, spans.len() as u64);
            prop_assert_eq!(prepared.accepted.traces, want.len() as u64);
            prop_assert!(prepared.validated.rejections.is_empty());
            let received: Vec<_> = prepared.requests.iter().map(spans_by_trace).collect();
            for (slot, request) in prepared.requests.iter().enumerate() {
                prop_assert_eq!(&request.tenant, "tenant-1");
                let spans: usize = received[slot].values().map(Vec::len).sum();
                prop_assert_eq!(prepared.spans_per_request[slot], spans as u64);
            }
            let mut replicas = Vec::new();
            for (id, span_ids) in &want {
                ring.get_indices(id.token(&tenant), Operation::Write, now_ms, &mut replicas)
                    .unwrap();
                let mut owners: Vec<&str> = replicas
                    .iter()
                    .map(|&r| ring.instances()[r].addr.as_str())
                    .collect();
                owners.sort_unstable();
                let mut holders: Vec<&str> = Vec::new();
                for (slot, at) in received.iter().enumerate() {
                    if let Some(got) = at.get(id) {
                        prop_assert_eq!(got, span_ids);
                        holders.push(prepared.plan.destinations[slot].addr.as_str());
                    }
                }
                holders.sort_unstable();
                prop_assert_eq!(holders.len(), 3);
                prop_assert_eq!(holders, owners);
            }
        }
    }
}
