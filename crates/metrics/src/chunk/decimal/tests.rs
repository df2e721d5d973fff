use super::*;
use crate::chunk::{FloatChunk, XorAppender};
use proptest::prelude::*;

/// Prometheus' staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// (timestamp, value bits) pairs.
type Samples = Vec<(i64, u64)>;
type FloatSamples = Vec<(i64, f64)>;

fn round_trip(samples: &[(i64, u64)]) -> DecimalChunk {
    let floats: Vec<(i64, f64)> = samples
        .iter()
        .map(|&(t, v)| (t, f64::from_bits(v)))
        .collect();
    let chunk = encode(&floats).expect("1..=u16::MAX samples encode");
    let back = DecimalChunk::from_bytes(chunk.bytes().to_vec()).unwrap();
    assert_eq!(back, chunk);
    let mut iter = back.iter();
    let decoded: Vec<(i64, u64)> = iter.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
    assert_eq!(iter.error(), None);
    assert_eq!(decoded, samples);
    assert_eq!(back.num_samples(), samples.len());
    assert_eq!(back.min_time(), samples[0].0);
    assert_eq!(back.max_time(), samples[samples.len() - 1].0);
    chunk
}

fn regular(values: impl IntoIterator<Item = f64>) -> Vec<(i64, u64)> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (1_735_682_400_006 + i as i64 * 15_000, v.to_bits()))
        .collect()
}

#[test]
fn table_round_trips_and_sizes() {
    let mut counter = 5_000.0;
    let float_counter: Vec<f64> = (0..480)
        .map(|i| {
            counter += [0.75, 0.81, 0.69, 0.77][i % 4];
            counter
        })
        .collect();
    // (name, samples, at most this many bytes)
    let cases: Vec<(&str, Samples, usize)> = vec![
        ("one sample", regular([1.5]), 20),
        ("constant", regular(vec![1.0; 480]), 24),
        ("float counter", regular(float_counter), 480 * 7 / 8),
        (
            "pages",
            regular((0..480).map(|i| 4096.0 * (7 + i % 3) as f64)),
            480 * 3 / 8 + 24,
        ),
        (
            "specials",
            vec![
                (1, STALE_NAN),
                (2, f64::NAN.to_bits()),
                (3, 0xfff8_0000_0000_0001),
                (4, (-0.0f64).to_bits()),
                (5, 0.0f64.to_bits()),
                (6, f64::INFINITY.to_bits()),
                (7, f64::NEG_INFINITY.to_bits()),
                (8, 1), // smallest subnormal
                (9, f64::MAX.to_bits()),
                (10, u64::MAX),
                (11, 1e300f64.to_bits()),
            ],
            200,
        ),
        (
            "irregular times",
            vec![
                (-5_000, 1),
                (-10, 2),
                (0, 3),
                (i64::MIN + 1, 4),
                (i64::MAX, 5),
                (0, 6),
            ],
            200,
        ),
    ];
    for (name, samples, max_len) in cases {
        let len = round_trip(&samples).bytes().len();
        assert!(len <= max_len, "{name}: {len} bytes > {max_len}");
    }
}

#[test]
fn float_chunk_picks_the_smaller_encoding() {
    let random_bits: Vec<(i64, f64)> = (0..100)
        .map(|i: u64| {
            (
                i as i64,
                f64::from_bits(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            )
        })
        .collect();
    let cases: Vec<(&str, FloatSamples, ChunkEncodingWant)> = vec![
        ("empty", vec![], ChunkEncodingWant::Xor),
        ("one sample", vec![(1, 2.5)], ChunkEncodingWant::Xor),
        ("random bits", random_bits, ChunkEncodingWant::Xor),
        (
            "decimal gauge",
            (0..120)
                .map(|i| (i * 15_000, (i % 17) as f64 / 10.0))
                .collect(),
            ChunkEncodingWant::Decimal,
        ),
    ];
    for (name, samples, want) in cases {
        let chunk = FloatChunk::encode(&samples).unwrap();
        let is_decimal = matches!(chunk, FloatChunk::Decimal(_));
        assert_eq!(is_decimal, want == ChunkEncodingWant::Decimal, "{name}");
        let mut xor = XorAppender::new();
        samples.iter().for_each(|&(t, v)| assert!(xor.append(t, v)));
        assert!(chunk.bytes().len() <= xor.bytes().len(), "{name}");
        let back = FloatChunk::from_bytes(chunk.encoding(), chunk.bytes().to_vec()).unwrap();
        let bits = |c: &FloatChunk| c.iter().map(|(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&chunk), "{name}");
        let want: Vec<_> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(bits(&back), want, "{name}");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ChunkEncodingWant {
    Xor,
    Decimal,
}

#[test]
fn too_many_or_no_samples_do_not_encode() {
    assert!(encode(&[]).is_none());
    let many = vec![(0, 0.0); usize::from(u16::MAX) + 1];
    assert!(encode(&many).is_none());
    assert!(FloatChunk::encode(&many).is_none());
    assert_eq!(
        encode(&many[1..]).unwrap().num_samples(),
        usize::from(u16::MAX)
    );
}

#[test]
fn truncated_chunks_stop_with_an_error() {
    let samples = regular((0..200).map(|i| (i * 7 % 13) as f64 * 0.25 + 1e-9 * i as f64));
    let chunk = round_trip(&samples);
    let bytes = chunk.bytes();
    for len in 0..bytes.len() {
        let mut iter = DecimalIterator::new(&bytes[..len]);
        let n = iter.by_ref().count();
        assert!(n < samples.len(), "{len} bytes decoded everything");
        assert!(iter.error().is_some(), "{len} bytes: no error");
        if len < 2 {
            assert!(DecimalChunk::from_bytes(bytes[..len].to_vec()).is_err());
        }
    }
}

/// Any f64 bit pattern, with the special values over-represented.
fn value_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(STALE_NAN),
        Just(f64::NAN.to_bits()),
        Just((-0.0f64).to_bits()),
        Just(f64::INFINITY.to_bits()),
        Just(f64::NEG_INFINITY.to_bits()),
        (1u64..1 << 52), // subnormals
        (0i64..1_000_000).prop_map(|m| (m as f64 / 100.0).to_bits()),
        (-1_000i64..1_000).prop_map(|m| (m as f64 * 4096.0).to_bits()),
    ]
}

/// Increasing timestamps: mostly regular, sometimes jittered or with huge gaps.
fn timestamps(n: usize) -> impl Strategy<Value = Vec<i64>> {
    let gap = prop_oneof![
        4 => Just(15_000i64),
        2 => 14_000i64..16_000,
        1 => 1i64..1 << 40,
    ];
    (any::<i32>(), proptest::collection::vec(gap, n)).prop_map(|(start, gaps)| {
        gaps.iter()
            .scan(i64::from(start), |t, g| {
                *t = t.saturating_add(*g);
                Some(*t)
            })
            .collect()
    })
}

fn samples() -> impl Strategy<Value = Vec<(i64, u64)>> {
    (1usize..300).prop_flat_map(|n| {
        (timestamps(n), proptest::collection::vec(value_bits(), n))
            .prop_map(|(ts, vs)| ts.into_iter().zip(vs).collect())
    })
}

/// Series that look like metrics: accumulating decimal increments, sometimes a special value.
fn metric_like() -> impl Strategy<Value = Vec<(i64, u64)>> {
    (1usize..500, 0u32..4, 0.0f64..1e6, any::<u64>()).prop_map(|(n, decimals, start, seed)| {
        let scale = 10f64.powi(decimals as i32);
        let mut v = (start * scale).round() / scale;
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v += (x % 1000) as f64 / scale;
                let bits = if x % 97 == 0 { STALE_NAN } else { v.to_bits() };
                (i as i64 * 15_000, bits)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn arbitrary_samples_round_trip(samples in samples()) {
        round_trip(&samples);
    }

    #[test]
    fn metric_like_samples_round_trip(samples in metric_like()) {
        round_trip(&samples);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut iter = DecimalIterator::new(&bytes);
        let n = iter.by_ref().take(70_000).count();
        prop_assert!(n <= usize::from(u16::MAX));
        let _ = DecimalChunk::from_bytes(bytes);
    }

    #[test]
    fn corrupted_chunks_never_panic(samples in samples(), flip in any::<(usize, u8)>()) {
        let floats: Vec<(i64, f64)> =
            samples.iter().map(|&(t, v)| (t, f64::from_bits(v))).collect();
        let mut bytes = encode(&floats).unwrap().bytes().to_vec();
        let i = flip.0 % bytes.len();
        bytes[i] ^= flip.1 | 1;
        let _ = DecimalIterator::new(&bytes).count();
    }
}

proptest! {
    #[test]
    fn arbitrary_timestamps_round_trip(
        samples in proptest::collection::vec((any::<i64>(), value_bits()), 1..100)
    ) {
        round_trip(&samples);
    }
}
