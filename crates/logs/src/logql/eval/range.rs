//! Range aggregations: extract one sample per log entry (a count, the line's bytes, or an
//! unwrapped label value), group them into series, then apply the range operation to each
//! window (T−offset−R, T−offset].

use std::collections::BTreeMap;

use sextant_model::{Label, Labels, MatchOp};

use super::{EvalError, LogQueryable, Sample};
use crate::logql::ast::{Grouping, LabelFilter, RangeAggregation, RangeOp, Stage, Unwrap};
use crate::logql::parse::quote_label_set;
use crate::pipeline::{unwrap_value, Pipeline};

const ERROR_LABEL: &str = "__error__";
const ERROR_DETAILS_LABEL: &str = "__error_details__";
const NS_PER_MS: i64 = 1_000_000;

/// The aggregation's vector at every step.
pub(super) fn evaluate(
    q: &dyn LogQueryable,
    agg: &RangeAggregation,
    steps: &[i64],
) -> Result<Vec<Vec<Sample>>, EvalError> {
    let range_ns = agg.range.range_ms.saturating_mul(NS_PER_MS);
    let offset_ns = agg.range.offset_ms.saturating_mul(NS_PER_MS);
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return Ok(Vec::new());
    };
    let start = first
        .saturating_sub(offset_ns)
        .saturating_sub(range_ns)
        .saturating_add(1);
    let end = last.saturating_sub(offset_ns).saturating_add(1);
    let series = extract(q, agg, start, end)?;
    steps
        .iter()
        .map(|t| {
            let window_end = t.saturating_sub(offset_ns);
            let window_start = window_end.saturating_sub(range_ns);
            let vector = window_samples(agg, &series, window_start, window_end);
            check_errors(&vector)?;
            Ok(vector)
        })
        .collect()
}

/// Every extracted sample, by series, in time order.
type Extracted = BTreeMap<Labels, Vec<(i64, f64)>>;

fn extract(
    q: &dyn LogQueryable,
    agg: &RangeAggregation,
    start: i64,
    end: i64,
) -> Result<Extracted, EvalError> {
    let pipeline = Pipeline::new(&agg.range.log.pipeline)?;
    let unwrap = match &agg.range.unwrap {
        Some(unwrap) => Some((unwrap, post_filter_pipeline(&unwrap.post_filters)?)),
        None => None,
    };
    let counts_bytes = matches!(agg.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let mut series: Extracted = BTreeMap::new();
    let line_filters = super::leading_line_filters(&agg.range.log.pipeline);
    for stream in q.select_filtered(&agg.range.log.matchers, line_filters, start, end)? {
        for entry in &stream.entries {
            let Some(processed) =
                pipeline.process(entry.ts_ns, &entry.line, &stream.labels, &entry.metadata)
            else {
                continue;
            };
            let sample = match &unwrap {
                None => {
                    let value = if counts_bytes {
                        processed.line.len() as f64
                    } else {
                        1.0
                    };
                    Some((value, processed.labels))
                }
                Some((unwrap, post)) => {
                    unwrap_sample(unwrap, post, entry.ts_ns, &processed.line, processed.labels)
                }
            };
            let Some((value, labels)) = sample else {
                continue;
            };
            let labels = group_labels(agg.grouping.as_ref(), labels);
            series.entry(labels).or_default().push((entry.ts_ns, value));
        }
    }
    for points in series.values_mut() {
        points.sort_by_key(|(t, _)| *t);
    }
    Ok(series)
}

fn post_filter_pipeline(filters: &[LabelFilter]) -> Result<Pipeline, EvalError> {
    let stages: Vec<Stage> = filters.iter().cloned().map(Stage::LabelFilter).collect();
    Ok(Pipeline::new(&stages)?)
}

/// Loki's label sample extractor: an entry without the label yields nothing; a value that
/// does not convert flags the sample with `SampleExtractionErr`; then the post filters run
/// and the unwrapped label leaves the series labels.
fn unwrap_sample(
    unwrap: &Unwrap,
    post: &Pipeline,
    ts_ns: i64,
    line: &str,
    labels: Labels,
) -> Option<(f64, Labels)> {
    let raw = labels.get(&unwrap.label).unwrap_or("");
    if raw.is_empty() {
        return None;
    }
    let (value, labels) = match unwrap_value(unwrap.conversion, raw) {
        Ok(value) => (value, labels),
        Err(e) => (
            0.0,
            with_error(&labels, "SampleExtractionErr", &e.to_string()),
        ),
    };
    let labels = if post.is_empty() {
        labels
    } else {
        post.process(ts_ns, line, &labels, &Labels::default())?
            .labels
    };
    let kept = labels
        .iter()
        .filter(|l| l.name != unwrap.label)
        .cloned()
        .collect();
    Some((value, Labels::from_sorted(kept)))
}

fn with_error(labels: &Labels, error: &str, details: &str) -> Labels {
    let mut pairs: Vec<(String, String)> = labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    if labels.get(ERROR_LABEL).is_none() {
        pairs.push((ERROR_LABEL.to_string(), error.to_string()));
        pairs.push((ERROR_DETAILS_LABEL.to_string(), details.to_string()));
    }
    Labels::from_pairs(pairs)
}

/// `by`/`without` of the range aggregation; a sample with an error keeps all its labels so
/// that the error is reported.
fn group_labels(grouping: Option<&Grouping>, labels: Labels) -> Labels {
    match grouping {
        Some(grouping) if labels.get(ERROR_LABEL).is_none() => {
            let kept: Vec<Label> = labels
                .iter()
                .filter(|l| grouping.labels.contains(&l.name) != grouping.without)
                .cloned()
                .collect();
            Labels::from_sorted(kept)
        }
        _ => labels,
    }
}

/// The samples of every series with points in (start, end], or `absent_over_time`'s one.
fn window_samples(agg: &RangeAggregation, series: &Extracted, start: i64, end: i64) -> Vec<Sample> {
    let range_s = agg.range.range_ms as f64 / 1000.0;
    let mut vector = Vec::new();
    for (labels, points) in series {
        let from = points.partition_point(|(t, _)| *t <= start);
        let to = points.partition_point(|(t, _)| *t <= end);
        let window = &points[from..to];
        if window.is_empty() || agg.op == RangeOp::AbsentOverTime {
            continue;
        }
        let value = match agg.op {
            RangeOp::RateCounter => counter_rate(window, start, end, range_s),
            op => apply(op, agg.param.unwrap_or(0.0), window, range_s),
        };
        vector.push(Sample {
            labels: labels.clone(),
            value,
        });
    }
    if agg.op == RangeOp::AbsentOverTime && !has_points(series, start, end) {
        vector.push(Sample {
            labels: absent_labels(agg),
            value: 1.0,
        });
    }
    vector
}

fn has_points(series: &Extracted, start: i64, end: i64) -> bool {
    series
        .values()
        .any(|points| points.iter().any(|(t, _)| *t > start && *t <= end))
}

/// `absent_over_time` labels: those of the selector's equality matchers.
fn absent_labels(agg: &RangeAggregation) -> Labels {
    Labels::from_pairs(
        agg.range
            .log
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal)
            .map(|m| (m.name.clone(), m.value.clone())),
    )
}

/// The range operations other than `rate_counter` and `absent_over_time`, as Loki computes
/// them (incremental means and variances, Prometheus quantiles).
fn apply(op: RangeOp, param: f64, window: &[(i64, f64)], range_s: f64) -> f64 {
    let values = window.iter().map(|(_, v)| *v);
    let sum = || values.clone().sum::<f64>();
    match op {
        RangeOp::CountOverTime => window.len() as f64,
        RangeOp::Rate | RangeOp::BytesRate => sum() / range_s,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => average(values),
        RangeOp::MaxOverTime => {
            values.fold(
                f64::NAN,
                |max, v| if v > max || max.is_nan() { v } else { max },
            )
        }
        RangeOp::MinOverTime => {
            values.fold(
                f64::NAN,
                |min, v| if v < min || min.is_nan() { v } else { min },
            )
        }
        RangeOp::StdvarOverTime => variance(values),
        RangeOp::StddevOverTime => variance(values).sqrt(),
        RangeOp::QuantileOverTime => quantile(param, values.collect()),
        RangeOp::FirstOverTime => window[0].1,
        RangeOp::LastOverTime => window[window.len() - 1].1,
        RangeOp::RateCounter | RangeOp::AbsentOverTime => f64::NAN,
    }
}

fn average(values: impl Iterator<Item = f64>) -> f64 {
    let (mut mean, mut count) = (0.0f64, 0.0f64);
    for v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

/// Population variance, Welford's way.
fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut aux, mut count, mut mean) = (0.0f64, 0.0f64, 0.0f64);
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    aux / count
}

/// Prometheus' quantile: linear interpolation between the closest ranks.
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus' extrapolated counter rate over (start, end]: resets added back, the sampled
/// interval extrapolated to the window edges (capped at half an average interval when the
/// nearest sample is far, and at the counter's zero point), per second.
fn counter_rate(window: &[(i64, f64)], start: i64, end: i64, range_s: f64) -> f64 {
    if window.len() < 2 {
        return 0.0;
    }
    let (first_t, first_v) = window[0];
    let (last_t, last_v) = window[window.len() - 1];
    let mut increase = last_v - first_v;
    for pair in window.windows(2) {
        if pair[1].1 < pair[0].1 {
            increase += pair[0].1;
        }
    }
    let seconds = |ns: i64| ns as f64 / 1e9;
    let sampled = seconds(last_t - first_t);
    let mut to_start = seconds(first_t - start);
    let mut to_end = seconds(end - last_t);
    let average_interval = sampled / (window.len() - 1) as f64;
    let threshold = average_interval * 1.1;
    if to_start >= threshold {
        to_start = average_interval / 2.0;
    }
    if increase > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / increase);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average_interval / 2.0;
    }
    let factor = (sampled + to_start + to_end) / sampled / range_s;
    increase * factor
}

/// Loki refuses a metric result built from lines a stage failed on.
fn check_errors(vector: &[Sample]) -> Result<(), EvalError> {
    match vector.iter().find(|s| s.labels.get(ERROR_LABEL).is_some()) {
        Some(sample) => Err(EvalError::Series {
            error: sample.labels.get(ERROR_LABEL).unwrap_or("").to_string(),
            series: quote_label_set(&sample.labels),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_functions() {
        let w = [(1, 1.0), (2, 4.0), (3, 2.0), (4, 3.0)];
        let cases: &[(RangeOp, f64, f64)] = &[
            (RangeOp::CountOverTime, 0.0, 4.0),
            (RangeOp::Rate, 0.0, 5.0),
            (RangeOp::SumOverTime, 0.0, 10.0),
            (RangeOp::AvgOverTime, 0.0, 2.5),
            (RangeOp::MaxOverTime, 0.0, 4.0),
            (RangeOp::MinOverTime, 0.0, 1.0),
            (RangeOp::StdvarOverTime, 0.0, 1.25),
            (RangeOp::QuantileOverTime, 0.5, 2.5),
            (RangeOp::QuantileOverTime, 0.0, 1.0),
            (RangeOp::QuantileOverTime, 1.5, f64::INFINITY),
            (RangeOp::FirstOverTime, 0.0, 1.0),
            (RangeOp::LastOverTime, 0.0, 3.0),
        ];
        for (op, param, want) in cases {
            let got = apply(*op, *param, &w, 2.0);
            assert!(
                (got - want).abs() < 1e-12 || got == *want,
                "{op}: {got} != {want}"
            );
        }
    }

    #[test]
    fn counter_rate_extrapolates_like_prometheus() {
        let s = 1_000_000_000i64;
        // (90s, 180s] with samples at 150s and 180s: the start is capped at half an interval.
        let got = counter_rate(&[(150 * s, 600.0), (180 * s, 660.0)], 90 * s, 180 * s, 90.0);
        assert!((got - 1.0).abs() < 1e-12, "{got}");
        // (60s, 120s] with samples at 90s and 120s: extrapolated to the start.
        let got = counter_rate(&[(90 * s, 100.0), (120 * s, 130.0)], 60 * s, 120 * s, 60.0);
        assert!((got - 1.0).abs() < 1e-12, "{got}");
        // A reset adds the value before it back.
        let got = counter_rate(
            &[(10 * s, 5.0), (20 * s, 1.0), (30 * s, 3.0)],
            9 * s,
            30 * s,
            21.0,
        );
        assert!(got > 0.0, "{got}");
        assert_eq!(counter_rate(&[(1, 1.0)], 0, 1, 1.0), 0.0);
    }

    #[test]
    fn grouping_keeps_error_labels() {
        let labels = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let by_a = Grouping {
            without: false,
            labels: vec!["a".into()],
        };
        let without_a = Grouping {
            without: true,
            labels: vec!["a".into()],
        };
        assert_eq!(
            group_labels(Some(&by_a), labels.clone()),
            Labels::from_pairs([("a", "1")])
        );
        assert_eq!(
            group_labels(Some(&without_a), labels.clone()),
            Labels::from_pairs([("b", "2")])
        );
        let failed = with_error(&labels, "X", "why");
        assert_eq!(group_labels(Some(&by_a), failed.clone()), failed);
    }
}
