//! The write-ahead log: numbered segment files (`00000001`, `00000002`, ...) in one directory,
//! rolled at a configured size. A record is `[type u8][len u32 LE][crc32 u32 LE][payload]`
//! with the CRC (crc32fast) over the payload; records never span segments.
//!
//! [`WalBatch`] collects the records of one append, [`WalWriter`] writes them with `write(2)`
//! before the append returns (so they survive a process kill) and `fsync`s on [`WalWriter::sync`].
//! [`replay`] reads everything back (the newest checkpoint first, see [`CheckpointWriter`]),
//! truncating a torn tail.

mod checkpoint;
mod codec;
mod replay;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use checkpoint::{
    checkpoint_min_time, checkpoint_path, latest_checkpoint, remove_incomplete_checkpoints,
    remove_replaced, CheckpointWriter,
};
pub use codec::{
    decode, DecodeError, Record, RecordType, RefExemplar, RefHistogram, RefSample, SeriesRecord,
};
pub use replay::{replay, ReplayOutcome};

use crate::write::{Histogram, LabelRef};

/// Bytes of a record header: type, length, CRC.
pub const RECORD_HEADER_LEN: usize = 9;

/// The path of segment `index` in `dir`.
pub fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// The segments in `dir`, sorted by index; other files are ignored.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
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
pub fn encode_record(out: &mut Vec<u8>, kind: RecordType, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wal record too large"))?;
    out.push(kind as u8);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
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
                encode_record(&mut self.framed, kind, payload)?;
            }
        }
        Ok(&self.framed)
    }
}

/// Appends framed records to the newest segment.
#[derive(Debug)]
pub struct WalWriter {
    dir: PathBuf,
    segment_size: u64,
    file: File,
    segment: u32,
    segment_bytes: u64,
}

impl WalWriter {
    /// Starts a new segment `first_segment` in `dir` (which must exist).
    pub fn create(dir: &Path, first_segment: u32, segment_size: u64) -> io::Result<WalWriter> {
        let file = create_segment(dir, first_segment)?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            segment: first_segment,
            segment_bytes: 0,
        })
    }

    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Writes whole records (one `write(2)` per call, barring short writes), starting a new
    /// segment first when they would not fit in the current one.
    pub fn write(&mut self, records: &[u8]) -> io::Result<()> {
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
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes the current segment (fsynced) and starts the next one.
    pub fn roll(&mut self) -> io::Result<()> {
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

#[cfg(test)]
mod tests;
