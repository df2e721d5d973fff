use super::*;
use proptest::prelude::*;

fn encode(samples: &[(i64, u64)]) -> XorAppender {
    let mut app = XorAppender::new();
    for (t, v) in samples {
        assert!(app.append(*t, f64::from_bits(*v)));
    }
    app
}

fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
    XorIterator::new(bytes)
        .map(|(t, v)| (t, v.to_bits()))
        .collect()
}

/// Prometheus' staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

#[test]
fn table_round_trips() {
    let cases: Vec<(&str, Vec<(i64, u64)>)> = vec![
        ("empty", vec![]),
        ("one", vec![(1_700_000_000_000, 1.5f64.to_bits())]),
        (
            "regular counter",
            (0..120)
                .map(|i| (1000 + i * 15_000, (i as f64 * 3.0).to_bits()))
                .collect(),
        ),
        (
            "every dod bucket",
            vec![
                (0, 0),
                (10, 1),
                (20, 2),           // dod 0
                (8_222, 3),        // dod 8192: the 14-bit bucket's upper edge
                (16_425, 4),       // dod -8189: just inside 14 bits
                (100_000, 5),      // 17 bits
                (700_000, 6),      // 20 bits
                (i64::MAX / 2, 7), // 64 bits
                (i64::MAX, 8),
            ],
        ),
        (
            "nan payloads and stale markers",
            vec![
                (1, STALE_NAN),
                (2, f64::NAN.to_bits()),
                (3, 0xfff8_0000_0000_0001),
                (4, STALE_NAN),
                (5, (-0.0f64).to_bits()),
                (6, 0.0f64.to_bits()),
                (7, u64::MAX),
            ],
        ),
        (
            "negative times",
            vec![(-5_000, 1), (-10, 2), (0, 3), (i64::MIN + 1, 4)],
        ),
    ];
    for (name, samples) in cases {
        let app = encode(&samples);
        assert_eq!(app.num_samples(), samples.len(), "{name}");
        assert_eq!(decode(app.bytes()), samples, "{name}: open");
        let chunk = app.finish();
        assert_eq!(decode(chunk.bytes()), samples, "{name}: closed");
        assert_eq!(chunk.num_samples(), samples.len(), "{name}");
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            assert_eq!(
                (chunk.min_time(), chunk.max_time()),
                (first.0, last.0),
                "{name}"
            );
        }
        assert_eq!(
            XorChunk::from_bytes(chunk.bytes().to_vec()),
            Ok(chunk),
            "{name}"
        );
    }
}

#[test]
fn regular_data_compresses_like_gorilla() {
    let samples: Vec<(i64, u64)> = (0..120)
        .map(|i| (i * 15_000, ((i / 4) as f64).to_bits()))
        .collect();
    let chunk = encode(&samples).finish();
    assert!(
        chunk.bytes().len() < 120 * 2,
        "{} bytes",
        chunk.bytes().len()
    );
}

#[test]
fn errors_are_reported() {
    assert_eq!(
        XorChunk::from_bytes(vec![1]),
        Err(ChunkError::MissingHeader(HEADER_LEN))
    );
    // header claims 3 samples, body holds one
    let mut bytes = encode(&[(1, 2)]).bytes().to_vec();
    bytes[1] = 3;
    assert_eq!(XorChunk::from_bytes(bytes), Err(ChunkError::Truncated(1)));
    // reuse of the previous XOR window before any window was set
    let bytes = vec![0, 2, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0b1000_0000];
    assert_eq!(
        XorChunk::from_bytes(bytes),
        Err(ChunkError::InvalidValue(1))
    );
}

fn increasing_samples() -> impl Strategy<Value = Vec<(i64, u64)>> {
    (
        any::<i64>(),
        proptest::collection::vec((1u64..u64::MAX / 256, any::<u64>()), 0..300),
    )
        .prop_map(|(start, steps)| {
            let mut t = start / 2;
            let mut out = Vec::new();
            for (step, v) in steps {
                // arbitrary step sizes, small ones more often
                let step = match step % 4 {
                    0 => step % 100 + 1,
                    1 => step % 100_000 + 1,
                    _ => step,
                };
                match t.checked_add(step as i64) {
                    Some(next) => t = next,
                    None => break,
                }
                out.push((t, v));
            }
            out
        })
}

proptest! {
    #[test]
    fn increasing_samples_round_trip(samples in increasing_samples()) {
        let app = encode(&samples);
        prop_assert_eq!(decode(app.bytes()), samples.clone());
        prop_assert_eq!(decode(app.finish().bytes()), samples);
    }

    #[test]
    fn corrupt_chunks_never_panic(
        samples in increasing_samples(),
        cut in any::<usize>(),
        flips in proptest::collection::vec((any::<usize>(), 0u8..8), 0..4),
    ) {
        let mut bytes = encode(&samples).bytes().to_vec();
        bytes.truncate(cut % (bytes.len() + 1));
        for (at, bit) in flips {
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] ^= 1 << bit;
            }
        }
        let mut iter = XorIterator::new(&bytes);
        let n = iter.by_ref().count();
        prop_assert!(n <= usize::from(u16::MAX));
        let _ = XorChunk::from_bytes(bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = XorIterator::new(&bytes).count();
    }
}
