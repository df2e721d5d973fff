//! Blocks written by earlier versions stay readable, and the writer stores decimal chunks.
//!
//! `testdata/v2` is a block written by the format-2 writer (index version 2, chunks file
//! version 1, XOR float chunks of 120 samples): three series built by [`v2_fixture_series`].

use proptest::prelude::*;
use sextant_model::Labels;

use super::encoding::{put_uvarint, put_varint};
use super::*;
use crate::chunk::{ChunkEncoding, FloatChunk, HistogramChunk, XorAppender, XorChunk};
use crate::write::{Histogram, HistogramCount};

const T0: i64 = 1_700_000_000_000;
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn chunk(samples: &[(i64, f64)]) -> XorChunk {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        assert!(app.append(t, v));
    }
    app.finish()
}

fn bits(samples: impl Iterator<Item = (i64, f64)>) -> Vec<(i64, u64)> {
    samples.map(|(t, v)| (t, v.to_bits())).collect()
}

fn float_bits(c: &FloatChunk) -> Vec<(i64, u64)> {
    let mut iter = c.iter();
    let out = bits(iter.by_ref());
    assert_eq!(iter.error(), None);
    out
}

fn histogram(ts: i64) -> Histogram {
    Histogram {
        timestamp_ms: ts,
        count: HistogramCount::Float(2.0),
        sum: 0.25,
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
    }
}

/// What `testdata/v2` holds: labels, float chunks and histogram chunks per series.
fn v2_fixture_series() -> Vec<(Labels, Vec<XorChunk>, Vec<HistogramChunk>)> {
    let hc = HistogramChunk::encode(&[histogram(T0), histogram(T0 + 15_000)]).unwrap();
    let mut counter = 100.0;
    let requests: Vec<XorChunk> = (0..2)
        .map(|c| {
            let s: Vec<(i64, f64)> = (0..120)
                .map(|k| {
                    counter += [0.25, 0.5, 0.75][k % 3];
                    (T0 + (c * 120 + k as i64) * 15_000, counter)
                })
                .collect();
            chunk(&s)
        })
        .collect();
    let up = chunk(&[
        (T0, 1.0),
        (T0 + 15_000, 1.0),
        (T0 + 30_001, f64::from_bits(STALE_NAN)),
    ]);
    vec![
        (
            Labels::from_pairs([("__name__", "latency")]),
            vec![chunk(&[(T0, 0.5)])],
            vec![hc],
        ),
        (
            Labels::from_pairs([("__name__", "requests_total"), ("code", "200")]),
            requests,
            vec![],
        ),
        (Labels::from_pairs([("__name__", "up")]), vec![up], vec![]),
    ]
}

#[test]
fn version_2_blocks_stay_readable() {
    let meta = BlockMeta::from_json(include_bytes!("testdata/v2/meta.json")).unwrap();
    assert_eq!((meta.version, meta.stats.chunks), (2, 5));
    let index = BlockIndex::parse(include_bytes!("testdata/v2/index")).unwrap();
    let chunks: &[u8] = include_bytes!("testdata/v2/chunks");
    assert_eq!(chunks[4], 1, "chunks file version 1");
    let want = v2_fixture_series();
    assert_eq!(index.num_series(), want.len());
    for (r, (labels, floats, histograms)) in index.select(&[]).into_iter().zip(&want) {
        let (got_labels, metas) = index.series(r).unwrap();
        assert_eq!(&got_labels, labels);
        assert_eq!(metas.len(), floats.len());
        for (m, c) in metas.iter().zip(floats) {
            assert_eq!(m.encoding, ChunkEncoding::Xor);
            let got = read_chunk(chunks, m).unwrap();
            assert_eq!(got, FloatChunk::Xor(c.clone()));
        }
        let metas = index.histogram_chunks(r).unwrap();
        assert_eq!(metas.len(), histograms.len());
        for (m, c) in metas.iter().zip(histograms) {
            assert_eq!(m.encoding, ChunkEncoding::Histogram);
            assert_eq!(&read_histogram_chunk(chunks, m).unwrap(), c);
        }
    }
}

/// A version 1 chunks file holding one XOR chunk, and that chunk's meta.
fn version_1_chunks(c: &XorChunk) -> (Vec<u8>, ChunkMeta) {
    let mut out = b"SXCK\x01".to_vec();
    let offset = out.len() as u64;
    put_uvarint(&mut out, c.bytes().len() as u64);
    out.extend_from_slice(c.bytes());
    out.extend_from_slice(&crc32fast::hash(c.bytes()).to_be_bytes());
    let meta = ChunkMeta {
        min_time: c.min_time(),
        max_time: c.max_time(),
        num_samples: c.num_samples() as u32,
        offset,
        len: out.len() as u64 - offset,
        encoding: ChunkEncoding::Xor,
    };
    (out, meta)
}

/// A version 1 index (no histogram chunk lists) written by hand: one series `up` with one chunk.
fn version_1_index(meta: &ChunkMeta) -> Vec<u8> {
    let mut out = b"SXIX\x01".to_vec();
    let symbols = out.len() as u64;
    put_uvarint(&mut out, 2);
    for s in ["__name__", "up"] {
        put_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    let series = out.len() as u64;
    for v in [1, 1, 0, 1, 1, meta.offset] {
        put_uvarint(&mut out, v);
    }
    put_varint(&mut out, 0);
    for v in [
        (meta.max_time - meta.min_time) as u64,
        u64::from(meta.num_samples),
        meta.len,
    ] {
        put_uvarint(&mut out, v);
    }
    let postings = out.len() as u64;
    for v in [1, 0, 1, 1, 0] {
        put_uvarint(&mut out, v);
    }
    for v in [symbols, series, postings] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&meta.min_time.to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

#[test]
fn version_1_blocks_stay_readable() {
    let points = [(T0, 1.0), (T0 + 15_000, 2.0), (T0 + 30_000, 4.0)];
    let (chunks, meta) = version_1_chunks(&chunk(&points));
    let v1 = BlockIndex::parse(&version_1_index(&meta)).unwrap();
    let (labels, v1_metas) = v1.series(SeriesRef(0)).unwrap();
    assert_eq!(labels, Labels::from_pairs([("__name__", "up")]));
    assert_eq!(v1_metas, [meta]);
    assert_eq!(v1.histogram_chunks(SeriesRef(0)), Some(vec![]));
    let got = float_bits(&read_chunk(&chunks, &v1_metas[0]).unwrap());
    assert_eq!(got, points.map(|(t, v)| (t, f64::to_bits(v))));
}

/// A name, the head chunks given to the writer, the block chunks expected: (samples, encoding).
type MergeCase = (&'static str, Vec<XorChunk>, Vec<(u32, ChunkEncoding)>);

/// Head chunks of a series as the writer gets them: 120 samples each.
fn head_chunks(samples: &[(i64, f64)]) -> Vec<XorChunk> {
    samples.chunks(120).map(chunk).collect()
}

#[test]
fn writer_merges_and_re_encodes_float_chunks() {
    let regular = |n: i64, value: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
        (0..n).map(|k| (T0 + k * 15_000, value(k))).collect()
    };
    let mut stale_end = regular(300, &|k| (k * 7 % 11) as f64 / 4.0);
    stale_end.push((T0 + 300 * 15_000, f64::from_bits(STALE_NAN)));
    let mut overlapping = head_chunks(&regular(240, &|k| k as f64));
    overlapping.push(chunk(&regular(10, &|k| -(k as f64))));
    let cases: Vec<MergeCase> = vec![
        (
            "two hours: one decimal chunk",
            head_chunks(&regular(480, &|k| 1000.0 + (k * k % 13) as f64 * 0.01)),
            vec![(480, ChunkEncoding::Decimal)],
        ),
        (
            "481 samples: two even chunks",
            head_chunks(&regular(481, &|k| (k % 5) as f64)),
            vec![(241, ChunkEncoding::Decimal), (240, ChunkEncoding::Decimal)],
        ),
        (
            "stale marker at the end",
            head_chunks(&stale_end),
            vec![(301, ChunkEncoding::Decimal)],
        ),
        (
            "overlapping head chunks start a new chunk",
            overlapping,
            vec![(240, ChunkEncoding::Decimal), (10, ChunkEncoding::Xor)],
        ),
        (
            "a single sample stays XOR",
            head_chunks(&regular(1, &|_| 0.1)),
            vec![(1, ChunkEncoding::Xor)],
        ),
        ("empty chunks vanish", vec![chunk(&[])], vec![]),
    ];
    for (name, head, want) in cases {
        let labels = Labels::from_pairs([("__name__", "m")]);
        let mut w = BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES);
        w.add_series(&labels, &head).unwrap();
        let block = w.finish(BlockSource::default());
        assert_eq!(block.meta.version, BLOCK_FORMAT_VERSION, "{name}");
        assert_eq!(block.meta.stats.chunks, want.len() as u64, "{name}");
        assert_eq!(block.chunks[4], 2, "{name}: chunks file version 2");
        let index = BlockIndex::parse(&block.index).unwrap();
        let metas = index.series(SeriesRef(0)).map(|s| s.1).unwrap_or_default();
        let got: Vec<(u32, ChunkEncoding)> =
            metas.iter().map(|m| (m.num_samples, m.encoding)).collect();
        assert_eq!(got, want, "{name}");
        let decoded: Vec<(i64, u64)> = metas
            .iter()
            .flat_map(|m| float_bits(&read_chunk(&block.chunks, m).unwrap()))
            .collect();
        let expected: Vec<(i64, u64)> = head.iter().flat_map(|c| bits(c.iter())).collect();
        assert_eq!(decoded, expected, "{name}");
    }
}

#[test]
fn a_plain_writer_keeps_chunk_boundaries() {
    let samples: Vec<(i64, f64)> = (0..250).map(|k| (T0 + k * 15_000, k as f64)).collect();
    let head = head_chunks(&samples);
    let mut w = BlockWriter::new();
    w.add_series(&Labels::from_pairs([("__name__", "m")]), &head)
        .unwrap();
    let block = w.finish(BlockSource::default());
    let index = BlockIndex::parse(&block.index).unwrap();
    let metas = index.series(SeriesRef(0)).unwrap().1;
    let got: Vec<(u32, ChunkEncoding)> =
        metas.iter().map(|m| (m.num_samples, m.encoding)).collect();
    let decimal = ChunkEncoding::Decimal;
    assert_eq!(got, [(120, decimal), (120, decimal), (10, decimal)]);
    let decoded: Vec<(i64, u64)> = metas
        .iter()
        .flat_map(|m| float_bits(&read_chunk(&block.chunks, m).unwrap()))
        .collect();
    assert_eq!(decoded, bits(samples.into_iter()));
}

#[test]
fn index_rejects_unknown_or_misplaced_encodings() {
    let labels = Labels::from_pairs([("__name__", "m")]);
    let mut w = BlockWriter::new();
    w.add_series(&labels, &head_chunks(&[(T0, 1.0), (T0 + 1, 2.0)]))
        .unwrap();
    let block = w.finish(BlockSource::default());
    let index = BlockIndex::parse(&block.index).unwrap();
    let encoding = index.series(SeriesRef(0)).unwrap().1[0].encoding.as_byte();
    // the float chunk's encoding byte is the last byte of the series section before the
    // (empty) histogram list's count
    let toc = IndexToc::parse(
        &block.index[block.index.len() - INDEX_TOC_LEN..],
        block.index.len() as u64,
    )
    .unwrap();
    let at = toc.postings_offset as usize - 2;
    assert_eq!(block.index[at], encoding);
    for bad in [ChunkEncoding::Histogram.as_byte(), 9] {
        let mut bytes = block.index.clone();
        bytes[at] = bad;
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_be_bytes());
        let err = BlockIndex::parse(&bytes).unwrap_err();
        assert!(err.to_string().contains("encoding"), "{err}");
    }
}

/// Head chunks of arbitrary samples, possibly overlapping each other.
fn arb_head_chunks() -> impl Strategy<Value = Vec<XorChunk>> {
    let chunk_samples = proptest::collection::vec((0i64..1_000_000, any::<u64>()), 0..150)
        .prop_map(|mut s| {
            s.sort_by_key(|&(t, _)| t);
            s.dedup_by_key(|&mut (t, _)| t);
            chunk(
                &s.into_iter()
                    .map(|(t, v)| (t, f64::from_bits(v)))
                    .collect::<Vec<_>>(),
            )
        });
    proptest::collection::vec(chunk_samples, 0..6)
}

proptest! {
    #[test]
    fn merged_blocks_round_trip(head in arb_head_chunks(), max in 1usize..600) {
        let mut w = BlockWriter::with_chunk_max_samples(max);
        w.add_series(&Labels::from_pairs([("__name__", "m")]), &head).unwrap();
        let block = w.finish(BlockSource::default());
        let index = BlockIndex::parse(&block.index).unwrap();
        let metas = index.series(SeriesRef(0)).map(|s| s.1).unwrap_or_default();
        let mut decoded = Vec::new();
        for m in &metas {
            prop_assert!(m.num_samples as usize <= max);
            decoded.extend(float_bits(&read_chunk(&block.chunks, m).unwrap()));
        }
        let expected: Vec<(i64, u64)> = head.iter().flat_map(|c| bits(c.iter())).collect();
        prop_assert_eq!(block.meta.stats.samples, expected.len() as u64);
        prop_assert_eq!(decoded, expected);
    }
}
