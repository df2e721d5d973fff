//! Record framing: `[type u8][len u32 LE][crc32 u32 LE][payload]`, the CRC (crc32fast, IEEE)
//! over the payload only. The type byte belongs to the engine ([`WalRecordType`]); a record
//! never spans segments.

use std::fmt::Display;
use std::io::{self, Read};

/// Bytes of a record header: type, length, CRC.
pub const RECORD_HEADER_LEN: usize = 9;

/// An engine's record types, stored as the first byte of each record.
pub trait WalRecordType: Copy + Eq {
    /// The type of a stored byte, `None` for a byte no record type has.
    fn from_byte(byte: u8) -> Option<Self>;

    /// The byte stored for this type.
    fn to_byte(self) -> u8;
}

/// Frames a record onto `out`.
pub fn encode_record<K: WalRecordType>(
    out: &mut Vec<u8>,
    kind: K,
    payload: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wal record too large"))?;
    out.push(kind.to_byte());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Where reading records stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordsEnd {
    /// Every byte was a valid record.
    Clean,
    /// The record at `offset` is bad (or cut short); nothing from it on was applied.
    Bad { offset: u64, reason: String },
}

/// Reads the records of `reader`, which holds `len` bytes (a segment), one by one without
/// holding them all in memory: `apply(type, payload)` decodes and applies one record, and its
/// error makes the record bad. A short header or payload, an unknown type or a checksum
/// mismatch is a bad record too. Counts the records applied in `records`.
pub(crate) fn read_records<K: WalRecordType, E: Display>(
    mut reader: impl Read,
    len: u64,
    records: &mut u64,
    apply: &mut impl FnMut(K, &[u8]) -> Result<(), E>,
) -> io::Result<RecordsEnd> {
    let mut offset = 0u64;
    let mut payload = Vec::new();
    let bad = |offset, reason: &str| {
        Ok(RecordsEnd::Bad {
            offset,
            reason: reason.to_owned(),
        })
    };
    while offset < len {
        let mut header = [0u8; RECORD_HEADER_LEN];
        if len - offset < RECORD_HEADER_LEN as u64 {
            return bad(offset, "partial record header");
        }
        reader.read_exact(&mut header)?;
        let payload_len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
        let crc = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
        let Some(kind) = K::from_byte(header[0]) else {
            return bad(offset, "unknown record type");
        };
        if len - offset - (RECORD_HEADER_LEN as u64) < u64::from(payload_len) {
            return bad(offset, "partial record payload");
        }
        payload.resize(payload_len as usize, 0);
        reader.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != crc {
            return bad(offset, "checksum mismatch");
        }
        if let Err(err) = apply(kind, &payload) {
            return bad(offset, &err.to_string());
        }
        *records += 1;
        offset += RECORD_HEADER_LEN as u64 + u64::from(payload_len);
    }
    Ok(RecordsEnd::Clean)
}

#[cfg(test)]
mod tests;
