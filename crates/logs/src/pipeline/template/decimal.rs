//! The decimal arithmetic behind sprig's `addf`/`subf`/`mulf`/`divf` (shopspring/decimal):
//! each float enters as its shortest decimal form, `+ - *` are exact and `/` rounds half away
//! from zero to 16 decimal places, so `20.2 / 5.25` prints as Go prints it. Results too large
//! for the 128-bit mantissa fall back to plain float arithmetic.

/// `m × 10^e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    m: i128,
    e: i32,
}

/// shopspring's `DivisionPrecision`.
const DIVISION_PLACES: i32 = 16;

impl Decimal {
    fn from_f64(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        // `{:e}` prints the shortest round-trip digits: `-3.25e-1`.
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
        let m: i128 = mantissa.replace('.', "").parse().ok()?;
        Some(Decimal {
            m,
            e: exp - decimals,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }

    fn rescale(self, e: i32) -> Option<i128> {
        let shift = u32::try_from(self.e - e).ok()?;
        self.m.checked_mul(10i128.checked_pow(shift)?)
    }

    fn add(self, other: Decimal) -> Option<Decimal> {
        let e = self.e.min(other.e);
        Some(Decimal {
            m: self.rescale(e)?.checked_add(other.rescale(e)?)?,
            e,
        })
    }

    fn neg(self) -> Decimal {
        Decimal {
            m: -self.m,
            e: self.e,
        }
    }

    fn mul(self, other: Decimal) -> Option<Decimal> {
        Some(Decimal {
            m: self.m.checked_mul(other.m)?,
            e: self.e.checked_add(other.e)?,
        })
    }

    fn div(self, other: Decimal) -> Option<Decimal> {
        let k = self.e - other.e + DIVISION_PLACES;
        let (num, den) = if k >= 0 {
            (self.m.checked_mul(10i128.checked_pow(k as u32)?)?, other.m)
        } else {
            (
                self.m,
                other.m.checked_mul(10i128.checked_pow((-k) as u32)?)?,
            )
        };
        let q = num / den;
        let r = num % den;
        // round half away from zero
        let q = if 2 * r.unsigned_abs() >= den.unsigned_abs() {
            q + if (num < 0) != (den < 0) { -1 } else { 1 }
        } else {
            q
        };
        Some(Decimal {
            m: q,
            e: -DIVISION_PLACES,
        })
    }
}

/// The arithmetic operations of the float functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Folds `rest` into `first` with `op`, as sprig's `execDecimalOp` does.
pub(crate) fn fold(op: Op, first: f64, rest: impl Iterator<Item = f64>) -> Result<f64, String> {
    let mut exact = Decimal::from_f64(first);
    let mut approx = first;
    for x in rest {
        if op == Op::Div && x == 0.0 {
            return Err("decimal division by 0".into());
        }
        let dx = Decimal::from_f64(x);
        exact = exact.zip(dx).and_then(|(a, b)| match op {
            Op::Add => a.add(b),
            Op::Sub => a.add(b.neg()),
            Op::Mul => a.mul(b),
            Op::Div => a.div(b),
        });
        approx = match op {
            Op::Add => approx + x,
            Op::Sub => approx - x,
            Op::Mul => approx * x,
            Op::Div => approx / x,
        };
    }
    Ok(exact.map_or(approx, Decimal::to_f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_like_shopspring() {
        let cases: &[(Op, f64, &[f64], f64)] = &[
            (Op::Add, 0.0, &[1.5, 1.5], 3.0),
            (Op::Add, 0.1, &[0.2], 0.3),
            (Op::Sub, 5.0, &[1.5, 3.0], 0.5),
            (Op::Mul, 10.5, &[0.5], 5.25),
            (Op::Div, 20.2, &[5.25], 3.8476190476190477),
            (Op::Div, 1.0, &[3.0], 0.3333333333333333),
            (Op::Div, -2.0, &[3.0], -0.6666666666666667),
            (Op::Mul, 1e300, &[1e300], f64::INFINITY),
        ];
        for (op, first, rest, want) in cases {
            let got = fold(*op, *first, rest.iter().copied()).unwrap();
            assert_eq!(got, *want, "{op:?} {first} {rest:?}");
        }
        assert!(fold(Op::Div, 1.0, [0.0].into_iter()).is_err());
    }
}
