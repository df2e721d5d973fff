//! [`MemTracesSource`]: traces per tenant held in memory behind the [`TracesSource`] trait,
//! evaluating TraceQL with the engine's [`TraceqlEvaluator`] and collecting tags with the
//! engine's collectors, as the ingesters do. For tests and wiring: it evaluates inline, so
//! keep its traces few.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::{self, BoxFuture};
use parking_lot::{Mutex, RwLock};
use sextant_model::TenantId;
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::tags::{TraceTag, TraceTagNames, TraceTagScope, TraceTagValues};
use sextant_traces::traceql::eval::TraceqlEvaluator;

use crate::source::QuerierError;
use crate::traces_source::{
    bad_request, limit_count, parse_search, tag_values_filter, TracesSearchOutcome,
    TracesSearchParams, TracesSource, TracesTagScope, TracesTagValue,
};

/// Traces per tenant, with a switch to make every call fail.
#[derive(Debug, Default)]
pub struct MemTracesSource {
    tenants: RwLock<BTreeMap<String, Vec<Trace>>>,
    failure: Mutex<Option<QuerierError>>,
}

impl MemTracesSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the spans of a trace; spans of a trace already held are added once by span ID.
    pub fn push(&self, tenant: &str, trace: Trace) {
        let mut tenants = self.tenants.write();
        let traces = tenants.entry(tenant.to_owned()).or_default();
        let Some(held) = traces.iter_mut().find(|t| t.id == trace.id) else {
            traces.push(trace);
            return;
        };
        let known: BTreeSet<Vec<u8>> = held.spans().map(|s| s.span_id.clone()).collect();
        for mut rs in trace.resource_spans {
            for ss in &mut rs.scope_spans {
                ss.spans.retain(|s| !known.contains(&s.span_id));
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
            if !rs.scope_spans.is_empty() {
                held.resource_spans.push(rs);
            }
        }
    }

    /// Makes every later call fail with `error` (`None` to recover).
    pub fn set_failure(&self, error: Option<QuerierError>) {
        *self.failure.lock() = error;
    }

    /// The tenant's traces overlapping `[start_ns, end_ns)` (0 = unbounded); `Err` when
    /// failing.
    fn traces_in(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Trace>, QuerierError> {
        if let Some(error) = self.failure.lock().clone() {
            return Err(error);
        }
        let tenants = self.tenants.read();
        let traces = tenants.get(tenant.as_str()).map_or(&[][..], Vec::as_slice);
        let in_range = traces
            .iter()
            .filter(|t| {
                let (start, end) = bounds(t);
                (start_ns <= 0 || end >= start_ns as u64) && (end_ns <= 0 || start < end_ns as u64)
            })
            .cloned()
            .collect();
        Ok(in_range)
    }

    fn search_now(
        &self,
        tenant: &TenantId,
        params: &TracesSearchParams,
    ) -> Result<TracesSearchOutcome, QuerierError> {
        let traces = self.traces_in(tenant, params.start_ns, params.end_ns)?;
        let query = parse_search(&params.query)?;
        let evaluator = TraceqlEvaluator::new(&query).map_err(bad_request)?;
        let mut outcome = TracesSearchOutcome {
            completed_jobs: 1,
            total_jobs: 1,
            ..Default::default()
        };
        let mut found = Vec::new();
        for trace in &traces {
            let (start, end) = bounds(trace);
            let duration = end.saturating_sub(start);
            outcome.inspected_traces += 1;
            outcome.inspected_bytes += trace.encoded_len() as u64;
            if duration < params.min_duration_ns
                || (params.max_duration_ns > 0 && duration > params.max_duration_ns)
            {
                continue;
            }
            let spss = params.spans_per_span_set as usize;
            if let Some(found_match) = evaluator.search(trace, spss) {
                found.push((start, found_match));
            }
        }
        found.sort_by_key(|(start, _)| std::cmp::Reverse(*start));
        found.truncate(limit_count(params.limit));
        outcome.traces = found.into_iter().map(|(_, m)| m).collect();
        Ok(outcome)
    }

    /// Names collected as the ingesters collect them (every scope listed, `limit` names in
    /// all).
    fn tag_names_now(
        &self,
        tenant: &TenantId,
        scope: &str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<Vec<TracesTagScope>, QuerierError> {
        let traces = self.traces_in(tenant, start_ns, end_ns)?;
        let scopes = TraceTagScope::parse_filter(scope).map_err(bad_request)?;
        let mut names = TraceTagNames::new(scopes, limit as usize);
        traces.iter().for_each(|t| names.add_trace(t));
        Ok(TracesTagScope::from_names(&names))
    }

    /// Values collected as the ingesters collect them, over the spans `query` matches when
    /// it is a filter that runs.
    fn tag_values_now(
        &self,
        tenant: &TenantId,
        tag: &str,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<Vec<TracesTagValue>, QuerierError> {
        let traces = self.traces_in(tenant, start_ns, end_ns)?;
        let tag = TraceTag::parse(tag).map_err(bad_request)?;
        let filter = tag_values_filter(query);
        let evaluator = match filter.as_deref() {
            Some(q) => Some(TraceqlEvaluator::new(q).map_err(bad_request)?),
            None => None,
        };
        let mut values = TraceTagValues::new(limit as usize);
        for trace in &traces {
            values.add_trace(trace, &tag, evaluator.as_ref());
        }
        Ok(values.into_vec().into_iter().map(Into::into).collect())
    }
}

/// Earliest start and latest end of the trace's spans.
fn bounds(trace: &Trace) -> (u64, u64) {
    let start = trace.spans().map(|s| s.start_time_unix_nano).min();
    let end = trace.spans().map(|s| s.end_time_unix_nano).max();
    (start.unwrap_or(0), end.unwrap_or(0))
}

impl TracesSource for MemTracesSource {
    fn trace_by_id<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Option<Trace>, QuerierError>> {
        let found = self
            .traces_in(tenant, start_ns, end_ns)
            .map(|traces| traces.into_iter().find(|t| t.id == id));
        Box::pin(future::ready(found))
    }

    fn search<'a>(
        &'a self,
        tenant: &'a TenantId,
        params: TracesSearchParams,
    ) -> BoxFuture<'a, Result<TracesSearchOutcome, QuerierError>> {
        Box::pin(future::ready(self.search_now(tenant, &params)))
    }

    fn tag_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        scope: &'a str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TracesTagScope>, QuerierError>> {
        let names = self.tag_names_now(tenant, scope, start_ns, end_ns, limit);
        Box::pin(future::ready(names))
    }

    fn tag_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        tag: &'a str,
        query: &'a str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TracesTagValue>, QuerierError>> {
        let values = self.tag_values_now(tenant, tag, query, start_ns, end_ns, limit);
        Box::pin(future::ready(values))
    }
}
