//! The text of each rejection: what was received, the offending series (cut to
//! [`MAX_SERIES_CHARS`]), the stable id, and the per-tenant limit to change where there is one.

use std::fmt::Write;

use sextant_model::{duration, TenantLimits, METRIC_NAME};

use super::{LabelProblem, ValidationReason};
use crate::write::LabelRef;

/// Longest series (and label value) text quoted in a message.
pub(crate) const MAX_SERIES_CHARS: usize = 200;

/// `name{a="b", c="d"}`, cut at [`MAX_SERIES_CHARS`] characters.
pub(crate) fn series_text(labels: &[LabelRef<'_>]) -> String {
    let mut text = String::new();
    if let Some(name) = labels.iter().find(|l| l.name == METRIC_NAME) {
        text.push_str(name.value);
    }
    text.push('{');
    let mut first = true;
    for label in labels.iter().filter(|l| l.name != METRIC_NAME) {
        if !first {
            text.push_str(", ");
        }
        first = false;
        let _ = write!(text, "{}={:?}", label.name, label.value);
        if text.len() > MAX_SERIES_CHARS * 4 {
            break;
        }
    }
    text.push('}');
    cut(&text).to_string()
}

/// The first [`MAX_SERIES_CHARS`] characters of `text`.
pub(crate) fn cut(text: &str) -> &str {
    match text.char_indices().nth(MAX_SERIES_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn adjust(limit: &str) -> String {
    format!(" To adjust the related per-tenant limit, set {limit} in the runtime overrides file.")
}

pub(crate) fn label_problem(
    problem: &LabelProblem,
    labels: &[LabelRef<'_>],
    limits: &TenantLimits,
) -> String {
    use ValidationReason as R;
    let series = series_text(labels);
    let id = problem.reason.id();
    let label = labels.get(problem.index).copied().unwrap_or(LabelRef {
        name: "",
        value: "",
    });
    let name = cut(label.name);
    match problem.reason {
        R::MissingMetricName => {
            format!("received a series without a metric name, series: '{series}' ({id})")
        }
        R::InvalidMetricName => format!(
            "received a series with an invalid metric name: '{}' ({id})",
            cut(label.value)
        ),
        R::MaxLabelNamesPerSeries => format!(
            "received a series whose number of labels exceeds the limit (actual: {}, limit: {}) \
             series: '{series}' ({id}).{}",
            labels.len(),
            limits.max_label_names_per_series,
            adjust("max_label_names_per_series")
        ),
        R::InvalidLabelName => {
            format!("received a series with an invalid label: '{name}' series: '{series}' ({id})")
        }
        R::LabelNameTooLong => format!(
            "received a series whose label name length exceeds the limit (actual: {}, limit: {}), \
             label: '{name}' series: '{series}' ({id}).{}",
            label.name.len(),
            limits.max_label_name_length,
            adjust("max_label_name_length")
        ),
        R::LabelValueTooLong => format!(
            "received a series whose label value length exceeds the limit (actual: {}, limit: {}), \
             label: '{name}' value: '{}' series: '{series}' ({id}).{}",
            label.value.len(),
            limits.max_label_value_length,
            cut(label.value),
            adjust("max_label_value_length")
        ),
        R::DuplicateLabelNames => format!(
            "received a series with duplicate label name, label: '{name}' series: '{series}' ({id})"
        ),
        R::LabelsNotSorted => format!(
            "received a series where the label names are not sorted, label: '{name}' \
             series: '{series}' ({id})"
        ),
        other => format!("received an invalid series: '{series}' ({})", other.id()),
    }
}

/// Too old or too far in the future; `what` is "sample" or "native histogram sample".
pub(crate) fn sample_time(
    reason: ValidationReason,
    what: &str,
    timestamp_ms: i64,
    labels: &[LabelRef<'_>],
    limits: &TenantLimits,
) -> String {
    let series = series_text(labels);
    let id = reason.id();
    if reason == ValidationReason::SampleTooOld {
        format!(
            "received a {what} whose timestamp is too far in the past, timestamp: {timestamp_ms} \
             series: '{series}' ({id}). Timestamps older than {} are rejected.{}",
            duration::format(limits.reject_old_samples_max_age),
            adjust("reject_old_samples_max_age (or reject_old_samples: false)")
        )
    } else {
        format!(
            "received a {what} whose timestamp is too far in the future, timestamp: \
             {timestamp_ms} series: '{series}' ({id}). Timestamps more than {} ahead are \
             rejected.{}",
            duration::format(limits.creation_grace_period),
            adjust("creation_grace_period")
        )
    }
}

pub(crate) fn too_many_buckets(
    buckets: usize,
    timestamp_ms: i64,
    labels: &[LabelRef<'_>],
    limits: &TenantLimits,
) -> String {
    format!(
        "received a native histogram sample with too many buckets (actual: {buckets}, limit: {}), \
         timestamp: {timestamp_ms} series: '{}' ({}).{}",
        limits.max_native_histogram_buckets,
        series_text(labels),
        ValidationReason::MaxNativeHistogramBuckets.id(),
        adjust("max_native_histogram_buckets")
    )
}

pub(crate) fn exemplar(
    reason: ValidationReason,
    timestamp_ms: i64,
    labels: &[LabelRef<'_>],
) -> String {
    let series = series_text(labels);
    let id = reason.id();
    if reason == ValidationReason::ExemplarLabelsMissing {
        format!(
            "received an exemplar with no labels, timestamp: {timestamp_ms} series: '{series}' ({id})"
        )
    } else {
        format!("received an exemplar with no timestamp, series: '{series}' ({id})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_text_is_prometheus_like_and_cut() {
        let labels = [
            LabelRef {
                name: "__name__",
                value: "up",
            },
            LabelRef {
                name: "job",
                value: "a\"b",
            },
            LabelRef {
                name: "x",
                value: "é",
            },
        ];
        assert_eq!(series_text(&labels), r#"up{job="a\"b", x="é"}"#);
        let long = "é".repeat(500);
        let labels = [LabelRef {
            name: "v",
            value: &long,
        }];
        let text = series_text(&labels);
        assert_eq!(text.chars().count(), MAX_SERIES_CHARS);
        assert!(text.starts_with("{v=\"éé"));
    }
}
