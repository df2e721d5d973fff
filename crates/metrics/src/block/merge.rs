//! Vertical compaction: several blocks of one tenant (typically the RF=3 replicas of one time
//! range, or adjacent ranges) merged into one block, replica duplicates removed.
//!
//! Pure and I/O-free: the caller hands in each source's three files as bytes and stores the
//! returned [`EncodedBlock`]. CPU-bound (decodes and re-encodes every sample): call it from a
//! blocking pool, never on the async runtime.
//!
//! Series are merged by label set (each index is sorted, so a k-way walk suffices). Within a
//! series, float samples and native histograms from all sources are sorted by timestamp and
//! one sample per timestamp is kept: the one from the **first source in the order given**
//! (Prometheus and Mimir keep the first too). Exact replica duplicates therefore disappear, and
//! on a conflicting value the outcome is deterministic for a given source order. Float chunks
//! are re-encoded by [`BlockWriter`] (XOR or decimal, whichever is smaller).
//!
//! Downsampled sources (all of one resolution; mixing resolutions is an error) merge the same
//! way, and then each aggregate's windows are combined again at that resolution: a window
//! split between two sources (a sample at a block's first millisecond belongs to the window
//! ending there, in the block before) becomes one point, as in a block downsampled from the
//! merged raw data (see `super::downsample`).

use sextant_model::Labels;

use super::downsample::DownsampledMerge;
use super::{
    read_chunk, read_histogram_chunk, BlockCompaction, BlockError, BlockIndex, BlockMeta,
    BlockSource, BlockWriter, ChunkMeta, EncodedBlock, SeriesRef, BLOCK_CHUNK_MAX_SAMPLES,
};
use crate::chunk::{HistogramChunk, XorAppender, XorChunk};
use crate::write::Histogram;

#[cfg(test)]
mod tests;

/// The stored files of one source block, as fetched from storage.
#[derive(Debug, Clone, Copy)]
pub struct MetricsBlockSourceFiles<'a> {
    /// `meta.json`.
    pub meta: &'a [u8],
    /// The whole `index` file.
    pub index: &'a [u8],
    /// The whole `chunks` file.
    pub chunks: &'a [u8],
}

/// What the merged block is called and how it is chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsMergeOptions {
    /// Id of the new block.
    pub block_id: String,
    /// Written to the meta's `source_ingester` (the compactor's instance id).
    pub source_ingester: String,
    /// Float and histogram samples per output chunk (see [`BlockWriter::with_chunk_max_samples`]).
    pub chunk_max_samples: usize,
}

impl MetricsMergeOptions {
    /// Options for a block named `block_id`, chunked like blocks cut from a head.
    pub fn new(block_id: impl Into<String>) -> Self {
        MetricsMergeOptions {
            block_id: block_id.into(),
            source_ingester: "compactor".into(),
            chunk_max_samples: BLOCK_CHUNK_MAX_SAMPLES,
        }
    }
}

/// Merges `sources` (at least one, all of one tenant) into one block. The meta gets compaction
/// level max(source levels) + 1, `sources` the sorted union of the sources' `sources` (the
/// level-1 blocks it replaces) and the union of the sources' time ranges. A source whose format
/// version this build does not know (e.g. newer) is refused with
/// [`BlockError::UnknownMetaVersion`], never rewritten.
pub fn merge_blocks(
    sources: &[MetricsBlockSourceFiles<'_>],
    options: &MetricsMergeOptions,
) -> Result<EncodedBlock, BlockError> {
    merge_blocks_from(sources, options, i64::MIN)
}

/// [`merge_blocks`] keeping only samples at or after `keep_from_ms`: series left without
/// samples are dropped and the meta's min time is raised to `keep_from_ms` (the engine of
/// retention rewrites, see `super::rewrite`).
pub(super) fn merge_blocks_from(
    sources: &[MetricsBlockSourceFiles<'_>],
    options: &MetricsMergeOptions,
    keep_from_ms: i64,
) -> Result<EncodedBlock, BlockError> {
    let mut cursors = sources
        .iter()
        .map(Cursor::open)
        .collect::<Result<Vec<_>, _>>()?;
    let metas: Vec<&BlockMeta> = cursors.iter().map(|c| &c.meta).collect();
    let block_source = merged_source(&metas, options)?;
    let time_range = merged_time_range(&metas);
    let max = options.chunk_max_samples.clamp(1, usize::from(u16::MAX));
    let resolution_ms = metas[0].downsample.resolution_ms;
    if let Some(other) = metas
        .iter()
        .find(|m| m.downsample.resolution_ms != resolution_ms)
    {
        return Err(BlockError::MixedResolutions {
            a_ms: resolution_ms,
            b_ms: other.downsample.resolution_ms,
        });
    }
    if resolution_ms > 0 {
        let merged = DownsampledMerge {
            resolution_ms,
            chunk_max_samples: max,
            keep_from_ms,
        };
        return merged.merge(&mut cursors, block_source, time_range);
    }
    let mut writer = BlockWriter::with_chunk_max_samples(max);
    let mut floats = Vec::new();
    let mut histograms = Vec::new();
    while let Some((labels, members)) = next_series(&mut cursors)? {
        floats.clear();
        histograms.clear();
        for member in &members {
            member.read_into(&mut floats, &mut histograms)?;
        }
        let read = floats.len() + histograms.len();
        floats.retain(|s| s.0 >= keep_from_ms);
        histograms.retain(|h| h.timestamp_ms >= keep_from_ms);
        if read > 0 && floats.is_empty() && histograms.is_empty() {
            // every sample expired (a series stored without samples stays as it was)
            continue;
        }
        keep_first_per_timestamp(&mut floats, |s| s.0);
        keep_first_per_timestamp(&mut histograms, |h| h.timestamp_ms);
        writer.add_series_with_histograms(
            &labels,
            &xor_chunks(&floats),
            &histogram_chunks(&histograms, max)?,
        )?;
    }
    let mut block = writer.finish(block_source);
    if let Some((min, max)) = time_range.filter(|_| block.meta.stats.series > 0) {
        block.meta.min_time_ms = min.max(keep_from_ms);
        block.meta.max_time_ms = max;
    }
    Ok(block)
}

/// One source being walked in label order.
pub(super) struct Cursor<'a> {
    meta: BlockMeta,
    index: BlockIndex,
    chunks: &'a [u8],
    next: u32,
    /// The series at `next`, if any: its labels and float chunks.
    head: Option<(Labels, Vec<ChunkMeta>)>,
}

/// The chunks one source holds for the series being merged.
pub(super) struct Member<'a> {
    chunks: &'a [u8],
    floats: Vec<ChunkMeta>,
    histograms: Vec<ChunkMeta>,
}

impl<'a> Cursor<'a> {
    fn open(files: &MetricsBlockSourceFiles<'a>) -> Result<Cursor<'a>, BlockError> {
        let meta = BlockMeta::from_json(files.meta)?;
        let index = BlockIndex::parse(files.index)?;
        let head = index.series(SeriesRef(0));
        Ok(Cursor {
            meta,
            index,
            chunks: files.chunks,
            next: 0,
            head,
        })
    }

    /// Takes the head series' chunks and moves to the next series, checking the order.
    fn take(&mut self) -> Result<Member<'a>, BlockError> {
        let current = SeriesRef(self.next);
        let (labels, floats) = self.head.take().unwrap_or_default();
        let histograms = self.index.histogram_chunks(current).unwrap_or_default();
        self.next += 1;
        self.head = self.index.series(SeriesRef(self.next));
        if let Some((next, _)) = &self.head {
            if *next <= labels {
                return Err(BlockError::UnsortedSeries {
                    previous: labels.to_string(),
                    next: next.to_string(),
                });
            }
        }
        Ok(Member {
            chunks: self.chunks,
            floats,
            histograms,
        })
    }
}

impl Member<'_> {
    /// Appends the member's float samples and histograms (unsorted across members).
    pub(super) fn read_into(
        &self,
        floats: &mut Vec<(i64, f64)>,
        histograms: &mut Vec<Histogram>,
    ) -> Result<(), BlockError> {
        for meta in &self.floats {
            let chunk = read_chunk(self.chunks, meta)?;
            let mut iter = chunk.iter();
            floats.extend(iter.by_ref());
            if let Some(err) = iter.error() {
                return Err(err.into());
            }
        }
        for meta in &self.histograms {
            histograms.extend(read_histogram_chunk(self.chunks, meta)?.histograms());
        }
        Ok(())
    }
}

/// The smallest label set among the cursors' heads and every source's chunks for it (in source
/// order); `None` when all sources are exhausted.
pub(super) fn next_series<'a>(
    cursors: &mut [Cursor<'a>],
) -> Result<Option<(Labels, Vec<Member<'a>>)>, BlockError> {
    let Some(labels) = cursors
        .iter()
        .filter_map(|c| c.head.as_ref().map(|(l, _)| l))
        .min()
        .cloned()
    else {
        return Ok(None);
    };
    let mut members = Vec::new();
    for cursor in cursors.iter_mut() {
        if cursor.head.as_ref().is_some_and(|(l, _)| *l == labels) {
            members.push(cursor.take()?);
        }
    }
    Ok(Some((labels, members)))
}

/// Sorts by timestamp (stable, so equal timestamps stay in source order) and keeps the first
/// item of each timestamp.
pub(super) fn keep_first_per_timestamp<T>(items: &mut Vec<T>, time: impl Fn(&T) -> i64) {
    items.sort_by_key(&time);
    items.dedup_by(|later, first| time(later) == time(first));
}

/// Sorted, unique samples as XOR chunks of up to `u16::MAX` samples; the writer re-cuts and
/// re-encodes them.
fn xor_chunks(samples: &[(i64, f64)]) -> Vec<XorChunk> {
    samples
        .chunks(usize::from(u16::MAX))
        .map(|part| {
            let mut app = XorAppender::new();
            for &(t, v) in part {
                // a part holds at most u16::MAX samples, which always fit
                app.append(t, v);
            }
            app.finish()
        })
        .collect()
}

/// Sorted, unique histograms in equal chunks of at most `max` (≤ `u16::MAX`), like the
/// writer cuts float chunks.
pub(super) fn histogram_chunks(
    histograms: &[Histogram],
    max: usize,
) -> Result<Vec<HistogramChunk>, BlockError> {
    if histograms.is_empty() {
        return Ok(Vec::new());
    }
    let parts = histograms.len().div_ceil(max);
    histograms
        .chunks(histograms.len().div_ceil(parts))
        .map(|part| {
            HistogramChunk::encode(part)
                .ok_or_else(|| BlockError::Corrupt(format!("{} histograms in a chunk", part.len())))
        })
        .collect()
}

/// The new block's identity: one tenant, level max + 1, the union of the sources' sources.
fn merged_source(
    metas: &[&BlockMeta],
    options: &MetricsMergeOptions,
) -> Result<BlockSource, BlockError> {
    let Some(first) = metas.first() else {
        return Err(BlockError::Corrupt("no source blocks to merge".into()));
    };
    if let Some(other) = metas.iter().find(|m| m.tenant != first.tenant) {
        return Err(BlockError::Corrupt(format!(
            "cannot merge blocks of tenants {:?} and {:?}",
            first.tenant, other.tenant
        )));
    }
    let level = metas.iter().map(|m| m.compaction.level).max().unwrap_or(0) + 1;
    let mut sources: Vec<String> = metas
        .iter()
        .flat_map(|m| match m.compaction.sources.is_empty() {
            true => std::slice::from_ref(&m.block_id),
            false => m.compaction.sources.as_slice(),
        })
        .cloned()
        .collect();
    sources.sort_unstable();
    sources.dedup();
    Ok(BlockSource {
        block_id: options.block_id.clone(),
        tenant: first.tenant.clone(),
        source_ingester: options.source_ingester.clone(),
        compaction: BlockCompaction { level, sources },
    })
}

/// The union of the time ranges of the sources that hold any series.
fn merged_time_range(metas: &[&BlockMeta]) -> Option<(i64, i64)> {
    metas
        .iter()
        .filter(|m| m.stats.series > 0)
        .map(|m| (m.min_time_ms, m.max_time_ms))
        .reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))
}
