//! Search results across sources: what the querier needs to merge what several ingesters and
//! blocks say about the same traces.
//!
//! - `wire.rs`: [`TraceqlTraceMatch`] <-> the internal gRPC `TraceSearchMetadata` (IDs as
//!   bytes on the wire, hex in the match; attributes as encoded OTLP `KeyValueList`).
//! - `combine.rs`: [`TracesSearchCombiner`], Tempo's search combiner: one result per trace
//!   (non-empty root names kept, earliest start, latest end, span sets combined with spans
//!   deduplicated by span ID), newest first, at most `limit`.
//! - `merge.rs`: [`merge_traces`], fragments of one trace merged into one, each span once.
//!
//! Everything here is pure and cheap per result; merging big traces is CPU work.
//!
//! [`TraceqlTraceMatch`]: crate::traceql::eval::TraceqlTraceMatch

mod combine;
mod merge;
mod wire;

use sextant_model::ErrorKind;

pub use combine::TracesSearchCombiner;
pub use merge::merge_traces;
pub use wire::{decode_trace, encode_trace, trace_match_from_proto, trace_match_to_proto};

/// Why a search result or trace could not be converted from or to its wire form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TracesSearchError {
    /// A trace ID that is not 16 bytes (or 32 hex digits).
    #[error("invalid trace ID {0:?}")]
    TraceId(String),
    /// A span ID that is not hex.
    #[error("invalid span ID {0:?}")]
    SpanId(String),
    /// Undecodable protobuf (`KeyValueList` attributes or `TracesData`).
    #[error("undecodable {what}: {message}")]
    Decode { what: &'static str, message: String },
}

impl TracesSearchError {
    /// Wire data comes from another Sextant process: a bad one is an internal error.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}
