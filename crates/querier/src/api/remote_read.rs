//! `POST /read`: Prometheus remote read. The body is a snappy-compressed (block format)
//! `ReadRequest`; the answer a snappy-compressed `ReadResponse` of raw samples (`SAMPLES`).
//! Streamed XOR chunks are not offered, which Prometheus's client accepts. Errors are plain
//! text, as Prometheus's read handler writes them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use sextant_metrics::promql::histogram::{CounterResetHint, Span};
use sextant_metrics::promql::{FloatHistogram, Series};
use sextant_model::{Matcher, TenantId};
use sextant_proto::prometheus::{
    histogram, read_request::ResponseType, BucketSpan, Histogram, Label, Query, QueryResult,
    ReadRequest, ReadResponse, Sample, TimeSeries,
};

use super::{ApiState, Tenant};
use crate::source::QuerierError;

/// Largest compressed request body (Prometheus's `decodeReadLimit`).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Largest request once decompressed.
const MAX_DECODED_BYTES: usize = 4 * MAX_BODY_BYTES;

/// A plain-text failure with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub status: StatusCode,
    pub message: String,
}

impl ReadError {
    fn bad_request(message: impl Into<String>) -> Self {
        ReadError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn from_source(e: QuerierError) -> Self {
        let status = StatusCode::from_u16(e.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ReadError {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        (self.status, content_type, format!("{}\n", self.message)).into_response()
    }
}

/// Answers every query of the request in order.
pub async fn read(
    State(state): State<ApiState>,
    Tenant(tenant): Tenant,
    body: Bytes,
) -> Result<Response, ReadError> {
    let request = decode_request(&body)?;
    negotiate(&request.accepted_response_types)?;
    let mut response = ReadResponse::default();
    for query in &request.queries {
        let result = run_query(&state, &tenant, query).await?;
        response.results.push(result);
    }
    let encoded = snap::raw::Encoder::new()
        .compress_vec(&response.encode_to_vec())
        .map_err(|e| ReadError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("snappy encode: {e}"),
        })?;
    let headers = [
        (header::CONTENT_TYPE, "application/x-protobuf"),
        (header::CONTENT_ENCODING, "snappy"),
    ];
    Ok((headers, encoded).into_response())
}

/// Decompresses and decodes a `ReadRequest`.
pub fn decode_request(body: &[u8]) -> Result<ReadRequest, ReadError> {
    let len = snap::raw::decompress_len(body).map_err(|e| ReadError::bad_request(e.to_string()))?;
    if len > MAX_DECODED_BYTES {
        return Err(ReadError::bad_request(format!(
            "decompressed request of {len} bytes exceeds the limit of {MAX_DECODED_BYTES} bytes"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| ReadError::bad_request(e.to_string()))?;
    ReadRequest::decode(raw.as_slice()).map_err(|e| ReadError::bad_request(e.to_string()))
}

/// Only `SAMPLES` is served; an empty list means `SAMPLES` (Prometheus's
/// `NegotiateResponseType`).
fn negotiate(accepted: &[i32]) -> Result<(), ReadError> {
    if accepted.is_empty() || accepted.contains(&(ResponseType::Samples as i32)) {
        return Ok(());
    }
    let names: Vec<&str> = accepted
        .iter()
        .map(|t| ResponseType::try_from(*t).map_or("UNKNOWN", |t| t.as_str_name()))
        .collect();
    Err(ReadError::bad_request(format!(
        "server does not support any of the requested response types: [{}]; supported: [SAMPLES]",
        names.join(" ")
    )))
}

async fn run_query(
    state: &ApiState,
    tenant: &TenantId,
    query: &Query,
) -> Result<QueryResult, ReadError> {
    let matchers = query
        .matchers
        .iter()
        .map(sextant_proto::matcher_from_wire)
        .collect::<Result<Vec<Matcher>, _>>()
        .map_err(|e| ReadError::bad_request(e.to_string()))?;
    let series = state
        .source
        .select(
            tenant,
            query.start_timestamp_ms,
            query.end_timestamp_ms,
            &matchers,
            None,
        )
        .await
        .map_err(ReadError::from_source)?;
    let limit = state.config.remote_read_sample_limit;
    let samples: usize = series
        .iter()
        .map(|s| s.floats.len() + s.histograms.len())
        .sum();
    if limit > 0 && samples > limit {
        return Err(ReadError::bad_request(format!(
            "exceeded sample limit ({limit})"
        )));
    }
    Ok(QueryResult {
        timeseries: series.iter().map(series_to_wire).collect(),
    })
}

/// A series as remote-read `TimeSeries` (float histograms with absolute counts).
pub fn series_to_wire(s: &Series) -> TimeSeries {
    TimeSeries {
        labels: s
            .metric
            .iter()
            .map(|l| Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect(),
        samples: s
            .floats
            .iter()
            .map(|p| Sample {
                value: p.f,
                timestamp: p.t,
            })
            .collect(),
        exemplars: Vec::new(),
        histograms: s
            .histograms
            .iter()
            .map(|p| histogram_to_wire(p.t, &p.h))
            .collect(),
    }
}

/// Prometheus's `FromFloatHistogram`.
pub fn histogram_to_wire(timestamp: i64, h: &FloatHistogram) -> Histogram {
    let spans = |spans: &[Span]| -> Vec<BucketSpan> {
        spans
            .iter()
            .map(|s| BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    let reset_hint = match h.counter_reset_hint {
        CounterResetHint::Unknown => histogram::ResetHint::Unknown,
        CounterResetHint::CounterReset => histogram::ResetHint::Yes,
        CounterResetHint::NotCounterReset => histogram::ResetHint::No,
        CounterResetHint::Gauge => histogram::ResetHint::Gauge,
    };
    Histogram {
        count: Some(histogram::Count::CountFloat(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(histogram::ZeroCount::ZeroCountFloat(h.zero_count)),
        negative_spans: spans(&h.negative_spans),
        negative_deltas: Vec::new(),
        negative_counts: h.negative_buckets.clone(),
        positive_spans: spans(&h.positive_spans),
        positive_deltas: Vec::new(),
        positive_counts: h.positive_buckets.clone(),
        reset_hint: reset_hint as i32,
        timestamp,
        custom_values: h.custom_values.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let samples = ResponseType::Samples as i32;
        let chunks = ResponseType::StreamedXorChunks as i32;
        assert!(negotiate(&[]).is_ok());
        assert!(negotiate(&[samples]).is_ok());
        assert!(negotiate(&[chunks, samples]).is_ok());
        let err = negotiate(&[chunks]).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message,
            "server does not support any of the requested response types: [STREAMED_XOR_CHUNKS]; supported: [SAMPLES]"
        );
    }

    #[test]
    fn garbage_bodies_are_bad_requests() {
        for body in [&b""[..], b"\xff\xff\xff\xff\xff\xff", b"not snappy at all"] {
            let err = decode_request(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{body:?}");
        }
        // valid snappy, invalid protobuf
        let bad_proto = snap::raw::Encoder::new().compress_vec(b"\x0a\xff").unwrap();
        assert!(decode_request(&bad_proto).is_err());
    }
}
