//! Downsampling (Thanos semantics): old blocks get 5m and 1h resolutions holding, per series
//! and window, the count, sum, min and max of its float samples and the counter's first and
//! last values (reset-adjusted). The engine asks for one aggregate per selector when a
//! resolution is correct for the query (see [`DownsampleHint`]); raw samples read for the same
//! selector are converted to that aggregate's form, so a series may mix both.
//!
//! Windows are left-open and aligned on the epoch: `(k·R, (k+1)·R]`, like PromQL's range
//! selectors `(t - range, t]`, so a range selector whose range, evaluation times and offset
//! are multiples of `R` covers whole windows.

use serde::{Deserialize, Serialize};

/// 5 minutes, the first downsampling resolution.
pub const RESOLUTION_5M_MS: i64 = 5 * 60 * 1000;
/// 1 hour, the second downsampling resolution.
pub const RESOLUTION_1H_MS: i64 = 60 * 60 * 1000;

/// The label that names a downsampled series' aggregate inside a downsampled block; never
/// visible to queries.
pub const AGGREGATE_LABEL: &str = "__sextant_aggr__";

/// One aggregate of a downsampled series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAggregate {
    /// Samples in the window, at the window's last sample.
    Count,
    /// Sum of the window's samples, at its last sample.
    Sum,
    /// Smallest sample of the window, at its last sample.
    Min,
    /// Largest sample of the window, at its last sample.
    Max,
    /// The counter at the window's first and last samples (two points), with resets inside
    /// the block added back, so that `rate`/`increase` over whole windows equal the raw ones.
    Counter,
}

impl MetricsAggregate {
    pub const ALL: [MetricsAggregate; 5] = [
        MetricsAggregate::Count,
        MetricsAggregate::Sum,
        MetricsAggregate::Min,
        MetricsAggregate::Max,
        MetricsAggregate::Counter,
    ];

    /// The value of [`AGGREGATE_LABEL`].
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsAggregate::Count => "count",
            MetricsAggregate::Sum => "sum",
            MetricsAggregate::Min => "min",
            MetricsAggregate::Max => "max",
            MetricsAggregate::Counter => "counter",
        }
    }
}

/// What the engine asks of a selector when a downsampled resolution is correct for it: the
/// series' points as `aggregate` (from blocks of resolution at most `resolution_ms`, raw
/// samples converted), which the engine then evaluates with the function fitting the
/// aggregate (e.g. `count_over_time` becomes a sum of counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownsampleHint {
    pub resolution_ms: i64,
    pub aggregate: MetricsAggregate,
}
