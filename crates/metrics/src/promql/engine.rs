//! The query engine's entry points: parse, then evaluate at one instant or over a range.

use super::queryable::Queryable;
use super::value::{Annotations, EvalError, Value};

/// Engine settings; the defaults are Prometheus's.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (`5m`).
    pub lookback_delta_ms: i64,
    /// The most samples a query may hold in memory at once (Prometheus's `query.max-samples`).
    pub max_samples: usize,
    /// The step of a subquery written without one (`[5m:]`): Prometheus uses the global
    /// evaluation interval, 1m by default.
    pub default_subquery_step_ms: i64,
    /// Keep `__name__` until the end of evaluation and drop it only where an operation would
    /// (Prometheus's `promql-delayed-name-removal` feature).
    pub enable_delayed_name_removal: bool,
    /// Threads one query may use for per-series work (range functions); 1 keeps it on the
    /// calling thread. Default: the machine's available parallelism.
    pub parallelism: usize,
    /// The coarsest downsampled resolution (ms) selectors may read instead of raw samples,
    /// where it gives the raw answers (see [`crate::downsample`]): 0 reads raw samples only
    /// (the default), `i64::MAX` lets the engine pick (5m or 1h). With a non-zero value the
    /// [`Queryable`] must honour [`SelectHints::downsample`](super::SelectHints) (at least
    /// by converting raw samples with [`crate::downsample::raw_as_aggregate`]).
    pub max_source_resolution_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            default_subquery_step_ms: 60 * 1000,
            enable_delayed_name_removal: true,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_source_resolution_ms: 0,
        }
    }
}

/// The result of a query: its value plus the annotations raised while evaluating it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub annotations: Annotations,
    /// Samples read from the [`Queryable`] (Prometheus's `totalQueryableSamples`).
    pub samples_read: u64,
}

/// Evaluates PromQL. Cheap to clone; holds no data.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Evaluates `query` at `ts_ms`. The value is a scalar, string, vector or (for a range
    /// vector selector) matrix.
    pub fn instant(
        &self,
        queryable: &dyn Queryable,
        query: &str,
        ts_ms: i64,
    ) -> Result<QueryResult, EvalError> {
        super::eval::evaluate(self, queryable, query, ts_ms, ts_ms, 0)
    }

    /// Evaluates `query` at `start_ms`, `start_ms + step_ms`, ... up to `end_ms`. The value is
    /// always a matrix, sorted by labels.
    pub fn range(
        &self,
        queryable: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, EvalError> {
        if step_ms <= 0 {
            return Err(EvalError::Parse(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(EvalError::Parse(
                "end timestamp must not be before start time".into(),
            ));
        }
        super::eval::evaluate(self, queryable, query, start_ms, end_ms, step_ms)
    }
}
