//! OTLP traces push: decoding (`POST /v1/traces` and `/otlp/v1/traces` bodies: OTLP protobuf
//! or OTLP/JSON, optionally gzip) and validation against a tenant's limits with partial
//! accept. The gRPC `TraceService/Export` receives the same `ExportTraceServiceRequest`, so
//! both paths share [`validate_traces`], which also regroups the spans per trace ID.
//!
//! - `body.rs`: content types, content encodings and the decompressed-size limit.
//! - `decode.rs`: [`decode_otlp_traces`].
//! - `validate.rs`: [`validate_traces`], [`TracesValidationLimits`], the rejections and the
//!   OTLP `partial_success` they make.
//!
//! All functions are pure and CPU-bound: callers on an async runtime run them off it.

mod body;
mod decode;
mod validate;

use sextant_model::ErrorKind;

pub use decode::decode_otlp_traces;
pub use validate::{
    validate_traces, TracesRejection, TracesRejectionReason, TracesValidationLimits,
    ValidatedTraces,
};

/// Why a traces push body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TracesPushError {
    /// The `Content-Type` is not one the endpoint accepts (415).
    #[error(
        "content type {0:?} is not supported, expected application/x-protobuf or application/json"
    )]
    UnsupportedContentType(String),
    /// The `Content-Encoding` is not one the endpoint accepts (415).
    #[error("content encoding {0:?} is not supported, expected gzip or identity")]
    UnsupportedContentEncoding(String),
    /// The body is larger than the limit once decompressed (413).
    #[error(
        "request body too large: more than {limit} bytes after decompression \
         (distributor.max_decompressed_size)"
    )]
    TooLarge { limit: usize },
    /// The body is malformed; the message names the field (400).
    #[error("{0}")]
    BadRequest(String),
}

impl TracesPushError {
    /// The error kind, hence the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TracesPushError::UnsupportedContentType(_)
            | TracesPushError::UnsupportedContentEncoding(_) => ErrorKind::UnsupportedMediaType,
            TracesPushError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            TracesPushError::BadRequest(_) => ErrorKind::BadRequest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_map_to_statuses() {
        let cases = [
            (
                TracesPushError::UnsupportedContentType("text/plain".into()),
                415,
            ),
            (
                TracesPushError::UnsupportedContentEncoding("br".into()),
                415,
            ),
            (TracesPushError::TooLarge { limit: 10 }, 413),
            (
                TracesPushError::BadRequest("resourceSpans[0]: x".into()),
                400,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(err.kind().http_status(), status, "{err}");
        }
    }
}
