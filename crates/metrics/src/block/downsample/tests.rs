//! Downsampled blocks read back through the block readers.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sextant_model::Labels;

use super::*;
use crate::block::merge::tests::{histogram, labels};
use crate::block::BLOCK_CHUNK_MAX_SAMPLES;
use crate::downsample::{RESOLUTION_1H_MS, RESOLUTION_5M_MS};
use crate::promql::value::stale_nan;
use crate::write::Histogram;

const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % RESOLUTION_1H_MS;
const MIN: i64 = 60_000;

/// A series read back or to write: float samples and histogram timestamps, by labels.
type Contents = BTreeMap<Labels, (Vec<(i64, f64)>, Vec<i64>)>;

/// A series to write: labels, float samples, histogram timestamps.
type RawSeries = (Labels, Vec<(i64, f64)>, Vec<i64>);

/// A stored block: its meta bytes and files.
struct Stored {
    meta: Vec<u8>,
    block: EncodedBlock,
}

impl Stored {
    fn new(block: EncodedBlock) -> Stored {
        Stored {
            meta: block.meta.to_json(),
            block,
        }
    }

    fn files(&self) -> MetricsBlockSourceFiles<'_> {
        MetricsBlockSourceFiles {
            meta: &self.meta,
            index: &self.block.index,
            chunks: &self.block.chunks,
        }
    }

    fn downsample(&self, resolution_ms: i64, id: &str) -> Stored {
        let options = MetricsMergeOptions::new(id);
        Stored::new(downsample_block(&self.files(), resolution_ms, &options).unwrap())
    }

    /// Every series: labels, float samples, histogram timestamps.
    fn read(&self) -> Contents {
        let index = BlockIndex::parse(&self.block.index).unwrap();
        (0..index.num_series())
            .map(|i| {
                let s = read_series(&index, &self.block.chunks, SeriesRef(i as u32)).unwrap();
                let times = s
                    .histograms
                    .iter()
                    .flat_map(|c| c.histograms())
                    .map(|h| h.timestamp_ms)
                    .collect();
                (s.labels, (s.floats, times))
            })
            .collect()
    }
}

/// A level-1 raw block holding `series`: labels, floats, histogram timestamps.
fn raw_block(series: &[RawSeries]) -> Stored {
    raw_block_named(series, "raw-1")
}

/// [`raw_block`] with the id (and only source) `id`.
fn raw_block_named(series: &[RawSeries], id: &str) -> Stored {
    let mut series = series.to_vec();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut writer = BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES);
    for (labels, floats, histogram_times) in &series {
        let histograms: Vec<Histogram> =
            histogram_times.iter().map(|&t| histogram(t, 1.5)).collect();
        let chunks: Vec<HistogramChunk> = histograms
            .chunks(100)
            .map(|part| HistogramChunk::encode(part).unwrap())
            .collect();
        writer
            .add_series_with_histograms(labels, &xor_chunks(floats), &chunks)
            .unwrap();
    }
    Stored::new(writer.finish(BlockSource {
        block_id: id.into(),
        tenant: "tenant-a".into(),
        source_ingester: "ingester-1".into(),
        compaction: BlockCompaction {
            level: 1,
            sources: vec![id.into()],
        },
    }))
}

fn aggr(name: &str, aggregate: &str) -> Labels {
    with_aggregate(&labels(name), aggregate)
}

#[test]
fn raw_series_become_one_series_per_aggregate() {
    // a counter every minute for 12 minutes with a reset at minute 7, plus a stale marker
    let mut floats: Vec<(i64, f64)> = (1..=12).map(|m| (T0 + m * MIN, m as f64)).collect();
    floats[6].1 = 0.5;
    floats.push((T0 + 13 * MIN, stale_nan()));
    let raw = raw_block(&[
        (labels("up"), floats, vec![]),
        (labels("h"), vec![], vec![T0 + MIN, T0 + 2 * MIN]),
    ]);
    let down = raw.downsample(RESOLUTION_5M_MS, "down-5m");
    let got = down.read();
    let m = |k: i64| T0 + k * MIN;
    let want: Contents = [
        (aggr("h", "raw"), (vec![], vec![m(1), m(2)])),
        (
            aggr("up", "count"),
            (vec![(m(5), 5.0), (m(10), 5.0), (m(12), 2.0)], vec![]),
        ),
        (
            aggr("up", "sum"),
            (vec![(m(5), 15.0), (m(10), 33.5), (m(12), 23.0)], vec![]),
        ),
        (
            aggr("up", "min"),
            (vec![(m(5), 1.0), (m(10), 0.5), (m(12), 11.0)], vec![]),
        ),
        (
            aggr("up", "max"),
            (vec![(m(5), 5.0), (m(10), 10.0), (m(12), 12.0)], vec![]),
        ),
        // the counter's points: each window's last under `counter`, its first under
        // `counter_first`, the others (here the low after the reset, kept because the
        // counter is back above 6 at minute 10) under `counter_inner`
        (
            aggr("up", "counter"),
            (vec![(m(5), 5.0), (m(10), 10.0), (m(12), 12.0)], vec![]),
        ),
        (
            aggr("up", "counter_first"),
            (vec![(m(1), 1.0), (m(6), 6.0), (m(11), 11.0)], vec![]),
        ),
        (aggr("up", "counter_inner"), (vec![(m(7), 0.5)], vec![])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

#[test]
fn meta_keeps_the_source_range_level_and_sources() {
    let floats: Vec<(i64, f64)> = (1..=30).map(|m| (T0 + m * MIN, 1.0)).collect();
    let raw = raw_block(&[(labels("up"), floats, vec![])]);
    let down = raw.downsample(RESOLUTION_5M_MS, "down-5m");
    let meta = &down.block.meta;
    assert_eq!(meta.block_id, "down-5m");
    assert_eq!(meta.downsample.resolution_ms, RESOLUTION_5M_MS);
    assert_eq!(
        (meta.min_time_ms, meta.max_time_ms),
        (T0 + MIN, T0 + 30 * MIN)
    );
    assert_eq!(meta.compaction.level, 1);
    assert_eq!(meta.compaction.sources, vec!["raw-1".to_string()]);
    assert_eq!(meta.tenant, "tenant-a");
    // count, counter, counter_first (each window's first sample), max, min, sum
    assert_eq!(meta.stats.series, 6);
    let parsed = BlockMeta::from_json(&down.meta).unwrap();
    assert_eq!(parsed.downsample.resolution_ms, RESOLUTION_5M_MS);
    // and 1h from the 5m block
    let hour = down.downsample(RESOLUTION_1H_MS, "down-1h");
    assert_eq!(hour.block.meta.downsample.resolution_ms, RESOLUTION_1H_MS);
    assert_eq!(
        hour.block.meta.compaction.sources,
        vec!["raw-1".to_string()]
    );
    let sum = &hour.read()[&aggr("up", "sum")].0;
    assert_eq!(sum, &vec![(T0 + 30 * MIN, 30.0)]);
}

#[test]
fn refuses_resolutions_that_are_not_coarser_multiples() {
    let raw = raw_block(&[(labels("up"), vec![(T0 + MIN, 1.0)], vec![])]);
    let five = raw.downsample(RESOLUTION_5M_MS, "five");
    let options = MetricsMergeOptions::new("x");
    let cases = [
        (raw.files(), 0),
        (raw.files(), -RESOLUTION_5M_MS),
        (five.files(), RESOLUTION_5M_MS),
        (five.files(), 7 * MIN),
        (five.files(), MIN),
    ];
    for (files, resolution) in cases {
        let err = downsample_block(&files, resolution, &options).unwrap_err();
        assert!(
            matches!(err, BlockError::UnsupportedResolution { target_ms, .. } if target_ms == resolution),
            "{resolution}: {err}"
        );
    }
}

#[test]
fn refuses_a_downsampled_series_without_a_known_aggregate() {
    let mut raw = raw_block(&[(labels("up"), vec![(T0 + MIN, 1.0)], vec![])]);
    raw.block.meta.downsample.resolution_ms = RESOLUTION_5M_MS;
    raw.meta = raw.block.meta.to_json();
    let options = MetricsMergeOptions::new("x");
    let err = downsample_block(&raw.files(), RESOLUTION_1H_MS, &options).unwrap_err();
    assert!(matches!(err, BlockError::Corrupt(_)), "{err}");
}

/// Random raw series: one-minute-ish steps with gaps, resets and NaNs.
fn arb_series() -> impl Strategy<Value = Vec<(i64, f64)>> {
    crate::downsample::tests::arb_counter_from(T0, 20_000)
}

fn union(points: &[(i64, f64)], r: i64, a: i64, b: i64) -> Vec<(i64, f64)> {
    let (lo, hi) = (T0 + a * r, T0 + b * r);
    points
        .iter()
        .copied()
        .filter(|&(t, _)| t > lo && t <= hi)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn blocks_answer_whole_windows_like_raw(raw in arb_series(), a in 0i64..24, len in 1i64..24) {
        let stored = raw_block(&[(labels("c"), raw.clone(), vec![])]);
        let five = stored.downsample(RESOLUTION_5M_MS, "five");
        let hour = five.downsample(RESOLUTION_1H_MS, "hour");
        for (block, r) in [(&five, RESOLUTION_5M_MS), (&hour, RESOLUTION_1H_MS)] {
            let series = block.read();
            let b = a + len;
            let window = union(&raw, r, a, b);
            let stored_points = |name: &str| {
                series.get(&aggr("c", name)).map(|s| s.0.clone()).unwrap_or_default()
            };
            let get = |name: &str| match name {
                // a read merges the counter's stored series
                "counter" => {
                    let mut points = stored_points("counter");
                    points.extend(stored_points("counter_first"));
                    points.extend(stored_points("counter_inner"));
                    points.sort_by_key(|p| p.0);
                    union(&points, r, a, b)
                }
                _ => union(&stored_points(name), r, a, b),
            };
            let count: f64 = get("count").iter().map(|p| p.1).sum();
            prop_assert_eq!(count, window.len() as f64);
            if window.is_empty() {
                continue;
            }
            let sum = |ps: &[(i64, f64)]| ps.iter().map(|p| p.1).sum::<f64>();
            let (raw_sum, down_sum) = (sum(&window), sum(&get("sum")));
            prop_assert!(
                (raw_sum.is_nan() && down_sum.is_nan())
                    || (raw_sum - down_sum).abs() <= 1e-9 * raw_sum.abs().max(1.0),
                "{} vs {}", raw_sum, down_sum
            );
            let min = |ps: &[(i64, f64)]| ps.iter().map(|p| p.1).filter(|f| !f.is_nan()).reduce(f64::min);
            let max = |ps: &[(i64, f64)]| ps.iter().map(|p| p.1).filter(|f| !f.is_nan()).reduce(f64::max);
            prop_assert_eq!(min(&window), min(&get("min")));
            prop_assert_eq!(max(&window), max(&get("max")));
            let (raw_inc, down_inc) = (
                crate::downsample::tests::counter_increase(&window),
                crate::downsample::tests::counter_increase(&get("counter")),
            );
            prop_assert!(
                crate::downsample::tests::same_increase(raw_inc, down_inc),
                "{:?} vs {:?}", raw_inc, down_inc
            );
        }
    }
}

/// Merges downsampled blocks through [`crate::block::merge_blocks`].
fn merge(blocks: &[&Stored], id: &str) -> Result<Stored, BlockError> {
    let files: Vec<MetricsBlockSourceFiles<'_>> = blocks.iter().map(|b| b.files()).collect();
    crate::block::merge_blocks(&files, &MetricsMergeOptions::new(id)).map(Stored::new)
}

/// The counter's points of a read block (all its stored series), by window end.
fn counter_by_window(
    contents: &Contents,
    r: i64,
) -> Vec<(i64, crate::downsample::tests::Increase)> {
    let mut points: Vec<(i64, f64)> = crate::downsample::COUNTER_SERIES
        .iter()
        .flat_map(|name| {
            contents
                .get(&aggr("c", name))
                .map(|s| s.0.clone())
                .unwrap_or_default()
        })
        .collect();
    points.sort_by_key(|p| p.0);
    points
        .chunk_by(|a, b| window_end(a.0, r) == window_end(b.0, r))
        .map(|w| {
            (
                window_end(w[0].0, r),
                crate::downsample::tests::counter_increase(w),
            )
        })
        .collect()
}

#[test]
fn merging_downsampled_blocks_keeps_the_resolution_and_combines_split_windows() {
    // one sample a minute over two hours, cut at 01:00 exactly: the sample at 01:00 belongs
    // to the window ending there, which the first block holds the rest of
    let floats: Vec<(i64, f64)> = (1..=120).map(|m| (T0 + m * MIN, m as f64)).collect();
    let cut = 59;
    let first = raw_block_named(&[(labels("c"), floats[..cut].to_vec(), vec![])], "a");
    let second = raw_block_named(&[(labels("c"), floats[cut..].to_vec(), vec![])], "b");
    let (a, b) = (
        first.downsample(RESOLUTION_1H_MS, "a-1h"),
        second.downsample(RESOLUTION_1H_MS, "b-1h"),
    );
    assert_eq!(
        b.read()[&aggr("c", "count")].0,
        vec![(T0 + 60 * MIN, 1.0), (T0 + 120 * MIN, 60.0)]
    );
    let merged = merge(&[&a, &b], "merged").unwrap();
    let meta = &merged.block.meta;
    assert_eq!(meta.downsample.resolution_ms, RESOLUTION_1H_MS);
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(
        meta.compaction.sources,
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        (meta.min_time_ms, meta.max_time_ms),
        (T0 + MIN, T0 + 120 * MIN)
    );
    let got = merged.read();
    let m = |k: i64| T0 + k * MIN;
    assert_eq!(
        got[&aggr("c", "count")].0,
        vec![(m(60), 60.0), (m(120), 60.0)]
    );
    assert_eq!(
        got[&aggr("c", "counter")].0,
        vec![(m(60), 60.0), (m(120), 120.0)]
    );
    assert_eq!(
        got[&aggr("c", "counter_first")].0,
        vec![(m(1), 1.0), (m(61), 61.0)]
    );
    assert_eq!(got.get(&aggr("c", "counter_inner")), None);
    // the same as downsampling both hours at once
    let whole =
        raw_block_named(&[(labels("c"), floats, vec![])], "w").downsample(RESOLUTION_1H_MS, "w-1h");
    assert_eq!(got, whole.read());
}

#[test]
fn merging_blocks_of_different_resolutions_is_an_error() {
    let floats: Vec<(i64, f64)> = (1..=10).map(|m| (T0 + m * MIN, m as f64)).collect();
    let raw = raw_block_named(&[(labels("c"), floats, vec![])], "a");
    let five = raw.downsample(RESOLUTION_5M_MS, "a-5m");
    let hour = five.downsample(RESOLUTION_1H_MS, "a-1h");
    for pair in [[&five, &hour], [&raw, &five]] {
        let err = merge(&pair, "x").err().expect("mixed resolutions");
        assert!(matches!(err, BlockError::MixedResolutions { .. }), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merged_downsampled_blocks_equal_downsampling_the_whole(raw in arb_series(), cut in 1usize..200) {
        let cut = cut.min(raw.len());
        let whole = raw_block_named(&[(labels("c"), raw.clone(), vec![])], "w");
        let parts = [&raw[..cut], &raw[cut..]];
        let parts: Vec<Stored> = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(i, p)| raw_block_named(&[(labels("c"), p.to_vec(), vec![])], &format!("p{i}")))
            .collect();
        for r in [RESOLUTION_5M_MS, RESOLUTION_1H_MS] {
            let want = whole.downsample(RESOLUTION_5M_MS, "w5");
            let want = if r == RESOLUTION_5M_MS { want } else { want.downsample(r, "w1h") };
            let downsampled: Vec<Stored> = parts
                .iter()
                .map(|p| {
                    let five = p.downsample(RESOLUTION_5M_MS, "p5");
                    if r == RESOLUTION_5M_MS { five } else { five.downsample(r, "p1h") }
                })
                .collect();
            let merged = merge(&downsampled.iter().collect::<Vec<_>>(), "m").unwrap();
            prop_assert_eq!(merged.block.meta.downsample.resolution_ms, r);
            let (want, got) = (want.read(), merged.read());
            for name in ["count", "sum", "min", "max"] {
                let (w, g) = (&want[&aggr("c", name)].0, &got[&aggr("c", name)].0);
                prop_assert_eq!(w.len(), g.len(), "{}", name);
                for (a, b) in w.iter().zip(g) {
                    let close = a.1 == b.1
                        || (a.1.is_nan() && b.1.is_nan())
                        || (a.1 - b.1).abs() <= 1e-9 * a.1.abs().max(b.1.abs());
                    prop_assert!(a.0 == b.0 && close, "{}: {:?} vs {:?}", name, a, b);
                }
            }
            let (w, g) = (counter_by_window(&want, r), counter_by_window(&got, r));
            prop_assert_eq!(w.len(), g.len());
            for (a, b) in w.iter().zip(&g) {
                prop_assert!(
                    a.0 == b.0 && crate::downsample::tests::same_increase(a.1, b.1),
                    "{:?} vs {:?}", a, b
                );
            }
        }
    }
}
