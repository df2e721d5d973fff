//! The ruler's two narrow views of the rest of the system: [`QueryClient`] (instant queries
//! through the query API) and [`SampleWriter`] (samples through remote write), with their HTTP
//! implementations in `client/query.rs` and `client/write.rs`, and the errors of evaluation.

mod query;
mod write;

use std::time::Duration;

use futures::future::BoxFuture;
use sextant_model::{ErrorKind, Labels, Signal, TenantId};

pub use query::HttpQueryClient;
pub use write::HttpSampleWriter;

/// The tenant header of every request the ruler sends.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// The results of an instant query: one value per series (a scalar is one unlabelled series).
pub type QueryResult = Vec<(Labels, f64)>;

/// Runs instant queries as one tenant.
pub trait QueryClient: Send + Sync {
    /// Evaluates `expr` (PromQL for metrics, a LogQL metric query for logs) at `time_ms`.
    fn instant_query<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        expr: &'a str,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, RulerQueryError>>;

    /// The latest sample (timestamp ms, value) in `(time_ms - range, time_ms]` of each metrics
    /// series `selector` matches: how alert state is restored from `ALERTS_FOR_STATE`.
    fn latest_samples<'a>(
        &'a self,
        tenant: &'a TenantId,
        selector: &'a str,
        time_ms: i64,
        range: Duration,
    ) -> BoxFuture<'a, Result<Vec<LatestSample>, RulerQueryError>>;
}

/// A series and its latest sample, from [`QueryClient::latest_samples`].
#[derive(Debug, Clone, PartialEq)]
pub struct LatestSample {
    pub labels: Labels,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// One sample the ruler writes (recording results, `ALERTS`, `ALERTS_FOR_STATE`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSample {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// Writes samples as one tenant.
pub trait SampleWriter: Send + Sync {
    fn write<'a>(
        &'a self,
        tenant: &'a TenantId,
        samples: Vec<RuleSample>,
    ) -> BoxFuture<'a, Result<(), RulerQueryError>>;
}

/// Prometheus's staleness marker: written for series a rule stopped producing.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// Whether `v` is the staleness marker (a NaN compares unequal to everything, bits do not).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN.to_bits()
}

/// Why evaluating or writing a rule failed.
#[derive(Debug, thiserror::Error)]
pub enum RulerQueryError {
    #[error("request to {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("decoding the answer of {url}: {message}")]
    Decode { url: String, message: String },
    #[error("query returned a {0}, a rule needs a vector or a scalar")]
    UnsupportedResult(String),
    #[error("exceeded limit of {limit} series with {got} series")]
    LimitExceeded { limit: u64, got: usize },
    #[error("vector contains metrics with the same labelset after applying rule labels: {0}")]
    DuplicateSeries(String),
    #[error("signal {0} has no rules")]
    UnsupportedSignal(Signal),
    #[error("building the HTTP client: {0}")]
    Client(String),
}

impl RulerQueryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RulerQueryError::Transport { .. } => ErrorKind::Unavailable,
            RulerQueryError::Status { status, .. } if *status == 429 => ErrorKind::TooManyRequests,
            RulerQueryError::Status { status, .. } if *status >= 500 => ErrorKind::Unavailable,
            RulerQueryError::Status { .. } => ErrorKind::Unprocessable,
            RulerQueryError::Decode { .. } | RulerQueryError::Client(_) => ErrorKind::Internal,
            RulerQueryError::UnsupportedResult(_)
            | RulerQueryError::LimitExceeded { .. }
            | RulerQueryError::DuplicateSeries(_) => ErrorKind::Unprocessable,
            RulerQueryError::UnsupportedSignal(_) => ErrorKind::BadRequest,
        }
    }
}

/// An HTTP client for the query API, remote write and Alertmanager, with rustls' `ring`
/// provider installed (reqwest is built without one).
pub fn build_http_client(
    timeout: Duration,
) -> Result<object_store_reqwest::Client, RulerQueryError> {
    // An `Err` means a provider is already installed, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    object_store_reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| RulerQueryError::Client(e.to_string()))
}

/// `base` + `path`, without a doubled slash.
fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Reads a response: the body on 2xx, a [`RulerQueryError::Status`] otherwise.
async fn read_response(
    url: &str,
    response: Result<object_store_reqwest::Response, object_store_reqwest::Error>,
) -> Result<bytes::Bytes, RulerQueryError> {
    let transport = |e: object_store_reqwest::Error| RulerQueryError::Transport {
        url: url.to_string(),
        message: e.to_string(),
    };
    let response = response.map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
        return Err(RulerQueryError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            body: text,
        });
    }
    Ok(body)
}

#[cfg(test)]
pub(crate) mod testing;
