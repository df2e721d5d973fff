//! The traces write-ahead log: numbered segment files (`00000001`, `00000002`, ...) in the
//! tenant's WAL directory, rolled at a configured size. A record is
//! `[len u32 LE][crc32 u32 LE][payload]` with the CRC over the payload, and the payload is one
//! trace fragment: the 16-byte trace ID then the encoded OTLP `TracesData`. Records never span
//! segments, and every record stands alone (no checkpoints, no cross-record references), so
//! a segment can be deleted once nothing in memory came from it.
//!
//! [`WalWriter`] appends the framed records of one append with a single `write(2)` and
//! `fsync`s on [`WalWriter::sync`]; [`replay`] reads everything back, truncating each segment
//! at its first bad record (a torn tail, or corruption in an older segment) and going on with
//! the next one.

mod replay;

#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::model::TraceId;

pub(crate) use replay::replay;

/// Bytes of a record header: length, CRC.
pub(crate) const RECORD_HEADER_LEN: usize = 8;

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

/// Frames one trace fragment as a record onto `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, id: &TraceId, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len() + 16)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wal record too large"))?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(id.as_bytes());
    crc.update(data);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The result of reading one record at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordRead {
    /// A valid record and the bytes it took (header included).
    Record {
        id: TraceId,
        data: Bytes,
        len: usize,
    },
    /// Too few bytes for the record the header announces (or for a header).
    Incomplete,
    /// The record is damaged.
    Bad(&'static str),
}

/// Reads the record at the start of `buf` (a slice of a segment read whole).
pub(crate) fn decode_record(buf: &Bytes) -> RecordRead {
    let Some(header) = buf.get(..RECORD_HEADER_LEN) else {
        return RecordRead::Incomplete;
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len < 16 {
        return RecordRead::Bad("record shorter than a trace ID");
    }
    let Some(end) = RECORD_HEADER_LEN.checked_add(len) else {
        return RecordRead::Bad("record longer than memory");
    };
    let Some(payload) = buf.get(RECORD_HEADER_LEN..end) else {
        return RecordRead::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return RecordRead::Bad("checksum mismatch");
    }
    let Some(id) = TraceId::from_bytes(&payload[..16]) else {
        return RecordRead::Bad("record shorter than a trace ID");
    };
    RecordRead::Record {
        id,
        data: buf.slice(RECORD_HEADER_LEN + 16..end),
        len: end,
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
    /// Opens segment `index` in `dir` for appending (created when missing).
    pub(crate) fn open(dir: &Path, index: u32, segment_size: u64) -> io::Result<Self> {
        let file = open_segment(dir, index)?;
        let segment_bytes = file.metadata()?.len();
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            segment: index,
            segment_bytes,
        })
    }

    /// The segment new records go to.
    pub(crate) fn segment(&self) -> u32 {
        self.segment
    }

    /// Bytes in the current segment.
    pub(crate) fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Writes whole records with one `write(2)` (barring short writes), starting a new
    /// segment first when they would not fit in the current one. Returns the segment
    /// written to.
    pub(crate) fn write(&mut self, records: &[u8]) -> io::Result<u32> {
        if records.is_empty() {
            return Ok(self.segment);
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
        Ok(self.segment)
    }

    /// Flushes written records to stable storage.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes the current segment (fsynced) and starts the next one.
    pub(crate) fn roll(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        let next = self
            .segment
            .checked_add(1)
            .ok_or_else(|| io::Error::other("wal segment numbers exhausted"))?;
        self.file = open_segment(&self.dir, next)?;
        self.segment = next;
        self.segment_bytes = 0;
        Ok(())
    }
}

fn open_segment(dir: &Path, index: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, index))?;
    // make the new directory entry durable
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Deletes the segments of `dir` numbered below `keep_from`; returns how many.
pub(crate) fn delete_segments_before(dir: &Path, keep_from: u32) -> io::Result<usize> {
    let mut deleted = 0;
    for (index, path) in list_segments(dir)? {
        if index >= keep_from {
            break;
        }
        std::fs::remove_file(&path)?;
        deleted += 1;
    }
    Ok(deleted)
}
