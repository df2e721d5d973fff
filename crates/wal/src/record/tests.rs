use proptest::prelude::*;

use super::*;
use crate::testing::{framed, TestType};

/// Reads every record of `buf`, `reject` making a payload undecodable.
fn decode_with(buf: &[u8], reject: fn(&[u8]) -> bool) -> (Vec<(TestType, Vec<u8>)>, RecordsEnd) {
    let mut out = Vec::new();
    let mut count = 0;
    let mut apply = |kind, payload: &[u8]| {
        if reject(payload) {
            return Err("undecodable");
        }
        out.push((kind, payload.to_vec()));
        Ok(())
    };
    // with the length right, reading a slice never fails: bad bytes end the records
    let end = read_records(buf, buf.len() as u64, &mut count, &mut apply).unwrap();
    assert_eq!(count, out.len() as u64);
    (out, end)
}

fn decode_all(buf: &[u8]) -> (Vec<(TestType, Vec<u8>)>, RecordsEnd) {
    decode_with(buf, |_| false)
}

fn bad(offset: u64, reason: &str) -> RecordsEnd {
    RecordsEnd::Bad {
        offset,
        reason: reason.to_owned(),
    }
}

#[test]
fn the_framing_on_disk_is_type_length_crc_payload() {
    // the format every engine's WAL on disk is in: it must not change
    let cases: &[(TestType, &[u8], &[u8])] = &[
        (
            TestType::A,
            b"abc",
            &[1, 3, 0, 0, 0, 0xc2, 0x41, 0x24, 0x35, b'a', b'b', b'c'],
        ),
        (TestType::B, b"", &[2, 0, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for (kind, payload, want) in cases {
        assert_eq!(framed(&[(*kind, payload)]), *want, "{payload:?}");
    }
}

#[test]
fn records_round_trip_and_damage_is_detected() {
    let good = framed(&[
        (TestType::A, b"abc"),
        (TestType::B, b"wxyz"),
        (TestType::A, b""),
    ]);
    let damaged = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    let second = RECORD_HEADER_LEN + 3;
    let third = second + RECORD_HEADER_LEN + 4;
    // (name, buffer, records read, how reading ends)
    let cases: Vec<(&str, Vec<u8>, usize, RecordsEnd)> = vec![
        ("whole", good.clone(), 3, RecordsEnd::Clean),
        ("empty", Vec::new(), 0, RecordsEnd::Clean),
        (
            "torn header",
            good[..good.len() - 4].to_vec(),
            2,
            bad(third as u64, "partial record header"),
        ),
        (
            "torn payload",
            good[..second + RECORD_HEADER_LEN + 2].to_vec(),
            1,
            bad(second as u64, "partial record payload"),
        ),
        (
            "flipped payload byte",
            damaged(RECORD_HEADER_LEN + 1, b"B"),
            0,
            bad(0, "checksum mismatch"),
        ),
        (
            "flipped length byte",
            damaged(1, &[2]),
            0,
            bad(0, "checksum mismatch"),
        ),
        (
            "unknown type",
            damaged(second, &[9]),
            1,
            bad(second as u64, "unknown record type"),
        ),
        (
            "length past the end",
            damaged(second + 1, &u32::MAX.to_le_bytes()),
            1,
            bad(second as u64, "partial record payload"),
        ),
    ];
    for (name, buf, want, end) in &cases {
        let (records, got_end) = decode_all(buf);
        assert_eq!(records.len(), *want, "{name}");
        assert_eq!(got_end, *end, "{name}");
    }
    let (records, _) = decode_all(&good);
    assert_eq!(records[1], (TestType::B, b"wxyz".to_vec()));
    // a payload the engine cannot decode is a bad record as well
    let (records, end) = decode_with(&good, |p| p == b"wxyz");
    assert_eq!((records.len(), end), (1, bad(second as u64, "undecodable")));
}

fn record_type() -> impl Strategy<Value = TestType> {
    prop_oneof![Just(TestType::A), Just(TestType::B)]
}

proptest! {
    #[test]
    fn reading_never_panics_on_garbage(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (records, end) = decode_all(&buf);
        prop_assert!(records.len() <= buf.len() / RECORD_HEADER_LEN);
        if let RecordsEnd::Bad { offset, .. } = end {
            prop_assert!(offset < buf.len() as u64);
        }
    }

    #[test]
    fn records_round_trip_and_a_flipped_bit_is_detected(
        records in proptest::collection::vec(
            (record_type(), proptest::collection::vec(any::<u8>(), 0..64)), 1..8),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let borrowed: Vec<(TestType, &[u8])> =
            records.iter().map(|(k, p)| (*k, p.as_slice())).collect();
        let mut buf = framed(&borrowed);
        let (decoded, end) = decode_all(&buf);
        prop_assert_eq!(end, RecordsEnd::Clean);
        prop_assert_eq!(&decoded, &records);
        let at = flip.index(buf.len());
        buf[at] ^= 1 << bit;
        let (damaged, end) = decode_all(&buf);
        // reading stops at the damaged record, after the records before it
        let stopped_at_or_before = matches!(end, RecordsEnd::Bad { offset, .. } if offset <= at as u64);
        prop_assert!(stopped_at_or_before, "{:?} for a flip at {}", end, at);
        prop_assert_eq!(&damaged[..], &records[..damaged.len()]);
    }
}
