//! The evaluator: walks the plan of a query and evaluates every node over all steps at once,
//! like Prometheus's `evaluator` (promql/engine.go). Instant queries are range evaluations
//! with a single step.
//!
//! - [`plan`]: the AST in the evaluator's form, `@ start()`/`@ end()` resolved, step-invariant
//!   subtrees marked, and the time range every selector needs.
//! - [`steps`]: per-step gathering of vectors, collecting results into series, `max_samples`.
//! - [`selector`]: instant and range selectors (lookback, staleness, offset, `@`).
//! - [`call`]: function calls; [`info`]: the `info()` function.
//!
//! Each node yields a [`Matrix`]: a scalar is one unlabelled series with a point per step, an
//! instant vector has a point per step where the series exists.

mod call;
mod downsample;
#[cfg(test)]
mod downsample_tests;
mod info;
mod parallel;
mod plan;
#[cfg(test)]
mod range_paths_tests;
mod selector;
mod steps;
#[cfg(test)]
mod tests;

use promql_parser::parser::token::{T_LAND, T_LOR, T_LUNLESS};
use promql_parser::parser::value::ValueType;

use super::aggregate::{self, AggParam};
use super::binary::{self, StepCtx};
use super::engine::{Engine, QueryResult};
use super::parse;
use super::queryable::{Queryable, SelectHints};
use super::value::{Annotations, EvalError, Matrix, Sample, Series, Value};
use crate::downsample::{DownsampleHint, MetricsAggregate};

use parallel::run_parallel;
use plan::{Aggregate, Binary, Node, Plan, QueryTimes, Selector, Subquery};
use steps::{drop_metric_name, matrix_samples, merge_same_labelset, scalar_at};

/// What every evaluator of one query shares read-only.
struct Env<'q> {
    selectors: Vec<Selector>,
    /// The query's own start, end and step (ms; step 0 for instant queries).
    query: (i64, i64, i64),
    queryable: &'q dyn Queryable,
    lookback: i64,
    max_samples: usize,
    delayed_name_removal: bool,
    parallelism: usize,
}

/// What one run of steps of a range aggregation yields: output series with their group,
/// annotations, and (input, output) points per step.
type AggRun = (Vec<(usize, Series)>, Annotations, Vec<(usize, usize)>);

/// What every evaluator of one query updates.
#[derive(Default)]
struct State {
    annotations: Annotations,
    current_samples: usize,
    peak_samples: usize,
    samples_read: u64,
}

/// Evaluates nodes over the steps `start, start + interval, ... <= end`.
struct Evaluator<'a> {
    start: i64,
    end: i64,
    interval: i64,
    env: &'a Env<'a>,
    state: &'a mut State,
}

/// Parses and evaluates `query`; `step_ms == 0` is an instant query at `start_ms`.
pub(crate) fn evaluate(
    engine: &Engine,
    queryable: &dyn Queryable,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<QueryResult, EvalError> {
    let opts = &engine.options;
    let expr = parse::parse_with_range(query, step_ms, end_ms - start_ms)?;
    let times = QueryTimes {
        start: start_ms,
        end: end_ms,
        step: step_ms,
        max_source_resolution: opts.max_source_resolution_ms,
        lookback: opts.lookback_delta_ms,
        default_subquery_step: opts.default_subquery_step_ms,
    };
    let Plan {
        root,
        mut selectors,
    } = plan::plan(expr, times)?;
    let root_type = root.value_type();
    if step_ms > 0 && !matches!(root_type, ValueType::Vector | ValueType::Scalar) {
        return Err(EvalError::Parse(format!(
            "invalid expression type {:?} for range query, must be Scalar or instant Vector",
            documented_type(root_type)
        )));
    }
    fetch(queryable, &mut selectors)?;
    let env = Env {
        selectors,
        query: (start_ms, end_ms, step_ms),
        queryable,
        lookback: opts.lookback_delta_ms,
        max_samples: opts.max_samples,
        delayed_name_removal: opts.enable_delayed_name_removal,
        parallelism: opts.parallelism,
    };
    let mut state = State::default();
    let mut ev = Evaluator {
        start: start_ms,
        end: end_ms,
        interval: step_ms.max(1),
        env: &env,
        state: &mut state,
    };
    let value = match &root {
        Node::Str(s) => Value::String {
            t: start_ms,
            s: s.clone(),
        },
        node => {
            let mat = ev.eval(node)?;
            let mat = if env.delayed_name_removal {
                cleanup_names(mat)?
            } else {
                mat
            };
            to_value(mat, root_type, start_ms, step_ms == 0)?
        }
    };
    Ok(QueryResult {
        value,
        annotations: state.annotations,
        samples_read: state.samples_read,
    })
}

/// Prometheus's `DocumentedType`.
fn documented_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
    }
}

/// Selects the series of every selector once, over the hull of the times it needs (in the
/// downsampled aggregate the plan chose for it, and then for a counter its counts too).
fn fetch(queryable: &dyn Queryable, selectors: &mut [Selector]) -> Result<(), EvalError> {
    for sel in selectors.iter_mut().filter(|s| s.fetch) {
        let hints = SelectHints {
            start_ms: sel.hull.0,
            end_ms: sel.hull.1,
            downsample: sel.downsample,
        };
        sel.series = select_all(queryable, &hints, sel)?;
        if let Some(hint) = sel
            .downsample
            .filter(|h| h.aggregate == MetricsAggregate::Counter)
        {
            let hints = SelectHints {
                downsample: Some(DownsampleHint {
                    aggregate: MetricsAggregate::Count,
                    ..hint
                }),
                ..hints
            };
            sel.counts = select_all(queryable, &hints, sel)?;
        }
    }
    Ok(())
}

/// The series of every matcher group of a selector, sorted by labels.
fn select_all(
    queryable: &dyn Queryable,
    hints: &SelectHints,
    sel: &Selector,
) -> Result<Vec<Series>, EvalError> {
    let mut series: Vec<Series> = Vec::new();
    for group in &sel.matcher_groups {
        series.extend(queryable.select(hints, group)?);
    }
    series.sort_by(|a, b| a.metric.cmp(&b.metric));
    // several matcher groups (`or` in a selector) may select a series twice
    series.dedup_by(|a, b| a.metric == b.metric);
    Ok(series)
}

/// Delayed name removal: drop `__name__` where flagged, then merge what became equal.
fn cleanup_names(mut mat: Matrix) -> Result<Matrix, EvalError> {
    for s in &mut mat {
        if s.drop_name {
            s.metric = drop_metric_name(&s.metric);
            s.drop_name = false;
        }
    }
    merge_same_labelset(mat)
}

/// The query's result in the shape its type and kind ask for.
fn to_value(mut mat: Matrix, t: ValueType, ts: i64, instant: bool) -> Result<Value, EvalError> {
    if !instant {
        mat.sort_by(|a, b| a.metric.cmp(&b.metric));
        return Ok(Value::Matrix(mat));
    }
    Ok(match t {
        ValueType::Scalar => Value::Scalar {
            t: ts,
            f: mat
                .first()
                .and_then(|s| s.floats.first())
                .map_or(f64::NAN, |p| p.f),
        },
        ValueType::Vector => Value::Vector(
            mat.into_iter()
                .map(|s| Sample {
                    metric: s.metric,
                    t: ts,
                    f: s.floats.first().map_or(0.0, |p| p.f),
                    h: s.histograms.into_iter().next().map(|p| p.h),
                    drop_name: false,
                })
                .collect(),
        ),
        _ => {
            mat.sort_by(|a, b| a.metric.cmp(&b.metric));
            Value::Matrix(mat)
        }
    })
}

impl<'a> Evaluator<'a> {
    /// An evaluator over other steps sharing this one's environment and state.
    fn sub(&mut self, start: i64, end: i64, interval: i64) -> Evaluator<'_> {
        Evaluator {
            start,
            end,
            interval,
            env: self.env,
            state: &mut *self.state,
        }
    }

    /// Evaluates a node over all steps.
    fn eval(&mut self, node: &Node) -> Result<Matrix, EvalError> {
        if self.end < self.start {
            return Ok(Vec::new());
        }
        let before = self.state.current_samples;
        let out = self.eval_node(node)?;
        self.state.current_samples = before + matrix_samples(&out);
        Ok(out)
    }

    /// Evaluates a function or operator argument; strings are not evaluated.
    fn eval_matrix_arg(&mut self, node: &Node) -> Result<Matrix, EvalError> {
        match node.unwrapped() {
            Node::Str(_) => Ok(Vec::new()),
            _ => self.eval(node),
        }
    }

    fn eval_node(&mut self, node: &Node) -> Result<Matrix, EvalError> {
        let env = self.env;
        match node {
            Node::Number(v) => Ok(self.constant_per_step(|_| *v)),
            Node::Str(_) => Err(EvalError::Execution(
                "unexpected string in expression".into(),
            )),
            Node::Neg(e) => self.eval_neg(e),
            Node::Vector(i) => self.eval_vector_selector(&env.selectors[*i]),
            Node::Matrix { sel, range_ms } => {
                self.eval_matrix_selector(&env.selectors[*sel], *range_ms)
            }
            Node::Subquery(sq) => self.eval_subquery(sq),
            Node::Call(c) => self.eval_call(c),
            Node::Binary(b) => self.eval_binary(b),
            Node::Aggregate(a) => self.eval_aggregate(a),
            Node::StepInvariant(e) => self.eval_step_invariant(e),
        }
    }

    fn eval_neg(&mut self, e: &Node) -> Result<Matrix, EvalError> {
        let mut mat = self.eval(e)?;
        let delayed = self.env.delayed_name_removal;
        for s in &mut mat {
            if !delayed {
                s.metric = drop_metric_name(&s.metric);
            }
            s.drop_name = true;
            for p in &mut s.floats {
                p.f = -p.f;
            }
            for p in &mut s.histograms {
                p.h.mul(-1.0);
            }
        }
        if delayed {
            Ok(mat)
        } else {
            merge_same_labelset(mat)
        }
    }

    /// A subquery: the inner expression evaluated on its own step grid, aligned to multiples
    /// of the step, covering `(t - offset - range, t - offset]` for every outer step.
    fn eval_subquery(&mut self, sq: &Subquery) -> Result<Matrix, EvalError> {
        let step = sq.step_ms;
        let (outer_start, outer_end) = match sq.at {
            Some(at) => (at, at),
            None => (self.start, self.end),
        };
        let end = outer_end - sq.offset_ms;
        let base = outer_start - sq.offset_ms - sq.range_ms;
        let mut start = step * (base / step);
        if start <= base {
            start += step;
        }
        self.sub(start, end, step).eval(&sq.expr)
    }

    /// Evaluates once at the first step and repeats the result at every step.
    fn eval_step_invariant(&mut self, e: &Node) -> Result<Matrix, EvalError> {
        if self.start == self.end {
            return self.eval(e);
        }
        let start = self.start;
        let mut mat = self.sub(start, start, self.interval).eval(e)?;
        if matches!(e.unwrapped(), Node::Matrix { .. } | Node::Subquery(_)) {
            return Ok(mat);
        }
        let steps: Vec<i64> = self.steps().skip(1).collect();
        for s in &mut mat {
            if let Some(p) = s.floats.first().copied() {
                s.floats
                    .extend(steps.iter().map(|&t| super::value::FPoint { t, f: p.f }));
            } else if let Some(p) = s.histograms.first().cloned() {
                s.histograms.extend(
                    steps
                        .iter()
                        .map(|&t| super::value::HPoint { t, h: p.h.clone() }),
                );
            }
            self.add_samples(steps.len())?;
        }
        Ok(mat)
    }

    fn eval_binary(&mut self, b: &Binary) -> Result<Matrix, EvalError> {
        let lt = b.lhs.value_type();
        let rt = b.rhs.value_type();
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        let op = b.op;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let modifier = b.modifier.as_ref();
        match (lt, rt) {
            (ValueType::Scalar, ValueType::Scalar) => {
                let mut lc = 0;
                let mut rc = 0;
                let mut floats = Vec::with_capacity(self.num_steps());
                for t in self.steps() {
                    let l = scalar_at(&lhs, &mut lc, t);
                    let r = scalar_at(&rhs, &mut rc, t);
                    floats.push(super::value::FPoint {
                        t,
                        f: binary::scalar_scalar(op, l, r)?,
                    });
                }
                Ok(vec![Series {
                    floats,
                    ..Series::default()
                }])
            }
            (ValueType::Scalar, _) | (_, ValueType::Scalar) => {
                let scalar_is_lhs = lt == ValueType::Scalar;
                let (vector, scalar) = if scalar_is_lhs {
                    (rhs, lhs)
                } else {
                    (lhs, rhs)
                };
                let mut cursor = 0;
                self.range_eval(&[vector], |ev, ts, mut v| {
                    let s = scalar_at(&scalar, &mut cursor, ts);
                    let mut ctx = ev.step_ctx(ts);
                    binary::vector_scalar(
                        op,
                        v.swap_remove(0),
                        s,
                        scalar_is_lhs,
                        return_bool,
                        &mut ctx,
                    )
                })
            }
            _ => {
                let set_op = [T_LAND, T_LOR, T_LUNLESS].contains(&op.id());
                self.range_eval(&[lhs, rhs], |ev, ts, mut v| {
                    let r = v.pop().unwrap_or_default();
                    let l = v.pop().unwrap_or_default();
                    if set_op && l.is_empty() && r.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut ctx = ev.step_ctx(ts);
                    binary::vector_vector(op, l, r, modifier, &mut ctx)
                })
            }
        }
    }

    fn eval_aggregate(&mut self, a: &Aggregate) -> Result<Matrix, EvalError> {
        let param = match &a.param {
            Some(p) if p.value_type() != ValueType::String => Some(self.eval(p)?),
            _ => None,
        };
        let str_param = match a.param.as_ref().map(Node::unwrapped) {
            Some(Node::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let input = self.eval(&a.expr)?;
        let op = a.op;
        let modifier = a.modifier.as_ref();
        if self.start < self.end && aggregate::is_grouping_op(op) {
            return self.range_eval_agg(op, &input, modifier, param.as_ref());
        }
        let mut cursor = 0;
        self.range_eval(&[input], |ev, ts, mut v| {
            let p = match (&param, &str_param) {
                (Some(m), _) => AggParam::Scalar(scalar_at(m, &mut cursor, ts)),
                (None, Some(s)) => AggParam::Str(s),
                (None, None) => AggParam::None,
            };
            let mut ctx = ev.step_ctx(ts);
            aggregate::aggregate(op, v.swap_remove(0), modifier, p, &mut ctx)
        })
    }

    /// [`Self::range_eval`] for the grouping aggregations, with groups found once
    /// ([`aggregate::RangeAggregation`]) and runs of steps on several threads; the same
    /// results, annotations and sample accounting.
    fn range_eval_agg(
        &mut self,
        op: promql_parser::parser::token::TokenType,
        input: &Matrix,
        modifier: Option<&promql_parser::parser::LabelModifier>,
        param: Option<&Matrix>,
    ) -> Result<Matrix, EvalError> {
        let plan = aggregate::GroupPlan::new(input, modifier);
        let steps: Vec<(i64, f64)> = {
            let mut cursor = 0;
            let steps: Vec<i64> = self.steps().collect();
            steps
                .into_iter()
                .map(|ts| {
                    (
                        ts,
                        param.map_or(f64::NAN, |m| scalar_at(m, &mut cursor, ts)),
                    )
                })
                .collect()
        };
        let delayed = self.env.delayed_name_removal;
        if aggregate::grid_applies(op, input) {
            let interval = self.interval;
            let runs = run_parallel(&steps, self.env.parallelism, input.len(), |run| {
                let ts: Vec<i64> = run.iter().map(|s| s.0).collect();
                let (out, counts) = aggregate::aggregate_grid(op, input, &plan, &ts, interval);
                (out, Annotations::default(), counts)
            });
            return self.join_agg_runs(&plan, runs);
        }
        let runs = run_parallel(&steps, self.env.parallelism, input.len(), |run| {
            let first = run.first().map_or(i64::MAX, |s| s.0);
            let mut agg = aggregate::RangeAggregation::new(op, input, &plan, first);
            let mut annotations = Annotations::default();
            let counts: Vec<(usize, usize)> = run
                .iter()
                .map(|&(ts, q)| {
                    let mut ctx = StepCtx {
                        ts,
                        annotations: &mut annotations,
                        delayed_name_removal: delayed,
                    };
                    agg.step(input, q, &mut ctx)
                })
                .collect();
            (agg.finish(), annotations, counts)
        });
        self.join_agg_runs(&plan, runs)
    }

    /// Joins the runs of a range aggregation: annotations, then the sample accounting of
    /// every step in order, then the output series.
    fn join_agg_runs(
        &mut self,
        plan: &aggregate::GroupPlan,
        runs: Vec<AggRun>,
    ) -> Result<Matrix, EvalError> {
        let base = self.state.current_samples;
        let mut held = base;
        let mut outputs = Vec::with_capacity(runs.len());
        for (out, annotations, counts) in runs {
            self.state.annotations.merge(annotations);
            for (read, written) in counts {
                self.state.current_samples = held;
                self.add_samples(read)?;
                self.add_samples(written)?;
                held += written;
            }
            outputs.push(out);
        }
        let out = aggregate::join_runs(plan.groups(), outputs);
        self.state.current_samples = base + matrix_samples(&out);
        Ok(out)
    }

    fn step_ctx(&mut self, ts: i64) -> StepCtx<'_> {
        StepCtx {
            ts,
            annotations: &mut self.state.annotations,
            delayed_name_removal: self.env.delayed_name_removal,
        }
    }
}
