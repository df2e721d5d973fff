//! Table-driven tests of the aggregations on one step.

use promql_parser::parser::token::*;
use promql_parser::parser::LabelModifier;

use super::*;
use crate::promql::value::{Annotations, Sample};

use crate::promql::testing::{floats as input, ls};

fn run(
    op: u16,
    v: Vector,
    m: Option<&LabelModifier>,
    p: AggParam<'_>,
) -> (Result<Vec<(String, f64)>, String>, Annotations) {
    let mut annotations = Annotations::default();
    let mut ctx = StepCtx {
        ts: 0,
        annotations: &mut annotations,
        delayed_name_removal: true,
    };
    let out = aggregate(TokenType::new(op), v, m, p, &mut ctx)
        .map(|v| {
            v.iter()
                .map(|s| {
                    let l: Vec<String> = s
                        .metric
                        .iter()
                        .map(|l| format!("{}={}", l.name, l.value))
                        .collect();
                    (l.join(","), s.f)
                })
                .collect()
        })
        .map_err(|e| e.to_string());
    (out, annotations)
}

fn owned(v: &[(&str, f64)]) -> Vec<(String, f64)> {
    v.iter().map(|(l, f)| (l.to_string(), *f)).collect()
}

#[test]
fn grouped_aggregations() {
    let data = input(&[
        ("__name__=m,job=a,i=1", 1.0),
        ("__name__=m,job=a,i=2", 3.0),
        ("__name__=m,job=b,i=1", 10.0),
    ]);
    let by_job = LabelModifier::include(vec!["job"]);
    let without_i = LabelModifier::exclude(vec!["i"]);
    type Case<'a> = (
        u16,
        Option<&'a LabelModifier>,
        AggParam<'a>,
        Vec<(&'a str, f64)>,
    );
    let cases: Vec<Case<'_>> = vec![
        (T_SUM, None, AggParam::None, vec![("", 14.0)]),
        (
            T_SUM,
            Some(&by_job),
            AggParam::None,
            vec![("job=a", 4.0), ("job=b", 10.0)],
        ),
        (
            T_AVG,
            Some(&without_i),
            AggParam::None,
            vec![("job=a", 2.0), ("job=b", 10.0)],
        ),
        (
            T_COUNT,
            Some(&by_job),
            AggParam::None,
            vec![("job=a", 2.0), ("job=b", 1.0)],
        ),
        (T_MIN, None, AggParam::None, vec![("", 1.0)]),
        (T_MAX, None, AggParam::None, vec![("", 10.0)]),
        (
            T_GROUP,
            Some(&by_job),
            AggParam::None,
            vec![("job=a", 1.0), ("job=b", 1.0)],
        ),
        (
            T_STDVAR,
            Some(&by_job),
            AggParam::None,
            vec![("job=a", 1.0), ("job=b", 0.0)],
        ),
        (
            T_STDDEV,
            Some(&by_job),
            AggParam::None,
            vec![("job=a", 1.0), ("job=b", 0.0)],
        ),
        (
            T_QUANTILE,
            Some(&by_job),
            AggParam::Scalar(0.5),
            vec![("job=a", 2.0), ("job=b", 10.0)],
        ),
        (
            T_QUANTILE,
            None,
            AggParam::Scalar(2.0),
            vec![("", f64::INFINITY)],
        ),
        (
            T_TOPK,
            None,
            AggParam::Scalar(2.0),
            vec![
                ("__name__=m,i=1,job=b", 10.0),
                ("__name__=m,i=2,job=a", 3.0),
            ],
        ),
        (
            T_BOTTOMK,
            Some(&by_job),
            AggParam::Scalar(1.0),
            vec![
                ("__name__=m,i=1,job=a", 1.0),
                ("__name__=m,i=1,job=b", 10.0),
            ],
        ),
        (T_TOPK, None, AggParam::Scalar(0.0), vec![]),
        (
            T_LIMITK,
            Some(&by_job),
            AggParam::Scalar(1.0),
            vec![
                ("__name__=m,i=1,job=a", 1.0),
                ("__name__=m,i=1,job=b", 10.0),
            ],
        ),
    ];
    for (op, m, p, want) in cases {
        let (got, _) = run(op, data.clone(), m, p);
        assert_eq!(got, Ok(owned(&want)), "{}", TokenType::new(op));
    }
}

#[test]
fn parameter_errors_and_warnings() {
    let data = input(&[("i=1", 1.0)]);
    let (got, _) = run(T_LIMITK, data.clone(), None, AggParam::Scalar(f64::NAN));
    assert_eq!(got, Err("Parameter value is NaN".to_string()));
    let (got, _) = run(T_LIMIT_RATIO, Vec::new(), None, AggParam::Scalar(f64::NAN));
    assert_eq!(got, Err("Ratio value is NaN".to_string()));
    let (got, _) = run(T_TOPK, data.clone(), None, AggParam::Scalar(1e20));
    assert_eq!(
        got,
        Err("Scalar value 100000000000000000000 overflows int64".to_string())
    );
    let (_, annotations) = run(T_QUANTILE, data.clone(), None, AggParam::Scalar(-0.5));
    assert_eq!(
        annotations.warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got -0.5"]
    );
    let (got, annotations) = run(T_LIMIT_RATIO, data, None, AggParam::Scalar(2.0));
    assert_eq!(got, Ok(owned(&[("i=1", 1.0)])));
    assert_eq!(
        annotations.warnings,
        vec!["PromQL warning: ratio value should be between -1 and 1, got 2, capping to 1"]
    );
}

#[test]
fn limit_ratio_halves_partition_the_input() {
    let data: Vector = (0..50)
        .map(|i| Sample {
            metric: ls(&format!("i={i}")),
            t: 0,
            f: 1.0,
            h: None,
            drop_name: false,
        })
        .collect();
    let (pos, _) = run(T_LIMIT_RATIO, data.clone(), None, AggParam::Scalar(0.5));
    let (neg, _) = run(T_LIMIT_RATIO, data, None, AggParam::Scalar(-0.5));
    let (pos, neg) = (pos.expect("ok"), neg.expect("ok"));
    assert_eq!(pos.len() + neg.len(), 50);
    assert!(pos.iter().all(|p| !neg.contains(p)));
}

#[test]
fn count_values_groups_by_value() {
    let data = input(&[("job=a,i=1", 1.0), ("job=a,i=2", 1.0), ("job=b,i=1", 2.5)]);
    let (got, _) = run(T_COUNT_VALUES, data.clone(), None, AggParam::Str("v"));
    assert_eq!(got, Ok(owned(&[("v=1", 2.0), ("v=2.5", 1.0)])));
    let without_i = LabelModifier::exclude(vec!["i"]);
    let (got, _) = run(
        T_COUNT_VALUES,
        data.clone(),
        Some(&without_i),
        AggParam::Str("job"),
    );
    assert_eq!(got, Ok(owned(&[("job=1", 2.0), ("job=2.5", 1.0)])));
    let (got, _) = run(T_COUNT_VALUES, data, None, AggParam::Str(""));
    assert_eq!(got, Err("invalid label name \"\"".to_string()));
}

#[test]
fn numerics() {
    // Kahan summation keeps the small terms.
    let data = input(&[("i=1", 1.0), ("i=2", 1e100), ("i=3", 1.0), ("i=4", -1e100)]);
    assert_eq!(
        run(T_SUM, data, None, AggParam::None).0,
        Ok(owned(&[("", 2.0)]))
    );
    // avg switches to an incremental mean instead of overflowing.
    let data = input(&[("i=1", f64::MAX), ("i=2", f64::MAX)]);
    assert_eq!(
        run(T_AVG, data, None, AggParam::None).0,
        Ok(owned(&[("", f64::MAX)]))
    );
    assert_eq!(float::quantile(0.25, &mut [4.0, 1.0, 3.0, 2.0]), 1.75);
    assert!(float::quantile(f64::NAN, &mut [1.0]).is_nan());
}

fn hist(count: f64, sum: f64, schema: i32) -> Sample {
    use crate::promql::histogram::{FloatHistogram, Span};
    let custom_values = if schema == -53 { vec![1.0] } else { Vec::new() };
    let h = FloatHistogram {
        schema,
        count,
        sum,
        positive_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![count],
        custom_values,
        ..FloatHistogram::default()
    };
    Sample {
        metric: ls("__name__=h"),
        t: 0,
        f: 0.0,
        h: Some(Box::new(h)),
        drop_name: false,
    }
}

#[test]
fn histogram_aggregations() {
    struct Case {
        op: u16,
        input: Vector,
        want_h: Option<(f64, f64)>,
        warning: Option<&'static str>,
        info: Option<&'static str>,
    }
    let mixed = "PromQL warning: encountered a mix of histograms and floats for aggregation";
    let cases = [
        Case { op: T_SUM, input: vec![hist(2.0, 4.0, 0), hist(3.0, 5.0, 0)], want_h: Some((5.0, 9.0)), warning: None, info: None },
        Case { op: T_AVG, input: vec![hist(2.0, 4.0, 0), hist(4.0, 6.0, 0)], want_h: Some((3.0, 5.0)), warning: None, info: None },
        Case { op: T_SUM, input: vec![hist(2.0, 4.0, 0), input(&[("i=1", 1.0)]).remove(0)], want_h: None, warning: Some(mixed), info: None },
        Case { op: T_AVG, input: vec![input(&[("i=1", 1.0)]).remove(0), hist(2.0, 4.0, 0)], want_h: None, warning: Some(mixed), info: None },
        Case {
            op: T_SUM,
            input: vec![hist(2.0, 4.0, 0), hist(3.0, 5.0, -53)],
            want_h: None,
            warning: Some("PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"h\""),
            info: None,
        },
        Case { op: T_MAX, input: vec![hist(2.0, 4.0, 0)], want_h: None, warning: None, info: Some("PromQL info: ignored histogram in max aggregation") },
        Case { op: T_TOPK, input: vec![hist(2.0, 4.0, 0)], want_h: None, warning: None, info: Some("PromQL info: ignored histogram in topk aggregation") },
    ];
    for c in cases {
        let mut annotations = Annotations::default();
        let mut ctx = StepCtx {
            ts: 0,
            annotations: &mut annotations,
            delayed_name_removal: true,
        };
        let param = if c.op == T_TOPK {
            AggParam::Scalar(1.0)
        } else {
            AggParam::None
        };
        let out =
            aggregate(TokenType::new(c.op), c.input, None, param, &mut ctx).expect("aggregates");
        let got_h = out
            .first()
            .and_then(|s| s.h.as_ref())
            .map(|h| (h.count, h.sum));
        assert_eq!(got_h, c.want_h, "{}", TokenType::new(c.op));
        assert_eq!(annotations.warnings.first().map(String::as_str), c.warning);
        assert_eq!(annotations.infos.first().map(String::as_str), c.info);
        if c.want_h.is_none() {
            assert!(out.is_empty(), "{}: {out:?}", TokenType::new(c.op));
        }
    }
}
