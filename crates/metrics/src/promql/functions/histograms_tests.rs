use sextant_model::Labels;

use super::*;
use crate::promql::functions::test_support::ctx;
use crate::promql::value::Annotations;

fn bucket(le: &str, f: f64) -> Sample {
    Sample {
        metric: Labels::from_pairs([("__name__", "h_bucket"), ("job", "a"), ("le", le)]),
        t: 0,
        f,
        h: None,
        drop_name: false,
    }
}

fn classic() -> Vector {
    vec![
        bucket("0.1", 10.0),
        bucket("0.2", 20.0),
        bucket("+Inf", 40.0),
        bucket("0.5", 30.0),
    ]
}

#[test]
fn classic_quantile_groups_by_labels_without_le() {
    let mut annos = Annotations::default();
    let args = vec![FnArg::Scalar(0.6), FnArg::Vector(classic())];
    let out = histogram_function("histogram_quantile", args, &mut ctx(0, &mut annos)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].metric, Labels::from_pairs([("job", "a")]));
    assert!((out[0].f - 0.32).abs() < 1e-12);
    assert!(annos.is_empty());
}

#[test]
fn classic_quantile_annotations() {
    // (vector, quantile, expected warning substring)
    let cases = [
        (vec![bucket("x", 1.0)], 0.5, "malformed value of \"x\""),
        (classic(), 1.5, "got 1.5"),
        (classic(), f64::NAN, "got NaN"),
    ];
    for (v, q, want) in cases {
        let mut annos = Annotations::default();
        let args = vec![FnArg::Scalar(q), FnArg::Vector(v)];
        histogram_function("histogram_quantile", args, &mut ctx(0, &mut annos)).unwrap();
        assert!(
            annos.warnings.iter().any(|w| w.contains(want)),
            "{want}: {annos:?}"
        );
    }
}

#[test]
fn quantiles_label_each_result() {
    let mut annos = Annotations::default();
    let args = vec![
        FnArg::Vector(classic()),
        FnArg::Str("q".into()),
        FnArg::Scalar(0.0),
        FnArg::Scalar(0.25),
        FnArg::Scalar(1.0),
    ];
    let out = histogram_function("histogram_quantiles", args, &mut ctx(0, &mut annos)).unwrap();
    let labels: Vec<&str> = out.iter().map(|s| s.metric.get("q").unwrap()).collect();
    assert_eq!(labels, ["0.0", "0.25", "1.0"]);
}

#[test]
fn native_statistics() {
    let h = FloatHistogram {
        count: 4.0,
        sum: 10.0,
        ..FloatHistogram::default()
    };
    let native = Sample {
        metric: Labels::from_pairs([("__name__", "h")]),
        t: 0,
        f: 0.0,
        h: Some(Box::new(h)),
        drop_name: false,
    };
    let cases = [
        ("histogram_count", 4.0),
        ("histogram_sum", 10.0),
        ("histogram_avg", 2.5),
    ];
    for (name, want) in cases {
        let mut annos = Annotations::default();
        let args = vec![FnArg::Vector(vec![native.clone(), bucket("1", 1.0)])];
        let out = histogram_function(name, args, &mut ctx(0, &mut annos)).unwrap();
        assert_eq!(out.len(), 1, "{name} ignores floats");
        assert_eq!(out[0].f, want, "{name}");
        assert_eq!(out[0].metric, Labels::default(), "{name} drops the name");
    }
}

#[test]
fn go_float_parsing() {
    let cases = [
        ("1", Some(1.0)),
        ("+Inf", Some(f64::INFINITY)),
        ("-inf", Some(f64::NEG_INFINITY)),
        ("1e3", Some(1000.0)),
        ("0x10", Some(16.0)),
        ("", None),
        ("Hello World", None),
    ];
    for (s, want) in cases {
        assert_eq!(parse_go_float(s), want, "{s:?}");
    }
}

#[test]
fn native_and_classic_with_the_same_labels_are_dropped() {
    let native = Sample {
        metric: Labels::from_pairs([("__name__", "h_bucket"), ("job", "a")]),
        t: 0,
        f: 0.0,
        h: Some(Box::new(FloatHistogram::default())),
        drop_name: false,
    };
    let mut v = classic();
    v.push(native);
    let mut annos = Annotations::default();
    let args = vec![FnArg::Scalar(0.5), FnArg::Vector(v)];
    let out = histogram_function("histogram_quantile", args, &mut ctx(0, &mut annos)).unwrap();
    assert!(out.is_empty());
    assert_eq!(
        annos.warnings,
        ["PromQL warning: vector contains a mix of classic and native histograms"]
    );
}
