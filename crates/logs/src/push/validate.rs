//! Loki's push validation (`pkg/distributor/validator.go`, messages and reasons from
//! `pkg/validation/validate.go`) with partial accept: invalid streams and entries are dropped
//! and reported, the rest of the push goes on.

use std::fmt;
use std::time::Duration;

use sextant_model::labels::is_valid_label_name;
use sextant_model::Labels;

use super::SERVICE_NAME;
use crate::logql::eval::{Entry, Stream};
use crate::model::LogBatch;

/// Per-tenant limits checked on push, with Loki's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsValidationLimits {
    /// Longest log line in bytes; 0 switches the check off.
    pub max_line_size: usize,
    /// Truncate longer lines to `max_line_size` instead of rejecting them.
    pub max_line_size_truncate: bool,
    /// Most stream labels (`service_name` not counted).
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes.
    pub max_label_name_length: usize,
    /// Longest label value in bytes.
    pub max_label_value_length: usize,
    /// Reject entries older than `reject_old_samples_max_age`.
    pub reject_old_samples: bool,
    pub reject_old_samples_max_age: Duration,
    /// Reject entries further than this in the future.
    pub creation_grace_period: Duration,
    /// Whether entries may carry structured metadata at all.
    pub allow_structured_metadata: bool,
    /// Most bytes (names + values) of one entry's structured metadata; 0 = no limit.
    pub max_structured_metadata_size: usize,
    /// Most structured metadata pairs on one entry; 0 = no limit.
    pub max_structured_metadata_entries_count: usize,
}

impl Default for LogsValidationLimits {
    fn default() -> Self {
        LogsValidationLimits {
            max_line_size: 256 * 1024,
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            creation_grace_period: Duration::from_secs(10 * 60),
            allow_structured_metadata: true,
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
        }
    }
}

/// Why data was discarded: Loki's `reason` label values of `discarded_samples_total`.
/// (Duplicate label names cannot reach a [`Labels`]: the decoders reject them with a 400.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionReason {
    MissingLabels,
    InvalidLabels,
    MaxLabelNamesPerSeries,
    LabelNameTooLong,
    LabelValueTooLong,
    GreaterThanMaxSampleAge,
    TooFarInFuture,
    LineTooLong,
    DisallowedStructuredMetadata,
    StructuredMetadataTooLarge,
    StructuredMetadataTooMany,
}

impl RejectionReason {
    /// Loki's name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::MissingLabels => "missing_labels",
            RejectionReason::InvalidLabels => "invalid_labels",
            RejectionReason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            RejectionReason::LabelNameTooLong => "label_name_too_long",
            RejectionReason::LabelValueTooLong => "label_value_too_long",
            RejectionReason::GreaterThanMaxSampleAge => "greater_than_max_sample_age",
            RejectionReason::TooFarInFuture => "too_far_in_future",
            RejectionReason::LineTooLong => "line_too_long",
            RejectionReason::DisallowedStructuredMetadata => "disallowed_structured_metadata",
            RejectionReason::StructuredMetadataTooLarge => "structured_metadata_too_large",
            RejectionReason::StructuredMetadataTooMany => "structured_metadata_too_many",
        }
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Discarded data: a whole stream (label problems) or one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectionReason,
    /// Loki's message, for the 400 response body.
    pub message: String,
    /// Entries discarded.
    pub entries: usize,
    /// Bytes discarded: lines plus structured metadata names and values.
    pub bytes: usize,
}

/// Validates a decoded push at `now_ns`: returns the accepted part (streams keep their order,
/// streams left without entries are dropped) and one rejection per discarded stream or entry.
/// With `max_line_size_truncate`, long lines are cut to the limit (at a character boundary)
/// instead of rejected.
pub fn validate(
    batch: LogBatch,
    limits: &LogsValidationLimits,
    now_ns: i64,
) -> (LogBatch, Vec<Rejection>) {
    let window = TimeWindow::new(limits, now_ns);
    let mut accepted = LogBatch::default();
    let mut rejections = Vec::new();
    for mut stream in batch.streams {
        if let Err((reason, message)) = check_labels(&stream.labels, limits) {
            rejections.push(Rejection {
                reason,
                message,
                entries: stream.entries.len(),
                bytes: stream.entries.iter().map(entry_size).sum(),
            });
            continue;
        }
        if limits.max_line_size_truncate {
            truncate_lines(&mut stream.entries, limits.max_line_size);
        }
        let labels = stream.labels;
        let mut entries = Vec::with_capacity(stream.entries.len());
        for entry in stream.entries {
            match check_entry(&labels, &entry, limits, &window) {
                Ok(()) => entries.push(entry),
                Err((reason, message)) => rejections.push(Rejection {
                    reason,
                    message,
                    entries: 1,
                    bytes: entry_size(&entry),
                }),
            }
        }
        if !entries.is_empty() {
            accepted.streams.push(Stream { labels, entries });
        }
    }
    (accepted, rejections)
}

type Failure = (RejectionReason, String);

fn check_labels(labels: &Labels, limits: &LogsValidationLimits) -> Result<(), Failure> {
    if labels.is_empty() {
        return Err((
            RejectionReason::MissingLabels,
            "error at least one label pair is required per stream".to_string(),
        ));
    }
    if let Some(l) = labels
        .iter()
        .find(|l| !is_valid_label_name(l.name.as_bytes()))
    {
        return Err((
            RejectionReason::InvalidLabels,
            format!(
                "Error parsing labels '{labels}' with error: invalid label name {:?}",
                l.name
            ),
        ));
    }
    // `service_name` is often added by the push path itself: it does not count.
    let names = labels.len() - usize::from(labels.get(SERVICE_NAME).is_some());
    if names > limits.max_label_names_per_series {
        return Err((
            RejectionReason::MaxLabelNamesPerSeries,
            format!(
                "entry for stream '{labels}' has {names} label names; limit {}",
                limits.max_label_names_per_series
            ),
        ));
    }
    for l in labels {
        if l.name.len() > limits.max_label_name_length {
            return Err((
                RejectionReason::LabelNameTooLong,
                format!("stream '{labels}' has label name too long: '{}'", l.name),
            ));
        }
        if l.value.len() > limits.max_label_value_length {
            return Err((
                RejectionReason::LabelValueTooLong,
                format!("stream '{labels}' has label value too long: '{}'", l.value),
            ));
        }
    }
    Ok(())
}

/// The accepted timestamps, `[oldest, newest]`.
struct TimeWindow {
    oldest: Option<i64>,
    newest: i64,
}

impl TimeWindow {
    fn new(limits: &LogsValidationLimits, now_ns: i64) -> Self {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        TimeWindow {
            oldest: limits
                .reject_old_samples
                .then(|| now_ns.saturating_sub(nanos(limits.reject_old_samples_max_age))),
            newest: now_ns.saturating_add(nanos(limits.creation_grace_period)),
        }
    }
}

fn check_entry(
    labels: &Labels,
    entry: &Entry,
    limits: &LogsValidationLimits,
    window: &TimeWindow,
) -> Result<(), Failure> {
    if let Some(oldest) = window.oldest.filter(|oldest| entry.ts_ns < *oldest) {
        return Err((
            RejectionReason::GreaterThanMaxSampleAge,
            format!(
                "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339(entry.ts_ns),
                rfc3339(oldest)
            ),
        ));
    }
    if entry.ts_ns > window.newest {
        return Err((
            RejectionReason::TooFarInFuture,
            format!(
                "entry for stream '{labels}' has timestamp too new: {}",
                rfc3339(entry.ts_ns)
            ),
        ));
    }
    let max = limits.max_line_size;
    if max != 0 && entry.line.len() > max {
        return Err((
            RejectionReason::LineTooLong,
            format!(
                "Max entry size '{max}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
                entry.line.len()
            ),
        ));
    }
    check_structured_metadata(labels, &entry.metadata, limits)
}

fn check_structured_metadata(
    labels: &Labels,
    metadata: &Labels,
    limits: &LogsValidationLimits,
) -> Result<(), Failure> {
    if metadata.is_empty() {
        return Ok(());
    }
    if !limits.allow_structured_metadata {
        return Err((
            RejectionReason::DisallowedStructuredMetadata,
            format!(
                "stream '{labels}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
            ),
        ));
    }
    let size = metadata_size(metadata);
    let max_size = limits.max_structured_metadata_size;
    if max_size != 0 && size > max_size {
        return Err((
            RejectionReason::StructuredMetadataTooLarge,
            format!(
                "stream '{labels}' has structured metadata too large: '{size}' bytes, limit: '{max_size}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
            ),
        ));
    }
    let count = metadata.len();
    let max_count = limits.max_structured_metadata_entries_count;
    if max_count != 0 && count > max_count {
        return Err((
            RejectionReason::StructuredMetadataTooMany,
            format!(
                "stream '{labels}' has too many structured metadata labels: '{count}', limit: '{max_count}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it."
            ),
        ));
    }
    Ok(())
}

fn truncate_lines(entries: &mut [Entry], max: usize) {
    if max == 0 {
        return;
    }
    for entry in entries.iter_mut().filter(|e| e.line.len() > max) {
        let mut cut = max;
        while !entry.line.is_char_boundary(cut) {
            cut -= 1;
        }
        entry.line.truncate(cut);
    }
}

fn metadata_size(metadata: &Labels) -> usize {
    metadata.iter().map(|l| l.name.len() + l.value.len()).sum()
}

fn entry_size(entry: &Entry) -> usize {
    entry.line.len() + metadata_size(&entry.metadata)
}

/// Go's `time.Format(time.RFC3339)` in UTC: `2006-01-02T15:04:05Z`.
fn rfc3339(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
