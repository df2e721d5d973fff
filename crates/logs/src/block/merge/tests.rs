use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use proptest::prelude::*;
use sextant_model::Labels;

use super::*;
use crate::block::{LogsBlockSource, LOGS_BLOCK_FORMAT_VERSION};

type Streams = Vec<(Labels, Vec<Entry>)>;
/// (name, a bad source, the check of the error) of a table case.
type RefusalCase<'a> = (
    &'static str,
    LogsBlockFiles<'a>,
    fn(&LogsBlockError) -> bool,
);

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entry(ts_ns: i64, line: &str, metadata: &[(&str, &str)]) -> Entry {
    Entry {
        ts_ns,
        line: line.to_string(),
        metadata: labels(metadata),
    }
}

fn lines(from: i64, to: i64) -> Vec<Entry> {
    (from..to)
        .map(|ts| entry(ts, &format!("GET /api/{} 200", ts % 13), &[]))
        .collect()
}

/// Encodes `streams` (any order; entries sorted here) as a level-`level` block `id`.
fn block(id: &str, level: u32, streams: &Streams) -> EncodedLogsBlock {
    let mut sorted: BTreeMap<Labels, Vec<Entry>> = BTreeMap::new();
    for (l, e) in streams {
        sorted
            .entry(l.clone())
            .or_default()
            .extend(e.iter().cloned());
    }
    let mut w = LogsBlockWriter::new(300, 120);
    for (l, mut e) in sorted {
        e.sort_by_key(|e| e.ts_ns);
        w.add_stream(&l, &e).unwrap();
    }
    w.finish(LogsBlockSource {
        block_id: id.into(),
        tenant: "t".into(),
        source_ingester: format!("ingester-{id}"),
        compaction: LogsBlockCompaction {
            level,
            sources: vec![id.into()],
        },
    })
}

fn merge(blocks: &[EncodedLogsBlock]) -> Result<EncodedLogsBlock, LogsBlockError> {
    let metas: Vec<Vec<u8>> = blocks.iter().map(|b| b.meta_json()).collect();
    let files: Vec<LogsBlockFiles<'_>> = blocks
        .iter()
        .zip(&metas)
        .map(|(b, meta)| LogsBlockFiles {
            meta,
            index: &b.index,
            chunks: &b.chunks,
        })
        .collect();
    merge_logs_blocks(&files, target())
}

fn target() -> LogsMergeTarget {
    LogsMergeTarget {
        block_id: "merged".into(),
        source_ingester: "compactor-1".into(),
        chunk_target_bytes: 300,
        chunk_block_bytes: 120,
    }
}

/// Every stream of a block, read back through the index and chunk readers.
fn read_back(b: &EncodedLogsBlock) -> Streams {
    let index = LogsBlockIndex::parse(&b.index).unwrap();
    index
        .select(&[])
        .into_iter()
        .map(|r| {
            let (labels, metas) = index.stream(r).unwrap();
            let entries = metas
                .iter()
                .flat_map(|m| read_logs_chunk(&b.chunks, m).unwrap().entries().unwrap())
                .collect();
            (labels, entries)
        })
        .collect()
}

fn api() -> Labels {
    labels(&[("app", "api")])
}

fn web() -> Labels {
    labels(&[("app", "web")])
}

#[test]
fn replicas_merge_into_one_copy() {
    let data = vec![(api(), lines(0, 500)), (web(), lines(100, 180))];
    let copies: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| block(id, 1, &data))
        .collect();
    let merged = merge(&copies).unwrap();
    assert_eq!(read_back(&merged), read_back(&copies[0]));
    let meta = &merged.meta;
    assert_eq!(meta.stats.entries, 580);
    assert_eq!(meta.stats.streams, 2);
    assert_eq!((meta.min_time_ns, meta.max_time_ns), (0, 499));
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.compaction.sources, ["a", "b", "c"]);
    assert_eq!(
        (
            meta.block_id.as_str(),
            meta.source_ingester.as_str(),
            meta.tenant.as_str()
        ),
        ("merged", "compactor-1", "t")
    );
}

#[test]
fn overlapping_and_adjacent_blocks() {
    let cases: Vec<(&str, Vec<Streams>, Streams)> = vec![
        (
            "partial overlap",
            vec![vec![(api(), lines(0, 100))], vec![(api(), lines(50, 150))]],
            vec![(api(), lines(0, 150))],
        ),
        (
            "adjacent",
            vec![vec![(api(), lines(0, 10))], vec![(api(), lines(10, 20))]],
            vec![(api(), lines(0, 20))],
        ),
        (
            "distinct streams",
            vec![vec![(web(), lines(5, 9))], vec![(api(), lines(0, 3))]],
            vec![(api(), lines(0, 3)), (web(), lines(5, 9))],
        ),
        (
            "one block inside another",
            vec![vec![(api(), lines(0, 100))], vec![(api(), lines(20, 30))]],
            vec![(api(), lines(0, 100))],
        ),
    ];
    for (name, inputs, want) in cases {
        let blocks: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, s)| block(&i.to_string(), 1, s))
            .collect();
        assert_eq!(read_back(&merge(&blocks).unwrap()), want, "{name}");
    }
}

#[test]
fn exact_duplicates_removed_distinct_kept() {
    let a = vec![(
        api(),
        vec![
            entry(1, "x", &[]),
            entry(2, "same time", &[]),
            entry(3, "meta", &[("trace_id", "1")]),
        ],
    )];
    let b = vec![(
        api(),
        vec![
            entry(1, "x", &[]),                     // duplicate
            entry(2, "other line", &[]),            // same time, other line
            entry(3, "meta", &[("trace_id", "2")]), // other metadata
            entry(3, "meta", &[("trace_id", "1")]), // duplicate
        ],
    )];
    let merged = merge(&[block("a", 1, &a), block("b", 3, &b)]).unwrap();
    let want = vec![(
        api(),
        vec![
            entry(1, "x", &[]),
            entry(2, "other line", &[]),
            entry(2, "same time", &[]),
            entry(3, "meta", &[("trace_id", "1")]),
            entry(3, "meta", &[("trace_id", "2")]),
        ],
    )];
    assert_eq!(read_back(&merged), want);
    assert_eq!(merged.meta.compaction.level, 4);
}

#[test]
fn refuses_newer_versions_and_mixed_tenants() {
    let data = vec![(api(), lines(0, 3))];
    let (a, b) = (block("a", 1, &data), block("b", 1, &data));
    let mut newer = b.meta.clone();
    newer.version = LOGS_BLOCK_FORMAT_VERSION + 1;
    let newer_json = newer.to_json();
    let mut other = b.meta.clone();
    other.tenant = "other".into();
    let other_json = other.to_json();
    let mut newer_index = b.index.clone();
    newer_index[4] = 9;
    let body = newer_index.len() - 4;
    let crc = crc32fast::hash(&newer_index[..body]);
    newer_index[body..].copy_from_slice(&crc.to_be_bytes());
    let a_meta = a.meta_json();
    let good = LogsBlockFiles {
        meta: &a_meta,
        index: &a.index,
        chunks: &a.chunks,
    };
    let files = |meta, index| LogsBlockFiles {
        meta,
        index,
        chunks: &b.chunks,
    };
    let cases: Vec<RefusalCase<'_>> = vec![
        ("newer meta", files(&newer_json, &b.index), |e| {
            matches!(e, LogsBlockError::UnknownMetaVersion(2))
        }),
        ("newer index", files(&a_meta, &newer_index), |e| {
            matches!(
                e,
                LogsBlockError::UnknownFormatVersion {
                    file: "index",
                    version: 9
                }
            )
        }),
        (
            "other tenant",
            files(&other_json, &b.index),
            |e| matches!(e, LogsBlockError::Corrupt(m) if m.contains("tenants")),
        ),
    ];
    for (name, bad, check) in cases {
        let err = merge_logs_blocks(&[good, bad], target()).unwrap_err();
        assert!(check(&err), "{name}: {err}");
    }
}

#[test]
fn no_sources_give_an_empty_block() {
    let merged = merge(&[]).unwrap();
    assert_eq!(merged.meta.stats.entries, 0);
    assert_eq!(merged.meta.compaction.level, 1);
}

fn arb_streams() -> impl Strategy<Value = Streams> {
    let entry = (0i64..40, 0u8..4, 0u8..2).prop_map(|(ts, line, meta)| {
        let m = [("k", "v")];
        entry(
            ts,
            &format!("line {line}"),
            if meta == 1 { &m } else { &[] },
        )
    });
    prop::collection::vec(((0u8..3), prop::collection::vec(entry, 0..30)), 0..4).prop_map(
        |streams| {
            streams
                .into_iter()
                .map(|(app, e)| (labels(&[("app", &format!("app{app}"))]), e))
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn merge_reads_back_as_sorted_deduplicated_union(
        inputs in prop::collection::vec(arb_streams(), 1..4),
    ) {
        let blocks: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, s)| block(&i.to_string(), 1, s))
            .collect();
        let mut want: BTreeMap<Labels, BTreeSet<(i64, String, Labels)>> = BTreeMap::new();
        for (l, entries) in inputs.iter().flatten() {
            let set = want.entry(l.clone()).or_default();
            set.extend(entries.iter().map(|e| (e.ts_ns, e.line.clone(), e.metadata.clone())));
        }
        let want: Streams = want
            .into_iter()
            .filter(|(_, set)| !set.is_empty())
            .map(|(l, set)| {
                let entries = set
                    .into_iter()
                    .map(|(ts_ns, line, metadata)| Entry { ts_ns, line, metadata })
                    .collect();
                (l, entries)
            })
            .collect();
        prop_assert_eq!(read_back(&merge(&blocks).unwrap()), want);
    }
}

/// By hand, in release:
/// `cargo test -p sextant-logs --release --lib block::merge::tests::measure -- --ignored --nocapture`
#[test]
#[ignore]
fn measure() {
    // generated stream by stream, so the memory high-water mark before the merge is about
    // the three copies' files
    let stream = |s: i64| {
        let l = labels(&[
            ("app", &format!("app{:02}", s / 10)),
            ("pod", &format!("pod-{s:03}")),
        ]);
        let e: Vec<Entry> = (0..5_000i64)
            .map(|i| {
                let line = format!(
                    "level=info ts={i} caller=handler.go:{} method=GET path=/api/v1/items/{} status=200 duration={}ms",
                    i % 97,
                    (i * 7919 + s) % 10_000,
                    i % 250
                );
                entry(i * 1_000_000, &line, &[])
            })
            .collect();
        (l, e)
    };
    let copies: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            let mut w = LogsBlockWriter::new(
                crate::chunk::DEFAULT_CHUNK_TARGET_BYTES,
                crate::chunk::DEFAULT_CHUNK_BLOCK_BYTES,
            );
            for s in 0..200 {
                let (l, e) = stream(s);
                w.add_stream(&l, &e).unwrap();
            }
            w.finish(LogsBlockSource {
                block_id: (*id).into(),
                tenant: "t".into(),
                ..LogsBlockSource::default()
            })
        })
        .collect();
    let input_bytes: usize = copies.iter().map(|b| b.index.len() + b.chunks.len()).sum();
    let line_bytes: u64 = copies.iter().map(|b| b.meta.stats.bytes).sum();
    let entries: u64 = copies.iter().map(|b| b.meta.stats.entries).sum();
    let hwm_before = vm_hwm_kib();
    let metas: Vec<Vec<u8>> = copies.iter().map(|b| b.meta_json()).collect();
    let files: Vec<_> = copies
        .iter()
        .zip(&metas)
        .map(|(b, meta)| LogsBlockFiles {
            meta,
            index: &b.index,
            chunks: &b.chunks,
        })
        .collect();
    let started = Instant::now();
    let merged = merge_logs_blocks(
        &files,
        LogsMergeTarget {
            chunk_target_bytes: crate::chunk::DEFAULT_CHUNK_TARGET_BYTES,
            chunk_block_bytes: crate::chunk::DEFAULT_CHUNK_BLOCK_BYTES,
            ..target()
        },
    )
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(merged.meta.stats.entries * 3, entries);
    eprintln!(
        "logs merge: 3 x {} entries ({:.1} MB compressed in, {:.1} MB of lines) in {:.3} s: \
         {:.0} input entries/s, {:.1} MB/s compressed, {:.1} MB/s lines; out {:.1} MB; \
         VmHWM {} KiB before, {} KiB after",
        entries / 3,
        input_bytes as f64 / 1e6,
        line_bytes as f64 / 1e6,
        secs,
        entries as f64 / secs,
        input_bytes as f64 / 1e6 / secs,
        line_bytes as f64 / 1e6 / secs,
        (merged.index.len() + merged.chunks.len()) as f64 / 1e6,
        hwm_before,
        vm_hwm_kib()
    );
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
