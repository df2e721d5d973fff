//! One binary operation between two vector elements (floats or native histograms), as
//! Prometheus's `vectorElemBinop`.

use promql_parser::parser::token::TokenType;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LSS, T_LTE, T_MOD, T_MUL, T_NEQ, T_POW, T_SUB,
};

use super::super::histogram::{CounterResetHint, FloatHistogram, HistogramError, Span};
use super::Anno;

/// The outcome for one pair of elements that produced a value.
pub(super) struct ElemValue {
    pub f: f64,
    pub h: Option<Box<FloatHistogram>>,
    /// Comparison result (always true for arithmetic).
    pub keep: bool,
    /// An annotation that does not drop the element.
    pub note: Option<Anno>,
}

impl ElemValue {
    fn float(f: f64, keep: bool) -> Self {
        ElemValue {
            f,
            h: None,
            keep,
            note: None,
        }
    }

    fn histogram(h: FloatHistogram, note: Option<Anno>) -> Self {
        ElemValue {
            f: 0.0,
            h: Some(Box::new(h)),
            keep: true,
            note,
        }
    }
}

/// Applies `op` to two elements. `Err` means the pair yields nothing and carries the
/// annotation to add.
pub(super) fn elem_binop(
    op: TokenType,
    lhs: f64,
    rhs: f64,
    hlhs: Option<&FloatHistogram>,
    hrhs: Option<&FloatHistogram>,
) -> Result<ElemValue, Anno> {
    match (hlhs, hrhs) {
        (None, None) => float_binop(op, lhs, rhs),
        (None, Some(h)) if op.id() == T_MUL => Ok(scaled(h, |c| c.mul(lhs))),
        (Some(h), None) if op.id() == T_MUL => Ok(scaled(h, |c| c.mul(rhs))),
        (Some(h), None) if op.id() == T_DIV => Ok(scaled(h, |c| c.div(rhs))),
        (Some(l), Some(r)) => histogram_binop(op, l, r),
        (l, r) => Err(incompatible(op, l.is_some(), r.is_some())),
    }
}

fn float_binop(op: TokenType, l: f64, r: f64) -> Result<ElemValue, Anno> {
    let v = |f| Ok(ElemValue::float(f, true));
    let cmp = |keep| Ok(ElemValue::float(l, keep));
    match op.id() {
        T_ADD => v(l + r),
        T_SUB => v(l - r),
        T_MUL => v(l * r),
        T_DIV => v(l / r),
        T_POW => v(l.powf(r)),
        // Go's `math.Mod` and Rust's `%` both keep the sign of the dividend.
        T_MOD => v(l % r),
        T_ATAN2 => v(l.atan2(r)),
        T_EQLC => cmp(l == r),
        T_NEQ => cmp(l != r),
        T_GTR => cmp(l > r),
        T_LSS => cmp(l < r),
        T_GTE => cmp(l >= r),
        T_LTE => cmp(l <= r),
        _ => Err(incompatible(op, false, false)),
    }
}

fn scaled(
    h: &FloatHistogram,
    f: impl FnOnce(&mut FloatHistogram) -> &mut FloatHistogram,
) -> ElemValue {
    let mut c = h.clone();
    f(&mut c).compact(0);
    ElemValue::histogram(c, None)
}

fn histogram_binop(
    op: TokenType,
    l: &FloatHistogram,
    r: &FloatHistogram,
) -> Result<ElemValue, Anno> {
    match op.id() {
        T_ADD | T_SUB => {
            let sub = op.id() == T_SUB;
            let mut res = l.clone();
            let report = if sub {
                res.sub_detailed(r)
            } else {
                res.add_detailed(r)
            };
            let report = report.map_err(|e| bucket_layout_error(op, e))?;
            let what = if sub { "subtraction" } else { "addition" };
            if sub {
                res.counter_reset_hint = CounterResetHint::Gauge;
            }
            if report.counter_reset_collision {
                return Err(Anno::Warn(format!(
                    "PromQL warning: conflicting counter resets during histogram {what}"
                )));
            }
            let note = report.nhcb_bounds_reconciled.then(|| {
                Anno::Info(format!(
                    "PromQL info: mismatched custom buckets were reconciled during {what}"
                ))
            });
            res.compact(0);
            Ok(ElemValue::histogram(res, note))
        }
        T_EQLC | T_NEQ => {
            let equal = histograms_equal(l, r);
            let keep = if op.id() == T_EQLC { equal } else { !equal };
            Ok(ElemValue {
                f: 0.0,
                h: Some(Box::new(l.clone())),
                keep,
                note: None,
            })
        }
        _ => Err(incompatible(op, true, true)),
    }
}

fn bucket_layout_error(op: TokenType, e: HistogramError) -> Anno {
    match e {
        HistogramError::IncompatibleSchema => Anno::Warn(format!(
            "PromQL warning: incompatible bucket layout encountered for binary operator {op}"
        )),
        other => Anno::Warn(format!("PromQL warning: {other}")),
    }
}

/// Prometheus's `NewIncompatibleTypesInBinOpInfo`.
fn incompatible(op: TokenType, lhs_histogram: bool, rhs_histogram: bool) -> Anno {
    let kind = |h| if h { "histogram" } else { "float" };
    Anno::Info(format!(
        "PromQL info: incompatible sample types encountered for binary operator \"{op}\": {} {op} {}",
        kind(lhs_histogram),
        kind(rhs_histogram)
    ))
}

/// Prometheus's `FloatHistogram.Equals`: exact comparison of everything but the counter
/// reset hint, ignoring empty spans.
fn histograms_equal(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let spans = |s: &[Span]| {
        s.iter()
            .filter(|s| s.length > 0)
            .copied()
            .collect::<Vec<_>>()
    };
    a.schema == b.schema
        && a.count == b.count
        && a.sum.to_bits() == b.sum.to_bits()
        && (!a.uses_custom_buckets() || a.custom_values == b.custom_values)
        && a.zero_threshold == b.zero_threshold
        && a.zero_count == b.zero_count
        && spans(&a.negative_spans) == spans(&b.negative_spans)
        && a.negative_buckets == b.negative_buckets
        && spans(&a.positive_spans) == spans(&b.positive_spans)
        && a.positive_buckets == b.positive_buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u16) -> TokenType {
        TokenType::new(id)
    }

    #[test]
    fn float_operations() {
        let cases: [(u16, f64, f64, f64, bool); 10] = [
            (T_ADD, 1.0, 2.0, 3.0, true),
            (T_SUB, 1.0, 2.0, -1.0, true),
            (T_MUL, 3.0, 2.0, 6.0, true),
            (T_DIV, 1.0, 0.0, f64::INFINITY, true),
            (T_POW, 2.0, 10.0, 1024.0, true),
            (T_MOD, -7.0, 3.0, -1.0, true),
            (T_EQLC, 1.0, 1.0, 1.0, true),
            (T_NEQ, 1.0, 1.0, 1.0, false),
            (T_GTR, 2.0, 1.0, 2.0, true),
            (T_LTE, 2.0, 1.0, 2.0, false),
        ];
        for (id, l, r, want, keep) in cases {
            let v = elem_binop(op(id), l, r, None, None).expect("value");
            assert_eq!((v.f, v.keep), (want, keep), "{l} {} {r}", op(id));
        }
    }

    #[test]
    fn histogram_with_float_is_info_except_scaling() {
        let h = FloatHistogram {
            count: 2.0,
            sum: 4.0,
            ..Default::default()
        };
        let scaled = elem_binop(op(T_MUL), 0.0, 3.0, Some(&h), None).expect("value");
        assert_eq!(scaled.h.map(|h| h.count), Some(6.0));
        let divided = elem_binop(op(T_DIV), 0.0, 2.0, Some(&h), None).expect("value");
        assert_eq!(divided.h.map(|h| h.sum), Some(2.0));
        match elem_binop(op(T_ADD), 1.0, 0.0, None, Some(&h)) {
            Err(Anno::Info(m)) => assert_eq!(
                m,
                "PromQL info: incompatible sample types encountered for binary operator \"+\": float + histogram"
            ),
            _ => panic!("expected info"),
        }
        assert!(elem_binop(op(T_DIV), 1.0, 0.0, None, Some(&h)).is_err());
        assert!(elem_binop(op(T_GTR), 0.0, 0.0, Some(&h), Some(&h)).is_err());
    }

    #[test]
    fn histogram_equality() {
        let a = FloatHistogram {
            count: 2.0,
            sum: 4.0,
            ..Default::default()
        };
        let mut b = a.clone();
        b.counter_reset_hint = CounterResetHint::Gauge;
        assert!(
            elem_binop(op(T_EQLC), 0.0, 0.0, Some(&a), Some(&b))
                .expect("v")
                .keep
        );
        b.sum = 5.0;
        assert!(
            elem_binop(op(T_NEQ), 0.0, 0.0, Some(&a), Some(&b))
                .expect("v")
                .keep
        );
    }
}
