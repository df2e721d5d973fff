//! Round trips, matcher selection, corruption and size of the block format.

use proptest::prelude::*;
use sextant_model::{Labels, MatchOp, Matcher};

use super::*;
use crate::chunk::{FloatChunk, XorAppender, XorChunk};

const T0: i64 = 1_700_000_000_000;

fn source() -> BlockSource {
    BlockSource {
        block_id: "01HZXBLOCK".into(),
        tenant: "tenant-a".into(),
        source_ingester: "ingester-0".into(),
        compaction: BlockCompaction {
            level: 1,
            sources: vec!["01HZXBLOCK".into()],
        },
    }
}

fn chunk(samples: &[(i64, f64)]) -> XorChunk {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        assert!(app.append(t, v));
    }
    app.finish()
}

fn samples(c: &XorChunk) -> Vec<(i64, u64)> {
    c.iter().map(|(t, v)| (t, v.to_bits())).collect()
}

fn float_samples(c: &FloatChunk) -> Vec<(i64, u64)> {
    let mut iter = c.iter();
    let out = iter.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
    assert_eq!(iter.error(), None);
    out
}

/// The samples of a series' chunks, in order.
fn all_samples(chunks: &[XorChunk]) -> Vec<(i64, u64)> {
    chunks.iter().flat_map(samples).collect()
}

fn encode(series: &[(Labels, Vec<XorChunk>)]) -> EncodedBlock {
    let mut w = BlockWriter::new();
    for (labels, chunks) in series {
        w.add_series(labels, chunks).unwrap();
    }
    w.finish(source())
}

/// A series' labels and the (timestamp, value bits) of its samples.
type Decoded = (Labels, Vec<(i64, u64)>);

/// Decodes everything back: labels and samples per series, via ranged chunk reads.
fn decode(block: &EncodedBlock) -> Vec<Decoded> {
    let index = BlockIndex::parse(&block.index).unwrap();
    index
        .select(&[])
        .into_iter()
        .map(|r| {
            let (labels, metas) = index.series(r).unwrap();
            let chunks = metas
                .iter()
                .map(|m| {
                    let range = chunk_byte_range(m);
                    let slice = &block.chunks[range.start as usize..range.end as usize];
                    let c = read_chunk(slice, m).unwrap();
                    assert_eq!(read_chunk(&block.chunks, m).unwrap(), c);
                    assert_eq!((c.min_time(), c.max_time()), (m.min_time, m.max_time));
                    assert_eq!(c.encoding(), m.encoding);
                    float_samples(&c)
                })
                .collect::<Vec<_>>()
                .concat();
            (labels, chunks)
        })
        .collect()
}

fn sorted_series(mut series: Vec<(Labels, Vec<XorChunk>)>) -> Vec<(Labels, Vec<XorChunk>)> {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    series.dedup_by(|a, b| a.0 == b.0);
    series
}

#[test]
fn round_trip_hundreds_of_series() {
    let series = sorted_series(
        (0..300)
            .map(|i| {
                let labels = Labels::from_pairs([
                    ("__name__", format!("metric_{}", i % 7)),
                    ("instance", format!("host-{}:9100", i % 40)),
                    ("job", format!("job-{}", i % 3)),
                    ("series", i.to_string()),
                ]);
                let chunks = (0..4)
                    .map(|c| {
                        let start = T0 + c * 1_800_000;
                        let s: Vec<(i64, f64)> = (0..120)
                            .map(|k| (start + k * 15_000 + (k % 3), (i * k) as f64 * 0.5))
                            .collect();
                        chunk(&s)
                    })
                    .collect();
                (labels, chunks)
            })
            .collect(),
    );
    let block = encode(&series);
    let want: Vec<_> = series
        .iter()
        .map(|(l, cs)| (l.clone(), all_samples(cs)))
        .collect();
    assert_eq!(decode(&block), want);
    assert_eq!(block.meta.stats.series, 300);
    assert_eq!(block.meta.stats.chunks, 1200);
    assert_eq!(block.meta.stats.samples, 1200 * 120);
    assert_eq!(block.meta.min_time_ms, T0);
    assert_eq!(
        block.meta.max_time_ms,
        series.iter().map(|(_, c)| c[3].max_time()).max().unwrap()
    );
    assert_eq!(block.meta.tenant, "tenant-a");
    assert_eq!(block.meta.version, BLOCK_FORMAT_VERSION);
    let index = BlockIndex::parse(&block.index).unwrap();
    assert_eq!(
        index.label_names(),
        ["__name__", "instance", "job", "series"]
    );
    assert_eq!(index.label_values("job"), ["job-0", "job-1", "job-2"]);
    assert!(index.label_values("missing").is_empty());
}

#[test]
fn writer_rejects_unsorted_and_empty_series() {
    let a = Labels::from_pairs([("__name__", "a")]);
    let b = Labels::from_pairs([("__name__", "b")]);
    let mut w = BlockWriter::new();
    assert!(matches!(
        w.add_series(&Labels::default(), &[]),
        Err(BlockError::EmptyLabels)
    ));
    w.add_series(&b, &[]).unwrap();
    for labels in [&a, &b] {
        let err = w.add_series(labels, &[]).unwrap_err();
        assert!(matches!(err, BlockError::UnsortedSeries { .. }), "{err}");
        assert_eq!(err.kind(), sextant_model::ErrorKind::Internal);
    }
}

#[test]
fn empty_block_round_trips() {
    let block = BlockWriter::new().finish(source());
    let index = BlockIndex::parse(&block.index).unwrap();
    assert_eq!(index.num_series(), 0);
    assert!(index.select(&[]).is_empty());
    assert_eq!(block.meta.stats, BlockStats::default());
}

fn matcher_fixture() -> BlockIndex {
    let series = [
        vec![("__name__", "up"), ("env", "prod"), ("job", "a")],
        vec![("__name__", "up"), ("job", "b")],
        vec![("__name__", "up"), ("env", "dev"), ("job", "c")],
        vec![("__name__", "down"), ("env", "prod"), ("job", "a")],
    ];
    let series = sorted_series(
        series
            .into_iter()
            .map(|pairs| (Labels::from_pairs(pairs), vec![chunk(&[(T0, 1.0)])]))
            .collect(),
    );
    BlockIndex::parse(&encode(&series).index).unwrap()
}

#[test]
fn matcher_selection_table() {
    let index = matcher_fixture();
    let job_of = |r: SeriesRef| {
        let (labels, _) = index.series(r).unwrap();
        format!(
            "{}/{}",
            labels.metric_name().unwrap(),
            labels.get("job").unwrap()
        )
    };
    use MatchOp::*;
    type Case<'a> = (&'a [(MatchOp, &'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (&[], &["down/a", "up/a", "up/b", "up/c"]),
        (&[(Equal, "__name__", "up")], &["up/a", "up/b", "up/c"]),
        (&[(NotEqual, "env", "prod")], &["up/b", "up/c"]),
        (&[(Equal, "env", "")], &["up/b"]),
        (&[(NotEqual, "env", "")], &["down/a", "up/a", "up/c"]),
        (&[(RegexMatch, "env", "pro.*")], &["down/a", "up/a"]),
        (&[(RegexMatch, "env", "dev|")], &["up/b", "up/c"]),
        (&[(RegexMatch, "env", ".+")], &["down/a", "up/a", "up/c"]),
        (&[(RegexNoMatch, "env", "prod|dev")], &["up/b"]),
        (&[(RegexNoMatch, "job", "a")], &["up/b", "up/c"]),
        (&[(Equal, "missing", "x")], &[]),
        (
            &[(Equal, "missing", "")],
            &["down/a", "up/a", "up/b", "up/c"],
        ),
        (
            &[(Equal, "__name__", "up"), (NotEqual, "env", "prod")],
            &["up/b", "up/c"],
        ),
        (&[(Equal, "__name__", "up"), (Equal, "job", "a")], &["up/a"]),
        (&[(Equal, "__name__", "down"), (Equal, "job", "b")], &[]),
    ];
    for (matchers, want) in cases {
        let matchers: Vec<Matcher> = matchers
            .iter()
            .map(|&(op, n, v)| Matcher::new(op, n, v).unwrap())
            .collect();
        let mut got: Vec<String> = index.select(&matchers).into_iter().map(job_of).collect();
        got.sort();
        assert_eq!(got, *want, "{matchers:?}");
    }
    assert!(index.series(SeriesRef(99)).is_none());
}

fn small_block() -> EncodedBlock {
    let series = sorted_series(
        (0..5)
            .map(|i| {
                let labels = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
                (labels, vec![chunk(&[(T0, 1.0), (T0 + 15_000, i as f64)])])
            })
            .collect(),
    );
    encode(&series)
}

#[test]
fn corrupt_index_is_an_error() {
    let block = small_block();
    for i in 0..block.index.len() {
        let mut bytes = block.index.clone();
        bytes[i] ^= 0x10;
        assert!(BlockIndex::parse(&bytes).is_err(), "flip at {i}");
    }
    for len in 0..block.index.len() {
        assert!(
            BlockIndex::parse(&block.index[..len]).is_err(),
            "truncated to {len}"
        );
    }
    let mut bytes = block.index.clone();
    bytes[4] = 9;
    assert!(matches!(
        BlockIndex::parse(&bytes),
        Err(BlockError::UnknownFormatVersion { version: 9, .. })
    ));
}

#[test]
fn corrupt_chunk_is_an_error() {
    let block = small_block();
    let index = BlockIndex::parse(&block.index).unwrap();
    let (_, metas) = index.series(SeriesRef(2)).unwrap();
    let meta = metas[0];
    for i in chunk_byte_range(&meta) {
        let mut bytes = block.chunks.clone();
        bytes[i as usize] ^= 0x01;
        assert!(read_chunk(&bytes, &meta).is_err(), "flip at {i}");
    }
    let beyond = ChunkMeta {
        offset: block.chunks.len() as u64,
        ..meta
    };
    assert!(read_chunk(&block.chunks, &beyond).is_err());
    let wrong_count = ChunkMeta {
        num_samples: 3,
        ..meta
    };
    assert!(read_chunk(&block.chunks, &wrong_count).is_err());
    let mut bad_version = block.chunks.clone();
    bad_version[4] = 3;
    assert!(matches!(
        read_chunk(&bad_version, &meta),
        Err(BlockError::UnknownFormatVersion { version: 3, .. })
    ));
    let wrong_time = ChunkMeta {
        max_time: meta.max_time + 1,
        ..meta
    };
    assert!(read_chunk(&block.chunks, &wrong_time).is_err());
    let histogram = ChunkMeta {
        encoding: ChunkEncoding::Histogram,
        ..meta
    };
    assert!(read_chunk(&block.chunks, &histogram).is_err());
    assert!(read_histogram_chunk(&block.chunks, &meta).is_err());
}

/// Realistic label sets: the index stays compact (prints bytes per series).
#[test]
fn index_size_per_series() {
    let chunks: Vec<XorChunk> = (0..4)
        .map(|c| {
            let start = T0 + c * 1_800_000;
            chunk(
                &(0..120)
                    .map(|k| (start + k * 15_000, k as f64))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let series = sorted_series(
        (0..10_000)
            .map(|i: usize| {
                let labels = Labels::from_pairs([
                    ("__name__", format!("http_requests_total_{}", i % 50)),
                    ("cluster", format!("prod-eu-{}", i % 3)),
                    ("namespace", format!("team-{}", i % 20)),
                    ("job", format!("kubernetes-pods-{}", i % 5)),
                    ("instance", format!("10.0.{}.{}:9100", i / 256 % 4, i % 256)),
                    ("pod", format!("api-server-7f9c6d{:04x}-x{}", i / 10, i % 7)),
                    ("container", format!("app-{}", i % 4)),
                    ("method", ["GET", "POST", "PUT"][i % 3].to_string()),
                    ("code", ["200", "404", "500", "503"][i / 3 % 4].to_string()),
                ]);
                (labels, chunks.clone())
            })
            .collect(),
    );
    let block = encode(&series);
    let per_series = block.index.len() as f64 / series.len() as f64;
    eprintln!(
        "index: {} series, {} bytes, {per_series:.1} bytes/series (4 chunks each)",
        series.len(),
        block.index.len()
    );
    assert_eq!(
        BlockIndex::parse(&block.index).unwrap().num_series(),
        series.len()
    );
    assert!(per_series <= 130.0, "{per_series} bytes/series");
}

/// Rewrites the CRC so corruption reaches the section parsers.
fn with_valid_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= 4 {
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_be_bytes());
    }
    bytes
}

fn arb_series() -> impl Strategy<Value = Vec<(Labels, Vec<XorChunk>)>> {
    let labels = proptest::collection::btree_map("[a-d]{1,2}", "[x-z]{0,2}", 1..4)
        .prop_map(|m| Labels::from_pairs(m.into_iter().filter(|(_, v)| !v.is_empty())));
    let samples =
        proptest::collection::vec((0i64..100_000, any::<f64>()), 1..20).prop_map(|mut s| {
            s.sort_by_key(|&(t, _)| t);
            s.dedup_by_key(|&mut (t, _)| t);
            chunk(&s)
        });
    let one = (labels, proptest::collection::vec(samples, 0..3));
    proptest::collection::vec(one, 0..12)
        .prop_map(|s| sorted_series(s.into_iter().filter(|(l, _)| !l.is_empty()).collect()))
}

proptest! {
    #[test]
    fn round_trip_random_blocks(series in arb_series(), name in "[a-d]", value in "[x-z]?") {
        let block = encode(&series);
        let want: Vec<_> = series
            .iter()
            .map(|(l, cs)| (l.clone(), all_samples(cs)))
            .collect();
        prop_assert_eq!(decode(&block), want);
        let index = BlockIndex::parse(&block.index).unwrap();
        for op in [MatchOp::Equal, MatchOp::NotEqual, MatchOp::RegexMatch, MatchOp::RegexNoMatch] {
            let m = Matcher::new(op, name.clone(), value.clone()).unwrap();
            let got: Vec<usize> = index.select(std::slice::from_ref(&m)).iter().map(|r| r.0 as usize).collect();
            let brute: Vec<usize> = (0..series.len())
                .filter(|&i| m.matches(series[i].0.get(&name).unwrap_or("")))
                .collect();
            prop_assert_eq!(got, brute, "{}", m);
        }
    }

    #[test]
    fn corrupt_index_never_panics(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = small_block().index;
        for (pos, b) in flips {
            let i = pos % bytes.len();
            bytes[i] = b;
        }
        let _ = BlockIndex::parse(&bytes);
        let _ = BlockIndex::parse(&with_valid_crc(bytes));
    }

    #[test]
    fn random_bytes_are_an_error(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(BlockIndex::parse(&bytes).is_err());
        if bytes.len() > 5 {
            bytes[..5].copy_from_slice(b"SXIX\x01");
        }
        let _ = BlockIndex::parse(&with_valid_crc(bytes));
    }

    #[test]
    fn random_chunk_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), offset in 0u64..80, len in 0u64..80, encoding in 0u8..3) {
        let encoding = ChunkEncoding::from_byte(encoding).unwrap();
        let meta = ChunkMeta { min_time: 0, max_time: 0, num_samples: 1, offset, len, encoding };
        let _ = read_chunk(&bytes, &meta);
        let _ = read_histogram_chunk(&bytes, &meta);
        if bytes.len() > 5 {
            let whole = [&b"SXCK\x02"[..], &bytes[5..]].concat();
            if let Ok(c) = read_chunk(&whole, &meta) {
                let _ = c.iter().count();
            }
        }
    }
}

#[test]
fn toc_first_then_the_body() {
    let block = small_block();
    let len = block.index.len();
    let toc = IndexToc::parse(&block.index[len - INDEX_TOC_LEN..], len as u64).unwrap();
    assert_eq!(toc.body_range(), 0..(len - INDEX_TOC_LEN) as u64);
    let body = &block.index[..toc.toc_offset as usize];
    let index = BlockIndex::parse_sections(&toc, body).unwrap();
    assert_eq!(index, BlockIndex::parse(&block.index).unwrap());
    let mut flipped = body.to_vec();
    flipped[10] ^= 1;
    assert!(matches!(
        BlockIndex::parse_sections(&toc, &flipped),
        Err(BlockError::Checksum { .. })
    ));
    assert!(IndexToc::parse(&block.index[..10], len as u64).is_err());
    assert!(IndexToc::parse(&block.index[len - INDEX_TOC_LEN..], 20).is_err());
}

#[test]
fn histogram_chunks_round_trip_beside_float_chunks() {
    use crate::chunk::HistogramChunk;
    use crate::write::{Histogram, HistogramCount};
    let h = |ts: i64| Histogram {
        timestamp_ms: ts,
        count: HistogramCount::Float(2.0),
        sum: f64::NAN,
        schema: -1,
        zero_threshold: 0.0,
        zero_count: HistogramCount::Float(0.0),
        negative_spans: vec![],
        negative_deltas: vec![],
        negative_counts: vec![],
        positive_spans: vec![],
        positive_deltas: vec![],
        positive_counts: vec![],
        reset_hint: 3,
        custom_values: vec![0.5, 1.0],
    };
    let hc = HistogramChunk::encode(&[h(T0), h(T0 + 1)]).unwrap();
    let mut w = BlockWriter::new();
    let a = Labels::from_pairs([("__name__", "a")]);
    let b = Labels::from_pairs([("__name__", "b")]);
    w.add_series_with_histograms(&a, &[chunk(&[(T0 - 5, 1.0)])], std::slice::from_ref(&hc))
        .unwrap();
    w.add_series_with_histograms(&b, &[], std::slice::from_ref(&hc))
        .unwrap();
    let block = w.finish(source());
    assert_eq!(
        (
            block.meta.stats.samples,
            block.meta.stats.histograms,
            block.meta.stats.chunks
        ),
        (1, 4, 3)
    );
    assert_eq!(
        (block.meta.min_time_ms, block.meta.max_time_ms),
        (T0 - 5, T0 + 1)
    );
    assert_eq!(block.meta.version, BLOCK_FORMAT_VERSION);
    let index = BlockIndex::parse(&block.index).unwrap();
    for r in [SeriesRef(0), SeriesRef(1)] {
        let metas = index.histogram_chunks(r).unwrap();
        let range = chunk_byte_range(&metas[0]);
        let slice = &block.chunks[range.start as usize..range.end as usize];
        assert_eq!(read_histogram_chunk(slice, &metas[0]).unwrap(), hc);
    }
}
