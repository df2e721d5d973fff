//! The `anchored` and `smoothed` range selector modifiers: `rate`, `increase` and `delta`
//! without extrapolation, taking the value at the window's start from the last sample at or
//! before it (anchored) or interpolating it from the samples around it (smoothed), likewise
//! at the end for smoothed; and the anchored `changes`/`resets`.
//!
//! Besides `before`/`after` (floats), the window's `histograms` may hold the histogram
//! samples around the window too: the last one at or before `range_start` and, for
//! smoothed, the first one after `range_end`. Samples are told apart by their timestamps.

use crate::promql::binary::StepCtx;
use crate::promql::histogram::{CounterResetHint, FloatHistogram};
use crate::promql::parse::SelectorModifier;
use crate::promql::value::FPoint;

use super::annotations as anno;
use super::rate::Point;
use super::{RangeOutput, RangeWindow};

/// Every sample of the window and around it, in time order.
fn all_points<'a>(w: &RangeWindow<'a>) -> Vec<(i64, Point<'a>)> {
    let floats = w.before.iter().chain(w.floats).chain(w.after.iter());
    let mut out: Vec<(i64, Point<'a>)> =
        floats.map(|p: &FPoint| (p.t, Point::Float(p.f))).collect();
    out.extend(w.histograms.iter().map(|p| (p.t, Point::Histogram(&p.h))));
    out.sort_by_key(|(t, _)| *t);
    out
}

/// The samples `changes` and `resets` compare: for anchored, the last sample at or before
/// the window's start, then the window's samples; nothing when the window itself is empty.
pub(super) fn anchored_points<'a>(w: &RangeWindow<'a>) -> Vec<Point<'a>> {
    let points = all_points(w);
    let in_window = points.partition_point(|(t, _)| *t <= w.range_start);
    if in_window == points.len() {
        return Vec::new();
    }
    let first = in_window.saturating_sub(1);
    points[first..].iter().map(|(_, p)| *p).collect()
}

/// The indexes of the samples giving the start and end values: the last at or before the
/// window's start (else the first) and the last one (smoothed: the first at or after the
/// end). `None` when nothing is left to compare.
fn boundaries(
    points: &[(i64, Point<'_>)],
    start: i64,
    end: i64,
    smoothed: bool,
) -> Option<(usize, usize)> {
    let n = points.len();
    if n == 0 || points[0].0 > end {
        return None;
    }
    let mut last = n - 1;
    let first = points[..last]
        .partition_point(|(t, _)| *t <= start)
        .saturating_sub(1);
    if smoothed {
        last = points[..last].partition_point(|(t, _)| *t < end);
    }
    (points[last].0 > start).then_some((first, last))
}

/// `rate`, `increase` and `delta` with an anchored or smoothed selector.
pub(super) fn extended_rate(
    w: &RangeWindow<'_>,
    ctx: &mut StepCtx<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<RangeOutput> {
    let smoothed = w.modifier == SelectorModifier::Smoothed;
    let points = all_points(w);
    let (first, last) = boundaries(&points, w.range_start, w.range_end, smoothed)?;
    let used = &points[first..=last];
    let floats = used
        .iter()
        .filter(|(_, p)| matches!(p, Point::Float(_)))
        .count();
    let out = if floats == used.len() {
        let f: Vec<FPoint> = used
            .iter()
            .map(|(t, p)| FPoint {
                t: *t,
                f: match p {
                    Point::Float(f) => *f,
                    Point::Histogram(_) => f64::NAN,
                },
            })
            .collect();
        RangeOutput::Float(float_rate(&f, w, smoothed, is_counter))
    } else if floats == 0 {
        let hs: Vec<(i64, &FloatHistogram)> = used
            .iter()
            .filter_map(|(t, p)| match p {
                Point::Histogram(h) => Some((*t, *h)),
                Point::Float(_) => None,
            })
            .collect();
        RangeOutput::Histogram(histogram_rate(&hs, w, ctx, smoothed, is_counter)?)
    } else {
        ctx.annotations
            .warn(anno::mixed_floats_histograms(w.metric_name()));
        return None;
    };
    Some(match out {
        RangeOutput::Float(f) if is_rate => RangeOutput::Float(f / w.range_seconds()),
        RangeOutput::Histogram(mut h) if is_rate => {
            h.div(w.range_seconds());
            RangeOutput::Histogram(h)
        }
        other => other,
    })
}

/// The float form; `f` runs from the start sample to the end sample.
fn float_rate(f: &[FPoint], w: &RangeWindow<'_>, smoothed: bool, is_counter: bool) -> f64 {
    let (start, end) = (w.range_start, w.range_end);
    let last = f.len() - 1;
    let left = if smoothed && f[0].t < start {
        interpolate(f[0], f[1], start, is_counter)
    } else {
        f[0].f
    };
    let right = if smoothed && last > 0 && f[last].t > end {
        interpolate(f[last - 1], f[last], end, is_counter)
    } else {
        f[last].f
    };
    let mut result = right - left;
    if is_counter {
        let lo = usize::from(f[0].t <= start);
        let hi = if f[last].t >= end { last } else { last + 1 };
        let mut prev = left;
        for p in &f[lo..hi.max(lo)] {
            if p.f < prev {
                result += prev;
            }
            prev = p.f;
        }
        if right < prev {
            result += prev;
        }
    }
    result
}

/// Linear interpolation at `t`; for counters a drop means the counter restarted from 0.
fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && p2.f < p1.f { 0.0 } else { p1.f };
    y1 + (p2.f - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// The histogram form; `hs` runs from the start sample to the end sample.
fn histogram_rate(
    hs: &[(i64, &FloatHistogram)],
    w: &RangeWindow<'_>,
    ctx: &mut StepCtx<'_>,
    smoothed: bool,
    is_counter: bool,
) -> Option<FloatHistogram> {
    let name = w.metric_name();
    let custom = hs[0].1.uses_custom_buckets();
    if hs.iter().any(|(_, h)| h.uses_custom_buckets() != custom) {
        ctx.annotations.warn(anno::mixed_exponential_custom(name));
        return None;
    }
    let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    let last = hs.len() - 1;
    if is_counter && hs.iter().any(|(_, h)| gauge(h)) {
        ctx.annotations.warn(anno::not_counter(name));
    }
    if !is_counter && (!gauge(hs[0].1) || !gauge(hs[last].1)) {
        ctx.annotations.warn(anno::not_gauge(name));
    }
    let (start, end) = (w.range_start, w.range_end);
    let left_interpolated = smoothed && hs[0].0 < start;
    let left = if left_interpolated {
        interpolate_histogram(hs[0], hs[1], start, is_counter)
    } else {
        Some(hs[0].1.clone())
    };
    let right_interpolated = smoothed && last > 0 && hs[last].0 > end;
    let right = if right_interpolated {
        interpolate_histogram(hs[last - 1], hs[last], end, is_counter)
    } else {
        Some(hs[last].1.clone())
    };
    let (Some(left), Some(mut result)) = (left, right) else {
        ctx.annotations.warn(anno::mixed_exponential_custom(name));
        return None;
    };
    if is_counter {
        // The samples strictly between the sources of the start and end values.
        let lo = usize::from(hs[0].0 <= start);
        let inner: Vec<&FloatHistogram> = hs[lo..last.max(lo)].iter().map(|(_, h)| *h).collect();
        let correction = histogram_reset_correction(&left, left_interpolated, &result, &inner);
        if let Some(c) = correction {
            if result.add(&c).is_err() {
                ctx.annotations.warn(anno::mixed_exponential_custom(name));
                return None;
            }
        }
    }
    if result.sub(&left).is_err() {
        ctx.annotations.warn(anno::mixed_exponential_custom(name));
        return None;
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    result.compact(0);
    Some(result)
}

/// The sum of the histograms before each counter reset from `left` through `inner` to
/// `right`. An interpolated `left` already accounts for a reset before the first inner
/// sample, so the chain then starts at that sample (and there is nothing to add without
/// inner samples).
fn histogram_reset_correction(
    left: &FloatHistogram,
    left_interpolated: bool,
    right: &FloatHistogram,
    inner: &[&FloatHistogram],
) -> Option<FloatHistogram> {
    let (mut prev, rest): (&FloatHistogram, &[&FloatHistogram]) = match (left_interpolated, inner) {
        (true, []) => return None,
        (true, [first, rest @ ..]) => (first, rest),
        (false, _) => (left, inner),
    };
    let mut correction: Option<FloatHistogram> = None;
    let mut add = |h: &FloatHistogram| match correction.as_mut() {
        Some(c) => {
            let _ = c.add(h);
        }
        None => correction = Some(h.clone()),
    };
    for h in rest {
        if h.detect_reset(prev) {
            add(prev);
        }
        prev = h;
    }
    if right.detect_reset(prev) {
        add(prev);
    }
    correction
}

/// The histogram at `t` between two samples; for counters a reset means the counter
/// restarted from empty. `None` when the two cannot be combined.
pub(crate) fn interpolate_histogram(
    p1: (i64, &FloatHistogram),
    p2: (i64, &FloatHistogram),
    t: i64,
    is_counter: bool,
) -> Option<FloatHistogram> {
    let fraction = (t - p1.0) as f64 / (p2.0 - p1.0) as f64;
    let mut h = p2.1.clone();
    if is_counter && p2.1.detect_reset(p1.1) {
        h.mul(fraction);
        return Some(h);
    }
    h.sub(p1.1).ok()?;
    h.mul(fraction);
    h.add(p1.1).ok()?;
    h.counter_reset_hint = if is_counter {
        CounterResetHint::NotCounterReset
    } else {
        CounterResetHint::Gauge
    };
    h.compact(0);
    Some(h)
}

#[cfg(test)]
#[path = "extended_tests.rs"]
mod tests;
