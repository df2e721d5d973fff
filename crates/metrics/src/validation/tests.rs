use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::write::{BucketSpan, HistogramCount};

const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

type Pairs = &'static [(&'static str, &'static str)];

/// One series to build: labels, sample timestamps, histograms (timestamp, buckets), exemplars
/// (labels, timestamp).
#[derive(Debug, Clone, Default)]
struct Spec {
    labels: Vec<(&'static str, &'static str)>,
    samples: Vec<i64>,
    histograms: Vec<(i64, u32)>,
    exemplars: Vec<(Vec<(&'static str, &'static str)>, i64)>,
}

fn spec(labels: Pairs, samples: &[i64]) -> Spec {
    Spec {
        labels: labels.to_vec(),
        samples: samples.to_vec(),
        ..Spec::default()
    }
}

fn histogram(timestamp_ms: i64, buckets: u32) -> Histogram {
    Histogram {
        timestamp_ms,
        count: HistogramCount::Int(1),
        sum: 1.0,
        schema: 0,
        zero_threshold: 0.0,
        zero_count: HistogramCount::Int(0),
        negative_spans: vec![],
        negative_deltas: vec![],
        negative_counts: vec![],
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: buckets,
        }],
        positive_deltas: vec![1; buckets as usize],
        positive_counts: vec![],
        reset_hint: 0,
        custom_values: vec![],
    }
}

fn build(specs: &[Spec]) -> WriteBatch<'static> {
    let mut b = WriteBatch::default();
    for (i, s) in specs.iter().enumerate() {
        let r = |start: usize, end: usize| start as u32..end as u32;
        let (l, sa, h, e) = (
            b.labels.len(),
            b.samples.len(),
            b.histograms.len(),
            b.exemplars.len(),
        );
        b.labels.extend(
            s.labels
                .iter()
                .map(|&(name, value)| LabelRef { name, value }),
        );
        b.samples.extend(s.samples.iter().map(|&t| Sample {
            timestamp_ms: t,
            value: t as f64,
        }));
        b.histograms
            .extend(s.histograms.iter().map(|&(t, n)| histogram(t, n)));
        for (labels, t) in &s.exemplars {
            let start = b.exemplar_labels.len();
            b.exemplar_labels
                .extend(labels.iter().map(|&(name, value)| LabelRef { name, value }));
            let labels = r(start, b.exemplar_labels.len());
            b.exemplars.push(Exemplar {
                labels,
                value: 1.0,
                timestamp_ms: *t,
            });
        }
        b.series.push(SeriesEntry {
            labels: r(l, b.labels.len()),
            samples: r(sa, b.samples.len()),
            histograms: r(h, b.histograms.len()),
            exemplars: r(e, b.exemplars.len()),
            raw: r(i * 10, i * 10 + 5),
        });
    }
    b
}

/// An owned view of a batch, series by series.
#[derive(Debug, PartialEq)]
struct View {
    labels: Vec<(String, String)>,
    samples: Vec<i64>,
    histograms: Vec<i64>,
    exemplars: Vec<(Vec<(String, String)>, i64)>,
    has_raw: bool,
}

fn owned(labels: &[LabelRef<'_>]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn view(b: &WriteBatch<'_>) -> Vec<View> {
    b.series
        .iter()
        .map(|s| View {
            labels: owned(b.series_labels(s)),
            samples: b.series_samples(s).iter().map(|s| s.timestamp_ms).collect(),
            histograms: b
                .series_histograms(s)
                .iter()
                .map(|h| h.timestamp_ms)
                .collect(),
            exemplars: b
                .series_exemplars(s)
                .iter()
                .map(|e| (owned(b.exemplar_labels(e)), e.timestamp_ms))
                .collect(),
            has_raw: !s.raw.is_empty(),
        })
        .collect()
}

fn limits() -> TenantLimits {
    TenantLimits {
        max_label_names_per_series: 4,
        max_label_name_length: 10,
        max_label_value_length: 10,
        reject_old_samples: true,
        reject_old_samples_max_age: Duration::from_secs(3600),
        creation_grace_period: Duration::from_secs(600),
        max_native_histogram_buckets: 3,
        ..TenantLimits::default()
    }
}

#[test]
fn label_rules() {
    use ValidationReason as R;
    let cases: &[(&str, Pairs, Option<R>, &str)] = &[
        ("valid", &[("__name__", "up"), ("job", "x")], None, ""),
        ("missing name", &[("job", "x")], Some(R::MissingMetricName), "without a metric name, series: '{job=\"x\"}' (err-sextant-missing-metric-name)"),
        ("empty name is absent", &[("__name__", ""), ("job", "x")], Some(R::MissingMetricName), "err-sextant-missing-metric-name"),
        ("invalid metric name", &[("__name__", "1up")], Some(R::InvalidMetricName), "invalid metric name: '1up'"),
        ("invalid label name", &[("__name__", "up"), ("a-b", "x")], Some(R::InvalidLabelName), "invalid label: 'a-b'"),
        ("duplicate", &[("__name__", "up"), ("a", "1"), ("a", "2")], Some(R::DuplicateLabelNames), "duplicate label name, label: 'a'"),
        ("not sorted", &[("__name__", "up"), ("b", "1"), ("a", "2")], Some(R::LabelsNotSorted), "label: 'a' series: 'up{b=\"1\", a=\"2\"}' (err-sextant-labels-not-sorted)"),
        (
            "too many labels",
            &[("__name__", "up"), ("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")],
            Some(R::MaxLabelNamesPerSeries),
            "received a series whose number of labels exceeds the limit (actual: 5, limit: 4) series: 'up{a=\"1\", b=\"1\", c=\"1\", d=\"1\"}' (err-sextant-max-label-names-per-series). To adjust the related per-tenant limit, set max_label_names_per_series in the runtime overrides file.",
        ),
        ("empty values do not count", &[("__name__", "up"), ("a", "1"), ("b", ""), ("c", "1"), ("d", "1")], None, ""),
        ("name too long", &[("__name__", "up"), ("abcdefghijk", "x")], Some(R::LabelNameTooLong), "(actual: 11, limit: 10), label: 'abcdefghijk'"),
        ("value too long", &[("__name__", "up"), ("a", "01234567890")], Some(R::LabelValueTooLong), "set max_label_value_length"),
    ];
    for (name, labels, want, text) in cases {
        let mut b = build(&[spec(labels, &[NOW, NOW])]);
        let report = validate_batch(&mut b, &limits(), NOW);
        match want {
            None => {
                assert!(
                    report.first_errors.is_empty(),
                    "{name}: {:?}",
                    report.first_errors
                );
                let kept: Vec<_> = labels
                    .iter()
                    .filter(|l| !l.1.is_empty())
                    .map(|&(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                let v = view(&b);
                assert_eq!(v.len(), 1, "{name}");
                assert_eq!(v[0].labels, kept, "{name}");
                assert_eq!(
                    v[0].has_raw,
                    kept.len() == labels.len(),
                    "{name}: raw cleared iff labels removed"
                );
            }
            Some(reason) => {
                assert!(
                    b.series.is_empty() && b.samples.is_empty() && b.labels.is_empty(),
                    "{name}"
                );
                assert_eq!(report.first_errors.len(), 1, "{name}");
                let e = &report.first_errors[0];
                assert_eq!(
                    (e.reason, e.kind()),
                    (*reason, ErrorKind::BadRequest),
                    "{name}"
                );
                assert!(
                    e.message.contains(text),
                    "{name}: {:?} lacks {text:?}",
                    e.message
                );
                assert_eq!(report.discarded_for(*reason), 2, "{name}");
            }
        }
    }
}

#[test]
fn time_window_and_histogram_bucket_rules() {
    use ValidationReason as R;
    let up: Pairs = &[("__name__", "up")];
    // (name, limits, sample timestamps, histograms (timestamp, buckets), kept samples, kept
    // histograms, discarded per reason)
    type Case = (
        &'static str,
        TenantLimits,
        Vec<i64>,
        Vec<(i64, u32)>,
        Vec<i64>,
        Vec<i64>,
        &'static [(R, u64)],
    );
    let cases: &[Case] = &[
        (
            "in window",
            limits(),
            vec![NOW - HOUR / 2, NOW + 60_000],
            vec![(NOW, 3)],
            vec![NOW - HOUR / 2, NOW + 60_000],
            vec![NOW],
            &[],
        ),
        (
            "too old and too new",
            limits(),
            vec![NOW - 2 * HOUR, NOW, NOW + HOUR],
            vec![(NOW - 2 * HOUR, 1), (NOW, 4)],
            vec![NOW],
            vec![],
            &[
                (R::SampleTooOld, 2),
                (R::SampleTooFarInFuture, 1),
                (R::MaxNativeHistogramBuckets, 1),
            ],
        ),
        (
            "checks switched off",
            TenantLimits {
                reject_old_samples: false,
                creation_grace_period: Duration::ZERO,
                max_native_histogram_buckets: 0,
                ..limits()
            },
            vec![0, NOW + 100 * HOUR],
            vec![(1, 100)],
            vec![0, NOW + 100 * HOUR],
            vec![1],
            &[],
        ),
    ];
    for (name, limits, samples, histograms, want_samples, want_histograms, discarded) in cases {
        let s = Spec {
            labels: up.to_vec(),
            samples: samples.clone(),
            histograms: histograms.clone(),
            ..Spec::default()
        };
        let mut b = build(&[s]);
        let report = validate_batch(&mut b, limits, NOW);
        let v = view(&b);
        let removed = !discarded.is_empty();
        assert_eq!(v[0].samples, *want_samples, "{name}");
        assert_eq!(v[0].histograms, *want_histograms, "{name}");
        assert_eq!(v[0].has_raw, !removed, "{name}");
        for reason in ValidationReason::ALL {
            let want = discarded
                .iter()
                .find(|(r, _)| *r == reason)
                .map_or(0, |(_, n)| *n);
            assert_eq!(report.discarded_for(reason), want, "{name} {reason:?}");
        }
        assert_eq!(
            report.first_errors.len() as u64,
            report.total_discarded(),
            "{name}"
        );
    }
    let mut b = build(&[spec(up, &[NOW - 2 * HOUR])]);
    let report = validate_batch(&mut b, &limits(), NOW);
    let message = &report.first_errors[0].message;
    assert!(
        message.contains("too far in the past, timestamp: 1699992800000 series: 'up{}'"),
        "{message}"
    );
    assert!(
        message.contains("(err-sextant-sample-timestamp-too-old)") && message.contains("1h"),
        "{message}"
    );
    assert!(
        b.series.is_empty(),
        "a series left without samples is dropped"
    );
}

#[test]
fn exemplars_need_labels_and_a_timestamp_and_keep_their_labels() {
    let trace = vec![("trace_id", "abc")];
    let specs = [
        Spec {
            labels: vec![("job", "no name")],
            samples: vec![NOW],
            exemplars: vec![(trace.clone(), NOW)],
            ..Spec::default()
        },
        Spec {
            labels: vec![("__name__", "up")],
            exemplars: vec![
                (vec![], NOW),
                (trace.clone(), 0),
                (vec![("span_id", "s1"), ("trace_id", "t1")], NOW),
            ],
            ..Spec::default()
        },
        Spec {
            labels: vec![("__name__", "bad_ex")],
            exemplars: vec![(vec![], NOW)],
            ..Spec::default()
        },
    ];
    let mut b = build(&specs);
    let report = validate_batch(&mut b, &limits(), NOW);
    let v = view(&b);
    assert_eq!(v.len(), 1);
    let kept = vec![
        ("span_id".to_string(), "s1".to_string()),
        ("trace_id".to_string(), "t1".to_string()),
    ];
    assert_eq!(v[0].exemplars, vec![(kept, NOW)]);
    assert_eq!(b.exemplar_labels.len(), 2);
    let reasons: Vec<_> = report.first_errors.iter().map(|e| e.reason).collect();
    use ValidationReason as R;
    assert_eq!(
        reasons,
        [
            R::MissingMetricName,
            R::ExemplarLabelsMissing,
            R::ExemplarTimestampInvalid,
            R::ExemplarLabelsMissing
        ]
    );
    assert_eq!(
        report.discarded_exemplars[R::ExemplarLabelsMissing as usize],
        2
    );
    assert_eq!(report.discarded_exemplars[R::MissingMetricName as usize], 1);
    assert_eq!(report.discarded_for(R::MissingMetricName), 1);
}

#[test]
fn compaction_keeps_order_and_reports_only_the_first_errors() {
    let good: Pairs = &[("__name__", "good")];
    let bad: Pairs = &[("job", "x")];
    let specs: Vec<Spec> = (0..12)
        .map(|i| {
            if i % 3 == 0 {
                spec(good, &[NOW + i])
            } else {
                spec(bad, &[NOW, NOW])
            }
        })
        .collect();
    let mut b = build(&specs);
    let empty = spec(good, &[]);
    let mut with_empty = specs.clone();
    with_empty.insert(1, empty);
    let mut b2 = build(&with_empty);
    for b in [&mut b, &mut b2] {
        let report = validate_batch(b, &limits(), NOW);
        assert_eq!(report.first_errors.len(), MAX_REPORTED_ERRORS);
        assert_eq!(
            report.discarded_for(ValidationReason::MissingMetricName),
            16
        );
        let samples: Vec<_> = view(b).iter().map(|v| v.samples.clone()).collect();
        assert_eq!(samples, [[NOW], [NOW + 3], [NOW + 6], [NOW + 9]]);
        assert!(view(b).iter().all(|v| v.has_raw));
        assert_eq!((b.labels.len(), b.samples.len()), (4, 4));
    }
}

#[test]
fn reasons_have_stable_unique_ids() {
    let ids: std::collections::HashSet<_> = ValidationReason::ALL.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), ValidationReason::COUNT);
    for (i, r) in ValidationReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
        assert!(r.id().starts_with("err-sextant-"), "{r:?}");
        assert_eq!(format!("err-sextant-{}", r.label()), r.id());
        assert_eq!(r.kind(), ErrorKind::BadRequest);
    }
    assert_eq!(
        ValidationReason::SampleTooOld.label(),
        "sample-timestamp-too-old"
    );
}

// ---------------------------------------------------------------------------------------------

fn arb_spec() -> impl Strategy<Value = Spec> {
    let names = prop::sample::select(vec!["__name__", "a", "b", "job", "1x", "abcdefghijkl"]);
    let values = prop::sample::select(vec!["", "up", "x", "1up", "012345678901"]);
    let labels = prop::collection::vec((names.clone(), values.clone()), 0..6);
    let ts = prop_oneof![Just(0i64), NOW - 2 * HOUR..NOW + 2 * HOUR];
    let samples = prop::collection::vec(ts.clone(), 0..4);
    let histograms = prop::collection::vec((ts.clone(), 0..6u32), 0..3);
    let exemplars = prop::collection::vec((prop::collection::vec((names, values), 0..3), ts), 0..3);
    (labels, samples, histograms, exemplars).prop_map(|(labels, samples, histograms, exemplars)| {
        Spec {
            labels,
            samples,
            histograms,
            exemplars,
        }
    })
}

fn is_subsequence<T: PartialEq>(small: &[T], big: &[T]) -> bool {
    let mut it = big.iter();
    small.iter().all(|x| it.any(|y| y == x))
}

proptest! {
    #[test]
    fn validation_only_removes_and_is_idempotent(specs in prop::collection::vec(arb_spec(), 0..8)) {
        let mut b = build(&specs);
        let before = view(&b);
        let items = b.item_count();
        let report = validate_batch(&mut b, &limits(), NOW);
        let after = view(&b);
        prop_assert!(b.item_count() <= items);
        prop_assert!(report.first_errors.len() <= MAX_REPORTED_ERRORS);
        // every surviving series is an original one (in order) minus some items
        let mut originals = before.iter();
        for s in &after {
            let found = originals.any(|o| {
                let labels: Vec<_> = o.labels.iter().filter(|l| !l.1.is_empty()).cloned().collect();
                labels == s.labels
                    && is_subsequence(&s.samples, &o.samples)
                    && is_subsequence(&s.histograms, &o.histograms)
                    && is_subsequence(&s.exemplars, &o.exemplars)
            });
            prop_assert!(found, "{:?} is not from {:?}", s, before);
        }
        let mut again = b.clone();
        let second = validate_batch(&mut again, &limits(), NOW);
        prop_assert!(second.first_errors.is_empty() && second.total_discarded() == 0);
        prop_assert_eq!(view(&again), after);
    }
}
