//! Choosing the exponent and codes of a decimal chunk, and writing it.

use super::super::bits::BitWriter;
use super::super::rice::{self, zigzag, RiceCode};
use super::{base_bits, DecimalChunk, Header, MAX_EXP, POW10};

/// Mantissas stay below 2^53 in magnitude, where every integer is an exact f64.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// Encodes 1..=`u16::MAX` samples; `None` for other counts. Timestamps may be in any order
/// (deltas wrap), though increasing ones are what it is built for.
pub(crate) fn encode(samples: &[(i64, f64)]) -> Option<DecimalChunk> {
    let num_samples = u16::try_from(samples.len()).ok().filter(|&n| n > 0)?;
    let (t0, _) = samples[0];
    let t_last = samples[samples.len() - 1].0;
    let dt1 = samples.get(1).map_or(0, |s| s.0.wrapping_sub(t0) as u64);
    let dods: Vec<u64> = samples
        .windows(3)
        .map(|w| {
            let d1 = w[1].0.wrapping_sub(w[0].0);
            let d2 = w[2].0.wrapping_sub(w[1].0);
            zigzag(d2.wrapping_sub(d1))
        })
        .collect();
    let (dod_code, _) = rice::choose(&dods);
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let plan = plan_values(&values);
    let header = Header {
        num_samples,
        t0,
        span: t_last.wrapping_sub(t0) as u64,
        dt1,
        exp: plan.exp,
        signed: plan.signed,
        step: plan.step,
        bias: plan.bias,
        m0: plan.m0,
        r0: plan.r0,
        dods: dod_code,
        mantissas: plan.mantissa_code,
        residuals: plan.residual_code,
    };
    let mut w = BitWriter::with_capacity(samples.len() + 32);
    header.write(&mut w);
    for i in 1..samples.len() {
        if let (RiceCode::K(k), Some(&u)) = (dod_code, i.checked_sub(2).and_then(|j| dods.get(j))) {
            rice::write_value(&mut w, k, u);
        }
        if let RiceCode::K(k) = plan.mantissa_code {
            rice::write_value(&mut w, k, plan.mantissas[i - 1]);
        }
        if let RiceCode::K(k) = plan.residual_code {
            rice::write_value(&mut w, k, plan.residuals[i - 1]);
        }
    }
    Some(DecimalChunk {
        bytes: w.into_bytes().into_boxed_slice(),
        num_samples,
        min_time: t0,
        max_time: t_last,
    })
}

/// How the values of a chunk are written, and what that costs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValuePlan {
    exp: u8,
    signed: bool,
    step: u64,
    bias: i64,
    m0: i64,
    r0: i64,
    /// Coded mantissa steps of samples 1.., ready for the Rice writer.
    mantissas: Vec<u64>,
    mantissa_code: RiceCode,
    /// Zig-zag residual deltas of samples 1...
    residuals: Vec<u64>,
    residual_code: RiceCode,
    bits: u64,
}

impl ValuePlan {
    /// Whether every value is exactly its decimal mantissa (no residual bits at all).
    fn is_clean(&self) -> bool {
        self.r0 == 0 && self.residual_code == RiceCode::AllZero
    }
}

/// Tries exponents from 0 up and keeps the cheapest plan. Stops at the first exponent whose
/// residuals are all zero (a larger one only grows the mantissas) or after two exponents in a
/// row that do not improve.
fn plan_values(values: &[f64]) -> ValuePlan {
    let mut best = plan_for_exp(values, 0);
    let mut worse = 0;
    let mut clean = best.is_clean();
    for exp in 1..=MAX_EXP {
        if clean || worse == 2 {
            break;
        }
        let plan = plan_for_exp(values, exp);
        clean = plan.is_clean();
        if plan.bits < best.bits {
            best = plan;
            worse = 0;
        } else {
            worse += 1;
        }
    }
    best
}

fn plan_for_exp(values: &[f64], exp: u8) -> ValuePlan {
    let scale = POW10[usize::from(exp)];
    let mut mantissas = Vec::with_capacity(values.len());
    let mut residuals = Vec::with_capacity(values.len());
    let mut m = 0i64;
    for &v in values {
        let scaled = v * scale;
        // NaN fails the comparison and keeps the previous mantissa too
        if scaled.abs() < MAX_MANTISSA {
            m = scaled.round() as i64;
        }
        mantissas.push(m);
        residuals.push(v.to_bits().wrapping_sub(base_bits(m, exp)) as i64);
    }
    let (m0, r0) = (mantissas[0], residuals[0]);
    let steps: Vec<i64> = mantissas.windows(2).map(|w| w[1] - w[0]).collect();
    let residuals: Vec<u64> = residuals
        .windows(2)
        .map(|w| zigzag(w[1].wrapping_sub(w[0])))
        .collect();
    let (residual_code, residual_bits) = rice::choose(&residuals);
    let step = steps
        .iter()
        .fold(0u64, |g, &d| gcd(g, d.unsigned_abs()))
        .max(1);
    let quotients: Vec<i64> = steps.iter().map(|&d| d / step as i64).collect();
    let coded = code_quotients(&quotients);
    let header_bits = 4 + 1 + 8 * (varint_len(step) + zvarint_len(coded.bias)) as u64;
    let value_bits = 8 * (zvarint_len(m0) + zvarint_len(r0)) as u64;
    ValuePlan {
        exp,
        signed: coded.signed,
        step,
        bias: coded.bias,
        m0,
        r0,
        bits: coded.bits + residual_bits + header_bits + value_bits,
        mantissas: coded.values,
        mantissa_code: coded.code,
        residuals,
        residual_code,
    }
}

struct CodedQuotients {
    signed: bool,
    bias: i64,
    values: Vec<u64>,
    code: RiceCode,
    bits: u64,
}

/// Mantissa steps divided by their common factor: either offset by their minimum (counters,
/// never negative) or centred on their median and zig-zagged (gauges), whichever is smaller.
fn code_quotients(quotients: &[i64]) -> CodedQuotients {
    let offset = |bias: i64, signed: bool| {
        let values: Vec<u64> = quotients
            .iter()
            .map(|&q| {
                let d = q.wrapping_sub(bias);
                if signed {
                    zigzag(d)
                } else {
                    d as u64
                }
            })
            .collect();
        let (code, bits) = rice::choose(&values);
        CodedQuotients {
            signed,
            bias,
            values,
            code,
            bits,
        }
    };
    let min = quotients.iter().copied().min().unwrap_or(0);
    let unsigned = offset(min, false);
    let mut sorted = quotients.to_vec();
    let median = match sorted.len() {
        0 => 0,
        n => *sorted.select_nth_unstable(n / 2).1,
    };
    let signed = offset(median, true);
    if signed.bits < unsigned.bits {
        signed
    } else {
        unsigned
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn zvarint_len(v: i64) -> usize {
    varint_len(zigzag(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_by_value_kind() {
        // (name, values, exponent, step, all-zero residuals)
        let float_counter: Vec<f64> = (0..100)
            .scan(1234.56, |v, i| {
                *v += [0.31, 0.27, 0.3][i % 3];
                Some(*v)
            })
            .collect();
        let cases: Vec<(&str, Vec<f64>, u8, u64, bool)> = vec![
            ("constant", vec![42.0; 50], 0, 1, true),
            (
                "memory in pages",
                (0..50).map(|i| 4096.0 * (1000 + i % 7) as f64).collect(),
                0,
                4096,
                true,
            ),
            (
                "two decimals",
                (0..50).map(|i| (1000 + i * 3) as f64 / 100.0).collect(),
                2,
                3,
                true,
            ),
            ("float counter", float_counter, 2, 1, false),
            (
                "integer counter",
                (0..50).map(|i| (i * i) as f64).collect(),
                0,
                1,
                true,
            ),
        ];
        for (name, values, exp, step, clean) in cases {
            let plan = plan_values(&values);
            assert_eq!(plan.exp, exp, "{name}");
            assert_eq!(plan.step, step, "{name}");
            assert_eq!(plan.is_clean(), clean, "{name}");
        }
    }

    #[test]
    fn counters_are_offset_and_gauges_zigzagged() {
        let counter: Vec<i64> = (0..50).map(|i| 10 + i % 4).collect();
        let gauge: Vec<i64> = (0..50).map(|i| [-3, 2, 0, 1, -1][i % 5]).collect();
        let c = code_quotients(&counter);
        assert_eq!((c.signed, c.bias), (false, 10));
        let g = code_quotients(&gauge);
        assert_eq!((g.signed, g.bias), (true, 0));
    }

    #[test]
    fn varint_lengths() {
        for (v, len) in [(0u64, 1), (127, 1), (128, 2), (u64::MAX, 10)] {
            assert_eq!(varint_len(v), len, "{v}");
        }
    }
}
