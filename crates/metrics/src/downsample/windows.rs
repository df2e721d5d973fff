//! One aggregate's points per window, from samples already in that aggregate's form (raw
//! samples for sum, min, max and counter; `1.0` per raw sample or coarser counts for count).

use super::{window_end, MetricsAggregate};
use crate::promql::kahan_inc;

/// The points of `aggregate` at `resolution_ms` for `points` (sorted by time, no staleness
/// markers, in the aggregate's form): one point per window at its last sample (two or more
/// for counter, see the module doc of [`crate::downsample`]). Applying it to its own output
/// at a coarser resolution that is a multiple of `resolution_ms` gives the same points as
/// applying it to the raw samples at that resolution.
pub(crate) fn downsample_points(
    points: &[(i64, f64)],
    resolution_ms: i64,
    aggregate: MetricsAggregate,
) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for window in windows(points, resolution_ms) {
        let last_t = window[window.len() - 1].0;
        match aggregate {
            MetricsAggregate::Count | MetricsAggregate::Sum => out.push((last_t, sum(window))),
            MetricsAggregate::Min => out.push((last_t, fold(window, |cur, acc| cur < acc))),
            MetricsAggregate::Max => out.push((last_t, fold(window, |cur, acc| cur > acc))),
            MetricsAggregate::Counter => counter(window, &mut out),
        }
    }
    out
}

/// `points` cut into the runs that fall into one window each (never empty).
fn windows(points: &[(i64, f64)], resolution_ms: i64) -> impl Iterator<Item = &[(i64, f64)]> {
    points.chunk_by(move |a, b| window_end(a.0, resolution_ms) == window_end(b.0, resolution_ms))
}

/// Kahan-compensated sum, as `sum_over_time` adds.
pub(super) fn sum(window: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for &(_, f) in window {
        (sum, c) = kahan_inc(f, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// The value `better` picks, NaN only when every value is NaN (`min_over_time`'s rule, which
/// makes combining windows give the raw answer).
fn fold(window: &[(i64, f64)], better: fn(f64, f64) -> bool) -> f64 {
    let mut best = window[0].1;
    for &(_, f) in &window[1..] {
        if better(f, best) || best.is_nan() {
            best = f;
        }
    }
    best
}

/// The window's first and last samples and both samples of every pair that is not an
/// increase (a counter reset or a NaN), in time order, less the lows of
/// [`drop_redundant_lows`]; when that is more than four points (a gauge, or a counter with
/// several resets), the three or four of [`compact_counter`] if they apply.
fn counter(window: &[(i64, f64)], out: &mut Vec<(i64, f64)>) {
    let start = out.len();
    let last = window.len() - 1;
    let not_increase = |i: usize| i > 0 && i <= last && !increases(window[i - 1].1, window[i].1);
    for (i, &point) in window.iter().enumerate() {
        if i == 0 || i == last || not_increase(i) || not_increase(i + 1) {
            out.push(point);
        }
    }
    drop_redundant_lows(out, start);
    if out.len() - start > 4 {
        if let Some(compact) = compact_counter(window) {
            out.truncate(start);
            out.extend(compact);
        }
    }
}

/// Drops, from the points of one window (from `start` on), every point `b` other than the
/// first and last whose neighbours `a` (before) and `c` (after) satisfy `a > b <= c < a`:
/// the low point after a reset while the counter stays below the pre-reset value up to the
/// next kept point. With `b`, the reset `a -> b` adds `b` and the increase `b -> c` adds
/// `c - b`; without it the reset `a -> c` adds `c`: `rate`'s increase is unchanged, and such
/// a reset costs one point instead of two. NaNs compare false, so they stay.
fn drop_redundant_lows(out: &mut Vec<(i64, f64)>, start: usize) {
    let mut i = start + 1;
    while i + 1 < out.len() {
        let (a, b, c) = (out[i - 1].1, out[i].1, out[i + 1].1);
        if a > b && b <= c && c < a {
            out.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Three or four points that `rate` reads like the whole window (at least five samples):
/// the first sample, the sum `C` of the values before each reset (never below the first
/// value: the first reset follows a stretch that only increased), `0` when the last sample
/// is not below `C` (one reset, adding `C`), and the last sample (a reset adding `C` itself
/// when it is below `C`). The first and last samples stay raw, so the points still meet
/// their neighbours like the raw samples do, and the increase `last - first + C` is the raw
/// one up to the order of the additions. `None` when a value is NaN or the resets add
/// nothing positive (values below zero).
fn compact_counter(window: &[(i64, f64)]) -> Option<Vec<(i64, f64)>> {
    let mut resets = 0.0;
    for pair in window.windows(2) {
        if pair[0].1.is_nan() || pair[1].1.is_nan() {
            return None;
        }
        if pair[1].1 < pair[0].1 {
            resets += pair[0].1;
        }
    }
    let (first, last) = (window[0], window[window.len() - 1]);
    if window.len() < 5 || !(resets > 0.0 && resets.is_finite() && resets >= first.1) {
        return None;
    }
    // the drop from `resets` to the last sample adds `resets` itself when the last sample is
    // below it; otherwise a point below both must come between them
    if last.1 < resets {
        return Some(vec![first, (window[1].0, resets), last]);
    }
    Some(vec![first, (window[1].0, resets), (window[2].0, 0.0), last])
}

/// Whether `to` follows `from` without a counter reset or a NaN.
fn increases(from: f64, to: f64) -> bool {
    to >= from
}
