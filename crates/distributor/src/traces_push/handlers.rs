//! The HTTP side of the traces write path: `POST /v1/traces` and `POST /otlp/v1/traces`
//! answer 200 with an `ExportTraceServiceResponse` (carrying `partial_success` when spans were
//! refused) in the request's encoding, protobuf or OTLP/JSON. Errors are plain text with
//! their status.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sextant_kit::error::ApiError;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;

use super::{TracesDistributor, TracesPushInput};
use crate::http_push::{otlp_response, HttpPush};

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
    let limit = distributor.config.max_recv_msg_size;
    let push = HttpPush::read(&distributor.tenants, headers, body, limit).await?;
    let json = push.is_json();
    let input = TracesPushInput::Otlp {
        content_type: push.content_type,
        content_encoding: push.content_encoding,
        body: push.body,
    };
    let report = distributor.push_traces(&push.tenant, input).await;
    if let Some(e) = report.error {
        return Err(e.into());
    }
    let response = ExportTraceServiceResponse {
        partial_success: report.partial_success,
    };
    // OTLP/JSON leaves unset fields out: `{}` when everything was written
    Ok(otlp_response(json, &response, || {
        match &response.partial_success {
            None => Ok(b"{}".to_vec()),
            Some(_) => serde_json::to_vec(&response),
        }
    }))
}
