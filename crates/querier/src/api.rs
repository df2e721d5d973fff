//! The Prometheus HTTP API under `/prometheus/api/v1/`, as Grafana and Prometheus clients
//! call it: PromQL queries, label and series metadata, build info and remote read.
//!
//! - [`params`]: parameters from the URL and form bodies; times, durations, selectors.
//! - [`json`]: query results in Prometheus's JSON (string sample values, histograms).
//! - [`query`]: `query`, `query_range`, `query_exemplars`, `format_query`; the engine runs
//!   on a blocking thread over [`queryable::SourceQueryable`].
//! - [`metadata`]: `labels`, `label/<name>/values`, `series`, `metadata`, `status/buildinfo`,
//!   `rules`, `alerts`.
//! - [`remote_read`]: `read` (snappy protobuf, `SAMPLES` responses).
//! - [`resolution`]: [`MaxSourceResolution`], the coarsest downsampled resolution a query
//!   may read (`max_source_resolution` parameter, config default).
//!
//! Every JSON answer is Prometheus's envelope: `{"status":"success","data":..}` with optional
//! `warnings`/`infos`, or `{"status":"error","errorType":"bad_data","error":".."}` with
//! Prometheus's status codes. Tests: unit tests beside each module, and
//! `tests/prometheus_api.rs` replays Grafana's requests against [`prometheus_api_router`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use sextant_kit::tenant::TenantResolver;
use sextant_metrics::promql::{Engine, EvalError};
use sextant_model::{ErrorKind, TenantId};
use tokio::sync::Semaphore;

use crate::source::{MetricsSource, QuerierError};

pub mod json;
pub mod metadata;
pub mod params;
pub mod query;
pub mod queryable;
pub mod remote_read;
pub mod resolution;

pub use resolution::MaxSourceResolution;

/// Where the API is served.
pub const PROMETHEUS_API_PREFIX: &str = "/prometheus/api/v1";

/// Settings of the Prometheus API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusApiConfig {
    /// The longest a query may run; a smaller `timeout` parameter shortens it.
    #[serde(with = "sextant_model::duration")]
    pub query_timeout: Duration,
    /// Most samples one remote-read request may return (Prometheus's
    /// `storage.remote.read-sample-limit`); 0 = no limit.
    pub remote_read_sample_limit: usize,
    /// Queries evaluated at once; more wait (their wait counts against their timeout).
    pub max_concurrent_queries: usize,
    /// The coarsest block resolution a query reads when it has no `max_source_resolution`
    /// parameter: `auto` (a downsampled resolution where it gives the same answers), `raw`,
    /// `5m`, `1h`.
    pub max_source_resolution: MaxSourceResolution,
}

impl Default for PrometheusApiConfig {
    fn default() -> Self {
        PrometheusApiConfig {
            query_timeout: Duration::from_secs(120),
            remote_read_sample_limit: 50_000_000,
            max_concurrent_queries: 20,
            max_source_resolution: MaxSourceResolution::Auto,
        }
    }
}

/// What `/status/buildinfo` reports. Without a `features` map, Grafana treats the backend as
/// plain Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    /// Prometheus's field name; Sextant puts the Rust toolchain here when it knows it.
    pub go_version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: String::new(),
            branch: String::new(),
            build_user: String::new(),
            build_date: String::new(),
            go_version: String::new(),
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The data: ingesters and blocks, merged.
    pub source: Arc<dyn MetricsSource>,
    pub engine: Engine,
    /// The tenant of a request (`X-Scope-OrgID`, or the default tenant).
    pub tenants: TenantResolver,
    pub config: PrometheusApiConfig,
    pub build_info: BuildInfo,
    /// The current time in unix milliseconds (the default `time` of instant queries).
    pub now_ms: fn() -> i64,
    /// Permits for running queries, `config.max_concurrent_queries` of them.
    pub query_slots: Arc<Semaphore>,
}

impl ApiState {
    /// State with the default config, build info and the system clock.
    pub fn new(source: Arc<dyn MetricsSource>, engine: Engine, tenants: TenantResolver) -> Self {
        Self::with_config(source, engine, tenants, PrometheusApiConfig::default())
    }

    /// State with the given config, the default build info and the system clock.
    pub fn with_config(
        source: Arc<dyn MetricsSource>,
        engine: Engine,
        tenants: TenantResolver,
        config: PrometheusApiConfig,
    ) -> Self {
        let slots = config
            .max_concurrent_queries
            .clamp(1, Semaphore::MAX_PERMITS);
        ApiState {
            source,
            engine,
            tenants,
            config,
            build_info: BuildInfo::default(),
            now_ms: system_now_ms,
            query_slots: Arc::new(Semaphore::new(slots)),
        }
    }
}

/// The system clock in unix milliseconds.
pub fn system_now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The router of the Prometheus API, paths starting with [`PROMETHEUS_API_PREFIX`].
pub fn prometheus_api_router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/query", get(query::instant).post(query::instant))
        .route("/query_range", get(query::range).post(query::range))
        .route(
            "/query_exemplars",
            get(query::exemplars).post(query::exemplars),
        )
        .route("/format_query", get(query::format).post(query::format))
        .route("/series", get(metadata::series).post(metadata::series))
        .route(
            "/labels",
            get(metadata::label_names).post(metadata::label_names),
        )
        .route("/label/{name}/values", get(metadata::label_values))
        .route("/metadata", get(metadata::metadata))
        .route("/status/buildinfo", get(metadata::build_info))
        .route(
            "/read",
            post(remote_read::read).layer(DefaultBodyLimit::max(remote_read::MAX_BODY_BYTES)),
        );
    Router::new()
        .nest(PROMETHEUS_API_PREFIX, v1)
        .with_state(state)
}

/// The tenant of a request; a missing or invalid `X-Scope-OrgID` (with multi-tenancy on) is
/// answered with 401 before the handler runs.
pub struct Tenant(pub TenantId);

impl FromRequestParts<ApiState> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        state
            .tenants
            .resolve(&parts.headers)
            .map(Tenant)
            .map_err(IntoResponse::into_response)
    }
}

/// A successful answer: `data` is already JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    pub data: String,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Success {
    pub fn new(data: String) -> Self {
        Success {
            data,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// `data` serialised with serde.
    pub fn json<T: Serialize + ?Sized>(data: &T) -> Result<Self, PromError> {
        serde_json::to_string(data)
            .map(Success::new)
            .map_err(|e| PromError::internal(format!("encoding the response: {e}")))
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(self.data.len() + 64);
        body.push_str("{\"status\":\"success\",\"data\":");
        body.push_str(&self.data);
        push_string_list(&mut body, "warnings", &self.warnings);
        push_string_list(&mut body, "infos", &self.infos);
        body.push('}');
        json_response(StatusCode::OK, body)
    }
}

/// A failed answer with Prometheus's `errorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromError {
    pub kind: ErrorKind,
    /// `bad_data`, `execution`, `timeout`, `unavailable`, `internal`.
    pub error_type: &'static str,
    pub message: String,
}

impl PromError {
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, "bad_data", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, "timeout", message)
    }

    fn new(kind: ErrorKind, error_type: &'static str, message: impl Into<String>) -> Self {
        PromError {
            kind,
            error_type,
            message: message.into(),
        }
    }

    /// An engine error; parse errors name the `query` parameter, as in Prometheus.
    pub fn from_eval(e: EvalError) -> Self {
        let message = match &e {
            EvalError::Parse(m) => format!("invalid parameter \"query\": {m}"),
            other => other.to_string(),
        };
        Self::new(e.kind(), e.error_type(), message)
    }

    /// A data-layer error.
    pub fn from_source(e: QuerierError) -> Self {
        let error_type = match e.kind() {
            ErrorKind::BadRequest => "bad_data",
            ErrorKind::Unavailable => "unavailable",
            _ => "internal",
        };
        Self::new(e.kind(), error_type, e.to_string())
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        if self.kind == ErrorKind::Internal {
            tracing::warn!(error = %self.message, "prometheus api request failed");
        }
        let mut body = String::from("{\"status\":\"error\",\"errorType\":");
        json::push_string(&mut body, self.error_type);
        body.push_str(",\"error\":");
        json::push_string(&mut body, &self.message);
        body.push('}');
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, body)
    }
}

fn push_string_list(out: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_string(out, item);
    }
    out.push(']');
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_durations_and_rejects_unknown_keys() {
        let config: PrometheusApiConfig =
            serde_json::from_str(r#"{"query_timeout":"30s","max_concurrent_queries":4}"#).unwrap();
        assert_eq!(config.query_timeout, Duration::from_secs(30));
        assert_eq!(config.max_concurrent_queries, 4);
        assert_eq!(config.remote_read_sample_limit, 50_000_000);
        assert_eq!(config.max_source_resolution, MaxSourceResolution::Auto);
        assert!(serde_json::from_str::<PrometheusApiConfig>(r#"{"query_timout":"1s"}"#).is_err());
        let config: PrometheusApiConfig =
            serde_json::from_str(r#"{"max_source_resolution":"5m"}"#).unwrap();
        assert_eq!(
            config.max_source_resolution,
            MaxSourceResolution::Millis(300_000)
        );
        assert!(
            serde_json::from_str::<PrometheusApiConfig>(r#"{"max_source_resolution":"x"}"#)
                .is_err()
        );
    }

    #[tokio::test]
    async fn envelopes() {
        let mut ok = Success::new("[1]".to_string());
        ok.infos.push("PromQL info: x".to_string());
        let body = axum::body::to_bytes(ok.into_response().into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            br#"{"status":"success","data":[1],"infos":["PromQL info: x"]}"#
        );
        let cases = [
            (PromError::bad_data("b"), 400, "bad_data"),
            (PromError::timeout("t"), 503, "timeout"),
            (PromError::internal("i"), 500, "internal"),
            (
                PromError::from_eval(EvalError::Execution("e".into())),
                422,
                "execution",
            ),
            (
                PromError::from_source(QuerierError::Ingesters("u".into())),
                503,
                "unavailable",
            ),
        ];
        for (error, status, error_type) in cases {
            let message = error.message.clone();
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status, "{error_type}");
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let want = format!(
                r#"{{"status":"error","errorType":"{error_type}","error":"{}"}}"#,
                message.replace('"', "\\\"")
            );
            assert_eq!(String::from_utf8_lossy(&body), want);
        }
        let parse = PromError::from_eval(EvalError::Parse("1:1: parse error: x".into()));
        assert_eq!(
            parse.message,
            "invalid parameter \"query\": 1:1: parse error: x"
        );
    }
}
