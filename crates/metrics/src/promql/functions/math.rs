//! Element-wise float functions (`abs`, `ln`, trigonometry, ...), `clamp*`, `round`,
//! `sort`/`sort_desc` and the scalar `min_of`/`max_of`.

use std::cmp::Ordering;

use sextant_model::Labels;

use crate::promql::binary::StepCtx;
use crate::promql::value::{EvalError, Sample, Vector};

use super::{first_vector, name_dropping_sample, scalar_arg, FnArg};

/// The element-wise function called `name`, if it is one.
pub(super) fn float_function(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => sgn,
        _ => return None,
    };
    Some(f)
}

fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Applies `f` to every float sample (histogram samples are dropped); the metric name goes.
pub(super) fn map_floats(v: Vector, ctx: &StepCtx<'_>, f: impl Fn(f64) -> f64) -> Vector {
    v.into_iter()
        .filter(|s| s.h.is_none())
        .map(|s| name_dropping_sample(s.metric, ctx.ts, f(s.f), ctx.delayed_name_removal))
        .collect()
}

/// `clamp(v, min, max)`, `clamp_min(v, min)`, `clamp_max(v, max)`, `round(v, to_nearest=1)`.
pub(super) fn clamp_or_round(
    name: &str,
    args: Vec<FnArg>,
    ctx: &StepCtx<'_>,
) -> Result<Vector, EvalError> {
    let (a, b) = (scalar_arg(&args, 1), scalar_arg(&args, 2));
    let to_nearest = if args.len() >= 2 { a } else { 1.0 };
    let v = first_vector(args);
    let (min, max) = match name {
        "clamp" => (a, b),
        "clamp_min" => (a, f64::INFINITY),
        "clamp_max" => (f64::NEG_INFINITY, a),
        _ => {
            // Ties round up; inverting avoids some floating point error (as upstream).
            let inverse = 1.0 / to_nearest;
            return Ok(map_floats(v, ctx, |f| {
                (f * inverse + 0.5).floor() / inverse
            }));
        }
    };
    if max < min {
        return Ok(Vector::new());
    }
    Ok(map_floats(v, ctx, |f| go_max(min, go_min(max, f))))
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `sort` (ascending) and `sort_desc`; NaN sorts last either way, histograms are dropped.
pub(super) fn sort(v: Vector, descending: bool) -> Vector {
    let mut v: Vector = v.into_iter().filter(|s| s.h.is_none()).collect();
    v.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.f.partial_cmp(&a.f).unwrap_or(Ordering::Equal),
        _ => a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal),
    });
    v
}

/// `min_of(a, b)` / `max_of(a, b)`: a scalar, returned as one sample without labels.
pub(super) fn min_max_of(name: &str, args: &[FnArg], ts: i64) -> Vector {
    let (a, b) = (scalar_arg(args, 0), scalar_arg(args, 1));
    let f = if name == "min_of" {
        go_min(a, b)
    } else {
        go_max(a, b)
    };
    vec![Sample {
        metric: Labels::default(),
        t: ts,
        f,
        h: None,
        drop_name: false,
    }]
}

#[cfg(test)]
#[path = "math_tests.rs"]
mod tests;
