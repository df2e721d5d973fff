//! One compressed block of a chunk: its entries (sorted by time) encoded, then compressed with
//! snappy. The uncompressed form is, per entry: the time as a zigzag varint delta (from the
//! block's min time for the first entry, from the previous entry after), the line, the number
//! of metadata pairs and each name and value (strings as uvarint length + bytes).

use sextant_model::{Label, Labels};

use super::encoding::{put_str, put_uvarint, put_varint, Decoder};
use super::LogsChunkError;
use crate::logql::eval::Entry;

/// The largest uncompressed block a reader accepts, so corrupt sizes cannot exhaust memory.
pub(crate) const MAX_BLOCK_RAW_BYTES: usize = 64 << 20;

/// A closed block: compressed entries and what a reader needs to skip it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompressedBlock {
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) entries: u32,
    /// Uncompressed length of `data`.
    pub(crate) raw_len: u32,
    /// Bytes of the log lines in the block (what stats report).
    pub(crate) line_bytes: u64,
    pub(crate) data: Vec<u8>,
    /// CRC32 of `data`.
    pub(crate) crc: u32,
}

impl CompressedBlock {
    /// Encodes entries sorted by time (`None` when there are none).
    pub(crate) fn encode(entries: &[Entry]) -> Result<Option<CompressedBlock>, LogsChunkError> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(None);
        };
        let mut raw = Vec::with_capacity(entries.iter().map(entry_size).sum());
        let mut prev = first.ts_ns;
        for e in entries {
            put_varint(&mut raw, e.ts_ns.wrapping_sub(prev));
            prev = e.ts_ns;
            put_str(&mut raw, &e.line);
            put_uvarint(&mut raw, e.metadata.len() as u64);
            for l in &e.metadata {
                put_str(&mut raw, &l.name);
                put_str(&mut raw, &l.value);
            }
        }
        let too_large = || LogsChunkError::TooLarge(raw.len());
        let raw_len = u32::try_from(raw.len()).map_err(|_| too_large())?;
        let entries_n = u32::try_from(entries.len()).map_err(|_| too_large())?;
        let data = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .map_err(|_| too_large())?;
        Ok(Some(CompressedBlock {
            min_ts: first.ts_ns,
            max_ts: last.ts_ns,
            entries: entries_n,
            raw_len,
            line_bytes: entries.iter().map(|e| e.line.len() as u64).sum(),
            crc: crc32fast::hash(&data),
            data,
        }))
    }

    pub(crate) fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.min_ts < end_ns && self.max_ts >= start_ns
    }

    /// Checks the CRC, decompresses and decodes every entry, checking them against the
    /// block's header (count, time range, order).
    pub(crate) fn decode(&self) -> Result<Vec<Entry>, LogsChunkError> {
        if crc32fast::hash(&self.data) != self.crc {
            return Err(LogsChunkError::Checksum);
        }
        let raw_len = self.raw_len as usize;
        let declared = snap::raw::decompress_len(&self.data).map_err(corrupt_snappy)?;
        if raw_len > MAX_BLOCK_RAW_BYTES || declared != raw_len {
            return Err(LogsChunkError::Corrupt(format!(
                "block holds {declared} bytes, its header says {raw_len}"
            )));
        }
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&self.data)
            .map_err(corrupt_snappy)?;
        let mut d = Decoder::new(&raw, "block");
        let mut out = Vec::with_capacity(self.entries.min(1 << 16) as usize);
        let mut ts = self.min_ts;
        while !d.is_empty() {
            let delta = d.varint()?;
            ts = ts.wrapping_add(delta);
            let in_order = out.is_empty() && delta == 0 || !out.is_empty() && delta >= 0;
            if !in_order || ts > self.max_ts {
                return Err(d
                    .corrupt("entry out of order or outside the block's range")
                    .into());
            }
            let line = d.str()?.to_owned();
            let n = d.count()?;
            let mut metadata = Vec::with_capacity(n);
            for _ in 0..n {
                metadata.push(Label::new(d.str()?, d.str()?));
            }
            out.push(Entry {
                ts_ns: ts,
                line,
                metadata: Labels::from_pairs(metadata.into_iter().map(|l| (l.name, l.value))),
            });
        }
        if out.len() != self.entries as usize || out.last().map(|e| e.ts_ns) != Some(self.max_ts) {
            return Err(LogsChunkError::Corrupt(format!(
                "block holds {} entries ending at {:?}, its header says {} ending at {}",
                out.len(),
                out.last().map(|e| e.ts_ns),
                self.entries,
                self.max_ts
            )));
        }
        Ok(out)
    }
}

/// The uncompressed bytes an entry takes in a block (an estimate: varints counted at most).
pub(crate) fn entry_size(e: &Entry) -> usize {
    let metadata: usize = e
        .metadata
        .iter()
        .map(|l| l.name.len() + l.value.len() + 20)
        .sum();
    10 + 10 + e.line.len() + 10 + metadata
}

fn corrupt_snappy(err: snap::Error) -> LogsChunkError {
    LogsChunkError::Corrupt(format!("snappy: {err}"))
}
