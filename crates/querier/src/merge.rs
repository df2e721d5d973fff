//! Merging answers from several sources (RF ingesters, replica blocks, ingesters and blocks
//! overlapping in time) into one copy of everything.

use std::collections::{BTreeMap, BTreeSet};

use sextant_metrics::promql::Series;
use sextant_model::Labels;

/// One series per label set, sorted by labels; samples sorted by time with one sample per
/// timestamp (the first source's, when replicas disagree). Series without samples are dropped.
pub(crate) fn merge_series(sources: Vec<Vec<Series>>) -> Vec<Series> {
    let mut sources: Vec<Vec<Series>> = sources.into_iter().filter(|s| !s.is_empty()).collect();
    if sources.len() == 1 && sources[0].is_sorted_by(|a, b| a.metric < b.metric) {
        // one answer (one block, or one ingester) is already one series per label set
        let only = sources.pop().unwrap_or_default();
        return only.into_iter().filter_map(sorted_points).collect();
    }
    let mut by_labels: BTreeMap<Labels, Series> = BTreeMap::new();
    for series in sources.into_iter().flatten() {
        match by_labels.get_mut(&series.metric) {
            Some(merged) => {
                merged.floats.extend(series.floats);
                merged.histograms.extend(series.histograms);
            }
            None => {
                by_labels.insert(series.metric.clone(), series);
            }
        }
    }
    by_labels.into_values().filter_map(sorted_points).collect()
}

/// The series with its samples sorted by time, one per timestamp (the first copy); `None`
/// when it has no samples.
fn sorted_points(mut s: Series) -> Option<Series> {
    if !s.floats.is_sorted_by(|a, b| a.t < b.t) {
        // stable sorts keep the first copy of a timestamp first, dedup keeps it
        s.floats.sort_by_key(|p| p.t);
        s.floats.dedup_by_key(|p| p.t);
    }
    if !s.histograms.is_sorted_by(|a, b| a.t < b.t) {
        s.histograms.sort_by_key(|p| p.t);
        s.histograms.dedup_by_key(|p| p.t);
    }
    (!s.floats.is_empty() || !s.histograms.is_empty()).then_some(s)
}

/// The sorted, unique union of several answers, cut at `limit` (0 = none).
pub(crate) fn sorted_union<T: Ord>(
    sources: impl IntoIterator<Item = Vec<T>>,
    limit: usize,
) -> Vec<T> {
    let union: BTreeSet<T> = sources.into_iter().flatten().collect();
    apply_limit(union.into_iter().collect(), limit)
}

/// Keeps the first `limit` items (0 = all).
pub(crate) fn apply_limit<T>(mut items: Vec<T>, limit: usize) -> Vec<T> {
    if limit > 0 {
        items.truncate(limit);
    }
    items
}

#[cfg(test)]
mod tests {
    use sextant_metrics::promql::{FPoint, FloatHistogram, HPoint};

    use super::*;

    fn series(name: &str, points: &[(i64, f64)]) -> Series {
        Series {
            metric: Labels::from_pairs([("__name__", name)]),
            floats: points.iter().map(|&(t, f)| FPoint { t, f }).collect(),
            ..Series::default()
        }
    }

    fn points(s: &Series) -> Vec<(i64, f64)> {
        s.floats.iter().map(|p| (p.t, p.f)).collect()
    }

    #[test]
    fn merges_replicas_and_overlaps() {
        type Case = (
            &'static str,
            Vec<Vec<Series>>,
            Vec<(&'static str, Vec<(i64, f64)>)>,
        );
        let cases: Vec<Case> = vec![
            ("nothing", vec![], vec![]),
            (
                "three identical replicas",
                vec![vec![series("a", &[(1, 1.0), (2, 2.0)])]; 3],
                vec![("a", vec![(1, 1.0), (2, 2.0)])],
            ),
            (
                "interleaved sources sort by time",
                vec![
                    vec![series("a", &[(3, 3.0), (5, 5.0)])],
                    vec![series("a", &[(1, 1.0), (4, 4.0)])],
                ],
                vec![("a", vec![(1, 1.0), (3, 3.0), (4, 4.0), (5, 5.0)])],
            ),
            (
                "same timestamp keeps the first source's value",
                vec![
                    vec![series("a", &[(1, 10.0)])],
                    vec![series("a", &[(1, 20.0)])],
                ],
                vec![("a", vec![(1, 10.0)])],
            ),
            (
                "distinct series stay apart, sorted by labels",
                vec![
                    vec![series("b", &[(1, 1.0)])],
                    vec![series("a", &[(2, 2.0)])],
                ],
                vec![("a", vec![(2, 2.0)]), ("b", vec![(1, 1.0)])],
            ),
            (
                "empty series are dropped",
                vec![vec![series("a", &[])]],
                vec![],
            ),
            (
                "one source, sorted, keeps its series",
                vec![
                    vec![],
                    vec![series("a", &[(1, 1.0)]), series("b", &[(2, 2.0)])],
                ],
                vec![("a", vec![(1, 1.0)]), ("b", vec![(2, 2.0)])],
            ),
            (
                "one source still gets sorted, unique timestamps",
                vec![vec![
                    series("a", &[(2, 2.0), (1, 1.0), (2, 3.0)]),
                    series("b", &[]),
                ]],
                vec![("a", vec![(1, 1.0), (2, 2.0)])],
            ),
            (
                "one source with unsorted or repeated labels is merged",
                vec![vec![
                    series("b", &[(1, 1.0)]),
                    series("a", &[(2, 2.0)]),
                    series("b", &[(3, 3.0)]),
                ]],
                vec![("a", vec![(2, 2.0)]), ("b", vec![(1, 1.0), (3, 3.0)])],
            ),
        ];
        for (name, sources, want) in cases {
            let got: Vec<(String, Vec<(i64, f64)>)> = merge_series(sources)
                .iter()
                .map(|s| (s.metric.metric_name().unwrap_or("").to_string(), points(s)))
                .collect();
            let want: Vec<(String, Vec<(i64, f64)>)> =
                want.into_iter().map(|(n, p)| (n.to_string(), p)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn histograms_merge_like_floats() {
        let h = |t: i64, count: f64| HPoint {
            t,
            h: Box::new(FloatHistogram {
                count,
                ..FloatHistogram::default()
            }),
        };
        let with = |points: Vec<HPoint>| Series {
            metric: Labels::from_pairs([("__name__", "h")]),
            histograms: points,
            ..Series::default()
        };
        let merged = merge_series(vec![
            vec![with(vec![h(2, 2.0), h(3, 3.0)])],
            vec![with(vec![h(1, 1.0), h(2, 20.0)])],
        ]);
        let got: Vec<(i64, f64)> = merged[0]
            .histograms
            .iter()
            .map(|p| (p.t, p.h.count))
            .collect();
        assert_eq!(got, vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
    }

    #[test]
    fn unions_are_sorted_unique_and_limited() {
        let sources = || vec![vec!["b", "c"], vec!["a", "c"], vec![]];
        assert_eq!(sorted_union(sources(), 0), vec!["a", "b", "c"]);
        assert_eq!(sorted_union(sources(), 2), vec!["a", "b"]);
        assert_eq!(sorted_union(Vec::<Vec<u8>>::new(), 0), Vec::<u8>::new());
    }
}
