use super::*;
use crate::write::{Exemplar, Histogram, HistogramCount, LabelRef, Sample, SeriesEntry};
use sextant_model::MatchOp;

/// Builds a batch from (labels, samples) pairs; optional histograms and exemplars per series.
#[derive(Default)]
struct Builder<'a> {
    batch: WriteBatch<'a>,
}

impl<'a> Builder<'a> {
    fn series(
        mut self,
        labels: &[(&'a str, &'a str)],
        samples: &[(i64, f64)],
        histograms: &[Histogram],
        exemplars: &[(i64, f64, &'a str)],
    ) -> Self {
        let b = &mut self.batch;
        let start = |n: usize| n as u32;
        let l0 = start(b.labels.len());
        b.labels
            .extend(labels.iter().map(|(name, value)| LabelRef { name, value }));
        let s0 = start(b.samples.len());
        b.samples.extend(samples.iter().map(|(t, v)| Sample {
            timestamp_ms: *t,
            value: *v,
        }));
        let h0 = start(b.histograms.len());
        b.histograms.extend(histograms.iter().cloned());
        let e0 = start(b.exemplars.len());
        for (ts, value, trace) in exemplars {
            let at = start(b.exemplar_labels.len());
            b.exemplar_labels.push(LabelRef {
                name: "trace_id",
                value: trace,
            });
            b.exemplars.push(Exemplar {
                labels: at..at + 1,
                value: *value,
                timestamp_ms: *ts,
            });
        }
        b.series.push(SeriesEntry {
            labels: l0..start(b.labels.len()),
            samples: s0..start(b.samples.len()),
            histograms: h0..start(b.histograms.len()),
            exemplars: e0..start(b.exemplars.len()),
            raw: 0..0,
        });
        self
    }

    fn samples(self, labels: &[(&'a str, &'a str)], samples: &[(i64, f64)]) -> Self {
        self.series(labels, samples, &[], &[])
    }
}

fn histogram(ts: i64, buckets: u32) -> Histogram {
    Histogram {
        timestamp_ms: ts,
        count: HistogramCount::Int(3),
        sum: 1.5,
        schema: 1,
        zero_threshold: 0.0,
        zero_count: HistogramCount::Int(0),
        negative_spans: vec![],
        negative_deltas: vec![],
        negative_counts: vec![],
        positive_spans: vec![crate::write::BucketSpan {
            offset: 0,
            length: buckets,
        }],
        positive_deltas: vec![1; buckets as usize],
        positive_counts: vec![],
        reset_hint: 0,
        custom_values: vec![],
    }
}

fn open(dir: &Path) -> (TenantDb, ReplayStats) {
    TenantDb::open(TenantDbConfig {
        dir: dir.to_path_buf(),
        wal_segment_size: 4096,
        chunk_max_samples: 120,
    })
    .unwrap()
}

fn name_is(name: &str) -> Vec<Matcher> {
    vec![Matcher::new(MatchOp::Equal, "__name__", name).unwrap()]
}

fn count_of(out: &AppendOutcome, reason: RejectReason) -> u64 {
    out.rejected_counts
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| *n)
}

#[test]
fn append_query_and_rejection_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = open(dir.path());
    assert_eq!(stats.series, 0);
    let a = [("__name__", "up"), ("job", "a")];
    let first = Builder::default()
        .samples(&a, &[(10, 1.0), (20, 2.0)])
        .batch;
    let out = db.append(&first, &AppendOptions::default()).unwrap();
    assert_eq!((out.samples_written, out.series_created), (2, 1));
    assert!(out.rejected.is_empty());

    // retry is a no-op; older, and same-timestamp-different-value samples are rejected
    assert_eq!(
        db.append(&first, &AppendOptions::default())
            .unwrap()
            .samples_written,
        0
    );
    let bad = Builder::default()
        .samples(&a, &[(5, 1.0), (20, 9.0), (30, 3.0)])
        .batch;
    let out = db.append(&bad, &AppendOptions::default()).unwrap();
    assert_eq!(out.samples_written, 1);
    assert_eq!(count_of(&out, RejectReason::OutOfOrder), 1);
    assert_eq!(count_of(&out, RejectReason::DuplicateTimestamp), 1);
    assert_eq!(out.rejected_total(), 2);
    let msg = &out.rejected[0].message;
    assert!(
        msg.contains(r#"up{job="a"}"#) && msg.contains("timestamp 5"),
        "{msg}"
    );
    assert!(out.rejected[0]
        .to_string()
        .ends_with("(err-sextant-sample-out-of-order)"));

    let got = db.query(TimeRange::new(15, 100), &name_is("up"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, Labels::from_pairs(a));
    let ts: Vec<i64> = got[0].samples.iter().map(|s| s.timestamp_ms).collect();
    assert_eq!(ts, [20, 30]);
    assert!(db.query(TimeRange::new(31, 100), &name_is("up")).is_empty());
    assert!(db.wal_bytes_written() > 0);
    assert_eq!(db.label_values("job", TimeRange::ALL, &[]), ["a"]);
    assert_eq!(db.label_names(TimeRange::ALL, &[]), ["__name__", "job"]);

    // exemplar storage switched off: dropped and counted
    let off = AppendOptions {
        max_exemplars: 0,
        ..AppendOptions::default()
    };
    let more = Builder::default()
        .series(&a, &[], &[], &[(40, 1.0, "x")])
        .batch;
    let out = db.append(&more, &off).unwrap();
    assert_eq!((out.exemplars_dropped, out.exemplars_written), (1, 0));
    assert!(db.query(TimeRange::new(31, 100), &name_is("up")).is_empty());
}

#[test]
fn max_series_names_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let opts = AppendOptions {
        max_series: 1,
        ..AppendOptions::default()
    };
    let batch = Builder::default()
        .samples(&[("__name__", "a")], &[(1, 1.0)])
        .samples(&[("__name__", "b")], &[(1, 1.0), (2, 2.0)])
        .batch;
    let out = db.append(&batch, &opts).unwrap();
    assert_eq!((out.samples_written, out.series_created), (1, 1));
    assert_eq!(out.rejected_counts, [(RejectReason::MaxSeries, 2)]);
    let msg = &out.rejected[0].message;
    assert!(
        msg.contains("series limit of 1 (max_global_series_per_user)"),
        "{msg}"
    );
    assert!(msg.contains("b{}"), "{msg}");
    assert_eq!(RejectReason::MaxSeries.kind(), ErrorKind::TooManyRequests);
    assert_eq!(RejectReason::OutOfOrder.kind(), ErrorKind::BadRequest);
    assert_eq!(db.series_count(), 1);
}

#[test]
fn histograms_and_exemplars_survive_replay() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let (db, _) = open(dir.path());
        let opts = AppendOptions {
            max_native_histogram_buckets: 4,
            ..AppendOptions::default()
        };
        let batch = Builder::default()
            .series(
                &[("__name__", "h")],
                &[],
                &[histogram(10, 2), histogram(20, 5), histogram(30, 4)],
                &[(10, 0.5, "abc"), (10, 0.5, "abc"), (5, 1.0, "old")],
            )
            .batch;
        let out = db.append(&batch, &opts).unwrap();
        assert_eq!((out.histograms_written, out.exemplars_written), (2, 1));
        assert_eq!(count_of(&out, RejectReason::MaxNativeHistogramBuckets), 1);
        assert_eq!(count_of(&out, RejectReason::ExemplarOutOfOrder), 1);
        db.query(TimeRange::ALL, &name_is("h"))
    };
    assert_eq!(want[0].histograms.len(), 2);
    assert_eq!(want[0].exemplars.len(), 1);
    assert_eq!(want[0].exemplars[0].labels.get("trace_id"), Some("abc"));
    let (db, stats) = open(dir.path());
    assert_eq!((stats.series, stats.histograms, stats.exemplars), (1, 2, 1));
    assert_eq!(db.query(TimeRange::ALL, &name_is("h")), want);
}

#[test]
fn acknowledged_appends_survive_a_drop_without_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for round in 0..3i64 {
        let (db, stats) = open(dir.path());
        assert_eq!(stats.corrupt_records, 0);
        assert_eq!(db.query(TimeRange::ALL, &[]), want, "round {round}");
        let values: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        let mut b = Builder::default();
        for v in &values {
            let samples: Vec<(i64, f64)> = (0..10).map(|i| (round * 100 + i, i as f64)).collect();
            b = b.samples(&[("__name__", "m"), ("i", v)], &samples);
        }
        db.append(&b.batch, &AppendOptions::default()).unwrap();
        want = db.query(TimeRange::ALL, &[]);
        assert_eq!(want.len(), 50);
        assert_eq!(want[0].samples.len(), 10 * (round as usize + 1));
    }
    let (_, stats) = open(dir.path());
    assert_eq!((stats.series, stats.samples), (50, 1500));
    let segments = wal::list_segments(dir.path()).unwrap().len();
    assert!(segments > 3);
    // reopening without writing reuses the empty segment
    drop(open(dir.path()));
    assert_eq!(wal::list_segments(dir.path()).unwrap().len(), segments);
}

#[test]
fn samples_logged_before_their_series_are_held_until_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = WalWriter::create(dir.path(), 1, 1 << 20).unwrap();
        let mut b = WalBatch::default();
        b.add_sample(3, 10, 1.0);
        b.add_sample(8, 10, 1.0); // never gets a series record
        w.write(b.finish().unwrap()).unwrap();
        b.clear();
        b.add_series(
            3,
            &[LabelRef {
                name: "__name__",
                value: "late",
            }],
        );
        b.add_sample(3, 20, 2.0);
        w.write(b.finish().unwrap()).unwrap();
    }
    let (db, stats) = open(dir.path());
    assert_eq!(
        (stats.series, stats.samples, stats.orphaned_items),
        (1, 2, 1)
    );
    let got = db.query(TimeRange::ALL, &name_is("late"));
    assert_eq!(got[0].samples.len(), 2);
    // new series do not reuse the orphan's reference
    let batch = Builder::default()
        .samples(&[("__name__", "new")], &[(1, 1.0)])
        .batch;
    db.append(&batch, &AppendOptions::default()).unwrap();
    drop(db);
    let (db, stats) = open(dir.path());
    assert_eq!(
        (stats.series, stats.samples, stats.orphaned_items),
        (2, 3, 1)
    );
    assert_eq!(
        db.query(TimeRange::ALL, &name_is("new"))[0].samples.len(),
        1
    );
}

#[test]
fn concurrent_appenders_all_survive_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let db = std::sync::Arc::new(db);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let names: Vec<String> = (0..100).map(|i| format!("s{t}_{i}")).collect();
                for round in 0..20 {
                    let mut b = Builder::default();
                    for name in &names {
                        b = b.samples(&[("__name__", "c"), ("id", name)], &[(round, round as f64)]);
                    }
                    let out = db.append(&b.batch, &AppendOptions::default()).unwrap();
                    assert_eq!(out.samples_written, 100);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let want = db.query(TimeRange::ALL, &[]);
    assert_eq!(want.len(), 400);
    assert!(want.windows(2).all(|w| w[0].labels < w[1].labels));
    drop(db);
    let (db, stats) = open(dir.path());
    assert_eq!((stats.series, stats.samples), (400, 8000));
    assert_eq!(db.query(TimeRange::ALL, &[]), want);
}

#[test]
fn torn_tail_is_dropped_and_later_appends_replay_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let a = [("__name__", "t")];
    {
        let (db, _) = open(dir.path());
        let batch = Builder::default().samples(&a, &[(1, 1.0), (2, 2.0)]).batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
    }
    let (last, path) = wal::list_segments(dir.path()).unwrap().pop().unwrap();
    let mut torn = std::fs::read(&path).unwrap();
    torn.extend_from_slice(&[2, 200, 0, 0, 0, 1, 2]); // a header cut short by a crash
    std::fs::write(&path, torn).unwrap();
    {
        let (db, stats) = open(dir.path());
        assert_eq!((stats.corrupt_records, stats.samples), (1, 2));
        let batch = Builder::default().samples(&a, &[(3, 3.0)]).batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
        db.sync().unwrap();
    }
    let (db, stats) = open(dir.path());
    assert_eq!((stats.corrupt_records, stats.samples), (0, 3));
    assert_eq!(db.query(TimeRange::ALL, &name_is("t"))[0].samples.len(), 3);
    assert!(wal::list_segments(dir.path()).unwrap().len() as u32 > last);
}

#[cfg(test)]
mod cut_tests;
