//! The immutable traces block, format version 1: five files encoded and decoded without I/O
//! (the caller stores and fetches the bytes; the querier reads `data` by byte ranges).
//!
//! - `meta`: [`TracesBlockMeta`], the versioned `meta.json` (times, counts, file sizes).
//! - `writer`: [`TracesBlockWriter`] takes traces in ascending ID order and produces every file
//!   ([`EncodedTracesBlock::files`], `meta.json` last).
//! - `data`: pages of consecutive traces; [`read_page`] and [`TracesPage`] decode one page.
//! - `index`: [`TracesBlockIndex`], per page its first and last trace ID and byte range.
//! - `bloom`: [`TracesBloom`], a bloom filter over the block's trace IDs (1 % false positives).
//! - `search`: [`TracesSearchColumns`], per trace and per span the fields a search filters on,
//!   giving [`TracesCandidate`]s for a [`TracesBlockFilter`], and tag names and values.
//! - `prefilter`: [`TracesPrefilter`], the conditions every trace matching a TraceQL query
//!   must meet, checked against the search columns. Candidates are then decoded and evaluated
//!   with [`crate::traceql::eval::TraceqlEvaluator`]: the prefilter never drops a match.
//! - `merge`: [`merge_traces_blocks`] merges blocks (RF replicas, overlapping ranges) into
//!   one, spans deduplicated by span ID, reading one page per source at a time.
//!
//! Trace by ID: `bloom` (may the block hold it?), `index` ([`TracesBlockIndex::page_for`]),
//! then one ranged GET of [`TracesPageRef::range`] in `data`, [`read_page`] and
//! [`TracesPage::find`]. Search: `search` ([`TracesSearchColumns::candidates`]), then the
//! pages of the candidates. Tags: [`TracesSearchColumns::tag_names`] and
//! [`TracesSearchColumns::tag_values`] fill the shared [`crate::tags`] collectors (values
//! the columns do not keep, e.g. of events, are left to decoding the pages). The search file
//! is parsed whole: about 75 bytes of memory per span (10 spans of 8 attributes each).
//! Encoding and decoding are CPU work: run them off the async runtime.
//!
//! Tests: `cargo test -p sextant-traces --lib block::` (round trips, corrupt files, the
//! prefilter against the evaluator); sizes and speeds by hand with the ignored
//! `block::tests::measure` test in release.
//!
//! Layouts (integers are LEB128 varints unless said otherwise; every binary file starts with
//! a 4-byte magic and a version byte; CRCs are big-endian CRC32 (IEEE)):
//! - `data`: `"SXTD"`, version, then pages back to back. A page is the snappy (raw format)
//!   compression of entries (trace ID 16 bytes, length, encoded OTLP `TracesData`), followed
//!   by the CRC of the compressed bytes. Pages hold about `page_bytes` of entries.
//! - `index`: `"SXTI"`, version, page count, per page: first ID, last ID (16 bytes each), the
//!   gap since the previous page's end, length, trace count; CRC of everything before.
//! - `bloom`: `"SXTB"`, version, hash count, bit count, the bits as little-endian u64 words;
//!   CRC of everything before.
//! - `search`: `"SXTS"`, version, snappy (raw) of the body; CRC of everything before. The
//!   body: the key dictionary and the string dictionary (count, then length + bytes each);
//!   per tag scope (resource, span, event, link, instrumentation) the key refs used; the
//!   distinct attributes (count; each: key ref, a type byte and the value: 0 string ref,
//!   1 int zigzag, 2 float as 8 little-endian bytes, 3 bool byte, 4 other (arrays, maps,
//!   bytes, empty values: kept without a value)); the trace count, then per trace: ID, start,
//!   duration, root service and root span name (string ref + 1, 0 = none), page, its
//!   resources (count; each: service ref + 1, attributes) and its spans (count; each:
//!   resource position in the trace, name ref, kind * 4 + status, start - trace start,
//!   duration, attributes). Attributes are a count and refs to distinct attributes, each
//!   key once (the first, as the evaluator looks them up).

mod bloom;
mod codec;
mod data;
mod index;
mod merge;
mod meta;
mod prefilter;
mod search;
mod writer;

#[cfg(test)]
mod tests;

pub use bloom::TracesBloom;
pub use data::{read_page, TracesPage};
pub use index::{TracesBlockIndex, TracesPageRef};
pub use merge::{merge_traces_blocks, TracesBlockFiles, TracesMergeTarget};
pub use meta::{TracesBlockCompaction, TracesBlockMeta, TRACES_BLOCK_FORMAT_VERSION};
pub use prefilter::TracesPrefilter;
pub use search::{TracesBlockFilter, TracesCandidate, TracesSearchColumns};
pub use writer::{EncodedTracesBlock, TracesBlockOptions, TracesBlockWriter};

use sextant_model::ErrorKind;

use crate::model::TraceId;

/// File names inside a block's directory, in upload order (`meta.json` last: a block is
/// complete once its meta exists).
pub const DATA_FILE: &str = "data";
pub const INDEX_FILE: &str = "index";
pub const BLOOM_FILE: &str = "bloom";
pub const SEARCH_FILE: &str = "search";
pub const META_FILE: &str = "meta.json";

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TracesBlockError {
    #[error("trace {next} added after {previous}: traces must be added in ascending ID order, each once")]
    UnsortedTraces { previous: TraceId, next: TraceId },
    #[error("a traces block needs at least one trace")]
    EmptyBlock,
    #[error("unknown traces block meta version {0} (this build reads version {TRACES_BLOCK_FORMAT_VERSION})")]
    UnknownMetaVersion(u32),
    #[error("unknown traces {file} format version {version}")]
    UnknownFormatVersion { file: &'static str, version: u8 },
    #[error("invalid traces block meta: {0}")]
    Meta(#[from] serde_json::Error),
    #[error("traces {file} checksum mismatch")]
    Checksum { file: &'static str },
    #[error("corrupt traces {file}: {reason}")]
    Corrupt { file: &'static str, reason: String },
    #[error("traces {file} too large: {bytes} bytes")]
    TooLarge { file: &'static str, bytes: usize },
}

impl TracesBlockError {
    /// Every block error is ours: a writer bug or corrupt storage.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    pub(crate) fn corrupt(file: &'static str, reason: impl Into<String>) -> TracesBlockError {
        TracesBlockError::Corrupt {
            file,
            reason: reason.into(),
        }
    }
}
