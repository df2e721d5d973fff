//! The metrics write-ahead log, on the shared segments and framing of `sextant_wal`: numbered
//! segment files (`00000001`, `00000002`, ...) in one directory, rolled at a configured size. A
//! record is `[type u8][len u32 LE][crc32 u32 LE][payload]` with the CRC (crc32fast) over the
//! payload; records never span segments. The record types and payloads are in `codec`.
//!
//! [`WalBatch`] collects the records of one append, [`WalWriter`] writes them with `write(2)`
//! before the append returns (so they survive a process kill) and `fsync`s on [`WalWriter::sync`].
//! [`replay`] reads everything back (the newest checkpoint first, see [`CheckpointWriter`]),
//! truncating a torn tail.

mod checkpoint;
mod codec;

use std::io;
use std::path::Path;

pub use checkpoint::CheckpointWriter;
pub use codec::{
    decode, DecodeError, Record, RecordType, RefExemplar, RefHistogram, RefSample, SeriesRecord,
};
pub use sextant_wal::{
    list_segments, remove_replaced, segment_path, WalReplayOutcome, WalWriter, RECORD_HEADER_LEN,
};

use crate::write::{Histogram, LabelRef};

/// Replays the newest checkpoint, then every record of the later segments in `dir`, in order
/// (see `sextant_wal::replay`: a torn tail is truncated, what follows corruption set aside).
pub fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> io::Result<WalReplayOutcome> {
    sextant_wal::replay(dir, |kind, payload| decode(kind, payload).map(&mut apply))
}

/// The records of one append, one per type, framed in the order series, samples, histograms,
/// exemplars. Reused across appends to keep its allocations.
#[derive(Debug, Default)]
pub struct WalBatch {
    series: Vec<u8>,
    samples: Vec<u8>,
    histograms: Vec<u8>,
    exemplars: Vec<u8>,
    framed: Vec<u8>,
}

impl WalBatch {
    pub fn clear(&mut self) {
        self.series.clear();
        self.samples.clear();
        self.histograms.clear();
        self.exemplars.clear();
        self.framed.clear();
    }

    pub fn add_series(&mut self, series_ref: u64, labels: &[LabelRef<'_>]) {
        codec::put_series(&mut self.series, series_ref, labels);
    }

    pub fn add_sample(&mut self, series_ref: u64, timestamp_ms: i64, value: f64) {
        codec::put_sample(&mut self.samples, series_ref, timestamp_ms, value);
    }

    pub fn add_histogram(&mut self, series_ref: u64, histogram: &Histogram) {
        codec::put_histogram(&mut self.histograms, series_ref, histogram);
    }

    pub fn add_exemplar(&mut self, series_ref: u64, ts: i64, value: f64, labels: &[LabelRef<'_>]) {
        codec::put_exemplar(&mut self.exemplars, series_ref, ts, value, labels);
    }

    /// The framed records (empty when nothing was added).
    pub fn finish(&mut self) -> io::Result<&[u8]> {
        self.framed.clear();
        for (kind, payload) in [
            (RecordType::Series, &self.series),
            (RecordType::Samples, &self.samples),
            (RecordType::Histograms, &self.histograms),
            (RecordType::Exemplars, &self.exemplars),
        ] {
            if !payload.is_empty() {
                sextant_wal::encode_record(&mut self.framed, kind, payload)?;
            }
        }
        Ok(&self.framed)
    }
}

#[cfg(test)]
mod tests;
