//! The immutable metrics block, format version 3 (versions 1 and 2 stay readable): `meta.json`,
//! an `index` file and a `chunks` file, encoded and decoded without I/O (the caller stores and
//! fetches the bytes).
//!
//! - `meta`: [`BlockMeta`], the versioned `meta.json`; readers dispatch on its `version`
//!   ([`BlockMeta::from_json`] rejects versions this build cannot read).
//! - `writer`: [`BlockWriter`] turns sorted series and their chunks into an [`EncodedBlock`],
//!   re-encoding float chunks in their smallest encoding ([`crate::chunk::FloatChunk::encode`])
//!   and, when built with [`BlockWriter::with_chunk_max_samples`], merging each series' float
//!   chunks into chunks of up to that many samples ([`BLOCK_CHUNK_MAX_SAMPLES`] for cut blocks).
//! - `index`: [`BlockIndex`] parses the index and answers matchers through postings.
//! - `merge`: [`merge_blocks`] merges blocks of one tenant into one, dropping replica
//!   duplicates (vertical compaction); downsampled blocks of one resolution merge with their
//!   windows combined again.
//! - `rewrite`: [`rewrite_metrics_block`] drops a block's samples older than a cutoff
//!   (retention), through the merge's walk.
//! - `downsample`: [`downsample_block`] writes a block's 5m or 1h aggregates (see
//!   [`crate::downsample`]) as a normal block whose series carry the aggregate label.
//! - `chunks`: [`read_chunk`], [`read_histogram_chunk`] and [`chunk_byte_range`] for the
//!   chunks file.
//!
//! The chunks file is `"SXCK"`, a version byte, then per chunk: the chunk length (uvarint), the
//! chunk bytes and a big-endian CRC32 of those bytes. How the bytes are encoded is in the
//! chunk's index entry ([`ChunkMeta::encoding`]): version 2 may hold XOR, decimal and histogram
//! chunks; in version 1 a float chunk is XOR and a histogram chunk a
//! [`crate::chunk::HistogramChunk`].
//!
//! Reading with byte ranges: fetch the last [`INDEX_TOC_LEN`] bytes of the index, parse them
//! with [`IndexToc::parse`], fetch [`IndexToc::body_range`] (everything before the TOC) and
//! hand both to [`BlockIndex::parse_sections`]; then fetch each chunk's
//! [`chunk_byte_range`] from the chunks file and decode it with [`read_chunk`].
//!
//! The index file is `"SXIX"`, a version byte, then three sections and a fixed-width table of
//! contents, so a reader can fetch the last [`INDEX_TOC_LEN`] bytes and then byte ranges:
//! - symbols: count, then each string as length + bytes, sorted and unique; a symbol ref is its
//!   position.
//! - series, sorted by labels (a series ref is its position): label count, (name, value) symbol
//!   refs, chunk count, the first chunk's offset in the chunks file, then per chunk its min time
//!   (relative to the block's base time for the first chunk, to the previous max time after),
//!   its duration, sample count and byte length (version 3 then adds the encoding byte of
//!   [`ChunkEncoding::as_byte`]); later offsets follow from the lengths. Version 2 follows the
//!   float chunks with the histogram chunks in the same layout (their first min time again
//!   relative to the base time).
//! - postings: per label pair, in symbol order: name and value refs, the series count and the
//!   series refs delta-encoded.
//! - TOC: big-endian u64 offsets of the three sections, the base time (i64), then a CRC32 of
//!   everything before it.

mod chunks;
mod downsample;
mod encoding;
mod index;
mod merge;
mod meta;
mod rewrite;
mod writer;

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod size_tests;
#[cfg(test)]
mod tests;

pub use chunks::{chunk_byte_range, read_chunk, read_histogram_chunk};
pub use downsample::downsample_block;
pub use index::{BlockIndex, IndexToc, INDEX_TOC_LEN};
pub use merge::{merge_blocks, MetricsBlockSourceFiles, MetricsMergeOptions};
pub use meta::{
    BlockCompaction, BlockDownsample, BlockMeta, BlockSource, BlockStats, BLOCK_FORMAT_VERSION,
    MIN_BLOCK_FORMAT_VERSION,
};
pub use rewrite::rewrite_metrics_block;
pub use writer::{BlockWriter, EncodedBlock, BLOCK_CHUNK_MAX_SAMPLES};

use sextant_model::ErrorKind;

use crate::chunk::{ChunkEncoding, ChunkError};

/// File names inside a block's directory.
pub const META_FILE: &str = "meta.json";
pub const INDEX_FILE: &str = "index";
pub const CHUNKS_FILE: &str = "chunks";

/// A series of one block: its position in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u32);

/// Where a chunk lives in the chunks file and what it covers (times inclusive, in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time: i64,
    pub max_time: i64,
    pub num_samples: u32,
    /// Offset of the chunk's entry (length prefix, bytes, CRC) in the chunks file.
    pub offset: u64,
    /// Length of the whole entry.
    pub len: u64,
    /// How the chunk's bytes are encoded.
    pub encoding: ChunkEncoding,
}

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("series with empty labels")]
    EmptyLabels,
    #[error("series {next} added after {previous}: series must be added in sorted order")]
    UnsortedSeries { previous: String, next: String },
    #[error(
        "unknown block meta version {0} (this build reads versions \
         {MIN_BLOCK_FORMAT_VERSION} to {BLOCK_FORMAT_VERSION})"
    )]
    UnknownMetaVersion(u32),
    #[error("unknown {file} format version {version}")]
    UnknownFormatVersion { file: &'static str, version: u8 },
    #[error("invalid block meta: {0}")]
    Meta(#[from] serde_json::Error),
    #[error("{file} checksum mismatch")]
    Checksum { file: &'static str },
    #[error("corrupt block: {0}")]
    Corrupt(String),
    #[error("corrupt chunk: {0}")]
    Chunk(#[from] ChunkError),
    #[error(
        "cannot downsample a block of resolution {source_ms} ms to {target_ms} ms \
         (the target must be a coarser multiple)"
    )]
    UnsupportedResolution { source_ms: i64, target_ms: i64 },
    #[error("cannot merge blocks of resolutions {a_ms} ms and {b_ms} ms")]
    MixedResolutions { a_ms: i64, b_ms: i64 },
}

impl BlockError {
    /// Every block error is ours: a writer bug or corrupt storage.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BlockError::EmptyLabels
            | BlockError::UnsortedSeries { .. }
            | BlockError::UnknownMetaVersion(_)
            | BlockError::UnknownFormatVersion { .. }
            | BlockError::Meta(_)
            | BlockError::Checksum { .. }
            | BlockError::Corrupt(_)
            | BlockError::Chunk(_)
            | BlockError::UnsupportedResolution { .. }
            | BlockError::MixedResolutions { .. } => ErrorKind::Internal,
        }
    }
}
