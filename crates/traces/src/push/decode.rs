//! `decode_otlp_traces`: an OTLP/HTTP traces body to an `ExportTraceServiceRequest`.

use prost::Message;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;

use super::body::{body_format, decode_content_encoding, BodyFormat};
use super::TracesPushError;

/// Decodes an OTLP/HTTP traces body: `application/x-protobuf` (or `application/protobuf`) or
/// OTLP/JSON `application/json` (trace and span IDs as hex strings, per the OTLP spec),
/// optionally `gzip` encoded. 415 for other types and encodings, 413 past `max_decompressed`
/// bytes (0 = no limit), 400 for malformed bodies (OTLP/JSON errors name the field, e.g.
/// `resourceSpans[0].scopeSpans[0].spans[1].traceId`).
///
/// The result is what the gRPC `TraceService/Export` receives; [`super::validate_traces`]
/// checks it and groups it per trace.
pub fn decode_otlp_traces(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decompressed: usize,
) -> Result<ExportTraceServiceRequest, TracesPushError> {
    let format = body_format(content_type)?;
    let body = decode_content_encoding(content_encoding, body, max_decompressed)?;
    match format {
        BodyFormat::Protobuf => ExportTraceServiceRequest::decode(body.as_ref()).map_err(|e| {
            TracesPushError::BadRequest(format!("decoding OTLP protobuf traces request: {e}"))
        }),
        BodyFormat::Json => decode_json(&body),
    }
}

fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, TracesPushError> {
    let bad =
        |e: String| TracesPushError::BadRequest(format!("decoding OTLP/JSON traces request: {e}"));
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: ExportTraceServiceRequest =
        serde_path_to_error::deserialize(&mut de).map_err(|e| bad(e.to_string()))?;
    de.end().map_err(|e| bad(e.to_string()))?;
    Ok(request)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
