//! Vector aggregations (`sum`, `avg`, `topk`, `sort`, …) of one step's vector, as Loki and
//! Prometheus compute them.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sextant_model::{Label, Labels};

use super::Sample;
use crate::logql::ast::{Grouping, VectorAggregation, VectorOp};

/// Aggregates one step's vector.
pub(super) fn aggregate(agg: &VectorAggregation, vector: Vec<Sample>) -> Vec<Sample> {
    match agg.op {
        VectorOp::Sort => sorted(vector, false),
        VectorOp::SortDesc => sorted(vector, true),
        VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => {
            let k = agg.param.unwrap_or(0.0).max(0.0) as usize;
            let top = agg.op != VectorOp::Bottomk;
            let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
            for sample in vector {
                let key = group_key(agg.grouping.as_ref(), &sample.labels);
                groups.entry(key).or_default().push(sample);
            }
            groups
                .into_values()
                .flat_map(|group| select_k(group, k, top))
                .collect()
        }
        _ => {
            let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
            for sample in vector {
                let key = group_key(agg.grouping.as_ref(), &sample.labels);
                groups.entry(key).or_default().push(sample.value);
            }
            groups
                .into_iter()
                .map(|(labels, values)| Sample {
                    labels,
                    value: reduce(agg.op, &values),
                })
                .collect()
        }
    }
}

/// The labels identifying a sample's group: `by` keeps, `without` drops, none groups all.
fn group_key(grouping: Option<&Grouping>, labels: &Labels) -> Labels {
    let Some(grouping) = grouping else {
        return Labels::default();
    };
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| grouping.labels.contains(&l.name) != grouping.without)
        .cloned()
        .collect();
    Labels::from_sorted(kept)
}

fn reduce(op: VectorOp, values: &[f64]) -> f64 {
    let count = values.len() as f64;
    match op {
        VectorOp::Sum => values.iter().sum(),
        VectorOp::Count => count,
        VectorOp::Avg => {
            let mut mean = 0.0;
            for (i, v) in values.iter().enumerate() {
                let n = (i + 1) as f64;
                mean += v / n - mean / n;
            }
            mean
        }
        VectorOp::Max => {
            values.iter().copied().fold(
                f64::NAN,
                |max, v| {
                    if v > max || max.is_nan() {
                        v
                    } else {
                        max
                    }
                },
            )
        }
        VectorOp::Min => {
            values.iter().copied().fold(
                f64::NAN,
                |min, v| {
                    if v < min || min.is_nan() {
                        v
                    } else {
                        min
                    }
                },
            )
        }
        VectorOp::Stdvar | VectorOp::Stddev => {
            let (mut mean, mut aux) = (0.0f64, 0.0f64);
            for (i, v) in values.iter().enumerate() {
                let delta = v - mean;
                mean += delta / (i + 1) as f64;
                aux += delta * (v - mean);
            }
            let variance = aux / count;
            if op == VectorOp::Stddev {
                variance.sqrt()
            } else {
                variance
            }
        }
        VectorOp::Topk
        | VectorOp::Bottomk
        | VectorOp::ApproxTopk
        | VectorOp::Sort
        | VectorOp::SortDesc => f64::NAN,
    }
}

/// The `k` largest (or smallest) samples; NaN ranks last either way.
fn select_k(mut group: Vec<Sample>, k: usize, top: bool) -> Vec<Sample> {
    group.sort_by(|a, b| rank(a.value, b.value, top).then_with(|| a.labels.cmp(&b.labels)));
    group.truncate(k);
    group
}

/// Ascending (or descending) by value with NaN last.
fn rank(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn sorted(mut vector: Vec<Sample>, descending: bool) -> Vec<Sample> {
    vector.sort_by(|a, b| rank(a.value, b.value, descending).then_with(|| a.labels.cmp(&b.labels)));
    vector
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::ast::SampleExpr;

    fn sample(pod: &str, app: &str, value: f64) -> Sample {
        Sample {
            labels: Labels::from_pairs([("pod", pod), ("app", app)]),
            value,
        }
    }

    fn agg(op: VectorOp, grouping: Option<Grouping>, param: Option<f64>) -> VectorAggregation {
        VectorAggregation {
            op,
            expr: Box::new(SampleExpr::Literal(0.0)),
            grouping,
            param,
        }
    }

    fn by(labels: &[&str]) -> Option<Grouping> {
        Some(Grouping {
            without: false,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn aggregations_table() {
        let input = vec![
            sample("1", "a", 1.0),
            sample("2", "a", 3.0),
            sample("3", "b", 8.0),
        ];
        type Want<'a> = Vec<(Vec<(&'a str, &'a str)>, f64)>;
        let cases: Vec<(VectorAggregation, Want<'_>)> = vec![
            (agg(VectorOp::Sum, None, None), vec![(vec![], 12.0)]),
            (
                agg(VectorOp::Sum, by(&["app"]), None),
                vec![(vec![("app", "a")], 4.0), (vec![("app", "b")], 8.0)],
            ),
            (
                agg(VectorOp::Avg, by(&["app"]), None),
                vec![(vec![("app", "a")], 2.0), (vec![("app", "b")], 8.0)],
            ),
            (
                agg(
                    VectorOp::Count,
                    Some(Grouping {
                        without: true,
                        labels: vec!["pod".into()],
                    }),
                    None,
                ),
                vec![(vec![("app", "a")], 2.0), (vec![("app", "b")], 1.0)],
            ),
            (agg(VectorOp::Max, None, None), vec![(vec![], 8.0)]),
            (agg(VectorOp::Min, None, None), vec![(vec![], 1.0)]),
            (
                agg(VectorOp::Stdvar, by(&["app"]), None),
                vec![(vec![("app", "a")], 1.0), (vec![("app", "b")], 0.0)],
            ),
            (
                agg(VectorOp::Topk, None, Some(1.0)),
                vec![(vec![("pod", "3"), ("app", "b")], 8.0)],
            ),
            (
                agg(VectorOp::Bottomk, by(&["app"]), Some(1.0)),
                vec![
                    (vec![("pod", "1"), ("app", "a")], 1.0),
                    (vec![("pod", "3"), ("app", "b")], 8.0),
                ],
            ),
            (
                agg(VectorOp::SortDesc, None, None),
                vec![
                    (vec![("pod", "3"), ("app", "b")], 8.0),
                    (vec![("pod", "2"), ("app", "a")], 3.0),
                    (vec![("pod", "1"), ("app", "a")], 1.0),
                ],
            ),
        ];
        for (agg, want) in cases {
            let got = aggregate(&agg, input.clone());
            let want: Vec<Sample> = want
                .into_iter()
                .map(|(labels, value)| Sample {
                    labels: Labels::from_pairs(labels),
                    value,
                })
                .collect();
            assert_eq!(got, want, "{:?}", agg.op);
        }
    }
}
