//! Prometheus's annotation texts (`util/annotations`), without the `(line:col)` suffix.

/// Go's `%g` for a float64: shortest round-trip digits, exponent form below 1e-4 and from
/// 1e6 on.
pub(super) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    format!("{f}")
}

/// "for metric name \"x\"" suffix as `maybeAddMetricName` adds it (nothing for "").
fn with_metric_name(text: &str, metric_name: &str) -> String {
    if metric_name.is_empty() {
        text.to_string()
    } else {
        format!("{text} for metric name {metric_name:?}")
    }
}

pub(crate) fn invalid_quantile(q: f64) -> String {
    format!(
        "PromQL warning: quantile value should be between 0 and 1, got {}",
        go_float(q)
    )
}

pub(crate) fn bad_bucket_label(metric_name: &str, le: &str) -> String {
    with_metric_name(
        &format!(
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?}"
        ),
        metric_name,
    )
}

pub(crate) fn mixed_floats_histograms(metric_name: &str) -> String {
    format!(
        "PromQL warning: encountered a mix of histograms and floats for metric name {metric_name:?}"
    )
}

pub(crate) fn mixed_classic_native(metric_name: &str) -> String {
    with_metric_name(
        "PromQL warning: vector contains a mix of classic and native histograms",
        metric_name,
    )
}

pub(crate) fn not_counter(metric_name: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a counter: {metric_name:?}")
}

pub(crate) fn not_gauge(metric_name: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a gauge: {metric_name:?}")
}

pub(crate) fn mixed_exponential_custom(metric_name: &str) -> String {
    format!(
        "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric_name:?}"
    )
}

pub(crate) fn counter_reset_collision(operation: &str) -> String {
    format!("PromQL warning: conflicting counter resets during histogram {operation}")
}

pub(crate) fn mismatched_custom_buckets(operation: &str) -> String {
    format!("PromQL info: mismatched custom buckets were reconciled during {operation}")
}

pub(crate) fn forced_monotonicity(metric_name: &str) -> String {
    with_metric_name(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)",
        metric_name,
    )
}

pub(crate) fn histogram_ignored_in_mixed_range(metric_name: &str) -> String {
    format!(
        "PromQL info: ignored histograms in a range containing both floats and histograms for metric name {metric_name:?}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_prometheus() {
        let cases = [
            (
                invalid_quantile(f64::NAN),
                "PromQL warning: quantile value should be between 0 and 1, got NaN",
            ),
            (
                invalid_quantile(-0.1),
                "PromQL warning: quantile value should be between 0 and 1, got -0.1",
            ),
            (
                bad_bucket_label("series", "Hello World"),
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"Hello World\" for metric name \"series\"",
            ),
            (
                invalid_quantile(1e-7),
                "PromQL warning: quantile value should be between 0 and 1, got 1e-07",
            ),
            (
                mixed_classic_native(""),
                "PromQL warning: vector contains a mix of classic and native histograms",
            ),
            (
                not_gauge("hist_counter"),
                "PromQL warning: this native histogram metric is not a gauge: \"hist_counter\"",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
