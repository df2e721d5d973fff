//! Aggregation operators on one evaluation step, as Prometheus's `aggregation`,
//! `aggregationK` and `aggregationCountValues`.
//!
//! - `float`: sum avg min max count group stddev stdvar quantile (one output per group).
//! - `k`: topk bottomk limitk limit_ratio (input elements pass through).
//! - `count_values`: one output per group and distinct value.

mod count_values;
mod float;
mod grid;
mod k;
mod range;

pub(crate) use grid::{aggregate_grid, grid_applies};
pub(crate) use range::{is_grouping_op, join_runs, GroupPlan, RangeAggregation};

use promql_parser::parser::token::{
    TokenType, T_BOTTOMK, T_COUNT_VALUES, T_LIMITK, T_LIMIT_RATIO, T_TOPK,
};
use promql_parser::parser::LabelModifier;
use sextant_model::Labels;

use super::binary::labels::{filtered, signature, METRIC_NAME};
use super::binary::StepCtx;
use super::value::{EvalError, Vector};

/// The parameter of an aggregation at this step: `k`/`φ`/ratio, or count_values' label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AggParam<'a> {
    None,
    Scalar(f64),
    Str(&'a str),
}

/// Aggregates one step's input vector.
pub(crate) fn aggregate(
    op: TokenType,
    input: Vector,
    modifier: Option<&LabelModifier>,
    param: AggParam<'_>,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let grouping = Grouping::new(modifier);
    let scalar = match param {
        AggParam::Scalar(f) => f,
        _ => f64::NAN,
    };
    match op.id() {
        T_COUNT_VALUES => {
            let AggParam::Str(label) = param else {
                return Err(EvalError::Execution(
                    "count_values needs a label name".into(),
                ));
            };
            count_values::count_values(input, &grouping, label)
        }
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
            k::aggregate_k(op, input, &grouping, scalar, ctx)
        }
        _ => float::aggregate_groups(op, input, &grouping, scalar, ctx),
    }
}

/// `by (...)` or `without (...)`.
pub(super) struct Grouping {
    without: bool,
    names: Vec<String>,
}

impl Grouping {
    fn new(modifier: Option<&LabelModifier>) -> Self {
        let (without, names) = match modifier {
            Some(LabelModifier::Include(ls)) => (false, ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => (true, ls.labels.clone()),
            None => (false, Vec::new()),
        };
        Grouping { without, names }
    }

    /// The group an element with these labels belongs to.
    fn key(&self, labels: &Labels) -> u64 {
        signature(labels, !self.without, &self.names)
    }

    /// The labels of the group's output.
    fn labels(&self, labels: &Labels) -> Labels {
        let listed = |name: &str| self.names.iter().any(|n| n == name);
        if self.without {
            filtered(labels, |l| !listed(&l.name) && l.name != METRIC_NAME)
        } else {
            filtered(labels, |l| listed(&l.name))
        }
    }
}

#[cfg(test)]
mod tests;
