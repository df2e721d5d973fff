//! Table-driven tests of the binary operators on one step.

use promql_parser::parser::token::*;
use promql_parser::parser::{
    BinModifier, LabelModifier, VectorMatchCardinality, VectorMatchFillValues,
};

use super::*;

use crate::promql::testing::{floats as vec_of, ls};

fn flat(v: &Vector) -> Vec<(String, f64, bool)> {
    let mut out: Vec<_> = v
        .iter()
        .map(|s| {
            let l: Vec<String> = s
                .metric
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (l.join(","), s.f, s.drop_name)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn modifier(
    on: Option<(bool, &[&str])>,
    card: VectorMatchCardinality,
    return_bool: bool,
) -> BinModifier {
    BinModifier {
        card,
        matching: on.map(|(include, names)| {
            if include {
                LabelModifier::include(names.to_vec())
            } else {
                LabelModifier::exclude(names.to_vec())
            }
        }),
        return_bool,
        fill_values: VectorMatchFillValues::default(),
    }
}

fn run_vv(
    op: u16,
    l: Vector,
    r: Vector,
    m: Option<&BinModifier>,
) -> Result<(Vector, Annotations), EvalError> {
    let mut annotations = Annotations::default();
    let mut ctx = StepCtx {
        ts: 0,
        annotations: &mut annotations,
        delayed_name_removal: true,
    };
    let out = vector_vector(TokenType::new(op), l, r, m, &mut ctx)?;
    Ok((out, annotations))
}

#[test]
fn scalar_scalar_operators() {
    let cases: [(u16, f64, f64, f64); 8] = [
        (T_ADD, 1.0, 2.0, 3.0),
        (T_MOD, 7.0, -3.0, 1.0),
        (T_POW, 2.0, 3.0, 8.0),
        (T_ATAN2, 0.0, 1.0, 0.0),
        (T_EQLC, 1.0, 1.0, 1.0),
        (T_LSS, 2.0, 1.0, 0.0),
        (T_GTE, 2.0, 2.0, 1.0),
        (T_DIV, -1.0, 0.0, f64::NEG_INFINITY),
    ];
    for (op, l, r, want) in cases {
        assert_eq!(scalar_scalar(TokenType::new(op), l, r).ok(), Some(want));
    }
    assert!(scalar_scalar(TokenType::new(T_LAND), 1.0, 1.0).is_err());
}

#[test]
fn vector_scalar_arithmetic_and_filters() {
    struct Case {
        op: u16,
        scalar_is_lhs: bool,
        return_bool: bool,
        want: Vec<(&'static str, f64, bool)>,
    }
    let input = vec_of(&[("__name__=m,i=1", 1.0), ("__name__=m,i=2", 5.0)]);
    let cases = [
        Case {
            op: T_MUL,
            scalar_is_lhs: false,
            return_bool: false,
            want: vec![
                ("__name__=m,i=1", 2.0, true),
                ("__name__=m,i=2", 10.0, true),
            ],
        },
        Case {
            op: T_SUB,
            scalar_is_lhs: true,
            return_bool: false,
            want: vec![
                ("__name__=m,i=1", 1.0, true),
                ("__name__=m,i=2", -3.0, true),
            ],
        },
        Case {
            op: T_GTR,
            scalar_is_lhs: false,
            return_bool: false,
            want: vec![("__name__=m,i=2", 5.0, false)],
        },
        // 2 > v keeps the vector's value.
        Case {
            op: T_GTR,
            scalar_is_lhs: true,
            return_bool: false,
            want: vec![("__name__=m,i=1", 1.0, false)],
        },
        Case {
            op: T_GTR,
            scalar_is_lhs: false,
            return_bool: true,
            want: vec![("__name__=m,i=1", 0.0, true), ("__name__=m,i=2", 1.0, true)],
        },
    ];
    for c in cases {
        let mut annotations = Annotations::default();
        let mut ctx = StepCtx {
            ts: 0,
            annotations: &mut annotations,
            delayed_name_removal: true,
        };
        let out = vector_scalar(
            TokenType::new(c.op),
            input.clone(),
            2.0,
            c.scalar_is_lhs,
            c.return_bool,
            &mut ctx,
        )
        .expect("evaluates");
        let want: Vec<_> = c
            .want
            .iter()
            .map(|(l, f, d)| (l.to_string(), *f, *d))
            .collect();
        assert_eq!(flat(&out), want, "op {}", TokenType::new(c.op));
    }
}

#[test]
fn vector_scalar_drops_name_without_delayed_removal() {
    let mut annotations = Annotations::default();
    let mut ctx = StepCtx {
        ts: 0,
        annotations: &mut annotations,
        delayed_name_removal: false,
    };
    let out = vector_scalar(
        TokenType::new(T_ADD),
        vec_of(&[("__name__=m,i=1", 1.0)]),
        1.0,
        false,
        false,
        &mut ctx,
    )
    .expect("evaluates");
    assert_eq!(flat(&out), vec![("i=1".to_string(), 2.0, true)]);
}

#[test]
fn vector_vector_matching() {
    let l = vec_of(&[
        ("__name__=a,job=x,i=1", 1.0),
        ("__name__=a,job=x,i=2", 2.0),
        ("__name__=a,job=y,i=1", 3.0),
    ]);
    let r = vec_of(&[("__name__=b,job=x", 10.0), ("__name__=b,job=y", 20.0)]);
    let on_job = modifier(
        Some((true, &["job"])),
        VectorMatchCardinality::OneToOne,
        false,
    );
    let group_left = modifier(
        Some((true, &["job"])),
        VectorMatchCardinality::many_to_one(vec![]),
        false,
    );
    let group_right = modifier(
        Some((true, &["job"])),
        VectorMatchCardinality::one_to_many(vec![]),
        false,
    );
    let cmp_bool = modifier(
        Some((true, &["job"])),
        VectorMatchCardinality::many_to_one(vec![]),
        true,
    );
    type Want = Vec<(&'static str, f64, bool)>;
    type Case<'a> = (
        u16,
        Vector,
        Vector,
        Option<&'a BinModifier>,
        Result<Want, &'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (T_ADD, l.clone(), r.clone(), Some(&on_job), Err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")),
        (T_ADD, l.clone(), r.clone(), Some(&group_left), Ok(vec![("i=1,job=x", 11.0, false), ("i=1,job=y", 23.0, false), ("i=2,job=x", 12.0, false)])),
        (T_SUB, r.clone(), l.clone(), Some(&group_right), Ok(vec![("i=1,job=x", 9.0, false), ("i=1,job=y", 17.0, false), ("i=2,job=x", 8.0, false)])),
        (T_ADD, r.clone(), l.clone(), Some(&group_left), Err("found duplicate series for the match group {job=\"x\"} on the right hand-side of the operation: [{__name__=\"a\", i=\"1\", job=\"x\"}, {__name__=\"a\", i=\"2\", job=\"x\"}];many-to-many matching not allowed: matching labels must be unique on one side")),
        (T_GTR, l.clone(), r.clone(), Some(&group_left), Ok(vec![])),
        (T_LSS, l.clone(), r.clone(), Some(&group_left), Ok(vec![("__name__=a,i=1,job=x", 1.0, false), ("__name__=a,i=1,job=y", 3.0, false), ("__name__=a,i=2,job=x", 2.0, false)])),
        (T_LSS, l.clone(), r.clone(), Some(&cmp_bool), Ok(vec![("__name__=a,i=1,job=x", 1.0, true), ("__name__=a,i=1,job=y", 1.0, true), ("__name__=a,i=2,job=x", 1.0, true)])),
        (T_ADD, vec_of(&[("__name__=a,i=1", 1.0)]), vec_of(&[("__name__=b,i=1", 2.0), ("__name__=b,i=2", 2.0)]), None, Ok(vec![("i=1", 3.0, false)])),
        (T_ADD, Vec::new(), r.clone(), Some(&group_left), Ok(vec![])),
    ];
    for (i, (op, l, r, m, want)) in cases.into_iter().enumerate() {
        let got = run_vv(op, l, r, m)
            .map(|(v, _)| flat(&v))
            .map_err(|e| e.to_string());
        let want = want
            .map(|w| {
                w.iter()
                    .map(|(l, f, d)| (l.to_string(), *f, *d))
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.to_string());
        assert_eq!(got, want, "case {i}");
    }
}

#[test]
fn group_left_copies_labels_and_detects_duplicates() {
    let l = vec_of(&[("__name__=a,job=x,i=1", 1.0), ("__name__=a,job=x,i=2", 2.0)]);
    let r = vec_of(&[("__name__=b,job=x,team=t", 10.0)]);
    let m = modifier(
        Some((true, &["job"])),
        VectorMatchCardinality::many_to_one(vec!["team"]),
        false,
    );
    let (out, _) = run_vv(T_MUL, l.clone(), r.clone(), Some(&m)).expect("evaluates");
    assert_eq!(
        flat(&out),
        vec![
            ("i=1,job=x,team=t".to_string(), 10.0, false),
            ("i=2,job=x,team=t".to_string(), 20.0, false)
        ]
    );
    let ignore_i = modifier(
        Some((false, &["i"])),
        VectorMatchCardinality::many_to_one(vec![]),
        false,
    );
    let (out, _) = run_vv(
        T_MUL,
        l,
        vec_of(&[("__name__=b,job=x", 3.0)]),
        Some(&ignore_i),
    )
    .expect("evaluates");
    assert_eq!(
        flat(&out),
        vec![
            ("i=1,job=x".to_string(), 3.0, false),
            ("i=2,job=x".to_string(), 6.0, false)
        ]
    );
    let dup = modifier(
        Some((true, &["job"])),
        VectorMatchCardinality::many_to_one(vec![]),
        false,
    );
    let err = run_vv(
        T_MUL,
        vec_of(&[("__name__=a,job=x,i=1", 1.0), ("__name__=c,job=x,i=1", 2.0)]),
        r,
        Some(&dup),
    )
    .map(|_| ())
    .map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err("multiple matches for labels: grouping labels must ensure unique matches".to_string())
    );
}

#[test]
fn set_operators() {
    let l = vec_of(&[("__name__=a,i=1", 1.0), ("__name__=a,i=2", 2.0)]);
    let r = vec_of(&[("__name__=b,i=2", 20.0), ("__name__=b,i=3", 30.0)]);
    let cases: [(u16, Vec<(&str, f64)>); 3] = [
        (T_LAND, vec![("__name__=a,i=2", 2.0)]),
        (
            T_LOR,
            vec![
                ("__name__=a,i=1", 1.0),
                ("__name__=a,i=2", 2.0),
                ("__name__=b,i=3", 30.0),
            ],
        ),
        (T_LUNLESS, vec![("__name__=a,i=1", 1.0)]),
    ];
    for (op, want) in cases {
        let (out, _) = run_vv(op, l.clone(), r.clone(), None).expect("evaluates");
        let want: Vec<_> = want
            .iter()
            .map(|(l, f)| (l.to_string(), *f, false))
            .collect();
        assert_eq!(flat(&out), want, "op {}", TokenType::new(op));
    }
}

#[test]
fn fill_modifiers_supply_missing_sides() {
    let l = vec_of(&[("__name__=a,i=1", 1.0), ("__name__=a,i=2", 2.0)]);
    let r = vec_of(&[("__name__=b,i=2", 20.0), ("__name__=b,i=3", 30.0)]);
    let mut m = modifier(None, VectorMatchCardinality::OneToOne, false);
    m.fill_values = VectorMatchFillValues {
        lhs: Some(100.0),
        rhs: Some(0.0),
    };
    let (out, _) = run_vv(T_ADD, l, r, Some(&m)).expect("evaluates");
    assert_eq!(
        flat(&out),
        vec![
            ("i=1".to_string(), 1.0, false),
            ("i=2".to_string(), 22.0, false),
            ("i=3".to_string(), 130.0, false)
        ]
    );
}

#[test]
fn histogram_arithmetic() {
    use crate::promql::histogram::{CounterResetHint, FloatHistogram};
    let h = |count: f64| {
        let mut s = vec_of(&[("__name__=h,i=1", 0.0)]).remove(0);
        s.h = Some(Box::new(FloatHistogram {
            count,
            sum: count,
            ..FloatHistogram::default()
        }));
        s
    };
    let (out, _) = run_vv(T_ADD, vec![h(2.0)], vec![h(3.0)], None).expect("evaluates");
    assert_eq!(out[0].h.as_ref().map(|h| h.count), Some(5.0));
    let (out, _) = run_vv(T_SUB, vec![h(2.0)], vec![h(3.0)], None).expect("evaluates");
    let diff = out[0].h.as_ref().expect("histogram");
    assert_eq!(
        (diff.count, diff.counter_reset_hint),
        (-1.0, CounterResetHint::Gauge)
    );
    let (out, annotations) = run_vv(
        T_ADD,
        vec![h(2.0)],
        vec_of(&[("__name__=f,i=1", 1.0)]),
        None,
    )
    .expect("evaluates");
    assert!(out.is_empty());
    assert_eq!(
        annotations.infos,
        vec!["PromQL info: incompatible sample types encountered for binary operator \"+\": histogram + float"]
    );
    let (out, _) = run_vv(T_EQLC, vec![h(2.0)], vec![h(2.0)], None).expect("evaluates");
    assert_eq!(out[0].metric, ls("__name__=h,i=1"));
}
