//! One compressed block of a chunk: its entries (sorted by time) encoded, then compressed with
//! snappy. The uncompressed form is, per entry: the time as a zigzag varint delta (from the
//! block's min time for the first entry, from the previous entry after), the line, the number
//! of metadata pairs and each name and value (strings as uvarint length + bytes).

use sextant_model::Labels;

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
    /// The sorted [`entry_key`]s of the entries, for blocks encoded here (the head's): a
    /// duplicate check decompresses the block only when the key is there. `None` for blocks
    /// read from bytes. 4 bytes an entry.
    pub(crate) keys: Option<Vec<u32>>,
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
        let mut keys: Vec<u32> = entries
            .iter()
            .map(|e| entry_key(e.ts_ns, &e.line))
            .collect();
        keys.sort_unstable();
        Ok(Some(CompressedBlock {
            keys: Some(keys),
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

    /// Whether an entry with this time and line may be in the block: false only when it
    /// certainly is not (no decompression).
    pub(crate) fn may_contain(&self, ts_ns: i64, line: &str) -> bool {
        let in_range = self.min_ts <= ts_ns && ts_ns <= self.max_ts;
        in_range
            && self
                .keys
                .as_ref()
                .is_none_or(|keys| keys.binary_search(&entry_key(ts_ns, line)).is_ok())
    }

    /// Whether an entry with this time and line is in the block (decompresses it unless
    /// [`CompressedBlock::may_contain`] rules it out; builds no entry).
    pub(crate) fn contains(&self, ts_ns: i64, line: &str) -> Result<bool, LogsChunkError> {
        if !self.may_contain(ts_ns, line) {
            return Ok(false);
        }
        let raw = self.decompress()?;
        let mut found = false;
        let mut none = Vec::new();
        self.decode_raw(
            &raw,
            |ts, l| {
                found |= ts == ts_ns && l == line;
                false
            },
            &mut none,
        )?;
        Ok(found)
    }

    /// Checks the CRC, decompresses and decodes every entry, checking them against the
    /// block's header (count, time range, order).
    pub(crate) fn decode(&self) -> Result<Vec<Entry>, LogsChunkError> {
        let raw = self.decompress()?;
        let mut out = Vec::with_capacity(self.entries.min(1 << 16) as usize);
        self.decode_raw(&raw, |_, _| true, &mut out)?;
        Ok(out)
    }

    /// Checks the CRC and decompresses the block: the encoded entries.
    pub(crate) fn decompress(&self) -> Result<Vec<u8>, LogsChunkError> {
        let mut raw = Vec::new();
        self.decompress_into(&mut raw)?;
        Ok(raw)
    }

    /// [`CompressedBlock::decompress`] into a reused buffer (`raw` is overwritten).
    pub(crate) fn decompress_into(&self, raw: &mut Vec<u8>) -> Result<(), LogsChunkError> {
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
        raw.resize(raw_len, 0);
        let written = snap::raw::Decoder::new()
            .decompress(&self.data, raw)
            .map_err(corrupt_snappy)?;
        raw.truncate(written);
        Ok(())
    }

    /// Decodes the block's decompressed bytes, appending to `out` the entries for which
    /// `keep(ts, line)` holds: only those are allocated. Every entry is checked against the
    /// block's header (count, time range, order), kept or not.
    pub(crate) fn decode_raw(
        &self,
        raw: &[u8],
        mut keep: impl FnMut(i64, &str) -> bool,
        out: &mut Vec<Entry>,
    ) -> Result<(), LogsChunkError> {
        let mut d = Decoder::new(raw, "block");
        // most entries carry no metadata: they share one empty label set
        let no_metadata = Labels::default();
        let mut ts = self.min_ts;
        let mut n = 0usize;
        while !d.is_empty() {
            let delta = d.varint()?;
            ts = ts.wrapping_add(delta);
            let in_order = if n == 0 { delta == 0 } else { delta >= 0 };
            if !in_order || ts > self.max_ts {
                return Err(d
                    .corrupt("entry out of order or outside the block's range")
                    .into());
            }
            n += 1;
            let line = d.str()?;
            let pairs = d.count()?;
            if !keep(ts, line) {
                for _ in 0..pairs {
                    d.str()?;
                    d.str()?;
                }
                continue;
            }
            let metadata = if pairs == 0 {
                no_metadata.clone()
            } else {
                let mut metadata = Vec::with_capacity(pairs);
                for _ in 0..pairs {
                    metadata.push((d.str()?, d.str()?));
                }
                Labels::from_pairs(metadata)
            };
            out.push(Entry {
                ts_ns: ts,
                line: line.to_owned(),
                metadata,
            });
        }
        if n == 0 || n != self.entries as usize || ts != self.max_ts {
            return Err(LogsChunkError::Corrupt(format!(
                "block holds {n} entries ending at {ts}, its header says {} ending at {}",
                self.entries, self.max_ts
            )));
        }
        Ok(())
    }
}

/// A 32-bit hash of an entry's time and line (CRC32: fast, and collisions only cost a
/// decompression).
pub(crate) fn entry_key(ts_ns: i64, line: &str) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&ts_ns.to_le_bytes());
    h.update(line.as_bytes());
    h.finalize()
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
