//! The `*_over_time` aggregations of one series' window and the `ts_of_*` functions.

use crate::promql::binary::StepCtx;
use crate::promql::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::promql::value::HPoint;

use super::annotations as anno;
use super::{kahan_inc, RangeOutput, RangeWindow};

/// Dispatches the `*_over_time` and `ts_of_*` functions; `param` is the first scalar
/// argument (the φ of `quantile_over_time`).
pub(super) fn over_time(
    name: &str,
    w: &RangeWindow<'_>,
    param: f64,
    ctx: &mut StepCtx<'_>,
) -> Option<RangeOutput> {
    if w.floats.is_empty() && w.histograms.is_empty() {
        return None;
    }
    let float = |f: f64| Some(RangeOutput::Float(f));
    match name {
        "count_over_time" => float((w.floats.len() + w.histograms.len()) as f64),
        "present_over_time" => float(1.0),
        "last_over_time" => Some(last(w)),
        "first_over_time" => Some(first(w)),
        "ts_of_first_over_time" => {
            let tf = w.floats.first().map_or(i64::MAX, |p| p.t);
            let th = w.histograms.first().map_or(i64::MAX, |p| p.t);
            float(tf.min(th) as f64 / 1000.0)
        }
        "ts_of_last_over_time" => {
            let tf = w.floats.last().map_or(0, |p| p.t);
            let th = w.histograms.last().map_or(0, |p| p.t);
            float(tf.max(th) as f64 / 1000.0)
        }
        "sum_over_time" => sum_over_time(w, ctx),
        "avg_over_time" => avg_over_time(w, ctx),
        _ => floats_only(name, w, param, ctx).map(RangeOutput::Float),
    }
}

/// The functions that look at float samples only (histograms are ignored with an info).
fn floats_only(name: &str, w: &RangeWindow<'_>, param: f64, ctx: &mut StepCtx<'_>) -> Option<f64> {
    if w.floats.is_empty() {
        return None;
    }
    if name == "quantile_over_time" && (param.is_nan() || !(0.0..=1.0).contains(&param)) {
        ctx.annotations.warn(anno::invalid_quantile(param));
    }
    if !w.histograms.is_empty() {
        ctx.annotations
            .info(anno::histogram_ignored_in_mixed_range(w.metric_name()));
    }
    let values = || w.floats.iter().map(|p| p.f).collect::<Vec<f64>>();
    match name {
        "max_over_time" => Some(compare(w, |cur, acc| cur > acc || acc.is_nan()).0),
        "min_over_time" => Some(compare(w, |cur, acc| cur < acc || acc.is_nan()).0),
        "ts_of_max_over_time" => Some(compare(w, |cur, acc| cur >= acc || acc.is_nan()).1),
        "ts_of_min_over_time" => Some(compare(w, |cur, acc| cur <= acc || acc.is_nan()).1),
        "quantile_over_time" => Some(quantile(param, &mut values())),
        "stdvar_over_time" => Some(variance(w)),
        "stddev_over_time" => Some(variance(w).sqrt()),
        "mad_over_time" if w.floats.iter().any(|p| p.f.is_nan()) => Some(f64::NAN),
        "mad_over_time" => {
            let mut v = values();
            let median = quantile(0.5, &mut v);
            let mut deviations: Vec<f64> = v.iter().map(|f| (f - median).abs()).collect();
            Some(quantile(0.5, &mut deviations))
        }
        _ => None,
    }
}

/// The value picked by `better(candidate, current)` and its timestamp in seconds.
fn compare(w: &RangeWindow<'_>, better: fn(f64, f64) -> bool) -> (f64, f64) {
    let mut best = w.floats[0];
    for p in w.floats {
        if better(p.f, best.f) {
            best = *p;
        }
    }
    (best.f, best.t as f64 / 1000.0)
}

fn last(w: &RangeWindow<'_>) -> RangeOutput {
    match (w.floats.last(), w.histograms.last()) {
        (Some(f), Some(h)) if h.t < f.t => RangeOutput::Float(f.f),
        (Some(f), None) => RangeOutput::Float(f.f),
        (_, Some(h)) => RangeOutput::Histogram((*h.h).clone()),
        (None, None) => RangeOutput::Float(f64::NAN),
    }
}

fn first(w: &RangeWindow<'_>) -> RangeOutput {
    match (w.floats.first(), w.histograms.first()) {
        (Some(f), Some(h)) if f.t < h.t => RangeOutput::Float(f.f),
        (Some(f), None) => RangeOutput::Float(f.f),
        (_, Some(h)) => RangeOutput::Histogram((*h.h).clone()),
        (None, None) => RangeOutput::Float(f64::NAN),
    }
}

/// Prometheus's `quantile`: linear interpolation between the closest ranks. Sorts `values`.
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as upstream's `vectorByValueHeap`.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Population variance with Welford's method and Kahan summation.
fn variance(w: &RangeWindow<'_>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w.floats {
        count += 1.0;
        let delta = p.f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn sum_over_time(w: &RangeWindow<'_>, ctx: &mut StepCtx<'_>) -> Option<RangeOutput> {
    if !w.floats.is_empty() && !w.histograms.is_empty() {
        ctx.annotations
            .warn(anno::mixed_floats_histograms(w.metric_name()));
        return None;
    }
    if w.floats.is_empty() {
        return sum_histograms(w, ctx).map(RangeOutput::Histogram);
    }
    let (mut sum, mut c) = (0.0, 0.0);
    for p in w.floats {
        (sum, c) = kahan_inc(p.f, sum, c);
    }
    Some(RangeOutput::Float(if sum.is_infinite() {
        sum
    } else {
        sum + c
    }))
}

fn avg_over_time(w: &RangeWindow<'_>, ctx: &mut StepCtx<'_>) -> Option<RangeOutput> {
    if !w.floats.is_empty() && !w.histograms.is_empty() {
        ctx.annotations
            .warn(anno::mixed_floats_histograms(w.metric_name()));
        return None;
    }
    if w.floats.is_empty() {
        let mut sum = sum_histograms(w, ctx)?;
        sum.div(w.histograms.len() as f64);
        return Some(RangeOutput::Histogram(sum));
    }
    Some(RangeOutput::Float(avg_floats(w)))
}

/// The mean: a Kahan sum divided by the count, switching to an incremental mean when the
/// sum would overflow.
fn avg_floats(w: &RangeWindow<'_>) -> f64 {
    let (mut sum, mut count) = (w.floats[0].f, 1.0);
    let (mut mean, mut c, mut incremental) = (0.0, 0.0, false);
    for (i, p) in w.floats.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(p.f, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.f / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// The sum of the window's histograms, with the annotations Prometheus raises for it.
fn sum_histograms(w: &RangeWindow<'_>, ctx: &mut StepCtx<'_>) -> Option<FloatHistogram> {
    let hs: &[HPoint] = w.histograms;
    let mut sum = (*hs[0].h).clone();
    let (mut reset_seen, mut not_reset_seen, mut reconciled) = (false, false, false);
    for (i, p) in hs.iter().enumerate() {
        match p.h.counter_reset_hint {
            CounterResetHint::CounterReset => reset_seen = true,
            CounterResetHint::NotCounterReset => not_reset_seen = true,
            _ => {}
        }
        if i == 0 {
            continue;
        }
        match sum.add_detailed(&p.h) {
            Ok(report) => reconciled |= report.nhcb_bounds_reconciled,
            Err(HistogramError::IncompatibleSchema) => {
                ctx.annotations
                    .warn(anno::mixed_exponential_custom(w.metric_name()));
                return None;
            }
            Err(_) => return None,
        }
    }
    if reset_seen && not_reset_seen {
        ctx.annotations
            .warn(anno::counter_reset_collision("aggregation"));
    }
    if reconciled {
        ctx.annotations
            .info(anno::mismatched_custom_buckets("aggregation"));
    }
    sum.compact(0);
    Some(sum)
}

#[cfg(test)]
#[path = "over_time_tests.rs"]
mod tests;
