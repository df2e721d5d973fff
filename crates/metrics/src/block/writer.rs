//! Encodes sorted series and their chunks into the three files of a block.

use std::collections::BTreeMap;

use sextant_model::Labels;

use super::encoding::{put_uvarint, put_varint};
use super::index::{INDEX_MAGIC, INDEX_VERSION};
use super::meta::{BlockDownsample, BlockMeta, BlockSource, BlockStats, BLOCK_FORMAT_VERSION};
use super::{BlockError, ChunkMeta};
use crate::chunk::{ChunkEncoding, FloatChunk, HistogramChunk, XorChunk};

pub(super) const CHUNKS_MAGIC: &[u8; 4] = b"SXCK";
pub(super) const CHUNKS_VERSION: u8 = 2;
pub(super) const CHUNKS_HEADER_LEN: u64 = 5;

/// The chunk size for [`BlockWriter::with_chunk_max_samples`] when cutting blocks: two hours
/// of 15 s scrapes, so a series usually has one chunk per block (longer chunks amortise the
/// chunk header and index entry; shorter ones let short queries decode less).
pub const BLOCK_CHUNK_MAX_SAMPLES: usize = 480;

/// A block ready to store: `meta.json`, `index` and `chunks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBlock {
    pub meta: BlockMeta,
    pub index: Vec<u8>,
    pub chunks: Vec<u8>,
}

/// Collects series in label order; chunk bytes go straight into the chunks file. Float chunks
/// are re-encoded in their smallest encoding, and merged when the writer was built with
/// [`BlockWriter::with_chunk_max_samples`], except those given already encoded
/// ([`BlockWriter::add_encoded_series`]), which are stored as they are.
#[derive(Debug)]
pub struct BlockWriter {
    series: Vec<WrittenSeries>,
    chunks: Vec<u8>,
    samples: u64,
    histograms: u64,
    /// Merge a series' float chunks into chunks of up to this many samples; `None` keeps the
    /// chunks as given.
    chunk_max_samples: Option<usize>,
}

#[derive(Debug)]
struct WrittenSeries {
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    histograms: Vec<ChunkMeta>,
}

impl Default for BlockWriter {
    fn default() -> Self {
        BlockWriter::new()
    }
}

impl BlockWriter {
    /// A writer that keeps each float chunk it is given as one chunk (re-encoded).
    pub fn new() -> Self {
        let mut chunks = Vec::with_capacity(1 << 16);
        chunks.extend_from_slice(CHUNKS_MAGIC);
        chunks.push(CHUNKS_VERSION);
        BlockWriter {
            series: Vec::new(),
            chunks,
            samples: 0,
            histograms: 0,
            chunk_max_samples: None,
        }
    }

    /// A writer that merges each series' float chunks into chunks of up to `max` samples
    /// (clamped to 1..=65535; [`BLOCK_CHUNK_MAX_SAMPLES`] for blocks cut from a head). Fewer,
    /// longer chunks take less space in the chunks file and the index.
    pub fn with_chunk_max_samples(max: usize) -> Self {
        BlockWriter {
            chunk_max_samples: Some(max.clamp(1, usize::from(u16::MAX))),
            ..BlockWriter::new()
        }
    }

    /// Adds a series; each call's labels must sort strictly after the previous call's.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[XorChunk]) -> Result<(), BlockError> {
        self.add_series_with_histograms(labels, chunks, &[])
    }

    /// Adds a series with float and native histogram chunks (either may be empty), in label
    /// order like [`BlockWriter::add_series`]. Float chunks are re-encoded (and merged, see
    /// [`BlockWriter::with_chunk_max_samples`]); histogram chunks are stored as they are.
    pub fn add_series_with_histograms(
        &mut self,
        labels: &Labels,
        chunks: &[XorChunk],
        histograms: &[HistogramChunk],
    ) -> Result<(), BlockError> {
        self.check_next(labels)?;
        let chunks = match self.chunk_max_samples {
            Some(max) => merge_chunks(chunks, max)?,
            None => re_encode_chunks(chunks)?,
        };
        self.push_series(labels, &chunks, histograms);
        Ok(())
    }

    /// Adds a series from chunks already in their stored encodings, in label order like
    /// [`BlockWriter::add_series`]: float and histogram chunks are stored as they are, neither
    /// re-encoded nor re-cut (whatever [`BlockWriter::with_chunk_max_samples`] says), except
    /// that empty float chunks are dropped like the other methods drop them. The caller
    /// guarantees what the writer would otherwise establish: each series' float samples (and
    /// its histograms) in strictly increasing time order across its chunks.
    pub fn add_encoded_series(
        &mut self,
        labels: &Labels,
        chunks: &[FloatChunk],
        histograms: &[HistogramChunk],
    ) -> Result<(), BlockError> {
        self.check_next(labels)?;
        self.push_series(labels, chunks, histograms);
        Ok(())
    }

    /// Refuses empty labels and labels not sorting strictly after the previous series'.
    fn check_next(&self, labels: &Labels) -> Result<(), BlockError> {
        if labels.is_empty() {
            return Err(BlockError::EmptyLabels);
        }
        match self.series.last() {
            Some(previous) if previous.labels >= *labels => Err(BlockError::UnsortedSeries {
                previous: previous.labels.to_string(),
                next: labels.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Appends the chunks' bytes (empty float chunks skipped), counts their samples and
    /// records the series.
    fn push_series(
        &mut self,
        labels: &Labels,
        chunks: &[FloatChunk],
        histograms: &[HistogramChunk],
    ) {
        let chunks = chunks
            .iter()
            .filter(|c| c.num_samples() > 0)
            .map(|c| {
                self.samples += c.num_samples() as u64;
                let (min, max, n) = (c.min_time(), c.max_time(), c.num_samples());
                self.append_chunk(c.bytes(), c.encoding(), min, max, n)
            })
            .collect();
        let histograms = histograms
            .iter()
            .map(|c| {
                self.histograms += c.num_samples() as u64;
                let (min, max, n) = (c.min_time(), c.max_time(), c.num_samples());
                self.append_chunk(c.bytes(), ChunkEncoding::Histogram, min, max, n)
            })
            .collect();
        self.series.push(WrittenSeries {
            labels: labels.clone(),
            chunks,
            histograms,
        });
    }

    fn append_chunk(
        &mut self,
        bytes: &[u8],
        encoding: ChunkEncoding,
        min_time: i64,
        max_time: i64,
        n: usize,
    ) -> ChunkMeta {
        let offset = self.chunks.len() as u64;
        put_uvarint(&mut self.chunks, bytes.len() as u64);
        self.chunks.extend_from_slice(bytes);
        self.chunks
            .extend_from_slice(&crc32fast::hash(bytes).to_be_bytes());
        ChunkMeta {
            min_time,
            max_time,
            num_samples: n as u32,
            offset,
            len: self.chunks.len() as u64 - offset,
            encoding,
        }
    }

    /// Encodes the index and fills in the meta's time range and stats.
    pub fn finish(self, source: BlockSource) -> EncodedBlock {
        let all_chunks = || {
            self.series
                .iter()
                .flat_map(|s| s.chunks.iter().chain(&s.histograms))
        };
        let min_time = all_chunks().map(|c| c.min_time).min().unwrap_or(0);
        let max_time = all_chunks().map(|c| c.max_time).max().unwrap_or(0);
        let meta = BlockMeta {
            version: BLOCK_FORMAT_VERSION,
            block_id: source.block_id,
            min_time_ms: min_time,
            max_time_ms: max_time,
            stats: BlockStats {
                series: self.series.len() as u64,
                samples: self.samples,
                histograms: self.histograms,
                chunks: all_chunks().count() as u64,
            },
            source_ingester: source.source_ingester,
            compaction: source.compaction,
            tenant: source.tenant,
            downsample: BlockDownsample::default(),
        };
        let index = encode_index(&self.series, min_time);
        EncodedBlock {
            meta,
            index,
            chunks: self.chunks,
        }
    }
}

/// Each non-empty chunk in its smallest encoding.
fn re_encode_chunks(chunks: &[XorChunk]) -> Result<Vec<FloatChunk>, BlockError> {
    let mut out = Vec::with_capacity(chunks.len());
    let mut samples = Vec::new();
    for chunk in chunks.iter().filter(|c| c.num_samples() > 0) {
        samples.clear();
        let mut iter = chunk.iter();
        samples.extend(iter.by_ref());
        if let Some(err) = iter.error() {
            return Err(err.into());
        }
        out.push(encode_float_chunk(&samples)?);
    }
    Ok(out)
}

fn encode_float_chunk(samples: &[(i64, f64)]) -> Result<FloatChunk, BlockError> {
    FloatChunk::encode(samples)
        .ok_or_else(|| BlockError::Corrupt(format!("{} samples in a chunk", samples.len())))
}

/// A series' float samples in chunks of at most `max` (at most `u16::MAX`) samples, each in
/// its smallest encoding. Samples are cut into runs of increasing timestamps (one run unless
/// the input chunks overlap), and each run into equal parts: 481 samples in chunks of up to
/// 480 become 241 + 240, not 480 + 1. Empty input chunks disappear.
fn merge_chunks(chunks: &[XorChunk], max: usize) -> Result<Vec<FloatChunk>, BlockError> {
    let mut runs: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut run: Vec<(i64, f64)> =
        Vec::with_capacity(chunks.iter().map(XorChunk::num_samples).sum());
    for chunk in chunks {
        let mut samples = chunk.iter();
        for (t, v) in samples.by_ref() {
            if run.last().is_some_and(|&(last, _)| last >= t) {
                runs.push(std::mem::take(&mut run));
            }
            run.push((t, v));
        }
        if let Some(err) = samples.error() {
            return Err(err.into());
        }
    }
    runs.push(run);
    let mut out = Vec::new();
    for run in runs.iter().filter(|r| !r.is_empty()) {
        let parts = run.len().div_ceil(max.max(1));
        for part in run.chunks(run.len().div_ceil(parts)) {
            out.push(encode_float_chunk(part)?);
        }
    }
    Ok(out)
}

fn encode_index(series: &[WrittenSeries], base_time: i64) -> Vec<u8> {
    let mut symbols: Vec<&str> = series
        .iter()
        .flat_map(|s| {
            s.labels
                .iter()
                .flat_map(|l| [l.name.as_str(), l.value.as_str()])
        })
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    // symbols holds every name and value, so the search always succeeds
    let sym = |s: &str| symbols.binary_search(&s).unwrap_or_default() as u64;

    let mut out = Vec::new();
    out.extend_from_slice(INDEX_MAGIC);
    out.push(INDEX_VERSION);

    let symbols_offset = out.len() as u64;
    put_uvarint(&mut out, symbols.len() as u64);
    for s in &symbols {
        put_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }

    let series_offset = out.len() as u64;
    let mut postings: BTreeMap<(u64, u64), Vec<u32>> = BTreeMap::new();
    put_uvarint(&mut out, series.len() as u64);
    for (id, s) in series.iter().enumerate() {
        put_uvarint(&mut out, s.labels.len() as u64);
        for l in &s.labels {
            let pair = (sym(&l.name), sym(&l.value));
            put_uvarint(&mut out, pair.0);
            put_uvarint(&mut out, pair.1);
            postings.entry(pair).or_default().push(id as u32);
        }
        put_chunk_metas(&mut out, &s.chunks, base_time);
        put_chunk_metas(&mut out, &s.histograms, base_time);
    }

    let postings_offset = out.len() as u64;
    put_uvarint(&mut out, postings.len() as u64);
    for ((name, value), ids) in &postings {
        put_uvarint(&mut out, *name);
        put_uvarint(&mut out, *value);
        put_uvarint(&mut out, ids.len() as u64);
        let mut prev = 0;
        for &id in ids {
            put_uvarint(&mut out, u64::from(id - prev));
            prev = id;
        }
    }

    for v in [symbols_offset, series_offset, postings_offset] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&base_time.to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn put_chunk_metas(out: &mut Vec<u8>, chunks: &[ChunkMeta], base_time: i64) {
    put_uvarint(out, chunks.len() as u64);
    let Some(first) = chunks.first() else {
        return;
    };
    put_uvarint(out, first.offset);
    let mut prev_time = base_time;
    for c in chunks {
        put_varint(out, c.min_time.wrapping_sub(prev_time));
        put_uvarint(out, c.max_time.wrapping_sub(c.min_time) as u64);
        put_uvarint(out, u64::from(c.num_samples));
        put_uvarint(out, c.len);
        put_uvarint(out, u64::from(c.encoding.as_byte()));
        prev_time = c.max_time;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::meta::BlockCompaction;
    use crate::block::{read_chunk, read_histogram_chunk, BlockIndex, SeriesRef};
    use crate::write::{Histogram, HistogramCount};

    fn histogram(timestamp_ms: i64) -> Histogram {
        Histogram {
            timestamp_ms,
            count: HistogramCount::Int(1),
            sum: 1.0,
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

    #[test]
    fn encoded_series_are_stored_as_they_are_and_counted() {
        let labels = |name: &str| Labels::from_pairs([("__name__", name)]);
        let chunk = |range: std::ops::Range<i64>| {
            let samples: Vec<(i64, f64)> = range.map(|t| (t, t as f64 / 10.0)).collect();
            FloatChunk::encode(&samples).unwrap()
        };
        let histograms = HistogramChunk::encode(&[histogram(1), histogram(2)]).unwrap();
        let mut writer = BlockWriter::with_chunk_max_samples(4);
        let floats = [chunk(0..10), chunk(10..10), chunk(10..15)];
        let first = std::slice::from_ref(&histograms);
        writer
            .add_encoded_series(&labels("a"), &floats, first)
            .unwrap();
        let refused = [
            (labels("a"), "same labels again"),
            (labels("0"), "labels sorting before"),
            (Labels::from_pairs::<&str, &str>([]), "empty labels"),
        ];
        for (l, why) in refused {
            let err = writer.add_encoded_series(&l, &floats, &[]);
            assert!(err.is_err(), "{why}");
        }
        writer.add_encoded_series(&labels("b"), &[], &[]).unwrap();
        let block = writer.finish(BlockSource {
            block_id: "w".into(),
            tenant: "t".into(),
            source_ingester: "i".into(),
            compaction: BlockCompaction::default(),
        });
        let want = BlockStats {
            series: 2,
            samples: 15,
            histograms: 2,
            chunks: 3,
        };
        assert_eq!(block.meta.stats, want);
        let index = BlockIndex::parse(&block.index).unwrap();
        let (_, metas) = index.series(SeriesRef(0)).unwrap();
        let read = |m| read_chunk(&block.chunks, m).unwrap();
        let stored: Vec<FloatChunk> = metas.iter().map(read).collect();
        // kept as given: not re-cut into chunks of 4, the empty one dropped
        assert_eq!(stored, [chunk(0..10), chunk(10..15)]);
        let metas = index.histogram_chunks(SeriesRef(0)).unwrap();
        let stored = read_histogram_chunk(&block.chunks, &metas[0]).unwrap();
        assert_eq!(stored, histograms);
    }
}
