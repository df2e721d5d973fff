//! What the query API needs from the data layer. The querier's implementation merges
//! ingesters and blocks; tests use an in-memory one.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use sextant_metrics::downsample::DownsampleHint;
use sextant_metrics::promql::{EvalError, Series};
use sextant_model::{ErrorKind, Labels, Matcher, TenantId};

/// Why reading data failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QuerierError {
    /// Not enough ingesters answered (a quorum is needed per replica set).
    #[error("failed to query ingesters: {0}")]
    Ingesters(String),
    /// Object storage could not be read, or a block is corrupt.
    #[error("failed to read blocks: {0}")]
    Blocks(String),
    /// The request itself is invalid (a bad matcher, a time range the limits forbid).
    #[error("{0}")]
    BadRequest(String),
}

impl QuerierError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            QuerierError::Ingesters(_) => ErrorKind::Unavailable,
            QuerierError::Blocks(_) => ErrorKind::Internal,
            QuerierError::BadRequest(_) => ErrorKind::BadRequest,
        }
    }
}

impl From<QuerierError> for EvalError {
    fn from(e: QuerierError) -> Self {
        match e {
            QuerierError::BadRequest(m) => EvalError::Parse(m),
            other => EvalError::Storage(other.to_string()),
        }
    }
}

/// Metadata of one metric family, as `/api/v1/metadata` returns it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetadataEntry {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset`,
    /// `unknown`.
    pub metric_type: String,
    pub help: String,
    pub unit: String,
}

/// The data behind every read endpoint, for one tenant at a time. Times are inclusive
/// milliseconds. Every answer is already merged across ingesters and blocks, and replica
/// duplicates are removed (each sample once).
pub trait MetricsSource: Send + Sync {
    /// Series matching every matcher with their samples in `[start_ms, end_ms]`. Without
    /// `downsample`, raw samples; with it, the hinted aggregate's points (see
    /// [`DownsampleHint`]): from downsampled blocks of resolution at most the hint's where
    /// they exist, raw samples converted with
    /// [`raw_as_aggregate`](sextant_metrics::downsample::raw_as_aggregate) elsewhere.
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &'a [Matcher],
        downsample: Option<DownsampleHint>,
    ) -> BoxFuture<'a, Result<Vec<Series>, QuerierError>>;

    /// Sorted, unique label names of the series matching any matcher set (all series when
    /// `matcher_sets` is empty). `limit` 0 = none.
    fn label_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>>;

    /// Sorted, unique values of `name` over the same selection.
    fn label_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>>;

    /// Sorted, unique label sets of the series matching any matcher set (at least one set).
    fn series<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Labels>, QuerierError>>;

    /// Metadata per metric family name (`metric` empty = all). `limit` 0 = none (families).
    fn metadata<'a>(
        &'a self,
        tenant: &'a TenantId,
        metric: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Vec<MetadataEntry>>, QuerierError>>;
}
