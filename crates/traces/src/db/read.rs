//! Reads: trace by ID, TraceQL search and tag scans over everything held in memory. The
//! state lock is held only to clone fragment handles; decoding and evaluation run on the
//! caller's thread (call these off the async runtime).

use memchr::memmem;

use super::TracesTenantDb;
use crate::block::TracesPrefilter;
use crate::model::{Trace, TraceId};
use crate::tags::{
    TraceTag, TraceTagError, TraceTagNames, TraceTagScope, TraceTagValue, TraceTagValues,
};
use crate::traceql::eval::{TraceqlEvaluator, TraceqlTraceMatch};
use crate::traceql::TraceqlQuery;

/// A search over the traces held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesDbSearch {
    /// Traces overlapping `[start_ns, end_ns)`; zero bounds are open.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Trace duration bounds (earliest span start to latest span end), inclusive; 0 = none.
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
    /// At most this many matches (0: no limit).
    pub limit: usize,
    /// Spans shown per spanset (0: all).
    pub spans_per_span_set: usize,
    /// Strings a trace must hold verbatim in its encoding to be decoded and evaluated
    /// ([`crate::block::TracesPrefilter::required_strings`] of the query); empty: none.
    pub required_strings: Vec<String>,
}

impl TracesDbSearch {
    /// The strings every trace matching `query` holds verbatim (for `required_strings`).
    pub fn required_strings_of(query: &TraceqlQuery) -> Vec<String> {
        TracesPrefilter::from_query(query)
            .required_strings()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracesDbSearchResult {
    /// Newest (latest start) first.
    pub traces: Vec<TraceqlTraceMatch>,
    /// Traces decoded and evaluated, and their encoded bytes.
    pub inspected_traces: u64,
    pub inspected_bytes: u64,
}

impl TracesTenantDb {
    /// Every span held of trace `id` (live, completed and cut not yet released), each once
    /// by span ID; `None` when nothing is held.
    pub fn find(&self, id: &TraceId) -> Option<Trace> {
        let held = self.state.lock().find(id)?;
        Some(held.decode(*id))
    }

    /// Runs a TraceQL query over the traces overlapping the time range and within the
    /// duration bounds, newest first, until `limit` traces matched.
    pub fn search(
        &self,
        eval: &TraceqlEvaluator<'_>,
        params: &TracesDbSearch,
    ) -> TracesDbSearchResult {
        let mut candidates = self.state.lock().snapshot(params.start_ns, params.end_ns);
        candidates.retain(|(_, h)| {
            let d = h.duration_ns();
            d >= params.min_duration_ns
                && (params.max_duration_ns == 0 || d <= params.max_duration_ns)
        });
        candidates.sort_unstable_by(|(a_id, a), (b_id, b)| {
            b.start_ns.cmp(&a.start_ns).then(a_id.cmp(b_id))
        });
        let required: Vec<memmem::Finder<'_>> = params
            .required_strings
            .iter()
            .map(|s| memmem::Finder::new(s.as_bytes()))
            .collect();
        let mut result = TracesDbSearchResult::default();
        for (id, held) in candidates {
            if params.limit != 0 && result.traces.len() >= params.limit {
                break;
            }
            let holds =
                |f: &memmem::Finder<'_>| held.fragments.iter().any(|bytes| f.find(bytes).is_some());
            if !required.iter().all(holds) {
                continue;
            }
            result.inspected_traces += 1;
            result.inspected_bytes += held.bytes;
            let trace = held.decode(id);
            if let Some(m) = eval.search(&trace, params.spans_per_span_set) {
                result.traces.push(m);
            }
        }
        result
    }

    /// Attribute names per scope (`scope`: empty or `all`, `resource`, `span`, `event`,
    /// `link`, `instrumentation`, or `intrinsic` which gives none) of the traces overlapping
    /// the time range, at most `limit` names (0: no limit).
    pub fn tag_names(
        &self,
        scope: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<TraceTagNames, TraceTagError> {
        let mut names = TraceTagNames::new(TraceTagScope::parse_filter(scope)?, limit);
        // bound first: a temporary guard in the loop header would be held through the loop
        let snapshot = self.state.lock().snapshot(start_ns, end_ns);
        for (id, held) in snapshot {
            if names.is_full() {
                break;
            }
            names.add_trace(&held.decode(id));
        }
        Ok(names)
    }

    /// The typed values of a TraceQL identifier (`resource.service.name`, `.foo`, `name`,
    /// `status`, ...) in the traces overlapping the time range, only over the spans `filter`
    /// matches when given; sorted, at most `limit` (0: no limit).
    pub fn tag_values(
        &self,
        tag: &str,
        filter: Option<&TraceqlEvaluator<'_>>,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<Vec<TraceTagValue>, TraceTagError> {
        let tag = TraceTag::parse(tag)?;
        let mut values = TraceTagValues::new(limit);
        // bound first: a temporary guard in the loop header would be held through the loop
        let snapshot = self.state.lock().snapshot(start_ns, end_ns);
        for (id, held) in snapshot {
            if values.is_full() {
                break;
            }
            values.add_trace(&held.decode(id), &tag, filter);
        }
        Ok(values.into_vec())
    }
}
