use proptest::prelude::*;
use sextant_model::Labels;

use super::*;
use crate::promql::histogram::FloatHistogram;
use crate::promql::value::{stale_nan, HPoint};

#[test]
fn window_end_is_the_right_edge_of_a_left_open_window() {
    let cases = [
        (1, 5, 5),
        (5, 5, 5),
        (6, 5, 10),
        (0, 5, 0),
        (-1, 5, 0),
        (-5, 5, -5),
        (-6, 5, -5),
        (3_600_001, RESOLUTION_1H_MS, 7_200_000),
        (i64::MAX, RESOLUTION_5M_MS, i64::MAX),
    ];
    for (t, r, want) in cases {
        assert_eq!(window_end(t, r), want, "window_end({t}, {r})");
    }
    // the extremes saturate instead of overflowing
    assert!(window_end(i64::MIN, 5) > i64::MIN);
    assert_eq!(window_end(7, 0), 7);
}

#[test]
fn aggregate_names_round_trip() {
    for a in MetricsAggregate::ALL {
        assert_eq!(MetricsAggregate::parse(a.as_str()), Some(a));
    }
    assert_eq!(MetricsAggregate::parse(AGGREGATE_RAW), None);
    assert_eq!(MetricsAggregate::parse("COUNT"), None);
}

fn fp(t: i64, f: f64) -> FPoint {
    FPoint { t, f }
}

fn series(floats: &[(i64, f64)], histogram_times: &[i64]) -> Series {
    Series {
        metric: Labels::from_pairs([("__name__", "x")]),
        floats: floats.iter().map(|&(t, f)| fp(t, f)).collect(),
        histograms: histogram_times
            .iter()
            .map(|&t| HPoint {
                t,
                h: Box::new(FloatHistogram::default()),
            })
            .collect(),
        drop_name: true,
    }
}

#[test]
fn raw_as_count_is_one_per_sample_in_time_order() {
    let stale_histogram = FloatHistogram {
        sum: stale_nan(),
        ..FloatHistogram::default()
    };
    let mut input = series(&[(10, 5.0), (30, f64::NAN), (40, stale_nan())], &[20, 50]);
    input.histograms.push(HPoint {
        t: 60,
        h: Box::new(stale_histogram),
    });
    let got = raw_as_aggregate(input, MetricsAggregate::Count);
    let want: Vec<FPoint> = [10, 20, 30, 50].into_iter().map(|t| fp(t, 1.0)).collect();
    assert_eq!(got.floats, want);
    assert!(got.histograms.is_empty());
    assert!(got.drop_name);
    assert_eq!(got.metric.metric_name(), Some("x"));
}

#[test]
fn raw_as_other_aggregates_is_unchanged() {
    let input = series(&[(10, 5.0), (40, stale_nan())], &[20]);
    for a in [
        MetricsAggregate::Sum,
        MetricsAggregate::Min,
        MetricsAggregate::Max,
        MetricsAggregate::Counter,
    ] {
        let got = raw_as_aggregate(input.clone(), a);
        assert_eq!(got.floats.len(), 2, "{a:?}");
        assert_eq!(got.histograms, input.histograms, "{a:?}");
    }
}

#[test]
fn downsample_points_table() {
    let nan = f64::NAN;
    // windows of 10: (0,10] (10,20] (20,30]
    let points = [
        (1, 3.0),
        (5, 1.0),
        (10, 2.0),
        (15, nan),
        (22, 7.0),
        (25, 4.0),
    ];
    type Case<'a> = (MetricsAggregate, &'a [(i64, f64)], Vec<(i64, f64)>);
    let cases: [Case<'_>; 5] = [
        (
            MetricsAggregate::Count,
            &[(1, 1.0), (5, 1.0), (10, 1.0), (15, 1.0), (22, 1.0)],
            vec![(10, 3.0), (15, 1.0), (22, 1.0)],
        ),
        (
            MetricsAggregate::Sum,
            &points,
            vec![(10, 6.0), (15, nan), (25, 11.0)],
        ),
        (
            MetricsAggregate::Min,
            &points,
            vec![(10, 1.0), (15, nan), (25, 4.0)],
        ),
        (
            MetricsAggregate::Max,
            &points,
            vec![(10, 3.0), (15, nan), (25, 7.0)],
        ),
        (
            MetricsAggregate::Counter,
            &[
                (1, 3.0),
                (2, 4.0),
                (3, 5.0),
                (4, 1.0),
                (5, 2.0),
                (9, 6.0),
                (12, 1.0),
                (20, 2.0),
            ],
            // 1 first, 3/4 a reset, 9 last; 12 first, 20 last (12 < 9 is across windows)
            vec![(1, 3.0), (3, 5.0), (4, 1.0), (9, 6.0), (12, 1.0), (20, 2.0)],
        ),
    ];
    for (aggregate, input, want) in cases {
        let got = downsample_points(input, 10, aggregate);
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{aggregate:?}");
    }
}

#[test]
fn min_and_max_skip_nan_unless_all_nan() {
    let nan = f64::NAN;
    let got = downsample_points(
        &[(1, nan), (2, 5.0), (3, nan), (4, 2.0)],
        10,
        MetricsAggregate::Min,
    );
    assert_eq!(got, vec![(4, 2.0)]);
    let got = downsample_points(&[(1, 5.0), (2, nan), (3, 9.0)], 10, MetricsAggregate::Max);
    assert_eq!(got, vec![(3, 9.0)]);
}

#[test]
fn counter_compacts_windows_with_many_resets() {
    let input = [
        (1, 5.0),
        (2, 3.0),
        (3, 6.0),
        (4, 2.0),
        (5, 7.0),
        (6, 1.0),
        (7, 4.0),
    ];
    let got = downsample_points(&input, 10, MetricsAggregate::Counter);
    // resets add 5 + 6 + 7 = 18; 4 - 5 + 18 = 17 either way; the last value is below 18,
    // so the drop to it is the one reset
    assert_eq!(got, vec![(1, 5.0), (2, 18.0), (7, 4.0)]);
    assert!(same_increase(
        counter_increase(&got),
        counter_increase(&input)
    ));
    // the last value above the resets' sum: the reset goes to zero
    let input = [(1, 1.0), (2, 0.0), (3, 2.0), (4, 0.0), (5, 9.0)];
    let got = downsample_points(&input, 10, MetricsAggregate::Counter);
    assert_eq!(got, vec![(1, 1.0), (2, 3.0), (3, 0.0), (5, 9.0)]);
    assert!(same_increase(
        counter_increase(&got),
        counter_increase(&input)
    ));
    // negative values: not compacted, only the lows after resets go
    let input = [(1, -1.0), (2, -3.0), (3, -2.0), (4, -5.0), (5, -4.0)];
    let got = downsample_points(&input, 10, MetricsAggregate::Counter);
    assert_eq!(got, vec![(1, -1.0), (3, -2.0), (5, -4.0)]);
    assert!(same_increase(
        counter_increase(&got),
        counter_increase(&input)
    ));
}

#[test]
fn counter_drops_the_low_after_a_reset_while_below_the_pre_reset_value() {
    // (name, input, kept points)
    type Case = (&'static str, Vec<(i64, f64)>, Vec<(i64, f64)>);
    let cases: [Case; 4] = [
        (
            "still below 8 at the last point: the drop 8 -> 6 adds 6 like 8 -> 1 -> 6",
            vec![(1, 5.0), (2, 8.0), (3, 1.0), (4, 3.0), (5, 6.0)],
            vec![(1, 5.0), (2, 8.0), (5, 6.0)],
        ),
        (
            "back above 8: the low stays",
            vec![(1, 5.0), (2, 8.0), (3, 1.0), (4, 3.0), (5, 9.0)],
            vec![(1, 5.0), (2, 8.0), (3, 1.0), (5, 9.0)],
        ),
        (
            "the reset is the last sample",
            vec![(1, 5.0), (2, 8.0), (3, 1.0)],
            vec![(1, 5.0), (2, 8.0), (3, 1.0)],
        ),
        (
            "two resets, the second pre-reset value below the first: one low goes",
            vec![(1, 5.0), (2, 8.0), (3, 1.0), (4, 4.0), (5, 2.0), (6, 3.0)],
            vec![(1, 5.0), (2, 8.0), (4, 4.0), (6, 3.0)],
        ),
    ];
    for (name, input, want) in cases {
        let got = downsample_points(&input, 10, MetricsAggregate::Counter);
        assert_eq!(got, want, "{name}");
        assert!(
            same_increase(counter_increase(&got), counter_increase(&input)),
            "{name}"
        );
    }
}

#[test]
fn counter_keeps_both_sides_of_nan() {
    let nan = f64::NAN;
    let input = [(1, 1.0), (2, 2.0), (3, nan), (4, 3.0), (5, 4.0), (6, 5.0)];
    let got = downsample_points(&input, 10, MetricsAggregate::Counter);
    let want = [(1, 1.0), (2, 2.0), (3, nan), (4, 3.0), (6, 5.0)];
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
}

/// What `rate`/`increase` take from a window of float samples: the first and last times,
/// the last minus the first value plus the values before each reset (Prometheus's order of
/// additions), and the magnitude of those terms (the scale of the rounding error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Increase {
    first_t: i64,
    last_t: i64,
    value: f64,
    scale: f64,
}

pub(crate) fn counter_increase(points: &[(i64, f64)]) -> Increase {
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut value = last.1 - first.1;
    let mut scale = last.1.abs() + first.1.abs();
    for pair in points.windows(2) {
        if pair[1].1 < pair[0].1 {
            value += pair[0].1;
            scale += pair[0].1.abs();
        }
    }
    Increase {
        first_t: first.0,
        last_t: last.0,
        value,
        scale,
    }
}

/// Same first and last times, and increases equal up to rounding.
pub(crate) fn same_increase(a: Increase, b: Increase) -> bool {
    let tolerance = 1e-9 * a.scale.max(b.scale);
    a.first_t == b.first_t
        && a.last_t == b.last_t
        && ((a.value.is_nan() && b.value.is_nan()) || (a.value - b.value).abs() <= tolerance)
}

/// A series with gaps, resets, big jumps and occasional NaNs, starting after `start` with
/// steps of 1 to 39 `unit`s.
pub(crate) fn arb_counter_from(start: i64, unit: i64) -> impl Strategy<Value = Vec<(i64, f64)>> {
    prop::collection::vec((1i64..40, 0u8..100), 1..200).prop_map(move |steps| {
        let (mut t, mut v) = (start, 0.0);
        steps
            .into_iter()
            .map(|(dt, r)| {
                t += dt * unit;
                v = match r {
                    0..=4 => f64::from(r), // a reset
                    5 => f64::NAN,
                    6..=10 if v.is_nan() => 1e12,
                    6..=10 => v + 1e12, // a big jump
                    _ if v.is_nan() => 0.0,
                    _ => v + f64::from(r) / 7.0,
                };
                (t, v)
            })
            .collect()
    })
}

fn arb_counter() -> impl Strategy<Value = Vec<(i64, f64)>> {
    arb_counter_from(0, 1)
}

/// The samples of `points` in the windows `(a·r, b·r]`.
fn in_windows(points: &[(i64, f64)], r: i64, a: i64, b: i64) -> Vec<(i64, f64)> {
    let (lo, hi) = (a * r, b * r);
    points
        .iter()
        .copied()
        .filter(|&(t, _)| t > lo && t <= hi)
        .collect()
}

/// The counter increase of each window of `points`, by window end.
fn counter_windows(points: &[(i64, f64)], r: i64) -> Vec<(i64, Increase)> {
    points
        .chunk_by(|a, b| window_end(a.0, r) == window_end(b.0, r))
        .map(|w| (window_end(w[0].0, r), counter_increase(w)))
        .collect()
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

proptest! {
    #[test]
    fn whole_windows_give_the_raw_answers(
        raw in arb_counter(),
        r in prop::sample::select(vec![10i64, 25, 60]),
        a in 0i64..20,
        len in 1i64..20,
    ) {
        let b = a + len;
        let window = in_windows(&raw, r, a, b);
        prop_assume!(!window.is_empty());
        let ones: Vec<(i64, f64)> = raw.iter().map(|&(t, _)| (t, 1.0)).collect();
        let count = in_windows(&downsample_points(&ones, r, MetricsAggregate::Count), r, a, b);
        prop_assert_eq!(count.iter().map(|p| p.1).sum::<f64>(), window.len() as f64);
        let sums = in_windows(&downsample_points(&raw, r, MetricsAggregate::Sum), r, a, b);
        let raw_sum = super::windows::sum(&window);
        let down_sum = super::windows::sum(&sums);
        prop_assert!(same_value(raw_sum, down_sum), "{} vs {}", raw_sum, down_sum);
        for (aggregate, better) in [
            (MetricsAggregate::Min, (|c, a| c < a) as fn(f64, f64) -> bool),
            (MetricsAggregate::Max, |c, a| c > a),
        ] {
            let fold = |ps: &[(i64, f64)]| {
                ps.iter().skip(1).fold(ps[0].1, |acc, p| {
                    if better(p.1, acc) || acc.is_nan() { p.1 } else { acc }
                })
            };
            let down = in_windows(&downsample_points(&raw, r, aggregate), r, a, b);
            prop_assert_eq!(format!("{:?}", fold(&window)), format!("{:?}", fold(&down)));
        }
        let counter = in_windows(&downsample_points(&raw, r, MetricsAggregate::Counter), r, a, b);
        let (raw_inc, down_inc) = (counter_increase(&window), counter_increase(&counter));
        prop_assert!(same_increase(raw_inc, down_inc), "{:?} vs {:?}", raw_inc, down_inc);
    }

    #[test]
    fn coarser_from_finer_equals_coarser_from_raw(raw in arb_counter(), k in 2i64..8) {
        let (fine, coarse) = (10, 10 * k);
        let ones: Vec<(i64, f64)> = raw.iter().map(|&(t, _)| (t, 1.0)).collect();
        for aggregate in MetricsAggregate::ALL {
            let form = if aggregate == MetricsAggregate::Count { &ones } else { &raw };
            let direct = downsample_points(form, coarse, aggregate);
            let twice = downsample_points(&downsample_points(form, fine, aggregate), coarse, aggregate);
            if aggregate == MetricsAggregate::Counter {
                let (direct, twice) = (counter_windows(&direct, coarse), counter_windows(&twice, coarse));
                prop_assert_eq!(direct.len(), twice.len());
                for (d, t) in direct.iter().zip(&twice) {
                    prop_assert!(d.0 == t.0 && same_increase(d.1, t.1), "{:?} vs {:?}", d, t);
                }
                continue;
            }
            prop_assert_eq!(direct.len(), twice.len(), "{:?}", aggregate);
            for (d, t) in direct.iter().zip(&twice) {
                prop_assert_eq!(d.0, t.0);
                prop_assert!(same_value(d.1, t.1), "{:?}: {} vs {}", aggregate, d.1, t.1);
            }
        }
    }
}
