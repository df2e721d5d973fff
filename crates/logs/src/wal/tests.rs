use std::fs::OpenOptions;

use sextant_model::Labels;
use sextant_wal::{WalReplayOutcome as ReplayOutcome, RECORD_HEADER_LEN};

use super::*;

fn entry(ts_ns: i64) -> Entry {
    Entry {
        ts_ns,
        line: format!("l{ts_ns:03}"),
        metadata: Labels::default(),
    }
}

/// Writes one stream record and `n` entry records (one entry each) for stream 1.
fn write_wal(dir: &Path, segment_size: u64, n: i64) -> WalWriter {
    let mut w = WalWriter::create(dir, 1, segment_size).unwrap();
    let mut batch = WalBatch::default();
    batch.add_stream(1, &Labels::from_pairs([("app", "a")]));
    w.write(batch.finish().unwrap()).unwrap();
    for ts in 0..n {
        batch.clear();
        batch.add_entries(1, [entry(ts)].iter());
        w.write(batch.finish().unwrap()).unwrap();
    }
    w
}

fn read_all(dir: &Path) -> (Vec<Record>, ReplayOutcome) {
    let mut records = Vec::new();
    let outcome = replay(dir, |r| records.push(r)).unwrap();
    (records, outcome)
}

fn entry_times(records: &[Record]) -> Vec<i64> {
    records
        .iter()
        .flat_map(|r| match r {
            Record::Entries(e) => e
                .iter()
                .flat_map(|(_, e)| e.iter().map(|e| e.ts_ns))
                .collect(),
            Record::Streams(_) => vec![],
        })
        .collect()
}

/// Length of a framed single-entry record: id, count, ts, line, metadata count.
const ENTRY_RECORD: u64 = RECORD_HEADER_LEN as u64 + 8 + 4 + 8 + 4 + 4 + 4;

#[test]
fn rolls_segments_and_replays_them_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_wal(dir.path(), 3 * ENTRY_RECORD, 50);
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() > 15, "{} segments", segments.len());
    assert_eq!(w.segment(), segments.last().unwrap().0);
    let (records, outcome) = read_all(dir.path());
    assert_eq!(outcome.records, 51);
    assert_eq!(entry_times(&records), (0..50).collect::<Vec<_>>());
    assert!(matches!(&records[0], Record::Streams(s) if s[0].0 == 1));
}

#[test]
fn torn_tail_is_truncated() {
    let cases: &[(&str, u64)] = &[
        ("partial header", 4),
        ("partial payload", RECORD_HEADER_LEN as u64 + 3),
    ];
    for (name, keep_of_last) in cases {
        let dir = tempfile::tempdir().unwrap();
        drop(write_wal(dir.path(), 1 << 20, 10));
        let path = segment_path(dir.path(), 1);
        let full = std::fs::metadata(&path).unwrap().len();
        let cut = full - ENTRY_RECORD + keep_of_last;
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (records, outcome) = read_all(dir.path());
        assert_eq!(entry_times(&records), (0..9).collect::<Vec<_>>(), "{name}");
        assert_eq!(outcome.corrupt_records, 1, "{name}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full - ENTRY_RECORD,
            "{name}"
        );
        assert_eq!(read_all(dir.path()).1.corrupt_records, 0, "{name}");
    }
}

#[test]
fn flipped_bit_in_last_segment_drops_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_wal(dir.path(), 1 << 20, 10));
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 3 * ENTRY_RECORD as usize + RECORD_HEADER_LEN + 12;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (records, outcome) = read_all(dir.path());
    assert_eq!(entry_times(&records), (0..7).collect::<Vec<_>>());
    assert_eq!(outcome.corrupt_records, 1);
}

#[test]
fn checkpoint_replaces_segments() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_wal(dir.path(), 3 * ENTRY_RECORD, 20);
    let last = w.segment();
    drop(w);
    let mut cp = CheckpointWriter::create(dir.path(), last - 1).unwrap();
    cp.add_stream(1, &Labels::from_pairs([("app", "a")]))
        .unwrap();
    let kept: Vec<Entry> = (15..18).map(entry).collect();
    cp.add_entries(1, &kept).unwrap();
    assert!(cp.finish(15).unwrap() > 0);
    remove_replaced(dir.path(), last - 1).unwrap();
    let (records, outcome) = read_all(dir.path());
    assert_eq!(outcome.checkpoint, Some(last - 1));
    assert_eq!(outcome.checkpoint_min_time, Some(15));
    let times = entry_times(&records);
    // the checkpoint's entries, then the last segment's
    assert_eq!(&times[..3], &[15, 16, 17]);
    assert_eq!(times.last(), Some(&19), "{times:?}");
    assert_eq!(list_segments(dir.path()).unwrap().len(), 1);
}
