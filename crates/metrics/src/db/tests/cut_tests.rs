//! Block cutting, head truncation, WAL checkpoints and replay after them.

use super::*;
use crate::block::{read_chunk, read_histogram_chunk, BlockIndex, BlockSource};
use crate::wal;

fn source() -> BlockSource {
    BlockSource {
        block_id: "b1".into(),
        tenant: "t".into(),
        source_ingester: "ingester-0".into(),
        ..BlockSource::default()
    }
}

fn steps(from: i64, to: i64, step: i64) -> Vec<(i64, f64)> {
    (from..to)
        .step_by(step as usize)
        .map(|t| (t, t as f64))
        .collect()
}

fn sample_times(db: &TenantDb, name: &str) -> Vec<i64> {
    db.query(TimeRange::ALL, &name_is(name))
        .iter()
        .flat_map(|s| s.samples.iter().map(|s| s.timestamp_ms))
        .collect()
}

/// Every series of an encoded block with the timestamps of its float samples and histograms.
fn block_contents(block: &crate::block::EncodedBlock) -> Vec<(Labels, Vec<i64>, Vec<i64>)> {
    let index = BlockIndex::parse(&block.index).unwrap();
    index
        .select(&[])
        .into_iter()
        .map(|r| {
            let (labels, chunks) = index.series(r).unwrap();
            let floats = chunks
                .iter()
                .flat_map(|m| {
                    read_chunk(&block.chunks, m)
                        .unwrap()
                        .iter()
                        .collect::<Vec<_>>()
                })
                .map(|(t, _)| t)
                .collect();
            let hists = index
                .histogram_chunks(r)
                .unwrap()
                .iter()
                .flat_map(|m| read_histogram_chunk(&block.chunks, m).unwrap().histograms())
                .map(|h| h.timestamp_ms)
                .collect();
            (labels, floats, hists)
        })
        .collect()
}

#[test]
fn data_after_the_boundary_survives_truncation_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        [("__name__", "a")],
        [("__name__", "b"), ("job", "old")],
        [("__name__", "c")],
    );
    {
        let (db, _) = TenantDb::open(TenantDbConfig {
            dir: dir.path().to_path_buf(),
            wal_segment_size: 1024,
            chunk_max_samples: 120,
        })
        .unwrap();
        for from in (0..1000).step_by(100) {
            let batch = Builder::default()
                .samples(&a, &steps(from, from + 100, 10))
                .samples(&b, &steps(from, (from + 100).min(400), 10))
                .batch;
            db.append(&batch, &AppendOptions::default()).unwrap();
        }
        assert!(
            wal::list_segments(dir.path()).unwrap().len() > 1,
            "small segments roll"
        );
        assert_eq!(db.time_range(), Some((0, 990)));

        let block = db.cut_block(500, source()).unwrap().unwrap();
        assert_eq!((block.meta.min_time_ms, block.meta.max_time_ms), (0, 490));
        assert_eq!((block.meta.stats.series, block.meta.stats.samples), (2, 90));
        let contents = block_contents(&block);
        assert_eq!(contents[0].0, Labels::from_pairs(a));
        assert_eq!(contents[0].1, (0..500).step_by(10).collect::<Vec<i64>>());
        assert_eq!(contents[1].1, (0..400).step_by(10).collect::<Vec<i64>>());

        // after the cut, older samples are refused with a clear id
        let late = Builder::default()
            .samples(&c, &[(499, 1.0), (500, 2.0)])
            .batch;
        let out = db.append(&late, &AppendOptions::default()).unwrap();
        assert_eq!(out.samples_written, 1);
        assert_eq!(count_of(&out, RejectReason::TooOld), 1);
        assert!(out.rejected[0]
            .to_string()
            .contains("err-sextant-sample-too-old-for-head"));

        let stats = db.truncate(500).unwrap();
        assert_eq!(stats.series_removed, 1);
        assert!(stats.checkpoint_bytes > 0);
        assert_eq!(
            sample_times(&db, "a"),
            (500..1000).step_by(10).collect::<Vec<i64>>()
        );
        assert!(sample_times(&db, "b").is_empty());
        assert_eq!(db.label_names(TimeRange::ALL, &[]), ["__name__"]);
        assert_eq!(db.series_count(), 2);
        assert_eq!(db.time_range(), Some((500, 990)));
        assert!(db.cut_block(500, source()).unwrap().is_none());
        let segments = wal::list_segments(dir.path()).unwrap();
        assert_eq!(segments.len(), 1, "{segments:?}");

        // the series dropped by truncation comes back as a new one
        let more = Builder::default()
            .samples(&a, &[(1000, 1.0)])
            .samples(&b, &[(1000, 1.0)])
            .batch;
        let out = db.append(&more, &AppendOptions::default()).unwrap();
        assert_eq!((out.samples_written, out.series_created), (2, 1));
    }
    let (db, stats) = open(dir.path());
    assert_eq!(stats.corrupt_records, 0);
    assert_eq!(
        sample_times(&db, "a"),
        (500..=1000).step_by(10).collect::<Vec<i64>>()
    );
    assert_eq!(sample_times(&db, "b"), [1000]);
    assert_eq!(sample_times(&db, "c"), [500]);
    assert_eq!(db.min_valid_time(), 500);
    let late = Builder::default().samples(&c, &[(499, 1.0)]).batch;
    let out = db.append(&late, &AppendOptions::default()).unwrap();
    assert_eq!(count_of(&out, RejectReason::TooOld), 1);
}

#[test]
fn a_second_truncation_replaces_the_first_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let a = [("__name__", "a")];
    {
        let (db, _) = open(dir.path());
        let batch = Builder::default().samples(&a, &steps(0, 3000, 10)).batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
        for boundary in [1000, 2000] {
            db.cut_block(boundary, source()).unwrap().unwrap();
            db.truncate(boundary).unwrap();
        }
        let checkpoints: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("checkpoint."))
            .collect();
        assert_eq!(checkpoints.len(), 1);
    }
    let (db, _) = open(dir.path());
    assert_eq!(
        sample_times(&db, "a"),
        (2000..3000).step_by(10).collect::<Vec<i64>>()
    );
    // new records go after the checkpoint, so the next replay sees them
    let batch = Builder::default().samples(&a, &[(3000, 1.0)]).batch;
    db.append(&batch, &AppendOptions::default()).unwrap();
    drop(db);
    let (db, _) = open(dir.path());
    assert_eq!(sample_times(&db, "a").last(), Some(&3000));
}

#[test]
fn nothing_is_lost_when_the_upload_fails() {
    let dir = tempfile::tempdir().unwrap();
    let a = [("__name__", "a")];
    {
        let (db, _) = open(dir.path());
        let batch = Builder::default().samples(&a, &steps(0, 1000, 10)).batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
        let first = db.cut_block(500, source()).unwrap().unwrap();
        // the upload failed: no truncation; the next tick cuts the same block again
        let again = db.cut_block(500, source()).unwrap().unwrap();
        assert_eq!(first, again);
        assert_eq!(sample_times(&db, "a").len(), 100);
    }
    let (db, _) = open(dir.path());
    assert_eq!(sample_times(&db, "a").len(), 100);
}

#[test]
fn a_crash_mid_checkpoint_leaves_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let a = [("__name__", "a")];
    {
        let (db, _) = open(dir.path());
        let batch = Builder::default().samples(&a, &steps(0, 1000, 10)).batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
    }
    // an interrupted checkpoint: a temp dir with garbage
    let tmp = dir.path().join("checkpoint.00000099.tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("00000000"), b"garbage").unwrap();
    let (db, stats) = open(dir.path());
    assert_eq!(stats.corrupt_records, 0);
    assert!(!tmp.exists());
    assert_eq!(sample_times(&db, "a").len(), 100);
}

#[test]
fn histograms_survive_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let h = [("__name__", "h")];
    {
        let (db, _) = open(dir.path());
        let batch = Builder::default()
            .series(
                &h,
                &[],
                &[histogram(10, 2), histogram(20, 3), histogram(30, 1)],
                &[],
            )
            .batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
        let block = db.cut_block(25, source()).unwrap().unwrap();
        assert_eq!(block.meta.stats.histograms, 2);
        assert_eq!(
            block_contents(&block),
            [(Labels::from_pairs(h), vec![], vec![10, 20])]
        );
        let index = BlockIndex::parse(&block.index).unwrap();
        let metas = index.histogram_chunks(crate::block::SeriesRef(0)).unwrap();
        let got = read_histogram_chunk(&block.chunks, &metas[0])
            .unwrap()
            .histograms();
        assert_eq!(got, [histogram(10, 2), histogram(20, 3)]);
        db.truncate(25).unwrap();
    }
    let (db, _) = open(dir.path());
    let got = db.query(TimeRange::ALL, &name_is("h"));
    assert_eq!(got[0].histograms, [histogram(30, 1)]);
}

#[test]
fn label_queries_follow_range_and_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let batch = Builder::default()
        .samples(&[("__name__", "up"), ("job", "a")], &[(10, 1.0)])
        .samples(
            &[("__name__", "up"), ("job", "b"), ("zone", "z")],
            &[(100, 1.0)],
        )
        .samples(&[("__name__", "down"), ("job", "c")], &[(50, 1.0)])
        .batch;
    db.append(&batch, &AppendOptions::default()).unwrap();
    let r = TimeRange::new;
    let cases: &[(TimeRange, &str, &[&str], &[&str])] = &[
        (
            TimeRange::ALL,
            "",
            &["__name__", "job", "zone"],
            &["a", "b", "c"],
        ),
        (r(0, 60), "", &["__name__", "job"], &["a", "c"]),
        (r(0, 60), "up", &["__name__", "job"], &["a"]),
        (r(90, 200), "up", &["__name__", "job", "zone"], &["b"]),
        (r(200, 300), "", &[], &[]),
    ];
    for (range, name, names, values) in cases {
        let matchers = if name.is_empty() {
            vec![]
        } else {
            name_is(name)
        };
        assert_eq!(
            db.label_names(*range, &matchers),
            *names,
            "{range:?} {name}"
        );
        assert_eq!(
            db.label_values("job", *range, &matchers),
            *values,
            "{range:?} {name}"
        );
    }
    let sets = [name_is("down"), name_is("up")];
    let series = db.series(r(0, 60), &sets, 0);
    let names: Vec<String> = series.iter().map(|l| l.to_string()).collect();
    assert_eq!(names, [r#"down{job="c"}"#, r#"up{job="a"}"#]);
    assert_eq!(db.series(TimeRange::ALL, &sets, 2).len(), 2);
}

#[test]
fn metadata_keeps_the_latest_per_family() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let md = |name, help| crate::write::MetricMetadata {
        metric_family_name: name,
        metric_type: 1,
        help,
        unit: "",
    };
    for (name, help) in [("b_total", "old"), ("a_total", "A"), ("b_total", "new")] {
        let mut batch = WriteBatch::default();
        batch.metadata.push(md(name, help));
        db.append(&batch, &AppendOptions::default()).unwrap();
    }
    let all = db.metadata("", 0);
    let got: Vec<(&str, &str)> = all
        .iter()
        .map(|m| (m.metric_family_name.as_str(), m.help.as_str()))
        .collect();
    assert_eq!(got, [("a_total", "A"), ("b_total", "new")]);
    assert_eq!(db.metadata("", 1).len(), 1);
    assert_eq!(db.metadata("b_total", 0)[0].help, "new");
    assert!(db.metadata("nope", 0).is_empty());
}

#[test]
fn cuts_cover_only_the_range_since_the_last_shipped_block() {
    let dir = tempfile::tempdir().unwrap();
    let (a, h) = ([("__name__", "a")], [("__name__", "h")]);
    let hists: Vec<Histogram> = (0..30).map(|i| histogram(i * 100, 1)).collect();
    {
        let (db, _) = open(dir.path());
        let batch = Builder::default()
            .samples(&a, &steps(0, 3000, 10))
            .series(&h, &[], &hists, &[])
            .batch;
        db.append(&batch, &AppendOptions::default()).unwrap();
        assert_eq!(db.shipped_until(), i64::MIN);
        // (boundary, float sample times, histogram times) of consecutive shipped cuts
        let cases: &[(i64, std::ops::Range<i64>, std::ops::Range<i64>)] = &[
            (1000, 0..1000, 0..10),
            (1500, 1000..1500, 10..15),
            (2000, 1500..2000, 15..20),
        ];
        for (boundary, floats, hs) in cases {
            let block = db.cut_block(*boundary, source()).unwrap().unwrap();
            let contents = block_contents(&block);
            let want_floats: Vec<i64> = floats.clone().step_by(10).collect();
            let want_hists: Vec<i64> = hs.clone().map(|i| i * 100).collect();
            assert_eq!(contents[0].1, want_floats, "{boundary}");
            assert_eq!(contents[1].2, want_hists, "{boundary}");
            db.set_shipped_until(*boundary).unwrap();
            // nothing is truncated: the head still answers for the shipped range
            assert_eq!(sample_times(&db, "a").len(), 300);
        }
        // a shipped range is not cut again; the shipped bound never moves back
        assert!(db.cut_block(2000, source()).unwrap().is_none());
        db.set_shipped_until(1000).unwrap();
        assert_eq!(db.shipped_until(), 2000);
        // truncating an older range keeps the newer shipped data in the head
        db.truncate(1000).unwrap();
        assert_eq!(sample_times(&db, "a").first(), Some(&1000));
    }
    // after a restart, replayed data before the shipped bound is served but neither
    // accepted again nor cut again
    let (db, _) = open(dir.path());
    assert_eq!((db.shipped_until(), db.min_valid_time()), (2000, 2000));
    assert_eq!(sample_times(&db, "a").first(), Some(&1000));
    let late = Builder::default().samples(&a, &[(1999, 1.0)]).batch;
    let out = db.append(&late, &AppendOptions::default()).unwrap();
    assert_eq!(count_of(&out, RejectReason::TooOld), 1);
    let block = db.cut_block(2500, source()).unwrap().unwrap();
    assert_eq!(
        (block.meta.min_time_ms, block.meta.max_time_ms),
        (2000, 2490)
    );
    db.truncate(2500).unwrap();
    assert_eq!(sample_times(&db, "a").first(), Some(&2500));
}
