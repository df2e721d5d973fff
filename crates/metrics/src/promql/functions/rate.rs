//! Rates and differences over a window: `rate`, `increase`, `delta` (with Prometheus's
//! extrapolation, the anchored/smoothed variants and native histograms), `irate`, `idelta`,
//! `deriv`, `predict_linear`, `changes`, `resets`, `double_exponential_smoothing`.

use crate::promql::binary::StepCtx;
use crate::promql::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::promql::parse::SelectorModifier;
use crate::promql::value::{Annotations, EvalError, FPoint, HPoint};

use super::annotations as anno;
use super::{kahan_inc, RangeOutput, RangeWindow};

/// `rate`, `increase` and `delta`: the difference between the first and last sample,
/// corrected for counter resets and extrapolated towards the window's edges.
pub(super) fn extrapolated_rate(
    w: &RangeWindow<'_>,
    ctx: &mut StepCtx<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<RangeOutput> {
    if w.modifier != SelectorModifier::None {
        return super::extended::extended_rate(w, ctx, is_counter, is_rate);
    }
    let (floats, hists) = (w.floats, w.histograms);
    if !floats.is_empty() && !hists.is_empty() {
        ctx.annotations
            .warn(anno::mixed_floats_histograms(w.metric_name()));
        return None;
    }
    let (first_t, last_t, n_minus_one, mut result_f, mut result_h);
    if hists.len() > 1 {
        let h = histogram_rate(hists, is_counter, w.metric_name(), ctx.annotations)?;
        (first_t, last_t, n_minus_one) = (hists[0].t, hists[hists.len() - 1].t, hists.len() - 1);
        result_f = 0.0;
        result_h = Some(h);
    } else if floats.len() > 1 {
        let samples = w
            .float_samples
            .map_or(floats.len(), |n| n.max(floats.len()));
        (first_t, last_t, n_minus_one) = (floats[0].t, floats[floats.len() - 1].t, samples - 1);
        result_f = floats[floats.len() - 1].f - floats[0].f;
        // a window known to never decrease has no resets to add (the common case)
        if is_counter && w.decreases != Some(0) {
            for pair in floats.windows(2) {
                if pair[1].f < pair[0].f {
                    result_f += pair[0].f;
                }
            }
        }
        result_h = None;
    } else {
        return None;
    }

    let mut duration_to_start = (first_t - w.range_start) as f64 / 1000.0;
    let mut duration_to_end = (w.range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / n_minus_one as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter {
        // Counters cannot go below zero: never extrapolate past the zero point.
        let mut duration_to_zero = duration_to_start;
        if result_f > 0.0 && !floats.is_empty() && floats[0].f >= 0.0 {
            duration_to_zero = sampled_interval * (floats[0].f / result_f);
        } else if let Some(h) = &result_h {
            if h.count > 0.0 && !hists.is_empty() && hists[0].h.count >= 0.0 {
                duration_to_zero = sampled_interval * (hists[0].h.count / h.count);
            }
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= w.range_seconds();
    }
    match result_h.as_mut() {
        Some(h) => {
            h.mul(factor);
            result_h.map(RangeOutput::Histogram)
        }
        None => {
            result_f *= factor;
            Some(RangeOutput::Float(result_f))
        }
    }
}

/// The increase between the first and last histogram, corrected for counter resets
/// (`histogramRate`). `None` when the histograms cannot be combined.
fn histogram_rate(
    points: &[HPoint],
    is_counter: bool,
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<FloatHistogram> {
    let mut annos = Annotations::default();
    let result = histogram_rate_annotated(points, is_counter, metric_name, &mut annos);
    annotations.merge(annos);
    result
}

fn histogram_rate_annotated(
    points: &[HPoint],
    is_counter: bool,
    metric_name: &str,
    annos: &mut Annotations,
) -> Option<FloatHistogram> {
    let empty;
    let mut prev: &FloatHistogram = &points[0].h;
    let last: &FloatHistogram = &points[points.len() - 1].h;
    let mut using_custom = prev.uses_custom_buckets();
    let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    if is_counter && (gauge(prev) || gauge(last)) {
        annos.warn(anno::not_counter(metric_name));
    }
    if is_counter && points.len() > 1 {
        let second = &points[1].h;
        if second.detect_reset(prev) {
            empty = FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..FloatHistogram::default()
            };
            prev = &empty;
            using_custom = second.uses_custom_buckets();
        }
    }
    let mixed = |annos: &mut Annotations| {
        *annos = Annotations::default();
        annos.warn(anno::mixed_exponential_custom(metric_name));
        None
    };
    if last.uses_custom_buckets() != using_custom {
        annos.warn(anno::mixed_exponential_custom(metric_name));
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    if is_counter {
        for p in &points[1..points.len() - 1] {
            if gauge(&p.h) {
                annos.warn(anno::not_counter(metric_name));
            }
            min_schema = min_schema.min(p.h.schema);
            if p.h.uses_custom_buckets() != using_custom {
                return mixed(annos);
            }
        }
    }
    let mut h = last.copy_to_schema(min_schema);
    match h.sub_detailed(prev) {
        Err(HistogramError::IncompatibleSchema) => return mixed(annos),
        Err(_) => {}
        Ok(report) if report.nhcb_bounds_reconciled => {
            annos.info(anno::mismatched_custom_buckets("subtraction"))
        }
        Ok(_) => {}
    }
    if is_counter {
        for p in &points[1..] {
            let curr: &FloatHistogram = &p.h;
            if curr.detect_reset(prev) {
                match h.add_detailed(prev) {
                    Err(HistogramError::IncompatibleSchema) => return mixed(annos),
                    Err(_) => {}
                    Ok(report) if report.nhcb_bounds_reconciled => {
                        annos.info(anno::mismatched_custom_buckets("addition"))
                    }
                    Ok(_) => {}
                }
            }
            prev = curr;
        }
    } else if !gauge(&points[0].h) || !gauge(last) {
        annos.warn(anno::not_gauge(metric_name));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// A float or histogram sample while merging the two kinds by time.
#[derive(Clone, Copy)]
pub(super) enum Point<'a> {
    Float(f64),
    Histogram(&'a FloatHistogram),
}

/// The last two samples of the window, floats and histograms merged by time.
fn last_two<'a>(w: &RangeWindow<'a>) -> Vec<(i64, Point<'a>)> {
    let mut points: Vec<(i64, Point<'a>)> = Vec::with_capacity(4);
    let nf = w.floats.len();
    points.extend(
        w.floats[nf.saturating_sub(2)..]
            .iter()
            .map(|p| (p.t, Point::Float(p.f))),
    );
    let nh = w.histograms.len();
    points.extend(
        w.histograms[nh.saturating_sub(2)..]
            .iter()
            .map(|p| (p.t, Point::Histogram(&p.h))),
    );
    points.sort_by_key(|(t, _)| *t);
    let n = points.len();
    points.split_off(n.saturating_sub(2))
}

/// `irate` and `idelta`: the difference between the last two samples.
pub(super) fn instant_value(
    w: &RangeWindow<'_>,
    ctx: &mut StepCtx<'_>,
    is_rate: bool,
) -> Option<RangeOutput> {
    let ss = last_two(w);
    if ss.len() < 2 {
        return None;
    }
    let ((t0, p0), (t1, p1)) = (ss[0], ss[1]);
    let interval = t1 - t0;
    if interval == 0 {
        return None;
    }
    let secs = interval as f64 / 1000.0;
    let name = w.metric_name();
    match (p0, p1) {
        (Point::Float(f0), Point::Float(f1)) => {
            let mut result = f1;
            if !is_rate || f1 >= f0 || f1.is_nan() || f0.is_nan() {
                result = f1 - f0;
            }
            Some(RangeOutput::Float(if is_rate {
                result / secs
            } else {
                result
            }))
        }
        (Point::Histogram(h0), Point::Histogram(h1)) => {
            let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
            if is_rate && (gauge(h0) || gauge(h1)) {
                ctx.annotations.warn(anno::not_counter(name));
            }
            if !is_rate && (!gauge(h0) || !gauge(h1)) {
                ctx.annotations.warn(anno::not_gauge(name));
            }
            let mut result = h1.clone();
            if !is_rate || !h1.detect_reset(h0) {
                match result.sub_detailed(h0) {
                    Err(HistogramError::IncompatibleSchema) => {
                        ctx.annotations.warn(anno::mixed_exponential_custom(name));
                        return None;
                    }
                    Ok(r) if r.nhcb_bounds_reconciled => ctx
                        .annotations
                        .info(anno::mismatched_custom_buckets("subtraction")),
                    _ => {}
                }
            }
            result.counter_reset_hint = CounterResetHint::Gauge;
            result.compact(0);
            if is_rate {
                result.div(secs);
            }
            Some(RangeOutput::Histogram(result))
        }
        _ => {
            ctx.annotations.warn(anno::mixed_floats_histograms(name));
            None
        }
    }
}

/// Least-squares slope and intercept (at `intercept_time`) of the points, Kahan-summed.
fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.f, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.f, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// At least two floats are needed; a single float among histograms is worth an info.
fn enough_floats(w: &RangeWindow<'_>, ctx: &mut StepCtx<'_>) -> bool {
    if w.floats.len() >= 2 {
        if !w.histograms.is_empty() {
            ctx.annotations
                .info(anno::histogram_ignored_in_mixed_range(w.metric_name()));
        }
        return true;
    }
    if w.floats.len() == 1 && !w.histograms.is_empty() {
        ctx.annotations
            .info(anno::histogram_ignored_in_mixed_range(w.metric_name()));
    }
    false
}

pub(super) fn deriv(w: &RangeWindow<'_>, ctx: &mut StepCtx<'_>) -> Option<RangeOutput> {
    if !enough_floats(w, ctx) {
        return None;
    }
    let (slope, _) = linear_regression(w.floats, w.floats[0].t);
    Some(RangeOutput::Float(slope))
}

pub(super) fn predict_linear(
    w: &RangeWindow<'_>,
    duration: f64,
    ctx: &mut StepCtx<'_>,
) -> Option<RangeOutput> {
    if !enough_floats(w, ctx) {
        return None;
    }
    let (slope, intercept) = linear_regression(w.floats, ctx.ts);
    Some(RangeOutput::Float(slope * duration + intercept))
}

/// `double_exponential_smoothing(v, sf, tf)` (Holt's linear trend method).
pub(super) fn double_exponential_smoothing(
    w: &RangeWindow<'_>,
    sf: f64,
    tf: f64,
    ctx: &mut StepCtx<'_>,
) -> Result<Option<RangeOutput>, EvalError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(EvalError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(EvalError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if !enough_floats(w, ctx) {
        return Ok(None);
    }
    let f = w.floats;
    let (mut s0, mut s1) = (0.0, f[0].f);
    let mut b = f[1].f - f[0].f;
    for (i, p) in f.iter().enumerate().skip(1) {
        let x = sf * p.f;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(RangeOutput::Float(s1)))
}

/// The window's samples in time order, floats and histograms merged; with `anchored` the
/// sample before the window comes first.
fn merged_points<'a>(w: &RangeWindow<'a>) -> Vec<Point<'a>> {
    if w.modifier == SelectorModifier::Anchored {
        return super::extended::anchored_points(w);
    }
    let mut out = Vec::with_capacity(w.floats.len() + w.histograms.len());
    let (mut i, mut j) = (0, 0);
    while i < w.floats.len() || j < w.histograms.len() {
        if j >= w.histograms.len() || (i < w.floats.len() && w.floats[i].t <= w.histograms[j].t) {
            out.push(Point::Float(w.floats[i].f));
            i += 1;
        } else {
            out.push(Point::Histogram(&w.histograms[j].h));
            j += 1;
        }
    }
    out
}

/// Counts consecutive pairs of samples for which `differs` holds; a switch between float
/// and histogram always counts.
fn count_pairs(
    w: &RangeWindow<'_>,
    floats_differ: fn(f64, f64) -> bool,
    hists_differ: fn(&FloatHistogram, &FloatHistogram) -> bool,
) -> Option<RangeOutput> {
    let points = merged_points(w);
    if points.is_empty() {
        return None;
    }
    let n = points
        .windows(2)
        .filter(|pair| match (pair[0], pair[1]) {
            (Point::Float(a), Point::Float(b)) => floats_differ(a, b),
            (Point::Histogram(a), Point::Histogram(b)) => hists_differ(a, b),
            _ => true,
        })
        .count();
    Some(RangeOutput::Float(n as f64))
}

pub(super) fn changes(w: &RangeWindow<'_>) -> Option<RangeOutput> {
    count_pairs(
        w,
        |prev, cur| cur != prev && !(cur.is_nan() && prev.is_nan()),
        |prev, cur| !histograms_equal(cur, prev),
    )
}

pub(super) fn resets(w: &RangeWindow<'_>) -> Option<RangeOutput> {
    count_pairs(
        w,
        |prev, cur| cur < prev,
        |prev, cur| cur.detect_reset(prev),
    )
}

/// Prometheus's `FloatHistogram.Equals`: same layout and bit-identical values, ignoring the
/// counter reset hint and empty spans.
fn histograms_equal(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let bits = |x: f64| x.to_bits();
    let same = |x: &[f64], y: &[f64]| {
        x.len() == y.len() && x.iter().zip(y).all(|(x, y)| bits(*x) == bits(*y))
    };
    let spans = |h: &FloatHistogram, positive: bool| {
        let s = if positive {
            &h.positive_spans
        } else {
            &h.negative_spans
        };
        let mut out: Vec<(i32, u32)> = Vec::new();
        let mut carry = 0;
        for span in s {
            if span.length == 0 {
                carry += span.offset;
            } else {
                out.push((span.offset + carry, span.length));
                carry = 0;
            }
        }
        out
    };
    a.schema == b.schema
        && bits(a.zero_threshold) == bits(b.zero_threshold)
        && bits(a.zero_count) == bits(b.zero_count)
        && bits(a.count) == bits(b.count)
        && bits(a.sum) == bits(b.sum)
        && a.custom_values == b.custom_values
        && spans(a, true) == spans(b, true)
        && spans(a, false) == spans(b, false)
        && same(&a.positive_buckets, &b.positive_buckets)
        && same(&a.negative_buckets, &b.negative_buckets)
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
