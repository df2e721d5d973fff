//! Values and the evaluation of field expressions (`{ ... }` contents) on one span.

use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;
use sextant_proto::otlp::common::v1::{any_value, KeyValue};
use sextant_proto::otlp::trace::v1::span::{Event, Link};

use super::index::TraceIndex;
use crate::model::TraceId;
use crate::traceql::{
    ArithOp, Attribute, AttributeScope, BinaryOp, CmpOp, FieldExpr, Intrinsic, SpanKind,
    SpanStatus, Static, TraceqlError, UnaryOp,
};

/// A runtime value. Map and bytes attributes, and arrays holding anything but scalars, are
/// `Nil`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Nanoseconds.
    Duration(i64),
    Status(SpanStatus),
    Kind(SpanKind),
    /// An array attribute's elements.
    Array(Vec<Value>),
}

impl Value {
    pub fn from_static(s: &Static) -> Value {
        match s {
            Static::Nil => Value::Nil,
            Static::Bool(b) => Value::Bool(*b),
            Static::Int(i) => Value::Int(*i),
            Static::Float(f) => Value::Float(*f),
            Static::String(s) => Value::Str(s.clone()),
            Static::Duration(d) => Value::Duration(*d),
            Static::Status(s) => Value::Status(*s),
            Static::Kind(k) => Value::Kind(*k),
        }
    }

    /// The number behind ints, floats and durations.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Duration(d) => Some(*d as f64),
            _ => None,
        }
    }

    /// A map key for `by(...)` grouping (floats by their bits).
    pub fn group_key(&self) -> String {
        format!("{self:?}")
    }
}

/// The regexes of a query, compiled once (Go RE2 full-match semantics: anchored).
#[derive(Debug, Default)]
pub(super) struct Regexes(HashMap<String, Regex>);

impl Regexes {
    /// Compiles every regex literal of `e`; a regex whose pattern is not a string literal is
    /// unsupported.
    pub fn collect(&mut self, e: &FieldExpr) -> Result<(), TraceqlError> {
        match e {
            FieldExpr::Binary { op, lhs, rhs } => {
                if matches!(op, BinaryOp::Regex | BinaryOp::NotRegex) {
                    let FieldExpr::Static(Static::String(pattern)) = rhs.as_ref() else {
                        return Err(TraceqlError::Unsupported(format!(
                            "regex whose pattern is not a string literal: {e}"
                        )));
                    };
                    let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|err| {
                        TraceqlError::Invalid(format!("invalid regex {pattern:?}: {err}"))
                    })?;
                    self.0.insert(pattern.clone(), re);
                }
                self.collect(lhs)?;
                self.collect(rhs)
            }
            FieldExpr::Unary { expr, .. } => self.collect(expr),
            FieldExpr::Static(_) | FieldExpr::Attribute(_) => Ok(()),
        }
    }
}

/// What a field expression is evaluated against: a span, and one of its events or links
/// when the expression refers to events or links.
pub(super) struct SpanCtx<'a, 't> {
    pub index: &'a TraceIndex<'t>,
    pub span: usize,
    pub event: Option<&'t Event>,
    pub link: Option<&'t Link>,
}

/// Evaluates a field expression. Type mismatches and missing attributes give `Nil` or `false`.
pub(super) fn eval(e: &FieldExpr, ctx: &SpanCtx<'_, '_>, regexes: &Regexes) -> Value {
    match e {
        FieldExpr::Static(s) => Value::from_static(s),
        FieldExpr::Attribute(a) => attribute(a, ctx),
        FieldExpr::Unary { op, expr } => match (op, eval(expr, ctx, regexes)) {
            (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map_or(Value::Nil, Value::Int),
            (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
            (UnaryOp::Neg, Value::Duration(d)) => {
                d.checked_neg().map_or(Value::Nil, Value::Duration)
            }
            _ => Value::Nil,
        },
        FieldExpr::Binary { op, lhs, rhs } => {
            let mut l = eval(lhs, ctx, regexes);
            let mut r = eval(rhs, ctx, regexes);
            if matches!(op, BinaryOp::Cmp(CmpOp::Eq | CmpOp::Neq)) {
                // Tempo compares trace IDs as bytes: `trace:id = "00ab"` matches ID `ab`.
                if is_trace_id(lhs) {
                    r = normalize_trace_id(r);
                }
                if is_trace_id(rhs) {
                    l = normalize_trace_id(l);
                }
            }
            match op {
                BinaryOp::And => Value::Bool(l == Value::Bool(true) && r == Value::Bool(true)),
                BinaryOp::Or => Value::Bool(l == Value::Bool(true) || r == Value::Bool(true)),
                BinaryOp::Cmp(op) if is_nil(lhs) || is_nil(rhs) => {
                    let absent = l == Value::Nil && r == Value::Nil;
                    Value::Bool(match op {
                        CmpOp::Eq => absent,
                        CmpOp::Neq => !absent,
                        _ => false,
                    })
                }
                BinaryOp::Cmp(op) => Value::Bool(compare(*op, &l, &r)),
                BinaryOp::Arith(op) => arith(*op, &l, &r),
                BinaryOp::Regex | BinaryOp::NotRegex => {
                    let Value::Str(pattern) = &r else {
                        return Value::Bool(false);
                    };
                    let Some(re) = regexes.0.get(pattern) else {
                        return Value::Bool(false);
                    };
                    let want = *op == BinaryOp::Regex;
                    let test = |v: &Value| matches!(v, Value::Str(s) if re.is_match(s) == want);
                    Value::Bool(match &l {
                        // Tempo: `=~` matches any element, `!~` must hold for every element.
                        Value::Array(elements) if want => elements.iter().any(test),
                        Value::Array(elements) => elements.iter().all(test),
                        v => test(v),
                    })
                }
            }
        }
    }
}

fn is_trace_id(e: &FieldExpr) -> bool {
    matches!(
        e,
        FieldExpr::Attribute(Attribute::Intrinsic(
            Intrinsic::TraceId | Intrinsic::LinkTraceId
        ))
    )
}

/// A hex trace ID in Tempo's form (no leading zeros); other values unchanged.
fn normalize_trace_id(v: Value) -> Value {
    match &v {
        Value::Str(s) => s
            .parse::<TraceId>()
            .map_or(v, |id| Value::Str(trace_id_text(id.as_bytes()))),
        _ => v,
    }
}

/// Tempo's text of a trace ID: hex without leading zeros.
pub(super) fn trace_id_text(bytes: &[u8]) -> String {
    let hex = hex(bytes);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_owned()
}

fn is_nil(e: &FieldExpr) -> bool {
    matches!(e, FieldExpr::Static(Static::Nil))
}

/// Tempo's comparison: both sides must be present (a missing attribute makes any comparison
/// false, `!=` included) and of comparable types: ints and floats compare as numbers.
/// Comparisons with the `nil` literal, which test presence, are handled by the caller.
/// An array compared with a scalar holds for any element, or for `!=` for every element.
pub(super) fn compare(op: CmpOp, l: &Value, r: &Value) -> bool {
    let each = |elements: &Vec<Value>, test: &dyn Fn(&Value) -> bool| {
        if op == CmpOp::Neq {
            elements.iter().all(test)
        } else {
            elements.iter().any(test)
        }
    };
    match (l, r) {
        (Value::Array(_), Value::Array(_)) => false,
        (Value::Array(elements), scalar) => each(elements, &|e| compare_scalars(op, e, scalar)),
        (scalar, Value::Array(elements)) => each(elements, &|e| compare_scalars(op, scalar, e)),
        _ => compare_scalars(op, l, r),
    }
}

fn compare_scalars(op: CmpOp, l: &Value, r: &Value) -> bool {
    let ordering = match (l, r) {
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, CmpOp::Eq | CmpOp::Neq) => Some(a.cmp(b)),
        (Value::Status(a), Value::Status(b)) if matches!(op, CmpOp::Eq | CmpOp::Neq) => {
            Some(if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        (Value::Kind(a), Value::Kind(b)) if matches!(op, CmpOp::Eq | CmpOp::Neq) => {
            Some(if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        _ => match (numeric(l), numeric(r)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Neq => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Lte => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Gte => ordering != Ordering::Less,
    }
}

/// Ints and floats as numbers (durations only compare with durations).
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

pub(super) fn arith(op: ArithOp, l: &Value, r: &Value) -> Value {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => int_arith(op, *a, *b).map_or(Value::Nil, Value::Int),
        (Value::Duration(a), Value::Duration(b)) if matches!(op, ArithOp::Add | ArithOp::Sub) => {
            int_arith(op, *a, *b).map_or(Value::Nil, Value::Duration)
        }
        _ => match (numeric(l).or(dur(l)), numeric(r).or(dur(r))) {
            (Some(a), Some(b)) => Value::Float(float_arith(op, a, b)),
            _ => Value::Nil,
        },
    }
}

fn dur(v: &Value) -> Option<f64> {
    match v {
        Value::Duration(d) => Some(*d as f64),
        _ => None,
    }
}

fn int_arith(op: ArithOp, a: i64, b: i64) -> Option<i64> {
    match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => a.checked_div(b),
        ArithOp::Mod => a.checked_rem(b),
        ArithOp::Pow => u32::try_from(b).ok().and_then(|b| a.checked_pow(b)),
    }
}

fn float_arith(op: ArithOp, a: f64, b: f64) -> f64 {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Mod => a % b,
        ArithOp::Pow => a.powf(b),
    }
}

fn attribute(a: &Attribute, ctx: &SpanCtx<'_, '_>) -> Value {
    let node = &ctx.index.spans[ctx.span];
    match a {
        Attribute::Intrinsic(i) => intrinsic(*i, ctx),
        // `parent.` is refused before evaluation.
        Attribute::Named { parent: true, .. } => Value::Nil,
        Attribute::Named { scope, name, .. } => match scope {
            AttributeScope::Span => lookup(&node.span.attributes, name),
            AttributeScope::Resource => lookup(node.resource, name),
            AttributeScope::None => match lookup(&node.span.attributes, name) {
                Value::Nil => lookup(node.resource, name),
                v => v,
            },
            AttributeScope::Event => ctx
                .event
                .map_or(Value::Nil, |e| lookup(&e.attributes, name)),
            AttributeScope::Link => ctx.link.map_or(Value::Nil, |l| lookup(&l.attributes, name)),
            AttributeScope::Instrumentation => node
                .scope
                .map_or(Value::Nil, |s| lookup(&s.attributes, name)),
        },
    }
}

fn lookup(attributes: &[KeyValue], name: &str) -> Value {
    let Some(value) = attributes
        .iter()
        .find(|kv| kv.key == name)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
    else {
        return Value::Nil;
    };
    match value {
        any_value::Value::ArrayValue(array) => {
            let elements: Vec<Value> = array
                .values
                .iter()
                .map(|v| v.value.as_ref().map_or(Value::Nil, scalar))
                .collect();
            if elements.contains(&Value::Nil) {
                return Value::Nil;
            }
            Value::Array(elements)
        }
        v => scalar(v),
    }
}

fn scalar(value: &any_value::Value) -> Value {
    match value {
        any_value::Value::StringValue(s) => Value::Str(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::Int(*i),
        any_value::Value::DoubleValue(f) => Value::Float(*f),
        _ => Value::Nil,
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Nil, |s| Value::Str(s.to_owned()))
}

fn intrinsic(i: Intrinsic, ctx: &SpanCtx<'_, '_>) -> Value {
    use Intrinsic as I;
    let index = ctx.index;
    let node = &index.spans[ctx.span];
    let span = node.span;
    match i {
        I::Duration | I::SpanDuration => Value::Duration(span_duration(span) as i64),
        I::ChildCount | I::SpanChildCount => Value::Int(node.children.len() as i64),
        I::Name | I::SpanName => Value::Str(span.name.clone()),
        I::Status | I::SpanStatus => Value::Status(status(span)),
        I::StatusMessage | I::SpanStatusMessage => Value::Str(
            span.status
                .as_ref()
                .map_or(String::new(), |s| s.message.clone()),
        ),
        I::Kind | I::SpanKind => Value::Kind(kind(span.kind)),
        I::RootName | I::TraceScopedRootName => opt_str(index.root_name()),
        I::RootServiceName | I::TraceScopedRootService => opt_str(index.root_service_name()),
        I::TraceDuration | I::TraceScopedDuration => {
            Value::Duration(index.end.saturating_sub(index.start) as i64)
        }
        I::NestedSetLeft => Value::Int(node.left),
        I::NestedSetRight => Value::Int(node.right),
        I::NestedSetParent => Value::Int(node.parent.map_or(-1, |p| index.spans[p].left)),
        I::SpanId => Value::Str(hex(&span.span_id)),
        I::SpanParentId if span.parent_span_id.is_empty() => Value::Nil,
        I::SpanParentId => Value::Str(hex(&span.parent_span_id)),
        I::TraceId => Value::Str(trace_id_text(index.trace.id.as_bytes())),
        I::EventName => ctx.event.map_or(Value::Nil, |e| Value::Str(e.name.clone())),
        I::EventTimeSinceStart => ctx.event.map_or(Value::Nil, |e| {
            Value::Duration(e.time_unix_nano.saturating_sub(span.start_time_unix_nano) as i64)
        }),
        I::LinkTraceId => ctx
            .link
            .map_or(Value::Nil, |l| Value::Str(trace_id_text(&l.trace_id))),
        I::LinkSpanId => ctx.link.map_or(Value::Nil, |l| Value::Str(hex(&l.span_id))),
        I::InstrumentationName => opt_str(node.scope.map(|s| s.name.as_str())),
        I::InstrumentationVersion => opt_str(node.scope.map(|s| s.version.as_str())),
        // Refused before evaluation.
        I::Parent => Value::Nil,
    }
}

pub(super) fn span_duration(span: &sextant_proto::otlp::trace::v1::Span) -> u64 {
    span.end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)
}

fn status(span: &sextant_proto::otlp::trace::v1::Span) -> SpanStatus {
    match span.status.as_ref().map_or(0, |s| s.code) {
        1 => SpanStatus::Ok,
        2 => SpanStatus::Error,
        _ => SpanStatus::Unset,
    }
}

fn kind(k: i32) -> SpanKind {
    match k {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}
