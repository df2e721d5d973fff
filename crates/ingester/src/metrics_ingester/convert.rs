//! Conversions from the engine's query results to wire messages.

use sextant_metrics::db::{SeriesData, StoredMetadata};
use sextant_metrics::write;
use sextant_model::Labels;
use sextant_proto::ingester::SeriesLabels;
use sextant_proto::prometheus as wire;

pub(super) fn labels_to_wire(l: &Labels) -> Vec<wire::Label> {
    l.iter()
        .map(|l| wire::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

pub(super) fn series_labels_to_wire(l: &Labels) -> SeriesLabels {
    SeriesLabels {
        labels: labels_to_wire(l),
    }
}

pub(super) fn metadata_to_wire(m: StoredMetadata) -> wire::MetricMetadata {
    wire::MetricMetadata {
        r#type: m.metric_type,
        metric_family_name: m.metric_family_name,
        help: m.help,
        unit: m.unit,
    }
}

pub(super) fn series_to_wire(series: SeriesData) -> wire::TimeSeries {
    let labels = labels_to_wire;
    wire::TimeSeries {
        labels: labels(&series.labels),
        samples: series
            .samples
            .iter()
            .map(|s| wire::Sample {
                value: s.value,
                timestamp: s.timestamp_ms,
            })
            .collect(),
        exemplars: series
            .exemplars
            .iter()
            .map(|e| wire::Exemplar {
                labels: labels(&e.labels),
                value: e.value,
                timestamp: e.timestamp_ms,
            })
            .collect(),
        histograms: series.histograms.iter().map(histogram_to_wire).collect(),
    }
}

fn histogram_to_wire(h: &write::Histogram) -> wire::Histogram {
    use wire::histogram::{Count, ZeroCount};
    let spans = |s: &[write::BucketSpan]| {
        s.iter()
            .map(|s| wire::BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    wire::Histogram {
        count: Some(match h.count {
            write::HistogramCount::Int(n) => Count::CountInt(n),
            write::HistogramCount::Float(f) => Count::CountFloat(f),
        }),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(match h.zero_count {
            write::HistogramCount::Int(n) => ZeroCount::ZeroCountInt(n),
            write::HistogramCount::Float(f) => ZeroCount::ZeroCountFloat(f),
        }),
        negative_spans: spans(&h.negative_spans),
        negative_deltas: h.negative_deltas.clone(),
        negative_counts: h.negative_counts.clone(),
        positive_spans: spans(&h.positive_spans),
        positive_deltas: h.positive_deltas.clone(),
        positive_counts: h.positive_counts.clone(),
        reset_hint: h.reset_hint,
        timestamp: h.timestamp_ms,
        custom_values: h.custom_values.clone(),
    }
}
