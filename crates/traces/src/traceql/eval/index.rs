//! One trace flattened for evaluation: every span with its resource, scope and place in the
//! span tree (parent, children, nested-set numbers).

use std::collections::HashMap;

use sextant_proto::otlp::common::v1::{InstrumentationScope, KeyValue};
use sextant_proto::otlp::trace::v1::Span;

use crate::model::Trace;

/// A span and its context.
pub(super) struct SpanNode<'t> {
    pub span: &'t Span,
    pub resource: &'t [KeyValue],
    pub scope: Option<&'t InstrumentationScope>,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Nested-set numbering of the span tree (Tempo's `nestedSetLeft`/`Right`).
    pub left: i64,
    pub right: i64,
}

/// The spans of a trace and trace-level facts.
pub(super) struct TraceIndex<'t> {
    pub trace: &'t Trace,
    pub spans: Vec<SpanNode<'t>>,
    /// The first span without a parent.
    pub root: Option<usize>,
    pub start: u64,
    pub end: u64,
}

impl<'t> TraceIndex<'t> {
    pub fn new(trace: &'t Trace) -> TraceIndex<'t> {
        let mut spans = Vec::new();
        for rs in &trace.resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans.push(SpanNode {
                        span,
                        resource,
                        scope: ss.scope.as_ref(),
                        parent: None,
                        children: Vec::new(),
                        left: 0,
                        right: 0,
                    });
                }
            }
        }
        let by_id: HashMap<&[u8], usize> = spans
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.span.span_id[..], i))
            .collect();
        for i in 0..spans.len() {
            let parent_id = &spans[i].span.parent_span_id[..];
            if parent_id.is_empty() {
                continue;
            }
            if let Some(&p) = by_id.get(parent_id).filter(|&&p| p != i) {
                spans[i].parent = Some(p);
                spans[p].children.push(i);
            }
        }
        let start = spans
            .iter()
            .map(|n| n.span.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = spans
            .iter()
            .map(|n| n.span.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        let root = spans.iter().position(|n| n.span.parent_span_id.is_empty());
        let mut index = TraceIndex {
            trace,
            spans,
            root,
            start,
            end,
        };
        index.number_nested_sets();
        index
    }

    /// Depth-first numbering from each span without a (known) parent; iterative, so deep
    /// or malformed trees cannot overflow the stack. Cycles are never entered twice.
    fn number_nested_sets(&mut self) {
        let mut next = 1i64;
        let tops: Vec<usize> = (0..self.spans.len())
            .filter(|&i| self.spans[i].parent.is_none())
            .collect();
        for top in tops {
            // (span, whether its children were pushed already)
            let mut stack = vec![(top, false)];
            while let Some((i, expanded)) = stack.pop() {
                if expanded {
                    self.spans[i].right = next;
                    next += 1;
                    continue;
                }
                if self.spans[i].left != 0 {
                    continue;
                }
                self.spans[i].left = next;
                next += 1;
                stack.push((i, true));
                stack.extend(self.spans[i].children.iter().rev().map(|&c| (c, false)));
            }
        }
    }

    /// The strict ancestors of `span`, nearest first (bounded, in case parent IDs loop).
    pub fn ancestors(&self, span: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.spans[span].parent, |&p| self.spans[p].parent)
            .take(self.spans.len())
    }

    /// The value of `service.name` on the root span's resource.
    pub fn root_service_name(&self) -> Option<&'t str> {
        let root = &self.spans[self.root?];
        root.resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(sextant_proto::otlp::common::v1::any_value::Value::StringValue(s)) => {
                    Some(s.as_str())
                }
                _ => None,
            })
    }

    /// The root span's name.
    pub fn root_name(&self) -> Option<&'t str> {
        self.root.map(|r| self.spans[r].span.name.as_str())
    }
}
