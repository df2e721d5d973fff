//! `load_with_nhcb`: classic histogram series (`<name>_bucket{le=…}`, `<name>_count`,
//! `<name>_sum`) are also stored as one native histogram with custom buckets under `<name>`.

use std::collections::BTreeMap;

use sextant_model::{Label, Labels, METRIC_NAME};

use super::series::SeqValue;
use crate::promql::histogram::{FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};

/// The classic pieces of one histogram at one timestamp.
#[derive(Default)]
struct Pieces {
    /// (upper bound, cumulative count), in load order.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
}

enum Part {
    Bucket(f64),
    Count,
    Sum,
}

/// The native histograms (`labels`, `(t, histogram)` in time order) that the classic
/// histograms among `series` convert to; `interval_ms` spaces the samples of each line.
pub(super) fn convert(
    series: &[(Labels, Vec<SeqValue>)],
    interval_ms: i64,
) -> Vec<(Labels, Vec<(i64, FloatHistogram)>)> {
    let mut groups: BTreeMap<Labels, BTreeMap<i64, Pieces>> = BTreeMap::new();
    for (labels, values) in series {
        let Some((base, part)) = classify(labels) else {
            continue;
        };
        let by_time = groups.entry(base).or_default();
        for (i, value) in values.iter().enumerate() {
            let SeqValue::Float(f) = value else { continue };
            let pieces = by_time.entry(i as i64 * interval_ms).or_default();
            match part {
                Part::Bucket(le) => pieces.buckets.push((le, *f)),
                Part::Count => pieces.count = Some(*f),
                Part::Sum => pieces.sum = *f,
            }
        }
    }
    groups
        .into_iter()
        .map(|(labels, by_time)| {
            (
                labels,
                by_time
                    .into_iter()
                    .map(|(t, p)| (t, to_histogram(p)))
                    .collect(),
            )
        })
        .collect()
}

/// The base labels (name without suffix, no `le`) and which piece a series is.
fn classify(labels: &Labels) -> Option<(Labels, Part)> {
    let name = labels.metric_name()?;
    let (base_name, part) = if let Some(base) = name.strip_suffix("_bucket") {
        let le: f64 = labels.get("le")?.trim().parse().ok()?;
        if le.is_nan() {
            return None;
        }
        (base, Part::Bucket(le))
    } else if let Some(base) = name.strip_suffix("_count") {
        (base, Part::Count)
    } else if let Some(base) = name.strip_suffix("_sum") {
        (base, Part::Sum)
    } else {
        return None;
    };
    let rest: Vec<Label> = labels
        .iter()
        .filter(|l| l.name != "le" && l.name != METRIC_NAME)
        .cloned()
        .chain(std::iter::once(Label::new(METRIC_NAME, base_name)))
        .collect();
    Some((
        Labels::from_pairs(rest.into_iter().map(|l| (l.name, l.value))),
        part,
    ))
}

/// Cumulative `le` buckets to a custom-bucket histogram: a `+Inf` bucket is added when
/// missing (holding the count, or the last bucket's count without one).
fn to_histogram(mut p: Pieces) -> FloatHistogram {
    p.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if p.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        let count = p.count.or(p.buckets.last().map(|b| b.1)).unwrap_or(0.0);
        p.buckets.push((f64::INFINITY, count));
    }
    let count = p
        .count
        .unwrap_or_else(|| p.buckets.last().map_or(0.0, |b| b.1));
    let mut previous = 0.0;
    let mut counts = Vec::with_capacity(p.buckets.len());
    for &(_, cumulative) in &p.buckets {
        counts.push(cumulative - previous);
        previous = cumulative;
    }
    let custom_values = p
        .buckets
        .iter()
        .map(|b| b.0)
        .filter(|le| le.is_finite())
        .collect();
    let mut h = FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count,
        sum: p.sum,
        positive_spans: vec![Span {
            offset: 0,
            length: counts.len() as u32,
        }],
        positive_buckets: counts,
        custom_values,
        ..FloatHistogram::default()
    };
    h.compact(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pairs: &[(&str, &str)], values: &[f64]) -> (Labels, Vec<SeqValue>) {
        (
            Labels::from_pairs(pairs.iter().copied()),
            values.iter().map(|f| SeqValue::Float(*f)).collect(),
        )
    }

    #[test]
    fn converts_classic_buckets() {
        let series = vec![
            line(
                &[("__name__", "h_bucket"), ("le", "1"), ("j", "a")],
                &[1.0, 2.0],
            ),
            line(
                &[("__name__", "h_bucket"), ("le", "+Inf"), ("j", "a")],
                &[3.0, 5.0],
            ),
            line(
                &[("__name__", "h_bucket"), ("le", "0.5"), ("j", "a")],
                &[0.0, 1.0],
            ),
            line(&[("__name__", "h_count"), ("j", "a")], &[3.0, 5.0]),
            line(&[("__name__", "h_sum"), ("j", "a")], &[4.0, 9.0]),
            line(&[("__name__", "other"), ("j", "a")], &[1.0]),
        ];
        let out = convert(&series, 60_000);
        assert_eq!(out.len(), 1);
        let (labels, samples) = &out[0];
        assert_eq!(*labels, Labels::from_pairs([("__name__", "h"), ("j", "a")]));
        let (t, h) = &samples[1];
        assert_eq!(*t, 60_000);
        assert_eq!(h.custom_values, vec![0.5, 1.0]);
        assert_eq!(h.positive_buckets, vec![1.0, 1.0, 3.0]);
        assert_eq!((h.count, h.sum), (5.0, 9.0));
    }

    #[test]
    fn adds_a_missing_inf_bucket() {
        let series = vec![line(&[("__name__", "h_bucket"), ("le", "1")], &[2.0])];
        let (_, samples) = &convert(&series, 1_000)[0];
        assert_eq!(samples[0].1.positive_buckets, vec![2.0]);
        assert_eq!(samples[0].1.count, 2.0);
        assert_eq!(samples[0].1.custom_values, vec![1.0]);
    }
}
