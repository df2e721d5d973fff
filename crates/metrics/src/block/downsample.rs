//! Downsampling a block: its series' aggregates per window (see [`crate::downsample`]) written
//! as a normal metrics block (same writer, same format) whose series carry
//! [`AGGREGATE_LABEL`].
//!
//! Pure and I/O-free like [`merge_blocks`](super::merge_blocks): the caller hands in the
//! source's files and stores the returned block. CPU-bound: call it from a blocking pool.

use sextant_model::Labels;

use super::merge::{histogram_chunks, keep_first_per_timestamp, next_series, xor_chunks, Cursor};
use super::{
    read_chunk, read_histogram_chunk, BlockCompaction, BlockDownsample, BlockError, BlockIndex,
    BlockMeta, BlockSource, BlockWriter, ChunkMeta, EncodedBlock, MetricsBlockSourceFiles,
    MetricsMergeOptions, SeriesRef,
};
use crate::chunk::HistogramChunk;
use std::collections::BTreeMap;

use crate::downsample::{
    downsample_points, window_end, MetricsAggregate, AGGREGATE_COUNTER_FIRST,
    AGGREGATE_COUNTER_INNER, AGGREGATE_LABEL, AGGREGATE_RAW, COUNTER_SERIES,
};
use crate::promql::value::is_stale_nan;

#[cfg(test)]
mod tests;

/// Downsamples `src` (a raw block, or a downsampled one of a finer resolution that divides
/// `resolution_ms`) to `resolution_ms`.
///
/// From a raw block, every series `L` becomes up to six series: `L` plus
/// `AGGREGATE_LABEL` = `count`, `sum`, `min`, `max` and `counter` (float samples, staleness
/// markers left out; none when the series has no float sample) and `raw` (its native
/// histograms, copied unchanged). From a downsampled block, each aggregate series is
/// combined into the coarser windows (counts and sums add, min and max combine, counter keeps
/// its subsequence rule) and `raw` is copied.
///
/// The meta keeps the source's time range, level, tenant and sources (its own id for a
/// level-1 block), with `downsample.resolution_ms` set; the id and `source_ingester` come
/// from `target`. A source of an unknown format version is refused
/// ([`BlockError::UnknownMetaVersion`]).
pub fn downsample_block(
    src: &MetricsBlockSourceFiles<'_>,
    resolution_ms: i64,
    target: &MetricsMergeOptions,
) -> Result<EncodedBlock, BlockError> {
    let meta = BlockMeta::from_json(src.meta)?;
    let source_ms = meta.downsample.resolution_ms;
    if resolution_ms <= source_ms.max(0) || resolution_ms % source_ms.max(1) != 0 {
        return Err(BlockError::UnsupportedResolution {
            source_ms,
            target_ms: resolution_ms,
        });
    }
    let index = BlockIndex::parse(src.index)?;
    let mut out = Vec::new();
    // a downsampled source's counter points, both of its series merged, per series
    let mut counters: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..index.num_series() {
        let series = read_series(&index, src.chunks, SeriesRef(i as u32))?;
        if meta.downsample.is_raw() {
            downsample_raw(series, resolution_ms, &mut out);
            continue;
        }
        if is_counter_series(&series.labels) {
            let base = without_aggregate(&series.labels);
            counters.entry(base).or_default().extend(series.floats);
            continue;
        }
        out.push(downsample_aggregate(series, resolution_ms)?);
    }
    out.extend(counters_at(counters, resolution_ms));
    // a raw series' aggregate label sorts among its other labels
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    let sources = match meta.compaction.sources.is_empty() {
        true => vec![meta.block_id.clone()],
        false => meta.compaction.sources.clone(),
    };
    let source = BlockSource {
        block_id: target.block_id.clone(),
        tenant: meta.tenant.clone(),
        source_ingester: target.source_ingester.clone(),
        compaction: BlockCompaction {
            level: meta.compaction.level,
            sources,
        },
    };
    let range = (meta.stats.series > 0).then_some((meta.min_time_ms, meta.max_time_ms));
    let max = target.chunk_max_samples.clamp(1, usize::from(u16::MAX));
    write_block(out, source, range, resolution_ms, max)
}

/// How [`super::merge_blocks`] merges downsampled sources of one resolution: each series'
/// points from every source (one per timestamp, the first source's), then each aggregate's
/// windows combined again at the resolution, so a window split between two sources becomes
/// one point. The counter's series are collected over the whole walk (they do not sort next
/// to each other), like [`downsample_block`] does.
pub(super) struct DownsampledMerge {
    pub(super) resolution_ms: i64,
    pub(super) chunk_max_samples: usize,
    /// Points before this are dropped (a retention rewrite).
    pub(super) keep_from_ms: i64,
}

impl DownsampledMerge {
    pub(super) fn merge(
        &self,
        cursors: &mut [Cursor<'_>],
        source: BlockSource,
        range: Option<(i64, i64)>,
    ) -> Result<EncodedBlock, BlockError> {
        let mut out = Vec::new();
        let mut counters: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let (mut floats, mut histograms) = (Vec::new(), Vec::new());
        while let Some((labels, members)) = next_series(cursors)? {
            floats.clear();
            histograms.clear();
            for member in &members {
                member.read_into(&mut floats, &mut histograms)?;
            }
            floats.retain(|s| s.0 >= self.keep_from_ms);
            histograms.retain(|h| h.timestamp_ms >= self.keep_from_ms);
            keep_first_per_timestamp(&mut floats, |s| s.0);
            keep_first_per_timestamp(&mut histograms, |h| h.timestamp_ms);
            if is_counter_series(&labels) {
                let base = without_aggregate(&labels);
                counters.entry(base).or_default().extend_from_slice(&floats);
                continue;
            }
            let series = BlockSeries {
                labels,
                floats: floats.clone(),
                histograms: histogram_chunks(&histograms, self.chunk_max_samples)?,
            };
            let series = downsample_aggregate(series, self.resolution_ms)?;
            if !series.floats.is_empty() || !series.histograms.is_empty() {
                out.push(series);
            }
        }
        out.extend(counters_at(counters, self.resolution_ms));
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        let range = range.map(|(min, max)| (min.max(self.keep_from_ms), max));
        let block = write_block(
            out,
            source,
            range,
            self.resolution_ms,
            self.chunk_max_samples,
        )?;
        Ok(block)
    }
}

/// Whether a downsampled series holds part of the counter aggregate.
fn is_counter_series(labels: &Labels) -> bool {
    labels
        .get(AGGREGATE_LABEL)
        .is_some_and(|v| COUNTER_SERIES.contains(&v))
}

/// The counter aggregate at `resolution_ms` of each series' merged counter points (of any
/// of its stored series), as the series to store.
fn counters_at(
    counters: BTreeMap<Labels, Vec<(i64, f64)>>,
    resolution_ms: i64,
) -> Vec<BlockSeries> {
    let mut out = Vec::new();
    for (labels, mut points) in counters {
        points.sort_by_key(|&(t, _)| t);
        points.dedup_by_key(|p| p.0);
        let points = downsample_points(&points, resolution_ms, MetricsAggregate::Counter);
        out.extend(counter_series(&labels, points, resolution_ms));
    }
    out
}

/// One series read from the source, or to write.
struct BlockSeries {
    labels: Labels,
    floats: Vec<(i64, f64)>,
    histograms: Vec<HistogramChunk>,
}

fn read_series(index: &BlockIndex, chunks: &[u8], r: SeriesRef) -> Result<BlockSeries, BlockError> {
    let missing = || BlockError::Corrupt(format!("series {} missing from the index", r.0));
    let (labels, float_chunks) = index.series(r).ok_or_else(missing)?;
    let histogram_chunks = index.histogram_chunks(r).ok_or_else(missing)?;
    Ok(BlockSeries {
        labels,
        floats: read_floats(chunks, &float_chunks)?,
        histograms: histogram_chunks
            .iter()
            .map(|m| read_histogram_chunk(chunks, m))
            .collect::<Result<_, _>>()?,
    })
}

fn read_floats(chunks: &[u8], metas: &[ChunkMeta]) -> Result<Vec<(i64, f64)>, BlockError> {
    let mut floats = Vec::new();
    for meta in metas {
        let chunk = read_chunk(chunks, meta)?;
        let mut iter = chunk.iter();
        floats.extend(iter.by_ref());
        if let Some(err) = iter.error() {
            return Err(err.into());
        }
    }
    Ok(floats)
}

/// The aggregate series of one raw series, and its histograms as `raw`.
fn downsample_raw(series: BlockSeries, resolution_ms: i64, out: &mut Vec<BlockSeries>) {
    let floats: Vec<(i64, f64)> = series
        .floats
        .into_iter()
        .filter(|&(_, f)| !is_stale_nan(f))
        .collect();
    if !floats.is_empty() {
        let counts: Vec<(i64, f64)> = floats.iter().map(|&(t, _)| (t, 1.0)).collect();
        for aggregate in MetricsAggregate::ALL {
            let form = match aggregate {
                MetricsAggregate::Count => &counts,
                _ => &floats,
            };
            let points = downsample_points(form, resolution_ms, aggregate);
            match aggregate {
                MetricsAggregate::Counter => {
                    out.extend(counter_series(&series.labels, points, resolution_ms))
                }
                _ => out.push(BlockSeries {
                    labels: with_aggregate(&series.labels, aggregate.as_str()),
                    floats: points,
                    histograms: Vec::new(),
                }),
            }
        }
    }
    if !series.histograms.is_empty() {
        out.push(BlockSeries {
            labels: with_aggregate(&series.labels, AGGREGATE_RAW),
            floats: Vec::new(),
            histograms: series.histograms,
        });
    }
}

/// A downsampled series combined into coarser windows (`raw` copied), labels unchanged.
fn downsample_aggregate(
    series: BlockSeries,
    resolution_ms: i64,
) -> Result<BlockSeries, BlockError> {
    let value = series.labels.get(AGGREGATE_LABEL).unwrap_or("");
    if value == AGGREGATE_RAW {
        return Ok(series);
    }
    let aggregate = MetricsAggregate::parse(value).ok_or_else(|| {
        BlockError::Corrupt(format!(
            "downsampled series {} has no known {AGGREGATE_LABEL}",
            series.labels
        ))
    })?;
    Ok(BlockSeries {
        floats: downsample_points(&series.floats, resolution_ms, aggregate),
        ..series
    })
}

/// The counter aggregate's points as its stored series: each window's last point under
/// `counter`, its first (when not also its last) under [`AGGREGATE_COUNTER_FIRST`] and the
/// others under [`AGGREGATE_COUNTER_INNER`] (empty ones left out).
fn counter_series(
    labels: &Labels,
    points: Vec<(i64, f64)>,
    resolution_ms: i64,
) -> Vec<BlockSeries> {
    let (mut last, mut first, mut inner) = (Vec::new(), Vec::new(), Vec::new());
    let window =
        |i: usize| -> Option<i64> { points.get(i).map(|&(t, _)| window_end(t, resolution_ms)) };
    for (i, &point) in points.iter().enumerate() {
        let this = window(i);
        if window(i + 1) != this {
            last.push(point);
        } else if i == 0 || window(i - 1) != this {
            first.push(point);
        } else {
            inner.push(point);
        }
    }
    let parts = [
        (MetricsAggregate::Counter.as_str(), last),
        (AGGREGATE_COUNTER_FIRST, first),
        (AGGREGATE_COUNTER_INNER, inner),
    ];
    parts
        .into_iter()
        .filter(|(_, floats)| !floats.is_empty())
        .map(|(value, floats)| BlockSeries {
            labels: with_aggregate(labels, value),
            floats,
            histograms: Vec::new(),
        })
        .collect()
}

fn without_aggregate(labels: &Labels) -> Labels {
    let kept = labels
        .iter()
        .filter(|l| l.name != AGGREGATE_LABEL)
        .map(|l| (l.name.as_str(), l.value.as_str()));
    Labels::from_pairs(kept)
}

fn with_aggregate(labels: &Labels, value: &str) -> Labels {
    let pairs = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .chain([(AGGREGATE_LABEL, value)]);
    Labels::from_pairs(pairs)
}

/// Writes the sorted series as a block of `resolution_ms` named by `source`, over `range`
/// (the sources' time range) when it holds a series.
fn write_block(
    series: Vec<BlockSeries>,
    source: BlockSource,
    range: Option<(i64, i64)>,
    resolution_ms: i64,
    chunk_max_samples: usize,
) -> Result<EncodedBlock, BlockError> {
    let mut writer = BlockWriter::with_chunk_max_samples(chunk_max_samples);
    for s in &series {
        writer.add_series_with_histograms(&s.labels, &xor_chunks(&s.floats), &s.histograms)?;
    }
    let mut block = writer.finish(source);
    block.meta.downsample = BlockDownsample { resolution_ms };
    if let Some((min, max)) = range.filter(|_| block.meta.stats.series > 0) {
        block.meta.min_time_ms = min;
        block.meta.max_time_ms = max;
    }
    Ok(block)
}
