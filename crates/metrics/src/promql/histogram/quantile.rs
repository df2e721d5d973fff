//! Quantiles, fractions and the spread of native histograms (upstream's
//! `HistogramQuantile`, `HistogramFraction` and `histogramVariance`).

use super::{Bucket, FloatHistogram};

/// Kahan summation step: adds `inc` to `sum` with compensation `c`.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

impl FloatHistogram {
    /// Only positive buckets and a populated zero bucket: 0 is its natural lower bound
    /// (only negative buckets: its upper bound).
    fn clamp_zero_bucket(&self, b: &mut Bucket) {
        if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
            b.lower = 0.0;
        } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
            b.upper = 0.0;
        }
    }

    /// The φ-quantile `q` of the observations: exponential interpolation within exponential
    /// buckets, linear within the zero bucket and custom buckets.
    pub fn quantile(&self, q: f64) -> f64 {
        if q < 0.0 {
            return f64::NEG_INFINITY;
        }
        if q > 1.0 {
            return f64::INFINITY;
        }
        if self.count == 0.0 || q.is_nan() {
            return f64::NAN;
        }
        let forward = self.sum.is_nan() || q < 0.5;
        let mut buckets = self.all_buckets();
        let mut rank = if forward {
            q * self.count
        } else {
            (1.0 - q) * self.count
        };
        if !forward {
            buckets.reverse();
        }
        let mut bucket = Bucket {
            lower: 0.0,
            upper: 0.0,
            lower_inclusive: false,
            upper_inclusive: false,
            count: 0.0,
            index: 0,
        };
        let mut count = 0.0;
        for b in buckets.into_iter().filter(|b| b.count != 0.0) {
            bucket = b;
            count += b.count;
            if count >= rank {
                break;
            }
        }
        if self.uses_custom_buckets() {
            if bucket.lower == f64::NEG_INFINITY {
                if bucket.upper <= 0.0 {
                    return bucket.upper;
                }
                bucket.lower = 0.0;
            } else if bucket.upper == f64::INFINITY {
                return bucket.lower;
            }
        } else if bucket.lower < 0.0 && bucket.upper > 0.0 {
            self.clamp_zero_bucket(&mut bucket);
        }
        count = count.min(self.count);
        if count < rank {
            // Only possible with NaN observations: the highest bucket's upper bound.
            return bucket.upper;
        }
        if forward {
            rank -= count - bucket.count;
        } else {
            rank = count - rank;
        }
        let fraction = rank / bucket.count;
        if self.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
            return bucket.lower + (bucket.upper - bucket.lower) * fraction;
        }
        let log_lower = bucket.lower.abs().log2();
        let log_upper = bucket.upper.abs().log2();
        if bucket.lower > 0.0 {
            return (log_lower + (log_upper - log_lower) * fraction).exp2();
        }
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
    }

    /// The fraction of observations between `lower` and `upper` (interpolated like
    /// [`Self::quantile`]). Observations in the infinite first or last custom bucket are taken
    /// to be at -Inf/+Inf, so those buckets are never interpolated into.
    pub fn fraction(&self, lower: f64, upper: f64) -> f64 {
        if self.count == 0.0 || lower.is_nan() || upper.is_nan() {
            return f64::NAN;
        }
        if lower >= upper {
            return 0.0;
        }
        let (mut rank, mut lower_rank, mut upper_rank) = (0.0, None, None);
        for mut b in self.all_buckets() {
            let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
            if zero_bucket {
                self.clamp_zero_bucket(&mut b);
            }
            let interpolate = |v: f64| -> f64 {
                if self.uses_custom_buckets() {
                    if b.upper == f64::INFINITY {
                        return rank;
                    }
                    if b.lower == f64::NEG_INFINITY {
                        return rank + b.count;
                    }
                }
                if self.uses_custom_buckets() || zero_bucket {
                    return rank + b.count * (v - b.lower) / (b.upper - b.lower);
                }
                let log_lower = b.lower.abs().log2();
                let log_upper = b.upper.abs().log2();
                let log_v = v.abs().log2();
                let fraction = if v > 0.0 {
                    (log_v - log_lower) / (log_upper - log_lower)
                } else {
                    1.0 - (log_v - log_upper) / (log_lower - log_upper)
                };
                rank + b.count * fraction
            };
            if lower_rank.is_none() && b.lower >= lower {
                lower_rank = Some(rank);
            }
            if upper_rank.is_none() && b.lower >= upper {
                upper_rank = Some(rank);
            }
            if lower_rank.is_some() && upper_rank.is_some() {
                break;
            }
            if lower_rank.is_none() && b.lower < lower && b.upper > lower {
                lower_rank = Some(interpolate(lower));
            }
            if upper_rank.is_none() && b.lower < upper && b.upper > upper {
                upper_rank = Some(interpolate(upper));
            }
            if lower_rank.is_some() && upper_rank.is_some() {
                break;
            }
            rank += b.count;
        }
        let clamp = |r: Option<f64>| match r {
            Some(r) if r <= self.count => r,
            _ => self.count,
        };
        (clamp(upper_rank) - clamp(lower_rank)) / self.count
    }

    /// The estimated variance of the observations: each bucket's observations are taken to
    /// be at its geometric mean (arithmetic mean for custom buckets, 0 in the zero bucket).
    pub fn stdvar(&self) -> f64 {
        let mean = self.sum / self.count;
        let (mut variance, mut c) = (0.0, 0.0);
        for b in self.all_buckets().into_iter().filter(|b| b.count != 0.0) {
            let val = if self.uses_custom_buckets() {
                (b.upper + b.lower) / 2.0
            } else if b.lower <= 0.0 && b.upper >= 0.0 {
                0.0
            } else {
                let v = (b.upper * b.lower).sqrt();
                if b.upper < 0.0 {
                    -v
                } else {
                    v
                }
            };
            let delta = val - mean;
            (variance, c) = kahan_inc(b.count * delta * delta, variance, c);
        }
        (variance + c) / self.count
    }

    /// The square root of [`Self::stdvar`].
    pub fn stddev(&self) -> f64 {
        self.stdvar().sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Span, CUSTOM_BUCKETS_SCHEMA};
    use super::*;

    fn exp_hist() -> FloatHistogram {
        // Schema 0: buckets (0.5,1]:2, (1,2]:4, (2,4]:2; negative [-1,-0.5):1; zero bucket 1.
        FloatHistogram {
            schema: 0,
            count: 10.0,
            sum: 12.0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![2.0, 4.0, 2.0],
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![1.0],
            ..Default::default()
        }
    }

    fn nhcb() -> FloatHistogram {
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 100.0,
            sum: 50.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 4,
            }],
            positive_buckets: vec![1.0, 2.0, 3.0, 94.0],
            custom_values: vec![1.0, 2.0, 3.0],
            ..Default::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    #[test]
    fn quantiles() {
        let h = exp_hist();
        let cases = [
            (-0.1, f64::NEG_INFINITY),
            (1.1, f64::INFINITY),
            (f64::NAN, f64::NAN),
            // rank 0.5 of the negative bucket [-1,-0.5): mirrored exponential interpolation.
            (0.05, -(2f64.powf(-0.5))),
            (0.15, 0.0),            // middle of the zero bucket [-0.001, 0.001]
            (0.5, 2f64.powf(0.25)), // rank 5: 1 of 4 into (1,2]
            (1.0, 4.0),
        ];
        for (q, want) in cases {
            assert!(
                close(h.quantile(q), want),
                "q {q}: {} != {want}",
                h.quantile(q)
            );
        }
        let c = nhcb();
        assert_eq!(c.quantile(0.005), 0.5);
        assert_eq!(c.quantile(0.99), 3.0);
        assert!(c.quantile(0.5) == 3.0);
        assert!(FloatHistogram::default().quantile(0.5).is_nan());
    }

    #[test]
    fn fractions() {
        let c = nhcb();
        let cases = [
            (0.0, 1.5, 0.02),
            (0.5, 2.0, 0.025),
            (2.0, 5.0, 0.03),
            (400.0, f64::INFINITY, 0.94),
            (4.0, 5.0, 0.0),
            (f64::NEG_INFINITY, f64::INFINITY, 1.0),
            (3.0, 2.0, 0.0),
        ];
        for (lower, upper, want) in cases {
            assert!(
                close(c.fraction(lower, upper), want),
                "{lower}..{upper}: {}",
                c.fraction(lower, upper)
            );
        }
        let negative = FloatHistogram {
            positive_buckets: vec![10.0, 2.0, 3.0, 85.0],
            custom_values: vec![-3.0, -2.0, -1.0],
            ..nhcb()
        };
        assert!(close(negative.fraction(-4.0, -2.0), 0.02));
        assert!(close(negative.fraction(f64::NEG_INFINITY, -1.5), 0.135));
        let h = exp_hist();
        assert!(close(h.fraction(1.0, 2.0), 0.4));
        assert!(close(
            h.fraction(0.0, 2f64.sqrt()),
            (0.5 + 2.0 + 2.0) / 10.0
        ));
        assert!(h.fraction(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn spread() {
        let h = FloatHistogram {
            schema: 0,
            count: 2.0,
            sum: 2f64.sqrt() * 2.0,
            positive_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            positive_buckets: vec![2.0],
            ..Default::default()
        };
        // Both observations at the geometric mean sqrt(2) of (1,2]: no spread.
        assert!(h.stdvar().abs() < 1e-15);
        let c = FloatHistogram {
            count: 2.0,
            sum: 4.0,
            positive_spans: vec![Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![1.0, 1.0],
            ..nhcb()
        };
        // Midpoints 1.5 and 2.5, mean 2: variance 0.25.
        assert!(close(c.stdvar(), 0.25));
        assert!(close(c.stddev(), 0.5));
    }
}
