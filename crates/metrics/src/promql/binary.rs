//! Binary operators on one evaluation step, as Prometheus's `scalarBinop`,
//! `VectorscalarBinop`, `VectorBinop` and `VectorAnd/Or/Unless`.
//!
//! - `elem`: one operation between two elements (floats or native histograms).
//! - `matching`: vector matching (`on`/`ignoring`, `group_left`/`group_right`, fill
//!   modifiers) and the set operators.
//! - `labels`: label helpers shared with aggregations.

mod elem;
pub(crate) mod labels;
mod matching;

use promql_parser::parser::token::{
    TokenType, T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LSS, T_LTE, T_MOD, T_MUL, T_NEQ,
    T_POW, T_SUB,
};
use promql_parser::parser::BinModifier;

use super::value::{Annotations, EvalError, Vector};

/// What per-step operations need besides their operands.
pub(crate) struct StepCtx<'a> {
    /// The evaluation timestamp of this step, ms.
    pub ts: i64,
    pub annotations: &'a mut Annotations,
    /// Mark `drop_name` instead of removing `__name__` (delayed name removal).
    pub delayed_name_removal: bool,
}

/// An annotation raised by an operation, in Prometheus's wording.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Anno {
    Warn(String),
    Info(String),
}

impl Anno {
    pub(crate) fn add_to(self, annotations: &mut Annotations) {
        match self {
            Anno::Warn(m) => annotations.warn(m),
            Anno::Info(m) => annotations.info(m),
        }
    }
}

/// Whether the operator changes what the metric means, so the result loses `__name__`
/// (Prometheus's `changesMetricSchema`).
pub(crate) fn changes_metric_schema(op: TokenType) -> bool {
    matches!(
        op.id(),
        T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2
    )
}

/// A binary operation between two scalars; comparisons give 1 or 0.
pub(crate) fn scalar_scalar(op: TokenType, lhs: f64, rhs: f64) -> Result<f64, EvalError> {
    let b = |c: bool| if c { 1.0 } else { 0.0 };
    Ok(match op.id() {
        T_ADD => lhs + rhs,
        T_SUB => lhs - rhs,
        T_MUL => lhs * rhs,
        T_DIV => lhs / rhs,
        T_POW => lhs.powf(rhs),
        T_MOD => lhs % rhs,
        T_ATAN2 => lhs.atan2(rhs),
        T_EQLC => b(lhs == rhs),
        T_NEQ => b(lhs != rhs),
        T_GTR => b(lhs > rhs),
        T_LSS => b(lhs < rhs),
        T_GTE => b(lhs >= rhs),
        T_LTE => b(lhs <= rhs),
        _ => {
            return Err(EvalError::Execution(format!(
                "operator \"{op}\" not allowed for Scalar operations"
            )))
        }
    })
}

/// A binary operation between each element of `v` and a scalar. Comparisons keep the
/// vector element's value (or give 1/0 with `bool`).
pub(crate) fn vector_scalar(
    op: TokenType,
    v: Vector,
    scalar: f64,
    scalar_is_lhs: bool,
    return_bool: bool,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let mut out = Vector::with_capacity(v.len());
    let drops_name = changes_metric_schema(op) || return_bool;
    for mut s in v {
        let (lf, rf, lh, rh) = if scalar_is_lhs {
            (scalar, s.f, None, s.h.as_deref())
        } else {
            (s.f, scalar, s.h.as_deref(), None)
        };
        let r = match elem::elem_binop(op, lf, rf, lh, rh) {
            Ok(r) => r,
            Err(anno) => {
                anno.add_to(ctx.annotations);
                continue;
            }
        };
        let (mut f, mut h) = (r.f, r.h);
        if op.is_comparison_operator() && scalar_is_lhs {
            f = s.f;
            h = s.h.take();
        }
        let keep = r.keep || return_bool;
        if !keep {
            continue;
        }
        if return_bool {
            f = if r.keep { 1.0 } else { 0.0 };
            h = None;
        }
        s.f = f;
        s.h = h;
        if drops_name {
            if !ctx.delayed_name_removal {
                s.metric = labels::drop_metadata(s.metric);
            }
            s.drop_name = true;
        }
        out.push(s);
    }
    Ok(out)
}

/// A binary operation between two vectors: arithmetic and comparisons with vector
/// matching, or the set operators `and`, `or`, `unless`.
pub(crate) fn vector_vector(
    op: TokenType,
    lhs: Vector,
    rhs: Vector,
    modifier: Option<&BinModifier>,
    ctx: &mut StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let matching = matching::Matching::new(modifier);
    if op.is_set_operator() {
        return Ok(matching::set_operation(op, lhs, rhs, &matching));
    }
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    matching::vector_binop(op, lhs, rhs, &matching, return_bool, ctx)
}

#[cfg(test)]
mod tests;
