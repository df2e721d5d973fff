//! Rewriting one block without some of its entries: expired ones (retention, per stream) or
//! those a deletion request selects. The same walk as [`super::merge_logs_blocks`] with a
//! filter, so the index and chunks are rebuilt exactly as a merge rebuilds them. Pure and
//! I/O-free; CPU-bound: call it off the async runtime.

use sextant_model::Labels;

use super::merge::merge_logs_blocks_filtered;
use super::{EncodedLogsBlock, LogsBlockError, LogsBlockFiles, LogsBlockMeta, LogsMergeTarget};

/// `src` without the entries for which `drop(stream labels, time in ns, line)` is true
/// (streams left empty disappear), named and chunked by `target`; `None` when nothing is
/// left. The new block replaces `src` one for one: it keeps its compaction level and
/// `sources`; times and stats are those of the entries kept. The caller compares
/// `stats.entries` with the source's to learn how many entries went (and to skip an upload
/// when none did).
pub fn rewrite_logs_block(
    src: &LogsBlockFiles<'_>,
    target: LogsMergeTarget,
    drop: &dyn Fn(&Labels, i64, &str) -> bool,
) -> Result<Option<EncodedLogsBlock>, LogsBlockError> {
    let source = LogsBlockMeta::from_json(src.meta)?;
    let mut block = merge_logs_blocks_filtered(std::slice::from_ref(src), target, drop)?;
    if block.meta.stats.streams == 0 {
        return Ok(None);
    }
    block.meta.compaction = source.compaction;
    Ok(Some(block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{
        read_logs_chunk, LogsBlockCompaction, LogsBlockIndex, LogsBlockSource, LogsBlockWriter,
    };
    use crate::logql::eval::Entry;

    fn labels(app: &str) -> Labels {
        Labels::from_pairs([("app", app)])
    }

    fn entries(from: i64, to: i64) -> Vec<Entry> {
        (from..to)
            .map(|ts| Entry {
                ts_ns: ts,
                line: format!("line {ts} {}", if ts % 2 == 0 { "even" } else { "odd" }),
                metadata: Labels::default(),
            })
            .collect()
    }

    fn source() -> EncodedLogsBlock {
        let mut w = LogsBlockWriter::new(300, 120);
        w.add_stream(&labels("api"), &entries(0, 100)).unwrap();
        w.add_stream(&labels("web"), &entries(50, 60)).unwrap();
        w.finish(LogsBlockSource {
            block_id: "src".into(),
            tenant: "t".into(),
            source_ingester: "compactor-0".into(),
            compaction: LogsBlockCompaction {
                level: 2,
                sources: vec!["a".into(), "b".into()],
            },
        })
    }

    fn target() -> LogsMergeTarget {
        LogsMergeTarget {
            block_id: "new".into(),
            source_ingester: "compactor-1".into(),
            chunk_target_bytes: 300,
            chunk_block_bytes: 120,
        }
    }

    fn read_back(b: &EncodedLogsBlock) -> Vec<(Labels, Vec<Entry>)> {
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

    type DropFn = fn(&Labels, i64, &str) -> bool;
    type Streams = Vec<(Labels, Vec<Entry>)>;

    #[test]
    fn drops_what_the_filter_selects() {
        let src = source();
        let meta = src.meta_json();
        let files = LogsBlockFiles {
            meta: &meta,
            index: &src.index,
            chunks: &src.chunks,
        };
        let even = |from, to| -> Vec<Entry> {
            entries(from, to)
                .into_iter()
                .filter(|e| e.ts_ns % 2 == 0)
                .collect()
        };
        // (name, filter, streams kept, (min, max) time)
        let cases: Vec<(&str, DropFn, Streams, (i64, i64))> = vec![
            (
                "nothing",
                |_, _, _| false,
                vec![
                    (labels("api"), entries(0, 100)),
                    (labels("web"), entries(50, 60)),
                ],
                (0, 99),
            ),
            (
                "older than 55",
                |_, ts, _| ts < 55,
                vec![
                    (labels("api"), entries(55, 100)),
                    (labels("web"), entries(55, 60)),
                ],
                (55, 99),
            ),
            (
                "one stream",
                |l, _, _| l.get("app") == Some("api"),
                vec![(labels("web"), entries(50, 60))],
                (50, 59),
            ),
            (
                "by line",
                |_, _, line| line.ends_with("odd"),
                vec![(labels("api"), even(0, 100)), (labels("web"), even(50, 60))],
                (0, 98),
            ),
        ];
        for (name, drop, want, range) in cases {
            let got = rewrite_logs_block(&files, target(), &drop)
                .unwrap()
                .unwrap();
            assert_eq!(read_back(&got), want, "{name}");
            let m = &got.meta;
            assert_eq!((m.min_time_ns, m.max_time_ns), range, "{name}");
            let kept: usize = want.iter().map(|(_, e)| e.len()).sum();
            assert_eq!(m.stats.entries, kept as u64, "{name}");
            assert_eq!(
                m.compaction, src.meta.compaction,
                "{name}: level and sources kept"
            );
            assert_eq!((m.block_id.as_str(), m.tenant.as_str()), ("new", "t"));
        }
    }

    #[test]
    fn nothing_left_is_none_and_other_versions_are_refused() {
        let src = source();
        let meta = src.meta_json();
        let files = LogsBlockFiles {
            meta: &meta,
            index: &src.index,
            chunks: &src.chunks,
        };
        assert!(rewrite_logs_block(&files, target(), &|_, _, _| true)
            .unwrap()
            .is_none());
        let mut newer = src.meta.clone();
        newer.version = 9;
        let newer = newer.to_json();
        let files = LogsBlockFiles {
            meta: &newer,
            ..files
        };
        assert!(matches!(
            rewrite_logs_block(&files, target(), &|_, _, _| false),
            Err(LogsBlockError::UnknownMetaVersion(9))
        ));
    }

    /// Rewrite throughput on 200 streams of 5000 entries (1M), the older half dropped:
    /// `cargo test -p sextant-logs --release --lib block::rewrite::tests::measure -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn measure() {
        let mut w = LogsBlockWriter::new(
            crate::chunk::DEFAULT_CHUNK_TARGET_BYTES,
            crate::chunk::DEFAULT_CHUNK_BLOCK_BYTES,
        );
        for s in 0..200 {
            let e: Vec<Entry> = (0..5_000i64)
                .map(|i| Entry {
                    ts_ns: i * 1_000_000,
                    line: format!(
                        "level=info ts={i} path=/api/v1/items/{} status=200",
                        (i * 7919 + s) % 10_000
                    ),
                    metadata: Labels::default(),
                })
                .collect();
            w.add_stream(&labels(&format!("app-{s:03}")), &e).unwrap();
        }
        let src = w.finish(LogsBlockSource::default());
        let meta = src.meta_json();
        let files = LogsBlockFiles {
            meta: &meta,
            index: &src.index,
            chunks: &src.chunks,
        };
        let target = LogsMergeTarget {
            chunk_target_bytes: crate::chunk::DEFAULT_CHUNK_TARGET_BYTES,
            chunk_block_bytes: crate::chunk::DEFAULT_CHUNK_BLOCK_BYTES,
            ..target()
        };
        let started = std::time::Instant::now();
        let out = rewrite_logs_block(&files, target, &|_, ts, _| ts < 2_500_000_000)
            .unwrap()
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(out.meta.stats.entries, 500_000);
        eprintln!(
            "logs rewrite: 1M entries ({:.1} MB chunks) in {secs:.2} s = {:.2} M entries/s, {:.1} MB/s",
            src.chunks.len() as f64 / 1e6,
            1.0 / secs,
            src.chunks.len() as f64 / 1e6 / secs
        );
    }
}
