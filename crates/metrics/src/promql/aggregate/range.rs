//! Aggregating a whole range evaluation at once, like Prometheus 3's `rangeEvalAgg`: the
//! group of every input series is found once, not at every step, and each step walks the
//! input series directly instead of gathering a vector of labelled samples.
//!
//! Results equal the per-step [`aggregate`](super::aggregate) path: the same accumulators,
//! groups met in the same order at every step, outputs in order of first appearance.

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use promql_parser::parser::token::{
    TokenType, T_AVG, T_COUNT, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM,
};
use promql_parser::parser::LabelModifier;
use sextant_model::Labels;

use super::float::{warn_quantile, Elem, Group};
use super::Grouping;
use crate::promql::binary::StepCtx;
use crate::promql::value::{FPoint, HPoint, Matrix, Series};

/// Whether `op` aggregates by groups alone (no per-element output, no string parameter).
pub(crate) fn is_grouping_op(op: TokenType) -> bool {
    matches!(
        op.id(),
        T_SUM | T_AVG | T_MIN | T_MAX | T_COUNT | T_GROUP | T_STDDEV | T_STDVAR | T_QUANTILE
    )
}

/// The output group of every input series, computed once per range evaluation.
pub(crate) struct GroupPlan {
    /// Group index of each input series.
    of_series: Vec<usize>,
    /// Output labels of each group.
    labels: Vec<Labels>,
}

impl GroupPlan {
    pub(crate) fn new(input: &Matrix, modifier: Option<&LabelModifier>) -> GroupPlan {
        let grouping = Grouping::new(modifier);
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut labels = Vec::new();
        let of_series = input
            .iter()
            .map(|s| match index.entry(grouping.key(&s.metric)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    labels.push(grouping.labels(&s.metric));
                    *e.insert(labels.len() - 1)
                }
            })
            .collect();
        GroupPlan { of_series, labels }
    }

    pub(crate) fn groups(&self) -> usize {
        self.labels.len()
    }

    /// The group of input series `i`.
    pub(crate) fn group_of(&self, i: usize) -> usize {
        self.of_series[i]
    }

    pub(crate) fn labels_of(&self, group: usize) -> &Labels {
        &self.labels[group]
    }
}

/// The running state of a range aggregation over a run of consecutive steps: read positions
/// into the input series and the output series built so far.
pub(crate) struct RangeAggregation<'p> {
    op: TokenType,
    plan: &'p GroupPlan,
    /// Next float and histogram point of each input series.
    pos: Vec<(usize, usize)>,
    /// Output series index of each group, once it produced a point.
    out_of_group: Vec<Option<usize>>,
    out: Matrix,
    /// Per step: the slot in `groups` of each group met so far (usize::MAX = not yet).
    slot: Vec<usize>,
    /// Per step: the groups met, in order of their first element.
    met: Vec<usize>,
}

impl<'p> RangeAggregation<'p> {
    /// Starts at the first step at or after `first_ts`.
    pub(crate) fn new(op: TokenType, input: &Matrix, plan: &'p GroupPlan, first_ts: i64) -> Self {
        let groups = plan.labels.len();
        let pos = input
            .iter()
            .map(|s| {
                (
                    s.floats.partition_point(|p| p.t < first_ts),
                    s.histograms.partition_point(|p| p.t < first_ts),
                )
            })
            .collect();
        RangeAggregation {
            op,
            pos,
            out_of_group: vec![None; groups],
            out: Vec::new(),
            slot: vec![usize::MAX; groups],
            met: Vec::new(),
            plan,
        }
    }

    /// Aggregates the points of `input` at `ctx.ts` (`q`: quantile's φ at this step) and
    /// appends the results to the output series. Returns (input points, output points).
    pub(crate) fn step(&mut self, input: &Matrix, q: f64, ctx: &mut StepCtx<'_>) -> (usize, usize) {
        let ts = ctx.ts;
        warn_quantile(self.op, q, ctx);
        let mut groups: Vec<Group> = Vec::new();
        let mut read = 0;
        for (i, s) in input.iter().enumerate() {
            let Some(sample) = take_point(s, &mut self.pos[i], ts) else {
                continue;
            };
            read += 1;
            let g = self.plan.of_series[i];
            if self.slot[g] == usize::MAX {
                self.slot[g] = groups.len();
                self.met.push(g);
                groups.push(Group::new(self.plan.labels[g].clone()));
            }
            groups[self.slot[g]].add(self.op, sample, ctx);
        }
        let mut written = 0;
        for (g, group) in self.met.drain(..).zip(groups) {
            self.slot[g] = usize::MAX;
            let Some(sample) = group.finish(self.op, q, ctx) else {
                continue;
            };
            written += 1;
            let idx = *self.out_of_group[g].get_or_insert_with(|| {
                self.out.push(Series {
                    metric: sample.metric.clone(),
                    drop_name: sample.drop_name,
                    ..Series::default()
                });
                self.out.len() - 1
            });
            let series = &mut self.out[idx];
            match sample.h {
                Some(h) => series.histograms.push(HPoint { t: ts, h }),
                None => series.floats.push(FPoint { t: ts, f: sample.f }),
            }
        }
        (read, written)
    }

    /// The output series, each with its group.
    pub(crate) fn finish(self) -> Vec<(usize, Series)> {
        let mut group_of_out = vec![0; self.out.len()];
        for (g, out) in self.out_of_group.iter().enumerate() {
            if let Some(i) = out {
                group_of_out[*i] = g;
            }
        }
        group_of_out.into_iter().zip(self.out).collect()
    }
}

/// Joins the outputs of consecutive step runs: a group's points in run order, groups in order
/// of first appearance (what one run over all steps gives).
pub(crate) fn join_runs(groups: usize, runs: Vec<Vec<(usize, Series)>>) -> Matrix {
    join_grouped(groups, runs)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// [`join_runs`], keeping each output's group.
pub(crate) fn join_grouped(groups: usize, runs: Vec<Vec<(usize, Series)>>) -> Vec<(usize, Series)> {
    if runs.len() == 1 {
        return runs.into_iter().flatten().collect();
    }
    let mut out_of_group: Vec<Option<usize>> = vec![None; groups];
    let mut out: Vec<(usize, Series)> = Vec::new();
    for (g, series) in runs.into_iter().flatten() {
        match out_of_group[g] {
            Some(i) => {
                out[i].1.floats.extend(series.floats);
                out[i].1.histograms.extend(series.histograms);
            }
            None => {
                out_of_group[g] = Some(out.len());
                out.push((g, series));
            }
        }
    }
    out
}

/// The point of `s` at exactly `ts`, advancing its read position.
fn take_point<'a>(s: &'a Series, pos: &mut (usize, usize), ts: i64) -> Option<Elem<'a>> {
    let (fi, hi) = pos;
    if let Some(p) = s.floats.get(*fi).filter(|p| p.t == ts) {
        *fi += 1;
        return Some(Elem {
            metric: &s.metric,
            f: p.f,
            h: None,
            drop_name: s.drop_name,
        });
    }
    let p = s.histograms.get(*hi).filter(|p| p.t == ts)?;
    *hi += 1;
    Some(Elem {
        metric: &s.metric,
        f: 0.0,
        h: Some(&p.h),
        drop_name: s.drop_name,
    })
}
