//! Rice codes for streams of small unsigned integers, with one parameter per stream.
//!
//! A stream starts with a 6-bit header: `k` (0..=[`MAX_K`]) or [`ALL_ZERO`] when every value
//! is zero (then no bits follow). A value `u` is written as `q = u >> k` zero bits, a one bit
//! and the low `k` bits of `u`. A quotient of [`ESCAPE`] or more is written as [`ESCAPE`] zero
//! bits, 6 bits holding the bit length of `u` minus one, then `u` in that many bits, so one
//! outlier costs at most 94 bits.

use super::bits::{BitReader, BitWriter};

/// Quotients from here on are escaped.
const ESCAPE: u32 = 24;
/// The largest Rice parameter.
pub(crate) const MAX_K: u8 = 62;
/// The header value for a stream of zeros.
const ALL_ZERO: u8 = 63;
const HEADER_BITS: u64 = 6;

/// How a stream is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RiceCode {
    /// Every value is zero: no bits per value.
    AllZero,
    /// Rice parameter `k`.
    K(u8),
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn bit_len(u: u64) -> u32 {
    64 - u.leading_zeros()
}

/// Bits of one value with parameter `k`.
fn value_bits(u: u64, k: u8) -> u64 {
    let q = u >> k;
    if q < u64::from(ESCAPE) {
        q + 1 + u64::from(k)
    } else {
        u64::from(ESCAPE + 6 + bit_len(u))
    }
}

/// Bits of a whole stream (header included) with parameter `k`.
fn stream_bits(values: &[u64], k: u8) -> u64 {
    HEADER_BITS + values.iter().map(|&u| value_bits(u, k)).sum::<u64>()
}

/// [`stream_bits`] for the four parameters from `base` on, in one pass.
fn window_bits(values: &[u64], base: u8) -> [u64; 4] {
    let mut sums = [HEADER_BITS; 4];
    for &u in values {
        for (i, sum) in (0u8..).zip(sums.iter_mut()) {
            *sum += value_bits(u, base + i);
        }
    }
    sums
}

/// The cheapest code for `values` (all zeros when empty) and its size in bits, header included.
///
/// The cost is nearly convex in `k`: try a window of four parameters around the median bit
/// length of a sample of the values (outliers do not move it), then walk downhill past the
/// window's edge if need be.
pub(crate) fn choose(values: &[u64]) -> (RiceCode, u64) {
    if values.iter().all(|&u| u == 0) {
        return (RiceCode::AllZero, HEADER_BITS);
    }
    let mut lens = [0u8; 32];
    let stride = values.len().div_ceil(lens.len());
    let mut sampled = 0;
    for (len, &u) in lens.iter_mut().zip(values.iter().step_by(stride)) {
        *len = bit_len(u) as u8;
        sampled += 1;
    }
    let lens = &mut lens[..sampled];
    let median_len = *lens.select_nth_unstable(sampled / 2).1;
    let base = median_len.saturating_sub(2).min(MAX_K - 3);
    let sums = window_bits(values, base);
    let (mut i, mut best) = (0, sums[0]);
    for (j, &bits) in sums.iter().enumerate().skip(1) {
        if bits < best {
            (i, best) = (j, bits);
        }
    }
    let mut k = base + i as u8;
    let step = match i {
        0 => -1,
        3 => 1,
        _ => return (RiceCode::K(k), best),
    };
    while let Some(next) = k.checked_add_signed(step).filter(|&n| n <= MAX_K) {
        let bits = stream_bits(values, next);
        if bits >= best {
            break;
        }
        (k, best) = (next, bits);
    }
    (RiceCode::K(k), best)
}

pub(crate) fn write_header(w: &mut BitWriter, code: RiceCode) {
    match code {
        RiceCode::AllZero => w.write_bits(u64::from(ALL_ZERO), 6),
        RiceCode::K(k) => w.write_bits(u64::from(k), 6),
    }
}

/// Writes one value of a stream coded with parameter `k`.
pub(crate) fn write_value(w: &mut BitWriter, k: u8, u: u64) {
    let q = u >> k;
    if q < u64::from(ESCAPE) {
        w.write_bits(1, q as u8 + 1);
        w.write_bits(u, k);
    } else {
        let len = bit_len(u) as u8;
        w.write_bits(0, ESCAPE as u8);
        w.write_bits(u64::from(len - 1), 6);
        w.write_bits(u, len);
    }
}

pub(crate) fn read_header(r: &mut BitReader<'_>) -> Option<RiceCode> {
    match r.read_bits(6)? as u8 {
        ALL_ZERO => Some(RiceCode::AllZero),
        k => Some(RiceCode::K(k)),
    }
}

/// Reads one value of a stream coded with parameter `k`.
#[inline]
pub(crate) fn read_value(r: &mut BitReader<'_>, k: u8) -> Option<u64> {
    let window = r.peek_u64();
    let q = window.leading_zeros();
    if q >= ESCAPE {
        r.skip(ESCAPE as usize)?;
        let len = r.read_bits(6)? as u8 + 1;
        return r.read_bits(len);
    }
    let used = q + 1 + u32::from(k);
    if used <= 64 {
        r.skip(used as usize)?;
        let low = if k == 0 {
            0
        } else {
            (window << (q + 1)) >> (64 - u32::from(k))
        };
        return Some((u64::from(q) << k) | low);
    }
    r.skip(q as usize + 1)?;
    let low = r.read_bits(k)?;
    Some((u64::from(q) << k) | low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[u64]) -> (RiceCode, usize) {
        let (code, bits) = choose(values);
        let mut w = BitWriter::default();
        w.write_bit(true); // misalign on purpose
        write_header(&mut w, code);
        if let RiceCode::K(k) = code {
            for &u in values {
                write_value(&mut w, k, u);
            }
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read_bit(), Some(true));
        let read = read_header(&mut r).unwrap();
        assert_eq!(read, code);
        for &u in values {
            let got = match read {
                RiceCode::AllZero => 0,
                RiceCode::K(k) => read_value(&mut r, k).unwrap(),
            };
            assert_eq!(got, u);
        }
        assert_eq!(
            bytes.len(),
            (bits as usize + 1).div_ceil(8),
            "cost matches size"
        );
        (code, bytes.len())
    }

    #[test]
    fn chooses_the_code_by_magnitude() {
        let cases: Vec<(&str, Vec<u64>, RiceCode)> = vec![
            ("zeros", vec![0; 100], RiceCode::AllZero),
            (
                "mostly zero",
                [vec![0; 99], vec![1]].concat(),
                RiceCode::K(0),
            ),
            (
                "around 1000",
                (0..100).map(|i| 900 + i * 2).collect(),
                RiceCode::K(9),
            ),
            ("huge", vec![u64::MAX; 3], RiceCode::K(62)),
        ];
        for (name, values, want) in cases {
            assert_eq!(round_trip(&values).0, want, "{name}");
        }
    }

    #[test]
    fn outliers_are_escaped() {
        let mut values = vec![3u64; 50];
        values[7] = u64::MAX;
        values[8] = 1 << 40;
        let (code, len) = round_trip(&values);
        assert!(matches!(code, RiceCode::K(1 | 2)), "{code:?}");
        assert!(len < 50 * 3 / 8 + 30, "{len} bytes");
    }

    proptest! {
        #[test]
        fn streams_round_trip(values in proptest::collection::vec(
            prop_oneof![any::<u64>(), 0u64..4, 0u64..5000], 1..200)) {
            round_trip(&values);
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut r = BitReader::new(&bytes);
            if let Some(RiceCode::K(k)) = read_header(&mut r) {
                while read_value(&mut r, k).is_some() {}
            }
        }
    }
}
