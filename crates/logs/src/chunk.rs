//! A stream's log chunk: entries in time-ordered blocks compressed with snappy, each block
//! with its time range, entry count and CRC, so readers skip blocks outside a time range
//! without decompressing them (Loki's chunk layout).
//!
//! [`LogsChunk`] is both the head's appendable chunk (an open, uncompressed block of entries
//! kept sorted by time, closed and compressed once it reaches the configured block size) and
//! the read side of a chunk stored in a block ([`LogsChunk::from_bytes`]). Blocks may overlap
//! in time (out-of-order writes land in the open block): readers merge by time.
//!
//! Reads that filter lines ([`LogsChunk::entries_matching`]) run the query's leading line
//! filters on the decompressed bytes and build entries only for passing lines. Blocks closed
//! in the head keep a sorted 32-bit hash of each entry's (time, line), so the duplicate
//! check of out-of-order appends ([`LogsChunk::contains`]) decompresses a block only when the
//! entry may be in it.
//!
//! The serialized chunk ([`LogsChunk::to_bytes`]), integers as varints unless noted:
//! `"SXLC"`, version u8, codec u8 (1 = snappy), block count, then per block: min time
//! (zigzag), max - min, entries, uncompressed length, line bytes, compressed length; a
//! big-endian CRC32 of everything so far; then per block its compressed bytes followed by a
//! big-endian CRC32 of them. The entry encoding inside a block is in `codec`.

mod codec;
pub(crate) mod encoding;
mod format;

#[cfg(test)]
mod tests;

use sextant_model::ErrorKind;

use crate::logql::eval::Entry;
use crate::pipeline::LogsLineFilter;

use codec::{entry_size, CompressedBlock};
use encoding::Corrupt;

/// The default uncompressed size of one block inside a chunk (Loki's `chunk_block_size`).
pub const DEFAULT_CHUNK_BLOCK_BYTES: usize = 256 << 10;
/// The default compressed size at which a chunk is closed (Loki's `chunk_target_size`).
pub const DEFAULT_CHUNK_TARGET_BYTES: usize = 1536 << 10;

/// Why chunk bytes could not be read (or an entry could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsChunkError {
    #[error("corrupt log chunk: {0}")]
    Corrupt(String),
    #[error("log chunk block checksum mismatch")]
    Checksum,
    #[error("log chunk block of {0} bytes is too large")]
    TooLarge(usize),
}

impl LogsChunkError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

impl From<Corrupt> for LogsChunkError {
    fn from(c: Corrupt) -> Self {
        LogsChunkError::Corrupt(c.0)
    }
}

/// The time range and size of one block, readable without decompressing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsChunkBlockMeta {
    pub min_ts_ns: i64,
    pub max_ts_ns: i64,
    pub entries: u32,
    pub compressed_bytes: usize,
}

/// Entry counts and sizes of (part of) a chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsChunkCounts {
    pub entries: u64,
    /// Bytes of log lines.
    pub line_bytes: u64,
}

/// Entries in compressed blocks plus, while appending, an open block.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsChunk {
    blocks: Vec<CompressedBlock>,
    /// The open block, sorted by time (equal times in arrival order).
    open: Vec<Entry>,
    /// Uncompressed size of `open` (as [`entry_size`] estimates it).
    open_bytes: usize,
    /// Size at which the open block is compressed.
    block_bytes: usize,
}

impl LogsChunk {
    /// An empty chunk whose blocks hold about `block_bytes` of uncompressed entries.
    pub fn new(block_bytes: usize) -> LogsChunk {
        LogsChunk {
            blocks: Vec::new(),
            open: Vec::new(),
            open_bytes: 0,
            block_bytes: block_bytes.max(1),
        }
    }

    /// Adds an entry (in any time order); compresses the open block once it is full.
    pub fn push(&mut self, entry: Entry) -> Result<(), LogsChunkError> {
        self.open_bytes += entry_size(&entry);
        let at = self.open.partition_point(|e| e.ts_ns <= entry.ts_ns);
        self.open.insert(at, entry);
        if self.open_bytes >= self.block_bytes {
            self.close_block()?;
        }
        Ok(())
    }

    /// Compresses the open block (a no-op when it is empty).
    pub fn close_block(&mut self) -> Result<(), LogsChunkError> {
        if let Some(block) = CompressedBlock::encode(&self.open)? {
            self.blocks.push(block);
        }
        self.open.clear();
        self.open_bytes = 0;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.open.is_empty()
    }

    /// Oldest and newest entry time (`None` when empty).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let blocks = self.blocks.iter().map(|b| (b.min_ts, b.max_ts));
        let open = self.open.first().zip(self.open.last());
        let open = open.map(|(a, b)| (a.ts_ns, b.ts_ns));
        blocks
            .chain(open)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    /// Whether some entry lies in `[start_ns, end_ns)`, to block granularity: true when a
    /// compressed block's range overlaps (no decompression).
    pub fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.blocks.iter().any(|b| b.overlaps(start_ns, end_ns))
            || self
                .open
                .iter()
                .any(|e| start_ns <= e.ts_ns && e.ts_ns < end_ns)
    }

    /// Compressed bytes so far, counting the open block uncompressed.
    pub fn size_estimate(&self) -> usize {
        self.blocks.iter().map(|b| b.data.len()).sum::<usize>() + self.open_bytes
    }

    pub fn blocks(&self) -> impl Iterator<Item = LogsChunkBlockMeta> + '_ {
        self.blocks.iter().map(|b| LogsChunkBlockMeta {
            min_ts_ns: b.min_ts,
            max_ts_ns: b.max_ts,
            entries: b.entries,
            compressed_bytes: b.data.len(),
        })
    }

    /// Whether an entry with this time and line is in the chunk: the duplicate check of
    /// out-of-order appends. Decompresses only blocks whose range holds `ts_ns` and, for
    /// blocks closed by [`LogsChunk::push`], whose entry hashes hold the entry's (so a
    /// new entry almost never decompresses anything); builds no entry.
    pub fn contains(&self, ts_ns: i64, line: &str) -> Result<bool, LogsChunkError> {
        let from = self.open.partition_point(|e| e.ts_ns < ts_ns);
        let same_ts = self.open[from..].iter().take_while(|e| e.ts_ns == ts_ns);
        if same_ts.clone().any(|e| e.line == line) {
            return Ok(true);
        }
        for b in &self.blocks {
            if b.contains(ts_ns, line)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Appends the entries in `[start_ns, end_ns)` to `out`, block by block (not merged
    /// across blocks: sort by time when the chunk may have overlapping blocks).
    pub fn entries_in(
        &self,
        start_ns: i64,
        end_ns: i64,
        out: &mut Vec<Entry>,
    ) -> Result<(), LogsChunkError> {
        match end_ns.checked_sub(1) {
            Some(last) if start_ns <= last => self.collect(start_ns, last, out),
            _ => Ok(()),
        }
    }

    /// Appends the entries in `[start_ns, end_ns)` whose line passes `filter` to `out`, block
    /// by block as [`LogsChunk::entries_in`]. A block whose decompressed bytes cannot hold a
    /// passing line ([`LogsLineFilter::may_match_within`]) is not decoded, and entries are
    /// built only for passing lines: a needle search costs little more than decompression.
    pub fn entries_matching(
        &self,
        start_ns: i64,
        end_ns: i64,
        filter: &LogsLineFilter,
        out: &mut Vec<Entry>,
    ) -> Result<(), LogsChunkError> {
        let Some(last) = end_ns.checked_sub(1).filter(|&last| start_ns <= last) else {
            return Ok(());
        };
        let keep = |ts: i64, line: &str| start_ns <= ts && ts <= last && filter.matches(line);
        let mut raw = Vec::new();
        for b in self
            .blocks
            .iter()
            .filter(|b| b.min_ts <= last && b.max_ts >= start_ns)
        {
            b.decompress_into(&mut raw)?;
            if filter.may_match_within(&raw) {
                b.decode_raw(&raw, keep, out)?;
            }
        }
        out.extend(self.open.iter().filter(|e| keep(e.ts_ns, &e.line)).cloned());
        Ok(())
    }

    /// Appends the entries in `[first, last]` (both inclusive).
    fn collect(&self, first: i64, last: i64, out: &mut Vec<Entry>) -> Result<(), LogsChunkError> {
        let within = |e: &Entry| first <= e.ts_ns && e.ts_ns <= last;
        for b in self
            .blocks
            .iter()
            .filter(|b| b.min_ts <= last && b.max_ts >= first)
        {
            out.extend(b.decode()?.into_iter().filter(within));
        }
        out.extend(self.open.iter().filter(|e| within(e)).cloned());
        Ok(())
    }

    /// Entries and line bytes of the whole chunk (no decompression).
    pub fn counts(&self) -> LogsChunkCounts {
        let blocks = self
            .blocks
            .iter()
            .map(|b| (u64::from(b.entries), b.line_bytes));
        let open = self.open.iter().map(|e| (1, e.line.len() as u64));
        let (entries, line_bytes) = blocks
            .chain(open)
            .fold((0, 0), |(n, b), (dn, db)| (n + dn, b + db));
        LogsChunkCounts {
            entries,
            line_bytes,
        }
    }

    /// Entries and line bytes in `[start_ns, end_ns)`; decompresses only the blocks that
    /// straddle a bound.
    pub fn counts_in(&self, start_ns: i64, end_ns: i64) -> Result<LogsChunkCounts, LogsChunkError> {
        let mut counts = LogsChunkCounts::default();
        let mut straddling = Vec::new();
        for b in self.blocks.iter().filter(|b| b.overlaps(start_ns, end_ns)) {
            if start_ns <= b.min_ts && b.max_ts < end_ns {
                counts.entries += u64::from(b.entries);
                counts.line_bytes += b.line_bytes;
            } else {
                straddling.extend(b.decode()?);
            }
        }
        for e in straddling.iter().chain(&self.open) {
            if start_ns <= e.ts_ns && e.ts_ns < end_ns {
                counts.entries += 1;
                counts.line_bytes += e.line.len() as u64;
            }
        }
        Ok(counts)
    }

    /// Every entry, sorted by time (equal times keep block order).
    pub fn entries(&self) -> Result<Vec<Entry>, LogsChunkError> {
        let mut out = Vec::new();
        self.collect(i64::MIN, i64::MAX, &mut out)?;
        out.sort_by_key(|e| e.ts_ns);
        Ok(out)
    }
}
