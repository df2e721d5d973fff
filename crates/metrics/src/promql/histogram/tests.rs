//! Tests of the histogram arithmetic (table cases and properties).

use proptest::prelude::*;

use super::*;

fn s(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

fn exp(
    schema: i32,
    positive: (Vec<Span>, Vec<f64>),
    negative: (Vec<Span>, Vec<f64>),
) -> FloatHistogram {
    let total: f64 = positive.1.iter().chain(&negative.1).sum();
    FloatHistogram {
        schema,
        count: total,
        sum: total,
        positive_spans: positive.0,
        positive_buckets: positive.1,
        negative_spans: negative.0,
        negative_buckets: negative.1,
        ..Default::default()
    }
}

fn nhcb(bounds: &[f64], buckets: &[f64]) -> FloatHistogram {
    FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: buckets.iter().sum(),
        sum: 1.0,
        positive_spans: vec![s(0, buckets.len() as u32)],
        positive_buckets: buckets.to_vec(),
        custom_values: bounds.to_vec(),
        ..Default::default()
    }
}

#[test]
fn add_reduces_to_the_lower_schema() {
    let mut a = exp(
        1,
        (vec![s(0, 4)], vec![1.0, 2.0, 3.0, 4.0]),
        (vec![], vec![]),
    );
    let b = exp(
        0,
        (vec![s(1, 2)], vec![10.0, 20.0]),
        (vec![s(0, 1)], vec![5.0]),
    );
    a.add(&b).unwrap();
    a.compact(0);
    // Schema 1 indexes 0..=3 become schema 0 indexes 0, 1, 1, 2.
    let want = FloatHistogram {
        count: 45.0,
        sum: 45.0,
        ..exp(
            0,
            (vec![s(0, 3)], vec![1.0, 15.0, 24.0]),
            (vec![s(0, 1)], vec![5.0]),
        )
    };
    assert_eq!(a, want);
    // The other way round gives the same.
    let mut b2 = b.clone();
    b2.add(&exp(
        1,
        (vec![s(0, 4)], vec![1.0, 2.0, 3.0, 4.0]),
        (vec![], vec![]),
    ))
    .unwrap();
    b2.compact(0);
    assert!(b2.equals_approx(&want, 1e-12), "{b2}");
}

#[test]
fn add_widens_the_zero_bucket() {
    // a's zero bucket [-1, 1] swallows b's buckets (0.5,1] and [-1,-0.5).
    let mut a = FloatHistogram {
        zero_threshold: 1.0,
        zero_count: 3.0,
        ..exp(0, (vec![s(1, 1)], vec![2.0]), (vec![], vec![]))
    };
    let b = FloatHistogram {
        zero_threshold: 0.25,
        zero_count: 1.0,
        ..exp(
            0,
            (vec![s(0, 2)], vec![4.0, 8.0]),
            (vec![s(0, 1)], vec![16.0]),
        )
    };
    a.add(&b).unwrap();
    assert_eq!(
        (a.zero_threshold, a.zero_count),
        (1.0, 3.0 + 1.0 + 4.0 + 16.0)
    );
    assert_eq!(
        (a.positive_spans.clone(), a.positive_buckets.clone()),
        (vec![s(1, 1)], vec![10.0])
    );
    assert!(a.negative_buckets.is_empty());

    // The other way round: b's threshold grows to a's.
    let mut b2 = b.clone();
    let a_orig = FloatHistogram {
        zero_threshold: 1.0,
        zero_count: 3.0,
        ..exp(0, (vec![s(1, 1)], vec![2.0]), (vec![], vec![]))
    };
    b2.add(&a_orig).unwrap();
    b2.compact(0);
    assert!(b2.equals_approx(&a, 1e-12), "{b2} vs {a}");
}

#[test]
fn custom_buckets() {
    let mut a = nhcb(&[1.0, 2.0], &[1.0, 2.0, 3.0]);
    let report = a
        .add_detailed(&nhcb(&[1.0, 2.0], &[1.0, 1.0, 1.0]))
        .unwrap();
    assert_eq!(report, MergeReport::default());
    assert_eq!(a.positive_buckets, vec![2.0, 3.0, 4.0]);

    let mut a = nhcb(&[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 4.0]);
    let report = a
        .sub_detailed(&nhcb(&[2.0, 3.0, 5.0], &[1.0, 1.0, 1.0, 1.0]))
        .unwrap();
    assert!(report.nhcb_bounds_reconciled);
    assert_eq!(a.custom_values, vec![2.0, 5.0]);
    assert_eq!(a.positive_buckets, vec![2.0, 1.0, 3.0]);

    let mut e = exp(0, (vec![s(0, 1)], vec![1.0]), (vec![], vec![]));
    assert_eq!(
        e.add(&nhcb(&[1.0], &[1.0, 1.0])).unwrap_err(),
        HistogramError::IncompatibleSchema
    );
    assert_eq!(
        HistogramError::IncompatibleSchema.to_string(),
        "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
    );
}

#[test]
fn counter_reset_hints_of_sums() {
    use CounterResetHint::*;
    let cases = [
        (Unknown, Unknown, Unknown, false),
        (Gauge, CounterReset, Gauge, false),
        (NotCounterReset, Gauge, Gauge, false),
        (Unknown, CounterReset, Unknown, false),
        (CounterReset, Unknown, Unknown, false),
        (CounterReset, NotCounterReset, Unknown, true),
    ];
    for (a, b, want, collision) in cases {
        let mut x = FloatHistogram {
            counter_reset_hint: a,
            ..Default::default()
        };
        let y = FloatHistogram {
            counter_reset_hint: b,
            ..Default::default()
        };
        let report = x.add_detailed(&y).unwrap();
        assert_eq!(
            (x.counter_reset_hint, report.counter_reset_collision),
            (want, collision),
            "{a:?}+{b:?}"
        );
    }
}

#[test]
fn mul_and_div() {
    let mut h = exp(0, (vec![s(0, 2)], vec![1.0, 2.0]), (vec![], vec![]));
    h.mul(-2.0);
    assert_eq!(
        (h.count, h.positive_buckets.clone()),
        (-6.0, vec![-2.0, -4.0])
    );
    assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    h.div(-2.0);
    assert_eq!((h.count, h.positive_buckets.clone()), (3.0, vec![1.0, 2.0]));
    h.div(0.0);
    assert_eq!(h.count, f64::INFINITY);
    assert!(h.positive_spans.is_empty() && h.positive_buckets.is_empty());
}

#[test]
fn detect_reset_cases() {
    let prev = exp(0, (vec![s(0, 3)], vec![1.0, 2.0, 3.0]), (vec![], vec![]));
    type Case = (&'static str, FloatHistogram, bool);
    let cases: Vec<Case> = vec![
        ("same", prev.clone(), false),
        (
            "bucket grew",
            exp(0, (vec![s(0, 3)], vec![1.0, 5.0, 3.0]), (vec![], vec![])),
            false,
        ),
        (
            "bucket shrank",
            exp(0, (vec![s(0, 3)], vec![1.0, 1.0, 5.0]), (vec![], vec![])),
            true,
        ),
        (
            "bucket vanished",
            exp(0, (vec![s(1, 2)], vec![4.0, 4.0]), (vec![], vec![])),
            true,
        ),
        (
            "empty bucket vanished",
            exp(0, (vec![s(0, 3)], vec![1.0, 2.0, 3.0]), (vec![], vec![])),
            false,
        ),
        (
            "schema increased",
            exp(1, (vec![s(0, 6)], vec![1.0; 6]), (vec![], vec![])),
            true,
        ),
        (
            "schema decreased",
            exp(-1, (vec![s(0, 2)], vec![1.0, 5.0]), (vec![], vec![])),
            false,
        ),
        (
            "merged bucket shrank",
            exp(-1, (vec![s(0, 2)], vec![3.0, 4.0]), (vec![], vec![])),
            true,
        ),
        (
            "hint says reset",
            FloatHistogram {
                counter_reset_hint: CounterResetHint::CounterReset,
                ..prev.clone()
            },
            true,
        ),
    ];
    for (name, h, want) in cases {
        assert_eq!(h.detect_reset(&prev), want, "{name}");
    }
    let a = nhcb(&[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 4.0]);
    assert!(!nhcb(&[2.0, 5.0], &[3.0, 3.0, 4.0]).detect_reset(&a));
    assert!(nhcb(&[2.0, 5.0], &[3.0, 2.0, 5.0]).detect_reset(&a));
}

#[test]
fn exact_equality_ignores_empty_spans_only() {
    let a = exp(
        0,
        (vec![s(0, 2), s(1, 1)], vec![1.0, 0.0, 2.0]),
        (vec![], vec![]),
    );
    let b = exp(
        0,
        (
            vec![s(0, 0), s(0, 2), s(1, 0), s(0, 1)],
            vec![1.0, 0.0, 2.0],
        ),
        (vec![], vec![]),
    );
    assert!(a.equals(&b));
    let compacted = a.clone().compact(0).clone();
    assert!(!a.equals(&compacted), "an explicit empty bucket is data");
    let mut c = a.clone();
    c.sum = 1.0 + f64::EPSILON * 4.0;
    assert!(!a.equals(&c));
}

#[test]
fn equals_approx_ignores_layout_noise() {
    let a = exp(
        0,
        (vec![s(0, 2), s(0, 1)], vec![1.0, 0.0, 2.0]),
        (vec![], vec![]),
    );
    let b = exp(
        0,
        (vec![s(0, 1), s(1, 1)], vec![1.0, 2.0 + 1e-9]),
        (vec![], vec![]),
    );
    assert!(a.equals_approx(&b, 1e-6));
    assert!(!a.equals_approx(&b, 1e-12));
    let c = FloatHistogram {
        schema: 1,
        ..a.clone()
    };
    assert!(!a.equals_approx(&c, 1e-6));
}

fn arb_side() -> impl Strategy<Value = (Vec<Span>, Vec<f64>)> {
    let first = (-30i32..30, 0u32..6).prop_map(|(o, l)| s(o, l));
    let rest = prop::collection::vec((0i32..5, 0u32..6).prop_map(|(o, l)| s(o, l)), 0..4);
    (first, rest).prop_flat_map(|(first, rest)| {
        let spans: Vec<Span> = std::iter::once(first).chain(rest).collect();
        let n = spans.iter().map(|s| s.length as usize).sum::<usize>();
        (
            Just(spans),
            prop::collection::vec((0u32..50).prop_map(f64::from), n),
        )
    })
}

fn arb_hist(schema: impl Strategy<Value = i32>) -> impl Strategy<Value = FloatHistogram> {
    (
        schema,
        arb_side(),
        arb_side(),
        prop::sample::select(vec![0.0, 1.0 / 65536.0, 1.0]),
        0u32..10,
    )
        .prop_map(|(schema, pos, neg, zt, zc): (i32, _, _, f64, u32)| {
            let h = exp(schema, pos, neg);
            // Valid histograms have no bucket inside the zero bucket, and the thresholds are
            // bucket bounds in every schema (powers of 2^16), as real ones are.
            let lowest = h
                .all_buckets()
                .iter()
                .map(|b| b.lower.abs().min(b.upper.abs()))
                .fold(f64::INFINITY, f64::min);
            FloatHistogram {
                zero_threshold: if zt <= lowest { zt } else { 0.0 },
                zero_count: f64::from(zc),
                ..h
            }
        })
}

fn population(h: &FloatHistogram) -> f64 {
    h.zero_count + h.positive_buckets.iter().sum::<f64>() + h.negative_buckets.iter().sum::<f64>()
}

fn bucket_totals(h: &FloatHistogram) -> std::collections::BTreeMap<(bool, i32), f64> {
    let mut out = std::collections::BTreeMap::new();
    for (positive, it) in [
        (true, h.positive_bucket_iter()),
        (false, h.negative_bucket_iter()),
    ] {
        for b in it.filter(|b| b.count != 0.0) {
            *out.entry((positive, b.index)).or_default() += b.count;
        }
    }
    out
}

proptest! {
    #[test]
    fn add_then_sub_restores(a in arb_hist(Just(2)), b in arb_hist(Just(2))) {
        let b = FloatHistogram { zero_threshold: a.zero_threshold, ..b };
        let mut x = a.clone();
        x.add(&b).unwrap();
        x.sub(&b).unwrap();
        x.counter_reset_hint = a.counter_reset_hint;
        prop_assert!(x.equals_approx(&a, 1e-9), "{} vs {}", x, a);
    }

    #[test]
    fn add_conserves_population(a in arb_hist(-4i32..=8), b in arb_hist(-4i32..=8)) {
        let mut x = a.clone();
        x.add(&b).unwrap();
        prop_assert_eq!(population(&x), population(&a) + population(&b));
        prop_assert_eq!(x.count, a.count + b.count);
        prop_assert_eq!(x.schema, a.schema.min(b.schema));
        prop_assert!(x.zero_threshold >= a.zero_threshold.max(b.zero_threshold));
        let len = |s: &[Span]| s.iter().map(|s| s.length as usize).sum::<usize>();
        prop_assert_eq!(len(&x.positive_spans), x.positive_buckets.len());
        prop_assert_eq!(len(&x.negative_spans), x.negative_buckets.len());
    }

    #[test]
    fn compact_preserves_buckets(a in arb_hist(-4i32..=8), max_empty in 0usize..4) {
        let mut x = a.clone();
        x.compact(max_empty);
        prop_assert_eq!(x.count, a.count);
        prop_assert_eq!(bucket_totals(&x), bucket_totals(&a));
        prop_assert!(x.positive_spans.iter().skip(1).all(|s| s.offset as usize > max_empty));
        prop_assert!(x.positive_spans.iter().all(|s| s.length > 0));
    }

    #[test]
    fn reduce_resolution_preserves_population(a in arb_hist(0i32..=8), drop in 0i32..5) {
        let mut x = a.clone();
        x.reduce_resolution(a.schema - drop).unwrap();
        prop_assert_eq!(population(&x), population(&a));
    }

    #[test]
    fn quantile_is_monotonic(a in arb_hist(-4i32..=8), q1 in 0.0f64..=1.0, q2 in 0.0f64..=1.0) {
        // Buckets inside the zero bucket are invalid; keep the zero bucket out of their way.
        let a = FloatHistogram { zero_threshold: 0.0, ..a };
        let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
        let (x, y) = (a.quantile(lo), a.quantile(hi));
        if !x.is_nan() {
            prop_assert!(x <= y * (1.0 + 1e-9) + 1e-9, "{} > {} at {}..{} for {}", x, y, lo, hi, a);
        }
    }
}
