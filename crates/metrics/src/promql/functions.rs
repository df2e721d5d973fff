//! The PromQL function library, ported from Prometheus's `promql/functions.go`.
//!
//! The evaluator owns argument evaluation and calls in here once per step: range functions
//! (`rate`, `*_over_time`, ...) get one series' window through [`range_function`], every
//! other function gets the step's argument values through [`instant_function`]. The
//! functions that need the evaluator itself (`time`, `vector`, `scalar`, `absent`, `info`,
//! ...) live there.
//!
//! - `rate`: `rate`/`increase`/`delta` (extrapolated, native histograms), `irate`/`idelta`,
//!   `deriv`, `predict_linear`, `changes`, `resets`, `double_exponential_smoothing`.
//! - `extended`: the `anchored`/`smoothed` forms of `rate`/`increase`/`delta` (floats and
//!   native histograms) and the anchored sample order of `changes`/`resets`. For these the
//!   evaluator passes, besides `before`/`after`, the histogram samples around the window in
//!   `histograms` (see [`RangeWindow::histograms`]).
//! - `over_time`: the `*_over_time` family and `ts_of_*`.
//! - `math`: element-wise float functions, `clamp*`, `round`, `sort*`, `min_of`/`max_of`.
//! - `time`: the calendar functions.
//! - `labels`: `label_replace`, `label_join`, `sort_by_label(_desc)`.
//! - `histograms`: `histogram_*`, with classic `le` buckets in `quantile`.
//! - `annotations`: Prometheus's warning and info texts.

mod annotations;
pub(crate) mod extended;
mod histograms;
mod labels;
mod math;
mod over_time;
mod quantile;
mod rate;
mod time;

#[cfg(test)]
mod test_support;

use sextant_model::{Label, Labels, METRIC_NAME};

use super::binary::StepCtx;
use super::histogram::FloatHistogram;
use super::parse::SelectorModifier;
use super::value::{EvalError, FPoint, HPoint, Sample, Vector};

/// One series' samples in one range function window.
pub(crate) struct RangeWindow<'a> {
    /// Float points in `(range_start, range_end]`.
    pub floats: &'a [FPoint],
    /// Histogram points in `(range_start, range_end]`. Anchored/smoothed: also the last one
    /// at or before `range_start` and (smoothed) the first one after `range_end`, each within
    /// the lookback delta.
    pub histograms: &'a [HPoint],
    pub range_start: i64,
    pub range_end: i64,
    pub modifier: SelectorModifier,
    /// Anchored/smoothed only: the last float point at or before `range_start` (within the
    /// lookback delta).
    pub before: Option<FPoint>,
    /// Smoothed only: the first float point after `range_end` (within the lookback delta).
    pub after: Option<FPoint>,
    pub metric: &'a Labels,
    /// How many consecutive float pairs of the window decrease, when the caller counted
    /// them (range functions count once per series); `None`: not known.
    pub decreases: Option<u32>,
    /// How many raw float samples `floats` stand for when they are a downsampled counter's
    /// points (a subsequence of the samples); `None`: `floats.len()`.
    pub float_samples: Option<usize>,
}

impl RangeWindow<'_> {
    fn metric_name(&self) -> &str {
        metric_name(self.metric)
    }

    /// The window length in seconds (the selector's range).
    fn range_seconds(&self) -> f64 {
        (self.range_end - self.range_start) as f64 / 1000.0
    }
}

/// What a range function yields for one series at one step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RangeOutput {
    Float(f64),
    Histogram(FloatHistogram),
}

/// One evaluated argument of an instant function call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FnArg {
    Vector(Vector),
    Scalar(f64),
    Str(String),
}

/// The functions taking a range vector, which go through [`range_function`].
const RANGE_FUNCTIONS: &[&str] = &[
    "avg_over_time",
    "changes",
    "count_over_time",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "first_over_time",
    "idelta",
    "increase",
    "irate",
    "last_over_time",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rate",
    "resets",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
];

/// Whether `name` is a function over a range vector handled by [`range_function`].
pub(crate) fn is_range_function(name: &str) -> bool {
    RANGE_FUNCTIONS.contains(&name)
}

/// Evaluates range function `name` on one series' window. `scalars` are the function's
/// scalar arguments at this step, in call order. `None` means no output for this step.
pub(crate) fn range_function(
    name: &str,
    w: &RangeWindow<'_>,
    scalars: &[f64],
    ctx: &mut StepCtx<'_>,
) -> Result<Option<RangeOutput>, EvalError> {
    let scalar = |i: usize| scalars.get(i).copied().unwrap_or(f64::NAN);
    let out = match name {
        "rate" => rate::extrapolated_rate(w, ctx, true, true),
        "increase" => rate::extrapolated_rate(w, ctx, true, false),
        "delta" => rate::extrapolated_rate(w, ctx, false, false),
        "irate" => rate::instant_value(w, ctx, true),
        "idelta" => rate::instant_value(w, ctx, false),
        "deriv" => rate::deriv(w, ctx),
        "predict_linear" => rate::predict_linear(w, scalar(0), ctx),
        "changes" => rate::changes(w),
        "resets" => rate::resets(w),
        "double_exponential_smoothing" => {
            return rate::double_exponential_smoothing(w, scalar(0), scalar(1), ctx);
        }
        other => over_time::over_time(other, w, scalar(0), ctx),
    };
    Ok(out)
}

/// Evaluates the non-range function `name` at one step.
pub(crate) fn instant_function(
    name: &str,
    args: Vec<FnArg>,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    if let Some(f) = math::float_function(name) {
        return Ok(math::map_floats(first_vector(args), ctx, f));
    }
    if time::is_calendar_function(name) {
        return Ok(time::calendar(name, args, ctx));
    }
    match name {
        "clamp" | "clamp_min" | "clamp_max" | "round" => math::clamp_or_round(name, args, ctx),
        "sort" | "sort_desc" => Ok(math::sort(first_vector(args), name == "sort_desc")),
        "min_of" | "max_of" => Ok(math::min_max_of(name, &args, ctx.ts)),
        "label_replace" => labels::label_replace(args),
        "label_join" => labels::label_join(args),
        "sort_by_label" | "sort_by_label_desc" => {
            Ok(labels::sort_by_label(args, name == "sort_by_label_desc"))
        }
        _ if name.starts_with("histogram_") => histograms::histogram_function(name, args, ctx),
        _ => Err(EvalError::Execution(format!(
            "function {name:?} is not implemented"
        ))),
    }
}

/// The first vector argument (empty when there is none).
fn first_vector(args: Vec<FnArg>) -> Vector {
    args.into_iter()
        .find_map(|a| match a {
            FnArg::Vector(v) => Some(v),
            _ => None,
        })
        .unwrap_or_default()
}

/// The `i`th argument as a scalar (NaN when it is not one).
fn scalar_arg(args: &[FnArg], i: usize) -> f64 {
    match args.get(i) {
        Some(FnArg::Scalar(f)) => *f,
        _ => f64::NAN,
    }
}

/// The `i`th argument as a string (empty when it is not one).
fn str_arg(args: &[FnArg], i: usize) -> &str {
    match args.get(i) {
        Some(FnArg::Str(s)) => s,
        _ => "",
    }
}

/// The value of `__name__`, or "".
fn metric_name(labels: &Labels) -> &str {
    labels.metric_name().unwrap_or("")
}

/// `labels` without `__name__`.
fn drop_metric_name(labels: &Labels) -> Labels {
    if labels.metric_name().is_none() {
        return labels.clone();
    }
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .cloned()
            .collect(),
    )
}

/// A float result of a function that drops the metric name: with delayed name removal the
/// name stays and the sample is flagged, otherwise the name goes.
fn name_dropping_sample(metric: Labels, ts: i64, f: f64, delayed_name_removal: bool) -> Sample {
    let metric = if delayed_name_removal {
        metric
    } else {
        drop_metric_name(&metric)
    };
    Sample {
        metric,
        t: ts,
        f,
        h: None,
        drop_name: true,
    }
}

/// `labels` with `name` set to `value` (removed when `value` is empty, as Prometheus's
/// label builder does).
fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut out: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        let at = out.partition_point(|l| l.name.as_str() < name);
        out.insert(at, Label::new(name, value));
    }
    Labels::from_sorted(out)
}

/// Kahan-Neumaier summation step (Prometheus's `kahansum.Inc`): adds `inc` to `sum` with
/// compensation `c`, returning the new pair.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_label_sets_replaces_and_removes() {
        let base = Labels::from_pairs([("a", "1"), ("c", "3")]);
        let cases = [
            ("b", "2", vec![("a", "1"), ("b", "2"), ("c", "3")]),
            ("a", "x", vec![("a", "x"), ("c", "3")]),
            ("c", "", vec![("a", "1")]),
            ("z", "", vec![("a", "1"), ("c", "3")]),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                with_label(&base, name, value),
                Labels::from_pairs(want),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn kahan_sum_keeps_small_terms() {
        let (mut sum, mut c) = (0.0, 0.0);
        for x in [1e100, 1.0, -1e100] {
            (sum, c) = kahan_inc(x, sum, c);
        }
        assert_eq!(sum + c, 1.0);
    }

    #[test]
    fn range_function_names() {
        for name in [
            "rate",
            "quantile_over_time",
            "ts_of_max_over_time",
            "mad_over_time",
        ] {
            assert!(is_range_function(name), "{name}");
        }
        for name in ["abs", "label_replace", "histogram_quantile", "time"] {
            assert!(!is_range_function(name), "{name}");
        }
    }
}
