//! Push decoding and validation: request bodies from Loki clients (Promtail, Alloy, Vector,
//! Fluent Bit, python-logging-loki) and OpenTelemetry SDKs/collectors become a [`LogBatch`];
//! [`validate`] then applies Loki's per-tenant checks with partial accept.
//!
//! - [`decode_loki_push`]: `POST /loki/api/v1/push`, snappy protobuf or JSON, optionally
//!   gzip/deflate encoded (`loki.rs`, the `{a="b"}` stream selector parser in `selector.rs`);
//!   [`discover_service_name`] adds Loki 3's `service_name` to such streams.
//! - [`decode_otlp_logs`], [`otlp_logs_to_batch`]: OTLP/HTTP logs (protobuf or OTLP/JSON) and
//!   the gRPC `ExportLogsServiceRequest`, mapped like Loki 3's default OTLP config (`otlp.rs`,
//!   `AnyValue` rendering in `otlp/value.rs`).
//! - [`batch_from_push_request`], [`push_request_from_streams`]: the same `logproto` messages
//!   on the internal wire between distributor, ingesters and queriers (`wire.rs`).
//! - `body.rs`: content types, content encodings and the decompressed-size limit.
//!
//! All functions are pure and CPU-bound: callers on an async runtime run them off it.

mod body;
mod loki;
mod otlp;
mod selector;
pub mod validate;
mod wire;

use sextant_model::ErrorKind;

pub use loki::{decode_loki_push, discover_service_name};
pub use otlp::{decode_otlp_logs, otlp_logs_to_batch, otlp_logs_to_batch_at, OtlpLogsConfig};
pub use validate::{validate, LogsValidationLimits, Rejection, RejectionReason};
pub use wire::{batch_from_push_request, labels_text, push_request_from_streams, stream_to_proto};

/// The label Loki 3 gives every stream: the service that sent it.
pub const SERVICE_NAME: &str = "service_name";
/// `service_name` when nothing names the service.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Loki's default `discover_service_name` (the canonical list lives with the limits).
pub use sextant_model::limits::DEFAULT_DISCOVER_SERVICE_NAME;

/// Why a push body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The `Content-Type` is not one the endpoint accepts (415).
    #[error("content type {0:?} is not supported, expected {1}")]
    UnsupportedContentType(String, &'static str),
    /// The `Content-Encoding` is not one the endpoint accepts (415).
    #[error("Content-Encoding {0:?} not supported")]
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

impl PushError {
    /// The error kind, hence the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PushError::UnsupportedContentType(..) | PushError::UnsupportedContentEncoding(_) => {
                ErrorKind::UnsupportedMediaType
            }
            PushError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            PushError::BadRequest(_) => ErrorKind::BadRequest,
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
                PushError::UnsupportedContentType("text/plain".into(), "json"),
                415,
            ),
            (PushError::UnsupportedContentEncoding("br".into()), 415),
            (PushError::TooLarge { limit: 10 }, 413),
            (PushError::BadRequest("streams[0]: x".into()), 400),
        ];
        for (err, status) in cases {
            assert_eq!(err.kind().http_status(), status, "{err}");
        }
    }
}
