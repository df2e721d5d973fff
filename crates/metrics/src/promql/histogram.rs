//! Native histograms as the PromQL engine sees them: float counts, absolute (not delta) bucket
//! counts, exponential schemas -4..=8 and custom buckets (schema -53). A port of
//! Prometheus's `model/histogram/float_histogram.go`.
//!
//! - [`buckets`]: bucket bounds, iteration, resolution reduction and compaction of layouts.
//! - `arith`: adding layouts into each other, custom bucket reconciliation.
//! - [`quantile`]: `histogram_quantile`, `histogram_fraction`, stddev/stdvar.
//! - [`wire`]: conversion from and to the remote-write form.
//! - `fmt`: Prometheus's `String()` rendering.

mod arith;
pub mod buckets;
mod fmt;
pub mod quantile;
mod reset;
pub mod wire;

use buckets::{is_custom_buckets_schema, BucketIter};
pub use buckets::{Bucket, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN};

/// A run of consecutive buckets: `offset` is the gap to the previous span's end (or, for the
/// first span, the index of its first bucket); `length` buckets follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// Prometheus's counter reset hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    CounterReset,
    NotCounterReset,
    Gauge,
}

/// The schema of native histograms with custom bucket boundaries.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A native histogram with float counts (Prometheus's `FloatHistogram`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    /// Absolute counts, one per bucket of `positive_spans`.
    pub positive_buckets: Vec<f64>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema -53 only), ascending, `+Inf` implicit.
    pub custom_values: Vec<f64>,
}

/// What can go wrong combining histograms (texts as Prometheus's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistogramError {
    #[error("cannot apply this operation on histograms with a mix of exponential and custom bucket schemas")]
    IncompatibleSchema,
    #[error("cannot reduce resolution when there are custom buckets")]
    ReduceCustomBuckets,
    #[error("cannot reduce resolution from schema {from} to {to}")]
    ReduceToHigherSchema { from: i32, to: i32 },
}

/// Side effects of [`FloatHistogram::add_detailed`]/[`FloatHistogram::sub_detailed`] that
/// PromQL turns into annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeReport {
    /// One operand said counter reset, the other not (the result's hint is unknown).
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reduced to the common ones.
    pub nhcb_bounds_reconciled: bool,
}

impl FloatHistogram {
    pub fn uses_custom_buckets(&self) -> bool {
        is_custom_buckets_schema(self.schema)
    }

    /// Scales every count and the sum by `factor`; a negative factor makes it a gauge.
    pub fn mul(&mut self, factor: f64) -> &mut Self {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides every count and the sum by `scalar`; dividing by 0 drops all buckets.
    pub fn div(&mut self, scalar: f64) -> &mut Self {
        self.zero_count /= scalar;
        self.count /= scalar;
        self.sum /= scalar;
        if scalar == 0.0 {
            self.positive_buckets.clear();
            self.negative_buckets.clear();
            self.positive_spans.clear();
            self.negative_spans.clear();
            return self;
        }
        self.positive_buckets.iter_mut().for_each(|b| *b /= scalar);
        self.negative_buckets.iter_mut().for_each(|b| *b /= scalar);
        if scalar < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Adds `other` (schema and zero threshold are reconciled; custom bounds are reduced to
    /// the common ones). The result may hold empty buckets: call [`Self::compact`].
    pub fn add(&mut self, other: &FloatHistogram) -> Result<&mut Self, HistogramError> {
        self.add_detailed(other)?;
        Ok(self)
    }

    /// Like [`Self::add`] but subtracts. The `-` operator sets the hint to gauge afterwards.
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<&mut Self, HistogramError> {
        self.sub_detailed(other)?;
        Ok(self)
    }

    /// [`Self::add`], reporting what PromQL warns or informs about.
    pub fn add_detailed(&mut self, other: &FloatHistogram) -> Result<MergeReport, HistogramError> {
        self.merge(other, false)
    }

    /// [`Self::sub`], reporting what PromQL warns or informs about.
    pub fn sub_detailed(&mut self, other: &FloatHistogram) -> Result<MergeReport, HistogramError> {
        self.merge(other, true)
    }

    fn merge(
        &mut self,
        other: &FloatHistogram,
        negate: bool,
    ) -> Result<MergeReport, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let sign = if negate { -1.0 } else { 1.0 };
        let mut report = MergeReport {
            counter_reset_collision: self.adjust_counter_reset(other),
            nhcb_bounds_reconciled: false,
        };
        self.repair_layout();
        if !self.uses_custom_buckets() {
            let other_zero_count = self.reconcile_zero_buckets(other);
            self.zero_count += sign * other_zero_count;
        }
        self.count += sign * other.count;
        self.sum += sign * other.sum;
        if self.uses_custom_buckets() {
            if self.custom_values == other.custom_values {
                arith::add_buckets(
                    self.schema,
                    0.0,
                    negate,
                    &mut self.positive_spans,
                    &mut self.positive_buckets,
                    &other.positive_spans,
                    &other.positive_buckets,
                );
            } else {
                report.nhcb_bounds_reconciled = true;
                let target =
                    arith::intersect_custom_bounds(&self.custom_values, &other.custom_values);
                (self.positive_spans, self.positive_buckets) = arith::add_custom_mismatched(
                    negate,
                    &self.positive_spans,
                    &self.positive_buckets,
                    &self.custom_values,
                    &other.positive_spans,
                    &other.positive_buckets,
                    &other.custom_values,
                    &target,
                );
                self.custom_values = target;
            }
            return Ok(report);
        }
        self.merge_exponential(other, negate);
        Ok(report)
    }

    fn merge_exponential(&mut self, other: &FloatHistogram, negate: bool) {
        let reduced;
        let other = if other.schema > self.schema {
            reduced = other.copy_to_schema(self.schema);
            &reduced
        } else {
            if other.schema < self.schema {
                (self.positive_spans, self.positive_buckets) = buckets::reduce_resolution(
                    &self.positive_spans,
                    &self.positive_buckets,
                    self.schema,
                    other.schema,
                );
                (self.negative_spans, self.negative_buckets) = buckets::reduce_resolution(
                    &self.negative_spans,
                    &self.negative_buckets,
                    self.schema,
                    other.schema,
                );
                self.schema = other.schema;
            }
            other
        };
        let (schema, threshold) = (self.schema, self.zero_threshold);
        arith::add_buckets(
            schema,
            threshold,
            negate,
            &mut self.positive_spans,
            &mut self.positive_buckets,
            &other.positive_spans,
            &other.positive_buckets,
        );
        arith::add_buckets(
            schema,
            threshold,
            negate,
            &mut self.negative_spans,
            &mut self.negative_buckets,
            &other.negative_spans,
            &other.negative_buckets,
        );
    }

    /// Sets the hint for a sum or difference; true on a reset/not-reset collision.
    fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => false,
            (Gauge, _) => false,
            (_, Gauge) => {
                self.counter_reset_hint = Gauge;
                false
            }
            (Unknown, _) => false,
            (_, Unknown) => {
                self.counter_reset_hint = Unknown;
                false
            }
            _ => {
                self.counter_reset_hint = Unknown;
                true
            }
        }
    }

    /// Cuts span lengths down to the buckets present (and drops surplus buckets), so the
    /// layout code can index without checks. A no-op for consistent histograms.
    fn repair_layout(&mut self) {
        repair_side(&mut self.positive_spans, &mut self.positive_buckets);
        repair_side(&mut self.negative_spans, &mut self.negative_buckets);
    }

    /// A copy in the lower resolution `target` schema (exponential schemas only; custom
    /// bucket histograms and higher targets are returned unchanged).
    pub fn copy_to_schema(&self, target: i32) -> FloatHistogram {
        let mut c = self.clone();
        if c.reduce_resolution(target).is_err() {
            return self.clone();
        }
        c
    }

    /// Merges buckets into the lower resolution `target` schema.
    pub fn reduce_resolution(&mut self, target: i32) -> Result<(), HistogramError> {
        if target == self.schema {
            return Ok(());
        }
        if self.uses_custom_buckets() || is_custom_buckets_schema(target) {
            return Err(HistogramError::ReduceCustomBuckets);
        }
        if target > self.schema {
            return Err(HistogramError::ReduceToHigherSchema {
                from: self.schema,
                to: target,
            });
        }
        (self.positive_spans, self.positive_buckets) = buckets::reduce_resolution(
            &self.positive_spans,
            &self.positive_buckets,
            self.schema,
            target,
        );
        (self.negative_spans, self.negative_buckets) = buckets::reduce_resolution(
            &self.negative_spans,
            &self.negative_buckets,
            self.schema,
            target,
        );
        self.schema = target;
        Ok(())
    }

    /// Removes empty buckets at span edges and joins spans at most `max_empty_buckets` apart.
    pub fn compact(&mut self, max_empty_buckets: usize) -> &mut Self {
        (self.positive_spans, self.positive_buckets) = buckets::compact_buckets(
            &self.positive_spans,
            &self.positive_buckets,
            max_empty_buckets,
        );
        (self.negative_spans, self.negative_buckets) = buckets::compact_buckets(
            &self.negative_spans,
            &self.negative_buckets,
            max_empty_buckets,
        );
        self
    }

    /// Positive buckets, ascending.
    pub fn positive_bucket_iter(&self) -> BucketIter<'_> {
        self.bucket_iter(true, 0.0, self.schema)
    }

    /// Negative buckets, from the zero bucket downwards.
    pub fn negative_bucket_iter(&self) -> BucketIter<'_> {
        self.bucket_iter(false, 0.0, self.schema)
    }

    fn bucket_iter(&self, positive: bool, start: f64, target_schema: i32) -> BucketIter<'_> {
        let (spans, buckets, cv): (&[Span], &[f64], &[f64]) = if positive {
            (
                &self.positive_spans,
                &self.positive_buckets,
                &self.custom_values,
            )
        } else {
            (&self.negative_spans, &self.negative_buckets, &[])
        };
        BucketIter::new(
            spans,
            buckets,
            self.schema,
            target_schema,
            positive,
            cv,
            start,
        )
    }

    /// The zero bucket `[-threshold, threshold]`.
    pub fn zero_bucket(&self) -> Bucket {
        Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        }
    }

    /// All buckets in ascending order: negative, zero (if populated), positive; buckets
    /// overlapping the zero bucket are clipped to its threshold (`AllBucketIterator`).
    pub fn all_buckets(&self) -> Vec<Bucket> {
        let zt = self.zero_threshold;
        let clip = |mut b: Bucket| {
            if b.upper < 0.0 && b.upper > -zt {
                b.upper = -zt;
            }
            if b.lower > 0.0 && b.lower < zt {
                b.lower = zt;
            }
            b
        };
        let mut out: Vec<Bucket> = self.negative_bucket_iter().map(clip).collect();
        out.reverse();
        if self.zero_count > 0.0 {
            out.push(self.zero_bucket());
        }
        out.extend(self.positive_bucket_iter().map(clip));
        out
    }
}

fn repair_side(spans: &mut Vec<Span>, buckets: &mut Vec<f64>) {
    let mut left = buckets.len() as u64;
    let mut carry = 0i32;
    let mut out = Vec::with_capacity(spans.len());
    for span in spans.iter() {
        let length = u64::from(span.length).min(left);
        left -= length;
        if length == 0 {
            // Zero-length spans only move the index: fold them into the next span.
            carry = carry.wrapping_add(span.offset);
            continue;
        }
        out.push(Span {
            offset: span.offset.wrapping_add(carry),
            length: length as u32,
        });
        carry = 0;
    }
    *spans = out;
    buckets.truncate(buckets.len() - left as usize);
}

/// Whether two floats are equal within relative tolerance `eps` (the `.test` comparison:
/// NaN equals NaN, 0 only equals (almost) 0).
pub fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

impl FloatHistogram {
    /// Exact equality of the data (upstream `Equals`, used by `changes()`): floats by bit
    /// pattern, bucket layouts by the buckets they describe (empty spans do not matter).
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        let bits = |x: f64, y: f64| x.to_bits() == y.to_bits();
        let layout = |s1: &[Span], b1: &[f64], s2: &[Span], b2: &[f64]| {
            b1.len() == b2.len()
                && buckets::RawBuckets::new(s1, b1)
                    .zip(buckets::RawBuckets::new(s2, b2))
                    .all(|((i1, c1), (i2, c2))| i1 == i2 && bits(c1, c2))
        };
        self.schema == other.schema
            && bits(self.count, other.count)
            && bits(self.sum, other.sum)
            && (!self.uses_custom_buckets() || self.custom_values == other.custom_values)
            && self.zero_threshold == other.zero_threshold
            && bits(self.zero_count, other.zero_count)
            && layout(
                &self.positive_spans,
                &self.positive_buckets,
                &other.positive_spans,
                &other.positive_buckets,
            )
            && layout(
                &self.negative_spans,
                &self.negative_buckets,
                &other.negative_spans,
                &other.negative_buckets,
            )
    }

    /// Equality for tests: both compacted, schema, zero threshold and custom bounds exact,
    /// counts, sum and buckets within relative tolerance `rel_tol`, hints ignored.
    pub fn equals_approx(&self, other: &FloatHistogram, rel_tol: f64) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.compact(0);
        b.compact(0);
        let close = |x: f64, y: f64| almost_equal(x, y, rel_tol);
        let all_close = |x: &[f64], y: &[f64]| {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(*x, *y))
        };
        a.schema == b.schema
            && a.zero_threshold == b.zero_threshold
            && a.custom_values == b.custom_values
            && close(a.count, b.count)
            && close(a.sum, b.sum)
            && close(a.zero_count, b.zero_count)
            && a.positive_spans == b.positive_spans
            && a.negative_spans == b.negative_spans
            && all_close(&a.positive_buckets, &b.positive_buckets)
            && all_close(&a.negative_buckets, &b.negative_buckets)
    }
}

#[cfg(test)]
mod tests;
