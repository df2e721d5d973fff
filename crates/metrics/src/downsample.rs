//! Downsampling (Thanos semantics): old blocks get 5m and 1h resolutions holding, per series
//! and window, the count, sum, min and max of its float samples and the counter points `rate`
//! and `increase` need (below). The engine asks for one aggregate per selector when a
//! resolution is correct for the query (see [`DownsampleHint`]); raw samples read for the same
//! selector are converted to that aggregate's form, so a series may mix both.
//!
//! Windows are left-open and aligned on the epoch: `(k·R, (k+1)·R]`, like PromQL's range
//! selectors `(t - range, t]`, so a range selector whose range, evaluation times and offset
//! are multiples of `R` covers whole windows.
//!
//! The aggregates of one window, at the window's last float sample: `count`, `sum` (Kahan
//! summed, like `sum_over_time`), `min` and `max` (NaN only when every sample is NaN, like
//! `min_over_time`). Staleness markers are left out, as range selectors do. Native histograms
//! are not aggregated: a downsampled block copies them unchanged into a series labelled
//! `raw`, which the data layer merges into every aggregate (see [`raw_as_aggregate`]).
//!
//! `counter` keeps a subsequence of the raw samples: the first and last of each window plus
//! both samples of every pair that is not an increase (a reset, or a NaN). Every dropped
//! stretch therefore never decreases, so the first and last values, the timestamps and the
//! resets `rate`/`increase` see over whole windows are exactly the raw ones. The low sample
//! after a reset is dropped too when the counter stays below the pre-reset value up to the
//! next kept point (the drop to that point adds the same). A window where that keeps more
//! than four points (a positive gauge, several resets) becomes three or four: first sample,
//! the sum of the pre-reset values, a value below it unless the last sample is, last sample
//! (same increase up to rounding). The first and last values of a window stay raw rather
//! than reset-adjusted (unlike Thanos), so blocks, resolutions and raw samples concatenate
//! without a correction at their borders, and `rate`'s extrapolation sees the raw first
//! value. What the points lose is the number of samples, which that extrapolation also
//! needs: the engine reads it from the `count` aggregate.
//!
//! A block stores the counter aggregate as three series, so that each has regular
//! timestamps and smooth values and compresses well: `counter` (each window's last point),
//! [`AGGREGATE_COUNTER_FIRST`] (each window's first point, when it is not also its last) and
//! [`AGGREGATE_COUNTER_INNER`] (the points between, around resets); a read merges them.

use serde::{Deserialize, Serialize};

use crate::promql::value::{is_stale_nan, Series};
use crate::promql::FPoint;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
pub(crate) mod tests;
mod windows;

pub(crate) use windows::downsample_points;

/// 5 minutes, the first downsampling resolution.
pub const RESOLUTION_5M_MS: i64 = 5 * 60 * 1000;
/// 1 hour, the second downsampling resolution.
pub const RESOLUTION_1H_MS: i64 = 60 * 60 * 1000;

/// The label that names a downsampled series' aggregate inside a downsampled block; never
/// visible to queries.
pub const AGGREGATE_LABEL: &str = "__sextant_aggr__";

/// The [`AGGREGATE_LABEL`] value of the series of a downsampled block holding a series'
/// native histograms unchanged (they belong to every aggregate, see [`raw_as_aggregate`]).
pub const AGGREGATE_RAW: &str = "raw";

/// The [`AGGREGATE_LABEL`] of the counter points between each window's first and last
/// (around resets): see the module doc.
pub const AGGREGATE_COUNTER_INNER: &str = "counter_inner";

/// The [`AGGREGATE_LABEL`] of each window's first counter point when the window has more
/// than one: see the module doc.
pub const AGGREGATE_COUNTER_FIRST: &str = "counter_first";

/// The [`AGGREGATE_LABEL`] values whose series together hold the counter aggregate.
pub const COUNTER_SERIES: [&str; 3] = ["counter", AGGREGATE_COUNTER_FIRST, AGGREGATE_COUNTER_INNER];

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
    /// The window's first and last samples and its resets, in at most four points when
    /// values are positive (see the module doc), so that `rate`/`increase` over whole
    /// windows equal the raw ones.
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

    /// The aggregate an [`AGGREGATE_LABEL`] value names.
    pub fn parse(value: &str) -> Option<MetricsAggregate> {
        MetricsAggregate::ALL
            .into_iter()
            .find(|a| a.as_str() == value)
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

/// The end of the window of length `resolution_ms` (> 0) holding `t`: windows are
/// `(k·R, (k+1)·R]`, so a sample exactly at `k·R` belongs to the window ending there.
pub fn window_end(t: i64, resolution_ms: i64) -> i64 {
    let r = resolution_ms.max(1);
    t.saturating_sub(1)
        .div_euclid(r)
        .saturating_mul(r)
        .saturating_add(r)
}

/// Raw samples of a series in the form of `aggregate`'s points, so they can be merged with
/// (and evaluated like) points read from downsampled blocks: for [`MetricsAggregate::Count`]
/// every float and histogram sample becomes a float `1.0` at its time (staleness markers
/// are dropped, as range selectors drop them); every other aggregate's form of raw samples
/// is the samples themselves.
pub fn raw_as_aggregate(series: Series, aggregate: MetricsAggregate) -> Series {
    if aggregate != MetricsAggregate::Count {
        return series;
    }
    let floats = series
        .floats
        .iter()
        .filter(|p| !is_stale_nan(p.f))
        .map(|p| p.t);
    let histograms = series
        .histograms
        .iter()
        .filter(|p| !is_stale_nan(p.h.sum))
        .map(|p| p.t);
    let mut times: Vec<i64> = floats.chain(histograms).collect();
    times.sort_unstable();
    Series {
        metric: series.metric,
        floats: times.into_iter().map(|t| FPoint { t, f: 1.0 }).collect(),
        histograms: Vec::new(),
        drop_name: series.drop_name,
    }
}
