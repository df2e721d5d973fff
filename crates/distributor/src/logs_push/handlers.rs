//! The HTTP side of the logs write path: `POST /loki/api/v1/push` answers 204 (Loki);
//! `POST /otlp/v1/logs` answers 200 with an empty `ExportLogsServiceResponse` in the
//! request's encoding (protobuf or OTLP/JSON). Errors are plain text with their status.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sextant_kit::error::ApiError;
use sextant_proto::otlp::collector::logs::v1::ExportLogsServiceResponse;

use super::{LogsDistributor, LogsPushInput};
use crate::http_push::{otlp_response, HttpPush};

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
    let limit = distributor.config.max_recv_msg_size;
    let push = HttpPush::read(&distributor.tenants, headers, body, limit).await?;
    let json = push.is_json();
    let HttpPush {
        tenant,
        content_type,
        content_encoding,
        body,
    } = push;
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
        Endpoint::Otlp => {
            let response = ExportLogsServiceResponse::default();
            otlp_response(json, &response, || serde_json::to_vec(&response))
        }
    })
}
