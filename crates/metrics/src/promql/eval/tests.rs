use sextant_model::Labels;

use crate::promql::engine::{Engine, EngineOptions};
use crate::promql::queryable::MemQueryable;
use crate::promql::value::{stale_nan, EvalError, FPoint, Series, Value};

use super::selector::{pick, window, Picked};
use super::steps::merge_same_labelset;

const M: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// `x{a="1"}`: 0 1 2 ... 10 every minute; `x{a="2"}`: 10 at 0m, stale at 2m, 30 at 4m;
/// `y`: 5 at 0m only.
fn store() -> MemQueryable {
    let mut q = MemQueryable::new();
    let a1 = labels(&[("__name__", "x"), ("a", "1")]);
    for i in 0..=10 {
        q.add_float(&a1, i * M, i as f64);
    }
    let a2 = labels(&[("__name__", "x"), ("a", "2")]);
    q.add_float(&a2, 0, 10.0);
    q.add_float(&a2, 2 * M, stale_nan());
    q.add_float(&a2, 4 * M, 30.0);
    q.add_float(&labels(&[("__name__", "y")]), 0, 5.0);
    q
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

/// An instant vector result as (labels text, value), sorted.
fn instant(query: &str, ts: i64) -> Result<Vec<(String, f64)>, EvalError> {
    let res = engine().instant(&store(), query, ts)?;
    let Value::Vector(v) = res.value else {
        panic!("not a vector: {:?}", res.value);
    };
    let mut out: Vec<(String, f64)> = v.into_iter().map(|s| (s.metric.to_string(), s.f)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn pairs(expected: &[(&str, f64)]) -> Vec<(String, f64)> {
    expected.iter().map(|(l, f)| (l.to_string(), *f)).collect()
}

/// (query, evaluation time, expected series and values)
type InstantCase<'a> = (&'a str, i64, &'a [(&'a str, f64)]);

#[test]
fn instant_selectors() {
    let cases: &[InstantCase<'_>] = &[
        ("x", 3 * M, &[("x{a=\"1\"}", 3.0)]),
        ("x", M, &[("x{a=\"1\"}", 1.0), ("x{a=\"2\"}", 10.0)]),
        ("x", 4 * M, &[("x{a=\"1\"}", 4.0), ("x{a=\"2\"}", 30.0)]),
        (
            "x offset 2m",
            3 * M,
            &[("x{a=\"1\"}", 1.0), ("x{a=\"2\"}", 10.0)],
        ),
        ("x @ 120", 10 * M, &[("x{a=\"1\"}", 2.0)]),
        ("x @ 60 offset -1m", 0, &[("x{a=\"1\"}", 2.0)]),
        ("y", 4 * M + 59_999, &[("y{}", 5.0)]),
        ("y", 5 * M, &[]),
        ("x{a=\"2\"}", 3 * M, &[]),
        ("-y", 0, &[("{}", -5.0)]),
        ("timestamp(x{a=\"2\"})", 5 * M, &[("{a=\"2\"}", 240.0)]),
        ("absent(nope{job=\"j\"})", 0, &[("{job=\"j\"}", 1.0)]),
        ("absent(y)", 0, &[]),
        ("vector(time())", 2 * M, &[("{}", 120.0)]),
    ];
    for (query, ts, expected) in cases {
        assert_eq!(
            instant(query, *ts).unwrap(),
            pairs(expected),
            "{query} at {ts}"
        );
    }
}

#[test]
fn scalar_results() {
    let cases: &[(&str, i64, f64)] = &[
        ("scalar(y)", 0, 5.0),
        ("time()", 90_000, 90.0),
        ("2", 0, 2.0),
    ];
    for (query, ts, expected) in cases {
        let res = engine().instant(&store(), query, *ts).unwrap();
        assert_eq!(
            res.value,
            Value::Scalar {
                t: *ts,
                f: *expected
            },
            "{query}"
        );
    }
    let res = engine().instant(&store(), "scalar(x)", 0).unwrap();
    assert!(matches!(res.value, Value::Scalar { f, .. } if f.is_nan()));
}

#[test]
fn range_query_of_selector_is_sorted_and_respects_staleness() {
    let res = engine().range(&store(), "x", 0, 5 * M, M).unwrap();
    let Value::Matrix(m) = res.value else {
        panic!()
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].metric, labels(&[("__name__", "x"), ("a", "1")]));
    let a2: Vec<(i64, f64)> = m[1].floats.iter().map(|p| (p.t, p.f)).collect();
    assert_eq!(a2, vec![(0, 10.0), (M, 10.0), (4 * M, 30.0), (5 * M, 30.0)]);
    assert!(res.samples_read >= 10);
}

#[test]
fn matrix_selector_and_subquery_in_instant_queries() {
    let res = engine().instant(&store(), "x{a=\"1\"}[2m]", 5 * M).unwrap();
    let Value::Matrix(m) = res.value else {
        panic!()
    };
    assert_eq!(
        m[0].floats,
        vec![FPoint { t: 4 * M, f: 4.0 }, FPoint { t: 5 * M, f: 5.0 }]
    );

    let res = engine()
        .instant(&store(), "x{a=\"1\"}[150s:1m]", 5 * M)
        .unwrap();
    let Value::Matrix(m) = res.value else {
        panic!()
    };
    let ts: Vec<i64> = m[0].floats.iter().map(|p| p.t).collect();
    assert_eq!(ts, vec![180_000, 240_000, 300_000]);
}

#[test]
fn step_invariant_expressions_repeat_over_steps() {
    let res = engine()
        .range(&store(), "x{a=\"1\"} @ 120", 0, 3 * M, M)
        .unwrap();
    let Value::Matrix(m) = res.value else {
        panic!()
    };
    assert!(m[0].floats.iter().all(|p| p.f == 2.0));
    assert_eq!(m[0].floats.len(), 4);
}

#[test]
fn errors() {
    let e = engine().range(&store(), "x[5m]", 0, M, M).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let small = Engine::new(EngineOptions {
        max_samples: 3,
        ..EngineOptions::default()
    });
    let e = small.range(&store(), "x", 0, 5 * M, M).unwrap_err();
    assert!(matches!(e, EvalError::TooManySamples(_)), "{e}");
}

#[test]
fn pick_honours_lookback_and_staleness() {
    let s = Series {
        floats: vec![
            FPoint { t: 0, f: 1.0 },
            FPoint {
                t: 10,
                f: stale_nan(),
            },
            FPoint { t: 20, f: 3.0 },
        ],
        ..Series::default()
    };
    let cases: &[(i64, i64, Option<f64>)] = &[
        (0, 5, Some(1.0)),
        (4, 5, Some(1.0)),
        (5, 5, None),
        (10, 100, None),
        (25, 100, Some(3.0)),
        (-1, 100, None),
    ];
    for &(t, lookback, expected) in cases {
        let got = match pick(&s, t, lookback) {
            Some(Picked::Float(_, f)) => Some(f),
            _ => None,
        };
        assert_eq!(got, expected, "at {t} lookback {lookback}");
    }
}

#[test]
fn window_is_left_open() {
    let pts = [0i64, 10, 20, 30];
    let cases = [
        ((0, 20), (1, 3)),
        ((-5, 0), (0, 1)),
        ((30, 40), (4, 4)),
        ((5, 6), (1, 1)),
    ];
    for ((start, end), expected) in cases {
        assert_eq!(
            window(&pts, |t| *t, start, end),
            expected,
            "({start}, {end}]"
        );
    }
}

#[test]
fn merging_same_labelsets() {
    let series = |f: &[(i64, f64)]| Series {
        metric: labels(&[("a", "1")]),
        floats: f.iter().map(|&(t, f)| FPoint { t, f }).collect(),
        ..Series::default()
    };
    let merged = merge_same_labelset(vec![series(&[(2, 2.0)]), series(&[(1, 1.0)])]).unwrap();
    assert_eq!(merged.len(), 1);
    assert_eq!(
        merged[0].floats.iter().map(|p| p.t).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let e = merge_same_labelset(vec![series(&[(1, 2.0)]), series(&[(1, 1.0)])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn info_adds_target_info_data_labels() {
    let mut q = store();
    let base = labels(&[("__name__", "m"), ("instance", "i"), ("job", "j")]);
    let info = labels(&[
        ("__name__", "target_info"),
        ("instance", "i"),
        ("job", "j"),
        ("v", "1"),
    ]);
    q.add_float(&base, 0, 7.0);
    q.add_float(&info, 0, 1.0);
    let res = engine().instant(&q, "info(m)", M).unwrap();
    let Value::Vector(v) = res.value else {
        panic!()
    };
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].metric.to_string(),
        "m{instance=\"i\", job=\"j\", v=\"1\"}"
    );
    let res = engine().instant(&q, "info(m, {v=\"2\"})", M).unwrap();
    assert_eq!(res.value, Value::Vector(Vec::new()));
}

#[test]
fn smoothed_selector_interpolates_and_restarts_counters() {
    use crate::promql::histogram::{CounterResetHint, FloatHistogram};
    let mut q = MemQueryable::new();
    let g = labels(&[("__name__", "g")]);
    q.add_float(&g, 0, 0.0);
    q.add_float(&g, 10_000, 10.0);
    let h = labels(&[("__name__", "h")]);
    let hist = |count: f64, hint| FloatHistogram {
        count,
        sum: count,
        counter_reset_hint: hint,
        ..FloatHistogram::default()
    };
    q.add_histogram(&h, 0, hist(10.0, CounterResetHint::Unknown));
    q.add_histogram(&h, 10_000, hist(4.0, CounterResetHint::CounterReset));
    let res = engine().instant(&q, "g smoothed", 2_500).unwrap();
    let Value::Vector(v) = res.value else {
        panic!()
    };
    assert_eq!(v[0].f, 2.5);
    let res = engine().instant(&q, "h smoothed", 2_500).unwrap();
    let Value::Vector(v) = res.value else {
        panic!()
    };
    assert_eq!(v[0].h.as_ref().map(|h| h.count), Some(1.0));
}

#[test]
fn slider_matches_window_on_forward_steps() {
    use super::selector::Slider;
    let pts: Vec<i64> = vec![0, 10, 10, 20, 35, 36, 80, 81, 200];
    for range in [0, 1, 10, 25, 100] {
        for step in [1, 5, 10, 60] {
            let mut slider = Slider::default();
            for end in (-50..260).step_by(step) {
                let start = end - range;
                assert_eq!(
                    slider.window(&pts, |t| *t, start, end),
                    window(&pts, |t| *t, start, end),
                    "range {range} step {step} end {end}"
                );
            }
        }
    }
}
