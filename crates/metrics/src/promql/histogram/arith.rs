//! Adding one bucket layout into another (`addBuckets` upstream) and the mapping of custom
//! bucket histograms with different bounds onto their common bounds.

use super::buckets::{bound_exponential, is_exponential_schema, push_bucket, RawBuckets};
use super::Span;

/// Where the previous insertion happened, so the next (higher) index is found quickly.
struct Cursor {
    /// `None` until the first bucket at or behind the first span was handled.
    span: Option<usize>,
    bucket: usize,
    in_span: i64,
    index: i64,
}

/// Adds (or, with `negate`, subtracts) the buckets of layout B into layout A, creating
/// missing buckets in A. Both use `schema`; buckets of B whose absolute upper bound is
/// `<= threshold` are ignored (they are in A's zero bucket).
pub fn add_buckets(
    schema: i32,
    threshold: f64,
    negate: bool,
    spans_a: &mut Vec<Span>,
    buckets_a: &mut Vec<f64>,
    spans_b: &[Span],
    buckets_b: &[f64],
) {
    let mut cursor = Cursor {
        span: None,
        bucket: 0,
        in_span: 0,
        index: 0,
    };
    let mut below_threshold = true;
    for (index_b, count) in RawBuckets::new(spans_b, buckets_b) {
        if below_threshold
            && is_exponential_schema(schema)
            && bound_exponential(index_b, schema) <= threshold
        {
            continue;
        }
        below_threshold = false;
        let value = if negate { -count } else { count };
        insert_bucket(spans_a, buckets_a, &mut cursor, i64::from(index_b), value);
        cursor.index = i64::from(index_b);
    }
}

/// The first insertion: before, at, or behind the first span of A. Returns true when done.
fn insert_first(
    spans: &mut Vec<Span>,
    buckets: &mut Vec<f64>,
    cursor: &mut Cursor,
    index: i64,
    value: f64,
) -> bool {
    let first = spans.first().map(|s| i64::from(s.offset));
    match first {
        Some(offset) if offset == index => {
            buckets[0] += value;
            true
        }
        Some(offset) if offset < index => {
            *cursor = Cursor {
                span: Some(0),
                bucket: 0,
                in_span: 0,
                index: offset,
            };
            false
        }
        _ => {
            buckets.insert(0, value);
            if first == Some(index + 1) {
                spans[0].length += 1;
                spans[0].offset -= 1;
                return true;
            }
            spans.insert(
                0,
                Span {
                    offset: index as i32,
                    length: 1,
                },
            );
            if spans.len() > 1 {
                spans[1].offset = (i64::from(spans[1].offset) - (index + 1)) as i32;
            }
            true
        }
    }
}

fn insert_bucket(
    spans: &mut Vec<Span>,
    buckets: &mut Vec<f64>,
    cursor: &mut Cursor,
    index: i64,
    value: f64,
) {
    if cursor.span.is_none() && insert_first(spans, buckets, cursor, index, value) {
        return;
    }
    let Some(mut i_span) = cursor.span else {
        return;
    };
    let mut delta = index - cursor.index;
    loop {
        let remaining = i64::from(spans[i_span].length) - cursor.in_span;
        if delta < remaining {
            cursor.bucket += delta as usize;
            cursor.in_span += delta;
            if let Some(b) = buckets.get_mut(cursor.bucket) {
                *b += value;
            }
            cursor.span = Some(i_span);
            return;
        }
        delta -= remaining;
        cursor.bucket += remaining as usize;
        i_span += 1;
        if i_span == spans.len() || delta < i64::from(spans[i_span].offset) {
            // In the gap behind the previous span (or behind all spans).
            buckets.insert(cursor.bucket.min(buckets.len()), value);
            if delta == 0 {
                // Directly after the previous span: extend it.
                if i_span < spans.len() {
                    spans[i_span].offset -= 1;
                }
                i_span -= 1;
                cursor.in_span = i64::from(spans[i_span].length);
                spans[i_span].length += 1;
            } else if i_span < spans.len() && delta == i64::from(spans[i_span].offset) - 1 {
                // Directly before the next span: extend that one.
                cursor.in_span = 0;
                spans[i_span].offset -= 1;
                spans[i_span].length += 1;
            } else {
                cursor.in_span = 0;
                if i_span < spans.len() {
                    spans[i_span].offset = (i64::from(spans[i_span].offset) - (delta + 1)) as i32;
                }
                spans.insert(
                    i_span,
                    Span {
                        offset: delta as i32,
                        length: 1,
                    },
                );
            }
            cursor.span = Some(i_span);
            return;
        }
        delta -= i64::from(spans[i_span].offset);
        cursor.in_span = 0;
    }
}

/// The bounds both custom bucket layouts have (`intersectCustomBucketBounds`).
pub fn intersect_custom_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Maps the buckets of a custom bucket layout onto `target` bounds, adding `sign * count`
/// into `out` (one slot per target bucket, the last is +Inf).
fn map_custom_buckets(
    spans: &[Span],
    buckets: &[f64],
    bounds: &[f64],
    target: &[f64],
    sign: f64,
    out: &mut [f64],
) {
    let mut target_pos = 0;
    for (idx, count) in RawBuckets::new(spans, buckets) {
        let mut slot = out.len() - 1;
        if let Some(&b) = usize::try_from(idx).ok().and_then(|i| bounds.get(i)) {
            while target_pos < target.len() {
                if target[target_pos] >= b {
                    slot = target_pos;
                    break;
                }
                target_pos += 1;
            }
        }
        out[slot] += sign * count;
    }
}

/// Adds (or subtracts) two custom bucket layouts with different bounds, both mapped onto
/// `target` (their intersection). Empty buckets are left out of the result.
#[allow(clippy::too_many_arguments)]
pub fn add_custom_mismatched(
    negate: bool,
    spans_a: &[Span],
    buckets_a: &[f64],
    bounds_a: &[f64],
    spans_b: &[Span],
    buckets_b: &[f64],
    bounds_b: &[f64],
    target: &[f64],
) -> (Vec<Span>, Vec<f64>) {
    let mut slots = vec![0.0; target.len() + 1];
    map_custom_buckets(spans_a, buckets_a, bounds_a, target, 1.0, &mut slots);
    let sign = if negate { -1.0 } else { 1.0 };
    map_custom_buckets(spans_b, buckets_b, bounds_b, target, sign, &mut slots);
    let (mut spans, mut buckets) = (Vec::new(), Vec::new());
    let mut last = 0;
    for (i, count) in slots.into_iter().enumerate() {
        if count != 0.0 {
            push_bucket(&mut spans, &mut buckets, &mut last, i as i32, count);
        }
    }
    (spans, buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    fn expand(spans: &[Span], buckets: &[f64]) -> Vec<(i32, f64)> {
        RawBuckets::new(spans, buckets).collect()
    }

    #[test]
    fn add_buckets_cases() {
        type Case = (Vec<Span>, Vec<f64>, Vec<Span>, Vec<f64>);
        let cases: Vec<Case> = vec![
            (vec![], vec![], vec![s(2, 2)], vec![1.0, 2.0]),
            (
                vec![s(0, 2)],
                vec![1.0, 1.0],
                vec![s(-3, 1), s(1, 1), s(4, 2)],
                vec![5.0, 6.0, 7.0, 8.0],
            ),
            (
                vec![s(0, 1), s(5, 1)],
                vec![1.0, 1.0],
                vec![s(1, 5)],
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
            ),
            (
                vec![s(3, 1), s(2, 2)],
                vec![1.0, 2.0, 3.0],
                vec![s(2, 1), s(2, 1), s(3, 1)],
                vec![1.0, 1.0, 1.0],
            ),
            (
                vec![s(-5, 1), s(10, 1)],
                vec![1.0, 1.0],
                vec![s(-10, 1), s(8, 1), s(4, 3)],
                vec![1.0, 1.0, 1.0, 1.0, 1.0],
            ),
        ];
        for (spans_a, buckets_a, spans_b, buckets_b) in cases {
            let mut want: std::collections::BTreeMap<i32, f64> =
                expand(&spans_a, &buckets_a).into_iter().collect();
            for (i, c) in expand(&spans_b, &buckets_b) {
                *want.entry(i).or_default() += c;
            }
            let (mut sa, mut ba) = (spans_a.clone(), buckets_a.clone());
            add_buckets(0, 0.0, false, &mut sa, &mut ba, &spans_b, &buckets_b);
            let got: Vec<_> = expand(&sa, &ba);
            assert_eq!(
                got,
                want.into_iter().collect::<Vec<_>>(),
                "{spans_a:?} + {spans_b:?} -> {sa:?}"
            );
            assert_eq!(
                sa.iter().map(|s| s.length as usize).sum::<usize>(),
                ba.len()
            );
        }
    }

    #[test]
    fn intersection_and_mapping() {
        assert_eq!(
            intersect_custom_bounds(&[1.0, 2.0, 5.0], &[2.0, 3.0, 5.0]),
            vec![2.0, 5.0]
        );
        // a: bounds 1,2,5 counts 1,2,3,+Inf 4; b: bounds 2,3,5 counts 10,20,30, +Inf 40.
        let (spans, buckets) = add_custom_mismatched(
            false,
            &[s(0, 4)],
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 2.0, 5.0],
            &[s(0, 4)],
            &[10.0, 20.0, 30.0, 40.0],
            &[2.0, 3.0, 5.0],
            &[2.0, 5.0],
        );
        assert_eq!(spans, vec![s(0, 3)]);
        assert_eq!(buckets, vec![13.0, 53.0, 44.0]);
    }
}
