//! Vertical compaction: several blocks of one tenant (typically the RF=3 replicas of one time
//! range, or adjacent ranges) merged into one block, replica duplicates removed.
//!
//! Pure and I/O-free: the caller hands in each source's three files as bytes and stores the
//! returned [`EncodedBlock`]. CPU-bound (decodes and re-encodes samples): call it from a
//! blocking pool, never on the async runtime.
//!
//! Series are merged by label set (each index is sorted, so a k-way walk suffices). Within a
//! series, float samples and native histograms from all sources are sorted by timestamp and
//! one sample per timestamp is kept: the one from the **first source in the order given**
//! (Prometheus and Mimir keep the first too). Exact replica duplicates therefore disappear, and
//! on a conflicting value the outcome is deterministic for a given source order. Float chunks
//! are re-encoded by [`BlockWriter`] (XOR or decimal, whichever is smaller).
//!
//! Fast path for replicas: when every source holding a series stores byte-identical chunks for
//! it (same index entries, same CRC-checked bytes), and those chunks are exactly how the slow
//! path would cut the series (see [`copyable_chunks`]), the first source's chunks are copied as
//! they are, without decoding, deduplicating and re-encoding the copies. Samples and meta stats
//! are always the slow path's; the bytes are too when the sources were written by this build's
//! encoders. Not for retention rewrites, nor for downsampled blocks.
//!
//! Downsampled sources (all of one resolution; mixing resolutions is an error) merge the same
//! way, and then each aggregate's windows are combined again at that resolution: a window
//! split between two sources (a sample at a block's first millisecond belongs to the window
//! ending there, in the block before) becomes one point, as in a block downsampled from the
//! merged raw data (see `super::downsample`).

use sextant_model::Labels;

use super::downsample::DownsampledMerge;
use super::writer::CHUNKS_VERSION;
use super::{
    chunk_byte_range, read_chunk, read_histogram_chunk, BlockCompaction, BlockError, BlockIndex,
    BlockMeta, BlockSource, BlockWriter, ChunkMeta, EncodedBlock, SeriesRef,
    BLOCK_CHUNK_MAX_SAMPLES,
};
use crate::chunk::{FloatChunk, FloatIterator, HistogramChunk, XorAppender, XorChunk};
use crate::write::Histogram;

#[cfg(test)]
pub(super) mod tests;

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
/// [`BlockError::UnknownMetaVersion`], never rewritten. A series whose sources all hold the
/// same chunks, cut as this merge would cut them, keeps the first source's chunk bytes instead
/// of being decoded and re-encoded (same samples, same result).
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
    merge_blocks_with(sources, options, keep_from_ms, IdenticalChunks::Copy)
}

/// What the raw merge does with a series whose sources hold identical chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdenticalChunks {
    /// Copy the first source's chunks when [`copyable_chunks`] allows it.
    Copy,
    /// Decode and re-encode like any other series (the reference the tests compare with).
    #[cfg_attr(not(test), allow(dead_code))]
    Decode,
}

fn merge_blocks_with(
    sources: &[MetricsBlockSourceFiles<'_>],
    options: &MetricsMergeOptions,
    keep_from_ms: i64,
    identical: IdenticalChunks,
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
    // chunks files of version 1 hold XOR chunks only, where this build may pick decimal
    let copy = identical == IdenticalChunks::Copy
        && keep_from_ms == i64::MIN
        && sources
            .iter()
            .all(|s| s.chunks.get(4) == Some(&CHUNKS_VERSION));
    let mut writer = BlockWriter::with_chunk_max_samples(max);
    let mut floats = Vec::new();
    let mut histograms = Vec::new();
    while let Some((labels, members)) = next_series(&mut cursors)? {
        if copy {
            if let Some((floats, histograms)) = copyable_chunks(&members, max)? {
                writer.add_encoded_series(&labels, &floats, &histograms)?;
                continue;
            }
        }
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

    /// Whether `other` stores the same chunks: index entries equal but for their offsets, and
    /// equal entry bytes (length, chunk bytes, CRC), float and histogram chunks alike.
    fn same_chunks_as(&self, other: &Member<'_>) -> bool {
        let same = |a: &[ChunkMeta], b: &[ChunkMeta]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| {
                    (x.min_time, x.max_time, x.num_samples, x.len, x.encoding)
                        == (y.min_time, y.max_time, y.num_samples, y.len, y.encoding)
                        && entry(self.chunks, x).is_some_and(|e| entry(other.chunks, y) == Some(e))
                })
        };
        same(&self.floats, &other.floats) && same(&self.histograms, &other.histograms)
    }
}

/// A chunk's whole entry in the chunks file, `None` when beyond it.
fn entry<'a>(chunks: &'a [u8], meta: &ChunkMeta) -> Option<&'a [u8]> {
    let range = chunk_byte_range(meta);
    let start = usize::try_from(range.start).ok()?;
    let end = usize::try_from(range.end).ok()?;
    chunks.get(start..end)
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

/// A series' float and histogram chunks in their stored encodings.
type EncodedChunks = (Vec<FloatChunk>, Vec<HistogramChunk>);

/// The first member's chunks, read and CRC-checked, when writing them as they are gives what
/// the slow path (decode every member, keep the first sample per timestamp, re-cut into
/// chunks of `max`, re-encode) would: every member holds the same chunks (index entries equal
/// but for the offset, entry bytes equal), the first member's float samples and its
/// histograms are each in strictly increasing time order (so deduplicating the copies gives
/// back exactly its samples, in one run), and its chunks are cut as the slow path cuts that
/// many samples ([`is_writer_cut`]). Each chunk then holds the samples the slow path would
/// encode into it, and its bytes are what this build's encoders make of them when it wrote
/// them. `None` when the series must take the slow path.
fn copyable_chunks(
    members: &[Member<'_>],
    max: usize,
) -> Result<Option<EncodedChunks>, BlockError> {
    let Some((first, others)) = members.split_first() else {
        return Ok(None);
    };
    if !is_writer_cut(&first.floats, max)
        || !is_writer_cut(&first.histograms, max)
        || !others.iter().all(|other| first.same_chunks_as(other))
    {
        return Ok(None);
    }
    let floats = first
        .floats
        .iter()
        .map(|m| read_chunk(first.chunks, m))
        .collect::<Result<Vec<_>, _>>()?;
    let histograms = first
        .histograms
        .iter()
        .map(|m| read_histogram_chunk(first.chunks, m))
        .collect::<Result<Vec<_>, _>>()?;
    let histogram_times = histograms
        .iter()
        .flat_map(HistogramChunk::histograms)
        .map(|h| h.timestamp_ms);
    if !float_times_increase(&floats)? || !strictly_increasing(histogram_times) {
        return Ok(None);
    }
    Ok(Some((floats, histograms)))
}

/// Whether chunks of these sample counts are how the slow path cuts their sum `n`: into
/// `ceil(n / max)` parts of `ceil(n / parts)` samples, the last one shorter (see
/// [`histogram_chunks`] and the writer's float re-cut). No samples, no chunks.
fn is_writer_cut(metas: &[ChunkMeta], max: usize) -> bool {
    let counts = metas.iter().map(|m| m.num_samples as usize);
    let n: usize = counts.clone().sum();
    if n == 0 {
        return metas.is_empty();
    }
    let size = n.div_ceil(n.div_ceil(max));
    let parts = n.div_ceil(size);
    let last = n - size * (parts - 1);
    metas.len() == parts
        && counts
            .enumerate()
            .all(|(i, c)| c == if i + 1 < parts { size } else { last })
}

/// Whether the chunks' samples are in strictly increasing time order, within and across
/// chunks; a decoding error is returned as the slow path would return it.
fn float_times_increase(chunks: &[FloatChunk]) -> Result<bool, BlockError> {
    let mut iters: Vec<FloatIterator<'_>> = chunks.iter().map(FloatChunk::iter).collect();
    let increasing = strictly_increasing(iters.iter_mut().flat_map(|i| i.map(|(t, _)| t)));
    match iters.iter().find_map(FloatIterator::error) {
        Some(err) => Err(err.into()),
        None => Ok(increasing),
    }
}

fn strictly_increasing(mut times: impl Iterator<Item = i64>) -> bool {
    let Some(mut last) = times.next() else {
        return true;
    };
    times.all(|t| {
        let later = t > last;
        last = t;
        later
    })
}

/// Sorts by timestamp (stable, so equal timestamps stay in source order) and keeps the first
/// item of each timestamp.
pub(super) fn keep_first_per_timestamp<T>(items: &mut Vec<T>, time: impl Fn(&T) -> i64) {
    items.sort_by_key(&time);
    items.dedup_by(|later, first| time(later) == time(first));
}

/// Sorted, unique samples as XOR chunks of up to `u16::MAX` samples; the writer re-cuts and
/// re-encodes them.
pub(super) fn xor_chunks(samples: &[(i64, f64)]) -> Vec<XorChunk> {
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
