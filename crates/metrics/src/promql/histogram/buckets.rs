//! Bucket boundaries and bucket iteration (Prometheus's `getBound`, `floatBucketIterator`).

use std::sync::OnceLock;

use super::{Span, CUSTOM_BUCKETS_SCHEMA};

/// The smallest and largest exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

pub fn is_exponential_schema(schema: i32) -> bool {
    (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema)
}

pub fn is_custom_buckets_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
}

/// One bucket with its boundaries, as Prometheus's `Bucket[float64]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: f64,
    /// The bucket's index within its schema (irrelevant for the zero bucket).
    pub index: i32,
}

/// `x * 2^exp` without intermediate overflow for the exponents bucket bounds use.
fn ldexp(x: f64, exp: i64) -> f64 {
    let mut x = x;
    let mut exp = exp;
    while exp > 1023 {
        x *= f64::from_bits(2046 << 52); // 2^1023
        exp -= 1023;
        if x.is_infinite() {
            return x;
        }
    }
    while exp < -1022 {
        x *= f64::from_bits(1 << 52); // 2^-1022
        exp += 1022;
        if x == 0.0 {
            return x;
        }
    }
    x * f64::from_bits(((exp + 1023) as u64) << 52)
}

/// Bucket bounds in [0.5, 1) for schemas 0..=8 (`exponentialBounds` upstream).
fn exponential_fractions(schema: i32) -> &'static [f64] {
    static TABLE: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..=EXPONENTIAL_SCHEMA_MAX)
            .map(|s| {
                let n = 1u32 << s;
                (0..n)
                    .map(|i| 0.5 * (f64::from(i) / f64::from(n)).exp2())
                    .collect()
            })
            .collect()
    });
    &table[schema.clamp(0, EXPONENTIAL_SCHEMA_MAX) as usize]
}

/// The upper bound of the exponential bucket `idx` in `schema`.
pub fn bound_exponential(idx: i32, schema: i32) -> f64 {
    let schema = schema.clamp(EXPONENTIAL_SCHEMA_MIN, EXPONENTIAL_SCHEMA_MAX);
    if schema < 0 {
        let exp = i64::from(idx) << (-schema);
        if exp == 1024 {
            // The last bucket before the one for ±Inf observations.
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let frac_idx = (idx & ((1 << schema) - 1)) as usize;
    let frac = exponential_fractions(schema)[frac_idx];
    let exp = (i64::from(idx) >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// The upper bound of bucket `idx` (custom buckets: `-1` is -Inf, `len` is +Inf).
pub fn bound(idx: i32, schema: i32, custom_values: &[f64]) -> f64 {
    if is_custom_buckets_schema(schema) {
        return match usize::try_from(idx) {
            Err(_) => f64::NEG_INFINITY,
            Ok(i) => custom_values.get(i).copied().unwrap_or(f64::INFINITY),
        };
    }
    bound_exponential(idx, schema)
}

/// The bucket index in `target` of bucket `idx` in `origin` (`target <= origin`).
pub fn target_idx(idx: i32, origin: i32, target: i32) -> i32 {
    (idx.wrapping_sub(1) >> (origin - target).clamp(0, 31)).wrapping_add(1)
}

/// The (index, count) pairs of a span/bucket layout, in order. Stops early on an
/// inconsistent layout (more span length than buckets) instead of panicking.
#[derive(Debug, Clone)]
pub struct RawBuckets<'a> {
    spans: &'a [Span],
    buckets: &'a [f64],
    span_idx: usize,
    in_span: u32,
    bucket_idx: usize,
    idx: i32,
}

impl<'a> RawBuckets<'a> {
    pub fn new(spans: &'a [Span], buckets: &'a [f64]) -> Self {
        RawBuckets {
            spans,
            buckets,
            span_idx: 0,
            in_span: 0,
            bucket_idx: 0,
            idx: 0,
        }
    }
}

impl Iterator for RawBuckets<'_> {
    type Item = (i32, f64);

    fn next(&mut self) -> Option<(i32, f64)> {
        loop {
            let span = self.spans.get(self.span_idx)?;
            if self.in_span == 0 {
                self.idx = self.idx.wrapping_add(span.offset);
            }
            if self.in_span < span.length {
                let count = *self.buckets.get(self.bucket_idx)?;
                let idx = self.idx;
                self.idx = self.idx.wrapping_add(1);
                self.in_span += 1;
                self.bucket_idx += 1;
                return Some((idx, count));
            }
            self.span_idx += 1;
            self.in_span = 0;
        }
    }
}

/// Iterates the buckets of one side of a histogram, optionally merged into a lower
/// `target_schema` and skipping buckets whose absolute upper bound is `<= start` (exponential
/// schemas only), like upstream's `floatBucketIterator`.
#[derive(Debug, Clone)]
pub struct BucketIter<'a> {
    raw: std::iter::Peekable<RawBuckets<'a>>,
    schema: i32,
    target_schema: i32,
    positive: bool,
    custom_values: &'a [f64],
    start: f64,
    reached_start: bool,
}

impl<'a> BucketIter<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spans: &'a [Span],
        buckets: &'a [f64],
        schema: i32,
        target_schema: i32,
        positive: bool,
        custom_values: &'a [f64],
        start: f64,
    ) -> Self {
        BucketIter {
            raw: RawBuckets::new(spans, buckets).peekable(),
            schema,
            target_schema: if is_custom_buckets_schema(schema) {
                schema
            } else {
                target_schema.min(schema)
            },
            positive,
            custom_values,
            start,
            reached_start: start == 0.0,
        }
    }

    /// The next (index in the target schema, count) without computing bounds.
    pub fn next_stripped(&mut self) -> Option<(i32, f64)> {
        loop {
            let (idx, mut count) = self.raw.next()?;
            let mut target = idx;
            if self.target_schema != self.schema {
                target = target_idx(idx, self.schema, self.target_schema);
                while let Some(&(next, c)) = self.raw.peek() {
                    if target_idx(next, self.schema, self.target_schema) != target {
                        break;
                    }
                    count += c;
                    self.raw.next();
                }
            }
            if !self.reached_start
                && is_exponential_schema(self.target_schema)
                && bound_exponential(target, self.target_schema) <= self.start
            {
                continue;
            }
            self.reached_start = true;
            return Some((target, count));
        }
    }

    fn bucket(&self, index: i32, count: f64) -> Bucket {
        let schema = self.target_schema;
        let upper = bound(index, schema, self.custom_values);
        let lower = bound(index.wrapping_sub(1), schema, self.custom_values);
        let (lower, upper) = if self.positive {
            (lower, upper)
        } else {
            (-upper, -lower)
        };
        let (lower_inclusive, upper_inclusive) = if is_custom_buckets_schema(schema) {
            (index == 0, true)
        } else {
            (lower < 0.0, upper > 0.0)
        };
        Bucket {
            lower,
            upper,
            lower_inclusive,
            upper_inclusive,
            count,
            index,
        }
    }
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        let (index, count) = self.next_stripped()?;
        Some(self.bucket(index, count))
    }
}

/// Appends bucket `(idx, count)` (ascending indexes) to a layout being built, starting a new
/// span when there is a gap.
pub fn push_bucket(
    spans: &mut Vec<Span>,
    buckets: &mut Vec<f64>,
    last: &mut i32,
    idx: i32,
    count: f64,
) {
    match spans.last_mut() {
        Some(span) if idx.wrapping_sub(*last) == 1 => span.length += 1,
        Some(_) => spans.push(Span {
            offset: idx.wrapping_sub(*last).wrapping_sub(1),
            length: 1,
        }),
        None => spans.push(Span {
            offset: idx,
            length: 1,
        }),
    }
    buckets.push(count);
    *last = idx;
}

/// Merges a layout into the lower resolution `target` schema (`reduceResolution`).
pub fn reduce_resolution(
    spans: &[Span],
    buckets: &[f64],
    origin: i32,
    target: i32,
) -> (Vec<Span>, Vec<f64>) {
    let mut out_spans = Vec::new();
    let mut out_buckets: Vec<f64> = Vec::new();
    let mut last = 0;
    for (idx, count) in RawBuckets::new(spans, buckets) {
        let t = target_idx(idx, origin, target);
        if !out_spans.is_empty() && t == last {
            if let Some(b) = out_buckets.last_mut() {
                *b += count;
            }
            continue;
        }
        push_bucket(&mut out_spans, &mut out_buckets, &mut last, t, count);
    }
    (out_spans, out_buckets)
}

/// Rebuilds a layout without empty buckets at span edges, joining populated buckets that are
/// at most `max_empty` indexes apart into one span (`compactBuckets`).
pub fn compact_buckets(spans: &[Span], buckets: &[f64], max_empty: usize) -> (Vec<Span>, Vec<f64>) {
    let mut out_spans: Vec<Span> = Vec::with_capacity(spans.len());
    let mut out_buckets: Vec<f64> = Vec::with_capacity(buckets.len());
    let mut last = 0i32;
    for (idx, count) in RawBuckets::new(spans, buckets) {
        if count == 0.0 {
            continue;
        }
        if !out_spans.is_empty() {
            let gap = i64::from(idx) - i64::from(last) - 1;
            if gap > 0 && gap as u64 <= max_empty as u64 {
                out_buckets.resize(out_buckets.len() + gap as usize, 0.0);
                if let Some(span) = out_spans.last_mut() {
                    span.length += gap as u32;
                }
                last = idx - 1;
            }
        }
        push_bucket(&mut out_spans, &mut out_buckets, &mut last, idx, count);
    }
    (out_spans, out_buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_bounds_match_upstream_table() {
        let cases = [
            (1, 1, 0.7071067811865475 * 2.0),
            (8, 255, 0.9972960560854698 * 2.0),
            (8, 71, 0.6059806996384005 * 2.0),
            (3, -3, 0.7711054127039704),
            (0, 0, 1.0),
            (0, 1, 2.0),
            (0, -1, 0.5),
            (-2, 1, 16.0),
            (-4, -1, 1.0 / 65536.0),
            (0, 1024, f64::MAX),
            (0, 1025, f64::INFINITY),
            (-1, 512, f64::MAX),
        ];
        // The fractions are computed, not copied from upstream's table: they may differ from
        // it in the last bit.
        for (schema, idx, want) in cases {
            let got = bound_exponential(idx, schema);
            assert!(
                got == want || ((got - want) / want).abs() < 1e-15,
                "schema {schema} idx {idx}: {got}"
            );
        }
    }

    #[test]
    fn custom_bounds() {
        let cv = [1.0, 5.0];
        assert_eq!(bound(-1, CUSTOM_BUCKETS_SCHEMA, &cv), f64::NEG_INFINITY);
        assert_eq!(bound(0, CUSTOM_BUCKETS_SCHEMA, &cv), 1.0);
        assert_eq!(bound(1, CUSTOM_BUCKETS_SCHEMA, &cv), 5.0);
        assert_eq!(bound(2, CUSTOM_BUCKETS_SCHEMA, &cv), f64::INFINITY);
    }

    #[test]
    fn target_index() {
        assert_eq!(target_idx(1, 1, 0), 1);
        assert_eq!(target_idx(2, 1, 0), 1);
        assert_eq!(target_idx(3, 1, 0), 2);
        assert_eq!(target_idx(0, 1, 0), 0);
        assert_eq!(target_idx(-1, 1, 0), 0);
        assert_eq!(target_idx(-2, 1, 0), -1);
    }

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    #[test]
    fn raw_buckets_stop_on_short_bucket_array() {
        let spans = [s(-2, 2), s(3, 5)];
        let got: Vec<_> = RawBuckets::new(&spans, &[1.0, 2.0, 3.0]).collect();
        assert_eq!(got, vec![(-2, 1.0), (-1, 2.0), (3, 3.0)]);
    }

    #[test]
    fn compact_cases() {
        type Case = (Vec<Span>, Vec<f64>, usize, Vec<Span>, Vec<f64>);
        let cases: Vec<Case> = vec![
            (
                vec![s(0, 3)],
                vec![0.0, 1.0, 0.0],
                0,
                vec![s(1, 1)],
                vec![1.0],
            ),
            (
                vec![s(0, 2), s(0, 2)],
                vec![1.0, 2.0, 3.0, 4.0],
                0,
                vec![s(0, 4)],
                vec![1.0, 2.0, 3.0, 4.0],
            ),
            (
                vec![s(0, 1), s(2, 1)],
                vec![1.0, 2.0],
                2,
                vec![s(0, 4)],
                vec![1.0, 0.0, 0.0, 2.0],
            ),
            (
                vec![s(0, 1), s(3, 1)],
                vec![1.0, 2.0],
                2,
                vec![s(0, 1), s(3, 1)],
                vec![1.0, 2.0],
            ),
            (
                vec![s(0, 4)],
                vec![1.0, 0.0, 0.0, 2.0],
                1,
                vec![s(0, 1), s(2, 1)],
                vec![1.0, 2.0],
            ),
            (
                vec![s(5, 0), s(1, 1)],
                vec![3.0],
                0,
                vec![s(6, 1)],
                vec![3.0],
            ),
            (vec![s(0, 2)], vec![0.0, 0.0], 3, vec![], vec![]),
        ];
        for (spans, buckets, max, want_spans, want_buckets) in cases {
            let (gs, gb) = compact_buckets(&spans, &buckets, max);
            assert_eq!(
                (gs, gb),
                (want_spans, want_buckets),
                "{spans:?} {buckets:?} {max}"
            );
        }
    }

    #[test]
    fn reduce_resolution_merges_pairs() {
        // Schema 1 indexes -1, 0, 2, 3, 4, 5 into schema 0: (-1,0)->0, 2->1, (3,4)->2, 5->3.
        let (spans, buckets) =
            reduce_resolution(&[s(-1, 2), s(1, 4)], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1, 0);
        assert_eq!(spans, vec![s(0, 4)]);
        assert_eq!(buckets, vec![3.0, 3.0, 9.0, 6.0]);
    }

    #[test]
    fn merged_iteration_skips_below_start() {
        let spans = [s(0, 4)];
        let buckets = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<_> = BucketIter::new(&spans, &buckets, 0, 0, true, &[], 2.0)
            .map(|b| (b.index, b.count))
            .collect();
        assert_eq!(got, vec![(2, 3.0), (3, 4.0)]);
        let neg: Vec<_> = BucketIter::new(&spans, &buckets, 0, 0, false, &[], 0.0).collect();
        assert_eq!((neg[1].lower, neg[1].upper), (-2.0, -1.0));
        assert!(neg[1].lower_inclusive && !neg[1].upper_inclusive);
    }
}
