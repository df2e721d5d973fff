//! The Loki HTTP API under `/loki/api/v1/`, as Grafana's Loki data source and `logcli` call
//! it, over any [`LogsSource`].
//!
//! - [`source`]: [`LogsSource`], what the API needs from the logs data layer, and
//!   [`MemLogsSource`] for tests and wiring.
//! - [`queryable`]: the evaluator's synchronous view of a [`LogsSource`] (fetch once per
//!   selection, count what was read).
//! - [`params`]: Loki's parameters (times in ns / s / RFC3339, `limit`, `direction`,
//!   `step`); [`json`]: streams, vectors, matrices and `stats` in Loki's JSON.
//! - [`query`]: `query` and `query_range`, LogQL evaluated on a blocking thread.
//! - [`labels`]: `labels`, `label/<name>/values`, `series`, `index/stats`,
//!   `detected_labels`, `patterns`; [`volume`]: `index/volume`, `index/volume_range`;
//!   [`detected`]: `detected_fields`, `detected_field/<name>/values`.
//! - [`tail`]: the live tail websocket, `tail`.
//!
//! Errors are Loki's: a plain-text body with the message (Grafana shows it as is), 400 for
//! bad parameters and queries, 504 for timeouts, the data layer's status otherwise. The
//! `X-Loki-Response-Encoding-Flags: categorize-labels` header is ignored and never
//! advertised: structured metadata and parsed labels are folded into `stream`, which then
//! splits as Loki does without the flag. Tests: unit tests beside each module and
//! `tests/loki_api.rs`, which replays Grafana's requests against [`loki_api_router`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sextant_kit::tenant::TenantResolver;
use sextant_logs::logql::eval::EvalError;
use sextant_model::TenantId;
use tokio::sync::Semaphore;

use crate::source::QuerierError;

pub mod detected;
pub mod json;
pub mod labels;
pub mod params;
pub mod query;
pub mod queryable;
pub mod source;
pub mod tail;
pub mod volume;

pub use source::{LogsSource, LogsStats, MemLogsSource};
pub use tail::LokiActiveTails;

/// Where the API is served.
pub const LOKI_API_PREFIX: &str = "/loki/api/v1";

/// Loki's message for a query that ran out of time.
const DEADLINE_EXCEEDED: &str = "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed";

/// Settings of the Loki API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiApiConfig {
    /// The longest a query may run.
    #[serde(with = "sextant_model::duration")]
    pub query_timeout: Duration,
    /// Queries evaluated at once; more wait (their wait counts against their timeout).
    pub max_concurrent_queries: usize,
    /// The largest `limit` a log query may ask for (Loki's `max_entries_limit_per_query`).
    pub max_entries_limit_per_query: usize,
    /// The longest a live tail runs before it is closed (Loki's `tail_max_duration`).
    #[serde(with = "sextant_model::duration")]
    pub tail_max_duration: Duration,
    /// How often a live tail asks for new entries.
    #[serde(with = "sextant_model::duration")]
    pub tail_poll_interval: Duration,
    /// Live tails of one tenant running at once on this querier; 0 = no limit (Loki's
    /// `max_concurrent_tail_requests`).
    pub max_concurrent_tail_requests: usize,
}

impl Default for LokiApiConfig {
    fn default() -> Self {
        LokiApiConfig {
            query_timeout: Duration::from_secs(60),
            max_concurrent_queries: 20,
            max_entries_limit_per_query: 5000,
            tail_max_duration: Duration::from_secs(3600),
            tail_poll_interval: tail::DEFAULT_TAIL_POLL_INTERVAL,
            max_concurrent_tail_requests: 10,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct LokiApiState {
    pub source: Arc<dyn LogsSource>,
    /// The tenant of a request (`X-Scope-OrgID`, or the default tenant).
    pub tenants: TenantResolver,
    pub config: LokiApiConfig,
    /// The current time in unix nanoseconds (the default `time`, `end`).
    pub now_ns: fn() -> i64,
    /// Permits for running queries, `config.max_concurrent_queries` of them.
    pub query_slots: Arc<Semaphore>,
    /// Live tails running, per tenant.
    pub active_tails: LokiActiveTails,
}

impl LokiApiState {
    /// State with the given config and the system clock.
    pub fn new(
        source: Arc<dyn LogsSource>,
        tenants: TenantResolver,
        config: LokiApiConfig,
    ) -> Self {
        let slots = config
            .max_concurrent_queries
            .clamp(1, Semaphore::MAX_PERMITS);
        LokiApiState {
            source,
            tenants,
            config,
            now_ns: system_now_ns,
            query_slots: Arc::new(Semaphore::new(slots)),
            active_tails: LokiActiveTails::default(),
        }
    }
}

/// The system clock in unix nanoseconds.
pub fn system_now_ns() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The router of the Loki API: paths under [`LOKI_API_PREFIX`] (the live tail is a
/// websocket, so it needs a server that keeps upgraded connections: `axum::serve` does), and
/// a 404 for `/loki/api/v2alpha/tail` so that Grafana picks the v1 tail.
pub fn loki_api_router(state: LokiApiState) -> Router {
    let v1 = Router::new()
        .route("/query", get(query::instant).post(query::instant))
        .route("/query_range", get(query::range).post(query::range))
        .route(
            "/labels",
            get(labels::label_names).post(labels::label_names),
        )
        .route("/label/{name}/values", get(labels::label_values))
        .route("/series", get(labels::series).post(labels::series))
        .route(
            "/index/stats",
            get(labels::index_stats).post(labels::index_stats),
        )
        .route("/index/volume", get(volume::instant).post(volume::instant))
        .route(
            "/index/volume_range",
            get(volume::range).post(volume::range),
        )
        .route("/detected_labels", get(labels::detected_labels))
        .route("/detected_fields", get(detected::detected_fields))
        .route(
            "/detected_field/{name}/values",
            get(detected::detected_field_values),
        )
        .route("/patterns", get(labels::patterns))
        .route("/tail", get(tail::tail));
    Router::new()
        .nest(LOKI_API_PREFIX, v1)
        .route(
            "/loki/api/v2alpha/tail",
            get(|| async { StatusCode::NOT_FOUND }),
        )
        .with_state(state)
}

/// The tenant of a request; a missing or invalid `X-Scope-OrgID` (with multi-tenancy on) is
/// answered with 401 before the handler runs.
pub struct LokiTenant(pub TenantId);

impl FromRequestParts<LokiApiState> for LokiTenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &LokiApiState) -> Result<Self, Response> {
        state
            .tenants
            .resolve(&parts.headers)
            .map(LokiTenant)
            .map_err(IntoResponse::into_response)
    }
}

/// A failed request: Loki answers with the message as plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiError {
    pub status: u16,
    pub message: String,
}

impl LokiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        LokiError {
            status: 400,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        LokiError {
            status: 500,
            message: message.into(),
        }
    }

    /// Loki's 504 with its advice.
    pub fn timeout() -> Self {
        LokiError {
            status: 504,
            message: DEADLINE_EXCEEDED.to_string(),
        }
    }

    /// An evaluation error: client errors (parse, pipeline, `__error__` samples) are 400 as
    /// in Loki; execution errors 422; store errors 500.
    pub fn from_eval(e: EvalError) -> Self {
        let status = match &e {
            EvalError::Series { .. } => 400,
            other => other.kind().http_status(),
        };
        LokiError {
            status,
            message: e.to_string(),
        }
    }

    /// A data-layer error with its status.
    pub fn from_source(e: QuerierError) -> Self {
        LokiError {
            status: e.kind().http_status(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        if self.status >= 500 {
            tracing::warn!(error = %self.message, status = self.status, "loki api request failed");
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
pub struct LokiJson(pub String);

impl LokiJson {
    /// `{"status":"success","data":<data>}`.
    pub fn success(data: &str) -> Self {
        LokiJson(format!("{{\"status\":\"success\",\"data\":{data}}}"))
    }

    /// `value` serialised with serde.
    pub fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, LokiError> {
        serde_json::to_string(value)
            .map(LokiJson)
            .map_err(|e| LokiError::internal(format!("encoding the response: {e}")))
    }
}

impl IntoResponse for LokiJson {
    fn into_response(self) -> Response {
        let headers = [(header::CONTENT_TYPE, "application/json; charset=UTF-8")];
        (StatusCode::OK, headers, self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_logs::logql::parse::parse_expr;

    #[test]
    fn config_reads_durations_and_rejects_unknown_keys() {
        let config: LokiApiConfig =
            serde_json::from_str(r#"{"query_timeout":"30s","max_concurrent_queries":4}"#).unwrap();
        assert_eq!(config.query_timeout, Duration::from_secs(30));
        assert_eq!(config.max_entries_limit_per_query, 5000);
        assert!(serde_json::from_str::<LokiApiConfig>(r#"{"query_timout":"1s"}"#).is_err());
    }

    #[tokio::test]
    async fn errors_are_plain_text_with_loki_statuses() {
        let parse = parse_expr("{app=").unwrap_err();
        let cases = [
            (LokiError::from_eval(EvalError::Parse(parse.clone())), 400),
            (
                LokiError::from_eval(EvalError::Series {
                    error: "JSONParserErr".into(),
                    series: "{}".into(),
                }),
                400,
            ),
            (LokiError::from_eval(EvalError::Execution("x".into())), 422),
            (LokiError::from_eval(EvalError::Storage("x".into())), 500),
            (
                LokiError::from_source(QuerierError::Ingesters("x".into())),
                503,
            ),
            (LokiError::timeout(), 504),
        ];
        for (error, status) in cases {
            let message = error.message.clone();
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status, "{message}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/plain; charset=utf-8"
            );
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&body), message);
        }
    }
}
