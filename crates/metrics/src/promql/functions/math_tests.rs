use sextant_model::Labels;

use super::*;
use crate::promql::functions::test_support::ctx;
use crate::promql::value::Annotations;

fn sample(name: &str, f: f64) -> Sample {
    Sample {
        metric: Labels::from_pairs([("__name__", name), ("a", "b")]),
        t: 0,
        f,
        h: None,
        drop_name: false,
    }
}

#[test]
fn element_wise() {
    let cases = [
        ("abs", -2.0, 2.0),
        ("ceil", 1.2, 2.0),
        ("floor", 1.8, 1.0),
        ("sqrt", 9.0, 3.0),
        ("ln", 1.0, 0.0),
        ("log2", 8.0, 3.0),
        ("log10", 100.0, 2.0),
        ("sgn", -0.5, -1.0),
        ("sgn", 0.0, 0.0),
        ("deg", std::f64::consts::PI, 180.0),
        ("rad", 180.0, std::f64::consts::PI),
    ];
    let mut annos = Annotations::default();
    let c = ctx(0, &mut annos);
    for (name, input, want) in cases {
        let f = float_function(name).expect(name);
        let out = map_floats(vec![sample("m", input)], &c, f);
        assert_eq!(out[0].f, want, "{name}({input})");
        assert_eq!(
            out[0].metric,
            Labels::from_pairs([("a", "b")]),
            "{name} drops the name"
        );
        assert!(out[0].drop_name);
    }
    assert!(float_function("label_replace").is_none());
}

#[test]
fn clamp_and_round() {
    let v = || {
        vec![
            sample("m", -5.0),
            sample("m", 0.5),
            sample("m", 7.0),
            sample("m", f64::NAN),
        ]
    };
    let cases: &[(&str, Vec<FnArg>, Vec<f64>)] = &[
        (
            "clamp",
            vec![FnArg::Scalar(0.0), FnArg::Scalar(1.0)],
            vec![0.0, 0.5, 1.0, f64::NAN],
        ),
        (
            "clamp_min",
            vec![FnArg::Scalar(0.0)],
            vec![0.0, 0.5, 7.0, f64::NAN],
        ),
        (
            "clamp_max",
            vec![FnArg::Scalar(0.0)],
            vec![-5.0, 0.0, 0.0, f64::NAN],
        ),
        (
            "clamp",
            vec![FnArg::Scalar(2.0), FnArg::Scalar(1.0)],
            vec![],
        ),
        ("round", vec![], vec![-5.0, 1.0, 7.0, f64::NAN]),
        (
            "round",
            vec![FnArg::Scalar(5.0)],
            vec![-5.0, 0.0, 5.0, f64::NAN],
        ),
    ];
    let mut annos = Annotations::default();
    let c = ctx(0, &mut annos);
    for (name, extra, want) in cases {
        let mut args = vec![FnArg::Vector(v())];
        args.extend(extra.iter().cloned());
        let got: Vec<f64> = clamp_or_round(name, args, &c)
            .expect(name)
            .iter()
            .map(|s| s.f)
            .collect();
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                g == w || (g.is_nan() && w.is_nan()),
                "{name}: {got:?} != {want:?}"
            );
        }
    }
}

#[test]
fn sorting_puts_nan_last() {
    let v = vec![
        sample("m", 2.0),
        sample("m", f64::NAN),
        sample("m", 1.0),
        sample("m", 3.0),
    ];
    let asc: Vec<f64> = sort(v.clone(), false).iter().map(|s| s.f).collect();
    let desc: Vec<f64> = sort(v, true).iter().map(|s| s.f).collect();
    assert_eq!(&asc[..3], &[1.0, 2.0, 3.0]);
    assert!(asc[3].is_nan());
    assert_eq!(&desc[..3], &[3.0, 2.0, 1.0]);
    assert!(desc[3].is_nan());
}

#[test]
fn min_and_max_of() {
    let cases = [
        ("min_of", 3.0, 5.0, 3.0),
        ("max_of", 3.0, 5.0, 5.0),
        ("min_of", -2.0, -5.0, -5.0),
    ];
    for (name, a, b, want) in cases {
        let out = min_max_of(name, &[FnArg::Scalar(a), FnArg::Scalar(b)], 0);
        assert_eq!(out[0].f, want, "{name}({a}, {b})");
    }
    assert!(
        min_max_of("max_of", &[FnArg::Scalar(f64::NAN), FnArg::Scalar(3.0)], 0)[0]
            .f
            .is_nan()
    );
}
