//! Zero bucket reconciliation and counter reset detection.

use super::buckets::BucketIter;
use super::{CounterResetHint, FloatHistogram, CUSTOM_BUCKETS_SCHEMA};

impl FloatHistogram {
    /// The zero count this histogram would have with the (larger or equal) threshold, and
    /// that threshold, moved up to the end of a populated bucket it would cut through.
    pub(super) fn zero_count_for_larger_threshold(&self, larger: f64) -> (f64, f64) {
        let mut threshold = larger;
        if threshold <= self.zero_threshold {
            return (self.zero_count, self.zero_threshold.max(threshold));
        }
        'outer: loop {
            let mut count = self.zero_count;
            for b in self.positive_bucket_iter() {
                if b.lower >= threshold {
                    break;
                }
                count += b.count;
                if b.upper > threshold {
                    if b.count != 0.0 {
                        threshold = b.upper;
                    }
                    break;
                }
            }
            for b in self.negative_bucket_iter() {
                if b.upper <= -threshold {
                    break;
                }
                count += b.count;
                if b.lower < -threshold {
                    if b.count != 0.0 {
                        threshold = -b.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (count, threshold);
        }
    }

    /// Empties the buckets inside the zero bucket (their counts are already in it).
    fn trim_buckets_in_zero_bucket(&mut self) {
        let zt = self.zero_threshold;
        let n = self
            .positive_bucket_iter()
            .take_while(|b| b.lower < zt)
            .count();
        self.positive_buckets
            .iter_mut()
            .take(n)
            .for_each(|b| *b = 0.0);
        let n = self
            .negative_bucket_iter()
            .take_while(|b| b.upper > -zt)
            .count();
        self.negative_buckets
            .iter_mut()
            .take(n)
            .for_each(|b| *b = 0.0);
        self.compact(0);
    }

    /// Widens this histogram's zero bucket to cover `other`'s (and vice versa, without
    /// touching `other`), returning the zero count `other` has with the common threshold.
    pub(super) fn reconcile_zero_buckets(&mut self, other: &FloatHistogram) -> f64 {
        let mut other_count = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        // Each round only grows a threshold up to a bucket bound; NaN thresholds stop it.
        for _ in 0..64 {
            if other_threshold == self.zero_threshold
                || other_threshold.is_nan()
                || self.zero_threshold.is_nan()
            {
                break;
            }
            if self.zero_threshold > other_threshold {
                (other_count, other_threshold) =
                    other.zero_count_for_larger_threshold(self.zero_threshold);
            }
            if other_threshold > self.zero_threshold {
                (self.zero_count, self.zero_threshold) =
                    self.zero_count_for_larger_threshold(other_threshold);
                self.trim_buckets_in_zero_bucket();
            }
        }
        other_count
    }

    /// Whether this histogram, following `previous`, implies a counter reset (a count or
    /// bucket went down, resolution went up, or the zero bucket shrank).
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            _ => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if self.custom_values != previous.custom_values {
                return self.detect_reset_mismatched_bounds(previous);
            }
        }
        if self.schema > previous.schema || self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (prev_zero_count, threshold) =
            previous.zero_count_for_larger_threshold(self.zero_threshold);
        if threshold != self.zero_threshold || self.zero_count < prev_zero_count {
            return true;
        }
        [true, false].into_iter().any(|positive| {
            let curr = self.bucket_iter(positive, self.zero_threshold, self.schema);
            let prev = previous.bucket_iter(positive, self.zero_threshold, self.schema);
            buckets_decreased(curr, prev)
        })
    }

    /// Reset detection for custom bucket histograms with different bounds: compares the
    /// cumulative counts at every bound both have.
    fn detect_reset_mismatched_bounds(&self, previous: &FloatHistogram) -> bool {
        let common =
            super::arith::intersect_custom_bounds(&self.custom_values, &previous.custom_values);
        let cumulative = |h: &FloatHistogram| -> Vec<f64> {
            let mut sums = vec![0.0; common.len() + 1];
            for b in h.bucket_iter(true, 0.0, CUSTOM_BUCKETS_SCHEMA) {
                let slot = common.partition_point(|&c| c < b.upper);
                sums[slot] += b.count;
            }
            sums
        };
        let (curr, prev) = (cumulative(self), cumulative(previous));
        curr.iter().zip(&prev).any(|(c, p)| c < p)
    }
}

/// Whether a populated bucket of `prev` is missing or smaller in `curr`.
fn buckets_decreased(mut curr: BucketIter<'_>, prev: BucketIter<'_>) -> bool {
    let mut current = curr.next_stripped();
    let mut prev = prev;
    while let Some((p_idx, p_count)) = prev.next_stripped() {
        while let Some((c_idx, _)) = current {
            if c_idx >= p_idx {
                break;
            }
            current = curr.next_stripped();
        }
        match current {
            Some((c_idx, c_count)) if c_idx == p_idx => {
                if c_count < p_count {
                    return true;
                }
            }
            _ => {
                if p_count != 0.0 {
                    return true;
                }
            }
        }
    }
    false
}
