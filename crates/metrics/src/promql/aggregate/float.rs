//! sum avg min max count group stddev stdvar quantile: one output element per group
//! (Prometheus's `aggregation`).

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use promql_parser::parser::token::{
    TokenType, T_AVG, T_COUNT, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM,
};
use sextant_model::Labels;

use super::super::binary::labels::{go_format_g, go_quote, METRIC_NAME};
use super::super::binary::StepCtx;
use super::super::histogram::{CounterResetHint, FloatHistogram, HistogramError, MergeReport};
use super::super::value::{EvalError, Sample, Vector};
use super::Grouping;

/// One input element of an aggregation, borrowed from a sample or a series' point.
#[derive(Clone, Copy)]
pub(super) struct Elem<'a> {
    pub(super) metric: &'a Labels,
    pub(super) f: f64,
    pub(super) h: Option<&'a FloatHistogram>,
    pub(super) drop_name: bool,
}

impl<'a> Elem<'a> {
    fn of(s: &'a Sample) -> Self {
        Elem {
            metric: &s.metric,
            f: s.f,
            h: s.h.as_deref(),
            drop_name: s.drop_name,
        }
    }
}

/// The running state of one output group (Prometheus's `groupedAggregation`).
#[derive(Default)]
pub(super) struct Group {
    labels: Labels,
    f: f64,
    h: Option<Box<FloatHistogram>>,
    mean: f64,
    kahan_c: f64,
    count: f64,
    values: Vec<f64>,
    seen: bool,
    has_float: bool,
    has_histogram: bool,
    incompatible: bool,
    incremental_mean: bool,
    counter_reset_seen: bool,
    not_counter_reset_seen: bool,
    drop_name: bool,
}

/// Aggregates `input` into one element per group; `q` is quantile's φ.
pub(super) fn aggregate_groups(
    op: TokenType,
    input: Vector,
    grouping: &Grouping,
    q: f64,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    warn_quantile(op, q, ctx);
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for s in input {
        let gi = match index.entry(grouping.key(&s.metric)) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                groups.push(Group::new(grouping.labels(&s.metric)));
                *e.insert(groups.len() - 1)
            }
        };
        groups[gi].add(op, Elem::of(&s), ctx);
    }
    let mut out = Vector::with_capacity(groups.len());
    for g in groups {
        if let Some(s) = g.finish(op, q, ctx) {
            out.push(s);
        }
    }
    Ok(out)
}

pub(super) fn warn_quantile(op: TokenType, q: f64, ctx: &mut StepCtx<'_>) {
    if op.id() == T_QUANTILE && !(0.0..=1.0).contains(&q) {
        ctx.annotations.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            go_format_g(q, 6)
        ));
    }
}

fn ignored_histogram(op: TokenType, ctx: &mut StepCtx<'_>) {
    ctx.annotations.info(format!(
        "PromQL info: ignored histogram in {op} aggregation"
    ));
}

impl Group {
    pub(super) fn new(labels: Labels) -> Self {
        Group {
            labels,
            ..Group::default()
        }
    }

    /// Adds one element of this step.
    pub(super) fn add(&mut self, op: TokenType, s: Elem<'_>, ctx: &mut StepCtx<'_>) {
        if !self.seen {
            self.init(op, s, ctx);
        } else if !self.incompatible {
            self.drop_name |= s.drop_name;
            self.accumulate(op, s, ctx);
        }
    }

    /// The first element of the group at this step.
    fn init(&mut self, op: TokenType, s: Elem<'_>, ctx: &mut StepCtx<'_>) {
        let f = s.f;
        self.seen = true;
        self.f = f;
        self.mean = f;
        self.count = 1.0;
        self.drop_name = s.drop_name;
        match op.id() {
            T_AVG | T_SUM => match s.h {
                None => self.has_float = true,
                Some(h) => {
                    self.note_reset_hint(h);
                    self.h = Some(Box::new(h.clone()));
                    self.has_histogram = true;
                }
            },
            T_STDVAR | T_STDDEV => {
                if s.h.is_some() {
                    self.seen = false;
                    ignored_histogram(op, ctx);
                } else if f.is_nan() || f.is_infinite() {
                    self.f = f64::NAN;
                } else {
                    self.f = 0.0;
                }
            }
            T_QUANTILE => {
                if s.h.is_some() {
                    self.seen = false;
                    ignored_histogram(op, ctx);
                }
                self.values = vec![f];
            }
            T_GROUP => self.f = 1.0,
            T_MIN | T_MAX if s.h.is_some() => {
                self.seen = false;
                ignored_histogram(op, ctx);
            }
            _ => {}
        }
    }

    fn note_reset_hint(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.counter_reset_seen = true,
            CounterResetHint::NotCounterReset => self.not_counter_reset_seen = true,
            _ => {}
        }
    }

    /// Every further element of the group.
    fn accumulate(&mut self, op: TokenType, s: Elem<'_>, ctx: &mut StepCtx<'_>) {
        let f = s.f;
        match op.id() {
            T_SUM => match s.h {
                Some(h) => self.add_histogram(h, s.metric, ctx),
                None => {
                    self.has_float = true;
                    (self.f, self.kahan_c) = kahan_sum_inc(f, self.f, self.kahan_c);
                }
            },
            T_AVG => {
                self.count += 1.0;
                match s.h {
                    Some(h) => self.avg_histogram(h, s.metric, ctx),
                    None => self.avg_float(f),
                }
            }
            T_MAX | T_MIN if s.h.is_some() => ignored_histogram(op, ctx),
            T_MAX if self.f < f || self.f.is_nan() => self.f = f,
            T_MIN if self.f > f || self.f.is_nan() => self.f = f,
            T_COUNT => self.count += 1.0,
            T_STDVAR | T_STDDEV => {
                if s.h.is_some() {
                    ignored_histogram(op, ctx);
                } else {
                    self.count += 1.0;
                    let delta = f - self.mean;
                    self.mean += delta / self.count;
                    self.f += delta * (f - self.mean);
                }
            }
            T_QUANTILE if s.h.is_some() => ignored_histogram(op, ctx),
            T_QUANTILE => self.values.push(f),
            _ => {}
        }
    }

    fn add_histogram(&mut self, h: &FloatHistogram, metric: &Labels, ctx: &mut StepCtx<'_>) {
        self.has_histogram = true;
        // A group that held floats is invalid anyway; no point in adding.
        if self.h.is_none() {
            return;
        }
        self.note_reset_hint(h);
        let Some(acc) = self.h.as_mut() else { return };
        let result = acc.add_detailed(h);
        self.merge_outcome(result, metric, ctx);
    }

    /// Incremental mean of histograms: `acc += h/n - acc/n`.
    fn avg_histogram(&mut self, h: &FloatHistogram, metric: &Labels, ctx: &mut StepCtx<'_>) {
        self.has_histogram = true;
        let Some(acc) = self.h.as_ref() else { return };
        let mut right = (**acc).clone();
        self.note_reset_hint(h);
        let mut to_add = h.clone();
        to_add.div(self.count);
        right.div(self.count);
        let result = to_add.sub_detailed(&right);
        if !self.merge_outcome(result, metric, ctx) {
            return;
        }
        if let Some(acc) = self.h.as_mut() {
            let result = acc.add_detailed(&to_add);
            self.merge_outcome(result, metric, ctx);
        }
    }

    /// Turns a histogram merge result into annotations; false when the group became invalid.
    fn merge_outcome(
        &mut self,
        result: Result<MergeReport, HistogramError>,
        metric: &Labels,
        ctx: &mut StepCtx<'_>,
    ) -> bool {
        match result {
            Ok(report) => {
                if report.nhcb_bounds_reconciled {
                    ctx.annotations.info(
                        "PromQL info: mismatched custom buckets were reconciled during aggregation",
                    );
                }
                true
            }
            Err(e) => {
                if e == HistogramError::IncompatibleSchema {
                    ctx.annotations.warn(format!(
                        "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                        go_quote(metric.get(METRIC_NAME).unwrap_or(""))
                    ));
                }
                self.incompatible = true;
                false
            }
        }
    }

    /// Direct mean with Kahan summation while the sum stays finite, incremental mean after.
    fn avg_float(&mut self, f: f64) {
        self.has_float = true;
        if !self.incremental_mean {
            let (sum, c) = kahan_sum_inc(f, self.f, self.kahan_c);
            if !sum.is_infinite() {
                (self.f, self.kahan_c) = (sum, c);
                return;
            }
            self.incremental_mean = true;
            self.mean = self.f / (self.count - 1.0);
            self.kahan_c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.kahan_c) = kahan_sum_inc(f / self.count, q * self.mean, q * self.kahan_c);
    }

    /// The group's output element, if it has one.
    pub(super) fn finish(mut self, op: TokenType, q: f64, ctx: &mut StepCtx<'_>) -> Option<Sample> {
        if !self.seen {
            return None;
        }
        match op.id() {
            T_AVG | T_SUM => {
                if self.has_float && self.has_histogram {
                    ctx.annotations
                        .warn("PromQL warning: encountered a mix of histograms and floats for aggregation");
                    return None;
                }
                if self.incompatible {
                    return None;
                }
                if let Some(h) = self.h.as_mut() {
                    h.compact(0);
                } else if op.id() == T_SUM {
                    self.f += self.kahan_c;
                } else if self.incremental_mean {
                    self.f = self.mean + self.kahan_c;
                } else {
                    self.f = self.f / self.count + self.kahan_c / self.count;
                }
            }
            T_COUNT => self.f = self.count,
            T_STDVAR => self.f /= self.count,
            T_STDDEV => self.f = (self.f / self.count).sqrt(),
            T_QUANTILE => self.f = quantile(q, &mut self.values),
            _ => {}
        }
        if self.counter_reset_seen && self.not_counter_reset_seen {
            ctx.annotations
                .warn("PromQL warning: conflicting counter resets during histogram aggregation");
        }
        let h = if matches!(op.id(), T_AVG | T_SUM) {
            self.h
        } else {
            None
        };
        Some(Sample {
            metric: self.labels,
            t: ctx.ts,
            f: self.f,
            h,
            drop_name: self.drop_name,
        })
    }
}

/// Kahan-Neumaier summation step (Prometheus's `kahanSumInc`): adds `inc` to `sum` with the
/// compensation `c`.
pub(super) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
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

/// The φ-quantile of `values` (Prometheus's `quantile`): linear interpolation between the
/// closest ranks; φ < 0 gives -Inf, φ > 1 gives +Inf.
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
    // NaNs sort first, like Prometheus's vectorByValueHeap.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}
