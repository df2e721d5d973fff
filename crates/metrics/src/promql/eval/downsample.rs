//! Downsampled reads (see [`crate::downsample`]): which selectors may read a downsampled
//! aggregate instead of raw samples, and how their functions then evaluate.
//!
//! A selector qualifies when it is the direct argument of `rate`, `increase`,
//! `sum_over_time`, `count_over_time`, `min_over_time` or `max_over_time` (no subquery
//! around the call, no `anchored`/`smoothed`), and its range, the query's step (0 for an
//! instant query) and start, its offset and its `@` time are all multiples of the
//! resolution: then every window it is evaluated over is a union of whole downsampling
//! windows, and the aggregate answers exactly what the raw samples would (sums up to
//! rounding). The coarsest resolution (1h, then 5m) at most
//! `EngineOptions::max_source_resolution_ms` that qualifies is chosen.
//!
//! Every other selector (plain selectors, `avg_over_time`, `irate`, `delta`,
//! `last_over_time`, subqueries, ...) reads raw samples.

use crate::downsample::{DownsampleHint, MetricsAggregate, RESOLUTION_1H_MS, RESOLUTION_5M_MS};
use crate::promql::parse::SelectorModifier;
use sextant_model::Labels;

use crate::promql::value::{FPoint, Series};

use super::plan::{QueryTimes, Selector};
use super::selector::Slider;

/// Resolutions to try, coarsest first.
const RESOLUTIONS: [i64; 2] = [RESOLUTION_1H_MS, RESOLUTION_5M_MS];

/// The aggregate a function reads when its selector is downsampled.
fn aggregate_for(function: &str) -> Option<MetricsAggregate> {
    Some(match function {
        "rate" | "increase" => MetricsAggregate::Counter,
        "sum_over_time" => MetricsAggregate::Sum,
        "count_over_time" => MetricsAggregate::Count,
        "min_over_time" => MetricsAggregate::Min,
        "max_over_time" => MetricsAggregate::Max,
        _ => return None,
    })
}

/// The hint for `function(sel[range_ms])` evaluated at the query's times (not inside a
/// subquery), or `None` to read raw samples.
pub(super) fn downsample_hint(
    function: &str,
    sel: &Selector,
    range_ms: i64,
    times: &QueryTimes,
) -> Option<DownsampleHint> {
    let aggregate = aggregate_for(function)?;
    if sel.modifier != SelectorModifier::None || !sel.fetch {
        return None;
    }
    let resolution_ms = RESOLUTIONS.into_iter().find(|&r| {
        r <= times.max_source_resolution
            && [
                range_ms,
                times.step,
                times.start,
                sel.offset_ms,
                sel.at.unwrap_or(0),
            ]
            .iter()
            .all(|v| v % r == 0)
    })?;
    (range_ms > 0).then_some(DownsampleHint {
        resolution_ms,
        aggregate,
    })
}

/// The function that evaluates `function` over its selector's aggregate: the count of a
/// window is the sum of its counts.
pub(super) fn evaluated_function(
    function: &'static str,
    hint: Option<DownsampleHint>,
) -> &'static str {
    match hint {
        Some(h) if h.aggregate == MetricsAggregate::Count => "sum_over_time",
        _ => function,
    }
}

/// A series' raw sample counts per window, from its `count` aggregate (`rate` extrapolates
/// with the number of samples, which the `counter` aggregate does not keep).
pub(super) struct SampleCounts {
    /// The `count` points' times and running totals.
    totals: Vec<FPoint>,
    slider: Slider,
}

impl SampleCounts {
    /// The counts of `metric` among `counts` (sorted by labels); `None` when absent.
    pub(super) fn new(counts: &[Series], metric: &Labels) -> Option<SampleCounts> {
        let i = counts.binary_search_by(|s| s.metric.cmp(metric)).ok()?;
        let mut total = 0.0;
        let totals = counts[i]
            .floats
            .iter()
            .map(|p| {
                total += p.f;
                FPoint { t: p.t, f: total }
            })
            .collect();
        Some(SampleCounts {
            totals,
            slider: Slider::default(),
        })
    }

    /// The samples in `(start, end]`; windows must come in time order.
    pub(super) fn in_window(&mut self, start: i64, end: i64) -> usize {
        let (lo, hi) = self.slider.window(&self.totals, |p| p.t, start, end);
        let total_before = |i: usize| i.checked_sub(1).map_or(0.0, |i| self.totals[i].f);
        (total_before(hi) - total_before(lo)) as usize
    }
}
