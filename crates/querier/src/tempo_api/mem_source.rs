//! [`MemTracesSource`]: traces per tenant held in memory behind the [`TracesSource`] trait,
//! evaluating TraceQL with the engine's [`TraceqlEvaluator`]. For tests and wiring: it
//! evaluates inline, so keep its traces few.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::{self, BoxFuture};
use parking_lot::{Mutex, RwLock};
use sextant_model::TenantId;
use sextant_proto::otlp::common::v1::{any_value, KeyValue};
use sextant_proto::otlp::trace::v1::ResourceSpans;
use sextant_traces::model::{Trace, TraceId};
use sextant_traces::traceql::eval::{TraceqlEvaluator, TraceqlSpan};
use sextant_traces::traceql::{parse, Attribute, Intrinsic, TraceqlQuery};

use super::tags::{identifier, ATTRIBUTE_SCOPES};
use crate::source::QuerierError;
use crate::traces_source::{
    TracesSearchOutcome, TracesSearchParams, TracesSource, TracesTagScope, TracesTagValue,
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
        let query = parse_query(&params.query)?;
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
        if params.limit > 0 {
            found.truncate(params.limit as usize);
        }
        outcome.traces = found.into_iter().map(|(_, m)| m).collect();
        Ok(outcome)
    }

    fn tag_names_now(
        &self,
        tenant: &TenantId,
        scope: &str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<Vec<TracesTagScope>, QuerierError> {
        let traces = self.traces_in(tenant, start_ns, end_ns)?;
        let scopes = ATTRIBUTE_SCOPES
            .iter()
            .filter(|s| scope.is_empty() || **s == scope)
            .map(|name| {
                let mut tags = BTreeSet::new();
                for rs in traces.iter().flat_map(|t| &t.resource_spans) {
                    collect_names(rs, name, &mut tags);
                }
                let limit = if limit == 0 {
                    usize::MAX
                } else {
                    limit as usize
                };
                TracesTagScope {
                    name: (*name).to_owned(),
                    tags: tags.into_iter().take(limit).collect(),
                }
            })
            .collect();
        Ok(scopes)
    }

    /// The values come from running `<query> | select(<tag>)` over every trace: the
    /// evaluator returns the tag's value for each matching span.
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
        let attribute = identifier(tag).map_err(|e| QuerierError::BadRequest(e.message))?;
        let selecting = selecting_query(query, tag)?;
        let evaluator = TraceqlEvaluator::new(&selecting).map_err(bad_request)?;
        let mut values = BTreeSet::new();
        for trace in &traces {
            let Some(found) = evaluator.search(trace, 0) else {
                continue;
            };
            for span in found.span_sets.iter().flat_map(|s| &s.spans) {
                if let Some(value) = span_value(&attribute, span) {
                    values.insert(value);
                }
            }
        }
        let limit = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        Ok(values.into_iter().take(limit).collect())
    }
}

/// `<query> | select(<tag>)`, or `{ } | select(<tag>)` when the query does not run.
fn selecting_query(query: &str, tag: &str) -> Result<TraceqlQuery, QuerierError> {
    if !query.trim().is_empty() {
        let filtered = parse(&format!("{query} | select({tag})")).ok();
        if let Some(q) = filtered.filter(|q| TraceqlEvaluator::new(q).is_ok()) {
            return Ok(q);
        }
    }
    parse_query(&format!("{{ }} | select({tag})"))
}

fn parse_query(query: &str) -> Result<TraceqlQuery, QuerierError> {
    parse(query).map_err(bad_request)
}

fn bad_request(e: impl std::fmt::Display) -> QuerierError {
    QuerierError::BadRequest(e.to_string())
}

/// Earliest start and latest end of the trace's spans.
fn bounds(trace: &Trace) -> (u64, u64) {
    let start = trace.spans().map(|s| s.start_time_unix_nano).min();
    let end = trace.spans().map(|s| s.end_time_unix_nano).max();
    (start.unwrap_or(0), end.unwrap_or(0))
}

/// The attribute names of one scope in a resource's spans.
fn collect_names(rs: &ResourceSpans, scope: &str, out: &mut BTreeSet<String>) {
    let mut add = |attributes: &[KeyValue]| out.extend(attributes.iter().map(|kv| kv.key.clone()));
    match scope {
        "resource" => add(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..])),
        "instrumentation" => {
            for ss in &rs.scope_spans {
                add(ss.scope.as_ref().map_or(&[][..], |s| &s.attributes[..]));
            }
        }
        _ => {
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                match scope {
                    "span" => add(&span.attributes),
                    "event" => span.events.iter().for_each(|e| add(&e.attributes)),
                    "link" => span.links.iter().for_each(|l| add(&l.attributes)),
                    _ => {}
                }
            }
        }
    }
}

/// The selected value of a returned span, typed as Tempo types tag values.
fn span_value(attribute: &Attribute, span: &TraceqlSpan) -> Option<TracesTagValue> {
    let typed = |value_type: &str, value: String| {
        Some(TracesTagValue {
            value_type: value_type.to_owned(),
            value,
        })
    };
    if matches!(
        attribute,
        Attribute::Intrinsic(Intrinsic::Name | Intrinsic::SpanName)
    ) {
        return typed("string", span.name.clone());
    }
    let keyword = matches!(
        attribute,
        Attribute::Intrinsic(
            Intrinsic::Status | Intrinsic::SpanStatus | Intrinsic::Kind | Intrinsic::SpanKind
        )
    );
    let value = span.attributes.first()?.value.as_ref()?.value.as_ref()?;
    match value {
        any_value::Value::StringValue(s) if keyword => typed("keyword", s.clone()),
        any_value::Value::StringValue(s) => typed("string", s.clone()),
        any_value::Value::IntValue(i) => typed("int", i.to_string()),
        any_value::Value::DoubleValue(f) => typed("float", f.to_string()),
        any_value::Value::BoolValue(b) => typed("bool", b.to_string()),
        _ => None,
    }
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
