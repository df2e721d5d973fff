use sextant_model::Labels;

use super::*;
use crate::promql::functions::test_support::{close, ctx};
use crate::promql::histogram::Span;
use crate::promql::value::{Annotations, HPoint};

fn hist(count: f64, hint: CounterResetHint) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: hint,
        count,
        sum: count,
        positive_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![count],
        ..FloatHistogram::default()
    }
}

/// `histogram_count(increase(...))` over `(seconds, count, reset hint)` samples.
fn increase_count(
    samples: &[(i64, f64, bool)],
    start_s: i64,
    end_s: i64,
    modifier: SelectorModifier,
) -> Option<f64> {
    let hs: Vec<HPoint> = samples
        .iter()
        .map(|&(s, c, reset)| HPoint {
            t: s * 1000,
            h: Box::new(hist(
                c,
                if reset {
                    CounterResetHint::CounterReset
                } else {
                    CounterResetHint::Unknown
                },
            )),
        })
        .collect();
    let metric = Labels::default();
    let w = RangeWindow {
        floats: &[],
        histograms: &hs,
        range_start: start_s * 1000,
        range_end: end_s * 1000,
        modifier,
        before: None,
        after: None,
        metric: &metric,
        decreases: None,
        float_samples: None,
    };
    let mut annos = Annotations::default();
    match extended_rate(&w, &mut ctx(end_s, &mut annos), true, false) {
        Some(RangeOutput::Histogram(h)) => Some(h.count),
        _ => None,
    }
}

#[test]
fn histogram_increases() {
    use SelectorModifier::{Anchored, Smoothed};
    // (name, samples, window start s, end s, modifier, want)
    type Case<'a> = (
        &'a str,
        &'a [(i64, f64, bool)],
        i64,
        i64,
        SelectorModifier,
        f64,
    );
    let counter: &[(i64, f64, bool)] = &[
        (0, 1.0, false),
        (15, 2.0, false),
        (30, 3.0, false),
        (45, 4.0, false),
        (60, 5.0, false),
    ];
    let cases: &[Case<'_>] = &[
        ("anchored", &counter[..4], -10, 50, Anchored, 3.0),
        (
            "smoothed interpolates the end",
            counter,
            -10,
            50,
            Smoothed,
            10.0 / 3.0,
        ),
        (
            "reset at the last sample",
            &[(0, 5.0, false), (30, 10.0, false), (60, 3.0, true)],
            0,
            70,
            Anchored,
            8.0,
        ),
        (
            "two samples with a reset",
            &[(0, 5.0, false), (30, 3.0, true)],
            0,
            30,
            Anchored,
            3.0,
        ),
        (
            "double reset",
            &[
                (0, 10.0, false),
                (10, 5.0, true),
                (20, 2.0, true),
                (30, 4.0, false),
            ],
            1,
            15,
            Smoothed,
            5.5,
        ),
        (
            "both ends interpolated across one reset",
            &[(0, 10.0, false), (20, 5.0, true)],
            5,
            15,
            Smoothed,
            2.5,
        ),
        (
            "reset at the right boundary",
            &[(0, 5.0, false), (10, 10.0, false), (20, 3.0, true)],
            5,
            15,
            Smoothed,
            4.0,
        ),
    ];
    for (name, samples, start, end, modifier, want) in cases {
        let got = increase_count(samples, *start, *end, *modifier);
        assert!(
            got.is_some_and(|g| close(g, *want)),
            "{name}: {got:?} != {want}"
        );
    }
}

#[test]
fn anchored_points_start_at_the_last_sample_before_the_window() {
    let metric = Labels::default();
    let floats = [FPoint { t: 3000, f: 2.0 }];
    let hs = [
        HPoint {
            t: 1000,
            h: Box::new(hist(1.0, CounterResetHint::Unknown)),
        },
        HPoint {
            t: 2000,
            h: Box::new(hist(2.0, CounterResetHint::Unknown)),
        },
    ];
    let w = RangeWindow {
        floats: &floats,
        histograms: &hs,
        range_start: 2000,
        range_end: 3000,
        modifier: SelectorModifier::Anchored,
        before: None,
        after: None,
        metric: &metric,
        decreases: None,
        float_samples: None,
    };
    let points = anchored_points(&w);
    assert_eq!(points.len(), 2);
    assert!(matches!(points[0], Point::Histogram(h) if h.count == 2.0));
    assert!(matches!(points[1], Point::Float(f) if f == 2.0));
}
