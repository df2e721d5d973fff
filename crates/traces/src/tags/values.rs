//! The typed values of one TraceQL identifier over the spans of a trace.

use std::collections::{BTreeSet, HashSet};

use sextant_proto::otlp::common::v1::{any_value, InstrumentationScope, KeyValue};
use sextant_proto::otlp::trace::v1::Span;

use super::TraceTagError;
use crate::model::Trace;
use crate::traceql::eval::TraceqlEvaluator;
use crate::traceql::{
    parse, Attribute, AttributeScope, BinaryOp, CmpOp, FieldExpr, Intrinsic, RootExpr, SpanKind,
    SpanStatus, SpansetExpr, Stage, Static,
};

/// A TraceQL identifier whose values are listed: an attribute (`resource.service.name`,
/// `span.http.method`, `.foo`) or an intrinsic (`name`, `status`, `kind`, `statusMessage`,
/// `rootName`, `rootServiceName`, `duration`, `traceDuration`, `event:name`,
/// `instrumentation:name`, `instrumentation:version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceTag(Attribute);

impl TraceTag {
    /// Parses an identifier with the TraceQL parser; anything else (an expression, a
    /// literal, garbage, an intrinsic without values to list) is refused.
    pub fn parse(tag: &str) -> Result<TraceTag, TraceTagError> {
        let refuse = |reason: String| TraceTagError::Tag {
            tag: tag.to_owned(),
            reason,
        };
        let query = parse(&format!("{{ {tag} != nil }}")).map_err(|e| refuse(e.to_string()))?;
        let attribute = match query.expr {
            RootExpr::Pipeline(p) if query.hints.is_empty() && p.stages.len() == 1 => {
                match p.stages.into_iter().next() {
                    Some(Stage::Spanset(SpansetExpr::Filter(FieldExpr::Binary {
                        op: BinaryOp::Cmp(CmpOp::Neq),
                        lhs,
                        rhs,
                    }))) if *rhs == FieldExpr::Static(Static::Nil) => match *lhs {
                        FieldExpr::Attribute(a) => Some(a),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        };
        let attribute = attribute.ok_or_else(|| refuse("not a TraceQL identifier".to_owned()))?;
        match &attribute {
            Attribute::Named { parent: true, .. } => {
                Err(refuse("parent attributes are not supported".to_owned()))
            }
            Attribute::Intrinsic(i) if !lists_values(*i) => Err(refuse(format!(
                "listing values of intrinsic {} is not supported",
                i.as_str()
            ))),
            _ => Ok(TraceTag(attribute)),
        }
    }

    /// An unscoped attribute (`.name`), for the v1 API whose tags are bare attribute names.
    pub fn unscoped(name: &str) -> TraceTag {
        TraceTag(Attribute::Named {
            scope: AttributeScope::None,
            parent: false,
            name: name.to_owned(),
        })
    }

    /// The identifier.
    pub fn attribute(&self) -> &Attribute {
        &self.0
    }
}

fn lists_values(i: Intrinsic) -> bool {
    use Intrinsic as I;
    matches!(
        i,
        I::Name
            | I::SpanName
            | I::Status
            | I::SpanStatus
            | I::StatusMessage
            | I::SpanStatusMessage
            | I::Kind
            | I::SpanKind
            | I::RootName
            | I::TraceScopedRootName
            | I::RootServiceName
            | I::TraceScopedRootService
            | I::Duration
            | I::SpanDuration
            | I::TraceDuration
            | I::TraceScopedDuration
            | I::EventName
            | I::InstrumentationName
            | I::InstrumentationVersion
    )
}

/// A typed tag value, Tempo's `{"type":"string","value":"checkout"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceTagValue {
    /// `string`, `int`, `float`, `bool`, `duration`, `status` or `kind`.
    pub value_type: &'static str,
    pub value: String,
}

impl TraceTagValue {
    fn new(value_type: &'static str, value: String) -> TraceTagValue {
        TraceTagValue { value_type, value }
    }

    pub fn string(value: impl Into<String>) -> TraceTagValue {
        TraceTagValue::new("string", value.into())
    }

    pub fn int(value: i64) -> TraceTagValue {
        TraceTagValue::new("int", value.to_string())
    }

    /// Go's `%g` text (`0.5`, `1.5e+07`), as Tempo prints floats.
    pub fn float(value: f64) -> TraceTagValue {
        TraceTagValue::new("float", go_float(value))
    }

    pub fn bool(value: bool) -> TraceTagValue {
        TraceTagValue::new("bool", value.to_string())
    }

    /// Go's `time.Duration` text (`1.5ms`, `1m30s`), as Tempo prints durations.
    pub fn duration(ns: u64) -> TraceTagValue {
        TraceTagValue::new("duration", go_duration(ns))
    }

    pub fn status(status: SpanStatus) -> TraceTagValue {
        TraceTagValue::new("status", Static::Status(status).to_string())
    }

    pub fn kind(kind: SpanKind) -> TraceTagValue {
        TraceTagValue::new("kind", Static::Kind(kind).to_string())
    }

    /// The values of an OTLP attribute value: one for a scalar, one per scalar element of
    /// an array, none for maps and bytes.
    pub fn from_any_value(value: &any_value::Value) -> Vec<TraceTagValue> {
        match value {
            any_value::Value::StringValue(s) => vec![TraceTagValue::string(s.as_str())],
            any_value::Value::BoolValue(b) => vec![TraceTagValue::bool(*b)],
            any_value::Value::IntValue(i) => vec![TraceTagValue::int(*i)],
            any_value::Value::DoubleValue(f) => vec![TraceTagValue::float(*f)],
            any_value::Value::ArrayValue(a) => a
                .values
                .iter()
                .filter_map(|v| v.value.as_ref())
                .filter(|v| !matches!(v, any_value::Value::ArrayValue(_)))
                .flat_map(TraceTagValue::from_any_value)
                .collect(),
            _ => Vec::new(), // maps, bytes, dictionary references
        }
    }
}

/// Distinct values collected from traces, up to a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceTagValues {
    values: BTreeSet<TraceTagValue>,
    /// At most this many values (0: no limit).
    limit: usize,
}

/// A span and where it sits.
struct SpanRef<'t> {
    resource: &'t [KeyValue],
    scope: Option<&'t InstrumentationScope>,
    span: &'t Span,
}

impl TraceTagValues {
    pub fn new(limit: usize) -> TraceTagValues {
        TraceTagValues {
            values: BTreeSet::new(),
            limit,
        }
    }

    pub fn is_full(&self) -> bool {
        self.limit != 0 && self.values.len() >= self.limit
    }

    /// Adds one value (ignored once the limit is reached).
    pub fn add(&mut self, value: TraceTagValue) {
        if !self.is_full() {
            self.values.insert(value);
        }
    }

    /// Adds the values of `tag` in `trace`: over every span, or with a filter only over the
    /// spans it matches (nothing when the trace does not match).
    pub fn add_trace(
        &mut self,
        trace: &Trace,
        tag: &TraceTag,
        filter: Option<&TraceqlEvaluator<'_>>,
    ) {
        let matched: Option<HashSet<String>> = match filter {
            None => None,
            Some(eval) => {
                let Some(m) = eval.search(trace, 0) else {
                    return;
                };
                Some(
                    m.span_sets
                        .into_iter()
                        .flat_map(|s| s.spans)
                        .map(|s| s.span_id)
                        .collect(),
                )
            }
        };
        let spans = spans(trace).filter(|s| {
            matched
                .as_ref()
                .is_none_or(|m| m.contains(&hex(&s.span.span_id)))
        });
        match tag.attribute() {
            Attribute::Named { scope, name, .. } => {
                for s in spans {
                    self.add_attribute(&s, *scope, name);
                }
            }
            Attribute::Intrinsic(i) => {
                let spans: Vec<SpanRef<'_>> = spans.collect();
                if let Some(v) = trace_intrinsic(trace, *i, !spans.is_empty()) {
                    self.add(v);
                }
                for s in &spans {
                    for v in span_intrinsic(s, *i) {
                        self.add(v);
                    }
                }
            }
        }
    }

    fn add_attribute(&mut self, s: &SpanRef<'_>, scope: AttributeScope, name: &str) {
        let mut from = |attributes: &[KeyValue]| {
            if let Some(kv) = attributes.iter().find(|kv| kv.key == name) {
                let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
                for v in value.into_iter().flat_map(TraceTagValue::from_any_value) {
                    self.add(v);
                }
            }
        };
        match scope {
            AttributeScope::Span => from(&s.span.attributes),
            AttributeScope::Resource => from(s.resource),
            AttributeScope::None => {
                from(&s.span.attributes);
                from(s.resource);
            }
            AttributeScope::Event => s.span.events.iter().for_each(|e| from(&e.attributes)),
            AttributeScope::Link => s.span.links.iter().for_each(|l| from(&l.attributes)),
            AttributeScope::Instrumentation => {
                if let Some(scope) = s.scope {
                    from(&scope.attributes);
                }
            }
        }
    }

    /// The values, sorted.
    pub fn into_vec(self) -> Vec<TraceTagValue> {
        self.values.into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn spans(trace: &Trace) -> impl Iterator<Item = SpanRef<'_>> {
    trace.resource_spans.iter().flat_map(|rs| {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        rs.scope_spans.iter().flat_map(move |ss| {
            ss.spans.iter().map(move |span| SpanRef {
                resource,
                scope: ss.scope.as_ref(),
                span,
            })
        })
    })
}

/// The value of a trace-level intrinsic, when some span of the trace is selected.
fn trace_intrinsic(trace: &Trace, i: Intrinsic, selected: bool) -> Option<TraceTagValue> {
    use Intrinsic as I;
    if !selected {
        return None;
    }
    let root = || spans(trace).find(|s| s.span.parent_span_id.is_empty());
    match i {
        I::RootName | I::TraceScopedRootName => {
            Some(TraceTagValue::string(root()?.span.name.as_str()))
        }
        I::RootServiceName | I::TraceScopedRootService => {
            let root = root()?;
            let kv = root.resource.iter().find(|kv| kv.key == "service.name")?;
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(TraceTagValue::string(s.as_str())),
                _ => None,
            }
        }
        I::TraceDuration | I::TraceScopedDuration => {
            let start = spans(trace).map(|s| s.span.start_time_unix_nano).min()?;
            let end = spans(trace).map(|s| s.span.end_time_unix_nano).max()?;
            Some(TraceTagValue::duration(end.saturating_sub(start)))
        }
        _ => None,
    }
}

/// The values of a span-level intrinsic on one span.
fn span_intrinsic(s: &SpanRef<'_>, i: Intrinsic) -> Vec<TraceTagValue> {
    use Intrinsic as I;
    let span = s.span;
    let string = |v: &str| vec![TraceTagValue::string(v)];
    match i {
        I::Name | I::SpanName => string(&span.name),
        I::StatusMessage | I::SpanStatusMessage => {
            string(span.status.as_ref().map_or("", |st| st.message.as_str()))
        }
        I::Status | I::SpanStatus => {
            let status = match span.status.as_ref().map_or(0, |st| st.code) {
                1 => SpanStatus::Ok,
                2 => SpanStatus::Error,
                _ => SpanStatus::Unset,
            };
            vec![TraceTagValue::status(status)]
        }
        I::Kind | I::SpanKind => {
            let kind = match span.kind {
                1 => SpanKind::Internal,
                2 => SpanKind::Server,
                3 => SpanKind::Client,
                4 => SpanKind::Producer,
                5 => SpanKind::Consumer,
                _ => SpanKind::Unspecified,
            };
            vec![TraceTagValue::kind(kind)]
        }
        I::Duration | I::SpanDuration => vec![TraceTagValue::duration(
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        )],
        I::EventName => span
            .events
            .iter()
            .map(|e| TraceTagValue::string(e.name.as_str()))
            .collect(),
        I::InstrumentationName => s.scope.map_or(Vec::new(), |sc| string(&sc.name)),
        I::InstrumentationVersion => s.scope.map_or(Vec::new(), |sc| string(&sc.version)),
        _ => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (Tempo's text of a float): shortest digits,
/// exponent form when the decimal exponent is below -4 or at least 6.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let sci = format!("{f:e}"); // e.g. "1.5e-7", shortest round-trip digits
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return f.to_string();
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        f.to_string()
    }
}

/// Go's `time.Duration.String()`: `0s`, `1.5µs`, `250ms`, `1.5s`, `1m30s`, `2h0m0s`.
fn go_duration(ns: u64) -> String {
    const SECOND: u64 = 1_000_000_000;
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < SECOND {
        let (unit, size) = match ns {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fraction(ns / size, ns % size, size));
    }
    let seconds = fraction((ns / SECOND) % 60, ns % SECOND, SECOND);
    let (minutes, hours) = ((ns / SECOND / 60) % 60, ns / SECOND / 3600);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `whole.frac` with the fraction (in units of `1/size`) trimmed of trailing zeros.
fn fraction(whole: u64, frac: u64, size: u64) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let digits = size.ilog10() as usize;
    let text = format!("{frac:0digits$}");
    format!("{whole}.{}", text.trim_end_matches('0'))
}
