//! Merging replica and overlapping blocks, read back through the block readers.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sextant_model::Labels;

use super::*;
use crate::block::{BlockStats, BLOCK_FORMAT_VERSION};
use crate::write::HistogramCount;

const T0: i64 = 1_700_000_000_000;

/// A series as written or read back: labels, (timestamp, value bits), histograms.
type Series = (Labels, Vec<(i64, u64)>, Vec<Histogram>);

pub(in crate::block) fn labels(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", "node")])
}

pub(in crate::block) fn histogram(ts: i64, sum: f64) -> Histogram {
    Histogram {
        timestamp_ms: ts,
        count: HistogramCount::Int(3),
        sum,
        schema: 0,
        zero_threshold: 0.0,
        zero_count: HistogramCount::Int(1),
        negative_spans: vec![],
        negative_deltas: vec![],
        negative_counts: vec![],
        positive_spans: vec![],
        positive_deltas: vec![],
        positive_counts: vec![],
        reset_hint: 0,
        custom_values: vec![],
    }
}

/// A block and its `meta.json` bytes, as the compactor would download them.
struct Stored {
    meta: Vec<u8>,
    block: EncodedBlock,
}

impl Stored {
    fn files(&self) -> MetricsBlockSourceFiles<'_> {
        MetricsBlockSourceFiles {
            meta: &self.meta,
            index: &self.block.index,
            chunks: &self.block.chunks,
        }
    }
}

/// A level-1 block named `id` holding `series` (any order; samples sorted per series).
fn level1(id: &str, series: &[Series]) -> Stored {
    level1_cut(id, series, BLOCK_CHUNK_MAX_SAMPLES)
}

/// [`level1`] with chunks of up to `max` samples and histograms.
fn level1_cut(id: &str, series: &[Series], max: usize) -> Stored {
    let mut series = series.to_vec();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut writer = BlockWriter::with_chunk_max_samples(max);
    for (labels, samples, histograms) in &series {
        let samples: Vec<(i64, f64)> = samples
            .iter()
            .map(|&(t, b)| (t, f64::from_bits(b)))
            .collect();
        let histograms = histogram_chunks(histograms, max).unwrap();
        writer
            .add_series_with_histograms(labels, &xor_chunks(&samples), &histograms)
            .unwrap();
    }
    stored(writer.finish(level1_source(id)))
}

fn level1_source(id: &str) -> BlockSource {
    BlockSource {
        block_id: id.into(),
        tenant: "tenant-a".into(),
        source_ingester: format!("ingester-{id}"),
        compaction: BlockCompaction {
            level: 1,
            sources: vec![id.into()],
        },
    }
}

fn stored(block: EncodedBlock) -> Stored {
    Stored {
        meta: block.meta.to_json(),
        block,
    }
}

fn merge(sources: &[&Stored]) -> EncodedBlock {
    let files: Vec<_> = sources.iter().map(|s| s.files()).collect();
    merge_blocks(&files, &MetricsMergeOptions::new("merged")).unwrap()
}

/// [`merge_blocks`] into chunks of `max`, with the fast path for identical chunks or without.
fn merge_cut(sources: &[&Stored], max: usize, identical: IdenticalChunks) -> EncodedBlock {
    let files: Vec<_> = sources.iter().map(|s| s.files()).collect();
    let options = MetricsMergeOptions {
        chunk_max_samples: max,
        ..MetricsMergeOptions::new("merged")
    };
    merge_blocks_with(&files, &options, i64::MIN, identical).unwrap()
}

/// Everything in a block, through the meta, index and chunk readers.
fn read_back(block: &EncodedBlock) -> Vec<Series> {
    assert_eq!(
        BlockMeta::from_json(&block.meta.to_json()).unwrap(),
        block.meta
    );
    let index = BlockIndex::parse(&block.index).unwrap();
    index
        .select(&[])
        .into_iter()
        .map(|r| {
            let (labels, metas) = index.series(r).unwrap();
            let mut floats = Vec::new();
            for m in &metas {
                let chunk = read_chunk(&block.chunks, m).unwrap();
                let mut iter = chunk.iter();
                floats.extend(iter.by_ref().map(|(t, v)| (t, v.to_bits())));
                assert_eq!(iter.error(), None);
            }
            let histograms = index
                .histogram_chunks(r)
                .unwrap()
                .iter()
                .flat_map(|m| read_histogram_chunk(&block.chunks, m).unwrap().histograms())
                .collect();
            (labels, floats, histograms)
        })
        .collect()
}

/// `n` realistic series of 2 h at 15 s: counters, gauges with two decimals, a histogram.
fn data_set(n: usize, samples: i64) -> Vec<Series> {
    (0..n)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 20)),
                ("instance", format!("host-{}:9100", i % 50)),
                ("series", i.to_string()),
            ]);
            let floats = (0..samples)
                .map(|k| {
                    let v = match i % 2 {
                        0 => (k * (i as i64 % 7 + 1)) as f64,
                        _ => ((k * 37 + i as i64) % 10_000) as f64 / 100.0,
                    };
                    (T0 + k * 15_000, v.to_bits())
                })
                .collect();
            let histograms = match i % 25 {
                0 => (0..samples / 4)
                    .map(|k| histogram(T0 + k * 60_000, k as f64))
                    .collect(),
                _ => Vec::new(),
            };
            (labels, floats, histograms)
        })
        .collect()
}

#[test]
fn rf3_replicas_merge_into_one_copy() {
    let data = data_set(300, 480);
    let copies: Vec<Stored> = ["r0", "r1", "r2"]
        .iter()
        .map(|id| level1(id, &data))
        .collect();
    // the third replica joined late: it misses the first hour of every series
    let late: Vec<Series> = data
        .iter()
        .map(|(l, f, h)| (l.clone(), f[240..].to_vec(), h[h.len() / 2..].to_vec()))
        .collect();
    let late = level1("r3", &late);
    let merged = merge(&[&copies[0], &copies[1], &copies[2], &late]);

    let one = &copies[0].block;
    assert_eq!(read_back(&merged), read_back(one));
    assert_eq!(merged.meta.stats, one.meta.stats);
    assert_eq!(
        (merged.meta.min_time_ms, merged.meta.max_time_ms),
        (one.meta.min_time_ms, one.meta.max_time_ms)
    );
    assert_eq!(merged.meta.compaction.level, 2);
    assert_eq!(merged.meta.compaction.sources, ["r0", "r1", "r2", "r3"]);
    assert_eq!(merged.meta.block_id, "merged");
    let size = |b: &EncodedBlock| (b.index.len() + b.chunks.len()) as f64;
    let input: f64 = copies.iter().map(|c| size(&c.block)).sum();
    assert!(
        size(&merged) <= 1.1 * size(one),
        "{} vs {}",
        size(&merged),
        size(one)
    );
    assert!(size(&merged) * 2.5 < input);
}

fn floats(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn series(name: &str, samples: &[(i64, f64)]) -> Series {
    (labels(name), floats(samples), Vec::new())
}

#[test]
fn overlapping_adjacent_and_conflicting_sources() {
    let up = |range: std::ops::Range<i64>| -> Vec<(i64, f64)> {
        range.map(|t| (t * 1000, t as f64)).collect()
    };
    struct Case {
        name: &'static str,
        sources: Vec<Vec<Series>>,
        want: Vec<Series>,
    }
    let cases = [
        Case {
            name: "partial overlap",
            sources: vec![
                vec![series("a", &up(0..100))],
                vec![series("a", &up(50..150))],
            ],
            want: vec![series("a", &up(0..150))],
        },
        Case {
            name: "adjacent ranges and distinct series",
            sources: vec![
                vec![series("a", &up(0..10)), series("b", &up(0..10))],
                vec![series("a", &up(10..20)), series("c", &up(5..8))],
            ],
            want: vec![
                series("a", &up(0..20)),
                series("b", &up(0..10)),
                series("c", &up(5..8)),
            ],
        },
        Case {
            name: "interleaved timestamps",
            sources: vec![
                vec![series("a", &[(1, 1.0), (3, 3.0), (5, 5.0)])],
                vec![series("a", &[(2, 2.0), (3, 3.0), (6, 6.0)])],
            ],
            want: vec![series(
                "a",
                &[(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0), (6, 6.0)],
            )],
        },
        Case {
            name: "conflicting value: the first source wins",
            sources: vec![
                vec![series("a", &[(1, 1.0), (2, 10.0)])],
                vec![series("a", &[(2, 20.0), (3, 3.0)])],
            ],
            want: vec![series("a", &[(1, 1.0), (2, 10.0), (3, 3.0)])],
        },
        Case {
            name: "conflicting value, other order",
            sources: vec![
                vec![series("a", &[(2, 20.0), (3, 3.0)])],
                vec![series("a", &[(1, 1.0), (2, 10.0)])],
            ],
            want: vec![series("a", &[(1, 1.0), (2, 20.0), (3, 3.0)])],
        },
        Case {
            name: "nan and negative zero are kept bit for bit",
            sources: vec![
                vec![series("a", &[(1, f64::NAN), (2, -0.0)])],
                vec![series("a", &[(1, f64::NAN), (2, -0.0)])],
            ],
            want: vec![series("a", &[(1, f64::NAN), (2, -0.0)])],
        },
        Case {
            name: "histograms: replicas deduplicated, first source wins",
            sources: vec![
                vec![(
                    labels("h"),
                    vec![],
                    vec![histogram(1, 1.0), histogram(2, 2.0)],
                )],
                vec![(
                    labels("h"),
                    vec![],
                    vec![histogram(2, 9.0), histogram(3, 3.0)],
                )],
            ],
            want: vec![(
                labels("h"),
                vec![],
                vec![histogram(1, 1.0), histogram(2, 2.0), histogram(3, 3.0)],
            )],
        },
    ];
    for case in cases {
        let stored: Vec<Stored> = case
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| level1(&format!("b{i}"), s))
            .collect();
        let merged = merge(&stored.iter().collect::<Vec<_>>());
        assert_eq!(read_back(&merged), case.want, "{}", case.name);
    }
}

#[test]
fn meta_takes_level_sources_and_time_union() {
    let a = level1("a", &[series("x", &[(5, 1.0)])]);
    let b = level1("b", &[series("x", &[(9, 1.0)])]);
    let ab = stored(merge(&[&a, &b]));
    let c = level1("c", &[series("y", &[(1, 1.0)])]);
    // a source whose meta claims a wider range than its samples
    let mut d = level1("d", &[series("y", &[(20, 1.0)])]);
    d.block.meta.max_time_ms = 30;
    d.meta = d.block.meta.to_json();
    let merged = merge(&[&c, &ab, &d]);
    assert_eq!(merged.meta.compaction.level, 3);
    assert_eq!(merged.meta.compaction.sources, ["a", "b", "c", "d"]);
    assert_eq!((merged.meta.min_time_ms, merged.meta.max_time_ms), (1, 30));
    assert_eq!(merged.meta.tenant, "tenant-a");
    assert_eq!(
        merged.meta.stats,
        BlockStats {
            series: 2,
            samples: 4,
            histograms: 0,
            chunks: 2
        }
    );
}

#[test]
fn refuses_sources_it_must_not_rewrite() {
    let good = level1("a", &[series("x", &[(1, 1.0)])]);
    let newer = {
        let mut meta = good.block.meta.clone();
        meta.version = BLOCK_FORMAT_VERSION + 1;
        Stored {
            meta: meta.to_json(),
            block: good.block.clone(),
        }
    };
    let other_tenant = {
        let mut s = level1("b", &[series("x", &[(1, 1.0)])]);
        s.block.meta.tenant = "tenant-b".into();
        s.meta = s.block.meta.to_json();
        s
    };
    let mut corrupt_index = level1("c", &[series("x", &[(1, 1.0)])]);
    corrupt_index.block.index[6] ^= 0xff;
    let mut corrupt_chunks = level1("d", &[series("x", &[(1, 1.0)])]);
    let last = corrupt_chunks.block.chunks.len() - 1;
    corrupt_chunks.block.chunks[last] ^= 0xff;

    let options = MetricsMergeOptions::new("m");
    let run = |sources: &[&Stored]| {
        let files: Vec<_> = sources.iter().map(|s| s.files()).collect();
        merge_blocks(&files, &options).unwrap_err()
    };
    let err = run(&[&good, &newer]);
    assert!(
        matches!(err, BlockError::UnknownMetaVersion(v) if v == BLOCK_FORMAT_VERSION + 1),
        "{err}"
    );
    assert!(run(&[&good, &other_tenant])
        .to_string()
        .contains("tenant-b"));
    assert!(matches!(run(&[]), BlockError::Corrupt(_)));
    assert!(matches!(
        run(&[&good, &corrupt_index]),
        BlockError::Checksum { .. }
    ));
    assert!(matches!(
        run(&[&corrupt_chunks, &good]),
        BlockError::Checksum { .. }
    ));
}

#[test]
fn series_longer_than_a_chunk_are_recut() {
    let long: Vec<(i64, f64)> = (0..70_000).map(|t| (t, (t % 100) as f64)).collect();
    let a = level1("a", &[series("x", &long[..40_000])]);
    let b = level1("b", &[series("x", &long[30_000..])]);
    let merged = merge(&[&a, &b]);
    assert_eq!(read_back(&merged), [series("x", &long)]);
    let index = BlockIndex::parse(&merged.index).unwrap();
    let (_, chunks) = index.series(SeriesRef(0)).unwrap();
    assert!(chunks
        .iter()
        .all(|c| c.num_samples as usize <= BLOCK_CHUNK_MAX_SAMPLES));
    assert_eq!(chunks.len(), 70_000usize.div_ceil(BLOCK_CHUNK_MAX_SAMPLES));
}

/// Per source: series index (into a small pool of names) → (timestamp → value choice).
fn arb_source() -> impl Strategy<Value = BTreeMap<usize, BTreeMap<i64, u8>>> {
    prop::collection::btree_map(
        0..5usize,
        prop::collection::btree_map(0..300i64, 0..3u8, 0..40),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn merge_reads_back_as_the_deduplicated_union(
        sources in prop::collection::vec(arb_source(), 1..4)
    ) {
        let name = |i: usize| format!("m{i}");
        let value = |c: u8| [0.5, -1.25, f64::NAN][usize::from(c)];
        let mut want: BTreeMap<Labels, BTreeMap<i64, u64>> = BTreeMap::new();
        let stored: Vec<Stored> = sources
            .iter()
            .enumerate()
            .map(|(i, source)| {
                let series: Vec<Series> = source
                    .iter()
                    .map(|(&s, samples)| {
                        let samples: Vec<(i64, f64)> =
                            samples.iter().map(|(&t, &c)| (t, value(c))).collect();
                        let entry = want.entry(labels(&name(s))).or_default();
                        for &(t, v) in &samples {
                            entry.entry(t).or_insert(v.to_bits());
                        }
                        series(&name(s), &samples)
                    })
                    .collect();
                level1(&format!("b{i}"), &series)
            })
            .collect();
        let merged = merge(&stored.iter().collect::<Vec<_>>());
        let want: Vec<Series> = want
            .into_iter()
            .map(|(l, s)| (l, s.into_iter().collect(), Vec::new()))
            .collect();
        prop_assert_eq!(read_back(&merged), want);
    }
}

/// A block of series `name` written by a plain [`BlockWriter`], which keeps each given float
/// chunk as one chunk, its samples in the order given.
fn unmerged(name: &str, chunks: &[Vec<(i64, f64)>]) -> Stored {
    let mut writer = BlockWriter::new();
    let chunks: Vec<XorChunk> = chunks.iter().flat_map(|c| xor_chunks(c)).collect();
    writer.add_series(&labels(name), &chunks).unwrap();
    stored(writer.finish(level1_source("u")))
}

#[test]
fn copies_chunks_only_when_the_slow_path_would_write_them() {
    let up = |range: std::ops::Range<i64>| -> Vec<(i64, f64)> {
        range.map(|t| (t * 1000, t as f64 / 100.0)).collect()
    };
    let with_histograms = |n: i64, sum: f64| -> Series {
        let mut s = series("a", &up(0..n));
        s.2 = (0..n).map(|t| histogram(t * 1000, sum)).collect();
        s
    };
    let changed_last = {
        let mut samples = up(0..300);
        samples[299].1 = -1.0;
        samples
    };
    let one = |s: Series| level1("r", &[s]);
    let cut = |s: Series, max: usize| level1_cut("r", &[s], max);
    // (case, sources, chunk size of the merge, whether the series is copied)
    let cases: Vec<(&str, Vec<Stored>, usize, bool)> = vec![
        (
            "three identical replicas",
            (0..3).map(|_| one(series("a", &up(0..300)))).collect(),
            480,
            true,
        ),
        (
            "a single source",
            vec![one(series("a", &up(0..300)))],
            480,
            true,
        ),
        (
            "identical replicas over several chunks, cut as the merge cuts",
            (0..3).map(|_| one(series("a", &up(0..1000)))).collect(),
            480,
            true,
        ),
        (
            "identical histograms",
            (0..2).map(|_| one(with_histograms(700, 1.0))).collect(),
            480,
            true,
        ),
        (
            "a replica misses the first sample",
            vec![one(series("a", &up(0..300))), one(series("a", &up(1..300)))],
            480,
            false,
        ),
        (
            "a replica holds another last value (same index entry)",
            vec![
                one(series("a", &up(0..300))),
                one(series("a", &changed_last)),
            ],
            480,
            false,
        ),
        (
            "a replica holds other histograms",
            vec![one(with_histograms(10, 1.0)), one(with_histograms(10, 2.0))],
            480,
            false,
        ),
        (
            "sources chunked finer than the merge",
            (0..2).map(|_| cut(series("a", &up(0..300)), 100)).collect(),
            480,
            false,
        ),
        (
            "sources chunked coarser than the merge",
            (0..2).map(|_| cut(series("a", &up(0..300)), 480)).collect(),
            100,
            false,
        ),
        (
            "histograms chunked finer than the merge",
            vec![cut((labels("a"), vec![], with_histograms(30, 1.0).2), 10)],
            480,
            false,
        ),
        (
            "samples out of order within a chunk",
            vec![unmerged("a", &[vec![(2, 1.0), (1, 1.0)]])],
            480,
            false,
        ),
        (
            "overlapping chunks of the merge's size",
            vec![unmerged("a", &[up(0..10), up(5..15)])],
            10,
            false,
        ),
        (
            "a series without samples",
            vec![unmerged("a", &[])],
            480,
            true,
        ),
    ];
    for (name, sources, max, copied) in cases {
        let files: Vec<_> = sources.iter().map(Stored::files).collect();
        let mut cursors: Vec<Cursor<'_>> = files.iter().map(|f| Cursor::open(f).unwrap()).collect();
        let (_, members) = next_series(&mut cursors).unwrap().unwrap();
        let got = copyable_chunks(&members, max).unwrap();
        assert_eq!(got.is_some(), copied, "{name}");
        let sources: Vec<&Stored> = sources.iter().collect();
        assert_eq!(
            merge_cut(&sources, max, IdenticalChunks::Copy),
            merge_cut(&sources, max, IdenticalChunks::Decode),
            "{name}"
        );
    }
}

#[test]
fn identical_replicas_merge_to_one_replica_byte_for_byte() {
    // 1000 samples: three chunks of 334, 334 and 332; every 25th series with histograms
    let data = data_set(200, 1000);
    let copies: Vec<Stored> = ["r0", "r1", "r2"]
        .iter()
        .map(|id| level1(id, &data))
        .collect();
    let merged = merge(&copies.iter().collect::<Vec<_>>());
    let one = &copies[0].block;
    assert_eq!(merged.chunks, one.chunks);
    assert_eq!(merged.index, one.index);
    assert_eq!(merged.meta.stats, one.meta.stats);
    assert_eq!(merged.meta.stats.chunks, 200 * 3 + 200 / 25);
}

#[test]
fn version_1_chunks_files_are_re_encoded() {
    let meta = include_bytes!("../testdata/v2/meta.json");
    let index = include_bytes!("../testdata/v2/index");
    let chunks = include_bytes!("../testdata/v2/chunks");
    let files = MetricsBlockSourceFiles {
        meta,
        index,
        chunks,
    };
    // the fixture's float chunks hold 120 samples: cut as a merge into 120 would cut them
    let options = MetricsMergeOptions {
        chunk_max_samples: 120,
        ..MetricsMergeOptions::new("merged")
    };
    let run = |identical| merge_blocks_with(&[files, files], &options, i64::MIN, identical);
    let merged = run(IdenticalChunks::Copy).unwrap();
    assert_eq!(merged, run(IdenticalChunks::Decode).unwrap());
    assert_ne!(
        merged.chunks[5..],
        chunks[5..],
        "decimal chunks where smaller"
    );
}

/// One series of [`copying_writes_what_the_slow_path_writes`]: timestamp → value choice, how
/// the replicas differ (0 and 1: not at all, 2: the first one lacks the first sample, 3: later
/// ones hold another last value and histogram, 4: only the first one has the series) and how
/// many histograms it has.
fn arb_replicated_series() -> impl Strategy<Value = (BTreeMap<i64, u8>, u8, i64)> {
    (
        prop::collection::btree_map(0..4000i64, 0..4u8, 0..1200),
        0..5u8,
        prop_oneof![Just(0i64), 1..700i64],
    )
}

/// The replicas of [`copying_writes_what_the_slow_path_writes`].
fn replicas(series: &[(BTreeMap<i64, u8>, u8, i64)], replicas: usize) -> Vec<Vec<Series>> {
    let value = |t: i64, c: u8| match c {
        0 => t as f64 / 100.0,
        1 => f64::NAN,
        2 => (t * 7) as f64,
        _ => 1.0 / 3.0,
    };
    (0..replicas)
        .map(|r| {
            let mut out = Vec::new();
            for (i, (samples, differ, histograms)) in series.iter().enumerate() {
                let later = r > 0;
                if later && *differ == 4 {
                    continue;
                }
                let mut values: Vec<(i64, f64)> = samples
                    .iter()
                    .map(|(&t, &c)| (t * 1000, value(t, c)))
                    .collect();
                let mut hs: Vec<Histogram> = (0..*histograms)
                    .map(|k| histogram(k * 500, k as f64))
                    .collect();
                match (later, differ) {
                    (false, 2) if !values.is_empty() => drop(values.remove(0)),
                    (true, 3) => {
                        if let Some(last) = values.last_mut() {
                            last.1 = -last.1 - 1.0;
                        }
                        if let Some(last) = hs.last_mut() {
                            last.sum += 1.0;
                        }
                    }
                    _ => {}
                }
                out.push((labels(&format!("m{i}")), floats(&values), hs));
            }
            out
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn copying_writes_what_the_slow_path_writes(
        series in prop::collection::vec(arb_replicated_series(), 1..5),
        n_replicas in 1..4usize,
        source_max in 1..600usize,
        merge_max in prop::option::of(1..600usize),
    ) {
        let merge_max = merge_max.unwrap_or(source_max);
        let stored: Vec<Stored> = replicas(&series, n_replicas)
            .iter()
            .enumerate()
            .map(|(r, s)| level1_cut(&format!("r{r}"), s, source_max))
            .collect();
        let sources: Vec<&Stored> = stored.iter().collect();
        let fast = merge_cut(&sources, merge_max, IdenticalChunks::Copy);
        let slow = merge_cut(&sources, merge_max, IdenticalChunks::Decode);
        prop_assert_eq!(read_back(&fast), read_back(&slow));
        prop_assert_eq!(&fast.meta, &slow.meta);
        prop_assert_eq!(&fast.index, &slow.index);
        prop_assert_eq!(&fast.chunks, &slow.chunks);
        let all_identical = n_replicas == 1 || series.iter().all(|s| s.1 < 2 || s.1 == 4);
        if all_identical && merge_max == source_max {
            prop_assert_eq!(&fast.index, &stored[0].block.index);
            prop_assert_eq!(&fast.chunks, &stored[0].block.chunks);
        }
    }
}

/// A `/proc/self/status` field (Linux), in KiB.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const BENCH_DIR_ENV: &str = "SEXTANT_MERGE_BENCH_DIR";

/// By hand: `cargo test --release -p sextant-metrics --lib merge_throughput -- --ignored
/// --nocapture`. Writes 3 replica blocks of 20k series x 480 samples to a tempdir, then merges
/// them in a child process (`merge_from_dir`) so its peak RSS is the merge's alone.
#[test]
#[ignore]
fn merge_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_set(20_000, 480);
    for id in ["r0", "r1", "r2"] {
        let copy = level1(id, &data);
        let path = dir.path().join(id);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("meta.json"), &copy.meta).unwrap();
        std::fs::write(path.join("index"), &copy.block.index).unwrap();
        std::fs::write(path.join("chunks"), &copy.block.chunks).unwrap();
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "block::merge::tests::merge_from_dir",
            "--exact",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(BENCH_DIR_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The measured half of [`merge_throughput`]; does nothing without its directory.
#[test]
#[ignore]
fn merge_from_dir() {
    let Some(dir) = std::env::var_os(BENCH_DIR_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let rss_start = proc_status_kib("VmRSS:");
    let read = |id: &str, file: &str| std::fs::read(dir.join(id).join(file)).unwrap();
    let files: Vec<[Vec<u8>; 3]> = ["r0", "r1", "r2"]
        .iter()
        .map(|id| [read(id, "meta.json"), read(id, "index"), read(id, "chunks")])
        .collect();
    let sources: Vec<_> = files
        .iter()
        .map(|[meta, index, chunks]| MetricsBlockSourceFiles {
            meta,
            index,
            chunks,
        })
        .collect();
    let input_bytes: usize = files.iter().flatten().map(Vec::len).sum();
    let rss_inputs = proc_status_kib("VmRSS:");
    let start = std::time::Instant::now();
    let merged = merge_blocks(&sources, &MetricsMergeOptions::new("merged")).unwrap();
    let took = start.elapsed().as_secs_f64();
    let input_samples = 3 * merged.meta.stats.samples;
    eprintln!(
        "merged 3 x {} series: {input_samples} input samples, {:.1} MB in, {:.1} MB out, \
         {took:.2} s, {:.2} M input samples/s, {:.1} MB/s in; RSS KiB: {rss_start:?} at start, \
         {rss_inputs:?} with inputs read, peak {:?}",
        merged.meta.stats.series,
        input_bytes as f64 / 1e6,
        (merged.index.len() + merged.chunks.len()) as f64 / 1e6,
        input_samples as f64 / took / 1e6,
        input_bytes as f64 / took / 1e6,
        proc_status_kib("VmHWM:"),
    );
}
