//! Float aggregations of a range evaluation walked series by series instead of step by step.
//!
//! Walking every input series at every step touches a different allocation per element, and
//! on large inputs most of the time goes to cache misses. Here each input series is read once,
//! front to back, into a grid of accumulators (group × step). Every cell still receives its
//! elements in input-series order, with the same arithmetic as [`Group`](super::float), so the
//! results are bit-identical to the step-by-step path; outputs keep its order (first step a
//! group appears, then first input series).
//!
//! Only for float-only inputs and `sum avg min max count group`; long ranges are walked in
//! runs of steps that keep the grid small.

use promql_parser::parser::token::{TokenType, T_AVG, T_COUNT, T_GROUP, T_MAX, T_MIN, T_SUM};

use super::float::kahan_sum_inc;
use super::range::{join_grouped, GroupPlan};
use crate::promql::value::{FPoint, Matrix, Series};

/// Accumulators a grid may hold at once (× 40 bytes).
const MAX_CELLS: usize = 1 << 18;

/// Output series with their group, and (input, output) points per step.
pub(crate) type GridOutput = (Vec<(usize, Series)>, Vec<(usize, usize)>);

/// Whether [`aggregate_grid`] applies to this aggregation.
pub(crate) fn grid_applies(op: TokenType, input: &Matrix) -> bool {
    matches!(op.id(), T_SUM | T_AVG | T_MIN | T_MAX | T_COUNT | T_GROUP)
        && input.iter().all(|s| s.histograms.is_empty())
}

/// One group at one step (the float part of Prometheus's `groupedAggregation`).
#[derive(Clone, Copy, Default)]
struct Cell {
    f: f64,
    kahan_c: f64,
    mean: f64,
    count: f64,
    seen: bool,
    incremental_mean: bool,
    drop_name: bool,
}

impl Cell {
    fn add(&mut self, op: TokenType, f: f64, drop_name: bool) {
        if !self.seen {
            *self = Cell {
                f: if op.id() == T_GROUP { 1.0 } else { f },
                mean: f,
                count: 1.0,
                seen: true,
                drop_name,
                ..Cell::default()
            };
            return;
        }
        self.drop_name |= drop_name;
        match op.id() {
            T_SUM => (self.f, self.kahan_c) = kahan_sum_inc(f, self.f, self.kahan_c),
            T_AVG => {
                self.count += 1.0;
                self.avg(f);
            }
            T_MAX if self.f < f || self.f.is_nan() => self.f = f,
            T_MIN if self.f > f || self.f.is_nan() => self.f = f,
            T_COUNT => self.count += 1.0,
            _ => {}
        }
    }

    /// `Group::avg_float`.
    fn avg(&mut self, f: f64) {
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

    fn value(&self, op: TokenType) -> f64 {
        match op.id() {
            T_SUM => self.f + self.kahan_c,
            T_AVG if self.incremental_mean => self.mean + self.kahan_c,
            T_AVG => self.f / self.count + self.kahan_c / self.count,
            T_COUNT => self.count,
            _ => self.f,
        }
    }
}

/// Aggregates `input` at the regular `steps` (`steps[k] = steps[0] + k * interval`). Returns
/// the output series with their group, in first-appearance order, and per step the number of
/// input and output points.
pub(crate) fn aggregate_grid(
    op: TokenType,
    input: &Matrix,
    plan: &GroupPlan,
    steps: &[i64],
    interval: i64,
) -> GridOutput {
    let run = (MAX_CELLS / plan.groups().max(1)).max(1);
    let mut outputs = Vec::new();
    let mut counts = Vec::with_capacity(steps.len());
    for run in steps.chunks(run) {
        let (out, c) = grid_run(op, input, plan, run, interval);
        outputs.push(out);
        counts.extend(c);
    }
    (join_grouped(plan.groups(), outputs), counts)
}

/// [`aggregate_grid`] over one run of steps, in one grid.
fn grid_run(
    op: TokenType,
    input: &Matrix,
    plan: &GroupPlan,
    steps: &[i64],
    interval: i64,
) -> GridOutput {
    let (n_steps, n_groups) = (steps.len(), plan.groups());
    let mut cells = vec![Cell::default(); n_groups * n_steps];
    let mut read = vec![0usize; n_steps];
    // the first (step, input series) of each group, for the output order
    let mut first: Vec<(usize, usize)> = vec![(usize::MAX, usize::MAX); n_groups];
    let (Some(&start), Some(&end)) = (steps.first(), steps.last()) else {
        return (Vec::new(), Vec::new());
    };
    for (i, s) in input.iter().enumerate() {
        let g = plan.group_of(i);
        let from = s.floats.partition_point(|p| p.t < start);
        for p in s.floats[from..].iter().take_while(|p| p.t <= end) {
            let Some(k) = step_index(p.t, start, interval, n_steps) else {
                continue;
            };
            read[k] += 1;
            first[g] = first[g].min((k, i));
            cells[g * n_steps + k].add(op, p.f, s.drop_name);
        }
    }
    let mut order: Vec<usize> = (0..n_groups)
        .filter(|&g| first[g].0 != usize::MAX)
        .collect();
    order.sort_by_key(|&g| first[g]);
    let mut written = vec![0usize; n_steps];
    let out = order
        .into_iter()
        .map(|g| {
            let row = &cells[g * n_steps..(g + 1) * n_steps];
            let mut series = Series {
                metric: plan.labels_of(g).clone(),
                drop_name: row.iter().find(|c| c.seen).is_some_and(|c| c.drop_name),
                ..Series::default()
            };
            for (k, cell) in row.iter().enumerate().filter(|(_, c)| c.seen) {
                written[k] += 1;
                series.floats.push(FPoint {
                    t: steps[k],
                    f: cell.value(op),
                });
            }
            (g, series)
        })
        .collect();
    (out, read.into_iter().zip(written).collect())
}

/// The index of the step at exactly `t`, if `t` is one.
fn step_index(t: i64, start: i64, interval: i64, n_steps: usize) -> Option<usize> {
    let offset = t.checked_sub(start)?;
    if interval <= 0 || offset % interval != 0 {
        return None;
    }
    usize::try_from(offset / interval)
        .ok()
        .filter(|&k| k < n_steps)
}
