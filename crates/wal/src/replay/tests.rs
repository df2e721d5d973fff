use super::*;
use crate::checkpoint::{checkpoint_path, WalCheckpointWriter};
use crate::record::RECORD_HEADER_LEN;
use crate::segment::{segment_path, WalWriter};
use crate::testing::{framed, TestType};

/// Writes records `0..n` (payload: the number as u32 LE), `per_segment` to a segment.
fn write_wal(dir: &Path, n: u32, per_segment: u64) {
    let record_len = (RECORD_HEADER_LEN + 4) as u64;
    let mut w = WalWriter::create(dir, 1, per_segment * record_len).unwrap();
    for i in 0..n {
        w.write(&framed(&[(TestType::A, &i.to_le_bytes())]))
            .unwrap();
    }
    w.sync().unwrap();
}

/// Replays `dir`, a payload being u32s; other lengths are undecodable.
fn read_all(dir: &Path) -> (Vec<u32>, WalReplayOutcome) {
    let mut seen = Vec::new();
    let outcome = replay(dir, |_: TestType, payload: &[u8]| {
        if !payload.len().is_multiple_of(4) {
            return Err("not u32s");
        }
        let values = payload.chunks_exact(4);
        seen.extend(values.map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]])));
        Ok(())
    })
    .unwrap();
    (seen, outcome)
}

fn damage(path: &Path, at: usize, byte: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] = byte;
    fs::write(path, bytes).unwrap();
}

#[test]
fn empty_directory_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "x").unwrap();
    assert_eq!(read_all(dir.path()).1, WalReplayOutcome::default());
}

#[test]
fn a_bad_record_in_the_last_segment_is_a_torn_tail() {
    // (name, damage to segment 1 holding records 0..10 (13 bytes each), records left)
    type Case = (&'static str, fn(&Path), u32);
    let cases: &[Case] = &[
        ("partial header", |p| truncate(p, 9 * 13 + 4), 9),
        ("partial payload", |p| truncate(p, 9 * 13 + 11), 9),
        ("flipped payload byte", |p| damage(p, 7 * 13 + 10, 0xee), 7),
        ("unknown type", |p| damage(p, 5 * 13, 0xee), 5),
        ("undecodable payload", |p| rewrite_last(p, b"12345"), 9),
    ];
    for (name, damage, left) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_wal(dir.path(), 10, 100);
        let path = segment_path(dir.path(), 1);
        damage(&path);
        let (seen, outcome) = read_all(dir.path());
        assert_eq!(seen, (0..*left).collect::<Vec<_>>(), "{name}");
        assert_eq!(
            (
                outcome.records,
                outcome.corrupt_records,
                outcome.last_segment
            ),
            (u64::from(*left), 1, Some(1)),
            "{name}"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            u64::from(*left) * 13,
            "{name}"
        );
        // what is left replays cleanly
        assert_eq!(read_all(dir.path()).1.corrupt_records, 0, "{name}");
    }
}

fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Replaces the last record (13 bytes) by one with `payload`.
fn rewrite_last(path: &Path, payload: &[u8]) {
    let mut bytes = fs::read(path).unwrap();
    bytes.truncate(bytes.len() - 13);
    bytes.extend_from_slice(&framed(&[(TestType::A, payload)]));
    fs::write(path, bytes).unwrap();
}

#[test]
fn corruption_in_an_earlier_segment_stops_replay_and_sets_the_rest_aside() {
    let dir = tempfile::tempdir().unwrap();
    write_wal(dir.path(), 10, 2);
    assert_eq!(list_segments(dir.path()).unwrap().len(), 5);
    // the type byte of the second record of segment 3 (records 4 and 5)
    damage(&segment_path(dir.path(), 3), 13, 0xee);
    let (seen, outcome) = read_all(dir.path());
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    assert_eq!(outcome.corrupt_records, 1);
    assert_eq!(outcome.last_segment, Some(3));
    assert_eq!(list_segments(dir.path()).unwrap().len(), 3);
    for name in ["00000003.corrupt", "00000004.corrupt", "00000005.corrupt"] {
        assert!(dir.path().join(name).exists(), "{name}");
    }
    let corrupt = fs::metadata(dir.path().join("00000003.corrupt")).unwrap();
    assert_eq!(corrupt.len(), 26);
    assert_eq!(fs::metadata(segment_path(dir.path(), 3)).unwrap().len(), 13);
    let (again, outcome) = read_all(dir.path());
    assert_eq!((again, outcome.corrupt_records), (seen, 0));
}

/// Writes checkpoint `last` holding `values` (in one record).
fn write_checkpoint(dir: &Path, last: u32, values: &[u32], min_time: i64) -> u64 {
    let mut cp = WalCheckpointWriter::<TestType>::create(dir, last).unwrap();
    for v in values {
        cp.payload(TestType::A)
            .unwrap()
            .extend_from_slice(&v.to_le_bytes());
    }
    cp.finish(min_time).unwrap()
}

#[test]
fn checkpoint_then_later_segments_are_replayed() {
    let dir = tempfile::tempdir().unwrap();
    write_wal(dir.path(), 10, 2);
    // checkpoint 3 replaces segments 1..=3 (records 0..6); it keeps 4 and 5, in one record
    let mut seen = Vec::new();
    let mut cp = WalCheckpointWriter::<TestType>::create(dir.path(), 3).unwrap();
    cp.payload(TestType::B).unwrap().extend_from_slice(b"meta");
    for v in [4u32, 5] {
        cp.payload(TestType::A)
            .unwrap()
            .extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(cp.finish(-7).unwrap(), 2 * RECORD_HEADER_LEN as u64 + 4 + 8);
    let outcome = replay(dir.path(), |kind: TestType, payload: &[u8]| {
        seen.push((kind, payload.to_vec()));
        Ok::<_, &str>(())
    })
    .unwrap();
    let four_and_five = [4u32.to_le_bytes(), 5u32.to_le_bytes()].concat();
    assert_eq!(seen[0], (TestType::B, b"meta".to_vec()));
    assert_eq!(seen[1], (TestType::A, four_and_five));
    assert_eq!(seen.len(), 2 + 4, "{seen:?}");
    assert_eq!(outcome.checkpoint, Some(3));
    assert_eq!(outcome.checkpoint_min_time, Some(-7));
    assert_eq!(outcome.last_segment, Some(5));
    // the replaced segments were removed on replay
    let left: Vec<u32> = list_segments(dir.path())
        .unwrap()
        .iter()
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(left, [4, 5]);
}

#[test]
fn newer_checkpoints_replace_older_ones_and_leftovers_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    write_wal(dir.path(), 10, 2);
    assert!(write_checkpoint(dir.path(), 2, &[2, 3], 1) > 0);
    remove_replaced(dir.path(), 2).unwrap();
    write_checkpoint(dir.path(), 4, &[6, 7], 2);
    // an interrupted checkpoint, and the segments <= 4 not yet removed
    fs::create_dir(dir.path().join("checkpoint.00000005.tmp")).unwrap();
    let (seen, outcome) = read_all(dir.path());
    assert_eq!(seen, [6, 7, 8, 9]);
    assert_eq!(
        (outcome.checkpoint, outcome.checkpoint_min_time),
        (Some(4), Some(2))
    );
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["00000005", "checkpoint.00000004"]);
    assert!(checkpoint_path(dir.path(), 4).join("00000000").exists());
}

#[test]
fn a_bad_record_in_a_checkpoint_skips_the_rest_of_it_only() {
    let dir = tempfile::tempdir().unwrap();
    write_wal(dir.path(), 6, 2);
    let mut cp = WalCheckpointWriter::<TestType>::create(dir.path(), 2).unwrap();
    for v in [2u32, 3] {
        cp.payload(TestType::A)
            .unwrap()
            .extend_from_slice(&v.to_le_bytes());
        // a type switch frames a record per value
        cp.payload(TestType::B).unwrap();
    }
    cp.finish(0).unwrap();
    let segment = checkpoint_path(dir.path(), 2).join("00000000");
    damage(&segment, RECORD_HEADER_LEN + 4 + RECORD_HEADER_LEN, 0xee);
    let (seen, outcome) = read_all(dir.path());
    assert_eq!(seen, [2, 4, 5]);
    assert_eq!(outcome.corrupt_records, 1);
}
