//! Rewriting one block without its expired samples (the compactor's retention of partially
//! expired blocks). The same walk as [`super::merge_blocks`], with a time filter, so the
//! re-encoding rules are the merge's. Pure and I/O-free; CPU-bound: call it off the async
//! runtime.

use super::merge::merge_blocks_from;
use super::{BlockError, BlockMeta, EncodedBlock, MetricsBlockSourceFiles, MetricsMergeOptions};

/// `src` without the float samples and histograms older than `keep_from_ms` (series left
/// empty disappear), named and chunked by `target`; `None` when nothing is left. The new
/// block replaces `src` one for one: it keeps its compaction level and `sources`, and its min
/// time is raised to `keep_from_ms` when samples were dropped. A source of a format version
/// this build does not read is refused ([`BlockError::UnknownMetaVersion`]).
pub fn rewrite_metrics_block(
    src: &MetricsBlockSourceFiles<'_>,
    keep_from_ms: i64,
    target: &MetricsMergeOptions,
) -> Result<Option<EncodedBlock>, BlockError> {
    let source = BlockMeta::from_json(src.meta)?;
    let mut block = merge_blocks_from(std::slice::from_ref(src), target, keep_from_ms)?;
    if block.meta.stats.series == 0 {
        return Ok(None);
    }
    block.meta.compaction = source.compaction;
    Ok(Some(block))
}

#[cfg(test)]
mod tests {
    use sextant_model::Labels;

    use super::*;
    use crate::block::merge::tests::{histogram, labels};
    use crate::block::{
        read_chunk, read_histogram_chunk, BlockCompaction, BlockIndex, BlockSource, BlockWriter,
        SeriesRef,
    };
    use crate::chunk::{HistogramChunk, XorAppender};
    use crate::write::Histogram;

    const T0: i64 = 1_700_000_000_000;

    /// A level-3 block: `a` with floats at T0+0..10 s, `b` with floats at T0+0..3 s, `h`
    /// with histograms at T0+0..6 s.
    fn source() -> (Vec<u8>, EncodedBlock) {
        let mut writer = BlockWriter::new();
        for (name, n) in [("a", 10), ("b", 3)] {
            let mut app = XorAppender::new();
            for i in 0..n {
                app.append(T0 + i * 1000, i as f64);
            }
            writer.add_series(&labels(name), &[app.finish()]).unwrap();
        }
        let hs: Vec<Histogram> = (0..6).map(|i| histogram(T0 + i * 1000, 1.5)).collect();
        let chunk = HistogramChunk::encode(&hs).unwrap();
        writer
            .add_series_with_histograms(&labels("h"), &[], &[chunk])
            .unwrap();
        let block = writer.finish(BlockSource {
            block_id: "src".into(),
            tenant: "t".into(),
            source_ingester: "compactor-0".into(),
            compaction: BlockCompaction {
                level: 3,
                sources: vec!["l1-a".into(), "l1-b".into()],
            },
        });
        (block.meta.to_json(), block)
    }

    /// (series name, float timestamps, histogram timestamps) of a block, relative to T0.
    fn read_back(block: &EncodedBlock) -> Vec<(String, Vec<i64>, Vec<i64>)> {
        let index = BlockIndex::parse(&block.index).unwrap();
        let mut out = Vec::new();
        for i in 0.. {
            let Some((labels, chunks)) = index.series(SeriesRef(i)) else {
                break;
            };
            let floats = chunks
                .iter()
                .flat_map(|m| {
                    read_chunk(&block.chunks, m)
                        .unwrap()
                        .iter()
                        .collect::<Vec<_>>()
                })
                .map(|(t, _)| t - T0)
                .collect();
            let histograms = index
                .histogram_chunks(SeriesRef(i))
                .unwrap_or_default()
                .iter()
                .flat_map(|m| read_histogram_chunk(&block.chunks, m).unwrap().histograms())
                .map(|h| h.timestamp_ms - T0)
                .collect();
            let name = labels.get("__name__").unwrap_or_default().to_owned();
            out.push((name, floats, histograms));
        }
        out
    }

    #[test]
    fn drops_samples_before_the_cutoff() {
        let (meta, block) = source();
        let files = MetricsBlockSourceFiles {
            meta: &meta,
            index: &block.index,
            chunks: &block.chunks,
        };
        let target = MetricsMergeOptions::new("new");
        let all = |from: i64, to: i64| (from..to).map(|i| i * 1000).collect::<Vec<_>>();
        // (keep_from relative to T0, expected series, expected min time relative to T0)
        type Want = Vec<(&'static str, Vec<i64>, Vec<i64>)>;
        let cases: Vec<(i64, Want, i64)> = vec![
            (
                -5000,
                vec![
                    ("a", all(0, 10), vec![]),
                    ("b", all(0, 3), vec![]),
                    ("h", vec![], all(0, 6)),
                ],
                0,
            ),
            (
                2000,
                vec![
                    ("a", all(2, 10), vec![]),
                    ("b", all(2, 3), vec![]),
                    ("h", vec![], all(2, 6)),
                ],
                2000,
            ),
            (
                3000,
                vec![("a", all(3, 10), vec![]), ("h", vec![], all(3, 6))],
                3000,
            ),
            (6000, vec![("a", all(6, 10), vec![])], 6000),
        ];
        for (keep_from, want, min) in cases {
            let got = rewrite_metrics_block(&files, T0 + keep_from, &target)
                .unwrap()
                .unwrap();
            let want: Vec<_> = want
                .into_iter()
                .map(|(n, f, h)| (n.to_owned(), f, h))
                .collect();
            assert_eq!(read_back(&got), want, "keep from {keep_from}");
            assert_eq!(got.meta.min_time_ms, T0 + min, "keep from {keep_from}");
            assert_eq!(got.meta.max_time_ms, T0 + 9000);
            assert_eq!(got.meta.block_id, "new");
            assert_eq!(
                got.meta.compaction, block.meta.compaction,
                "level and sources kept"
            );
        }
    }

    #[test]
    fn nothing_left_is_none_and_newer_versions_are_refused() {
        let (meta, block) = source();
        let files = MetricsBlockSourceFiles {
            meta: &meta,
            index: &block.index,
            chunks: &block.chunks,
        };
        let target = MetricsMergeOptions::new("new");
        assert!(rewrite_metrics_block(&files, T0 + 10_000, &target)
            .unwrap()
            .is_none());
        let mut newer = block.meta.clone();
        newer.version = 99;
        let newer_json = newer.to_json();
        let files = MetricsBlockSourceFiles {
            meta: &newer_json,
            ..files
        };
        assert!(matches!(
            rewrite_metrics_block(&files, T0, &target),
            Err(BlockError::UnknownMetaVersion(99))
        ));
    }

    /// Rewrite throughput on 10k series of 480 samples (4.8M), the older half dropped:
    /// `cargo test -p sextant-metrics --release --lib block::rewrite::tests::measure -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn measure() {
        let mut writer = BlockWriter::with_chunk_max_samples(crate::block::BLOCK_CHUNK_MAX_SAMPLES);
        let mut names: Vec<Labels> = (0..10_000)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("pod", &format!("pod-{i:05}")),
                ])
            })
            .collect();
        names.sort();
        for (s, l) in names.iter().enumerate() {
            let mut app = XorAppender::new();
            for i in 0..480i64 {
                app.append(T0 + i * 15_000, (i * (s as i64 % 7 + 1)) as f64);
            }
            writer.add_series(l, &[app.finish()]).unwrap();
        }
        let block = writer.finish(BlockSource::default());
        let meta = block.meta.to_json();
        let files = MetricsBlockSourceFiles {
            meta: &meta,
            index: &block.index,
            chunks: &block.chunks,
        };
        let started = std::time::Instant::now();
        let out = rewrite_metrics_block(&files, T0 + 240 * 15_000, &MetricsMergeOptions::new("n"))
            .unwrap()
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(out.meta.stats.samples, 2_400_000);
        let mb = (block.index.len() + block.chunks.len()) as f64 / 1e6;
        eprintln!(
            "metrics rewrite: 4.8M samples ({mb:.1} MB) in {secs:.2} s = {:.1} M samples/s, {:.1} MB/s",
            4.8 / secs,
            mb / secs
        );
    }
}
