//! The Tempo HTTP API, as Grafana's Tempo data source calls it, over any [`TracesSource`].
//!
//! - [`trace_by_id`]: `/api/traces/<id>` (Tempo's v1 `{"batches":[...]}`) and
//!   `/api/v2/traces/<id>` (`{"trace":{"resourceSpans":[...]}}`), OTLP/JSON or, with
//!   `Accept: application/protobuf`, Tempo's `Trace` / `TraceByIDResponse` messages.
//! - [`search`]: `/api/search` with `q` (TraceQL) or the legacy `tags` (logfmt, translated to
//!   TraceQL by [`legacy`]), `minDuration`, `maxDuration`, `limit`, `spss`, `start`, `end`.
//! - [`tags`]: `/api/search/tags`, `/api/v2/search/tags` (scoped, with Tempo's intrinsics),
//!   `/api/search/tag/<t>/values`, `/api/v2/search/tag/<t>/values` (typed, `q` filter).
//! - [`params`]: Tempo's parameters (trace IDs, Unix seconds, Go durations, limits).
//! - [`streaming`]: the same search and tags over gRPC (`tempopb.StreamingQuerier`, Grafana's
//!   streaming mode), routes to merge into the HTTP router ([`tempo_streaming_router`]).
//! - [`mem_source`]: [`MemTracesSource`], traces in memory that really evaluate TraceQL.
//! - Here: the router, `/api/echo`, `/api/status/buildinfo`, the tenant, errors, and a 400 for
//!   TraceQL metrics (`/api/metrics/query_range`, `/api/metrics/query`), not supported.
//!
//! Errors are Tempo's: the message as plain text (Grafana shows it as is), 400 for bad
//! parameters and queries, 404 `trace not found`, the data layer's status otherwise.
//! Tests: unit tests beside each module and `tempo_api/tests.rs`, which replays Grafana's
//! requests against [`tempo_api_router`] over a [`MemTracesSource`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use sextant_kit::tenant::TenantResolver;
use sextant_model::TenantId;
use sextant_traces::traceql::TraceqlError;

use crate::api::BuildInfo;
use crate::source::QuerierError;
use crate::traces_source::TracesSource;

pub mod legacy;
pub mod mem_source;
pub mod params;
pub mod search;
pub mod streaming;
pub mod tags;
#[cfg(test)]
mod tests;
pub mod trace_by_id;

pub use mem_source::MemTracesSource;
pub use streaming::tempo_streaming_router;

/// Tempo's answer when no span of the trace is held.
pub const TRACE_NOT_FOUND: &str = "trace not found";

/// What the handlers share.
#[derive(Clone)]
pub struct TempoApiState {
    /// The traces: ingesters and blocks, merged.
    pub source: Arc<dyn TracesSource>,
    /// The tenant of a request (`X-Scope-OrgID`, or the default tenant).
    pub tenants: TenantResolver,
    /// What `/api/status/buildinfo` reports.
    pub build_info: BuildInfo,
}

impl TempoApiState {
    /// State with the default build info.
    pub fn new(source: Arc<dyn TracesSource>, tenants: TenantResolver) -> Self {
        TempoApiState {
            source,
            tenants,
            build_info: BuildInfo::default(),
        }
    }
}

/// The router of the Tempo API (paths as Tempo serves them, from the root).
pub fn tempo_api_router(state: TempoApiState) -> Router {
    Router::new()
        .route("/api/echo", get(echo))
        .route("/api/status/buildinfo", get(build_info))
        .route("/api/traces/{id}", get(trace_by_id::v1))
        .route("/api/v2/traces/{id}", get(trace_by_id::v2))
        .route("/api/search", get(search::search))
        .route("/api/search/tags", get(tags::tag_names_v1))
        .route("/api/v2/search/tags", get(tags::tag_names_v2))
        .route("/api/search/tag/{tag}/values", get(tags::tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tags::tag_values_v2))
        .route("/api/metrics/query_range", get(metrics_unsupported))
        .route("/api/metrics/query", get(metrics_unsupported))
        .with_state(state)
}

/// `GET /api/echo`: Grafana's "save & test".
async fn echo() -> &'static str {
    "echo"
}

/// `GET /api/status/buildinfo`: Tempo answers Prometheus's `PrometheusVersion` object as is
/// (not wrapped in `{"status":..,"data":..}`).
async fn build_info(State(state): State<TempoApiState>) -> Result<TempoJson, TempoError> {
    TempoJson::serialize(&state.build_info)
}

/// TraceQL metrics (`rate()`, `count_over_time()`, ...) are not implemented: say so rather
/// than answer an empty series list.
async fn metrics_unsupported(TempoTenant(_tenant): TempoTenant) -> TempoError {
    TempoError::bad_request(
        "TraceQL metrics queries are not supported by Sextant: use a TraceQL search (/api/search)",
    )
}

/// The tenant of a request; a missing or invalid `X-Scope-OrgID` (with multi-tenancy on) is
/// answered with 401 before the handler runs.
pub struct TempoTenant(pub TenantId);

impl FromRequestParts<TempoApiState> for TempoTenant {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &TempoApiState,
    ) -> Result<Self, Response> {
        state
            .tenants
            .resolve(&parts.headers)
            .map(TempoTenant)
            .map_err(IntoResponse::into_response)
    }
}

/// A failed request: Tempo answers with the message as plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempoError {
    pub status: u16,
    pub message: String,
}

impl TempoError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        TempoError {
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        TempoError {
            status: 404,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        TempoError {
            status: 500,
            message: message.into(),
        }
    }

    /// A rejected query (always 400). Syntax errors get Tempo's `invalid TraceQL query: `
    /// prefix; the other kinds carry their own.
    pub fn from_traceql(e: &TraceqlError) -> Self {
        let message = match e {
            TraceqlError::Parse { .. } => format!("invalid TraceQL query: {e}"),
            TraceqlError::Invalid(_) | TraceqlError::Unsupported(_) => e.to_string(),
        };
        TempoError {
            status: e.kind().http_status(),
            message,
        }
    }

    /// A data-layer error with its status.
    pub fn from_source(e: QuerierError) -> Self {
        TempoError {
            status: e.kind().http_status(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for TempoError {
    fn into_response(self) -> Response {
        if self.status >= 500 {
            tracing::warn!(error = %self.message, status = self.status, "tempo api request failed");
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ];
        (status, headers, self.message).into_response()
    }
}

/// A JSON answer, already encoded.
pub struct TempoJson(pub String);

impl TempoJson {
    /// `value` serialised with serde.
    pub fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, TempoError> {
        serde_json::to_string(value)
            .map(TempoJson)
            .map_err(|e| TempoError::internal(format!("encoding the response: {e}")))
    }
}

impl IntoResponse for TempoJson {
    fn into_response(self) -> Response {
        let headers = [(header::CONTENT_TYPE, "application/json")];
        (StatusCode::OK, headers, self.0).into_response()
    }
}
