//! 30 days of synthetic data, cut into daily raw blocks, downsampled to 5m and 1h with
//! [`downsample_block`], and queried at a 1h step through a queryable that serves each
//! resolution's aggregates: the answers equal the raw ones (within 1e-9 relative) while far
//! fewer points are read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sextant_model::{Labels, Matcher};

use super::*;
use crate::block::{
    downsample_block, BlockCompaction, BlockIndex, BlockSource, BlockWriter, EncodedBlock,
    MetricsBlockSourceFiles, MetricsMergeOptions, SeriesRef, BLOCK_CHUNK_MAX_SAMPLES,
};
use crate::chunk::XorAppender;
use crate::promql::queryable::{MemQueryable, Queryable, SelectHints};
use crate::promql::value::{EvalError, Value};
use crate::promql::{Engine, EngineOptions};

const DAY: i64 = 24 * RESOLUTION_1H_MS;
const DAYS: i64 = 30;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
const SCRAPE: i64 = 15_000;

/// Raw samples and what a store of blocks at each resolution serves, counting points read.
struct Stores {
    raw: MemQueryable,
    /// Per (resolution, aggregate): the aggregate's points with the label stripped.
    downsampled: BTreeMap<(i64, MetricsAggregate), MemQueryable>,
    /// Bytes of the stored blocks (index + chunks) per resolution (0 = raw).
    bytes: BTreeMap<i64, usize>,
    points_read: AtomicU64,
}

impl Queryable for Stores {
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, EvalError> {
        let series = match hints.downsample {
            None => self.raw.select(hints, matchers)?,
            Some(h) => {
                let store = &self.downsampled[&(h.resolution_ms, h.aggregate)];
                // the stored points are already in the aggregate's form
                let as_stored = SelectHints {
                    downsample: None,
                    ..*hints
                };
                store.select(&as_stored, matchers)?
            }
        };
        let points: usize = series
            .iter()
            .map(|s| s.floats.len() + s.histograms.len())
            .sum();
        self.points_read.fetch_add(points as u64, Ordering::Relaxed);
        Ok(series)
    }
}

/// A counter with jittered scrapes and a reset every few days, a gauge, and a counter that
/// appears on day 10 in the middle of an hour.
fn synthetic() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut seed: u64 = 11;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let labels = |name: &str| Labels::from_pairs([("__name__", name), ("job", name)]);
    let (mut counter, mut gauge, mut late) = (Vec::new(), Vec::new(), Vec::new());
    let (mut c, mut l) = (0.0, 0.0);
    let mut t = T0;
    while t < T0 + DAYS * DAY {
        t += SCRAPE + (next() * 2000.0) as i64 - 1000;
        c += (next() * 40.0).round();
        if next() < 1.0 / 20_000.0 {
            c = next() * 3.0;
        }
        counter.push((t, c));
        let hours = (t - T0) as f64 / RESOLUTION_1H_MS as f64;
        gauge.push((
            t,
            100.0 + 50.0 * (hours / 24.0 * std::f64::consts::TAU).sin() + next(),
        ));
        if t >= T0 + 10 * DAY + 1_234_567 {
            l += next();
            late.push((t, l));
        }
    }
    vec![
        (labels("c_total"), counter),
        (labels("g"), gauge),
        (labels("late_total"), late),
    ]
}

fn day_block(day: i64, series: &[(Labels, Vec<(i64, f64)>)]) -> EncodedBlock {
    let (from, to) = (T0 + day * DAY, T0 + (day + 1) * DAY);
    let mut writer = BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES);
    for (labels, samples) in series {
        let mut app = XorAppender::new();
        for &(t, f) in samples.iter().filter(|s| s.0 >= from && s.0 < to) {
            app.append(t, f);
        }
        if app.num_samples() > 0 {
            writer.add_series(labels, &[app.finish()]).unwrap();
        }
    }
    let id = format!("raw-{day}");
    writer.finish(BlockSource {
        block_id: id.clone(),
        tenant: "t".into(),
        source_ingester: "i".into(),
        compaction: BlockCompaction {
            level: 1,
            sources: vec![id],
        },
    })
}

fn downsample(block: &EncodedBlock, resolution_ms: i64) -> EncodedBlock {
    let meta = block.meta.to_json();
    let files = MetricsBlockSourceFiles {
        meta: &meta,
        index: &block.index,
        chunks: &block.chunks,
    };
    let options = MetricsMergeOptions::new(format!("{}-{resolution_ms}", block.meta.block_id));
    downsample_block(&files, resolution_ms, &options).unwrap()
}

/// Adds a downsampled block's series to the per-aggregate stores.
fn load(stores: &mut Stores, block: &EncodedBlock) {
    let resolution = block.meta.downsample.resolution_ms;
    let index = BlockIndex::parse(&block.index).unwrap();
    let mut loaded: BTreeMap<(MetricsAggregate, Labels), Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..index.num_series() {
        let (labels, chunks) = index.series(SeriesRef(i as u32)).unwrap();
        // the counter's stored series load into one, as the querier merges them
        let aggregate = match labels.get(AGGREGATE_LABEL).unwrap() {
            name if crate::downsample::COUNTER_SERIES.contains(&name) => MetricsAggregate::Counter,
            name => MetricsAggregate::parse(name).unwrap(),
        };
        let base = Labels::from_pairs(
            labels
                .iter()
                .filter(|l| l.name != AGGREGATE_LABEL)
                .map(|l| (l.name.clone(), l.value.clone())),
        );
        let points = loaded.entry((aggregate, base)).or_default();
        for meta in &chunks {
            points.extend(
                crate::block::read_chunk(&block.chunks, meta)
                    .unwrap()
                    .iter(),
            );
        }
    }
    for ((aggregate, base), mut points) in loaded {
        points.sort_by_key(|p| p.0);
        let store = stores
            .downsampled
            .entry((resolution, aggregate))
            .or_default();
        for (t, f) in points {
            store.add_float(&base, t, f);
        }
    }
}

fn stores() -> Stores {
    let series = synthetic();
    let mut stores = Stores {
        raw: MemQueryable::new(),
        downsampled: BTreeMap::new(),
        bytes: BTreeMap::new(),
        points_read: AtomicU64::new(0),
    };
    for (labels, samples) in &series {
        for &(t, f) in samples {
            stores.raw.add_float(labels, t, f);
        }
    }
    for day in 0..DAYS {
        let raw = day_block(day, &series);
        let five = downsample(&raw, RESOLUTION_5M_MS);
        let hour = downsample(&five, RESOLUTION_1H_MS);
        for block in [&raw, &five, &hour] {
            let size = block.index.len() + block.chunks.len();
            *stores
                .bytes
                .entry(block.meta.downsample.resolution_ms)
                .or_default() += size;
        }
        load(&mut stores, &five);
        load(&mut stores, &hour);
    }
    stores
}

const QUERIES: &[&str] = &[
    "rate({__name__=~\"c_total|late_total\"}[1h])",
    "increase(c_total[1d])",
    "sum(rate({__name__=~\".+_total\"}[6h]))",
    "sum_over_time(g[1h])",
    "count_over_time({job=~\".+\"}[1h])",
    "min_over_time(g[1d])",
    "max_over_time(g[3h])",
    "rate(c_total[1h] offset 1d)",
];

/// (labels, [(t, f)]) per series of a matrix, sorted.
fn points(value: Value) -> Vec<(String, Vec<(i64, f64)>)> {
    let Value::Matrix(m) = value else {
        panic!("not a matrix: {value:?}");
    };
    m.into_iter()
        .map(|s| {
            let points = s.floats.iter().map(|p| (p.t, p.f)).collect();
            (s.metric.to_string(), points)
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

// the ratio of points read is this test's report
#[allow(clippy::print_stdout)]
#[test]
fn thirty_days_downsampled_answer_like_raw_and_read_less() {
    let stores = stores();
    let (start, end, step) = (T0 + DAY, T0 + DAYS * DAY, RESOLUTION_1H_MS);
    let mut read = BTreeMap::new();
    for query in QUERIES {
        let mut answers = Vec::new();
        for max in [0, RESOLUTION_5M_MS, i64::MAX] {
            let engine = Engine::new(EngineOptions {
                max_source_resolution_ms: max,
                ..EngineOptions::default()
            });
            let before = stores.points_read.load(Ordering::Relaxed);
            let res = engine.range(&stores, query, start, end, step).unwrap();
            let after = stores.points_read.load(Ordering::Relaxed);
            *read.entry(max).or_insert(0) += after - before;
            answers.push((points(res.value), res.annotations));
        }
        let (want, want_annotations) = &answers[0];
        assert!(!want.is_empty(), "{query}");
        for (got, annotations) in &answers[1..] {
            assert_eq!(annotations, want_annotations, "{query}");
            assert_eq!(got.len(), want.len(), "{query}");
            for ((gl, gp), (wl, wp)) in got.iter().zip(want) {
                assert_eq!(gl, wl, "{query}");
                assert_eq!(gp.len(), wp.len(), "{query} {wl}");
                for (g, w) in gp.iter().zip(wp) {
                    assert!(
                        g.0 == w.0 && close(g.1, w.1),
                        "{query} {wl}: {g:?} vs {w:?}"
                    );
                }
            }
        }
    }
    let (raw, five, hour) = (read[&0], read[&RESOLUTION_5M_MS], read[&i64::MAX]);
    println!(
        "points read: raw {raw}, 5m {five} ({:.1}x fewer), 1h {hour} ({:.1}x fewer); \
         block bytes: raw {}, 5m {}, 1h {}",
        raw as f64 / five as f64,
        raw as f64 / hour as f64,
        stores.bytes[&0],
        stores.bytes[&RESOLUTION_5M_MS],
        stores.bytes[&RESOLUTION_1H_MS],
    );
    assert!(raw >= 10 * hour, "raw {raw} vs 1h {hour}");
}
