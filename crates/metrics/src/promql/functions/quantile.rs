//! Quantiles and fractions of classic histograms (`le` bucket series), as upstream's
//! `promql/quantile.go`.

/// One classic bucket: its upper bound and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// What [`bucket_quantile`] had to repair in its input.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct QuantileRepairs {
    /// Counts decreased with growing bounds and were raised to keep them monotonic.
    pub forced_monotonicity: bool,
}

/// Sorts by upper bound and merges buckets with the same bound. `None` without a `+Inf`
/// bucket.
fn normalize(buckets: &mut Vec<Bucket>) -> Option<()> {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if buckets.last()?.upper != f64::INFINITY {
        return None;
    }
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
    Some(())
}

/// Snaps counts that differ from their predecessor by a relative `tolerance` or less.
fn correct_precision_errors(buckets: &mut [Bucket], tolerance: f64) {
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let delta = (b.count - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / b.count <= tolerance {
            b.count = prev;
        } else {
            prev = b.count;
        }
    }
}

/// Raises counts that are lower than a predecessor's; whether anything changed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut max = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
            forced = true;
        }
    }
    forced
}

/// The φ-quantile `q` of classic buckets, interpolating linearly within a bucket (the lowest
/// bucket from 0 when its bound is positive; the `+Inf` bucket yields the second highest
/// bound).
pub(super) fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> (f64, QuantileRepairs) {
    let mut repairs = QuantileRepairs::default();
    if q.is_nan() {
        return (f64::NAN, repairs);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, repairs);
    }
    if q > 1.0 {
        return (f64::INFINITY, repairs);
    }
    if normalize(&mut buckets).is_none() {
        return (f64::NAN, repairs);
    }
    correct_precision_errors(&mut buckets, 1e-12);
    repairs.forced_monotonicity = ensure_monotonic(&mut buckets);
    let n = buckets.len();
    if n < 2 {
        return (f64::NAN, repairs);
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, repairs);
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|b| b.count < rank);
    if b == n - 1 {
        return (buckets[n - 2].upper, repairs);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, repairs);
    }
    let (mut start, end, mut count) = (0.0, buckets[b].upper, buckets[b].count);
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), repairs)
}

/// The fraction of observations between `lower` and `upper`, interpolating linearly within
/// buckets (the lowest bucket from 0 when its bound is positive).
pub(super) fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<Bucket>) -> f64 {
    if normalize(&mut buckets).is_none() {
        return f64::NAN;
    }
    let total = buckets[buckets.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let rank_at = |x: f64| -> f64 {
        let mut prev_upper = f64::NEG_INFINITY;
        let mut prev_count = 0.0;
        for (i, b) in buckets.iter().enumerate() {
            let lo = if i == 0 && b.upper > 0.0 {
                0.0
            } else {
                prev_upper
            };
            if x <= lo {
                return prev_count;
            }
            if x < b.upper {
                // Observations in an infinitely wide bucket sit at its infinite end.
                if lo == f64::NEG_INFINITY {
                    return b.count;
                }
                if b.upper == f64::INFINITY {
                    return prev_count;
                }
                return prev_count + (b.count - prev_count) * (x - lo) / (b.upper - lo);
            }
            prev_upper = b.upper;
            prev_count = b.count;
        }
        total
    };
    (rank_at(upper).min(total) - rank_at(lower).min(total)) / total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn quantiles() {
        let inf = f64::INFINITY;
        let b = buckets(&[(0.1, 10.0), (0.2, 20.0), (inf, 40.0), (0.5, 30.0)]);
        let cases = [
            (0.0, 0.0),
            (0.25, 0.1),
            (0.5, 0.2),
            (0.6, 0.32),
            (0.99, 0.5),
            (-1.0, f64::NEG_INFINITY),
            (2.0, f64::INFINITY),
        ];
        for (q, want) in cases {
            let (got, repairs) = bucket_quantile(q, b.clone());
            assert!(
                (got - want).abs() < 1e-12 || got == want,
                "q={q}: {got} != {want}"
            );
            assert!(!repairs.forced_monotonicity);
        }
        assert!(
            bucket_quantile(0.5, buckets(&[(1.0, 3.0)])).0.is_nan(),
            "no +Inf bucket"
        );
        assert!(
            bucket_quantile(0.5, buckets(&[(inf, 0.0), (1.0, 0.0)]))
                .0
                .is_nan(),
            "empty"
        );
    }

    #[test]
    fn quantile_forces_monotonicity() {
        let b = buckets(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        let (got, repairs) = bucket_quantile(0.5, b);
        assert_eq!(got, 0.5);
        assert!(repairs.forced_monotonicity);
    }

    #[test]
    fn fractions() {
        let inf = f64::INFINITY;
        let b = buckets(&[(1.0, 10.0), (2.0, 20.0), (inf, 40.0)]);
        let cases = [
            (f64::NEG_INFINITY, inf, 1.0),
            (0.0, 1.0, 0.25),
            (0.0, 0.5, 0.125),
            (1.0, 1.5, 0.125),
            (2.0, inf, 0.5),
            (1.5, 1.0, 0.0),
        ];
        for (lo, hi, want) in cases {
            let got = bucket_fraction(lo, hi, b.clone());
            assert!((got - want).abs() < 1e-12, "[{lo}, {hi}]: {got} != {want}");
        }
        assert!(bucket_fraction(f64::NAN, 1.0, b).is_nan());
        let negative = buckets(&[(-3.0, 10.0), (-2.0, 12.0), (-1.0, 15.0), (inf, 100.0)]);
        let got = bucket_fraction(-4.0, -2.0, negative);
        assert!((got - 0.02).abs() < 1e-12, "{got}");
    }
}
