use super::*;

/// 2023-11-14T22:13:20Z
const NOW: i64 = 1_700_000_000_000_000_000;
const MINUTE: i64 = 60_000_000_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entry(ts_ns: i64, line: &str, metadata: &[(&str, &str)]) -> Entry {
    Entry {
        ts_ns,
        line: line.to_string(),
        metadata: labels(metadata),
    }
}

fn stream(pairs: &[(&str, &str)], entries: Vec<Entry>) -> Stream {
    Stream {
        labels: labels(pairs),
        entries,
    }
}

fn many_labels(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("l{i:02}"), "v".to_string()))
        .collect()
}

/// Stream label pairs of a case.
type StreamLabels<'a> = Vec<(&'a str, &'a str)>;
/// The rejection a case expects, if any.
type Expected = Option<(RejectionReason, String)>;

#[test]
fn stream_rejections() {
    let long_name = "n".repeat(1025);
    let long_value = "v".repeat(2049);
    let sixteen = many_labels(16);
    let sixteen: Vec<(&str, &str)> = sixteen
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let fifteen_and_service: Vec<(&str, &str)> = sixteen[..15]
        .iter()
        .copied()
        .chain([("service_name", "api")])
        .collect();
    let sixteen_text = labels(&sixteen).to_string();
    let cases: Vec<(&str, StreamLabels<'_>, Expected)> = vec![
        (
            "no labels",
            vec![],
            Some((
                RejectionReason::MissingLabels,
                "error at least one label pair is required per stream".into(),
            )),
        ),
        (
            "invalid name from a JSON push",
            vec![("app", "x"), ("k8s.pod", "p")],
            Some((
                RejectionReason::InvalidLabels,
                r#"Error parsing labels '{app="x", k8s.pod="p"}' with error: invalid label name "k8s.pod""#
                    .into(),
            )),
        ),
        (
            "too many names",
            sixteen.clone(),
            Some((
                RejectionReason::MaxLabelNamesPerSeries,
                format!("entry for stream '{sixteen_text}' has 16 label names; limit 15"),
            )),
        ),
        ("service_name is not counted", fifteen_and_service, None),
        (
            "name too long",
            vec![("app", "x"), (&long_name, "y")],
            Some((
                RejectionReason::LabelNameTooLong,
                format!(
                    "stream '{{app=\"x\", {long_name}=\"y\"}}' has label name too long: '{long_name}'"
                ),
            )),
        ),
        (
            "value too long",
            vec![("app", &long_value)],
            Some((
                RejectionReason::LabelValueTooLong,
                format!("stream '{{app=\"{long_value}\"}}' has label value too long: '{long_value}'"),
            )),
        ),
    ];
    for (name, pairs, want) in cases {
        let batch = LogBatch {
            streams: vec![stream(
                &pairs,
                vec![entry(NOW, "hello", &[("k", "v")]), entry(NOW, "x", &[])],
            )],
        };
        let (accepted, rejections) = validate(batch.clone(), &LogsValidationLimits::default(), NOW);
        match want {
            None => {
                assert_eq!(accepted, batch, "{name}");
                assert!(rejections.is_empty(), "{name}: {rejections:?}");
            }
            Some((reason, message)) => {
                assert_eq!(accepted, LogBatch::default(), "{name}");
                let want = Rejection {
                    reason,
                    message,
                    entries: 2,
                    bytes: 5 + 2 + 1,
                };
                assert_eq!(rejections, vec![want], "{name}");
            }
        }
    }
}

#[test]
fn entry_rejections() {
    let app = [("app", "api")];
    let many_metadata = many_labels(129);
    let many_metadata: Vec<(&str, &str)> = many_metadata
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let big_value = "m".repeat(64 * 1024);
    let no_metadata = LogsValidationLimits {
        allow_structured_metadata: false,
        ..LogsValidationLimits::default()
    };
    let defaults = LogsValidationLimits::default();
    let cases: Vec<(&str, Entry, &LogsValidationLimits, Expected)> =
        vec![
        ("now", entry(NOW, "ok", &[]), &defaults, None),
        ("7 days old", entry(NOW - 7 * DAY, "ok", &[]), &defaults, None),
        (
            "older than 7 days",
            entry(NOW - 7 * DAY - 1_000_000_000, "old", &[]),
            &defaults,
            Some((
                RejectionReason::GreaterThanMaxSampleAge,
                "entry for stream '{app=\"api\"}' has timestamp too old: 2023-11-07T22:13:19Z, \
                 oldest acceptable timestamp is: 2023-11-07T22:13:20Z"
                    .into(),
            )),
        ),
        ("10 minutes ahead", entry(NOW + 10 * MINUTE, "ok", &[]), &defaults, None),
        (
            "more than 10 minutes ahead",
            entry(NOW + 11 * MINUTE, "new", &[]),
            &defaults,
            Some((
                RejectionReason::TooFarInFuture,
                "entry for stream '{app=\"api\"}' has timestamp too new: 2023-11-14T22:24:20Z"
                    .into(),
            )),
        ),
        (
            "line too long",
            entry(NOW, &"x".repeat(256 * 1024 + 1), &[]),
            &defaults,
            Some((
                RejectionReason::LineTooLong,
                "Max entry size '262144' bytes exceeded for stream '{app=\"api\"}' while adding \
                 an entry with length '262145' bytes"
                    .into(),
            )),
        ),
        ("line at the limit", entry(NOW, &"x".repeat(256 * 1024), &[]), &defaults, None),
        (
            "metadata disallowed",
            entry(NOW, "x", &[("k", "v")]),
            &no_metadata,
            Some((
                RejectionReason::DisallowedStructuredMetadata,
                "stream '{app=\"api\"}' includes structured metadata, but this feature is \
                 disallowed. Please see `limits_config.allow_structured_metadata` or contact \
                 your Loki administrator to enable it."
                    .into(),
            )),
        ),
        (
            "metadata too large",
            entry(NOW, "x", &[("k", &big_value)]),
            &defaults,
            Some((
                RejectionReason::StructuredMetadataTooLarge,
                "stream '{app=\"api\"}' has structured metadata too large: '65537' bytes, limit: \
                 '65536' bytes. Please see `limits_config.max_structured_metadata_size` or contact \
                 your Loki administrator to increase it."
                    .into(),
            )),
        ),
        (
            "too many metadata pairs",
            entry(NOW, "x", &many_metadata),
            &defaults,
            Some((
                RejectionReason::StructuredMetadataTooMany,
                "stream '{app=\"api\"}' has too many structured metadata labels: '129', limit: \
                 '128'. Please see `limits_config.max_structured_metadata_entries_count` or \
                 contact your Loki administrator to increase it."
                    .into(),
            )),
        ),
    ];
    for (name, bad, limits, want) in cases {
        let good = entry(NOW, "good", &[]);
        let bad_size = entry_size(&bad);
        let batch = LogBatch {
            streams: vec![stream(&app, vec![good.clone(), bad.clone()])],
        };
        let (accepted, rejections) = validate(batch.clone(), limits, NOW);
        match want {
            None => {
                assert_eq!(accepted, batch, "{name}");
                assert!(rejections.is_empty(), "{name}: {rejections:?}");
            }
            Some((reason, message)) => {
                let kept = LogBatch {
                    streams: vec![stream(&app, vec![good])],
                };
                assert_eq!(accepted, kept, "{name}");
                let want = Rejection {
                    reason,
                    message,
                    entries: 1,
                    bytes: bad_size,
                };
                assert_eq!(rejections, vec![want], "{name}");
            }
        }
    }
}

#[test]
fn switches_and_truncation() {
    let ancient = entry(0, "from 1970", &[]);
    let lenient = LogsValidationLimits {
        reject_old_samples: false,
        max_line_size: 0,
        ..LogsValidationLimits::default()
    };
    let huge = entry(NOW, &"x".repeat(300 * 1024), &[]);
    let batch = LogBatch {
        streams: vec![stream(&[("app", "a")], vec![ancient, huge])],
    };
    let (accepted, rejections) = validate(batch.clone(), &lenient, NOW);
    assert_eq!((accepted, rejections), (batch, vec![]));

    let truncating = LogsValidationLimits {
        max_line_size: 4,
        max_line_size_truncate: true,
        ..LogsValidationLimits::default()
    };
    let batch = LogBatch {
        streams: vec![stream(
            &[("app", "a")],
            vec![
                entry(NOW, "abcdef", &[]),
                entry(NOW, "añb", &[]),
                entry(NOW, "aé€", &[]),
            ],
        )],
    };
    let (accepted, rejections) = validate(batch, &truncating, NOW);
    let lines: Vec<&str> = accepted.streams[0]
        .entries
        .iter()
        .map(|e| e.line.as_str())
        .collect();
    assert_eq!(lines, ["abcd", "añb", "aé"]);
    assert!(rejections.is_empty());
}

#[test]
fn streams_keep_order_and_empty_ones_go() {
    let batch = LogBatch {
        streams: vec![
            stream(&[("s", "1")], vec![entry(0, "too old", &[])]),
            stream(&[("s", "2")], vec![entry(NOW, "b", &[])]),
            stream(&[], vec![entry(NOW, "no labels", &[])]),
            stream(
                &[("s", "3")],
                vec![entry(NOW, "c", &[]), entry(0, "old", &[])],
            ),
        ],
    };
    let (accepted, rejections) = validate(batch, &LogsValidationLimits::default(), NOW);
    let want = LogBatch {
        streams: vec![
            stream(&[("s", "2")], vec![entry(NOW, "b", &[])]),
            stream(&[("s", "3")], vec![entry(NOW, "c", &[])]),
        ],
    };
    assert_eq!(accepted, want);
    let reasons: Vec<&str> = rejections.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "greater_than_max_sample_age",
            "missing_labels",
            "greater_than_max_sample_age"
        ]
    );
}

#[test]
fn rfc3339_formats_like_go() {
    let cases = [
        (0, "1970-01-01T00:00:00Z"),
        (NOW, "2023-11-14T22:13:20Z"),
        (NOW + 999_999_999, "2023-11-14T22:13:20Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
        (i64::MAX, "2262-04-11T23:47:16Z"),
    ];
    for (ns, want) in cases {
        assert_eq!(rfc3339(ns), want, "{ns}");
    }
}
