//! Validation of an OTLP traces export against a tenant's limits, with partial accept: spans
//! that fail a check are dropped and counted per reason (OTLP `partial_success`), the rest is
//! grouped per trace ID.
//!
//! Checks: trace IDs (16 bytes, not all zero), span IDs (8 bytes, not all zero), attribute
//! counts per span/event/link and per resource/scope, and `end < start`. Attribute keys and
//! string values longer than `max_attribute_bytes` are truncated, as Tempo does, never
//! refused (at a UTF-8 character boundary, so a value may end up a few bytes shorter).

use sextant_model::limits::TenantTracesLimits;
use sextant_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest,
};
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::model::{TraceBatch, TraceId};

/// The limits validation applies (a tenant's [`TenantTracesLimits`], 0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracesValidationLimits {
    pub max_attribute_bytes: usize,
    pub max_attributes_per_span: usize,
    pub max_attributes_per_resource: usize,
}

impl Default for TracesValidationLimits {
    fn default() -> Self {
        TracesValidationLimits::from(&TenantTracesLimits::default())
    }
}

impl From<&TenantTracesLimits> for TracesValidationLimits {
    fn from(limits: &TenantTracesLimits) -> Self {
        TracesValidationLimits {
            max_attribute_bytes: limits.max_attribute_bytes,
            max_attributes_per_span: limits.max_attributes_per_span,
            max_attributes_per_resource: limits.max_attributes_per_resource,
        }
    }
}

/// Why spans were refused; [`Self::as_str`] is a stable id (for messages and the
/// `reason` label of discarded-spans counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TracesRejectionReason {
    InvalidTraceId,
    InvalidSpanId,
    TooManyAttributes,
    EndBeforeStart,
}

impl TracesRejectionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TracesRejectionReason::InvalidTraceId => "invalid_trace_id",
            TracesRejectionReason::InvalidSpanId => "invalid_span_id",
            TracesRejectionReason::TooManyAttributes => "too_many_attributes",
            TracesRejectionReason::EndBeforeStart => "end_before_start",
        }
    }
}

/// The spans refused for one reason: how many, and the message of the first one (naming
/// the field, e.g. `resourceSpans[0].scopeSpans[0].spans[3].traceId: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesRejection {
    pub reason: TracesRejectionReason,
    pub spans: u64,
    pub message: String,
}

/// What validation kept, grouped per trace, and what it refused or changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidatedTraces {
    pub batch: TraceBatch,
    /// One entry per reason, in the order reasons were first met.
    pub rejections: Vec<TracesRejection>,
    /// Attributes whose key or value was truncated to `max_attribute_bytes` (Tempo's
    /// `tempo_distributor_attributes_truncated_total`).
    pub truncated_attributes: u64,
}

impl ValidatedTraces {
    /// How many spans were refused.
    pub fn rejected_spans(&self) -> u64 {
        self.rejections.iter().map(|r| r.spans).sum()
    }

    /// The OTLP `partial_success` of the export response; `None` when nothing was refused.
    pub fn partial_success(&self) -> Option<ExportTracePartialSuccess> {
        if self.rejections.is_empty() {
            return None;
        }
        let error_message = self
            .rejections
            .iter()
            .map(|r| {
                format!(
                    "{} spans refused ({}): {}",
                    r.spans,
                    r.reason.as_str(),
                    r.message
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Some(ExportTracePartialSuccess {
            rejected_spans: i64::try_from(self.rejected_spans()).unwrap_or(i64::MAX),
            error_message,
        })
    }
}

/// Checks every span of `request` against `limits`, drops the invalid ones (counted in the
/// rejections), truncates long attributes and groups what remains per trace ID.
pub fn validate_traces(
    mut request: ExportTraceServiceRequest,
    limits: &TracesValidationLimits,
) -> ValidatedTraces {
    let mut validator = Validator {
        limits,
        rejections: Vec::new(),
        truncated: 0,
    };
    for (r, resource_spans) in request.resource_spans.iter_mut().enumerate() {
        validator.resource(r, resource_spans);
    }
    ValidatedTraces {
        batch: TraceBatch::from_request(request),
        rejections: validator.rejections,
        truncated_attributes: validator.truncated,
    }
}

type Refusal = (TracesRejectionReason, String);

struct Validator<'a> {
    limits: &'a TracesValidationLimits,
    rejections: Vec<TracesRejection>,
    truncated: u64,
}

impl Validator<'_> {
    fn resource(&mut self, r: usize, resource_spans: &mut ResourceSpans) {
        let attributes = resource_spans.resource.as_mut().map(|x| &mut x.attributes);
        let path = format!("resourceSpans[{r}].resource.attributes");
        if let Err(refusal) = self.owner_attributes(attributes, "resource", &path) {
            let spans = resource_spans
                .scope_spans
                .iter()
                .map(|s| s.spans.len())
                .sum();
            self.reject(refusal, spans);
            resource_spans.scope_spans.clear();
            return;
        }
        for (s, scope_spans) in resource_spans.scope_spans.iter_mut().enumerate() {
            self.scope(&format!("resourceSpans[{r}].scopeSpans[{s}]"), scope_spans);
        }
    }

    fn scope(&mut self, path: &str, scope_spans: &mut ScopeSpans) {
        let attributes = scope_spans.scope.as_mut().map(|x| &mut x.attributes);
        let attributes_path = format!("{path}.scope.attributes");
        if let Err(refusal) = self.owner_attributes(attributes, "scope", &attributes_path) {
            self.reject(refusal, scope_spans.spans.len());
            scope_spans.spans.clear();
            return;
        }
        let mut i = 0;
        scope_spans.spans.retain_mut(|span| {
            let result = check_span(span, self.limits);
            i += 1;
            match result {
                Ok(()) => {
                    self.truncate_span(span);
                    true
                }
                Err((reason, message)) => {
                    let message = format!("{path}.spans[{}].{message}", i - 1);
                    self.reject((reason, message), 1);
                    false
                }
            }
        });
    }

    /// Resource or scope attributes: refuse past the count, else truncate.
    fn owner_attributes(
        &mut self,
        attributes: Option<&mut Vec<KeyValue>>,
        owner: &str,
        path: &str,
    ) -> Result<(), Refusal> {
        let Some(attributes) = attributes else {
            return Ok(());
        };
        let limit = self.limits.max_attributes_per_resource;
        if limit != 0 && attributes.len() > limit {
            let message = format!(
                "{path}: {owner} has {} attributes, more than max_attributes_per_resource \
                 ({limit}); drop attributes or raise the tenant's \
                 limits.traces.max_attributes_per_resource",
                attributes.len()
            );
            return Err((TracesRejectionReason::TooManyAttributes, message));
        }
        self.truncated += truncate_attributes(attributes, self.limits.max_attribute_bytes);
        Ok(())
    }

    fn truncate_span(&mut self, span: &mut Span) {
        let max = self.limits.max_attribute_bytes;
        let mut truncated = truncate_attributes(&mut span.attributes, max);
        for event in &mut span.events {
            truncated += truncate_attributes(&mut event.attributes, max);
        }
        for link in &mut span.links {
            truncated += truncate_attributes(&mut link.attributes, max);
        }
        self.truncated += truncated;
    }

    fn reject(&mut self, (reason, message): Refusal, spans: usize) {
        if spans == 0 {
            return;
        }
        let spans = spans as u64;
        match self.rejections.iter_mut().find(|r| r.reason == reason) {
            Some(rejection) => rejection.spans += spans,
            None => self.rejections.push(TracesRejection {
                reason,
                spans,
                message,
            }),
        }
    }
}

/// The first check a span fails, as a reason and a message starting with the field name.
fn check_span(span: &Span, limits: &TracesValidationLimits) -> Result<(), Refusal> {
    check_trace_id(&span.trace_id).map_err(|m| {
        (
            TracesRejectionReason::InvalidTraceId,
            format!("traceId: {m}"),
        )
    })?;
    check_span_id(&span.span_id)
        .map_err(|m| (TracesRejectionReason::InvalidSpanId, format!("spanId: {m}")))?;
    check_attribute_counts(span, limits.max_attributes_per_span)
        .map_err(|m| (TracesRejectionReason::TooManyAttributes, m))?;
    if span.end_time_unix_nano < span.start_time_unix_nano {
        let message = format!(
            "endTimeUnixNano: span ends ({}) before it starts (startTimeUnixNano {})",
            span.end_time_unix_nano, span.start_time_unix_nano
        );
        return Err((TracesRejectionReason::EndBeforeStart, message));
    }
    Ok(())
}

fn check_trace_id(id: &[u8]) -> Result<(), String> {
    match TraceId::from_bytes(id) {
        _ if id.is_empty() => Err("trace ID is empty".into()),
        None => Err(format!("trace ID must be 16 bytes, got {}", id.len())),
        Some(id) if id.is_zero() => Err("trace ID is all zeros".into()),
        Some(_) => Ok(()),
    }
}

fn check_span_id(id: &[u8]) -> Result<(), String> {
    if id.is_empty() {
        Err("span ID is empty".into())
    } else if id.len() != 8 {
        Err(format!("span ID must be 8 bytes, got {}", id.len()))
    } else if id.iter().all(|b| *b == 0) {
        Err("span ID is all zeros".into())
    } else {
        Ok(())
    }
}

/// The attribute counts of the span, its events and its links against the limit.
fn check_attribute_counts(span: &Span, limit: usize) -> Result<(), String> {
    if limit == 0 {
        return Ok(());
    }
    let lists = std::iter::once(("attributes".to_string(), span.attributes.len()))
        .chain(
            span.events
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("events[{i}].attributes"), e.attributes.len())),
        )
        .chain(
            span.links
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("links[{i}].attributes"), l.attributes.len())),
        );
    for (field, count) in lists {
        if count > limit {
            return Err(format!(
                "{field}: {count} attributes, more than max_attributes_per_span ({limit}); \
                 drop attributes or raise the tenant's limits.traces.max_attributes_per_span"
            ));
        }
    }
    Ok(())
}

/// Truncates keys and string values (also inside arrays and maps) longer than `max` bytes;
/// returns how many attributes changed. `max == 0` switches truncation off.
fn truncate_attributes(attributes: &mut [KeyValue], max: usize) -> u64 {
    if max == 0 {
        return 0;
    }
    let mut count = 0;
    for kv in attributes {
        let key = truncate_string(&mut kv.key, max);
        let value = kv.value.as_mut().is_some_and(|v| truncate_value(v, max));
        count += u64::from(key || value);
    }
    count
}

fn truncate_value(value: &mut AnyValue, max: usize) -> bool {
    match &mut value.value {
        Some(any_value::Value::StringValue(s)) => truncate_string(s, max),
        Some(any_value::Value::BytesValue(b)) if b.len() > max => {
            b.truncate(max);
            true
        }
        Some(any_value::Value::ArrayValue(array)) => array
            .values
            .iter_mut()
            .fold(false, |changed, v| truncate_value(v, max) | changed),
        Some(any_value::Value::KvlistValue(map)) => truncate_attributes(&mut map.values, max) > 0,
        _ => false,
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary; whether it changed.
fn truncate_string(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
