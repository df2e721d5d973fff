//! `histogram_count`, `_sum`, `_avg`, `_stddev`, `_stdvar` (native histograms) and
//! `histogram_quantile(s)`, `histogram_fraction` (native and classic `le` buckets).

use hashbrown::HashMap;

use sextant_model::{Label, Labels, METRIC_NAME};

use crate::promql::binary::labels::hash_without;
use crate::promql::binary::StepCtx;
use crate::promql::histogram::FloatHistogram;
use crate::promql::value::{EvalError, Sample, Vector};

use super::annotations::{self as anno, go_float};
use super::quantile::{bucket_fraction, bucket_quantile, Bucket};
use super::{
    first_vector, metric_name, name_dropping_sample, scalar_arg, str_arg, with_label, FnArg,
};

const BUCKET_LABEL: &str = "le";

pub(super) fn histogram_function(
    name: &str,
    args: Vec<FnArg>,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let per_histogram: Option<fn(&FloatHistogram) -> f64> = match name {
        "histogram_count" => Some(|h| h.count),
        "histogram_sum" => Some(|h| h.sum),
        "histogram_avg" => Some(|h| h.sum / h.count),
        "histogram_stddev" => Some(FloatHistogram::stddev),
        "histogram_stdvar" => Some(FloatHistogram::stdvar),
        _ => None,
    };
    if let Some(f) = per_histogram {
        return Ok(first_vector(args)
            .into_iter()
            .filter_map(|s| {
                let v = f(s.h.as_deref()?);
                Some(name_dropping_sample(
                    s.metric,
                    ctx.ts,
                    v,
                    ctx.delayed_name_removal,
                ))
            })
            .collect());
    }
    match name {
        "histogram_quantile" => {
            let q = scalar_arg(&args, 0);
            Ok(quantiles(first_vector(args), &[q], None, ctx))
        }
        "histogram_quantiles" => {
            let label = str_arg(&args, 1).to_string();
            let qs: Vec<f64> = (2..args.len()).map(|i| scalar_arg(&args, i)).collect();
            Ok(quantiles(first_vector(args), &qs, Some(&label), ctx))
        }
        "histogram_fraction" => {
            let (lower, upper) = (scalar_arg(&args, 0), scalar_arg(&args, 1));
            Ok(fraction(first_vector(args), lower, upper, ctx))
        }
        _ => Err(EvalError::Execution(format!(
            "function {name:?} is not implemented"
        ))),
    }
}

/// A classic histogram: the buckets of the series that differ only in `le`.
struct Classic {
    /// The labels without `le` (without `__name__` too unless name removal is delayed).
    metric: Labels,
    buckets: Vec<Bucket>,
}

/// Splits a vector into native histograms and classic bucket groups in order of first
/// appearance (upstream's `resetHistograms`). A native histogram with the same labels as a
/// classic group (apart from `le`) makes both go, with a warning.
fn split_histograms(v: Vector, ctx: &mut StepCtx<'_>) -> (Vec<Sample>, Vec<Classic>) {
    let mut natives = Vec::new();
    let mut classics: Vec<Classic> = Vec::new();
    // keyed by a hash of the labels without `le`: no label set is built per element
    let mut index: HashMap<u64, usize> = HashMap::new();
    for s in v {
        if s.h.is_some() {
            natives.push(s);
            continue;
        }
        let le = s.metric.get(BUCKET_LABEL).unwrap_or("");
        let Some(upper) = parse_go_float(le) else {
            let name = if ctx.delayed_name_removal {
                metric_name(&s.metric)
            } else {
                ""
            };
            ctx.annotations.warn(anno::bad_bucket_label(name, le));
            continue;
        };
        let bucket = Bucket { upper, count: s.f };
        let hash = hash_without(&s.metric, BUCKET_LABEL);
        if let Some(&i) = index.get(&hash) {
            classics[i].buckets.push(bucket);
            continue;
        }
        let key = without(&s.metric, &[BUCKET_LABEL]);
        let metric = if ctx.delayed_name_removal {
            key
        } else {
            without(&key, &[METRIC_NAME])
        };
        index.insert(hash, classics.len());
        classics.push(Classic {
            metric,
            buckets: vec![bucket],
        });
    }
    natives.retain(|s| {
        let Some(&i) = index.get(&hash_without(&s.metric, BUCKET_LABEL)) else {
            return true;
        };
        if classics[i].buckets.is_empty() {
            return true;
        }
        let name = if ctx.delayed_name_removal {
            metric_name(&s.metric)
        } else {
            ""
        };
        ctx.annotations.warn(anno::mixed_classic_native(name));
        classics[i].buckets.clear();
        false
    });
    classics.retain(|c| !c.buckets.is_empty());
    (natives, classics)
}

/// `histogram_quantile` (one φ, `label` None) and `histogram_quantiles` (the φs go into
/// `label`).
fn quantiles(v: Vector, qs: &[f64], label: Option<&str>, ctx: &mut StepCtx<'_>) -> Vector {
    for &q in qs {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            ctx.annotations.warn(anno::invalid_quantile(q));
        }
    }
    let (natives, classics) = split_histograms(v, ctx);
    let mut out = Vec::new();
    for &q in qs {
        let labelled = |m: &Labels| match label {
            Some(l) => with_label(m, l, &open_metrics_float(q)),
            None => m.clone(),
        };
        for s in &natives {
            let f = s.h.as_deref().map_or(f64::NAN, |h| h.quantile(q));
            out.push(name_dropping_sample(
                labelled(&s.metric),
                ctx.ts,
                f,
                ctx.delayed_name_removal,
            ));
        }
        for c in &classics {
            let (f, repairs) = bucket_quantile(q, c.buckets.clone());
            if repairs.forced_monotonicity {
                let name = if ctx.delayed_name_removal {
                    metric_name(&c.metric)
                } else {
                    ""
                };
                ctx.annotations.info(anno::forced_monotonicity(name));
            }
            out.push(name_dropping_sample(
                labelled(&c.metric),
                ctx.ts,
                f,
                ctx.delayed_name_removal,
            ));
        }
    }
    out
}

/// `histogram_fraction(lower, upper, v)`.
fn fraction(v: Vector, lower: f64, upper: f64, ctx: &mut StepCtx<'_>) -> Vector {
    let (natives, classics) = split_histograms(v, ctx);
    let mut out = Vec::with_capacity(natives.len() + classics.len());
    for s in natives {
        let f =
            s.h.as_deref()
                .map_or(f64::NAN, |h| h.fraction(lower, upper));
        out.push(name_dropping_sample(
            s.metric,
            ctx.ts,
            f,
            ctx.delayed_name_removal,
        ));
    }
    for c in classics {
        let f = bucket_fraction(lower, upper, c.buckets);
        out.push(name_dropping_sample(
            c.metric,
            ctx.ts,
            f,
            ctx.delayed_name_removal,
        ));
    }
    out
}

/// `labels` without the given names.
fn without(labels: &Labels, names: &[&str]) -> Labels {
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| !names.contains(&l.name.as_str()))
        .cloned()
        .collect();
    Labels::from_sorted(kept)
}

/// Go's `strconv.ParseFloat` for bucket bounds: decimal, exponent and hex forms, `Inf`,
/// `+Inf`, `-Inf`, `NaN` (case-insensitive), underscores not allowed.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        let v = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if s.starts_with('-') { -v } else { v });
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        let v = i64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if s.starts_with('-') { -v } else { v });
    }
    if s.is_empty() || s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    s.parse().ok()
}

/// Prometheus's `FormatOpenMetricsFloat`: like `%g`, with ".0" added to integral values.
fn open_metrics_float(f: f64) -> String {
    let s = go_float(f);
    if f.is_finite() && !s.contains(['.', 'e', 'E']) {
        format!("{s}.0")
    } else {
        s
    }
}

#[cfg(test)]
#[path = "histograms_tests.rs"]
mod tests;
