//! Tempo's search combiner: results about the same trace from several sources (replicas,
//! ingesters holding different fragments, blocks) become one.

use std::collections::{HashMap, HashSet};

use crate::traceql::eval::{TraceqlSpanSet, TraceqlTraceMatch};

/// Collects search results, one per trace ID.
///
/// Merging two results of one trace keeps the non-empty root names, the earliest start and
/// the latest end, and combines span sets with equal attributes (`by(...)` values): spans
/// deduplicated by span ID, at most `spans_per_span_set` kept (0: all). `matched` adds up
/// when the incoming result shows spans not seen yet (another fragment of the trace), and
/// takes the larger count when every shown span was already known (a replica's copy).
#[derive(Debug, Clone, Default)]
pub struct TracesSearchCombiner {
    spans_per_span_set: usize,
    traces: HashMap<String, TraceqlTraceMatch>,
}

impl TracesSearchCombiner {
    /// A combiner keeping at most `spans_per_span_set` spans per span set (0: all).
    pub fn new(spans_per_span_set: u32) -> TracesSearchCombiner {
        TracesSearchCombiner {
            spans_per_span_set: spans_per_span_set as usize,
            traces: HashMap::new(),
        }
    }

    /// Adds one result, merged with what is known of its trace.
    pub fn add(&mut self, incoming: TraceqlTraceMatch) {
        match self.traces.get_mut(&incoming.trace_id) {
            Some(existing) => combine(existing, incoming, self.spans_per_span_set),
            None => {
                let mut incoming = incoming;
                for set in &mut incoming.span_sets {
                    truncate(set, self.spans_per_span_set);
                }
                self.traces.insert(incoming.trace_id.clone(), incoming);
            }
        }
    }

    /// How many distinct traces are held.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// Whether the trace (by its match's ID text) is held.
    pub fn contains(&self, trace_id: &str) -> bool {
        self.traces.contains_key(trace_id)
    }

    /// The traces, newest start first (ties by ID), at most `limit` (0: all).
    pub fn finish(self, limit: usize) -> Vec<TraceqlTraceMatch> {
        let mut traces: Vec<TraceqlTraceMatch> = self.traces.into_values().collect();
        traces.sort_by(|a, b| {
            b.start_time_unix_nano
                .cmp(&a.start_time_unix_nano)
                .then_with(|| a.trace_id.cmp(&b.trace_id))
        });
        if limit > 0 {
            traces.truncate(limit);
        }
        traces
    }
}

fn combine(existing: &mut TraceqlTraceMatch, incoming: TraceqlTraceMatch, spss: usize) {
    let end = |m: &TraceqlTraceMatch| {
        m.start_time_unix_nano
            .saturating_add(m.duration_ms.saturating_mul(1_000_000))
    };
    let end_ns = end(existing).max(end(&incoming));
    let start = match (existing.start_time_unix_nano, incoming.start_time_unix_nano) {
        (0, s) | (s, 0) => s,
        (a, b) => a.min(b),
    };
    existing.start_time_unix_nano = start;
    existing.duration_ms = end_ns.saturating_sub(start) / 1_000_000;
    if existing.root_service_name.is_empty() {
        existing.root_service_name = incoming.root_service_name;
    }
    if existing.root_trace_name.is_empty() {
        existing.root_trace_name = incoming.root_trace_name;
    }
    for set in incoming.span_sets {
        match existing
            .span_sets
            .iter_mut()
            .find(|s| s.attributes == set.attributes)
        {
            Some(known) => combine_span_sets(known, set, spss),
            None => {
                let mut set = set;
                truncate(&mut set, spss);
                existing.span_sets.push(set);
            }
        }
    }
}

fn combine_span_sets(existing: &mut TraceqlSpanSet, incoming: TraceqlSpanSet, spss: usize) {
    let known: HashSet<String> = existing.spans.iter().map(|s| s.span_id.clone()).collect();
    let overlap = incoming
        .spans
        .iter()
        .filter(|s| known.contains(&s.span_id))
        .count();
    existing.matched = if overlap == incoming.spans.len() {
        existing.matched.max(incoming.matched)
    } else {
        let overlap = u32::try_from(overlap).unwrap_or(u32::MAX);
        (existing.matched + incoming.matched).saturating_sub(overlap)
    };
    existing.spans.extend(
        incoming
            .spans
            .into_iter()
            .filter(|s| !known.contains(&s.span_id)),
    );
    truncate(existing, spss);
}

fn truncate(set: &mut TraceqlSpanSet, spss: usize) {
    if spss > 0 {
        set.spans.truncate(spss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::eval::TraceqlSpan;

    fn span(id: &str) -> TraceqlSpan {
        TraceqlSpan {
            span_id: id.into(),
            name: format!("op-{id}"),
            start_time_unix_nano: 1,
            duration_nanos: 1,
            attributes: vec![],
        }
    }

    fn result(
        id: &str,
        root: &str,
        start_ms: u64,
        duration_ms: u64,
        spans: &[&str],
        matched: u32,
    ) -> TraceqlTraceMatch {
        TraceqlTraceMatch {
            trace_id: id.into(),
            root_service_name: root.into(),
            root_trace_name: root.into(),
            start_time_unix_nano: start_ms * 1_000_000,
            duration_ms,
            span_sets: vec![TraceqlSpanSet {
                spans: spans.iter().map(|s| span(s)).collect(),
                matched,
                attributes: vec![],
            }],
        }
    }

    fn ids(m: &TraceqlTraceMatch) -> Vec<&str> {
        m.span_sets[0]
            .spans
            .iter()
            .map(|s| s.span_id.as_str())
            .collect()
    }

    struct Case {
        name: &'static str,
        spss: u32,
        inputs: Vec<TraceqlTraceMatch>,
        root: &'static str,
        start_ms: u64,
        duration_ms: u64,
        spans: Vec<&'static str>,
        matched: u32,
    }

    #[test]
    fn combines_results_of_one_trace() {
        let cases = [
            Case {
                name: "replicas: same spans, larger count kept",
                spss: 3,
                inputs: vec![
                    result("a", "svc", 10, 5, &["01", "02"], 2),
                    result("a", "svc", 10, 5, &["01", "02"], 2),
                    result("a", "svc", 10, 5, &["01", "02"], 2),
                ],
                root: "svc",
                start_ms: 10,
                duration_ms: 5,
                spans: vec!["01", "02"],
                matched: 2,
            },
            Case {
                name: "fragments: spans and counts add up, times widen",
                spss: 0,
                inputs: vec![
                    result("a", "", 12, 8, &["02"], 1),
                    result("a", "svc", 10, 1, &["01"], 1),
                ],
                root: "svc",
                start_ms: 10,
                duration_ms: 10,
                spans: vec!["02", "01"],
                matched: 2,
            },
            Case {
                name: "partial overlap counted once, spans capped",
                spss: 2,
                inputs: vec![
                    result("a", "svc", 10, 1, &["01", "02"], 2),
                    result("a", "other", 10, 1, &["02", "03"], 2),
                ],
                root: "svc",
                start_ms: 10,
                duration_ms: 1,
                spans: vec!["01", "02"],
                matched: 3,
            },
        ];
        for case in cases {
            let mut c = TracesSearchCombiner::new(case.spss);
            case.inputs.into_iter().for_each(|m| c.add(m));
            let out = c.finish(0);
            assert_eq!(out.len(), 1, "{}", case.name);
            let m = &out[0];
            assert_eq!(m.root_service_name, case.root, "{}", case.name);
            assert_eq!(
                m.start_time_unix_nano,
                case.start_ms * 1_000_000,
                "{}",
                case.name
            );
            assert_eq!(m.duration_ms, case.duration_ms, "{}", case.name);
            assert_eq!(ids(m), case.spans, "{}", case.name);
            assert_eq!(m.span_sets[0].matched, case.matched, "{}", case.name);
        }
    }

    #[test]
    fn span_sets_with_other_attributes_stay_apart() {
        use sextant_proto::otlp::common::v1::KeyValue;
        let mut other = result("a", "svc", 1, 1, &["09"], 1);
        other.span_sets[0].attributes = vec![KeyValue {
            key: "by(.x)".into(),
            ..Default::default()
        }];
        let mut c = TracesSearchCombiner::new(3);
        c.add(result("a", "svc", 1, 1, &["01"], 1));
        c.add(other);
        assert_eq!(c.finish(0)[0].span_sets.len(), 2);
    }

    #[test]
    fn orders_newest_first_and_limits() {
        let mut c = TracesSearchCombiner::new(3);
        for (id, start) in [("a", 1), ("b", 3), ("c", 2), ("d", 3)] {
            c.add(result(id, "svc", start, 1, &["01"], 1));
        }
        assert_eq!(c.len(), 4);
        assert!(c.contains("c"));
        let order = |limit| -> Vec<String> {
            c.clone()
                .finish(limit)
                .into_iter()
                .map(|m| m.trace_id)
                .collect()
        };
        assert_eq!(order(0), ["b", "d", "c", "a"]);
        assert_eq!(order(2), ["b", "d"]);
    }
}
