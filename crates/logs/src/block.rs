//! The immutable logs block, format version 1: `meta.json`, an `index` file and a `chunks`
//! file, encoded and decoded without I/O (the caller stores and fetches the bytes).
//!
//! - `meta`: [`LogsBlockMeta`], the versioned `meta.json`.
//! - `writer`: [`LogsBlockWriter`] packs sorted streams' entries into chunks
//!   ([`crate::chunk::LogsChunk`]) and writes the index.
//! - `index`: [`LogsBlockIndex`] parses the index and answers matchers through postings.
//! - `chunks`: [`read_logs_chunk`] and [`chunk_byte_range`] for the chunks file.
//! - `merge`: [`merge_logs_blocks`] merges blocks of one tenant (RF replicas, overlapping
//!   ranges) into one, exact duplicates removed (the compactor's engine function).
//! - `rewrite`: [`rewrite_logs_block`] rewrites one block without the entries a filter
//!   selects (retention, deletion requests), through the merge's walk.
//!
//! The chunks file is `"SXLK"`, a version byte, then the serialized chunks back to back (each
//! carries its own header CRC and per-block CRCs).
//!
//! Reading with byte ranges: fetch the last [`LOGS_INDEX_TOC_LEN`] bytes of the index, parse
//! them with [`LogsIndexToc::parse`], fetch [`LogsIndexToc::body_range`] and hand both to
//! [`LogsBlockIndex::parse_sections`]; then fetch each chunk's [`chunk_byte_range`] from the
//! chunks file and decode it with [`read_logs_chunk`].
//!
//! The index file is `"SXLI"`, a version byte, three sections and a table of contents
//! (integers as varints):
//! - symbols: count, then each string as length + bytes, sorted and unique; a ref is its
//!   position.
//! - streams, sorted by labels (a stream ref is its position): label count, (name, value)
//!   symbol refs, chunk count, then per chunk: offset in the chunks file (relative to the end
//!   of the previous chunk), length, min time (zigzag), max - min, entries, line bytes.
//! - postings: pair count, then per label pair in symbol order: name and value refs, the
//!   stream count and the stream refs delta-encoded.
//! - TOC: big-endian u64 offsets of the three sections, then a big-endian CRC32 of everything
//!   before it.

mod chunks;
mod index;
mod merge;
mod meta;
mod rewrite;
mod writer;

#[cfg(test)]
mod tests;

pub use chunks::{chunk_byte_range, read_logs_chunk};
pub use index::{LogsBlockIndex, LogsIndexToc, LOGS_INDEX_TOC_LEN};
pub use merge::{merge_logs_blocks, LogsBlockFiles, LogsMergeTarget};
pub use meta::{
    LogsBlockCompaction, LogsBlockMeta, LogsBlockSource, LogsBlockStats, LOGS_BLOCK_FORMAT_VERSION,
};
pub use rewrite::rewrite_logs_block;
pub use writer::{EncodedLogsBlock, LogsBlockWriter};

use sextant_model::ErrorKind;

use crate::chunk::encoding::Corrupt;
use crate::chunk::LogsChunkError;

/// File names inside a block's directory.
pub const META_FILE: &str = "meta.json";
pub const INDEX_FILE: &str = "index";
pub const CHUNKS_FILE: &str = "chunks";

/// A stream of one block: its position in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogsStreamRef(pub u32);

/// Where a chunk lives in the chunks file and what it covers (times inclusive, in ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsChunkMeta {
    pub offset: u64,
    pub len: u64,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub entries: u32,
    /// Bytes of log lines (uncompressed).
    pub bytes: u64,
}

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LogsBlockError {
    #[error("stream with empty labels")]
    EmptyLabels,
    #[error("stream {next} added after {previous}: streams must be added in sorted order")]
    UnsortedStreams { previous: String, next: String },
    #[error("unknown logs block meta version {0} (this build reads version {LOGS_BLOCK_FORMAT_VERSION})")]
    UnknownMetaVersion(u32),
    #[error("unknown logs {file} format version {version}")]
    UnknownFormatVersion { file: &'static str, version: u8 },
    #[error("invalid logs block meta: {0}")]
    Meta(#[from] serde_json::Error),
    #[error("logs {file} checksum mismatch")]
    Checksum { file: &'static str },
    #[error("corrupt logs block: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Chunk(#[from] LogsChunkError),
}

impl LogsBlockError {
    /// Every block error is ours: a writer bug or corrupt storage.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

impl From<Corrupt> for LogsBlockError {
    fn from(c: Corrupt) -> Self {
        LogsBlockError::Corrupt(c.0)
    }
}
