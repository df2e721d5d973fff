//! Logs WAL checkpoints (the directories, crash safety and replay order are
//! `sextant_wal::checkpoint`'s, as for metrics): after the head was truncated, what it still
//! holds (every stream's labels, and its entries at or after the truncation time, in ns) is
//! written to `checkpoint.<N>/`, where `N` is the last segment the checkpoint replaces.

use std::io;
use std::path::Path;

use sextant_model::Labels;
use sextant_wal::{WalCheckpointWriter, CHECKPOINT_RECORD_TARGET_BYTES};

use super::codec::{self, RecordType};
use crate::logql::eval::Entry;

/// Writes one checkpoint. Add every stream before the entries that refer to it.
#[derive(Debug)]
pub(crate) struct CheckpointWriter {
    inner: WalCheckpointWriter<RecordType>,
}

impl CheckpointWriter {
    /// Starts checkpoint `last_segment` in the WAL directory `dir`.
    pub(crate) fn create(dir: &Path, last_segment: u32) -> io::Result<CheckpointWriter> {
        Ok(CheckpointWriter {
            inner: WalCheckpointWriter::create(dir, last_segment)?,
        })
    }

    pub(crate) fn add_stream(&mut self, id: u64, labels: &Labels) -> io::Result<()> {
        let payload = self.inner.payload(RecordType::Streams)?;
        codec::put_stream(payload, id, labels);
        Ok(())
    }

    /// Adds entries of a stream, split over records of about
    /// [`CHECKPOINT_RECORD_TARGET_BYTES`].
    pub(crate) fn add_entries(&mut self, id: u64, entries: &[Entry]) -> io::Result<()> {
        let mut start = 0;
        let mut bytes = 0;
        for (i, e) in entries.iter().enumerate() {
            bytes += e.line.len() + 64;
            if bytes >= CHECKPOINT_RECORD_TARGET_BYTES || i + 1 == entries.len() {
                let payload = self.inner.payload(RecordType::Entries)?;
                codec::put_entries(payload, id, entries[start..=i].iter());
                (start, bytes) = (i + 1, 0);
            }
        }
        Ok(())
    }

    /// Flushes, fsyncs and renames the checkpoint into place; returns its size in bytes.
    pub(crate) fn finish(self, min_time: i64) -> io::Result<u64> {
        self.inner.finish(min_time)
    }
}
