//! Metrics WAL checkpoints (the directories, crash safety and replay order are
//! `sextant_wal::checkpoint`'s): after the head was truncated, what it still holds (series
//! records, and samples, histograms and exemplars at or after the truncation time, in ms) is
//! written to `checkpoint.<N>/`, where `N` is the last segment the checkpoint replaces.

use std::io;
use std::path::Path;

use sextant_wal::WalCheckpointWriter;

use super::codec::{self, RecordType};
use crate::write::{Histogram, LabelRef};

/// Writes one checkpoint. Add every series record before the items that refer to it.
#[derive(Debug)]
pub struct CheckpointWriter {
    inner: WalCheckpointWriter<RecordType>,
}

impl CheckpointWriter {
    /// Starts checkpoint `last_segment` in the WAL directory `dir`.
    pub fn create(dir: &Path, last_segment: u32) -> io::Result<CheckpointWriter> {
        Ok(CheckpointWriter {
            inner: WalCheckpointWriter::create(dir, last_segment)?,
        })
    }

    pub fn add_series(&mut self, series_ref: u64, labels: &[LabelRef<'_>]) -> io::Result<()> {
        let payload = self.inner.payload(RecordType::Series)?;
        codec::put_series(payload, series_ref, labels);
        Ok(())
    }

    pub fn add_sample(&mut self, series_ref: u64, ts: i64, value: f64) -> io::Result<()> {
        let payload = self.inner.payload(RecordType::Samples)?;
        codec::put_sample(payload, series_ref, ts, value);
        Ok(())
    }

    pub fn add_histogram(&mut self, series_ref: u64, h: &Histogram) -> io::Result<()> {
        let payload = self.inner.payload(RecordType::Histograms)?;
        codec::put_histogram(payload, series_ref, h);
        Ok(())
    }

    pub fn add_exemplar(
        &mut self,
        series_ref: u64,
        ts: i64,
        value: f64,
        labels: &[LabelRef<'_>],
    ) -> io::Result<()> {
        let payload = self.inner.payload(RecordType::Exemplars)?;
        codec::put_exemplar(payload, series_ref, ts, value, labels);
        Ok(())
    }

    /// Flushes, fsyncs and renames the checkpoint into place; returns its size in bytes.
    pub fn finish(self, min_time: i64) -> io::Result<u64> {
        self.inner.finish(min_time)
    }
}
