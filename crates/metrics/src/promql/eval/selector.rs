//! Instant and range vector selectors over the pre-fetched series: lookback, staleness
//! markers, `offset`, `@`, and the extended `anchored`/`smoothed` modifiers.

use std::borrow::Cow;

use crate::promql::histogram::CounterResetHint;
use crate::promql::parse::SelectorModifier;
use crate::promql::value::{is_stale_nan, EvalError, FPoint, HPoint, Matrix, Series};

use super::plan::Selector;
use super::Evaluator;

/// The sample an instant selector sees at a reference time: `(t, value)`.
pub(crate) enum Picked<'a> {
    Float(i64, f64),
    Histogram(i64, &'a HPoint),
}

/// The latest sample at or before `ref_t` and after `ref_t - lookback`, unless it is a
/// staleness marker (Prometheus's `vectorSelectorSingle`).
pub(crate) fn pick<'a>(s: &'a Series, ref_t: i64, lookback: i64) -> Option<Picked<'a>> {
    let fi = s.floats.partition_point(|p| p.t <= ref_t);
    let hi = s.histograms.partition_point(|p| p.t <= ref_t);
    let f = fi.checked_sub(1).map(|i| &s.floats[i]);
    let h = hi.checked_sub(1).map(|i| &s.histograms[i]);
    let picked = match (f, h) {
        (Some(f), Some(h)) if h.t > f.t => Picked::Histogram(h.t, h),
        (Some(f), _) => Picked::Float(f.t, f.f),
        (None, Some(h)) => Picked::Histogram(h.t, h),
        (None, None) => return None,
    };
    let (t, stale) = match &picked {
        Picked::Float(t, f) => (*t, is_stale_nan(*f)),
        Picked::Histogram(t, h) => (*t, is_stale_nan(h.h.sum)),
    };
    if t <= ref_t - lookback || stale {
        return None;
    }
    Some(picked)
}

/// A series with staleness markers removed, as range selectors see it.
pub(crate) fn without_stale(s: &Series) -> (Cow<'_, [FPoint]>, Cow<'_, [HPoint]>) {
    let floats = if s.floats.iter().any(|p| is_stale_nan(p.f)) {
        Cow::Owned(
            s.floats
                .iter()
                .filter(|p| !is_stale_nan(p.f))
                .copied()
                .collect(),
        )
    } else {
        Cow::Borrowed(s.floats.as_slice())
    };
    let histograms = if s.histograms.iter().any(|p| is_stale_nan(p.h.sum)) {
        Cow::Owned(
            s.histograms
                .iter()
                .filter(|p| !is_stale_nan(p.h.sum))
                .cloned()
                .collect(),
        )
    } else {
        Cow::Borrowed(s.histograms.as_slice())
    };
    (floats, histograms)
}

/// The index range of points with `start < t <= end`.
pub(crate) fn window<T>(
    points: &[T],
    t: impl Fn(&T) -> i64,
    start: i64,
    end: i64,
) -> (usize, usize) {
    let lo = points.partition_point(|p| t(p) <= start);
    let hi = points.partition_point(|p| t(p) <= end);
    (lo, hi.max(lo))
}

/// [`window`] over windows whose `start` and `end` never decrease (consecutive steps):
/// advances two positions instead of searching, linear in the points over all steps.
#[derive(Default)]
pub(crate) struct Slider {
    lo: usize,
    hi: usize,
}

impl Slider {
    pub(crate) fn window<T>(
        &mut self,
        points: &[T],
        t: impl Fn(&T) -> i64,
        start: i64,
        end: i64,
    ) -> (usize, usize) {
        while self.lo < points.len() && t(&points[self.lo]) <= start {
            self.lo += 1;
        }
        while self.hi < points.len() && t(&points[self.hi]) <= end {
            self.hi += 1;
        }
        (self.lo, self.hi.max(self.lo))
    }
}

/// The last float at or before `ts` and after `ts - lookback`.
pub(crate) fn point_before(floats: &[FPoint], ts: i64, lookback: i64) -> Option<FPoint> {
    let i = floats.partition_point(|p| p.t <= ts);
    let p = *floats.get(i.checked_sub(1)?)?;
    (p.t > ts - lookback).then_some(p)
}

/// The first float after `ts` and at or before `ts + lookback`.
pub(crate) fn point_after(floats: &[FPoint], ts: i64, lookback: i64) -> Option<FPoint> {
    let i = floats.partition_point(|p| p.t <= ts);
    let p = *floats.get(i)?;
    (p.t <= ts + lookback).then_some(p)
}

impl Evaluator<'_> {
    /// The reference time of a selector at evaluation time `ts`.
    pub fn ref_time(&self, sel: &Selector, ts: i64) -> i64 {
        sel.at.unwrap_or(ts) - sel.offset_ms
    }

    /// An instant vector selector: one point per step and series.
    pub fn eval_vector_selector(&mut self, sel: &Selector) -> Result<Matrix, EvalError> {
        if sel.modifier == SelectorModifier::Smoothed {
            return self.eval_smoothed_selector(sel);
        }
        let steps: Vec<i64> = self.steps().collect();
        let mut out = Vec::with_capacity(sel.series.len());
        for s in &sel.series {
            let mut ss = Series {
                metric: s.metric.clone(),
                ..Series::default()
            };
            for &ts in &steps {
                match pick(s, self.ref_time(sel, ts), self.env.lookback) {
                    Some(Picked::Float(_, f)) => ss.floats.push(FPoint { t: ts, f }),
                    Some(Picked::Histogram(_, h)) => ss.histograms.push(HPoint {
                        t: ts,
                        h: h.h.clone(),
                    }),
                    None => continue,
                }
                self.state.samples_read += 1;
                self.add_samples(1)?;
            }
            if !ss.floats.is_empty() || !ss.histograms.is_empty() {
                out.push(ss);
            }
        }
        Ok(out)
    }

    /// `x smoothed`: the value at each step interpolated between the neighbouring samples
    /// within the lookback delta on both sides (Prometheus's `smoothSeries`).
    fn eval_smoothed_selector(&mut self, sel: &Selector) -> Result<Matrix, EvalError> {
        let steps: Vec<i64> = self.steps().collect();
        let lookback = self.env.lookback;
        let mut out = Vec::with_capacity(sel.series.len());
        for s in &sel.series {
            let (floats, histograms) = without_stale(s);
            let mut ss = Series {
                metric: s.metric.clone(),
                ..Series::default()
            };
            for &ts in &steps {
                let ref_t = self.ref_time(sel, ts);
                let (flo, fhi) = window(&floats, |p| p.t, ref_t - lookback, ref_t + lookback);
                let (hlo, hhi) = window(&histograms, |p| p.t, ref_t - lookback, ref_t + lookback);
                if fhi > flo && hhi > hlo {
                    self.state.annotations.warn(format!(
                        "PromQL warning: encountered a mix of histograms and floats for metric name {:?}",
                        s.metric.metric_name().unwrap_or("")
                    ));
                    continue;
                }
                let (prev, next) = neighbours(&floats, &histograms, ref_t, lookback);
                match smooth(prev, next, ref_t) {
                    Smoothed::Float(f) => ss.floats.push(FPoint { t: ts, f }),
                    Smoothed::Histogram(h) => ss.histograms.push(HPoint { t: ts, h }),
                    Smoothed::Incompatible => {
                        self.state.annotations.warn(format!(
                            "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
                            s.metric.metric_name().unwrap_or("")
                        ));
                        continue;
                    }
                    Smoothed::None => continue,
                }
                self.state.samples_read += 1;
                self.add_samples(1)?;
            }
            if !ss.floats.is_empty() || !ss.histograms.is_empty() {
                out.push(ss);
            }
        }
        Ok(out)
    }

    /// A range vector selector evaluated on its own (instant queries only): the points of each
    /// series in the window ending at the evaluation time.
    pub fn eval_matrix_selector(
        &mut self,
        sel: &Selector,
        range_ms: i64,
    ) -> Result<Matrix, EvalError> {
        if self.start != self.end {
            return Err(EvalError::Execution(
                "cannot do range evaluation of matrix selector".into(),
            ));
        }
        let max_t = self.ref_time(sel, self.start);
        let min_t = max_t - range_ms;
        let mut out = Vec::with_capacity(sel.series.len());
        for s in &sel.series {
            let (floats, histograms) = without_stale(s);
            let (flo, fhi) = window(&floats, |p| p.t, min_t, max_t);
            let (hlo, hhi) = window(&histograms, |p| p.t, min_t, max_t);
            let mut ss = Series {
                metric: s.metric.clone(),
                floats: floats[flo..fhi].to_vec(),
                histograms: histograms[hlo..hhi].to_vec(),
                drop_name: false,
            };
            if sel.modifier != SelectorModifier::None {
                if !histograms.is_empty() {
                    return Err(EvalError::Execution(
                        "anchored modifier is not supported with histograms".into(),
                    ));
                }
                ss.floats = self.extend_floats(&floats, min_t, max_t, sel.modifier);
            }
            let n = ss.floats.len() + ss.histograms.len();
            self.state.samples_read += n as u64;
            self.add_samples(n)?;
            if n > 0 {
                out.push(ss);
            }
        }
        Ok(out)
    }

    /// The points of an anchored/smoothed window with the boundary points added
    /// (Prometheus's `extendFloats`).
    fn extend_floats(
        &self,
        floats: &[FPoint],
        min_t: i64,
        max_t: i64,
        modifier: SelectorModifier,
    ) -> Vec<FPoint> {
        let lookback = self.env.lookback;
        let smoothed = modifier == SelectorModifier::Smoothed;
        let reach = if smoothed { lookback } else { 0 };
        let (lo, hi) = window(floats, |p| p.t, min_t - lookback, max_t + reach);
        let pts = &floats[lo..hi];
        let Some(mut last) = pts.len().checked_sub(1) else {
            return Vec::new();
        };
        let mut first = pts[..last]
            .partition_point(|p| p.t <= min_t)
            .saturating_sub(1);
        if smoothed {
            last = pts[..last].partition_point(|p| p.t < max_t);
        }
        if pts[last].t <= min_t {
            return Vec::new();
        }
        let left = if smoothed && pts[first].t < min_t && first + 1 < pts.len() {
            interpolate(pts[first], pts[first + 1], min_t)
        } else {
            pts[first].f
        };
        let right = if smoothed && last > 0 && pts[last].t > max_t {
            interpolate(pts[last - 1], pts[last], max_t)
        } else {
            pts[last].f
        };
        if pts[first].t <= min_t {
            first += 1;
        }
        let end = if pts[last].t >= max_t { last } else { last + 1 };
        let mut out = Vec::with_capacity(end.saturating_sub(first) + 2);
        out.push(FPoint { t: min_t, f: left });
        if first < end {
            out.extend_from_slice(&pts[first..end]);
        }
        out.push(FPoint { t: max_t, f: right });
        out
    }
}

/// Linear interpolation between two points at `t`.
pub(crate) fn interpolate(a: FPoint, b: FPoint, t: i64) -> f64 {
    if b.t == a.t {
        return b.f;
    }
    a.f + (b.f - a.f) * ((t - a.t) as f64) / ((b.t - a.t) as f64)
}

/// A float or histogram sample.
#[derive(Clone, Copy)]
pub(crate) enum Point<'a> {
    Float(FPoint),
    Histogram(&'a HPoint),
}

impl Point<'_> {
    fn t(&self) -> i64 {
        match self {
            Point::Float(p) => p.t,
            Point::Histogram(p) => p.t,
        }
    }
}

/// The last sample at or before `t` (after `t - lookback`) and the first one after `t` (at or
/// before `t + lookback`), floats and histograms together.
fn neighbours<'a>(
    floats: &[FPoint],
    histograms: &'a [HPoint],
    t: i64,
    lookback: i64,
) -> (Option<Point<'a>>, Option<Point<'a>>) {
    let fi = floats.partition_point(|p| p.t <= t);
    let hi = histograms.partition_point(|p| p.t <= t);
    let prev_f = fi.checked_sub(1).map(|i| Point::Float(floats[i]));
    let prev_h = hi.checked_sub(1).map(|i| Point::Histogram(&histograms[i]));
    let prev = match (prev_f, prev_h) {
        (Some(f), Some(h)) => Some(if h.t() > f.t() { h } else { f }),
        (f, h) => f.or(h),
    }
    .filter(|p| p.t() > t - lookback);
    let next_f = floats.get(fi).map(|p| Point::Float(*p));
    let next_h = histograms.get(hi).map(Point::Histogram);
    let next = match (next_f, next_h) {
        (Some(f), Some(h)) => Some(if h.t() < f.t() { h } else { f }),
        (f, h) => f.or(h),
    }
    .filter(|p| p.t() <= t + lookback);
    (prev, next)
}

enum Smoothed {
    Float(f64),
    Histogram(Box<crate::promql::histogram::FloatHistogram>),
    Incompatible,
    None,
}

/// The value at `t` from its neighbours: exact, interpolated, or carried forward.
fn smooth(prev: Option<Point<'_>>, next: Option<Point<'_>>, t: i64) -> Smoothed {
    match (prev, next) {
        (Some(Point::Float(p)), _) if p.t == t => Smoothed::Float(p.f),
        (Some(Point::Histogram(p)), _) if p.t == t => Smoothed::Histogram(p.h.clone()),
        (Some(Point::Float(a)), Some(Point::Float(b))) => Smoothed::Float(interpolate(a, b, t)),
        (Some(Point::Histogram(a)), Some(Point::Histogram(b))) => {
            let frac = (t - a.t) as f64 / (b.t - a.t) as f64;
            let is_counter = b.h.counter_reset_hint != CounterResetHint::Gauge;
            let reset =
                b.h.counter_reset_hint == CounterResetHint::CounterReset || b.h.count < a.h.count;
            if is_counter && reset {
                // The counter restarted from zero between the two samples.
                let mut h = (*b.h).clone();
                h.mul(frac);
                return Smoothed::Histogram(Box::new(h));
            }
            let mut left = (*a.h).clone();
            left.mul(1.0 - frac);
            let mut right = (*b.h).clone();
            right.mul(frac);
            match left.add(&right) {
                Ok(h) => {
                    h.compact(0);
                    Smoothed::Histogram(Box::new(h.clone()))
                }
                Err(_) => Smoothed::Incompatible,
            }
        }
        (Some(Point::Float(a)), None) => Smoothed::Float(a.f),
        (Some(Point::Histogram(a)), None) => Smoothed::Histogram(a.h.clone()),
        _ => Smoothed::None,
    }
}
