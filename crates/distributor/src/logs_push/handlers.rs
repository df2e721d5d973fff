//! The HTTP side of the logs write path: `POST /loki/api/v1/push` answers 204 (Loki);
//! `POST /otlp/v1/logs` answers 200 with an empty `ExportLogsServiceResponse` in the
//! request's encoding (protobuf or OTLP/JSON). Errors are plain text with their status.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use prost::Message;
use sextant_kit::error::ApiError;
use sextant_model::ErrorKind;
use sextant_proto::otlp::collector::logs::v1::ExportLogsServiceResponse;

use super::{LogsDistributor, LogsPushInput};

/// How much of an oversized body is drained before giving up on the connection.
const DRAIN_LIMIT_FACTOR: usize = 16;

impl LogsDistributor {
    /// `POST /loki/api/v1/push` and `POST /otlp/v1/logs`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/loki/api/v1/push", post(loki_handler))
            .route("/otlp/v1/logs", post(otlp_handler))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self)
    }
}

/// Which endpoint a body came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Loki,
    Otlp,
}

async fn loki_handler(
    State(distributor): State<Arc<LogsDistributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&distributor, Endpoint::Loki, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn otlp_handler(
    State(distributor): State<Arc<LogsDistributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&distributor, Endpoint::Otlp, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    distributor: &LogsDistributor,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = distributor.tenants.resolve(headers)?;
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(header::CONTENT_TYPE);
    let content_encoding = header(header::CONTENT_ENCODING);
    let json = is_json(content_type.as_deref());
    let body = read_body(body, distributor.config.max_recv_msg_size).await?;
    let input = match endpoint {
        Endpoint::Loki => LogsPushInput::Loki {
            content_type,
            content_encoding,
            body,
        },
        Endpoint::Otlp => LogsPushInput::Otlp {
            content_type,
            content_encoding,
            body,
        },
    };
    let report = distributor.push_logs(&tenant, input).await;
    if let Some(e) = report.error {
        return Err(e.into());
    }
    Ok(match endpoint {
        Endpoint::Loki => StatusCode::NO_CONTENT.into_response(),
        Endpoint::Otlp => otlp_success(json),
    })
}

pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// An empty `ExportLogsServiceResponse`: all records accepted.
fn otlp_success(json: bool) -> Response {
    let response = ExportLogsServiceResponse::default();
    if json {
        match serde_json::to_vec(&response) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => ApiError::new(
                ErrorKind::Internal,
                format!("cannot encode the OTLP response: {e}"),
            )
            .into_response(),
        }
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response()
    }
}

/// Reads the body up to `limit` bytes; a longer one is a 413 naming the limit. As on the
/// metrics path, an oversized body is drained (up to [`DRAIN_LIMIT_FACTOR`] × `limit`) before
/// answering, so that clients see the 413 rather than a reset connection.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!("cannot read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else if seen > limit.saturating_mul(DRAIN_LIMIT_FACTOR) {
            break;
        }
    }
    if seen > limit {
        return Err(ApiError {
            kind: ErrorKind::PayloadTooLarge,
            id: Some("err-sextant-request-too-large"),
            message: format!(
                "request body too large: the limit is {limit} bytes (distributor.max_recv_msg_size)"
            ),
        });
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let cases = [
            (None, false),
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some("application/x-protobuf"), false),
            (Some("text/plain"), false),
        ];
        for (content_type, want) in cases {
            assert_eq!(is_json(content_type), want, "{content_type:?}");
        }
    }
}
