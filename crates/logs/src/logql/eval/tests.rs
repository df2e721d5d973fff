//! End-to-end evaluator tests on an in-memory store.

use sextant_model::Labels;

use super::*;
use crate::logql::parse::parse_sample_expr;

const S: i64 = 1_000_000_000;

/// `{app="a", pod="1"}` logs `v=1` and `{app="a", pod="2"}` logs `v=4`, every 10s from 10s
/// to 60s; `{app="b"}` logs `not json` at 5s, 15s, … 55s.
fn store() -> MemLogQueryable {
    let mut store = MemLogQueryable::new();
    for i in 1..=6 {
        for (pod, v) in [("1", 1), ("2", 4)] {
            let labels = Labels::from_pairs([("app", "a"), ("pod", pod)]);
            let line = format!("level=info v={v}");
            store.push(&labels, entry(i * 10 * S, &line));
        }
        let b = Labels::from_pairs([("app", "b")]);
        store.push(&b, entry((i * 10 - 5) * S, "not json"));
    }
    store
}

fn entry(ts_ns: i64, line: &str) -> Entry {
    Entry {
        ts_ns,
        line: line.to_string(),
        metadata: Labels::default(),
    }
}

fn instant(query: &str, t: i64) -> Result<QueryValue, EvalError> {
    let expr = parse_sample_expr(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    eval_instant(&store(), &expr, t * S)
}

fn vector(pairs: &[(&[(&str, &str)], f64)]) -> QueryValue {
    QueryValue::Vector(
        pairs
            .iter()
            .map(|(labels, value)| Sample {
                labels: Labels::from_pairs(labels.iter().copied()),
                value: *value,
            })
            .collect(),
    )
}

#[test]
fn instant_queries() {
    let a1: &[(&str, &str)] = &[("app", "a"), ("pod", "1")];
    let a2: &[(&str, &str)] = &[("app", "a"), ("pod", "2")];
    let cases: Vec<(&str, i64, QueryValue)> = vec![
        (
            r#"count_over_time({app="a"}[30s])"#,
            60,
            vector(&[(a1, 3.0), (a2, 3.0)]),
        ),
        // (T-R, T]: the entry at 30s is outside (30s, 60s], the one at 60s inside.
        (
            r#"count_over_time({app="a", pod="1"}[30s])"#,
            30,
            vector(&[(a1, 3.0)]),
        ),
        (
            r#"rate({app="b"}[1m])"#,
            60,
            vector(&[(&[("app", "b")], 0.1)]),
        ),
        (
            r#"bytes_over_time({app="b"}[10s])"#,
            60,
            vector(&[(&[("app", "b")], 8.0)]),
        ),
        (
            r#"sum(sum_over_time({app="a"} | logfmt | unwrap v [1m]))"#,
            60,
            vector(&[(&[], 30.0)]),
        ),
        (
            r#"avg_over_time({app="a"} | logfmt | unwrap v [1m]) by (level)"#,
            60,
            vector(&[(&[("level", "info")], 2.5)]),
        ),
        (
            r#"count_over_time({app="a"}[1m] offset 30s)"#,
            60,
            vector(&[(a1, 3.0), (a2, 3.0)]),
        ),
        (
            r#"sum(count_over_time({app="a"}[1m])) * 2"#,
            60,
            vector(&[(&[], 24.0)]),
        ),
        (r#"1 + 2 ^ 2"#, 60, QueryValue::Scalar(5.0)),
        (r#"vector(2)"#, 60, vector(&[(&[], 2.0)])),
        (
            r#"sort_desc(sum by (pod) (sum_over_time({app="a"} | logfmt | unwrap v [1m])))"#,
            60,
            vector(&[(&[("pod", "2")], 24.0), (&[("pod", "1")], 6.0)]),
        ),
        (
            r#"absent_over_time({app="zzz"}[1m])"#,
            60,
            vector(&[(&[("app", "zzz")], 1.0)]),
        ),
        (r#"absent_over_time({app="a"}[1m])"#, 60, vector(&[])),
    ];
    for (query, t, want) in cases {
        let got = instant(query, t).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(got, want, "{query}");
    }
}

#[test]
fn failures() {
    let cases: &[(&str, &str)] = &[
        (
            r#"count_over_time({app="b"} | json [1m])"#,
            "pipeline error: 'JSONParserErr'",
        ),
        (
            r#"count_over_time({app="a"} |~ "(" [1m])"#,
            "error parsing regexp",
        ),
        (r#"approx_topk(1, count_over_time({app="a"}[1m]))"#, ""),
    ];
    for (query, want) in cases {
        match instant(query, 60) {
            Err(e) => assert!(e.to_string().contains(want), "{query}: {e}"),
            Ok(_) if want.is_empty() => {}
            Ok(v) => panic!("{query}: {v:?}"),
        }
    }
    let expr = parse_sample_expr(r#"approx_topk(1, count_over_time({app="a"}[1m]))"#).unwrap();
    let err = eval_range(&store(), &expr, 0, 60 * S, 30 * S).unwrap_err();
    assert!(err
        .to_string()
        .contains("only supported on instant queries"));
    assert_eq!(err.kind(), ErrorKind::BadRequest);
}

#[test]
fn range_queries_give_one_point_per_step_with_data() {
    let expr = parse_sample_expr(r#"count_over_time({app="a", pod="1"}[20s])"#).unwrap();
    let got = eval_range(&store(), &expr, 0, 90 * S, 30 * S).unwrap();
    let want = QueryValue::Matrix(vec![SampleSeries {
        labels: Labels::from_pairs([("app", "a"), ("pod", "1")]),
        points: vec![(30 * S, 2.0), (60 * S, 2.0)],
    }]);
    assert_eq!(got, want);
    let scalar = parse_sample_expr("1 + 1").unwrap();
    let got = eval_range(&store(), &scalar, 0, 10 * S, 10 * S).unwrap();
    let want = QueryValue::Matrix(vec![SampleSeries {
        labels: Labels::default(),
        points: vec![(0, 2.0), (10 * S, 2.0)],
    }]);
    assert_eq!(got, want);
    assert!(eval_range(&store(), &scalar, 10, 0, S).is_err());
}
