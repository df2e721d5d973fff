//! Conversion between the remote-write histogram (spans + deltas or float counts) and
//! [`FloatHistogram`].

use crate::write::{BucketSpan, Histogram, HistogramCount};

use super::{CounterResetHint, FloatHistogram, Span};

/// Bucket indexes beyond this are not produced by any valid schema; spans reaching past it
/// are dropped rather than risking index overflow later.
const MAX_ABS_INDEX: i64 = 1 << 24;

impl CounterResetHint {
    /// From the wire enum: 0 unknown, 1 yes, 2 no, 3 gauge (others: unknown).
    pub fn from_wire(v: i32) -> Self {
        match v {
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            _ => CounterResetHint::Unknown,
        }
    }

    pub fn to_wire(self) -> i32 {
        match self {
            CounterResetHint::Unknown => 0,
            CounterResetHint::CounterReset => 1,
            CounterResetHint::NotCounterReset => 2,
            CounterResetHint::Gauge => 3,
        }
    }
}

fn count_value(c: HistogramCount) -> f64 {
    match c {
        HistogramCount::Int(v) => v as f64,
        HistogramCount::Float(v) => v,
    }
}

/// Keeps the spans that are backed by buckets and have sane offsets: the result's span
/// lengths add up to at most `available` buckets. Never panics.
fn clamp_spans(spans: &[BucketSpan], available: usize) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    let mut left = available as u64;
    let mut idx: i64 = 0;
    for (i, s) in spans.iter().enumerate() {
        if left == 0 || (i > 0 && s.offset < 0) {
            break;
        }
        let length = u64::from(s.length).min(left);
        idx += i64::from(s.offset);
        let end = idx + length as i64;
        if idx.abs() > MAX_ABS_INDEX || end > MAX_ABS_INDEX {
            break;
        }
        idx = end;
        left -= length;
        out.push(Span {
            offset: s.offset,
            length: length as u32,
        });
    }
    out
}

/// Absolute counts from deltas (integer histograms) or float counts.
fn side_counts(
    spans: &[BucketSpan],
    deltas: &[i64],
    counts: &[f64],
    integer: bool,
) -> (Vec<Span>, Vec<f64>) {
    if integer {
        let spans = clamp_spans(spans, deltas.len());
        let n: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
        let mut abs: i64 = 0;
        let buckets = deltas
            .iter()
            .take(n as usize)
            .map(|d| {
                abs = abs.wrapping_add(*d);
                abs as f64
            })
            .collect();
        (spans, buckets)
    } else {
        let spans = clamp_spans(spans, counts.len());
        let n: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
        (spans, counts[..n as usize].to_vec())
    }
}

impl FloatHistogram {
    /// Converts a remote-write histogram. Spans that claim more buckets than the sample
    /// carries are cut short; nothing here panics on malformed input.
    pub fn from_wire(h: &Histogram) -> FloatHistogram {
        let integer = matches!(h.count, HistogramCount::Int(_));
        let (positive_spans, positive_buckets) = side_counts(
            &h.positive_spans,
            &h.positive_deltas,
            &h.positive_counts,
            integer,
        );
        let mut fh = FloatHistogram {
            counter_reset_hint: CounterResetHint::from_wire(h.reset_hint),
            schema: h.schema,
            count: count_value(h.count),
            sum: h.sum,
            positive_spans,
            positive_buckets,
            ..Default::default()
        };
        if fh.uses_custom_buckets() {
            fh.custom_values = h.custom_values.clone();
        } else {
            (fh.negative_spans, fh.negative_buckets) = side_counts(
                &h.negative_spans,
                &h.negative_deltas,
                &h.negative_counts,
                integer,
            );
            fh.zero_threshold = h.zero_threshold;
            fh.zero_count = count_value(h.zero_count);
        }
        fh
    }

    /// The remote-write form (float counts) at `timestamp_ms`.
    pub fn to_wire(&self, timestamp_ms: i64) -> Histogram {
        let spans = |s: &[Span]| -> Vec<BucketSpan> {
            s.iter()
                .map(|s| BucketSpan {
                    offset: s.offset,
                    length: s.length,
                })
                .collect()
        };
        Histogram {
            timestamp_ms,
            count: HistogramCount::Float(self.count),
            sum: self.sum,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: HistogramCount::Float(self.zero_count),
            negative_spans: spans(&self.negative_spans),
            negative_deltas: Vec::new(),
            negative_counts: self.negative_buckets.clone(),
            positive_spans: spans(&self.positive_spans),
            positive_deltas: Vec::new(),
            positive_counts: self.positive_buckets.clone(),
            reset_hint: self.counter_reset_hint.to_wire(),
            custom_values: self.custom_values.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn wire(
        count: HistogramCount,
        spans: Vec<BucketSpan>,
        deltas: Vec<i64>,
        counts: Vec<f64>,
    ) -> Histogram {
        Histogram {
            timestamp_ms: 0,
            count,
            sum: 1.5,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: HistogramCount::Int(2),
            negative_spans: vec![],
            negative_deltas: vec![],
            negative_counts: vec![],
            positive_spans: spans,
            positive_deltas: deltas,
            positive_counts: counts,
            reset_hint: 2,
            custom_values: vec![],
        }
    }

    fn bs(offset: i32, length: u32) -> BucketSpan {
        BucketSpan { offset, length }
    }

    #[test]
    fn integer_deltas_become_absolute_counts() {
        let h = wire(
            HistogramCount::Int(10),
            vec![bs(-1, 2), bs(2, 1)],
            vec![3, -1, 2],
            vec![],
        );
        let fh = FloatHistogram::from_wire(&h);
        assert_eq!(fh.positive_buckets, vec![3.0, 2.0, 4.0]);
        assert_eq!(
            fh.positive_spans,
            vec![
                Span {
                    offset: -1,
                    length: 2
                },
                Span {
                    offset: 2,
                    length: 1
                }
            ]
        );
        assert_eq!(fh.counter_reset_hint, CounterResetHint::NotCounterReset);
        assert_eq!(
            (fh.count, fh.zero_count, fh.zero_threshold),
            (10.0, 2.0, 0.001)
        );
    }

    #[test]
    fn float_counts_round_trip() {
        let h = wire(
            HistogramCount::Float(4.5),
            vec![bs(0, 2)],
            vec![],
            vec![1.5, 3.0],
        );
        let fh = FloatHistogram::from_wire(&h);
        assert_eq!(fh.positive_buckets, vec![1.5, 3.0]);
        assert_eq!(FloatHistogram::from_wire(&fh.to_wire(0)), fh);
    }

    #[test]
    fn spans_longer_than_buckets_are_cut() {
        let h = wire(
            HistogramCount::Int(3),
            vec![bs(0, 2), bs(1, 5)],
            vec![1, 1, 1],
            vec![],
        );
        let fh = FloatHistogram::from_wire(&h);
        assert_eq!(
            fh.positive_spans,
            vec![
                Span {
                    offset: 0,
                    length: 2
                },
                Span {
                    offset: 1,
                    length: 1
                }
            ]
        );
        assert_eq!(fh.positive_buckets, vec![1.0, 2.0, 3.0]);
    }

    fn arb_spans() -> impl Strategy<Value = Vec<BucketSpan>> {
        prop::collection::vec(
            (any::<i32>(), any::<u32>()).prop_map(|(o, l)| bs(o, l)),
            0..5,
        )
    }

    proptest! {
        #[test]
        fn from_wire_never_panics(
            pos in arb_spans(),
            neg in arb_spans(),
            deltas in prop::collection::vec(any::<i64>(), 0..10),
            counts in prop::collection::vec(any::<f64>(), 0..10),
            schema in -60i32..10,
            integer in any::<bool>(),
            hint in any::<i32>(),
            threshold in any::<f64>(),
        ) {
            let count = if integer { HistogramCount::Int(7) } else { HistogramCount::Float(7.0) };
            let mut h = wire(count, pos, deltas.clone(), counts.clone());
            h.schema = schema;
            h.negative_spans = neg;
            h.negative_deltas = deltas;
            h.negative_counts = counts;
            h.reset_hint = hint;
            h.zero_threshold = threshold;
            let fh = FloatHistogram::from_wire(&h);
            let len = |s: &[Span]| s.iter().map(|s| s.length as usize).sum::<usize>();
            prop_assert_eq!(len(&fh.positive_spans), fh.positive_buckets.len());
            prop_assert_eq!(len(&fh.negative_spans), fh.negative_buckets.len());
            // Everything downstream must cope with the result too.
            let _ = fh.to_string();
            let mut c = fh.clone();
            c.compact(0);
            let _ = c.add(&fh);
            let _ = fh.detect_reset(&c);
        }
    }
}
