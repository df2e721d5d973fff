//! Binary operators with PromQL's vector matching (Loki divides by zero into NaN), and
//! `label_replace`.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use sextant_model::{Label, Labels};

use super::{EvalError, Evaluated, Sample};
use crate::logql::ast::{BinaryExpr, BinaryOp, LabelReplace, VectorMatching};

pub(super) fn evaluate(
    binary: &BinaryExpr,
    lhs: Evaluated,
    rhs: Evaluated,
) -> Result<Evaluated, EvalError> {
    let op = binary.op;
    match (lhs, rhs) {
        (Evaluated::Scalar(l), Evaluated::Scalar(r)) => Ok(Evaluated::Scalar(
            l.into_iter()
                .zip(r)
                .map(|(a, b)| scalar_result(op, a, b))
                .collect(),
        )),
        (Evaluated::Vector(l), Evaluated::Scalar(r)) => Ok(Evaluated::Vector(
            l.into_iter()
                .zip(r)
                .map(|(v, s)| vector_scalar(binary, v, s, false))
                .collect(),
        )),
        (Evaluated::Scalar(l), Evaluated::Vector(r)) => Ok(Evaluated::Vector(
            r.into_iter()
                .zip(l)
                .map(|(v, s)| vector_scalar(binary, v, s, true))
                .collect(),
        )),
        (Evaluated::Vector(l), Evaluated::Vector(r)) => l
            .into_iter()
            .zip(r)
            .map(|(l, r)| vector_vector(binary, l, r))
            .collect::<Result<Vec<_>, _>>()
            .map(Evaluated::Vector),
    }
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le
    )
}

/// The arithmetic result, or for comparisons whether it holds.
fn compute(op: BinaryOp, a: f64, b: f64) -> (f64, bool) {
    let truth = |holds: bool| (if holds { 1.0 } else { 0.0 }, holds);
    match op {
        BinaryOp::Add => (a + b, true),
        BinaryOp::Sub => (a - b, true),
        BinaryOp::Mul => (a * b, true),
        BinaryOp::Div if b == 0.0 => (f64::NAN, true),
        BinaryOp::Div => (a / b, true),
        BinaryOp::Mod if b == 0.0 => (f64::NAN, true),
        BinaryOp::Mod => (a % b, true),
        BinaryOp::Pow => (a.powf(b), true),
        BinaryOp::Eq => truth(a == b),
        BinaryOp::Ne => truth(a != b),
        BinaryOp::Gt => truth(a > b),
        BinaryOp::Ge => truth(a >= b),
        BinaryOp::Lt => truth(a < b),
        BinaryOp::Le => truth(a <= b),
        BinaryOp::Or | BinaryOp::And | BinaryOp::Unless => (f64::NAN, false),
    }
}

/// Between two literals a comparison yields 0 or 1, as Loki folds them.
fn scalar_result(op: BinaryOp, a: f64, b: f64) -> f64 {
    compute(op, a, b).0
}

/// `vector op scalar` (or `scalar op vector` when `swapped`): comparisons filter unless
/// `bool`, and keep the vector's value.
fn vector_scalar(
    binary: &BinaryExpr,
    vector: Vec<Sample>,
    scalar: f64,
    swapped: bool,
) -> Vec<Sample> {
    vector
        .into_iter()
        .filter_map(|sample| {
            let (a, b) = if swapped {
                (scalar, sample.value)
            } else {
                (sample.value, scalar)
            };
            let (value, keep) = compute(binary.op, a, b);
            let value = match (is_comparison(binary.op), binary.return_bool) {
                (false, _) | (true, true) => value,
                (true, false) if keep => sample.value,
                (true, false) => return None,
            };
            Some(Sample {
                labels: sample.labels,
                value,
            })
        })
        .collect()
}

/// The labels two samples are matched on.
fn signature(matching: Option<&VectorMatching>, labels: &Labels) -> Labels {
    let Some(matching) = matching else {
        return labels.clone();
    };
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| matching.labels.contains(&l.name) == matching.on)
        .cloned()
        .collect();
    Labels::from_sorted(kept)
}

fn vector_vector(
    binary: &BinaryExpr,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
) -> Result<Vec<Sample>, EvalError> {
    let matching = binary.matching.as_ref();
    let sig = |s: &Sample| signature(matching, &s.labels);
    match binary.op {
        BinaryOp::And => {
            let right: BTreeSet<Labels> = rhs.iter().map(sig).collect();
            Ok(lhs
                .into_iter()
                .filter(|s| right.contains(&sig(s)))
                .collect())
        }
        BinaryOp::Unless => {
            let right: BTreeSet<Labels> = rhs.iter().map(sig).collect();
            Ok(lhs
                .into_iter()
                .filter(|s| !right.contains(&sig(s)))
                .collect())
        }
        BinaryOp::Or => {
            let left: BTreeSet<Labels> = lhs.iter().map(sig).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|s| !left.contains(&sig(s))));
            Ok(out)
        }
        _ => match_vectors(binary, lhs, rhs),
    }
}

/// One-to-one or (with `group_left`/`group_right`) many-to-one matching.
fn match_vectors(
    binary: &BinaryExpr,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
) -> Result<Vec<Sample>, EvalError> {
    let matching = binary.matching.as_ref();
    let group = matching.and_then(|m| m.group.as_ref());
    let right_is_many = group.is_some_and(|g| !g.left);
    let (many, one) = if right_is_many {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let mut one_by_sig: BTreeMap<Labels, Sample> = BTreeMap::new();
    for sample in one {
        let key = signature(matching, &sample.labels);
        if one_by_sig.insert(key.clone(), sample).is_some() {
            return Err(EvalError::Execution(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                super::super::parse::quote_label_set(&key),
                if right_is_many { "left" } else { "right" }
            )));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for sample in many {
        let key = signature(matching, &sample.labels);
        let Some(other) = one_by_sig.get(&key) else {
            continue;
        };
        if group.is_none() && !seen.insert(key.clone()) {
            return Err(EvalError::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_string(),
            ));
        }
        let (l, r) = if right_is_many {
            (other, &sample)
        } else {
            (&sample, other)
        };
        let (value, keep) = compute(binary.op, l.value, r.value);
        let value = match (is_comparison(binary.op), binary.return_bool) {
            (false, _) | (true, true) => value,
            (true, false) if keep => l.value,
            (true, false) => continue,
        };
        out.push(Sample {
            labels: result_labels(matching, &sample.labels, &other.labels),
            value,
        });
    }
    Ok(out)
}

/// Prometheus' result labels: one-to-one keeps the `on` labels (or drops the `ignoring`
/// ones); many-to-one keeps the "many" side and copies `group_x (…)` labels from the other.
fn result_labels(matching: Option<&VectorMatching>, many: &Labels, one: &Labels) -> Labels {
    let Some(matching) = matching else {
        return many.clone();
    };
    match &matching.group {
        None => signature(Some(matching), many),
        Some(group) => {
            let mut pairs: BTreeMap<String, String> = many
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for name in &group.include {
                match one.get(name) {
                    Some(value) => pairs.insert(name.clone(), value.to_string()),
                    None => pairs.remove(name),
                };
            }
            Labels::from_pairs(pairs)
        }
    }
}

/// `label_replace`: where `src` matches the anchored regex, `dst` becomes the expanded
/// replacement (removed when empty).
pub(super) fn label_replace(
    replace: &LabelReplace,
    steps: Vec<Vec<Sample>>,
) -> Result<Vec<Vec<Sample>>, EvalError> {
    let regex = Regex::new(&format!("^(?s:{})$", replace.regex))
        .map_err(|e| EvalError::Unsupported(format!("invalid regex in label_replace: {e}")))?;
    Ok(steps
        .into_iter()
        .map(|vector| {
            vector
                .into_iter()
                .map(|sample| Sample {
                    labels: replace_labels(replace, &regex, sample.labels),
                    value: sample.value,
                })
                .collect()
        })
        .collect())
}

fn replace_labels(replace: &LabelReplace, regex: &Regex, labels: Labels) -> Labels {
    let source = labels.get(&replace.src).unwrap_or("");
    let Some(captures) = regex.captures(source) else {
        return labels;
    };
    let mut value = String::new();
    captures.expand(&replace.replacement, &mut value);
    let mut pairs: Vec<(String, String)> = labels
        .iter()
        .filter(|l| l.name != replace.dst)
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    if !value.is_empty() {
        pairs.push((replace.dst.clone(), value));
    }
    Labels::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::ast::{GroupModifier, SampleExpr};

    fn s(pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: Labels::from_pairs(pairs.iter().copied()),
            value,
        }
    }

    fn binary(op: BinaryOp, return_bool: bool, matching: Option<VectorMatching>) -> BinaryExpr {
        BinaryExpr {
            op,
            lhs: SampleExpr::Literal(0.0),
            rhs: SampleExpr::Literal(0.0),
            return_bool,
            matching,
        }
    }

    #[test]
    fn vector_scalar_table() {
        let v = vec![s(&[("a", "1")], 1.0), s(&[("a", "2")], 3.0)];
        let cases: Vec<(BinaryOp, bool, bool, Vec<f64>)> = vec![
            (BinaryOp::Add, false, false, vec![3.0, 5.0]),
            (BinaryOp::Div, false, true, vec![2.0, 2.0 / 3.0]),
            (BinaryOp::Gt, false, false, vec![3.0]),
            (BinaryOp::Gt, true, false, vec![0.0, 1.0]),
            (BinaryOp::Lt, false, true, vec![3.0]),
        ];
        for (op, return_bool, swapped, want) in cases {
            let got: Vec<f64> =
                vector_scalar(&binary(op, return_bool, None), v.clone(), 2.0, swapped)
                    .into_iter()
                    .map(|s| s.value)
                    .collect();
            assert_eq!(got, want, "{op} bool={return_bool} swapped={swapped}");
        }
        assert!(compute(BinaryOp::Div, 1.0, 0.0).0.is_nan());
    }

    #[test]
    fn vector_matching() {
        let left = vec![
            s(&[("app", "a"), ("pod", "1")], 10.0),
            s(&[("app", "a"), ("pod", "2")], 20.0),
        ];
        let right = vec![s(&[("app", "a"), ("team", "x")], 2.0)];
        let on_app = |group| VectorMatching {
            on: true,
            labels: vec!["app".into()],
            group,
        };
        let many = binary(
            BinaryOp::Div,
            false,
            Some(on_app(Some(GroupModifier {
                left: true,
                include: vec!["team".into()],
            }))),
        );
        let got = vector_vector(&many, left.clone(), right.clone()).unwrap();
        assert_eq!(
            got,
            vec![
                s(&[("app", "a"), ("pod", "1"), ("team", "x")], 5.0),
                s(&[("app", "a"), ("pod", "2"), ("team", "x")], 10.0)
            ]
        );
        let one_to_one = binary(BinaryOp::Div, false, Some(on_app(None)));
        assert!(vector_vector(&one_to_one, left.clone(), right.clone()).is_err());
        let and = binary(BinaryOp::And, false, Some(on_app(None)));
        assert_eq!(
            vector_vector(&and, left.clone(), right.clone())
                .unwrap()
                .len(),
            2
        );
        let unless = binary(BinaryOp::Unless, false, Some(on_app(None)));
        assert!(vector_vector(&unless, left, right).unwrap().is_empty());
    }

    #[test]
    fn label_replace_table() {
        let replace = |dst: &str, repl: &str, src: &str, re: &str| LabelReplace {
            expr: SampleExpr::Literal(0.0),
            dst: dst.into(),
            replacement: repl.into(),
            src: src.into(),
            regex: re.into(),
        };
        let input = s(&[("app", "foo")], 1.0);
        let cases = vec![
            (
                replace("new", "$1", "app", "(fo)o"),
                vec![("app", "foo"), ("new", "fo")],
            ),
            (replace("new", "$1", "app", "(fo)"), vec![("app", "foo")]),
            (replace("app", "", "app", "foo"), vec![]),
            (
                replace("region", "eu", "missing", ".*"),
                vec![("app", "foo"), ("region", "eu")],
            ),
        ];
        for (r, want) in cases {
            let got = label_replace(&r, vec![vec![input.clone()]]).unwrap();
            assert_eq!(got[0][0].labels, Labels::from_pairs(want), "{:?}", r.regex);
        }
    }
}
