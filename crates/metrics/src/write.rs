//! The decoded form of a write request, shared by the distributor (validate, route) and the
//! ingester (append). Flat arrays with ranges instead of nested vectors, and label strings
//! borrowed from the request body, so decoding allocates a handful of vectors per request and
//! nothing per label.

use std::ops::Range;

/// A label pair borrowed from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// A float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A count in a native histogram: integer histograms and float histograms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HistogramCount {
    Int(u64),
    Float(f64),
}

/// A span of consecutive buckets of a native histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpan {
    pub offset: i32,
    pub length: u32,
}

/// A native histogram sample, as remote write carries it (owned: histograms are rare and
/// their bucket arrays have to be copied anyway).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub timestamp_ms: i64,
    pub count: HistogramCount,
    pub sum: f64,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: HistogramCount,
    pub negative_spans: Vec<BucketSpan>,
    pub negative_deltas: Vec<i64>,
    pub negative_counts: Vec<f64>,
    pub positive_spans: Vec<BucketSpan>,
    pub positive_deltas: Vec<i64>,
    pub positive_counts: Vec<f64>,
    /// 0 unknown, 1 yes, 2 no, 3 gauge (the wire enum).
    pub reset_hint: i32,
    pub custom_values: Vec<f64>,
}

impl Histogram {
    /// Number of buckets (positive and negative), for the bucket limit.
    pub fn bucket_count(&self) -> usize {
        let spans = |s: &[BucketSpan]| s.iter().map(|s| s.length as usize).sum::<usize>();
        spans(&self.positive_spans) + spans(&self.negative_spans)
    }
}

/// An exemplar; its labels are `WriteBatch::exemplar_labels[labels]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Range<u32>,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// Metric metadata (type, help, unit) of one metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricMetadata<'a> {
    pub metric_family_name: &'a str,
    /// The remote write 1.0 enum value: 0 unknown, 1 counter, 2 gauge, 3 histogram,
    /// 4 gauge histogram, 5 summary, 6 info, 7 stateset.
    pub metric_type: i32,
    pub help: &'a str,
    pub unit: &'a str,
}

/// One series of a request: ranges into the arrays of its [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeriesEntry {
    pub labels: Range<u32>,
    pub samples: Range<u32>,
    pub histograms: Range<u32>,
    pub exemplars: Range<u32>,
    /// For remote write 1.0 input: the byte range of this series' encoded `TimeSeries` message
    /// in the decompressed body, so it can be forwarded without re-encoding. Empty otherwise.
    pub raw: Range<u32>,
}

/// A decoded write request. Label strings borrow from the decompressed body (`'a`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch<'a> {
    pub series: Vec<SeriesEntry>,
    pub labels: Vec<LabelRef<'a>>,
    pub samples: Vec<Sample>,
    pub histograms: Vec<Histogram>,
    pub exemplars: Vec<Exemplar>,
    pub exemplar_labels: Vec<LabelRef<'a>>,
    pub metadata: Vec<MetricMetadata<'a>>,
}

impl<'a> WriteBatch<'a> {
    /// Clears the batch for reuse, keeping the allocations.
    pub fn clear(&mut self) {
        self.series.clear();
        self.labels.clear();
        self.samples.clear();
        self.histograms.clear();
        self.exemplars.clear();
        self.exemplar_labels.clear();
        self.metadata.clear();
    }

    pub fn series_labels(&self, series: &SeriesEntry) -> &[LabelRef<'a>] {
        &self.labels[range(&series.labels)]
    }

    pub fn series_samples(&self, series: &SeriesEntry) -> &[Sample] {
        &self.samples[range(&series.samples)]
    }

    pub fn series_histograms(&self, series: &SeriesEntry) -> &[Histogram] {
        &self.histograms[range(&series.histograms)]
    }

    pub fn series_exemplars(&self, series: &SeriesEntry) -> &[Exemplar] {
        &self.exemplars[range(&series.exemplars)]
    }

    pub fn exemplar_labels(&self, exemplar: &Exemplar) -> &[LabelRef<'a>] {
        &self.exemplar_labels[range(&exemplar.labels)]
    }

    /// Total samples, histograms and exemplars: what the rate limiter counts.
    pub fn item_count(&self) -> usize {
        self.samples.len() + self.histograms.len() + self.exemplars.len()
    }
}

fn range(r: &Range<u32>) -> Range<usize> {
    r.start as usize..r.end as usize
}
