//! The comparison model of the codec tests: a normalized owned view of a request, prost
//! conversions, and proptest strategies for logical requests.

use proptest::prelude::*;
use sextant_proto::{prometheus as pb1, write_v2 as pb2};

use super::super::*;
use crate::write::{BucketSpan, Histogram, HistogramCount};

// ---------------------------------------------------------------------------------------------
// A normalized, owned view of a request, to compare what prost and our decoder see.

pub(super) type Pairs = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Series {
    pub(super) labels: Pairs,
    pub(super) samples: Vec<(i64, u64)>,
    pub(super) histograms: Vec<Histogram>,
    pub(super) exemplars: Vec<(Pairs, u64, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Request {
    pub(super) series: Vec<Series>,
    pub(super) metadata: Vec<(i32, String, String, String)>,
}

pub(super) fn pairs<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Pairs {
    labels
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

pub(super) fn from_batch(b: &WriteBatch<'_>) -> Request {
    let series = b
        .series
        .iter()
        .map(|s| Series {
            labels: pairs(b.series_labels(s).iter().map(|l| (l.name, l.value))),
            samples: b
                .series_samples(s)
                .iter()
                .map(|s| (s.timestamp_ms, s.value.to_bits()))
                .collect(),
            histograms: b.series_histograms(s).to_vec(),
            exemplars: b
                .series_exemplars(s)
                .iter()
                .map(|e| {
                    let labels = pairs(b.exemplar_labels(e).iter().map(|l| (l.name, l.value)));
                    (labels, e.value.to_bits(), e.timestamp_ms)
                })
                .collect(),
        })
        .collect();
    let metadata = b
        .metadata
        .iter()
        .map(|m| {
            let (name, help, unit) = (m.metric_family_name, m.help, m.unit);
            (m.metric_type, name.into(), help.into(), unit.into())
        })
        .collect();
    Request { series, metadata }
}

/// Converts between our `Histogram` and prost's (the same shape in both protocol versions).
macro_rules! histogram_conversions {
    ($module:ident, $to:ident, $from:ident) => {
        pub(super) fn $to(h: &Histogram) -> $module::Histogram {
            use $module::histogram::{Count, ZeroCount};
            let spans = |s: &[BucketSpan]| {
                s.iter()
                    .map(|s| $module::BucketSpan {
                        offset: s.offset,
                        length: s.length,
                    })
                    .collect()
            };
            $module::Histogram {
                count: Some(match h.count {
                    HistogramCount::Int(n) => Count::CountInt(n),
                    HistogramCount::Float(f) => Count::CountFloat(f),
                }),
                sum: h.sum,
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                zero_count: Some(match h.zero_count {
                    HistogramCount::Int(n) => ZeroCount::ZeroCountInt(n),
                    HistogramCount::Float(f) => ZeroCount::ZeroCountFloat(f),
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

        pub(super) fn $from(h: &$module::Histogram) -> Histogram {
            use $module::histogram::{Count, ZeroCount};
            let spans = |s: &[$module::BucketSpan]| {
                s.iter()
                    .map(|s| BucketSpan {
                        offset: s.offset,
                        length: s.length,
                    })
                    .collect()
            };
            Histogram {
                timestamp_ms: h.timestamp,
                count: match h.count {
                    None => HistogramCount::Int(0),
                    Some(Count::CountInt(n)) => HistogramCount::Int(n),
                    Some(Count::CountFloat(f)) => HistogramCount::Float(f),
                },
                sum: h.sum,
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                zero_count: match h.zero_count {
                    None => HistogramCount::Int(0),
                    Some(ZeroCount::ZeroCountInt(n)) => HistogramCount::Int(n),
                    Some(ZeroCount::ZeroCountFloat(f)) => HistogramCount::Float(f),
                },
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
    };
}

histogram_conversions!(pb1, histogram_to_v1, histogram_from_v1);
histogram_conversions!(pb2, histogram_to_v2, histogram_from_v2);

pub(super) fn from_v1(req: &pb1::WriteRequest) -> Request {
    let v1_pairs = |l: &[pb1::Label]| pairs(l.iter().map(|l| (l.name.as_str(), l.value.as_str())));
    let series = req
        .timeseries
        .iter()
        .map(|ts| Series {
            labels: v1_pairs(&ts.labels),
            samples: ts
                .samples
                .iter()
                .map(|s| (s.timestamp, s.value.to_bits()))
                .collect(),
            histograms: ts.histograms.iter().map(histogram_from_v1).collect(),
            exemplars: ts
                .exemplars
                .iter()
                .map(|e| (v1_pairs(&e.labels), e.value.to_bits(), e.timestamp))
                .collect(),
        })
        .collect();
    let metadata = req
        .metadata
        .iter()
        .map(|m| {
            let (name, help, unit) = (&m.metric_family_name, &m.help, &m.unit);
            (m.r#type, name.clone(), help.clone(), unit.clone())
        })
        .collect();
    Request { series, metadata }
}

pub(super) fn from_v2(req: &pb2::Request) -> Request {
    let sym = |r: &u32| req.symbols[*r as usize].as_str();
    let v2_pairs = |refs: &[u32]| pairs(refs.chunks(2).map(|p| (sym(&p[0]), sym(&p[1]))));
    let mut metadata = Vec::new();
    let series = req
        .timeseries
        .iter()
        .map(|ts| {
            let labels = v2_pairs(&ts.labels_refs);
            if let Some(md) = &ts.metadata {
                let name = labels.iter().find(|(n, _)| n == "__name__");
                let (help, unit) = (sym(&md.help_ref), sym(&md.unit_ref));
                if let Some((_, name)) =
                    name.filter(|_| md.r#type != 0 || !help.is_empty() || !unit.is_empty())
                {
                    metadata.push((md.r#type, name.clone(), help.into(), unit.into()));
                }
            }
            Series {
                labels,
                samples: ts
                    .samples
                    .iter()
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect(),
                histograms: ts.histograms.iter().map(histogram_from_v2).collect(),
                exemplars: ts
                    .exemplars
                    .iter()
                    .map(|e| (v2_pairs(&e.labels_refs), e.value.to_bits(), e.timestamp))
                    .collect(),
            }
        })
        .collect();
    Request { series, metadata }
}

pub(super) fn decoded(protocol: Protocol, buf: &[u8]) -> Result<Request, RemoteWriteError> {
    let mut batch = WriteBatch::default();
    match protocol {
        Protocol::V1 => decode_v1(buf, &mut batch)?,
        Protocol::V2 => decode_v2(buf, &mut batch)?,
    }
    Ok(from_batch(&batch))
}

/// Re-encodes a decoded batch as a 1.0 request with `encode_series_v1` (`keep_raw`: forward
/// the original bytes where possible).
pub(super) fn reencode(buf: &[u8], batch: &WriteBatch<'_>, keep_raw: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for series in &batch.series {
        encode_series_v1(batch, series, keep_raw.then_some(buf), &mut out);
    }
    for md in &batch.metadata {
        encode_metadata_v1(md, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Strategies: logical requests with string labels, turned into 1.0 and 2.0 prost messages.

/// Labels, samples, histograms, exemplars and 2.0 metadata (type, help, unit) of a series.
pub(super) type LogicalSeries = (
    Pairs,
    Vec<(i64, f64)>,
    Vec<Histogram>,
    Vec<(Pairs, f64, i64)>,
    Option<(i32, String, String)>,
);

#[derive(Debug, Clone)]
pub(super) struct Logical {
    pub(super) series: Vec<LogicalSeries>,
    pub(super) metadata: Vec<(i32, String, String, String)>,
}

pub(super) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_]{1,6}",
        "\\PC{0,4}",
        Just("__name__".to_string()),
    ]
}

pub(super) fn label_pairs() -> impl Strategy<Value = Pairs> {
    prop::collection::vec((text(), text()), 0..5)
}

pub(super) fn finite() -> impl Strategy<Value = f64> {
    -1e9..1e9f64
}

pub(super) fn count() -> impl Strategy<Value = HistogramCount> {
    prop_oneof![
        any::<u64>().prop_map(HistogramCount::Int),
        finite().prop_map(HistogramCount::Float)
    ]
}

pub(super) fn histogram() -> impl Strategy<Value = Histogram> {
    let spans = || prop::collection::vec((any::<i32>(), any::<u32>()), 0..3);
    let spans = move || {
        spans().prop_map(|v| {
            v.into_iter()
                .map(|(offset, length)| BucketSpan { offset, length })
                .collect::<Vec<_>>()
        })
    };
    let deltas = || prop::collection::vec(any::<i64>(), 0..4);
    let counts = || prop::collection::vec(finite(), 0..4);
    (
        (
            any::<i64>(),
            count(),
            finite(),
            any::<i32>(),
            finite(),
            count(),
        ),
        (spans(), deltas(), counts(), spans(), deltas(), counts()),
        (0..4i32, counts()),
    )
        .prop_map(
            |(
                (ts, c, sum, schema, zt, zc),
                (ns, nd, nc, ps, pd, pc),
                (reset_hint, custom_values),
            )| Histogram {
                timestamp_ms: ts,
                count: c,
                sum,
                schema,
                zero_threshold: zt,
                zero_count: zc,
                negative_spans: ns,
                negative_deltas: nd,
                negative_counts: nc,
                positive_spans: ps,
                positive_deltas: pd,
                positive_counts: pc,
                reset_hint,
                custom_values,
            },
        )
}

pub(super) fn logical() -> impl Strategy<Value = Logical> {
    let samples = prop::collection::vec((any::<i64>(), any::<f64>()), 0..4);
    let exemplars = prop::collection::vec((label_pairs(), finite(), any::<i64>()), 0..2);
    let series_md = prop::option::of((0..8i32, text(), text()));
    let series = (
        label_pairs(),
        samples,
        prop::collection::vec(histogram(), 0..2),
        exemplars,
        series_md,
    );
    let metadata = prop::collection::vec((0..8i32, text(), text(), text()), 0..3);
    (prop::collection::vec(series, 0..5), metadata)
        .prop_map(|(series, metadata)| Logical { series, metadata })
}

pub(super) fn to_v1(l: &Logical) -> pb1::WriteRequest {
    let labels = |p: &Pairs| {
        p.iter()
            .map(|(name, value)| pb1::Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    };
    pb1::WriteRequest {
        timeseries: l
            .series
            .iter()
            .map(|(ls, samples, hs, es, _)| pb1::TimeSeries {
                labels: labels(ls),
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| pb1::Sample { value, timestamp })
                    .collect(),
                exemplars: es
                    .iter()
                    .map(|(ls, value, timestamp)| pb1::Exemplar {
                        labels: labels(ls),
                        value: *value,
                        timestamp: *timestamp,
                    })
                    .collect(),
                histograms: hs.iter().map(histogram_to_v1).collect(),
            })
            .collect(),
        metadata: l
            .metadata
            .iter()
            .map(|(t, name, help, unit)| pb1::MetricMetadata {
                r#type: *t,
                metric_family_name: name.clone(),
                help: help.clone(),
                unit: unit.clone(),
            })
            .collect(),
    }
}

pub(super) fn to_v2(l: &Logical) -> pb2::Request {
    let mut symbols = vec![String::new()];
    let mut intern = |s: &str| -> u32 {
        match symbols.iter().position(|x| x == s) {
            Some(i) => i as u32,
            None => {
                symbols.push(s.to_string());
                (symbols.len() - 1) as u32
            }
        }
    };
    let mut timeseries = Vec::new();
    for (ls, samples, hs, es, md) in &l.series {
        let mut refs = |p: &Pairs| {
            p.iter()
                .flat_map(|(n, v)| [intern(n), intern(v)])
                .collect::<Vec<_>>()
        };
        let labels_refs = refs(ls);
        let exemplars = es
            .iter()
            .map(|(ls, value, timestamp)| pb2::Exemplar {
                labels_refs: refs(ls),
                value: *value,
                timestamp: *timestamp,
            })
            .collect();
        let metadata = md.as_ref().map(|(t, help, unit)| pb2::Metadata {
            r#type: *t,
            help_ref: intern(help),
            unit_ref: intern(unit),
        });
        timeseries.push(pb2::TimeSeries {
            labels_refs,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| pb2::Sample { value, timestamp })
                .collect(),
            histograms: hs.iter().map(histogram_to_v2).collect(),
            exemplars,
            metadata,
            created_timestamp: 0,
        });
    }
    pb2::Request {
        symbols,
        timeseries,
    }
}
