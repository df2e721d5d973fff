use super::*;
use crate::testing::{framed, TestType};

fn indexes(dir: &Path) -> Vec<u32> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn segments_are_listed_in_order_and_other_files_ignored() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "00000010",
        "00000002",
        "00000002.corrupt",
        "checkpoint.00000001",
        "123",
        "0000000x",
        "notes",
    ] {
        fs::write(dir.path().join(name), b"").unwrap();
    }
    assert_eq!(indexes(dir.path()), [2, 10]);
    assert_eq!(segment_path(dir.path(), 7), dir.path().join("00000007"));
}

#[test]
fn writer_rolls_when_records_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let record = framed(&[(TestType::A, &[7; 21])]); // 30 bytes
    let mut w = WalWriter::create(dir.path(), 1, 64).unwrap();
    // (records written, segment written to, bytes in it after)
    let cases: &[(usize, u32, u64)] = &[(1, 1, 30), (1, 1, 60), (1, 2, 30), (3, 3, 90), (0, 3, 90)];
    for (i, (n, segment, bytes)) in cases.iter().enumerate() {
        assert_eq!(w.write(&record.repeat(*n)).unwrap(), *segment, "write {i}");
        assert_eq!(
            (w.segment(), w.segment_bytes()),
            (*segment, *bytes),
            "write {i}"
        );
    }
    w.sync().unwrap();
    assert_eq!(indexes(dir.path()), [1, 2, 3]);
    let sizes: Vec<u64> = list_segments(dir.path())
        .unwrap()
        .iter()
        .map(|(_, p)| fs::metadata(p).unwrap().len())
        .collect();
    assert_eq!(sizes, [60, 30, 90]);
}

#[test]
fn opening_a_segment_appends_after_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let record = framed(&[(TestType::A, b"abc")]);
    WalWriter::open(dir.path(), 4, 1 << 20)
        .unwrap()
        .write(&record)
        .unwrap();
    let mut w = WalWriter::open(dir.path(), 4, 1 << 20).unwrap();
    assert_eq!(w.segment_bytes(), record.len() as u64);
    w.write(&record).unwrap();
    assert_eq!(
        fs::read(segment_path(dir.path(), 4)).unwrap(),
        record.repeat(2)
    );
}

#[test]
fn segments_are_deleted_by_range() {
    // (range, deleted, left)
    type Case = (&'static str, fn(&Path) -> usize, usize, &'static [u32]);
    let cases: &[Case] = &[
        ("before 3", |d| delete_segments(d, ..3).unwrap(), 2, &[3, 4]),
        ("up to 3", |d| delete_segments(d, ..=3).unwrap(), 3, &[4]),
        (
            "none",
            |d| delete_segments(d, ..1).unwrap(),
            0,
            &[1, 2, 3, 4],
        ),
        ("all", |d| delete_segments(d, ..).unwrap(), 4, &[]),
    ];
    for (name, delete, deleted, left) in cases {
        let dir = tempfile::tempdir().unwrap();
        for i in 1..=4 {
            fs::write(segment_path(dir.path(), i), b"").unwrap();
        }
        assert_eq!(delete(dir.path()), *deleted, "{name}");
        assert_eq!(indexes(dir.path()), *left, "{name}");
    }
}
