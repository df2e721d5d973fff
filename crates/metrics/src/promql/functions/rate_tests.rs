use sextant_model::Labels;

use super::*;
use crate::promql::functions::test_support::{close, ctx, points, window};
use crate::promql::value::Annotations;

fn float(out: Option<RangeOutput>) -> Option<f64> {
    match out {
        Some(RangeOutput::Float(f)) => Some(f),
        _ => None,
    }
}

#[test]
fn extrapolated_rates() {
    let rising = [
        (10, 1.0),
        (20, 2.0),
        (30, 3.0),
        (40, 4.0),
        (50, 5.0),
        (60, 6.0),
    ];
    let near_zero = [
        (10, 0.5),
        (20, 1.5),
        (30, 2.5),
        (40, 3.5),
        (50, 4.5),
        (60, 5.5),
    ];
    let reset = [(10, 1.0), (20, 2.0), (30, 1.0), (40, 2.0)];
    // (name, points, window end s, is_counter, is_rate, want)
    type Case<'a> = (&'a str, &'a [(i64, f64)], i64, bool, bool, Option<f64>);
    let cases: &[Case<'_>] = &[
        (
            "increase extrapolates to both edges",
            &rising,
            60,
            true,
            false,
            Some(6.0),
        ),
        (
            "increase stops at the zero point",
            &near_zero,
            60,
            true,
            false,
            Some(5.5),
        ),
        (
            "delta does not stop at zero",
            &near_zero,
            60,
            false,
            false,
            Some(6.0),
        ),
        (
            "increase adds counter resets",
            &reset,
            40,
            true,
            false,
            Some(4.0),
        ),
        (
            "rate is per second of the range",
            &reset,
            40,
            true,
            true,
            Some(0.1),
        ),
        (
            "one sample is not enough",
            &[(10, 1.0)],
            40,
            true,
            true,
            None,
        ),
    ];
    let metric = Labels::default();
    for (name, pts, end, is_counter, is_rate, want) in cases {
        let pts = points(pts);
        let w = window(&pts, 0, *end, &metric);
        let mut annos = Annotations::default();
        let got = float(extrapolated_rate(
            &w,
            &mut ctx(*end, &mut annos),
            *is_counter,
            *is_rate,
        ));
        match (got, want) {
            (Some(g), Some(w)) => assert!(close(g, *w), "{name}: {g} != {w}"),
            _ => assert_eq!(got, *want, "{name}"),
        }
    }
}

#[test]
fn anchored_and_smoothed() {
    let metric = Labels::default();
    let mut annos = Annotations::default();

    let pts = points(&[(10, 2.0), (20, 4.0)]);
    let mut w = window(&pts, 0, 20, &metric);
    w.modifier = SelectorModifier::Anchored;
    w.before = Some(FPoint { t: 0, f: 1.0 });
    assert_eq!(
        float(extrapolated_rate(&w, &mut ctx(20, &mut annos), true, false)),
        Some(3.0)
    );

    let pts = points(&[(15, 10.0), (25, 20.0)]);
    let mut w = window(&pts, 10, 30, &metric);
    w.modifier = SelectorModifier::Smoothed;
    w.before = Some(FPoint { t: 5000, f: 0.0 });
    w.after = Some(FPoint { t: 35000, f: 30.0 });
    assert_eq!(
        float(extrapolated_rate(
            &w,
            &mut ctx(30, &mut annos),
            false,
            false
        )),
        Some(20.0)
    );
    assert_eq!(
        float(extrapolated_rate(&w, &mut ctx(30, &mut annos), false, true)),
        Some(1.0)
    );
}

#[test]
fn instant_values() {
    let metric = Labels::default();
    // (points, is_rate, want)
    type Case<'a> = (&'a [(i64, f64)], bool, f64);
    let cases: &[Case<'_>] = &[
        (&[(20, 1.0), (30, 1.0), (40, 2.0)], true, 0.1),
        (&[(30, 5.0), (40, 2.0)], true, 0.2),
        (&[(30, 5.0), (40, 2.0)], false, -3.0),
    ];
    for (pts, is_rate, want) in cases {
        let pts = points(pts);
        let w = window(&pts, 0, 40, &metric);
        let mut annos = Annotations::default();
        let got = float(instant_value(&w, &mut ctx(40, &mut annos), *is_rate));
        assert!(
            close(got.unwrap_or(f64::NAN), *want),
            "{pts:?}: {got:?} != {want}"
        );
    }
}

#[test]
fn regression() {
    let metric = Labels::default();
    let pts = points(&[(0, 0.0), (10, 10.0), (20, 20.0)]);
    let w = window(&pts, -1, 20, &metric);
    let mut annos = Annotations::default();
    assert_eq!(float(deriv(&w, &mut ctx(20, &mut annos))), Some(1.0));
    assert_eq!(
        float(predict_linear(&w, 10.0, &mut ctx(20, &mut annos))),
        Some(30.0)
    );
    let flat = points(&[(0, f64::INFINITY), (10, f64::INFINITY)]);
    let w = window(&flat, -1, 20, &metric);
    assert!(float(deriv(&w, &mut ctx(20, &mut annos))).is_some_and(f64::is_nan));
}

#[test]
fn changes_and_resets() {
    let metric = Labels::default();
    // (values, changes, resets)
    let cases: &[(&[f64], f64, f64)] = &[
        (&[1.0, 1.0, 2.0, 2.0, 1.0], 2.0, 1.0),
        (&[1.0, 2.0, 1.0, 3.0, 0.0], 4.0, 2.0),
        (&[f64::NAN, f64::NAN, 1.0], 1.0, 0.0),
        (&[5.0], 0.0, 0.0),
    ];
    for (values, want_changes, want_resets) in cases {
        let pairs: Vec<(i64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 + 1, *v))
            .collect();
        let pts = points(&pairs);
        let w = window(&pts, 0, 10, &metric);
        assert_eq!(
            float(changes(&w)),
            Some(*want_changes),
            "changes {values:?}"
        );
        assert_eq!(float(resets(&w)), Some(*want_resets), "resets {values:?}");
    }
}

#[test]
fn smoothing_factors_are_validated() {
    let metric = Labels::default();
    let pts = points(&[(1, 1.0), (2, 2.0), (3, 3.0)]);
    let w = window(&pts, 0, 3, &metric);
    let mut annos = Annotations::default();
    for (sf, tf, ok) in [(0.5, 0.5, true), (1.0, 0.5, false), (0.5, 0.0, false)] {
        let got = double_exponential_smoothing(&w, sf, tf, &mut ctx(3, &mut annos));
        assert_eq!(got.is_ok(), ok, "sf={sf} tf={tf}");
    }
    let got = double_exponential_smoothing(&w, 0.5, 0.5, &mut ctx(3, &mut annos))
        .ok()
        .flatten();
    assert!(float(got).is_some_and(|f| close(f, 3.0)));
}
