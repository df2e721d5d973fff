use std::fs::OpenOptions;

use sextant_wal::WalReplayOutcome as ReplayOutcome;

use super::*;
use crate::write::LabelRef;

fn labels(v: &str) -> [LabelRef<'_>; 2] {
    [
        LabelRef {
            name: "__name__",
            value: "up",
        },
        LabelRef {
            name: "i",
            value: v,
        },
    ]
}

/// Writes one series record and `n` sample records (one sample each) for series 1.
fn write_wal(dir: &Path, segment_size: u64, n: i64) -> WalWriter {
    let mut w = WalWriter::create(dir, 1, segment_size).unwrap();
    let mut batch = WalBatch::default();
    batch.add_series(1, &labels("a"));
    w.write(batch.finish().unwrap()).unwrap();
    for ts in 0..n {
        batch.clear();
        batch.add_sample(1, ts, ts as f64);
        w.write(batch.finish().unwrap()).unwrap();
    }
    w
}

fn read_all(dir: &Path) -> (Vec<Record>, ReplayOutcome) {
    let mut records = Vec::new();
    let outcome = replay(dir, |r| records.push(r)).unwrap();
    (records, outcome)
}

fn sample_times(records: &[Record]) -> Vec<i64> {
    records
        .iter()
        .flat_map(|r| match r {
            Record::Samples(s) => s.iter().map(|s| s.timestamp_ms).collect(),
            _ => vec![],
        })
        .collect()
}

/// Length of a framed single-sample record.
const SAMPLE_RECORD: u64 = RECORD_HEADER_LEN as u64 + 24;

#[test]
fn round_trip_of_every_record_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(dir.path(), 1, 1 << 20).unwrap();
    let mut batch = WalBatch::default();
    batch.add_series(7, &labels("a"));
    batch.add_sample(7, 10, 1.0);
    batch.add_sample(7, 20, 2.0);
    batch.add_histogram(7, &codec::tests::histogram(10));
    batch.add_exemplar(
        7,
        10,
        1.0,
        &[LabelRef {
            name: "trace_id",
            value: "abc",
        }],
    );
    w.write(batch.finish().unwrap()).unwrap();
    w.sync().unwrap();
    let (records, outcome) = read_all(dir.path());
    assert_eq!(
        outcome,
        ReplayOutcome {
            records: 4,
            corrupt_records: 0,
            last_segment: Some(1),
            ..ReplayOutcome::default()
        }
    );
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match r {
            Record::Series(_) => "series",
            Record::Samples(_) => "samples",
            Record::Histograms(_) => "histograms",
            Record::Exemplars(_) => "exemplars",
        })
        .collect();
    assert_eq!(kinds, ["series", "samples", "histograms", "exemplars"]);
    assert_eq!(sample_times(&records), [10, 20]);
}

#[test]
fn rolls_segments_and_replays_them_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_wal(dir.path(), 3 * SAMPLE_RECORD, 100);
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() > 30, "{} segments", segments.len());
    assert_eq!(w.segment(), segments.last().unwrap().0);
    assert!(segments.iter().all(|(i, p)| p.ends_with(format!("{i:08}"))));
    let (records, outcome) = read_all(dir.path());
    assert_eq!(outcome.records, 101);
    assert_eq!(sample_times(&records), (0..100).collect::<Vec<_>>());
}

#[test]
fn torn_tail_is_truncated_and_writing_resumes() {
    let cases: &[(&str, u64)] = &[
        ("partial header", 4),
        ("partial payload", RECORD_HEADER_LEN as u64 + 3),
    ];
    for (name, keep_of_last) in cases {
        let dir = tempfile::tempdir().unwrap();
        drop(write_wal(dir.path(), 1 << 20, 10));
        let path = segment_path(dir.path(), 1);
        let full = std::fs::metadata(&path).unwrap().len();
        let cut = full - SAMPLE_RECORD + keep_of_last;
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (records, outcome) = read_all(dir.path());
        assert_eq!(sample_times(&records), (0..9).collect::<Vec<_>>(), "{name}");
        assert_eq!(outcome.corrupt_records, 1, "{name}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full - SAMPLE_RECORD,
            "{name}"
        );
        // a second replay is clean
        assert_eq!(read_all(dir.path()).1.corrupt_records, 0, "{name}");
    }
}

#[test]
fn flipped_bit_in_last_segment_drops_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_wal(dir.path(), 1 << 20, 10));
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 3 * SAMPLE_RECORD as usize + RECORD_HEADER_LEN + 12;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (records, outcome) = read_all(dir.path());
    assert_eq!(sample_times(&records), (0..7).collect::<Vec<_>>());
    assert_eq!(outcome.corrupt_records, 1);
}

#[test]
fn corruption_in_an_earlier_segment_stops_replay_and_sets_the_rest_aside() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_wal(dir.path(), 2 * SAMPLE_RECORD, 10));
    let before = list_segments(dir.path()).unwrap();
    assert!(before.len() >= 4);
    // corrupt the type byte of the first record of segment 3
    let path = segment_path(dir.path(), 3);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = 0xee;
    std::fs::write(&path, &bytes).unwrap();
    let (records, outcome) = read_all(dir.path());
    assert_eq!(outcome.corrupt_records, 1);
    assert_eq!(outcome.last_segment, Some(3));
    let times = sample_times(&records);
    assert!(!times.is_empty() && times.len() < 10, "{times:?}");
    assert_eq!(list_segments(dir.path()).unwrap().len(), 3);
    assert!(dir.path().join("00000003.corrupt").exists());
    assert!(dir.path().join("00000004.corrupt").exists());
    // what is left replays cleanly
    let (again, outcome) = read_all(dir.path());
    assert_eq!((sample_times(&again), outcome.corrupt_records), (times, 0));
}

#[test]
fn empty_directory_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    assert_eq!(read_all(dir.path()).1, ReplayOutcome::default());
}
