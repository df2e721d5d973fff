//! `GET /api/traces/<id>` (v1) and `GET /api/v2/traces/<id>`, optional `start`/`end` in
//! Unix seconds.
//!
//! | answer | JSON (OTLP/JSON: hex IDs, int64 as strings) | `Accept: application/protobuf` |
//! | --- | --- | --- |
//! | v1 | `{"batches":[ResourceSpans...]}` | `tempopb.Trace { repeated ResourceSpans resourceSpans = 1 }`, the bytes of OTLP `TracesData` |
//! | v2 | `{"trace":{"resourceSpans":[...]}}` | [`TempoTraceByIdResponse`] |
//!
//! Tempo writes IDs in base64 in its JSON (a side effect of its marshaller, grafana/tempo
//! #5437); Sextant follows the OTLP/JSON spec (hex). Grafana reads the protobuf form.
//! Encoding a large trace is CPU work: it runs on a blocking thread.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::Serialize;
use sextant_proto::otlp::trace::v1::{ResourceSpans, TracesData};
use sextant_traces::model::Trace;

use super::params::{time_range_ns, trace_id};
use super::{TempoApiState, TempoError, TempoTenant, TRACE_NOT_FOUND};
use crate::api::params::Params;

/// The protobuf media type Grafana asks for.
pub const PROTOBUF: &str = "application/protobuf";

/// Tempo's `TraceByIDResponse` (`pkg/tempopb/tempo.proto`). `Trace` is wire-identical to
/// OTLP `TracesData`. Field 2 (`TraceByIDMetrics metrics`) is not sent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TempoTraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    pub trace: Option<TracesData>,
    /// A [`TempoPartialStatus`].
    #[prost(enumeration = "TempoPartialStatus", tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// Tempo's `PartialStatus`: whether every part of the trace could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TempoPartialStatus {
    Complete = 0,
    Partial = 1,
}

/// Which answer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// `GET /api/traces/<id>`.
pub async fn v1(
    tenant: TempoTenant,
    state: State<TempoApiState>,
    id: Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, TempoError> {
    trace_by_id(Version::V1, tenant, state, id, &headers, &params).await
}

/// `GET /api/v2/traces/<id>`.
pub async fn v2(
    tenant: TempoTenant,
    state: State<TempoApiState>,
    id: Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, TempoError> {
    trace_by_id(Version::V2, tenant, state, id, &headers, &params).await
}

async fn trace_by_id(
    version: Version,
    TempoTenant(tenant): TempoTenant,
    State(state): State<TempoApiState>,
    Path(id): Path<String>,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, TempoError> {
    let id = trace_id(&id)?;
    let (start_ns, end_ns) = time_range_ns(params)?;
    let trace = state
        .source
        .trace_by_id(&tenant, id, start_ns, end_ns)
        .await
        .map_err(TempoError::from_source)?
        .filter(|t| t.span_count() > 0)
        .ok_or_else(|| TempoError::not_found(TRACE_NOT_FOUND))?;
    let protobuf = accepts_protobuf(headers);
    tokio::task::spawn_blocking(move || encode(version, trace, protobuf))
        .await
        .map_err(|e| TempoError::internal(format!("encoding the trace: {e}")))?
}

/// Whether the `Accept` header names [`PROTOBUF`] (parameters and case ignored).
fn accepts_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|media| media.split(';').next().unwrap_or("").trim())
        .any(|media| media.eq_ignore_ascii_case(PROTOBUF))
}

#[derive(Serialize)]
struct V1Json<'a> {
    batches: &'a [ResourceSpans],
}

#[derive(Serialize)]
struct V2Json<'a> {
    trace: V2Trace<'a>,
}

#[derive(Serialize)]
struct V2Trace<'a> {
    #[serde(rename = "resourceSpans")]
    resource_spans: &'a [ResourceSpans],
}

fn encode(version: Version, trace: Trace, protobuf: bool) -> Result<Response, TempoError> {
    if protobuf {
        let data = TracesData {
            resource_spans: trace.resource_spans,
        };
        let body = match version {
            Version::V1 => data.encode_to_vec(),
            Version::V2 => TempoTraceByIdResponse {
                trace: Some(data),
                status: TempoPartialStatus::Complete as i32,
                message: String::new(),
            }
            .encode_to_vec(),
        };
        return Ok(answer(PROTOBUF, body));
    }
    let spans = &trace.resource_spans[..];
    let json = match version {
        Version::V1 => serde_json::to_vec(&V1Json { batches: spans }),
        Version::V2 => serde_json::to_vec(&V2Json {
            trace: V2Trace {
                resource_spans: spans,
            },
        }),
    };
    json.map(|body| answer("application/json", body))
        .map_err(|e| TempoError::internal(format!("encoding the trace: {e}")))
}

fn answer(content_type: &'static str, body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn accept_header() {
        let cases = [
            (vec![], false),
            (vec!["application/json"], false),
            (vec!["application/protobuf"], true),
            (vec!["Application/Protobuf; q=0.9"], true),
            (vec!["application/json, application/protobuf"], true),
            (vec!["text/plain", "application/protobuf"], true),
            (vec!["application/x-protobuf"], false),
        ];
        for (values, want) in cases {
            let mut headers = HeaderMap::new();
            for v in &values {
                headers.append(header::ACCEPT, HeaderValue::from_static(v));
            }
            assert_eq!(accepts_protobuf(&headers), want, "{values:?}");
        }
    }
}
