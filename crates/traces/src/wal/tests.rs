use std::fs::OpenOptions;
use std::io::Write;

use bytes::Bytes;
use proptest::prelude::*;
use sextant_wal::segment_path;

use super::*;

fn id(n: u8) -> TraceId {
    TraceId([n; 16])
}

fn framed(records: &[(TraceId, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, data) in records {
        encode_record(&mut out, id, data).unwrap();
    }
    out
}

/// Decodes every record of a buffer, stopping at the first that is not valid.
fn decode_all(buf: &Bytes) -> (Vec<(TraceId, Bytes)>, Option<RecordRead>) {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        match decode_record(&buf.slice(offset..)) {
            RecordRead::Record { id, data, len } => {
                out.push((id, data));
                offset += len;
            }
            other => return (out, Some(other)),
        }
    }
    (out, None)
}

#[test]
fn records_round_trip_and_damage_is_detected() {
    let good = framed(&[(id(1), b"abc"), (id(2), b""), (id(3), b"defgh")]);
    let flip_payload = {
        let mut b = good.clone();
        b[RECORD_HEADER_LEN + 17] ^= 1;
        b
    };
    let short_len = {
        let mut b = good.clone();
        b[..4].copy_from_slice(&3u32.to_le_bytes());
        b
    };
    // (name, buffer, records decoded, how decoding ends)
    let cases: Vec<(&str, Vec<u8>, usize, Option<RecordRead>)> = vec![
        ("whole", good.clone(), 3, None),
        (
            "torn header",
            good[..good.len() - 24].to_vec(),
            2,
            Some(RecordRead::Incomplete),
        ),
        (
            "torn payload",
            good[..good.len() - 2].to_vec(),
            2,
            Some(RecordRead::Incomplete),
        ),
        (
            "flipped byte",
            flip_payload,
            0,
            Some(RecordRead::Bad("checksum mismatch")),
        ),
        (
            "length below an id",
            short_len,
            0,
            Some(RecordRead::Bad("record shorter than a trace ID")),
        ),
        ("empty", Vec::new(), 0, None),
    ];
    for (name, buf, want, end) in cases {
        let (records, got_end) = decode_all(&Bytes::from(buf));
        assert_eq!(records.len(), want, "{name}");
        assert_eq!(got_end, end, "{name}");
    }
    let (records, _) = decode_all(&Bytes::from(good));
    assert_eq!(records[0], (id(1), Bytes::from_static(b"abc")));
    assert_eq!(records[1], (id(2), Bytes::new()));
    assert_eq!(records[2], (id(3), Bytes::from_static(b"defgh")));
}

proptest! {
    #[test]
    fn decoder_never_panics_on_garbage(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (_, _) = decode_all(&Bytes::from(buf));
    }

    #[test]
    fn decoder_round_trips_and_survives_flipped_bytes(
        records in proptest::collection::vec((any::<[u8; 16]>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..8),
        flip in any::<prop::sample::Index>(),
    ) {
        let records: Vec<(TraceId, Vec<u8>)> = records.into_iter().map(|(i, d)| (TraceId(i), d)).collect();
        let mut buf = Vec::new();
        for (id, data) in &records {
            encode_record(&mut buf, id, data).unwrap();
        }
        let (decoded, end) = decode_all(&Bytes::from(buf.clone()));
        prop_assert_eq!(end, None);
        let decoded: Vec<(TraceId, Vec<u8>)> = decoded.into_iter().map(|(i, d)| (i, d.to_vec())).collect();
        prop_assert_eq!(&decoded, &records);
        let at = flip.index(buf.len());
        buf[at] ^= 0x40;
        let (damaged, _) = decode_all(&Bytes::from(buf));
        // a flipped byte never yields a record that was not written
        for record in &damaged {
            let record = (record.0, record.1.to_vec());
            prop_assert!(records.contains(&record));
        }
    }
}

#[test]
fn writer_rolls_and_replay_truncates_each_bad_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = WalWriter::open(dir.path(), 1, 64).unwrap();
    assert_eq!(w.write(&framed(&[(id(1), &[7; 30])])).unwrap(), 1);
    // does not fit beside the first: rolls to segment 2
    assert_eq!(w.write(&framed(&[(id(2), &[8; 30])])).unwrap(), 2);
    assert_eq!(w.write(&framed(&[(id(3), b"x")])).unwrap(), 3);
    w.sync().unwrap();
    drop(w);
    // corrupt segment 2 in the middle, tear the tail of segment 3
    let two = segment_path(dir.path(), 2);
    let mut bytes = std::fs::read(&two).unwrap();
    bytes[RECORD_HEADER_LEN + 20] ^= 0xff;
    std::fs::write(&two, bytes).unwrap();
    let mut three = OpenOptions::new()
        .append(true)
        .open(segment_path(dir.path(), 3))
        .unwrap();
    three.write_all(&[5, 0, 0]).unwrap();
    let mut seen = Vec::new();
    let outcome = replay(dir.path(), |seg, id, data| seen.push((seg, id, data.len()))).unwrap();
    assert_eq!(seen, vec![(1, id(1), 30), (3, id(3), 1)]);
    assert_eq!(outcome.records, 2);
    assert_eq!(outcome.corrupt_records, 2);
    assert_eq!(outcome.last_segment, Some((3, 25)));
    assert_eq!(std::fs::metadata(&two).unwrap().len(), 0);
    // a second replay finds a clean WAL
    let again = replay(dir.path(), |_, _, _| {}).unwrap();
    assert_eq!((again.records, again.corrupt_records), (2, 0));
    assert_eq!(delete_segments_before(dir.path(), 3).unwrap(), 2);
    let left: Vec<u32> = list_segments(dir.path())
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(left, vec![3]);
}
