//! Conversions between the ingester service's wire messages and the engine's types.

use sextant_metrics::promql::{FPoint, FloatHistogram, HPoint, Series};
use sextant_metrics::write;
use sextant_model::{Label, Labels, Matcher};
use sextant_proto::prometheus::{self as wire, histogram, metric_metadata};

use crate::source::MetadataEntry;

/// The wire form of a matcher list.
pub(crate) fn matchers_to_wire(matchers: &[Matcher]) -> Vec<wire::LabelMatcher> {
    matchers
        .iter()
        .map(sextant_proto::matcher_to_wire)
        .collect()
}

/// Labels as the ingester sent them; sorted and deduplicated in case a peer did not.
pub(crate) fn labels_from_wire(labels: Vec<wire::Label>) -> Labels {
    let sorted = labels.windows(2).all(|w| w[0].name < w[1].name);
    if sorted {
        Labels::from_sorted(
            labels
                .into_iter()
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
        )
    } else {
        Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value)))
    }
}

/// A streamed series, keeping only samples in `[start_ms, end_ms]`.
pub(crate) fn series_from_wire(ts: wire::TimeSeries, start_ms: i64, end_ms: i64) -> Series {
    let in_range = |t: i64| start_ms <= t && t <= end_ms;
    Series {
        metric: labels_from_wire(ts.labels),
        floats: ts
            .samples
            .iter()
            .filter(|s| in_range(s.timestamp))
            .map(|s| FPoint {
                t: s.timestamp,
                f: s.value,
            })
            .collect(),
        histograms: ts
            .histograms
            .iter()
            .filter(|h| in_range(h.timestamp))
            .map(|h| HPoint {
                t: h.timestamp,
                h: Box::new(histogram_from_wire(h)),
            })
            .collect(),
        drop_name: false,
    }
}

/// A wire histogram as the engine's float histogram (absolute counts).
pub(crate) fn histogram_from_wire(h: &wire::Histogram) -> FloatHistogram {
    FloatHistogram::from_wire(&histogram_to_write(h))
}

/// The wire message as the metrics crate's decoded remote-write histogram.
fn histogram_to_write(h: &wire::Histogram) -> write::Histogram {
    let count = |c: Option<write::HistogramCount>| c.unwrap_or(write::HistogramCount::Int(0));
    let spans = |s: &[wire::BucketSpan]| {
        s.iter()
            .map(|s| write::BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    write::Histogram {
        timestamp_ms: h.timestamp,
        count: count(h.count.map(|c| match c {
            histogram::Count::CountInt(n) => write::HistogramCount::Int(n),
            histogram::Count::CountFloat(f) => write::HistogramCount::Float(f),
        })),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: count(h.zero_count.map(|c| match c {
            histogram::ZeroCount::ZeroCountInt(n) => write::HistogramCount::Int(n),
            histogram::ZeroCount::ZeroCountFloat(f) => write::HistogramCount::Float(f),
        })),
        negative_spans: spans(&h.negative_spans),
        negative_deltas: h.negative_deltas.clone(),
        negative_counts: h.negative_counts.clone(),
        positive_spans: spans(&h.positive_spans),
        positive_deltas: h.positive_deltas.clone(),
        positive_counts: h.positive_counts.clone(),
        reset_hint: h.reset_hint,
        custom_values: h.custom_values.clone(),
    }
}

/// A metadata entry and the family it belongs to.
pub(crate) fn metadata_from_wire(m: wire::MetricMetadata) -> (String, MetadataEntry) {
    let metric_type = metric_metadata::MetricType::try_from(m.r#type)
        .unwrap_or(metric_metadata::MetricType::Unknown)
        .as_str_name()
        .to_ascii_lowercase();
    let entry = MetadataEntry {
        metric_type,
        help: m.help,
        unit: m.unit,
    };
    (m.metric_family_name, entry)
}

#[cfg(test)]
mod tests {
    use sextant_metrics::promql::histogram::{CounterResetHint, Span};

    use super::*;

    #[test]
    fn series_keeps_samples_in_range_and_sorts_labels() {
        let ts = wire::TimeSeries {
            labels: vec![
                wire::Label {
                    name: "job".into(),
                    value: "a".into(),
                },
                wire::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
            ],
            samples: [(5, 0.5), (10, 1.0), (20, 2.0), (30, 3.0)]
                .map(|(timestamp, value)| wire::Sample { value, timestamp })
                .to_vec(),
            ..Default::default()
        };
        let s = series_from_wire(ts, 10, 20);
        assert_eq!(
            s.metric,
            Labels::from_pairs([("__name__", "up"), ("job", "a")])
        );
        let got: Vec<(i64, f64)> = s.floats.iter().map(|p| (p.t, p.f)).collect();
        assert_eq!(got, vec![(10, 1.0), (20, 2.0)]);
    }

    #[test]
    fn histograms_integer_deltas_and_float_counts() {
        let int = wire::Histogram {
            count: Some(histogram::Count::CountInt(9)),
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(1)),
            sum: 12.5,
            schema: 0,
            positive_spans: vec![wire::BucketSpan {
                offset: 0,
                length: 3,
            }],
            positive_deltas: vec![2, 1, -1],
            reset_hint: histogram::ResetHint::Gauge as i32,
            timestamp: 7,
            ..Default::default()
        };
        let h = histogram_from_wire(&int);
        assert_eq!(h.positive_buckets, vec![2.0, 3.0, 2.0]);
        assert_eq!((h.count, h.zero_count, h.sum), (9.0, 1.0, 12.5));
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
        assert_eq!(
            h.positive_spans,
            vec![Span {
                offset: 0,
                length: 3
            }]
        );

        let float = wire::Histogram {
            count: Some(histogram::Count::CountFloat(2.5)),
            negative_spans: vec![wire::BucketSpan {
                offset: 1,
                length: 2,
            }],
            negative_counts: vec![0.5, 2.0],
            ..Default::default()
        };
        let h = histogram_from_wire(&float);
        assert_eq!(h.negative_buckets, vec![0.5, 2.0]);
        assert_eq!(h.count, 2.5);
    }

    #[test]
    fn metadata_type_names_are_lowercase() {
        let (family, entry) = metadata_from_wire(wire::MetricMetadata {
            r#type: metric_metadata::MetricType::Gaugehistogram as i32,
            metric_family_name: "req".into(),
            help: "h".into(),
            unit: "seconds".into(),
        });
        assert_eq!(family, "req");
        assert_eq!(entry.metric_type, "gaugehistogram");
        assert_eq!(entry.unit, "seconds");
    }
}
