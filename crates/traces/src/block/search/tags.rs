//! Tag names and typed tag values from the search columns, collected into the shared
//! [`crate::tags`] collectors so a querier merges blocks and ingesters alike.

use std::collections::BTreeSet;

use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::block::prefilter::{AttrScope, Field};
use crate::model::Trace;
use crate::tags::{TraceTag, TraceTagNames, TraceTagScope, TraceTagValue, TraceTagValues};
use crate::traceql::{SpanKind, SpanStatus, Static};

use super::{Attr, ColValue, TracesSearchColumns, NONE};

impl TracesSearchColumns {
    /// Adds the block's attribute names of every scope `names` collects.
    pub fn tag_names(&self, names: &mut TraceTagNames) {
        for (scope, keys) in TraceTagScope::ALL.iter().zip(&self.scope_keys) {
            for &k in keys {
                names.add(*scope, &self.keys[k as usize]);
            }
        }
    }

    /// Adds the values of `tag` over every span of the block, as
    /// [`TraceTagValues::add_trace`] would over the decoded traces. Returns `false` (adding
    /// nothing) when the columns do not keep what the tag needs (events, links,
    /// instrumentation, status messages, array values): decode the pages instead.
    pub fn tag_values(&self, tag: &TraceTag, values: &mut TraceTagValues) -> bool {
        let Some(field) = Field::from_attribute(tag.attribute()) else {
            return false;
        };
        let string = |s: u32| TraceTagValue {
            value_type: "string",
            value: self.strings[s as usize].clone(),
        };
        match field {
            Field::SpanName => self.spans.iter().for_each(|s| values.add(string(s.name))),
            Field::Status => self.spans.iter().for_each(|s| {
                let status = Static::Status(status_of(s.status)).to_string();
                values.add(TraceTagValue {
                    value_type: "status",
                    value: status,
                });
            }),
            Field::Kind => self.spans.iter().for_each(|s| {
                let kind = Static::Kind(kind_of(s.kind)).to_string();
                values.add(TraceTagValue {
                    value_type: "kind",
                    value: kind,
                });
            }),
            Field::RootService => self
                .traces
                .iter()
                .filter(|t| t.root_service != NONE)
                .for_each(|t| values.add(string(t.root_service))),
            Field::RootName => self
                .traces
                .iter()
                .filter(|t| t.root_name != NONE)
                .for_each(|t| values.add(string(t.root_name))),
            Field::Duration => {
                let durations = self.spans.iter().map(|s| s.duration_ns);
                add_durations(durations.collect(), tag, values);
            }
            Field::TraceDuration => {
                let traces = self.traces.iter().filter(|t| t.spans.0 < t.spans.1);
                add_durations(traces.map(|t| t.end_ns - t.start_ns).collect(), tag, values);
            }
            Field::Attr { scope, name } => return self.attribute_values(scope, &name, values),
        }
        true
    }

    fn attribute_values(&self, scope: AttrScope, name: &str, values: &mut TraceTagValues) -> bool {
        let Some(key) = self.keys.iter().position(|k| k == name) else {
            return true; // no span has it
        };
        let mut used = vec![false; self.pairs.len()];
        let mut mark = |range: (u32, u32)| {
            for &p in self.attrs_of(range) {
                used[p as usize] = true;
            }
        };
        if scope != AttrScope::Span {
            self.resources.iter().for_each(|r| mark(r.attrs));
        }
        if scope != AttrScope::Resource {
            self.spans.iter().for_each(|s| mark(s.attrs));
        }
        let attrs: Vec<&Attr> = (0..self.pairs.len())
            .filter(|&p| used[p] && self.pairs[p].key as usize == key)
            .map(|p| &self.pairs[p])
            .collect();
        if attrs.iter().any(|a| a.value == ColValue::Other) {
            return false;
        }
        for a in attrs {
            if values.is_full() {
                break;
            }
            values.add(match a.value {
                ColValue::Str(s) => TraceTagValue {
                    value_type: "string",
                    value: self.strings[s as usize].clone(),
                },
                ColValue::Int(i) => TraceTagValue {
                    value_type: "int",
                    value: i.to_string(),
                },
                ColValue::Bool(b) => TraceTagValue {
                    value_type: "bool",
                    value: b.to_string(),
                },
                ColValue::Float(f) => float_value(f),
                ColValue::Other => continue,
            });
        }
        true
    }
}

/// A one-span trace holding `span`, to get a value's text from the shared tag code (the
/// single place that spells floats and durations as Tempo does).
fn value_of(span: Span, tag: &TraceTag) -> Option<TraceTagValue> {
    let trace = Trace {
        id: Default::default(),
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut values = TraceTagValues::new(1);
    values.add_trace(&trace, tag, None);
    values.into_vec().pop()
}

fn float_value(f: f64) -> TraceTagValue {
    let span = Span {
        attributes: vec![KeyValue {
            key: "v".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(f)),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    value_of(span, &TraceTag::unscoped("v")).unwrap_or(TraceTagValue {
        value_type: "float",
        value: f.to_string(),
    })
}

/// Adds distinct durations (`duration` or `traceDuration`) until `values` is full.
fn add_durations(durations: BTreeSet<u64>, tag: &TraceTag, values: &mut TraceTagValues) {
    for ns in durations {
        if values.is_full() {
            break;
        }
        let span = Span {
            end_time_unix_nano: ns,
            ..Default::default()
        };
        if let Some(v) = value_of(span, tag) {
            values.add(v);
        }
    }
}

pub(in crate::block) fn status_of(code: u8) -> SpanStatus {
    match code {
        1 => SpanStatus::Ok,
        2 => SpanStatus::Error,
        _ => SpanStatus::Unset,
    }
}

pub(in crate::block) fn kind_of(code: u8) -> SpanKind {
    match code {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}
