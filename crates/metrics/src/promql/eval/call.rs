//! Function calls: argument evaluation and dispatch to the function library, plus the
//! functions that need the evaluator itself (`time`, `vector`, `scalar`, `absent`,
//! `absent_over_time`, `timestamp`, `pi`).

use std::borrow::Cow;

use promql_parser::parser::value::ValueType;
use sextant_model::{Labels, MatchOp, METRIC_NAME};

use crate::promql::binary::StepCtx;
use crate::promql::functions::{self, FnArg, RangeOutput, RangeWindow};
use crate::promql::histogram::CounterResetHint;
use crate::promql::parse::SelectorModifier;
use crate::promql::value::{Annotations, EvalError, FPoint, HPoint, Matrix, Sample, Series};

use super::downsample::{evaluated_function, SampleCounts};
use super::parallel::run_parallel;
use super::plan::{Call, Node, Selector};
use super::selector::{point_after, point_before, window, without_stale, Picked, Slider};
use super::steps::{drop_metric_name, scalar_at};
use super::Evaluator;

const ANCHORED_SAFE: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
const SMOOTHED_SAFE: &[&str] = &["delta", "increase", "rate"];

/// Where a range function reads its windows from: a range selector's series or a
/// subquery's result.
struct RangeSource<'a> {
    series: Cow<'a, [Series]>,
    /// A downsampled counter's sample counts (see [`Selector::counts`]).
    counts: &'a [Series],
    /// The function to evaluate over the series (`sum_over_time` over counts for
    /// `count_over_time`, see `super::downsample`).
    function: &'static str,
    offset_ms: i64,
    at: Option<i64>,
    range_ms: i64,
    modifier: SelectorModifier,
}

impl Evaluator<'_> {
    pub fn eval_call(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let (start, end, step) = self.env.query;
        if self.start != self.end
            && matches!(
                call.name,
                "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
            )
        {
            self.state.annotations.warn(
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels",
            );
        }
        match call.name {
            "time" => Ok(self.constant_per_step(|ts| ts as f64 / 1000.0)),
            "start" => Ok(self.constant_per_step(|_| start as f64 / 1000.0)),
            "end" => Ok(self.constant_per_step(|_| end as f64 / 1000.0)),
            "range" => Ok(self.constant_per_step(|_| (end - start) as f64 / 1000.0)),
            "step" => Ok(self.constant_per_step(|_| step as f64 / 1000.0)),
            "pi" => Ok(self.constant_per_step(|_| std::f64::consts::PI)),
            "vector" => self.eval_vector_fn(call),
            "scalar" => self.eval_scalar_fn(call),
            "absent" => self.eval_absent(call),
            "absent_over_time" => self.eval_absent_over_time(call),
            "timestamp" => self.eval_timestamp(call),
            "info" => self.eval_info(call),
            name if functions::is_range_function(name) => self.eval_range_call(call),
            _ => self.eval_instant_call(call),
        }
    }

    /// A scalar-typed matrix with `f(ts)` at every step.
    pub fn constant_per_step(&self, f: impl Fn(i64) -> f64) -> Matrix {
        let floats = self.steps().map(|t| FPoint { t, f: f(t) }).collect();
        vec![Series {
            floats,
            ..Series::default()
        }]
    }

    fn eval_vector_fn(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let arg = self.eval_matrix_arg(&call.args[0])?;
        let mut cursor = 0;
        let floats: Vec<FPoint> = self
            .steps()
            .map(|t| FPoint {
                t,
                f: scalar_at(&arg, &mut cursor, t),
            })
            .collect();
        Ok(vec![Series {
            floats,
            ..Series::default()
        }])
    }

    fn eval_scalar_fn(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let arg = self.eval_matrix_arg(&call.args[0])?;
        self.range_eval(&[arg], |_, ts, vectors| {
            let mut floats = vectors[0].iter().filter(|s| s.h.is_none());
            let f = match (floats.next(), floats.next()) {
                (Some(s), None) => s.f,
                _ => f64::NAN,
            };
            Ok(vec![plain_sample(Labels::default(), ts, f)])
        })
    }

    fn eval_absent(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let labels = self.absent_labels(&call.args[0]);
        let arg = self.eval_matrix_arg(&call.args[0])?;
        self.range_eval(&[arg], |_, ts, vectors| {
            Ok(if vectors[0].is_empty() {
                vec![plain_sample(labels.clone(), ts, 1.0)]
            } else {
                Vec::new()
            })
        })
    }

    /// The labels `absent` reports: the equality matchers of a selector argument, except
    /// `__name__` and labels matched more than once (Prometheus's `createLabelsForAbsentFunction`).
    fn absent_labels(&self, arg: &Node) -> Labels {
        let sel = match arg.unwrapped() {
            Node::Vector(i) | Node::Matrix { sel: i, .. } => &self.env.selectors[*i],
            _ => return Labels::default(),
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for m in sel.matchers() {
            if m.name == METRIC_NAME {
                continue;
            }
            if m.op == MatchOp::Equal && !seen.contains(&m.name.as_str()) {
                pairs.push((m.name.clone(), m.value.clone()));
            } else {
                pairs.retain(|(n, _)| n != &m.name);
            }
            seen.push(&m.name);
        }
        Labels::from_pairs(pairs)
    }

    fn eval_absent_over_time(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let labels = self.absent_labels(&call.args[0]);
        let source = self.range_source(&call.args[0], call.name)?;
        let steps: Vec<i64> = self.steps().collect();
        let mut present = vec![false; steps.len()];
        for s in source.series.iter() {
            let (floats, histograms) = without_stale(s);
            for (i, &ts) in steps.iter().enumerate() {
                let end = source.at.unwrap_or(ts) - source.offset_ms;
                let start = end - source.range_ms;
                let (flo, fhi) = window(&floats, |p| p.t, start, end);
                let (hlo, hhi) = window(&histograms, |p| p.t, start, end);
                present[i] |= fhi > flo || hhi > hlo;
            }
        }
        let floats: Vec<FPoint> = steps
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(&t, _)| FPoint { t, f: 1.0 })
            .collect();
        if floats.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![Series {
            metric: labels,
            floats,
            histograms: Vec::new(),
            drop_name: true,
        }])
    }

    /// `timestamp(v)`: over a plain selector the timestamps of the samples themselves,
    /// otherwise the evaluation time.
    fn eval_timestamp(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let delayed = self.env.delayed_name_removal;
        if let Node::Vector(i) = call.args[0].unwrapped() {
            let sel = &self.env.selectors[*i];
            let lookback = self.env.lookback;
            let steps: Vec<i64> = self.steps().collect();
            let mut out = Vec::with_capacity(sel.series.len());
            for s in &sel.series {
                let mut floats = Vec::new();
                for &ts in &steps {
                    let picked = super::selector::pick(s, self.ref_time(sel, ts), lookback);
                    let t = match picked {
                        Some(Picked::Float(t, _)) | Some(Picked::Histogram(t, _)) => t,
                        None => continue,
                    };
                    floats.push(FPoint {
                        t: ts,
                        f: t as f64 / 1000.0,
                    });
                }
                self.state.samples_read += floats.len() as u64;
                self.add_samples(floats.len())?;
                if !floats.is_empty() {
                    out.push(Series {
                        metric: name_dropped(&s.metric, delayed),
                        floats,
                        histograms: Vec::new(),
                        drop_name: true,
                    });
                }
            }
            return Ok(out);
        }
        let arg = self.eval_matrix_arg(&call.args[0])?;
        self.range_eval(&[arg], |_, ts, vectors| {
            Ok(vectors
                .into_iter()
                .flatten()
                .map(|s| Sample {
                    metric: name_dropped(&s.metric, delayed),
                    t: ts,
                    f: ts as f64 / 1000.0,
                    h: None,
                    drop_name: true,
                })
                .collect())
        })
    }

    /// Every other function over instant vectors, scalars and strings.
    fn eval_instant_call(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let mut inputs = Vec::new();
        let mut kinds = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            match arg.unwrapped() {
                Node::Str(s) => kinds.push(ArgKind::Str(s.clone())),
                other => {
                    let kind = if other.value_type() == ValueType::Scalar {
                        ArgKind::Scalar(inputs.len())
                    } else {
                        ArgKind::Vector(inputs.len())
                    };
                    inputs.push(self.eval_matrix_arg(arg)?);
                    kinds.push(kind);
                }
            }
        }
        let name = call.name;
        self.range_eval(&inputs, |ev, ts, mut vectors| {
            let args = kinds
                .iter()
                .map(|k| match k {
                    ArgKind::Str(s) => FnArg::Str(s.clone()),
                    ArgKind::Scalar(i) => {
                        FnArg::Scalar(vectors[*i].first().map_or(f64::NAN, |s| s.f))
                    }
                    ArgKind::Vector(i) => FnArg::Vector(std::mem::take(&mut vectors[*i])),
                })
                .collect();
            let mut ctx = StepCtx {
                ts,
                annotations: &mut ev.state.annotations,
                delayed_name_removal: ev.env.delayed_name_removal,
            };
            functions::instant_function(name, args, &mut ctx)
        })
    }

    /// A function over a range vector: one call per series and step on a sliding window.
    fn eval_range_call(&mut self, call: &Call) -> Result<Matrix, EvalError> {
        let matrix_idx = call
            .args
            .iter()
            .position(|a| a.value_type() == ValueType::Matrix)
            .ok_or_else(|| {
                EvalError::Execution(format!("{}: missing range vector argument", call.name))
            })?;
        let mut scalar_args = Vec::new();
        for (i, arg) in call.args.iter().enumerate() {
            if i != matrix_idx {
                scalar_args.push(self.eval_matrix_arg(arg)?);
            }
        }
        let source = self.range_source(&call.args[matrix_idx], call.name)?;
        check_modifier(call.name, source.modifier)?;
        let steps: Vec<i64> = self.steps().collect();
        let scalars_per_step: Vec<Vec<f64>> = {
            let mut cursors = vec![0usize; scalar_args.len()];
            steps
                .iter()
                .map(|&ts| {
                    scalar_args
                        .iter()
                        .zip(cursors.iter_mut())
                        .map(|(m, c)| scalar_at(m, c, ts))
                        .collect()
                })
                .collect()
        };
        let ctx = RangeCallCtx {
            name: source.function,
            counts: source.counts,
            keep_name: matches!(call.name, "last_over_time" | "first_over_time"),
            delayed: self.env.delayed_name_removal,
            lookback: self.env.lookback,
            offset_ms: source.offset_ms,
            at: source.at,
            range_ms: source.range_ms,
            modifier: source.modifier,
            steps: &steps,
            scalars: &scalars_per_step,
        };
        let parts = run_parallel(&source.series, self.env.parallelism, steps.len(), |part| {
            ctx.run(part)
        });
        let mut out = Vec::with_capacity(source.series.len());
        for part in parts {
            let part = part?;
            self.state.samples_read += part.samples_read;
            self.state.annotations.merge(part.annotations);
            self.add_samples(part.points)?;
            out.extend(part.series);
        }
        Ok(out)
    }

    /// The series a range function reads: a selector's, or a subquery's evaluated result.
    fn range_source<'n>(
        &mut self,
        node: &'n Node,
        function: &'static str,
    ) -> Result<RangeSource<'n>, EvalError>
    where
        Self: 'n,
    {
        match node.unwrapped() {
            Node::Matrix { sel, range_ms } => {
                let sel: &Selector = &self.env.selectors[*sel];
                Ok(RangeSource {
                    series: Cow::Borrowed(sel.series.as_slice()),
                    counts: sel.counts.as_slice(),
                    function: evaluated_function(function, sel.downsample),
                    offset_ms: sel.offset_ms,
                    at: sel.at,
                    range_ms: *range_ms,
                    modifier: sel.modifier,
                })
            }
            Node::Subquery(sq) => {
                let mut mat = self.eval_subquery(sq)?;
                for s in &mut mat {
                    for p in &mut s.histograms {
                        if matches!(
                            p.h.counter_reset_hint,
                            CounterResetHint::CounterReset | CounterResetHint::NotCounterReset
                        ) {
                            p.h.counter_reset_hint = CounterResetHint::Unknown;
                        }
                    }
                }
                Ok(RangeSource {
                    series: Cow::Owned(mat),
                    counts: &[],
                    function,
                    offset_ms: sq.offset_ms,
                    at: sq.at,
                    range_ms: sq.range_ms,
                    modifier: SelectorModifier::None,
                })
            }
            _ => Err(EvalError::Execution(
                "expected a range vector argument".into(),
            )),
        }
    }
}

enum ArgKind {
    Str(String),
    Scalar(usize),
    Vector(usize),
}

fn check_modifier(name: &str, modifier: SelectorModifier) -> Result<(), EvalError> {
    let (label, allowed) = match modifier {
        SelectorModifier::None => return Ok(()),
        SelectorModifier::Anchored => ("anchored", ANCHORED_SAFE),
        SelectorModifier::Smoothed => ("smoothed", SMOOTHED_SAFE),
    };
    if allowed.contains(&name) {
        return Ok(());
    }
    Err(EvalError::Execution(format!(
        "{label} modifier can only be used with: {} - not with {name}",
        allowed.join(", ")
    )))
}

/// A float sample without `drop_name`.
pub(crate) fn plain_sample(metric: Labels, t: i64, f: f64) -> Sample {
    Sample {
        metric,
        t,
        f,
        h: None,
        drop_name: false,
    }
}

/// The labels of a result that drops the metric name: kept as they are (and flagged) with
/// delayed name removal, without the name otherwise.
pub(crate) fn name_dropped(labels: &Labels, delayed: bool) -> Labels {
    if delayed {
        labels.clone()
    } else {
        drop_metric_name(labels)
    }
}

/// What a range function call needs for every series, shareable across threads.
struct RangeCallCtx<'a> {
    name: &'a str,
    /// A downsampled counter's sample counts, sorted by labels; empty otherwise.
    counts: &'a [Series],
    keep_name: bool,
    delayed: bool,
    lookback: i64,
    offset_ms: i64,
    at: Option<i64>,
    range_ms: i64,
    modifier: SelectorModifier,
    steps: &'a [i64],
    /// The scalar arguments at each step.
    scalars: &'a [Vec<f64>],
}

/// The results of a range function over a run of series.
#[derive(Default)]
struct RangeCallPart {
    series: Vec<Series>,
    annotations: Annotations,
    samples_read: u64,
    points: usize,
}

impl RangeCallCtx<'_> {
    /// Whether the function looks for counter resets in every window: then they are counted
    /// once per series, and windows without any skip the search.
    fn counts_decreases(&self) -> bool {
        self.modifier == SelectorModifier::None && matches!(self.name, "rate" | "increase")
    }

    fn run(&self, series: &[Series]) -> Result<RangeCallPart, EvalError> {
        let mut part = RangeCallPart::default();
        for s in series {
            if let Some(out) = self.series(s, &mut part)? {
                part.points += out.floats.len() + out.histograms.len();
                part.series.push(out);
            }
        }
        Ok(part)
    }

    /// The function over every step of one series.
    fn series(&self, s: &Series, part: &mut RangeCallPart) -> Result<Option<Series>, EvalError> {
        let (floats, histograms) = without_stale(s);
        let mut ss = Series {
            metric: if self.keep_name {
                s.metric.clone()
            } else {
                name_dropped(&s.metric, self.delayed)
            },
            drop_name: !self.keep_name || s.drop_name,
            ..Series::default()
        };
        let (lookback, modifier) = (self.lookback, self.modifier);
        let extended = modifier != SelectorModifier::None;
        let decreases = self.counts_decreases().then(|| decreases_before(&floats));
        let (mut float_slider, mut histogram_slider) = (Slider::default(), Slider::default());
        let mut sample_counts = SampleCounts::new(self.counts, &s.metric);
        for (step, &ts) in self.steps.iter().enumerate() {
            let end = self.at.unwrap_or(ts) - self.offset_ms;
            let start = end - self.range_ms;
            // steps only move forward: slide the windows instead of searching them
            let (flo, fhi) = float_slider.window(&floats, |p| p.t, start, end);
            let (mut hlo, mut hhi) = histogram_slider.window(&histograms, |p| p.t, start, end);
            if extended {
                // anchored/smoothed histogram windows carry the samples just outside the range
                // (within the lookback), like the float `before`/`after` points
                if hlo > 0 && histograms[hlo - 1].t > start - lookback {
                    hlo -= 1;
                }
                if modifier == SelectorModifier::Smoothed
                    && hhi < histograms.len()
                    && histograms[hhi].t <= end + lookback
                {
                    hhi += 1;
                }
            }
            let (before, after) = if extended {
                let after = (modifier == SelectorModifier::Smoothed)
                    .then(|| point_after(&floats, end, lookback))
                    .flatten();
                (point_before(&floats, start, lookback), after)
            } else {
                (None, None)
            };
            let float_samples = sample_counts.as_mut().map(|c| c.in_window(start, end));
            if fhi == flo && hhi == hlo && before.is_none() && after.is_none() {
                continue;
            }
            part.samples_read += (fhi - flo + hhi - hlo) as u64;
            let w = RangeWindow {
                floats: &floats[flo..fhi],
                histograms: &histograms[hlo..hhi],
                range_start: start,
                range_end: end,
                modifier,
                before,
                after,
                metric: &s.metric,
                decreases: decreases
                    .as_ref()
                    .filter(|_| fhi > flo)
                    .map(|d| d[fhi - 1] - d[flo]),
                float_samples,
            };
            let mut ctx = StepCtx {
                ts,
                annotations: &mut part.annotations,
                delayed_name_removal: self.delayed,
            };
            match functions::range_function(self.name, &w, &self.scalars[step], &mut ctx)? {
                Some(RangeOutput::Float(f)) => ss.floats.push(FPoint { t: ts, f }),
                Some(RangeOutput::Histogram(h)) => ss.histograms.push(HPoint {
                    t: ts,
                    h: Box::new(h),
                }),
                None => continue,
            }
        }
        if matches!(self.name, "rate" | "increase") && !ss.floats.is_empty() {
            if let Some(metric) = s.metric.metric_name() {
                if !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|x| metric.ends_with(x))
                {
                    part.annotations.info(format!(
                        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                    ));
                }
            }
        }
        Ok((!ss.floats.is_empty() || !ss.histograms.is_empty()).then_some(ss))
    }
}

/// `d[i]`: how many of the pairs `(p[j-1], p[j])`, `j <= i`, decrease; the pairs inside
/// `p[lo..hi]` that decrease number `d[hi - 1] - d[lo]`.
fn decreases_before(points: &[FPoint]) -> Vec<u32> {
    let mut count = 0;
    let mut out = Vec::with_capacity(points.len());
    out.push(0);
    for pair in points.windows(2) {
        count += u32::from(pair[1].f < pair[0].f);
        out.push(count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decreases_are_counted_per_window() {
        let points: Vec<FPoint> = [1.0, 2.0, 0.5, 3.0, f64::NAN, 1.0, 0.0, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &f)| FPoint { t: i as i64, f })
            .collect();
        let d = decreases_before(&points);
        assert_eq!(d, vec![0, 0, 1, 1, 1, 1, 2, 2]);
        let in_window = |lo: usize, hi: usize| d[hi - 1] - d[lo];
        // pairs within [lo, hi) that decrease, counted directly
        for lo in 0..points.len() {
            for hi in lo + 1..=points.len() {
                let direct = points[lo..hi]
                    .windows(2)
                    .filter(|p| p[1].f < p[0].f)
                    .count() as u32;
                assert_eq!(in_window(lo, hi), direct, "[{lo}, {hi})");
            }
        }
    }
}
