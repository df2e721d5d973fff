//! The search result of one trace, in the shape of Tempo's search response
//! (`TraceSearchMetadata` with `spanSets`).

use serde::{Serialize, Serializer};
use sextant_proto::otlp::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};

use super::field::{hex, span_duration, trace_id_text, Value};
use super::index::TraceIndex;
use super::{Attribute, FieldExpr, Intrinsic, Set, TraceqlEvaluator};
use crate::traceql::Static;

/// A matching trace: Tempo's `TraceSearchMetadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceqlTraceMatch {
    /// Hex, without leading zeros (Tempo's form).
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// Empty when the root span is missing (Tempo's response combiner then says
    /// `<root span not yet received>`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub root_service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub root_trace_name: String,
    #[serde(serialize_with = "as_string")]
    pub start_time_unix_nano: u64,
    pub duration_ms: u64,
    pub span_sets: Vec<TraceqlSpanSet>,
}

/// One matching spanset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceqlSpanSet {
    /// The first spans (in trace order), at most the requested number per spanset.
    pub spans: Vec<TraceqlSpan>,
    /// How many spans matched in all.
    pub matched: u32,
    /// The values of the `by(...)` and aggregates that made this spanset, keyed by their
    /// text (`by(resource.service.name)`, `count()`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
}

/// One matching span.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceqlSpan {
    /// Hex.
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub name: String,
    #[serde(serialize_with = "as_string")]
    pub start_time_unix_nano: u64,
    #[serde(serialize_with = "as_string")]
    pub duration_nanos: u64,
    /// The non-nil values of the `select(...)` fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
}

fn as_string<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub(super) fn trace_match(
    eval: &TraceqlEvaluator<'_>,
    index: &TraceIndex<'_>,
    sets: &[Set],
    spans_per_span_set: usize,
) -> TraceqlTraceMatch {
    TraceqlTraceMatch {
        trace_id: trace_id_text(index.trace.id.as_bytes()),
        root_service_name: index.root_service_name().unwrap_or_default().to_owned(),
        root_trace_name: index.root_name().unwrap_or_default().to_owned(),
        start_time_unix_nano: index.start,
        duration_ms: index.end.saturating_sub(index.start) / 1_000_000,
        span_sets: sets
            .iter()
            .map(|set| span_set(eval, index, set, spans_per_span_set))
            .collect(),
    }
}

fn span_set(
    eval: &TraceqlEvaluator<'_>,
    index: &TraceIndex<'_>,
    set: &Set,
    limit: usize,
) -> TraceqlSpanSet {
    let limit = if limit == 0 { usize::MAX } else { limit };
    TraceqlSpanSet {
        spans: set
            .spans
            .iter()
            .take(limit)
            .map(|&i| span(eval, index, i))
            .collect(),
        matched: u32::try_from(set.spans.len()).unwrap_or(u32::MAX),
        attributes: set
            .attributes
            .iter()
            .filter_map(|(key, value)| key_value(key.clone(), value))
            .collect(),
    }
}

fn span(eval: &TraceqlEvaluator<'_>, index: &TraceIndex<'_>, i: usize) -> TraceqlSpan {
    let s = index.spans[i].span;
    let mut attributes: Vec<KeyValue> = Vec::new();
    for f in &eval.selected {
        let Some(key) = attribute_key(f) else {
            continue;
        };
        if attributes.iter().any(|kv| kv.key == key) {
            continue;
        }
        if let Some(kv) = key_value(key, &eval.value(index, f, i)) {
            attributes.push(kv);
        }
    }
    TraceqlSpan {
        span_id: hex(&s.span_id),
        name: s.name.clone(),
        start_time_unix_nano: s.start_time_unix_nano,
        duration_nanos: span_duration(s),
        attributes,
    }
}

/// The key a selected field is returned under: the attribute's name, the intrinsic's name,
/// or the expression's text. Name and duration are fields of the span already.
fn attribute_key(f: &FieldExpr) -> Option<String> {
    match f {
        FieldExpr::Attribute(Attribute::Named { name, .. }) => Some(name.clone()),
        FieldExpr::Attribute(Attribute::Intrinsic(
            Intrinsic::Name | Intrinsic::SpanName | Intrinsic::Duration | Intrinsic::SpanDuration,
        )) => None,
        FieldExpr::Attribute(Attribute::Intrinsic(i)) => Some(i.as_str().to_owned()),
        _ => Some(f.to_string()),
    }
}

/// An OTLP attribute for a value (Tempo's `asAnyValue`): durations, statuses and kinds as
/// their TraceQL text; `None` for nil.
fn key_value(key: String, value: &Value) -> Option<KeyValue> {
    Some(KeyValue {
        key,
        value: Some(any(value)?),
        ..Default::default()
    })
}

fn any(value: &Value) -> Option<AnyValue> {
    let v = match value {
        Value::Nil => return None,
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Int(i) => any_value::Value::IntValue(*i),
        Value::Float(f) => any_value::Value::DoubleValue(*f),
        Value::Str(s) => any_value::Value::StringValue(s.clone()),
        Value::Duration(d) => any_value::Value::StringValue(Static::Duration(*d).to_string()),
        Value::Status(s) => any_value::Value::StringValue(Static::Status(*s).to_string()),
        Value::Kind(k) => any_value::Value::StringValue(Static::Kind(*k).to_string()),
        Value::Array(elements) => any_value::Value::ArrayValue(ArrayValue {
            values: elements.iter().filter_map(any).collect(),
        }),
    };
    Some(AnyValue { value: Some(v) })
}
