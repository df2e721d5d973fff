//! The logs write-ahead log, laid out like the metrics one: numbered segment files
//! (`00000001`, `00000002`, ...) in the tenant's WAL directory, rolled at a configured size. A
//! record is `[type u8][len u32 LE][crc32 u32 LE][payload]` with the CRC over the payload;
//! records never span segments. Payloads are in `codec`.
//!
//! [`WalBatch`] collects the records of one append (new streams' labels first, then
//! entries), [`WalWriter`] writes them with `write(2)` before the append's entries become
//! visible and `fsync`s on [`WalWriter::sync`]. [`replay`] reads everything back (the newest
//! checkpoint first, see [`CheckpointWriter`]), truncating a torn tail.

mod checkpoint;
mod codec;
mod replay;

#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sextant_model::Labels;

pub(crate) use checkpoint::{remove_replaced, CheckpointWriter};
pub(crate) use codec::Record;
use codec::RecordType;
pub(crate) use replay::replay;

use crate::logql::eval::Entry;

/// Bytes of a record header: type, length, CRC.
const RECORD_HEADER_LEN: usize = 9;

/// The path of segment `index` in `dir`.
pub(crate) fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// The segments in `dir`, sorted by index; other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(index) = name.parse::<u32>() {
                out.push((index, entry.path()));
            }
        }
    }
    out.sort_unstable_by_key(|(i, _)| *i);
    Ok(out)
}

/// Frames a record onto `out`.
fn encode_record(out: &mut Vec<u8>, kind: RecordType, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wal record too large"))?;
    out.push(kind as u8);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// The records of one append: a Streams record for the streams new to the WAL, then an
/// Entries record. Reused across appends to keep its allocations.
#[derive(Debug, Default)]
pub(crate) struct WalBatch {
    streams: Vec<u8>,
    entries: Vec<u8>,
    framed: Vec<u8>,
}

impl WalBatch {
    pub(crate) fn clear(&mut self) {
        self.streams.clear();
        self.entries.clear();
        self.framed.clear();
    }

    pub(crate) fn add_stream(&mut self, id: u64, labels: &Labels) {
        codec::put_stream(&mut self.streams, id, labels);
    }

    pub(crate) fn add_entries<'e>(
        &mut self,
        id: u64,
        entries: impl ExactSizeIterator<Item = &'e Entry>,
    ) {
        codec::put_entries(&mut self.entries, id, entries);
    }

    /// The framed records (empty when nothing was added).
    pub(crate) fn finish(&mut self) -> io::Result<&[u8]> {
        self.framed.clear();
        for (kind, payload) in [
            (RecordType::Streams, &self.streams),
            (RecordType::Entries, &self.entries),
        ] {
            if !payload.is_empty() {
                encode_record(&mut self.framed, kind, payload)?;
            }
        }
        Ok(&self.framed)
    }
}

/// Appends framed records to the newest segment.
#[derive(Debug)]
pub(crate) struct WalWriter {
    dir: PathBuf,
    segment_size: u64,
    file: File,
    segment: u32,
    segment_bytes: u64,
}

impl WalWriter {
    /// Starts a new segment `first_segment` in `dir` (which must exist).
    pub(crate) fn create(dir: &Path, first_segment: u32, segment_size: u64) -> io::Result<Self> {
        let file = create_segment(dir, first_segment)?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            segment: first_segment,
            segment_bytes: 0,
        })
    }

    pub(crate) fn segment(&self) -> u32 {
        self.segment
    }

    /// Writes whole records (one `write(2)` per call, barring short writes), starting a new
    /// segment first when they would not fit in the current one.
    pub(crate) fn write(&mut self, records: &[u8]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        if self.segment_bytes > 0 && self.segment_bytes + records.len() as u64 > self.segment_size {
            self.roll()?;
        }
        if let Err(err) = self.file.write_all(records) {
            // drop a partial record so later writes do not land behind garbage
            let _ = self.file.set_len(self.segment_bytes);
            return Err(err);
        }
        self.segment_bytes += records.len() as u64;
        Ok(())
    }

    /// Flushes written records to stable storage.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes the current segment (fsynced) and starts the next one.
    pub(crate) fn roll(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        let next = self.segment + 1;
        self.file = create_segment(&self.dir, next)?;
        self.segment = next;
        self.segment_bytes = 0;
        Ok(())
    }
}

fn create_segment(dir: &Path, index: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, index))?;
    // make the new directory entry durable
    File::open(dir)?.sync_all()?;
    Ok(file)
}
