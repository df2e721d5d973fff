//! The logs write-ahead log, on the shared segments and framing of `sextant_wal` (as the
//! metrics one): numbered segment files (`00000001`, `00000002`, ...) in the tenant's WAL
//! directory, rolled at a configured size. A record is `[type u8][len u32 LE][crc32 u32 LE]
//! [payload]` with the CRC over the payload; records never span segments. Payloads are in
//! `codec`.
//!
//! [`WalBatch`] collects the records of one append (new streams' labels first, then
//! entries), [`WalWriter`] writes them with `write(2)` before the append's entries become
//! visible and `fsync`s on [`WalWriter::sync`]. [`replay`] reads everything back (the newest
//! checkpoint first, see [`CheckpointWriter`]), truncating a torn tail.

mod checkpoint;
mod codec;

#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

use sextant_model::Labels;
use sextant_wal::WalReplayOutcome;

pub(crate) use checkpoint::CheckpointWriter;
pub(crate) use codec::Record;
use codec::RecordType;
#[cfg(test)]
pub(crate) use sextant_wal::list_segments;
pub(crate) use sextant_wal::{remove_replaced, segment_path, WalWriter};

use crate::logql::eval::Entry;

/// Replays the newest checkpoint, then every record of the later segments in `dir`, in order
/// (see `sextant_wal::replay`: a torn tail is truncated, what follows corruption set aside).
pub(crate) fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> io::Result<WalReplayOutcome> {
    sextant_wal::replay(dir, |kind, payload| {
        codec::decode(kind, payload).map(&mut apply)
    })
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
                sextant_wal::encode_record(&mut self.framed, kind, payload)?;
            }
        }
        Ok(&self.framed)
    }
}
