//! The data of the downsampling test: days of synthetic metrics written as raw blocks straight
//! into a filesystem bucket (`metrics/<tenant>/<id>/{index,chunks,meta.json}`, meta last, no
//! bucket index: the compactor writes it), and reading the querier's fetched-bytes counter.
//!
//! The series, [`JOBS`] × [`INSTANCES`] of each metric, one sample every [`STEP_MS`]: counters
//! `e2e_ds_requests_total` (seeded integer increments, resets at seeded times: every few
//! hours for one series in five, every few days for the others), counters `e2e_ds_cpu_seconds_total` (the same with seeded fractional increments, as
//! CPU or duration counters have) and gauges `e2e_ds_temperature` (a slow wave plus seeded
//! noise).

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use sextant_metrics::block::{BlockCompaction, BlockSource, BlockWriter, BLOCK_CHUNK_MAX_SAMPLES};
use sextant_metrics::chunk::{XorAppender, XorChunk};
use sextant_model::Labels;
use sextant_storage::new_block_id;

pub const COUNTER: &str = "e2e_ds_requests_total";
pub const SECONDS_COUNTER: &str = "e2e_ds_cpu_seconds_total";
pub const GAUGE: &str = "e2e_ds_temperature";
pub const JOBS: usize = 5;
pub const INSTANCES: usize = 5;
pub const STEP_MS: i64 = 30_000;
pub const DAY_MS: i64 = 24 * 3_600_000;
/// Samples per chunk handed to the writer (which merges them into longer ones).
const CHUNK_SAMPLES: usize = 120;

/// A small seeded hash (splitmix64) of a series and a sample index.
fn mix(series: usize, i: i64) -> u64 {
    let mut z = (series as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i as u64)
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether the counters of series `s` reset at sample `i`. Every fifth series crash-loops
/// (probability 1/600: a reset about every five hours at 30 s); the others restart about
/// every three days (1/8640).
fn resets_at(s: usize, i: i64) -> bool {
    let period = if s.is_multiple_of(5) { 600 } else { 8640 };
    mix(s, i).is_multiple_of(period)
}

/// The counter of series `s` at sample `i` (from the epoch of the data): the sum of its
/// increments since its last reset (see [`resets_at`]); `state` carries the running value
/// across calls in sample order.
pub fn counter_next(s: usize, i: i64, state: &mut f64) -> f64 {
    if resets_at(s, i) {
        *state = 0.0;
    }
    *state += ((s % 7) + 1) as f64 * (1 + mix(s + 1000, i) % 5) as f64;
    *state
}

/// The fractional counter of series `s` at sample `i`: like [`counter_next`] (same resets),
/// increments uniform in `[0, 30)` at full float precision.
pub fn seconds_next(s: usize, i: i64, state: &mut f64) -> f64 {
    if resets_at(s, i) {
        *state = 0.0;
    }
    *state += 30.0 * (mix(s + 3000, i) >> 11) as f64 / (1u64 << 53) as f64;
    *state
}

/// The gauge of series `s` at sample `i`: a daily wave plus seeded noise in tenths.
pub fn gauge(s: usize, i: i64) -> f64 {
    let phase = i as f64 * STEP_MS as f64 / DAY_MS as f64 * std::f64::consts::TAU;
    20.0 + s as f64 + 8.0 * (phase + s as f64).sin() + (mix(s + 2000, i) % 41) as f64 / 10.0
}

/// The labels of counter or gauge number `s` (`job` `j<s / INSTANCES>`, `instance`
/// `i<s % INSTANCES>`).
fn series_labels(metric: &str, s: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", metric.to_string()),
        ("instance", format!("i{}", s % INSTANCES)),
        ("job", format!("j{}", s / INSTANCES)),
    ])
}

fn chunks_of(points: &[(i64, f64)]) -> Vec<XorChunk> {
    points
        .chunks(CHUNK_SAMPLES)
        .map(|part| {
            let mut appender = XorAppender::new();
            for &(t, v) in part {
                appender.append(t, v);
            }
            appender.finish()
        })
        .collect()
}

/// What [`write_raw_days`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDays {
    pub block_ids: Vec<String>,
    pub bytes: u64,
    pub samples: u64,
}

/// Writes `days` raw blocks for `tenant` into the bucket at `bucket`, block `d` holding the
/// samples at `first_ms + k·STEP_MS` in `[first_ms + d·DAY_MS, first_ms + (d+1)·DAY_MS)`,
/// as a level-2 block (a day of compacted ingester blocks). `first_ms` must be a multiple of
/// [`STEP_MS`].
pub fn write_raw_days(
    bucket: &Path,
    tenant: &str,
    first_ms: i64,
    days: i64,
) -> Result<WrittenDays> {
    let series = JOBS * INSTANCES;
    let mut counters = vec![0.0; series];
    let mut seconds = vec![0.0; series];
    let per_day = DAY_MS / STEP_MS;
    let mut written = WrittenDays {
        block_ids: Vec::new(),
        bytes: 0,
        samples: 0,
    };
    for day in 0..days {
        let first_i = first_ms / STEP_MS + day * per_day;
        let times = |i: i64| i * STEP_MS;
        let mut all: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
        for (s, state) in counters.iter_mut().enumerate() {
            let points = (first_i..first_i + per_day)
                .map(|i| (times(i), counter_next(s, i, state)))
                .collect();
            all.push((series_labels(COUNTER, s), points));
        }
        for (s, state) in seconds.iter_mut().enumerate() {
            let points = (first_i..first_i + per_day)
                .map(|i| (times(i), seconds_next(s, i, state)))
                .collect();
            all.push((series_labels(SECONDS_COUNTER, s), points));
        }
        for s in 0..series {
            let points = (first_i..first_i + per_day)
                .map(|i| (times(i), gauge(s, i)))
                .collect();
            all.push((series_labels(GAUGE, s), points));
        }
        written.samples += all.iter().map(|(_, p)| p.len() as u64).sum::<u64>();
        let (block_id, bytes) = write_block(bucket, tenant, all, 2)?;
        written.bytes += bytes;
        written.block_ids.push(block_id);
    }
    Ok(written)
}

/// Writes a late level-1 block for `tenant` into the bucket at `bucket`: the gauges' samples
/// 15 s after each of [`write_raw_days`]' in `[from_ms, from_ms + hours)`, 100 higher (as a
/// second scrape of the targets would add, uploaded after the day was compacted and
/// downsampled). Returns its id. `from_ms` must be a multiple of [`STEP_MS`].
pub fn write_late_gauges(bucket: &Path, tenant: &str, from_ms: i64, hours: i64) -> Result<String> {
    let first_i = from_ms / STEP_MS;
    let count = hours * 3_600_000 / STEP_MS;
    let all = (0..JOBS * INSTANCES)
        .map(|s| {
            let points = (first_i..first_i + count)
                .map(|i| (i * STEP_MS + STEP_MS / 2, gauge(s, i) + 100.0))
                .collect();
            (series_labels(GAUGE, s), points)
        })
        .collect();
    Ok(write_block(bucket, tenant, all, 1)?.0)
}

/// Writes one block of `series` at compaction `level` (its own id its only source), meta
/// last; returns its id and size in bytes.
fn write_block(
    bucket: &Path,
    tenant: &str,
    mut series: Vec<(Labels, Vec<(i64, f64)>)>,
    level: u32,
) -> Result<(String, u64)> {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let block_id = new_block_id(SystemTime::now());
    let mut writer = BlockWriter::with_chunk_max_samples(BLOCK_CHUNK_MAX_SAMPLES);
    for (labels, points) in &series {
        writer
            .add_series(labels, &chunks_of(points))
            .with_context(|| format!("add {labels}"))?;
    }
    let block = writer.finish(BlockSource {
        block_id: block_id.clone(),
        tenant: tenant.to_string(),
        source_ingester: "e2e-downsampling".into(),
        compaction: BlockCompaction {
            level,
            sources: vec![block_id.clone()],
        },
    });
    let dir = bucket.join("metrics").join(tenant).join(&block_id);
    std::fs::create_dir_all(&dir)?;
    let meta = block.meta.to_json();
    let mut bytes = 0;
    for (name, data) in [
        ("index", &block.index),
        ("chunks", &block.chunks),
        ("meta.json", &meta),
    ] {
        std::fs::write(dir.join(name), data)
            .with_context(|| format!("write {}/{name}", dir.display()))?;
        bytes += data.len() as u64;
    }
    Ok((block_id, bytes))
}

/// The sum of the samples of `name` (e.g. `sextant_querier_fetched_bytes_total`) in the
/// Prometheus text `text` whose labels include `label="value"`.
pub fn metric_sum_with_label(text: &str, name: &str, label: &str, value: &str) -> f64 {
    let needle = format!("{label}=\"{value}\"");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, sample) = line.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.contains(&needle)).then(|| sample.parse::<f64>().ok())?
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_fall_at_resets_and_gauges_stay_in_range() {
        let (mut state, mut seconds_state) = (0.0, 0.0);
        let mut resets = 0;
        let (mut previous, mut previous_seconds) = (0.0, 0.0);
        for i in 0..10_000 {
            let v = counter_next(5, i, &mut state);
            let w = seconds_next(5, i, &mut seconds_state);
            if v < previous {
                resets += 1;
            }
            assert_eq!(
                v < previous,
                w < previous_seconds,
                "resets at the same samples"
            );
            (previous, previous_seconds) = (v, w);
            let g = gauge(3, i);
            assert!((15.0..=35.1).contains(&g), "{g}");
        }
        assert!((5..=40).contains(&resets), "{resets} resets");
    }

    #[test]
    fn metric_sum_with_label_picks_the_label() {
        let text = "# TYPE x counter\n\
            x_total{signal=\"metrics\",file=\"index\",resolution=\"raw\"} 10\n\
            x_total{signal=\"metrics\",file=\"chunks\",resolution=\"raw\"} 5\n\
            x_total{signal=\"metrics\",file=\"chunks\",resolution=\"1h\"} 2\n\
            y_total{resolution=\"raw\"} 100\n";
        let cases = [("raw", 15.0), ("1h", 2.0), ("5m", 0.0)];
        for (resolution, want) in cases {
            let got = metric_sum_with_label(text, "x_total", "resolution", resolution);
            assert_eq!(got, want, "{resolution}");
        }
    }

    #[test]
    fn a_day_block_round_trips_through_its_meta() {
        let bucket = tempfile::tempdir().unwrap();
        let written = write_raw_days(bucket.path(), "t", 0, 1).unwrap();
        assert_eq!(written.block_ids.len(), 1);
        assert_eq!(written.samples, 3 * 25 * 2880);
        let dir = bucket.path().join("metrics/t").join(&written.block_ids[0]);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
        assert_eq!(meta["min_time_ms"], 0);
        assert_eq!(meta["max_time_ms"], DAY_MS - STEP_MS);
        assert_eq!(meta["stats"]["series"], 75);
    }
}
