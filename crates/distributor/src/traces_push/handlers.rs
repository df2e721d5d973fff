//! The HTTP side of the traces write path: `POST /v1/traces` and `POST /otlp/v1/traces`
//! answer 200 with an `ExportTraceServiceResponse` (carrying `partial_success` when spans were
//! refused) in the request's encoding, protobuf or OTLP/JSON. Errors are plain text with
//! their status.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use prost::Message;
use sextant_kit::error::ApiError;
use sextant_model::ErrorKind;
use sextant_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};

use super::{TracesDistributor, TracesPushInput};
use crate::logs_push::handlers::{is_json, read_body};

impl TracesDistributor {
    /// `POST /v1/traces` and `POST /otlp/v1/traces`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/traces", post(otlp_handler))
            .route("/otlp/v1/traces", post(otlp_handler))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self)
    }
}

async fn otlp_handler(
    State(distributor): State<Arc<TracesDistributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&distributor, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    distributor: &TracesDistributor,
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
    let input = TracesPushInput::Otlp {
        content_type,
        content_encoding,
        body,
    };
    let report = distributor.push_traces(&tenant, input).await;
    if let Some(e) = report.error {
        return Err(e.into());
    }
    Ok(otlp_response(report.partial_success, json))
}

/// The `ExportTraceServiceResponse` of a written push, as OTLP/JSON or protobuf.
fn otlp_response(partial_success: Option<ExportTracePartialSuccess>, json: bool) -> Response {
    let response = ExportTraceServiceResponse { partial_success };
    if !json {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response();
    }
    // OTLP/JSON leaves unset fields out: `{}` when everything was written
    let encoded = match &response.partial_success {
        None => Ok(b"{}".to_vec()),
        Some(_) => serde_json::to_vec(&response),
    };
    match encoded {
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
}
