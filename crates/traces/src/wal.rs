//! The traces write-ahead log, on the shared segment files of `sextant_wal` (`00000001`,
//! `00000002`, ... in the tenant's WAL directory, rolled at a configured size by
//! [`WalWriter`]) with its own framing, without a type byte as it has one record type: a
//! record is `[len u32 LE][crc32 u32 LE][payload]` with the CRC over the payload, and the payload is one
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

use std::io;
use std::path::Path;

use bytes::Bytes;

use crate::model::TraceId;

pub(crate) use replay::replay;
pub(crate) use sextant_wal::{list_segments, WalWriter};

/// Bytes of a record header: length, CRC.
pub(crate) const RECORD_HEADER_LEN: usize = 8;

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

/// Deletes the segments of `dir` numbered below `keep_from`; returns how many.
pub(crate) fn delete_segments_before(dir: &Path, keep_from: u32) -> io::Result<usize> {
    sextant_wal::delete_segments(dir, ..keep_from)
}
