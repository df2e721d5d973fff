//! Encoding the `search` file trace by trace (layout in the `block` module's docs).

use std::collections::BTreeSet;

use hashbrown::HashMap;

use sextant_proto::otlp::common::v1::{any_value, KeyValue};
use sextant_proto::otlp::trace::v1::Span;

use crate::model::Trace;
use crate::tags::TraceTagScope;

use super::super::codec::{compress, header, put_bytes, put_varint, seal, zigzag};
use super::super::TracesBlockError;
use super::SEARCH_MAGIC;

/// Strings interned in insertion order, their encoded list kept as they come.
#[derive(Default)]
struct Dictionary {
    refs: HashMap<String, u32>,
    encoded: Vec<u8>,
}

impl Dictionary {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&r) = self.refs.get(s) {
            return r;
        }
        let r = self.refs.len() as u32;
        self.refs.insert(s.to_owned(), r);
        put_bytes(&mut self.encoded, s.as_bytes());
        r
    }

    fn put(&self, out: &mut Vec<u8>) {
        put_varint(out, self.refs.len() as u64);
        out.extend_from_slice(&self.encoded);
    }
}

/// A trace's time span and size, for the block's meta.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::block) struct TraceSummary {
    pub start_ns: u64,
    pub end_ns: u64,
    pub spans: u64,
}

/// Builds the `search` file.
#[derive(Default)]
pub(in crate::block) struct SearchBuilder {
    keys: Dictionary,
    strings: Dictionary,
    traces: Vec<u8>,
    count: u64,
    /// Per scope (in [`TraceTagScope::ALL`] order), the keys used.
    scope_keys: [BTreeSet<u32>; 5],
    /// Distinct (key, value) attributes and their encoded list.
    pairs: HashMap<(u32, PairValue), u32>,
    pairs_encoded: Vec<u8>,
}

/// An attribute value, hashable (floats by their bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PairValue {
    Str(u32),
    Int(i64),
    Float(u64),
    Bool(bool),
    Other,
}

impl SearchBuilder {
    /// Adds a trace held in data page `page`.
    pub fn add(&mut self, trace: &Trace, page: u32) -> TraceSummary {
        let spans: Vec<(usize, &Span)> = trace
            .resource_spans
            .iter()
            .enumerate()
            .flat_map(|(r, rs)| {
                rs.scope_spans
                    .iter()
                    .flat_map(move |ss| &ss.spans)
                    .map(move |s| (r, s))
            })
            .collect();
        let start_ns = spans
            .iter()
            .map(|(_, s)| s.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end_ns = spans
            .iter()
            .map(|(_, s)| s.end_time_unix_nano)
            .max()
            .unwrap_or(0)
            .max(start_ns);
        // the root as the evaluator sees it: the first span without a parent
        let root = spans.iter().find(|(_, s)| s.parent_span_id.is_empty());
        let root_service = root.and_then(|(r, _)| {
            service_name(&trace.resource_spans[*r].resource.as_ref()?.attributes)
        });
        let root_name = root.map(|(_, s)| s.name.as_str());

        let out = &mut self.traces;
        out.extend_from_slice(trace.id.as_bytes());
        put_varint(out, start_ns);
        put_varint(out, end_ns - start_ns);
        let root_service = root_service.map_or(0, |s| self.strings.intern(s) + 1);
        let root_name = root_name.map_or(0, |s| self.strings.intern(s) + 1);
        put_varint(&mut self.traces, u64::from(root_service));
        put_varint(&mut self.traces, u64::from(root_name));
        put_varint(&mut self.traces, u64::from(page));
        put_varint(&mut self.traces, trace.resource_spans.len() as u64);
        for rs in &trace.resource_spans {
            let attributes = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let service = service_name(attributes).map_or(0, |s| self.strings.intern(s) + 1);
            put_varint(&mut self.traces, u64::from(service));
            self.put_attrs(attributes, TraceTagScope::Resource);
            for scope in rs.scope_spans.iter().filter_map(|ss| ss.scope.as_ref()) {
                self.note_keys(TraceTagScope::Instrumentation, scope.attributes.iter());
            }
        }
        put_varint(&mut self.traces, spans.len() as u64);
        for (r, span) in &spans {
            self.put_span(*r, span, start_ns);
        }
        self.count += 1;
        TraceSummary {
            start_ns,
            end_ns,
            spans: spans.len() as u64,
        }
    }

    fn put_span(&mut self, resource: usize, span: &Span, trace_start: u64) {
        let name = self.strings.intern(&span.name);
        let kind = u8::try_from(span.kind)
            .ok()
            .filter(|k| *k <= 5)
            .unwrap_or(0);
        let status = match span.status.as_ref().map_or(0, |s| s.code) {
            c @ 1..=2 => c as u8,
            _ => 0,
        };
        let out = &mut self.traces;
        put_varint(out, resource as u64);
        put_varint(out, u64::from(name));
        out.push(kind * 4 + status);
        put_varint(out, span.start_time_unix_nano.saturating_sub(trace_start));
        put_varint(
            out,
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        );
        self.put_attrs(&span.attributes, TraceTagScope::Span);
        let events = span.events.iter().map(|e| &e.attributes);
        let links = span.links.iter().map(|l| &l.attributes);
        self.note_keys(TraceTagScope::Event, events.flatten());
        self.note_keys(TraceTagScope::Link, links.flatten());
    }

    /// Records attribute names of a scope the columns do not otherwise keep.
    fn note_keys<'k>(
        &mut self,
        scope: TraceTagScope,
        attributes: impl Iterator<Item = &'k KeyValue>,
    ) {
        for kv in attributes {
            let key = self.keys.intern(&kv.key);
            self.scope_keys[scope_position(scope)].insert(key);
        }
    }

    /// The attributes, each key once (the first, as the evaluator looks them up).
    fn put_attrs(&mut self, attributes: &[KeyValue], scope: TraceTagScope) {
        let mut seen: Vec<&str> = Vec::with_capacity(attributes.len());
        for kv in attributes {
            if !seen.contains(&kv.key.as_str()) {
                seen.push(&kv.key);
            }
        }
        put_varint(&mut self.traces, seen.len() as u64);
        for (i, kv) in attributes.iter().enumerate() {
            if attributes[..i].iter().any(|earlier| earlier.key == kv.key) {
                continue;
            }
            let key = self.keys.intern(&kv.key);
            self.scope_keys[scope_position(scope)].insert(key);
            let value = self.pair_value(kv.value.as_ref().and_then(|v| v.value.as_ref()));
            let pair = self.intern_pair(key, value);
            put_varint(&mut self.traces, u64::from(pair));
        }
    }

    fn pair_value(&mut self, value: Option<&any_value::Value>) -> PairValue {
        match value {
            Some(any_value::Value::StringValue(s)) => PairValue::Str(self.strings.intern(s)),
            Some(any_value::Value::IntValue(i)) => PairValue::Int(*i),
            Some(any_value::Value::DoubleValue(f)) => PairValue::Float(f.to_bits()),
            Some(any_value::Value::BoolValue(b)) => PairValue::Bool(*b),
            _ => PairValue::Other,
        }
    }

    fn intern_pair(&mut self, key: u32, value: PairValue) -> u32 {
        if let Some(&r) = self.pairs.get(&(key, value)) {
            return r;
        }
        let r = self.pairs.len() as u32;
        self.pairs.insert((key, value), r);
        let out = &mut self.pairs_encoded;
        put_varint(out, u64::from(key));
        match value {
            PairValue::Str(s) => {
                out.push(0);
                put_varint(out, u64::from(s));
            }
            PairValue::Int(i) => {
                out.push(1);
                put_varint(out, zigzag(i));
            }
            PairValue::Float(bits) => {
                out.push(2);
                out.extend_from_slice(&bits.to_le_bytes());
            }
            PairValue::Bool(b) => out.extend_from_slice(&[3, u8::from(b)]),
            PairValue::Other => out.push(4),
        }
        r
    }

    /// The sealed file.
    pub fn finish(self) -> Result<Vec<u8>, TracesBlockError> {
        let mut body = Vec::with_capacity(
            self.keys.encoded.len()
                + self.strings.encoded.len()
                + self.pairs_encoded.len()
                + self.traces.len()
                + 64,
        );
        self.keys.put(&mut body);
        self.strings.put(&mut body);
        for keys in &self.scope_keys {
            put_varint(&mut body, keys.len() as u64);
            keys.iter()
                .for_each(|&k| put_varint(&mut body, u64::from(k)));
        }
        put_varint(&mut body, self.pairs.len() as u64);
        body.extend_from_slice(&self.pairs_encoded);
        put_varint(&mut body, self.count);
        body.extend_from_slice(&self.traces);
        let mut file = header(SEARCH_MAGIC);
        file.extend_from_slice(&compress(&body, "search")?);
        Ok(seal(file))
    }
}

pub(super) fn scope_position(scope: TraceTagScope) -> usize {
    TraceTagScope::ALL
        .iter()
        .position(|s| *s == scope)
        .unwrap_or(0)
}

/// The first `service.name` attribute, when it is a string (the evaluator's root service).
fn service_name(attributes: &[KeyValue]) -> Option<&str> {
    match attributes
        .iter()
        .find(|kv| kv.key == "service.name")?
        .value
        .as_ref()?
        .value
        .as_ref()?
    {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}
