//! TraceQL search over one trace held in memory, with Tempo's semantics.
//!
//! ```text
//! let eval = TraceqlEvaluator::new(&query)?;   // validates, refuses what is not implemented
//! eval.search(&trace, spans_per_span_set)      // None: no match; else Tempo's search result
//! ```
//!
//! A pipeline starts from one spanset holding every span of the trace. `{ filter }` keeps the
//! spans for which the filter is `true` (an event- or link-scoped condition holds when some
//! event or link of the span satisfies it); `&&`/`||` between spansets need both/either side
//! non-empty and return the union; structural operators (`>`, `>>`, `<`, `<<`, `~`, their
//! `!` negations and `&` unions) return the right-hand spans related (or, negated, unrelated)
//! to a left-hand span. `count() > 2`, `avg(duration) > 1s` (and `min`, `max`, `sum`) filter
//! spansets, `by(...)` splits them, `coalesce()` merges them and `select(...)` attaches
//! attributes to the returned spans.
//!
//! Values follow Tempo: a missing attribute makes every comparison false except `= nil`;
//! ints and floats compare as numbers; regexes match the whole string (RE2 full match); an
//! array attribute matches when any element does (every element for `!=` and `!~`). Map and
//! bytes attributes evaluate to nil.
//!
//! Unsupported (an error from [`TraceqlEvaluator::new`], never a wrong answer): TraceQL
//! metrics queries, comparisons of wrapped scalar pipelines, the `parent` intrinsic and
//! `parent.` attributes, regexes whose pattern is not a string literal. `with(...)` hints are
//! ignored. Evaluation is CPU work: run it off the async runtime.

mod field;
mod index;
mod output;
mod structural;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use field::{Regexes, SpanCtx, Value};
use index::TraceIndex;
pub use output::{TraceqlSpan, TraceqlSpanSet, TraceqlTraceMatch};

use crate::model::Trace;

use super::{
    Aggregate, AggregateKind, Attribute, AttributeScope, FieldExpr, Intrinsic, Pipeline, RootExpr,
    ScalarExpr, ScalarFilter, SpansetExpr, SpansetOp, Stage, TraceqlError, TraceqlQuery,
};

/// A TraceQL search query ready to run on traces.
#[derive(Debug)]
pub struct TraceqlEvaluator<'q> {
    pipeline: &'q Pipeline,
    regexes: Regexes,
    /// Fields of every `select(...)`, in order.
    selected: Vec<&'q FieldExpr>,
}

/// A spanset during evaluation: spans (indices into the trace, ascending) and the values of
/// the `by(...)` and aggregates that made it, keyed by their text (`by(span.a)`, `count()`).
#[derive(Debug, Clone, Default)]
struct Set {
    spans: Vec<usize>,
    attributes: Vec<(String, Value)>,
}

impl<'q> TraceqlEvaluator<'q> {
    /// Validates `query` and prepares it for evaluation.
    pub fn new(query: &'q TraceqlQuery) -> Result<TraceqlEvaluator<'q>, TraceqlError> {
        query.validate()?;
        let pipeline = match &query.expr {
            RootExpr::Pipeline(p) => p,
            RootExpr::ScalarFilter(f) => {
                return Err(TraceqlError::Unsupported(format!(
                    "comparison of scalar pipelines: {f}"
                )))
            }
            RootExpr::Metrics(_) => {
                return Err(TraceqlError::Unsupported(
                    "TraceQL metrics queries in search".to_owned(),
                ))
            }
        };
        let mut fields = Vec::new();
        pipeline_fields(pipeline, &mut fields);
        let mut regexes = Regexes::default();
        for f in &fields {
            check_supported(f)?;
            regexes.collect(f)?;
        }
        let mut selected = Vec::new();
        selected_fields(pipeline, &mut selected);
        Ok(TraceqlEvaluator {
            pipeline,
            regexes,
            selected,
        })
    }

    /// Runs the query on `trace`: `None` when it does not match, else its matching spansets
    /// with at most `spans_per_span_set` spans each (0: all), `matched` counting them all.
    pub fn search(&self, trace: &Trace, spans_per_span_set: usize) -> Option<TraceqlTraceMatch> {
        let index = TraceIndex::new(trace);
        let all = Set {
            spans: (0..index.spans.len()).collect(),
            attributes: Vec::new(),
        };
        let sets = self.pipeline(&index, self.pipeline, vec![all]);
        let sets: Vec<Set> = sets.into_iter().filter(|s| !s.spans.is_empty()).collect();
        if sets.is_empty() {
            return None;
        }
        Some(output::trace_match(self, &index, &sets, spans_per_span_set))
    }

    fn pipeline(&self, index: &TraceIndex<'_>, p: &Pipeline, mut sets: Vec<Set>) -> Vec<Set> {
        for stage in &p.stages {
            sets = match stage {
                Stage::Spanset(e) => sets
                    .iter()
                    .flat_map(|s| self.spanset(index, e, s))
                    .collect(),
                Stage::ScalarFilter(f) => sets
                    .into_iter()
                    .filter_map(|s| self.scalar_filter(index, f, s))
                    .collect(),
                Stage::By(e) => sets.iter().flat_map(|s| self.group(index, e, s)).collect(),
                Stage::Select(_) => sets,
                Stage::Coalesce => coalesce(sets),
            };
        }
        sets
    }

    fn spanset(&self, index: &TraceIndex<'_>, e: &SpansetExpr, input: &Set) -> Vec<Set> {
        let spans: Vec<usize> = match e {
            SpansetExpr::Filter(f) => input
                .spans
                .iter()
                .copied()
                .filter(|&i| self.matches(index, f, i))
                .collect(),
            SpansetExpr::Pipeline(p) => return self.pipeline(index, p, vec![input.clone()]),
            SpansetExpr::Op { op, lhs, rhs } => {
                let l = mask(index, &self.spanset(index, lhs, input));
                let r = mask(index, &self.spanset(index, rhs, input));
                let (l_any, r_any) = (l.contains(&true), r.contains(&true));
                let result = match op {
                    SpansetOp::And if l_any && r_any => or(&l, &r),
                    SpansetOp::Union if l_any || r_any => or(&l, &r),
                    SpansetOp::And | SpansetOp::Union => Vec::new(),
                    _ => structural::apply(index, *op, &l, &r).unwrap_or_default(),
                };
                (0..result.len()).filter(|&i| result[i]).collect()
            }
        };
        if spans.is_empty() {
            return Vec::new();
        }
        vec![Set {
            spans,
            attributes: input.attributes.clone(),
        }]
    }

    /// Whether the filter is `true` for span `i`, trying each event and link of the span
    /// when the filter refers to them.
    fn matches(&self, index: &TraceIndex<'_>, f: &FieldExpr, i: usize) -> bool {
        let span = index.spans[i].span;
        let (uses_events, uses_links) = (refers_to(f, Scope::Event), refers_to(f, Scope::Link));
        let events: Vec<_> = if uses_events && !span.events.is_empty() {
            span.events.iter().map(Some).collect()
        } else {
            vec![None]
        };
        let links: Vec<_> = if uses_links && !span.links.is_empty() {
            span.links.iter().map(Some).collect()
        } else {
            vec![None]
        };
        events.iter().any(|&event| {
            links.iter().any(|&link| {
                let ctx = SpanCtx {
                    index,
                    span: i,
                    event,
                    link,
                };
                field::eval(f, &ctx, &self.regexes) == Value::Bool(true)
            })
        })
    }

    /// The value of a field for span `i`, from its first event or link that has one.
    fn value(&self, index: &TraceIndex<'_>, f: &FieldExpr, i: usize) -> Value {
        let span = index.spans[i].span;
        let mut ctx = SpanCtx {
            index,
            span: i,
            event: None,
            link: None,
        };
        let first = field::eval(f, &ctx, &self.regexes);
        if first != Value::Nil {
            return first;
        }
        for event in &span.events {
            ctx.event = Some(event);
            let v = field::eval(f, &ctx, &self.regexes);
            if v != Value::Nil {
                return v;
            }
        }
        ctx.event = None;
        for link in &span.links {
            ctx.link = Some(link);
            let v = field::eval(f, &ctx, &self.regexes);
            if v != Value::Nil {
                return v;
            }
        }
        Value::Nil
    }

    /// The set if it passes the filter, with the aggregate's value among its attributes.
    fn scalar_filter(&self, index: &TraceIndex<'_>, f: &ScalarFilter, mut set: Set) -> Option<Set> {
        let ScalarExpr::Aggregate(a) = &f.lhs else {
            return None; // refused by validation
        };
        let lhs = self.aggregate(index, a, &set);
        let rhs = constant(&f.rhs);
        if !field::compare(f.op, &lhs, &rhs) {
            return None;
        }
        set.attributes.push((a.to_string(), lhs));
        Some(set)
    }

    /// An aggregate over the spans of a set: spans where the field is nil or not a number are
    /// skipped; min, max and sum keep the type of their inputs (int, duration), avg and mixed
    /// inputs give floats.
    fn aggregate(&self, index: &TraceIndex<'_>, a: &Aggregate, set: &Set) -> Value {
        let Some(field) = &a.field else {
            return Value::Int(set.spans.len() as i64);
        };
        let values: Vec<Value> = set
            .spans
            .iter()
            .map(|&i| self.value(index, field, i))
            .filter(|v| v.as_f64().is_some())
            .collect();
        let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
        if numbers.is_empty() {
            return Value::Nil;
        }
        let result = match a.kind {
            AggregateKind::Count => numbers.len() as f64,
            AggregateKind::Avg => numbers.iter().sum::<f64>() / numbers.len() as f64,
            AggregateKind::Max => numbers.iter().copied().fold(f64::MIN, f64::max),
            AggregateKind::Min => numbers.iter().copied().fold(f64::MAX, f64::min),
            AggregateKind::Sum => numbers.iter().sum(),
        };
        let all_durations = values.iter().all(|v| matches!(v, Value::Duration(_)));
        let all_ints = values.iter().all(|v| matches!(v, Value::Int(_)));
        match a.kind {
            _ if all_durations => Value::Duration(result as i64),
            AggregateKind::Avg => Value::Float(result),
            _ if all_ints => Value::Int(result as i64),
            _ => Value::Float(result),
        }
    }

    /// `by(e)`: one set per distinct value, in order of first appearance.
    fn group(&self, index: &TraceIndex<'_>, e: &FieldExpr, input: &Set) -> Vec<Set> {
        let mut groups: Vec<Set> = Vec::new();
        let mut positions: HashMap<String, usize> = HashMap::new();
        for &i in &input.spans {
            let value = self.value(index, e, i);
            let key = value.group_key();
            let at = *positions.entry(key).or_insert_with(|| {
                let mut attributes = input.attributes.clone();
                attributes.push((format!("by({e})"), value));
                groups.push(Set {
                    spans: Vec::new(),
                    attributes,
                });
                groups.len() - 1
            });
            groups[at].spans.push(i);
        }
        groups
    }
}

fn mask(index: &TraceIndex<'_>, sets: &[Set]) -> Vec<bool> {
    let mut m = vec![false; index.spans.len()];
    for &i in sets.iter().flat_map(|s| &s.spans) {
        m[i] = true;
    }
    m
}

fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(&x, &y)| x || y).collect()
}

/// Merges the sets into one (none stays none).
fn coalesce(sets: Vec<Set>) -> Vec<Set> {
    if sets.is_empty() {
        return sets;
    }
    let mut spans: Vec<usize> = sets.into_iter().flat_map(|s| s.spans).collect();
    spans.sort_unstable();
    spans.dedup();
    vec![Set {
        spans,
        attributes: Vec::new(),
    }]
}

/// The value of a constant scalar expression (validation guarantees it is constant).
fn constant(e: &ScalarExpr) -> Value {
    match e {
        ScalarExpr::Static(s) => Value::from_static(s),
        ScalarExpr::Op { op, lhs, rhs } => field::arith(*op, &constant(lhs), &constant(rhs)),
        ScalarExpr::Aggregate(_) | ScalarExpr::Pipeline { .. } => Value::Nil,
    }
}

#[derive(Clone, Copy)]
enum Scope {
    Event,
    Link,
}

/// Whether a field expression refers to event (or link) attributes or intrinsics.
fn refers_to(e: &FieldExpr, scope: Scope) -> bool {
    match e {
        FieldExpr::Static(_) => false,
        FieldExpr::Attribute(Attribute::Named { scope: s, .. }) => matches!(
            (scope, s),
            (Scope::Event, AttributeScope::Event) | (Scope::Link, AttributeScope::Link)
        ),
        FieldExpr::Attribute(Attribute::Intrinsic(i)) => matches!(
            (scope, i),
            (
                Scope::Event,
                Intrinsic::EventName | Intrinsic::EventTimeSinceStart
            ) | (Scope::Link, Intrinsic::LinkTraceId | Intrinsic::LinkSpanId)
        ),
        FieldExpr::Binary { lhs, rhs, .. } => refers_to(lhs, scope) || refers_to(rhs, scope),
        FieldExpr::Unary { expr, .. } => refers_to(expr, scope),
    }
}

/// Refuses what validation accepts but evaluation does not implement.
fn check_supported(e: &FieldExpr) -> Result<(), TraceqlError> {
    match e {
        FieldExpr::Attribute(Attribute::Intrinsic(Intrinsic::Parent))
        | FieldExpr::Attribute(Attribute::Named { parent: true, .. }) => Err(
            TraceqlError::Unsupported(format!("parent attributes and intrinsics: {e}")),
        ),
        FieldExpr::Static(_) | FieldExpr::Attribute(_) => Ok(()),
        FieldExpr::Binary { lhs, rhs, .. } => {
            check_supported(lhs)?;
            check_supported(rhs)
        }
        FieldExpr::Unary { expr, .. } => check_supported(expr),
    }
}

/// Every field expression of a pipeline (filters, `by`, `select`, aggregates).
fn pipeline_fields<'q>(p: &'q Pipeline, out: &mut Vec<&'q FieldExpr>) {
    for stage in &p.stages {
        match stage {
            Stage::Spanset(e) => spanset_fields(e, out),
            Stage::ScalarFilter(f) => {
                if let ScalarExpr::Aggregate(Aggregate { field: Some(f), .. }) = &f.lhs {
                    out.push(f);
                }
            }
            Stage::By(f) => out.push(f),
            Stage::Select(fields) => out.extend(fields),
            Stage::Coalesce => {}
        }
    }
}

fn spanset_fields<'q>(e: &'q SpansetExpr, out: &mut Vec<&'q FieldExpr>) {
    match e {
        SpansetExpr::Filter(f) => out.push(f),
        SpansetExpr::Op { lhs, rhs, .. } => {
            spanset_fields(lhs, out);
            spanset_fields(rhs, out);
        }
        SpansetExpr::Pipeline(p) => pipeline_fields(p, out),
    }
}

/// The fields of every `select(...)`, nested pipelines included.
fn selected_fields<'q>(p: &'q Pipeline, out: &mut Vec<&'q FieldExpr>) {
    fn nested<'q>(e: &'q SpansetExpr, out: &mut Vec<&'q FieldExpr>) {
        match e {
            SpansetExpr::Filter(_) => {}
            SpansetExpr::Op { lhs, rhs, .. } => {
                nested(lhs, out);
                nested(rhs, out);
            }
            SpansetExpr::Pipeline(p) => selected_fields(p, out),
        }
    }
    for stage in &p.stages {
        match stage {
            Stage::Select(fields) => out.extend(fields),
            Stage::Spanset(e) => nested(e, out),
            _ => {}
        }
    }
}
