use sextant_model::Labels;

use super::*;
use crate::promql::functions::test_support::{close, ctx, points, window};
use crate::promql::value::Annotations;

fn eval(name: &str, values: &[f64], param: f64) -> (Option<f64>, Annotations) {
    let pairs: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 + 1, *v))
        .collect();
    let pts = points(&pairs);
    let metric = Labels::from_pairs([("__name__", "m")]);
    let w = window(&pts, 0, 100, &metric);
    let mut annos = Annotations::default();
    let out = over_time(name, &w, param, &mut ctx(100, &mut annos));
    let f = match out {
        Some(RangeOutput::Float(f)) => Some(f),
        _ => None,
    };
    (f, annos)
}

#[test]
fn float_aggregations() {
    let v = [4.0, 1.0, 3.0, 2.0];
    let cases = [
        ("count_over_time", 4.0),
        ("present_over_time", 1.0),
        ("sum_over_time", 10.0),
        ("avg_over_time", 2.5),
        ("min_over_time", 1.0),
        ("max_over_time", 4.0),
        ("last_over_time", 2.0),
        ("first_over_time", 4.0),
        ("ts_of_max_over_time", 1.0),
        ("ts_of_min_over_time", 2.0),
        ("ts_of_first_over_time", 1.0),
        ("ts_of_last_over_time", 4.0),
        ("stdvar_over_time", 1.25),
        ("stddev_over_time", 1.25f64.sqrt()),
        ("mad_over_time", 1.0),
    ];
    for (name, want) in cases {
        let (got, _) = eval(name, &v, f64::NAN);
        assert!(
            got.is_some_and(|g| close(g, want)),
            "{name}: {got:?} != {want}"
        );
    }
}

#[test]
fn quantiles_over_time() {
    let v = [4.0, 1.0, 3.0, 2.0];
    let cases = [
        (0.0, 1.0, false),
        (0.5, 2.5, false),
        (1.0, 4.0, false),
        (1.5, f64::INFINITY, true),
        (-1.0, f64::NEG_INFINITY, true),
    ];
    for (q, want, warns) in cases {
        let (got, annos) = eval("quantile_over_time", &v, q);
        assert_eq!(got, Some(want), "q={q}");
        assert_eq!(!annos.warnings.is_empty(), warns, "q={q}");
    }
}

#[test]
fn nan_handling() {
    let (max, _) = eval("max_over_time", &[f64::NAN, 1.0], f64::NAN);
    assert_eq!(max, Some(1.0), "a NaN is replaced by any value");
    let (mad, _) = eval("mad_over_time", &[1.0, 2.0, f64::NAN, 4.0], f64::NAN);
    assert!(mad.is_some_and(f64::is_nan));
    let (sum, _) = eval("sum_over_time", &[f64::INFINITY, 1.0], f64::NAN);
    assert_eq!(sum, Some(f64::INFINITY));
}

#[test]
fn avg_survives_overflow() {
    let (avg, _) = eval("avg_over_time", &[f64::MAX, f64::MAX, f64::MAX], f64::NAN);
    assert!(avg.is_some_and(|a| close(a, f64::MAX)), "{avg:?}");
}
