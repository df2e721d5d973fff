use proptest::prelude::*;
use sextant_model::{Labels, MatchOp, Matcher};

use super::*;
use crate::logql::eval::Entry;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entries(from: i64, n: i64) -> Vec<Entry> {
    (from..from + n)
        .map(|ts| Entry {
            ts_ns: ts,
            line: format!("10.0.0.{} - GET /api/{ts} 200", ts % 7),
            metadata: if ts % 2 == 0 {
                labels(&[("trace_id", "abc")])
            } else {
                Labels::default()
            },
        })
        .collect()
}

fn streams() -> Vec<(Labels, Vec<Entry>)> {
    vec![
        (labels(&[("app", "api"), ("env", "dev")]), entries(0, 40)),
        (
            labels(&[("app", "api"), ("env", "prod")]),
            entries(100, 200),
        ),
        (labels(&[("app", "web")]), entries(50, 3)),
    ]
}

fn encode() -> EncodedLogsBlock {
    let mut w = LogsBlockWriter::new(400, 150);
    for (l, e) in streams() {
        w.add_stream(&l, &e).unwrap();
    }
    w.finish(LogsBlockSource {
        block_id: "b".into(),
        tenant: "t".into(),
        source_ingester: "i".into(),
        compaction: LogsBlockCompaction {
            level: 1,
            sources: vec!["b".into()],
        },
    })
}

fn read_stream(
    index: &LogsBlockIndex,
    chunks_file: &[u8],
    r: LogsStreamRef,
) -> (Labels, Vec<Entry>) {
    let (labels, metas) = index.stream(r).unwrap();
    let mut out = Vec::new();
    for meta in metas {
        // only the chunk's own bytes, as a ranged read would fetch them
        let range = chunk_byte_range(meta);
        let slice = &chunks_file[range.start as usize..range.end as usize];
        out.extend(read_logs_chunk(slice, meta).unwrap().entries().unwrap());
    }
    (labels, out)
}

#[test]
fn written_block_reads_back() {
    let block = encode();
    assert_eq!(block.meta.stats.streams, 3);
    assert_eq!(block.meta.stats.entries, 243);
    assert_eq!((block.meta.min_time_ns, block.meta.max_time_ns), (0, 299));
    assert!(block.meta.stats.chunks > 3);
    let index = LogsBlockIndex::parse(&block.index).unwrap();
    let all: Vec<(Labels, Vec<Entry>)> = index
        .select(&[])
        .into_iter()
        .map(|r| read_stream(&index, &block.chunks, r))
        .collect();
    assert_eq!(all, streams());
    let line_bytes: u64 = streams()
        .iter()
        .flat_map(|(_, e)| e.iter().map(|e| e.line.len() as u64))
        .sum();
    assert_eq!(block.meta.stats.bytes, line_bytes);
    assert_eq!(index.label_names(), ["app", "env"]);
    assert_eq!(index.label_values("env"), ["dev", "prod"]);
}

#[test]
fn index_selects_streams_by_matchers() {
    let index = LogsBlockIndex::parse(&encode().index).unwrap();
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let cases: Vec<(Vec<Matcher>, Vec<u32>)> = vec![
        (vec![m(MatchOp::Equal, "app", "api")], vec![0, 1]),
        (vec![m(MatchOp::Equal, "env", "")], vec![2]),
        (vec![m(MatchOp::NotEqual, "env", "dev")], vec![1, 2]),
        (
            vec![
                m(MatchOp::RegexMatch, "env", "p.*"),
                m(MatchOp::Equal, "app", "api"),
            ],
            vec![1],
        ),
        (vec![m(MatchOp::Equal, "nope", "x")], vec![]),
    ];
    for (matchers, want) in cases {
        let got: Vec<u32> = index.select(&matchers).iter().map(|r| r.0).collect();
        assert_eq!(got, want, "{matchers:?}");
    }
}

#[test]
fn toc_allows_reading_the_index_by_ranges() {
    let block = encode();
    let len = block.index.len() as u64;
    let toc =
        LogsIndexToc::parse(&block.index[block.index.len() - LOGS_INDEX_TOC_LEN..], len).unwrap();
    let body = &block.index[toc.body_range().start as usize..toc.body_range().end as usize];
    let index = LogsBlockIndex::parse_sections(&toc, body).unwrap();
    assert_eq!(index, LogsBlockIndex::parse(&block.index).unwrap());
}

#[test]
fn writer_refuses_unsorted_and_empty_labels() {
    let mut w = LogsBlockWriter::new(400, 150);
    w.add_stream(&labels(&[("app", "b")]), &entries(0, 1))
        .unwrap();
    let err = w
        .add_stream(&labels(&[("app", "a")]), &entries(0, 1))
        .unwrap_err();
    assert!(
        matches!(err, LogsBlockError::UnsortedStreams { .. }),
        "{err}"
    );
    let err = w
        .add_stream(&Labels::default(), &entries(0, 1))
        .unwrap_err();
    assert!(matches!(err, LogsBlockError::EmptyLabels), "{err}");
}

#[test]
fn every_flipped_index_byte_is_an_error() {
    let index = encode().index;
    for at in 0..index.len() {
        let mut bad = index.clone();
        bad[at] ^= 0x01;
        assert!(LogsBlockIndex::parse(&bad).is_err(), "byte {at}");
    }
}

#[test]
fn chunk_meta_mismatch_is_an_error() {
    let block = encode();
    let index = LogsBlockIndex::parse(&block.index).unwrap();
    let (_, metas) = index.stream(LogsStreamRef(0)).unwrap();
    let mut meta = metas[0];
    meta.entries += 1;
    assert!(read_logs_chunk(&block.chunks, &meta).is_err());
    meta = metas[0];
    meta.offset = block.chunks.len() as u64;
    assert!(read_logs_chunk(&block.chunks, &meta).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_index_parser(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = LogsBlockIndex::parse(&bytes);
        if bytes.len() >= LOGS_INDEX_TOC_LEN {
            let _ = LogsIndexToc::parse(&bytes[..LOGS_INDEX_TOC_LEN], bytes.len() as u64);
        }
    }

    #[test]
    fn random_bytes_never_panic_the_chunk_reader(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        offset in 0u64..300, len in 0u64..300,
    ) {
        let meta = LogsChunkMeta { offset, len, min_time_ns: 0, max_time_ns: 1, entries: 1, bytes: 1 };
        let _ = read_logs_chunk(&bytes, &meta);
    }

    #[test]
    fn truncated_blocks_never_panic(cut in 0usize..2000) {
        let block = encode();
        let _ = LogsBlockIndex::parse(&block.index[..cut.min(block.index.len())]);
        let index = LogsBlockIndex::parse(&block.index).unwrap();
        let chunks = &block.chunks[..cut.min(block.chunks.len())];
        for r in index.select(&[]) {
            for meta in index.stream(r).unwrap().1 {
                if let Ok(c) = read_logs_chunk(chunks, meta) {
                    let _ = c.entries();
                }
            }
        }
    }
}
