//! The decoded form of an OTLP traces export, grouped for the ingester: one [`Trace`] per
//! trace ID, each keeping OTLP's `ResourceSpans`/`ScopeSpans` structure (so the Tempo API can
//! return it as OTLP JSON or protobuf unchanged), with what the distributor needs to route it
//! (the ring token of tenant + trace ID) and to enforce limits (its encoded size).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use sextant_model::TenantId;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use xxhash_rust::xxh3::xxh3_64;

/// A 16-byte trace ID. Displays as 32 lowercase hex characters; parses Tempo's way: up to 32
/// hex characters, left-padded with zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// Why a text is not a trace ID (Tempo's texts, from `util.HexStringToTraceID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceIdError {
    #[error("trace ID is empty")]
    Empty,
    /// More than 32 hex digits.
    #[error("trace IDs can't be larger than 128 bits")]
    TooLong,
    /// `position` counts characters from 1.
    #[error("trace IDs can only contain hex characters: invalid character '{character}' at position {position}")]
    NotHex { character: char, position: usize },
}

impl TraceId {
    /// The ID of exactly 16 bytes, as OTLP carries it; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<TraceId> {
        <[u8; 16]>::try_from(bytes).ok().map(TraceId)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether every byte is zero (an invalid ID in OTLP and W3C trace context).
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// The ring token of this trace for a tenant: xxh3 of the tenant and the ID, folded to 32
    /// bits like a metrics series' or a logs stream's token.
    pub fn token(&self, tenant: &TenantId) -> u32 {
        let mut key = Vec::with_capacity(tenant.as_str().len() + 17);
        key.extend_from_slice(tenant.as_str().as_bytes());
        key.push(0xff);
        key.extend_from_slice(&self.0);
        let v = xxh3_64(&key);
        (v ^ (v >> 32)) as u32
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for TraceId {
    type Err = TraceIdError;

    fn from_str(s: &str) -> Result<TraceId, TraceIdError> {
        if s.is_empty() {
            return Err(TraceIdError::Empty);
        }
        if let Some((i, character)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            let position = i + 1;
            return Err(TraceIdError::NotHex {
                character,
                position,
            });
        }
        if s.len() > 32 {
            return Err(TraceIdError::TooLong);
        }
        let mut id = [0u8; 16];
        // Right-align the digits: the last digit is the low nibble of the last byte.
        for (i, c) in s.bytes().rev().enumerate() {
            let nibble = hex_value(c);
            id[15 - i / 2] |= if i % 2 == 0 { nibble } else { nibble << 4 };
        }
        Ok(TraceId(id))
    }
}

/// The value of an ASCII hex digit (checked by the caller; anything else is 0).
fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// The spans of one trace in a push, under their resources and scopes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    pub id: TraceId,
    /// In the order the resources came in the request; a resource (or scope) appears once per
    /// trace, holding only this trace's spans.
    pub resource_spans: Vec<ResourceSpans>,
}

impl Trace {
    /// How many spans the trace holds.
    pub fn span_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }

    /// The size of the trace as an OTLP `TracesData` protobuf message, the unit of Tempo's
    /// `max_bytes_per_trace` and of the ingestion rate limit.
    pub fn encoded_len(&self) -> usize {
        self.resource_spans
            .iter()
            .map(|rs| prost::encoding::message::encoded_len(1, rs))
            .sum()
    }

    /// The spans, in order.
    pub fn spans(&self) -> impl Iterator<Item = &Span> {
        self.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
    }
}

/// A push regrouped by trace ID, traces in first-seen order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceBatch {
    pub traces: Vec<Trace>,
}

impl TraceBatch {
    /// Regroups a request's spans per trace ID. Spans whose trace ID is not 16 bytes are
    /// skipped: run [`crate::push::validate_traces`] first, which refuses them with a reason.
    pub fn from_request(request: ExportTraceServiceRequest) -> TraceBatch {
        let mut grouper = Grouper::default();
        for (r, mut resource_spans) in request.resource_spans.into_iter().enumerate() {
            let scope_spans = std::mem::take(&mut resource_spans.scope_spans);
            for (s, mut scope) in scope_spans.into_iter().enumerate() {
                let spans = std::mem::take(&mut scope.spans);
                for span in spans {
                    if let Some(id) = TraceId::from_bytes(&span.trace_id) {
                        grouper.push(id, (r, s), &resource_spans, &scope, span);
                    }
                }
            }
        }
        TraceBatch {
            traces: grouper.traces,
        }
    }

    /// How many spans the batch holds.
    pub fn span_count(&self) -> usize {
        self.traces.iter().map(Trace::span_count).sum()
    }

    /// The encoded size of every trace.
    pub fn encoded_len(&self) -> usize {
        self.traces.iter().map(Trace::encoded_len).sum()
    }

    /// The batch as one OTLP request (each trace's resources one after the other).
    pub fn into_request(self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self
                .traces
                .into_iter()
                .flat_map(|t| t.resource_spans)
                .collect(),
        }
    }
}

/// Builds the traces of a request walked in order: a trace's spans from the same input
/// resource (and scope) go to the same output `ResourceSpans` (`ScopeSpans`).
#[derive(Default)]
struct Grouper {
    traces: Vec<Trace>,
    index: HashMap<TraceId, usize>,
    /// Per trace: the (resource, scope) positions in the input its last span came from.
    cursor: Vec<(usize, usize)>,
}

impl Grouper {
    fn push(
        &mut self,
        id: TraceId,
        position: (usize, usize),
        resource: &ResourceSpans,
        scope: &ScopeSpans,
        span: Span,
    ) {
        let i = *self.index.entry(id).or_insert_with(|| {
            self.traces.push(Trace {
                id,
                resource_spans: Vec::new(),
            });
            self.cursor.push((usize::MAX, usize::MAX));
            self.traces.len() - 1
        });
        let trace = &mut self.traces[i];
        let (last_resource, last_scope) = self.cursor[i];
        if last_resource != position.0 {
            trace.resource_spans.push(ResourceSpans {
                scope_spans: Vec::new(),
                ..resource.clone()
            });
        }
        let Some(out) = trace.resource_spans.last_mut() else {
            return;
        };
        if last_resource != position.0 || last_scope != position.1 {
            out.scope_spans.push(ScopeSpans {
                spans: Vec::new(),
                ..scope.clone()
            });
        }
        if let Some(out) = out.scope_spans.last_mut() {
            out.spans.push(span);
        }
        self.cursor[i] = position;
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
pub(crate) mod tests;
