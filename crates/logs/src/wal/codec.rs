//! Payloads of WAL records. Integers little endian, strings as u32 length + bytes:
//!
//! - Streams: repeated `id u64, n u32, n × (name, value)`: a stream's labels, once per id.
//! - Entries: repeated `id u64, count u32, count × (ts i64, line, n u32, n × (name, value))`:
//!   entries of one stream with their structured metadata.

use sextant_model::Labels;
use sextant_wal::WalRecordType;

use crate::logql::eval::Entry;

/// A record type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordType {
    Streams = 1,
    Entries = 2,
}

impl WalRecordType for RecordType {
    fn from_byte(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Streams),
            2 => Some(RecordType::Entries),
            _ => None,
        }
    }

    fn to_byte(self) -> u8 {
        self as u8
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    Streams(Vec<(u64, Labels)>),
    Entries(Vec<(u64, Vec<Entry>)>),
}

/// Payload bytes ended early or held an invalid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid record payload at byte {0}")]
pub(crate) struct DecodeError(pub(crate) usize);

pub(crate) fn put_stream(out: &mut Vec<u8>, id: u64, labels: &Labels) {
    out.extend_from_slice(&id.to_le_bytes());
    put_labels(out, labels);
}

pub(crate) fn put_entries<'e>(
    out: &mut Vec<u8>,
    id: u64,
    entries: impl ExactSizeIterator<Item = &'e Entry>,
) {
    out.extend_from_slice(&id.to_le_bytes());
    put_len(out, entries.len());
    for e in entries {
        out.extend_from_slice(&e.ts_ns.to_le_bytes());
        put_str(out, &e.line);
        put_labels(out, &e.metadata);
    }
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_len(out, labels.len());
    for l in labels {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// Decodes the payload of a record of type `kind`.
pub(crate) fn decode(kind: RecordType, payload: &[u8]) -> Result<Record, DecodeError> {
    let mut c = Cursor {
        buf: payload,
        pos: 0,
    };
    match kind {
        RecordType::Streams => {
            let mut out = Vec::new();
            while !c.at_end() {
                out.push((c.u64()?, c.labels()?));
            }
            Ok(Record::Streams(out))
        }
        RecordType::Entries => {
            let mut out = Vec::new();
            while !c.at_end() {
                let id = c.u64()?;
                let n = c.count(16)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(Entry {
                        ts_ns: c.u64()? as i64,
                        line: c.string()?,
                        metadata: c.labels()?,
                    });
                }
                out.push((id, entries));
            }
            Ok(Record::Entries(out))
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(DecodeError(self.pos))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    /// A count of items of at least `min_size` bytes each, bounded by the bytes left.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.buf.len() - self.pos {
            return Err(DecodeError(at));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError(at))
    }

    fn labels(&mut self) -> Result<Labels, DecodeError> {
        let n = self.count(8)?;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((self.string()?, self.string()?));
        }
        Ok(Labels::from_pairs(pairs))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn records_round_trip(
            id in any::<u64>(),
            labels in proptest::collection::vec(("[a-z]{1,5}", ".{0,5}"), 0..4),
            entries in proptest::collection::vec((any::<i64>(), ".{0,20}"), 0..5),
        ) {
            let labels = Labels::from_pairs(labels);
            let entries: Vec<Entry> = entries
                .into_iter()
                .map(|(ts_ns, line)| Entry { ts_ns, line, metadata: labels.clone() })
                .collect();
            let mut streams = Vec::new();
            put_stream(&mut streams, id, &labels);
            prop_assert_eq!(
                decode(RecordType::Streams, &streams).unwrap(),
                Record::Streams(vec![(id, labels.clone())])
            );
            let mut payload = Vec::new();
            put_entries(&mut payload, id, entries.iter());
            prop_assert_eq!(
                decode(RecordType::Entries, &payload).unwrap(),
                Record::Entries(vec![(id, entries)])
            );
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(RecordType::Streams, &bytes);
            let _ = decode(RecordType::Entries, &bytes);
        }
    }
}
