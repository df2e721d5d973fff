//! Per-tenant validation of a decoded [`WriteBatch`], in place: invalid series and invalid
//! samples, histograms and exemplars are removed (order kept, ranges rebuilt), and a
//! [`ValidationReport`] says what was dropped and why, with Mimir-like messages carrying a stable
//! id and the limit to change.
//!
//! Labels with an empty value are removed first (Prometheus: empty means absent). Series left
//! with nothing to append are dropped silently. A series that loses anything has its `raw`
//! range cleared so that the encoder re-encodes it instead of forwarding the original bytes.
//!
//! - `messages`: the text of each rejection.

mod messages;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::ops::Range;

use sextant_model::labels::{is_valid_label_name, is_valid_metric_name};
use sextant_model::{ErrorKind, TenantLimits, METRIC_NAME};

use crate::write::{Exemplar, Histogram, LabelRef, Sample, SeriesEntry, WriteBatch};

/// How many error messages a report keeps; the rest are only counted.
pub const MAX_REPORTED_ERRORS: usize = 5;

/// Why something was discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValidationReason {
    MissingMetricName,
    InvalidMetricName,
    InvalidLabelName,
    DuplicateLabelNames,
    LabelsNotSorted,
    MaxLabelNamesPerSeries,
    LabelNameTooLong,
    LabelValueTooLong,
    SampleTooOld,
    SampleTooFarInFuture,
    MaxNativeHistogramBuckets,
    ExemplarLabelsMissing,
    ExemplarTimestampInvalid,
}

impl ValidationReason {
    pub const COUNT: usize = 13;
    pub const ALL: [ValidationReason; Self::COUNT] = [
        ValidationReason::MissingMetricName,
        ValidationReason::InvalidMetricName,
        ValidationReason::InvalidLabelName,
        ValidationReason::DuplicateLabelNames,
        ValidationReason::LabelsNotSorted,
        ValidationReason::MaxLabelNamesPerSeries,
        ValidationReason::LabelNameTooLong,
        ValidationReason::LabelValueTooLong,
        ValidationReason::SampleTooOld,
        ValidationReason::SampleTooFarInFuture,
        ValidationReason::MaxNativeHistogramBuckets,
        ValidationReason::ExemplarLabelsMissing,
        ValidationReason::ExemplarTimestampInvalid,
    ];

    /// The stable error id that appears in messages and documentation.
    pub fn id(self) -> &'static str {
        match self {
            ValidationReason::MissingMetricName => "err-sextant-missing-metric-name",
            ValidationReason::InvalidMetricName => "err-sextant-metric-name-invalid",
            ValidationReason::InvalidLabelName => "err-sextant-label-invalid",
            ValidationReason::DuplicateLabelNames => "err-sextant-duplicate-label-names",
            ValidationReason::LabelsNotSorted => "err-sextant-labels-not-sorted",
            ValidationReason::MaxLabelNamesPerSeries => "err-sextant-max-label-names-per-series",
            ValidationReason::LabelNameTooLong => "err-sextant-label-name-too-long",
            ValidationReason::LabelValueTooLong => "err-sextant-label-value-too-long",
            ValidationReason::SampleTooOld => "err-sextant-sample-timestamp-too-old",
            ValidationReason::SampleTooFarInFuture => "err-sextant-too-far-in-future",
            ValidationReason::MaxNativeHistogramBuckets => {
                "err-sextant-max-native-histogram-buckets"
            }
            ValidationReason::ExemplarLabelsMissing => "err-sextant-exemplar-labels-missing",
            ValidationReason::ExemplarTimestampInvalid => "err-sextant-exemplar-timestamp-invalid",
        }
    }

    /// A short snake_case name, bounded, for the `reason` label of discard counters.
    pub fn label(self) -> &'static str {
        let id = self.id();
        &id["err-sextant-".len()..]
    }

    pub fn kind(self) -> ErrorKind {
        ErrorKind::BadRequest
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One rejection, with a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub reason: ValidationReason,
    pub message: String,
}

impl ValidationError {
    pub fn kind(&self) -> ErrorKind {
        self.reason.kind()
    }
}

/// What [`validate_batch`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationReport {
    /// The first few rejections, in request order (at most [`MAX_REPORTED_ERRORS`]).
    pub first_errors: Vec<ValidationError>,
    /// Samples and histograms discarded, indexed by `ValidationReason as usize`.
    pub discarded: [u64; ValidationReason::COUNT],
    /// Exemplars discarded, indexed the same way.
    pub discarded_exemplars: [u64; ValidationReason::COUNT],
}

impl ValidationReport {
    /// Samples and histograms discarded for `reason`.
    pub fn discarded_for(&self, reason: ValidationReason) -> u64 {
        self.discarded[reason.index()]
    }

    /// Samples and histograms discarded for any reason.
    pub fn total_discarded(&self) -> u64 {
        self.discarded.iter().sum()
    }

    /// Whether anything was rejected (series dropped only for being empty do not count).
    pub fn has_errors(&self) -> bool {
        !self.first_errors.is_empty()
    }

    fn reject(&mut self, reason: ValidationReason, samples: usize, exemplars: usize) -> bool {
        self.discarded[reason.index()] += samples as u64;
        self.discarded_exemplars[reason.index()] += exemplars as u64;
        self.first_errors.len() < MAX_REPORTED_ERRORS
    }

    fn push(&mut self, reason: ValidationReason, message: String) {
        self.first_errors.push(ValidationError { reason, message });
    }
}

/// The accepted time window of samples.
struct TimeBounds {
    min_ms: Option<i64>,
    max_ms: Option<i64>,
}

impl TimeBounds {
    fn new(limits: &TenantLimits, now_ms: i64) -> Self {
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let min_ms = limits
            .reject_old_samples
            .then(|| now_ms.saturating_sub(millis(limits.reject_old_samples_max_age)));
        let max_ms = (!limits.creation_grace_period.is_zero())
            .then(|| now_ms.saturating_add(millis(limits.creation_grace_period)));
        TimeBounds { min_ms, max_ms }
    }

    fn check(&self, timestamp_ms: i64) -> Option<ValidationReason> {
        if self.min_ms.is_some_and(|min| timestamp_ms < min) {
            Some(ValidationReason::SampleTooOld)
        } else if self.max_ms.is_some_and(|max| timestamp_ms > max) {
            Some(ValidationReason::SampleTooFarInFuture)
        } else {
            None
        }
    }
}

/// Everything the per-series checks need besides the batch.
struct Context<'l> {
    limits: &'l TenantLimits,
    bounds: TimeBounds,
    report: ValidationReport,
}

/// Write positions of the in-place compaction: always at or before the read positions.
#[derive(Default)]
struct Cursors {
    series: usize,
    labels: usize,
    samples: usize,
    histograms: usize,
    exemplars: usize,
    exemplar_labels: usize,
}

/// Validates `batch` against `limits` at time `now_ms`, removing what is invalid in place.
/// Expects series ranges in order and non-overlapping, as the decoders produce them.
pub fn validate_batch(
    batch: &mut WriteBatch<'_>,
    limits: &TenantLimits,
    now_ms: i64,
) -> ValidationReport {
    let mut cx = Context {
        limits,
        bounds: TimeBounds::new(limits, now_ms),
        report: ValidationReport::default(),
    };
    let mut at = Cursors::default();
    for i in 0..batch.series.len() {
        let entry = batch.series[i].clone();
        if let Some(kept) = validate_series(batch, entry, &mut at, &mut cx) {
            batch.series[at.series] = kept;
            at.series += 1;
        }
    }
    batch.series.truncate(at.series);
    batch.labels.truncate(at.labels);
    batch.samples.truncate(at.samples);
    batch.histograms.truncate(at.histograms);
    batch.exemplars.truncate(at.exemplars);
    batch.exemplar_labels.truncate(at.exemplar_labels);
    cx.report
}

fn urange(r: &Range<u32>) -> Range<usize> {
    r.start as usize..r.end as usize
}

fn u32_range(start: usize, end: usize) -> Range<u32> {
    start as u32..end as u32
}

/// Validates one series, moving what survives to the cursors; `None` drops the series.
fn validate_series(
    batch: &mut WriteBatch<'_>,
    entry: SeriesEntry,
    at: &mut Cursors,
    cx: &mut Context<'_>,
) -> Option<SeriesEntry> {
    let labels_end = compact_labels(&mut batch.labels, urange(&entry.labels), at.labels);
    let labels = &batch.labels[at.labels..labels_end];
    if let Err(problem) = check_labels(labels, cx.limits) {
        let items = entry.samples.len() + entry.histograms.len();
        if cx
            .report
            .reject(problem.reason, items, entry.exemplars.len())
        {
            let message = messages::label_problem(&problem, labels, cx.limits);
            cx.report.push(problem.reason, message);
        }
        return None;
    }
    let mut lost = labels_end - at.labels != entry.labels.len();
    let samples_end = keep_samples(batch, &entry, at.labels..labels_end, at.samples, cx);
    let histograms_end = keep_histograms(batch, &entry, at.labels..labels_end, at.histograms, cx);
    let (exemplars_end, exemplar_labels_end) =
        keep_exemplars(batch, &entry, at.labels..labels_end, at, cx);
    let kept = (samples_end - at.samples)
        + (histograms_end - at.histograms)
        + (exemplars_end - at.exemplars);
    if kept == 0 {
        return None;
    }
    lost |= kept != entry.samples.len() + entry.histograms.len() + entry.exemplars.len();
    let series = SeriesEntry {
        labels: u32_range(at.labels, labels_end),
        samples: u32_range(at.samples, samples_end),
        histograms: u32_range(at.histograms, histograms_end),
        exemplars: u32_range(at.exemplars, exemplars_end),
        raw: if lost { 0..0 } else { entry.raw },
    };
    at.labels = labels_end;
    at.samples = samples_end;
    at.histograms = histograms_end;
    at.exemplars = exemplars_end;
    at.exemplar_labels = exemplar_labels_end;
    Some(series)
}

/// Moves the labels of `from` with a non-empty value to `to..`; returns the new end.
fn compact_labels(labels: &mut [LabelRef<'_>], from: Range<usize>, to: usize) -> usize {
    let mut w = to;
    for r in from {
        if !labels[r].value.is_empty() {
            labels[w] = labels[r];
            w += 1;
        }
    }
    w
}

/// The first label rule a series breaks; `index` is the offending label.
pub(crate) struct LabelProblem {
    reason: ValidationReason,
    index: usize,
}

fn check_labels(labels: &[LabelRef<'_>], limits: &TenantLimits) -> Result<(), LabelProblem> {
    let fail = |reason, index| Err(LabelProblem { reason, index });
    let Some(name_at) = labels.iter().position(|l| l.name == METRIC_NAME) else {
        return fail(ValidationReason::MissingMetricName, 0);
    };
    if !is_valid_metric_name(labels[name_at].value.as_bytes()) {
        return fail(ValidationReason::InvalidMetricName, name_at);
    }
    if labels.len() > limits.max_label_names_per_series {
        return fail(ValidationReason::MaxLabelNamesPerSeries, 0);
    }
    for (i, label) in labels.iter().enumerate() {
        if !is_valid_label_name(label.name.as_bytes()) {
            return fail(ValidationReason::InvalidLabelName, i);
        }
        if label.name.len() > limits.max_label_name_length {
            return fail(ValidationReason::LabelNameTooLong, i);
        }
        if label.value.len() > limits.max_label_value_length {
            return fail(ValidationReason::LabelValueTooLong, i);
        }
        if i > 0 {
            match labels[i - 1].name.cmp(label.name) {
                Ordering::Less => {}
                Ordering::Equal => return fail(ValidationReason::DuplicateLabelNames, i),
                Ordering::Greater => return fail(ValidationReason::LabelsNotSorted, i),
            }
        }
    }
    Ok(())
}

/// Keeps the samples of `entry` inside the time window, moving them to `to..`.
fn keep_samples(
    batch: &mut WriteBatch<'_>,
    entry: &SeriesEntry,
    labels: Range<usize>,
    to: usize,
    cx: &mut Context<'_>,
) -> usize {
    let mut w = to;
    for r in urange(&entry.samples) {
        let sample: Sample = batch.samples[r];
        if let Some(reason) = cx.bounds.check(sample.timestamp_ms) {
            if cx.report.reject(reason, 1, 0) {
                let series = &batch.labels[labels.clone()];
                let message =
                    messages::sample_time(reason, "sample", sample.timestamp_ms, series, cx.limits);
                cx.report.push(reason, message);
            }
            continue;
        }
        batch.samples[w] = sample;
        w += 1;
    }
    w
}

/// Keeps the histograms of `entry` inside the time window and the bucket limit.
fn keep_histograms(
    batch: &mut WriteBatch<'_>,
    entry: &SeriesEntry,
    labels: Range<usize>,
    to: usize,
    cx: &mut Context<'_>,
) -> usize {
    let max_buckets = cx.limits.max_native_histogram_buckets;
    let mut w = to;
    for r in urange(&entry.histograms) {
        let h: &Histogram = &batch.histograms[r];
        let buckets = h.bucket_count();
        let reason = cx.bounds.check(h.timestamp_ms).or_else(|| {
            (max_buckets > 0 && buckets > max_buckets)
                .then_some(ValidationReason::MaxNativeHistogramBuckets)
        });
        if let Some(reason) = reason {
            if cx.report.reject(reason, 1, 0) {
                let series = &batch.labels[labels.clone()];
                let message = match reason {
                    ValidationReason::MaxNativeHistogramBuckets => {
                        messages::too_many_buckets(buckets, h.timestamp_ms, series, cx.limits)
                    }
                    _ => messages::sample_time(
                        reason,
                        "native histogram sample",
                        h.timestamp_ms,
                        series,
                        cx.limits,
                    ),
                };
                cx.report.push(reason, message);
            }
            continue;
        }
        batch.histograms.swap(w, r);
        w += 1;
    }
    w
}

/// Keeps the exemplars of `entry` that have labels and a timestamp, moving them and their
/// labels down; returns the new ends of `exemplars` and `exemplar_labels`.
fn keep_exemplars(
    batch: &mut WriteBatch<'_>,
    entry: &SeriesEntry,
    labels: Range<usize>,
    at: &Cursors,
    cx: &mut Context<'_>,
) -> (usize, usize) {
    let (mut w, mut wl) = (at.exemplars, at.exemplar_labels);
    for r in urange(&entry.exemplars) {
        let exemplar: Exemplar = batch.exemplars[r].clone();
        let reason = if exemplar.labels.is_empty() {
            Some(ValidationReason::ExemplarLabelsMissing)
        } else if exemplar.timestamp_ms == 0 {
            Some(ValidationReason::ExemplarTimestampInvalid)
        } else {
            None
        };
        if let Some(reason) = reason {
            if cx.report.reject(reason, 0, 1) {
                let series = &batch.labels[labels.clone()];
                cx.report.push(
                    reason,
                    messages::exemplar(reason, exemplar.timestamp_ms, series),
                );
            }
            continue;
        }
        let start = wl;
        for l in urange(&exemplar.labels) {
            batch.exemplar_labels[wl] = batch.exemplar_labels[l];
            wl += 1;
        }
        batch.exemplars[w] = Exemplar {
            labels: u32_range(start, wl),
            ..exemplar
        };
        w += 1;
    }
    (w, wl)
}
