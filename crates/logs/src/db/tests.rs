use std::path::Path;

use sextant_model::{Labels, MatchOp, Matcher};

use super::*;
use crate::block::{read_logs_chunk, LogsBlockIndex, LogsBlockSource};
use crate::logql::eval::{Entry, LogQueryable, Stream};

const MIN: i64 = 60 * 1_000_000_000;
const HOUR: i64 = 60 * MIN;

fn open_with(dir: &Path, tweak: impl FnOnce(&mut LogsDbConfig)) -> (LogsTenantDb, LogsReplayStats) {
    let mut config = LogsDbConfig {
        dir: dir.to_path_buf(),
        ..LogsDbConfig::default()
    };
    tweak(&mut config);
    LogsTenantDb::open(config).unwrap()
}

fn open(dir: &Path) -> LogsTenantDb {
    open_with(dir, |_| {}).0
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entry(ts_ns: i64, line: &str, metadata: &[(&str, &str)]) -> Entry {
    Entry {
        ts_ns,
        line: line.to_owned(),
        metadata: labels(metadata),
    }
}

fn batch(streams: &[(Labels, Vec<Entry>)]) -> LogBatch {
    LogBatch {
        streams: streams
            .iter()
            .map(|(labels, entries)| Stream {
                labels: labels.clone(),
                entries: entries.clone(),
            })
            .collect(),
    }
}

/// One stream `{app="a"}` with entries at these times, lines `l<ts>`.
fn simple(times: &[i64]) -> LogBatch {
    let entries = times
        .iter()
        .map(|t| entry(*t, &format!("l{t}"), &[]))
        .collect();
    batch(&[(labels(&[("app", "a")]), entries)])
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

fn all(db: &LogsTenantDb) -> Vec<Stream> {
    db.select(&[], i64::MIN, i64::MAX).unwrap()
}

fn times(db: &LogsTenantDb) -> Vec<i64> {
    all(db)
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.ts_ns))
        .collect()
}

fn two_streams() -> LogBatch {
    batch(&[
        (
            labels(&[("app", "api"), ("env", "prod")]),
            vec![
                entry(10, "GET /a", &[("trace_id", "t1")]),
                entry(30, "GET /b", &[]),
                entry(20, "GET /c", &[("trace_id", "t2"), ("user", "u")]),
            ],
        ),
        (labels(&[("app", "web")]), vec![entry(15, "hello", &[])]),
    ])
}

#[test]
fn append_then_select_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let report = db.append(&two_streams()).unwrap();
    assert_eq!(
        (
            report.entries_written,
            report.streams_created,
            report.bytes_written
        ),
        (4, 2, 23)
    );
    let api = db
        .select(&[m(MatchOp::Equal, "app", "api")], 0, 100)
        .unwrap();
    assert_eq!(api.len(), 1);
    assert_eq!(
        api[0].entries,
        vec![
            entry(10, "GET /a", &[("trace_id", "t1")]),
            entry(20, "GET /c", &[("trace_id", "t2"), ("user", "u")]),
            entry(30, "GET /b", &[]),
        ]
    );
    let cases: Vec<(Vec<Matcher>, i64, i64, Vec<i64>)> = vec![
        (vec![], 0, 100, vec![10, 20, 30, 15]),
        (vec![], 15, 30, vec![20, 15]),
        (vec![m(MatchOp::RegexMatch, "app", "w.*")], 0, 100, vec![15]),
        (vec![m(MatchOp::Equal, "env", "")], 0, 100, vec![15]),
        (vec![m(MatchOp::Equal, "app", "api")], 31, 100, vec![]),
    ];
    for (matchers, start, end, want) in cases {
        let got: Vec<i64> = db
            .select(&matchers, start, end)
            .unwrap()
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.ts_ns))
            .collect();
        assert_eq!(got, want, "{matchers:?} [{start}, {end})");
    }
}

#[test]
fn out_of_order_window_accepts_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.append(&simple(&[10 * HOUR])).unwrap();
    // window is half of max_chunk_age (2h): 1h behind the newest entry
    let cases = [
        (9 * HOUR + 30 * MIN, true),
        (9 * HOUR, true),
        (9 * HOUR - 1, false),
        (8 * HOUR, false),
        (11 * HOUR, true),
        // the newest is now 11h
        (10 * HOUR - 1, false),
        (10 * HOUR + 5 * MIN, true),
    ];
    for (ts, accepted) in cases {
        let report = db.append(&simple(&[ts])).unwrap();
        assert_eq!(report.entries_written == 1, accepted, "{ts}: {report:?}");
        assert_eq!(report.rejected_total() == 1, !accepted, "{ts}");
    }
    let report = db.append(&simple(&[8 * HOUR])).unwrap();
    assert_eq!(
        report.rejected[0].message,
        "entry with timestamp 1970-01-01 08:00:00 +0000 UTC ignored, reason: 'entry too far \
         behind, entry timestamp is: 1970-01-01T08:00:00Z, oldest acceptable timestamp is: \
         1970-01-01T10:00:00Z' for stream: {app=\"a\"}"
    );
    assert_eq!(report.rejected[0].reason, LogsRejectReason::TooFarBehind);
    // within one batch, the batch's own newest entry counts
    let report = db
        .append(&simple(&[14 * HOUR, 12 * HOUR, 13 * HOUR + 30 * MIN]))
        .unwrap();
    assert_eq!((report.entries_written, report.rejected_total()), (2, 1));
}

#[test]
fn exact_duplicates_are_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    // small blocks so that earlier entries sit in compressed blocks
    let (db, _) = open_with(dir.path(), |c| c.chunk_block_bytes = 64);
    db.append(&simple(&[10, 20, 30, 40, 50])).unwrap();
    let other = labels(&[("app", "b")]);
    let cases: Vec<(LogBatch, u64, u64)> = vec![
        (simple(&[20]), 0, 1),
        (simple(&[50]), 0, 1),
        (simple(&[60, 60]), 1, 1),
        (
            batch(&[(labels(&[("app", "a")]), vec![entry(20, "other line", &[])])]),
            1,
            0,
        ),
        (
            batch(&[(labels(&[("app", "a")]), vec![entry(21, "l20", &[])])]),
            1,
            0,
        ),
        (batch(&[(other, vec![entry(20, "l20", &[])])]), 1, 0),
        // metadata does not make an entry different
        (
            batch(&[(
                labels(&[("app", "a")]),
                vec![entry(30, "l30", &[("k", "v")])],
            )]),
            0,
            1,
        ),
    ];
    for (i, (b, written, dropped)) in cases.into_iter().enumerate() {
        let report = db.append(&b).unwrap();
        assert_eq!(
            (
                report.entries_written,
                report.duplicates_dropped,
                report.rejected_total()
            ),
            (written, dropped, 0),
            "case {i}"
        );
    }
    assert_eq!(times(&db), [10, 20, 20, 21, 30, 40, 50, 60, 20]);
}

#[test]
fn same_labels_twice_in_one_batch_are_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let l = labels(&[("app", "a")]);
    let b = batch(&[
        (l.clone(), vec![entry(2, "x", &[])]),
        (l.clone(), vec![entry(1, "y", &[]), entry(2, "x", &[])]),
    ]);
    let report = db.append(&b).unwrap();
    assert_eq!(
        (
            report.streams_created,
            report.entries_written,
            report.duplicates_dropped
        ),
        (1, 2, 1)
    );
    assert_eq!(db.stream_count(), 1);
    assert_eq!(times(&db), [1, 2]);
}

#[test]
fn wal_replays_with_and_without_sync() {
    for fsync in [
        LogsFsyncPolicy::Always,
        LogsFsyncPolicy::Interval(Duration::from_secs(3600)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = open_with(dir.path(), |c| c.fsync = fsync);
        db.append(&two_streams()).unwrap();
        db.append(&simple(&[100, 200])).unwrap();
        let before = all(&db);
        drop(db);
        let (db, stats) = open_with(dir.path(), |c| c.fsync = fsync);
        assert_eq!(all(&db), before, "{fsync:?}");
        assert_eq!(
            (stats.streams, stats.entries, stats.corrupt_records),
            (3, 6, 0),
            "{fsync:?}"
        );
        // ids are not reused: a new stream after replay is a new stream after a second replay
        db.append(&batch(&[(
            labels(&[("app", "new")]),
            vec![entry(1, "n", &[])],
        )]))
        .unwrap();
        db.sync().unwrap();
        drop(db);
        let db = open(dir.path());
        assert_eq!(db.stream_count(), 4, "{fsync:?}");
        assert_eq!(all(&db).len(), 4);
    }
}

#[test]
fn torn_wal_tail_loses_only_the_last_append() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for t in [10, 20, 30] {
        db.append(&simple(&[t])).unwrap();
    }
    drop(db);
    let segment = crate::wal::list_segments(dir.path())
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 3).unwrap();
    let (db, stats) = open_with(dir.path(), |_| {});
    assert_eq!(stats.corrupt_records, 1);
    assert_eq!(times(&db), [10, 20]);
    db.append(&simple(&[40])).unwrap();
    drop(db);
    let (db, stats) = open_with(dir.path(), |_| {});
    assert_eq!((times(&db), stats.corrupt_records), (vec![10, 20, 40], 0));
}

#[test]
fn truncate_checkpoints_and_keeps_newer_data() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), |c| c.wal_segment_size = 200);
    for h in 0..10 {
        db.append(&simple(&[h * HOUR])).unwrap();
        let other = batch(&[(labels(&[("app", "old")]), vec![entry(h * MIN, "o", &[])])]);
        if h < 3 {
            db.append(&other).unwrap();
        }
    }
    let stats = db.truncate(5 * HOUR).unwrap();
    assert_eq!(stats.streams_removed, 1);
    assert!(stats.checkpoint_bytes > 0);
    let want: Vec<i64> = (5..10).map(|h| h * HOUR).collect();
    assert_eq!(times(&db), want);
    // older entries are refused now; newer ones land in the new segments
    let fresh = batch(&[(labels(&[("app", "fresh")]), vec![entry(4 * HOUR, "f", &[])])]);
    let report = db.append(&fresh).unwrap();
    assert_eq!(report.rejected_counts, vec![(LogsRejectReason::TooOld, 1)]);
    assert!(
        report.rejected[0].message.contains("entry too old"),
        "{report:?}"
    );
    db.append(&simple(&[10 * HOUR])).unwrap();
    let checkpoints = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint.")
        })
        .count();
    assert_eq!(checkpoints, 1);
    drop(db);
    let db = open(dir.path());
    let mut want = want;
    want.push(10 * HOUR);
    assert_eq!(times(&db), want);
    assert_eq!(db.stream_count(), 1);
    assert_eq!(db.min_valid_time(), 5 * HOUR);
}

fn source(id: &str) -> LogsBlockSource {
    LogsBlockSource {
        block_id: id.into(),
        tenant: "t".into(),
        source_ingester: "ingester-1".into(),
        ..LogsBlockSource::default()
    }
}

/// Every stream of an encoded block, read back through the index and the chunks file.
fn read_block(block: &crate::block::EncodedLogsBlock) -> Vec<Stream> {
    let index = LogsBlockIndex::parse(&block.index).unwrap();
    index
        .select(&[])
        .into_iter()
        .map(|r| {
            let (labels, chunks) = index.stream(r).unwrap();
            let mut entries = Vec::new();
            for meta in chunks {
                entries.extend(
                    read_logs_chunk(&block.chunks, meta)
                        .unwrap()
                        .entries()
                        .unwrap(),
                );
            }
            Stream { labels, entries }
        })
        .collect()
}

#[test]
fn cut_block_round_trips_and_advances_with_shipped_until() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), |c| {
        c.chunk_block_bytes = 100;
        c.chunk_target_bytes = 300;
    });
    db.append(&two_streams()).unwrap();
    let many: Vec<i64> = (100..200).collect();
    db.append(&simple(&many)).unwrap();
    let block = db.cut_block(150, source("b1")).unwrap().unwrap();
    assert_eq!(block.meta.block_id, "b1");
    assert_eq!((block.meta.min_time_ns, block.meta.max_time_ns), (10, 149));
    assert_eq!(block.meta.stats.streams, 3);
    assert_eq!(block.meta.stats.entries, 54);
    assert!(block.meta.stats.chunks >= 4, "{:?}", block.meta.stats);
    assert_eq!(read_block(&block), db.select(&[], i64::MIN, 150).unwrap());
    // appends before the boundary are refused from now on
    let report = db.append(&simple(&[148])).unwrap();
    assert_eq!(report.rejected_counts, vec![(LogsRejectReason::TooOld, 1)]);
    db.set_shipped_until(150).unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.shipped_until(), 150);
    let next = db.cut_block(300, source("b2")).unwrap().unwrap();
    assert_eq!((next.meta.min_time_ns, next.meta.stats.entries), (150, 50));
    assert!(
        db.cut_block(300, source("b3")).unwrap().is_some(),
        "not shipped yet: cut again"
    );
    db.set_shipped_until(300).unwrap();
    assert!(db.cut_block(300, source("b4")).unwrap().is_none());
}

#[test]
fn label_names_values_series_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.append(&two_streams()).unwrap();
    let api = [m(MatchOp::Equal, "app", "api")];
    assert_eq!(db.label_names(0, 100, &[]), ["app", "env"]);
    assert_eq!(
        db.label_names(16, 100, &[m(MatchOp::Equal, "app", "web")]),
        Vec::<String>::new()
    );
    assert_eq!(db.label_values("app", 0, 100, &[]), ["api", "web"]);
    assert_eq!(db.label_values("app", 16, 100, &[]), ["api"]);
    assert_eq!(db.label_values("env", 0, 100, &api), ["prod"]);
    assert_eq!(
        db.series(&[], 0, 100),
        vec![
            labels(&[("app", "api"), ("env", "prod")]),
            labels(&[("app", "web")])
        ]
    );
    let cases: [(&[Matcher], i64, i64, LogsStats); 3] = [
        (
            &[],
            0,
            100,
            LogsStats {
                streams: 2,
                chunks: 2,
                entries: 4,
                bytes: 23,
            },
        ),
        (
            &api,
            0,
            25,
            LogsStats {
                streams: 1,
                chunks: 1,
                entries: 2,
                bytes: 12,
            },
        ),
        (&api, 31, 100, LogsStats::default()),
    ];
    for (matchers, start, end, want) in cases {
        assert_eq!(
            db.stats(matchers, start, end).unwrap(),
            want,
            "{matchers:?} [{start}, {end})"
        );
    }
    assert_eq!(db.time_range(), Some((10, 30)));
}

#[test]
fn concurrent_appends_replay_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), |c| {
        c.chunk_block_bytes = 256;
        c.wal_segment_size = 4096;
    });
    std::thread::scope(|scope| {
        for t in 0..4i64 {
            let db = &db;
            scope.spawn(move || {
                for i in 0..50i64 {
                    let shared = labels(&[("app", "shared")]);
                    let own = labels(&[("app", "own"), ("t", &t.to_string())]);
                    let line = format!("t{t} i{i}");
                    let b = batch(&[
                        (shared, vec![entry(i * 10 + t, &line, &[("t", "x")])]),
                        (own, vec![entry(i, &line, &[])]),
                    ]);
                    let report = db.append(&b).unwrap();
                    assert_eq!(report.entries_written, 2);
                }
            });
        }
    });
    let before = all(&db);
    assert_eq!(before.len(), 5);
    assert_eq!(before.iter().map(|s| s.entries.len()).sum::<usize>(), 400);
    drop(db);
    let (db, stats) = open_with(dir.path(), |_| {});
    assert_eq!((stats.entries, stats.streams), (400, 5));
    assert_eq!(all(&db), before);
}

/// Log and metric queries whose pipelines start with line filters give the same answers over
/// the database (filters run inside the chunk readers) as over the in-memory reference, with
/// small chunk blocks so that most blocks are skipped or decoded partly.
#[test]
fn line_filter_pushdown_answers_like_the_reference() {
    use crate::logql::eval::{eval_logs, eval_range, Direction, MemLogQueryable};
    use crate::logql::parse::{parse_log_expr, parse_sample_expr};

    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), |c| c.chunk_block_bytes = 256);
    let mut reference = MemLogQueryable::new();
    let levels = ["info", "warn", "error"];
    let mut streams = Vec::new();
    for (i, app) in ["api", "web", "db"].iter().enumerate() {
        let stream_labels = labels(&[("app", app)]);
        let entries: Vec<Entry> = (0..600)
            .map(|n| {
                let line = format!(
                    "level={} app={app} n={n} trace_id={:04x} msg=\"request done\"",
                    levels[(n + i) % 3],
                    n * 7 + i
                );
                entry(1_000 + n as i64 * 1_000_000, &line, &[])
            })
            .collect();
        for e in &entries {
            reference.push(&stream_labels, e.clone());
        }
        streams.push((stream_labels, entries));
    }
    db.append(&batch(&streams)).unwrap();

    let log_queries = [
        r#"{app=~".+"} |= "trace_id=0abc""#,
        r#"{app=~".+"} |= "level=error" != "app=db""#,
        r#"{app="web"} |~ "n=1[0-9]+ " |= "warn""#,
        r#"{app=~".+"} |= "level=warn" | logfmt | n > 500"#,
        r#"{app=~".+"} |= "nowhere""#,
        r#"{app="api"} | logfmt |= "level=info""#,
    ];
    for query in log_queries {
        let expr = parse_log_expr(query).unwrap();
        for direction in [Direction::Forward, Direction::Backward] {
            let got = eval_logs(&db, &expr, 0, i64::MAX, 100, direction).unwrap();
            let want = eval_logs(&reference, &expr, 0, i64::MAX, 100, direction).unwrap();
            assert_eq!(got, want, "{query} {direction:?}");
        }
    }
    let metric_queries = [
        r#"sum by (app) (count_over_time({app=~".+"} |= "level=error" [100ms]))"#,
        r#"sum(bytes_over_time({app=~".+"} != "level=info" [1s]))"#,
    ];
    for query in metric_queries {
        let expr = parse_sample_expr(query).unwrap();
        let got = eval_range(&db, &expr, 0, 700_000_000, 50_000_000).unwrap();
        let want = eval_range(&reference, &expr, 0, 700_000_000, 50_000_000).unwrap();
        assert_eq!(got, want, "{query}");
    }
}
