//! Cutting a block out of the head and truncating the head and the WAL afterwards.
//!
//! The caller (the ingester's shipper) runs: [`TenantDb::cut_block`] for a boundary, uploads
//! the block, records it with [`TenantDb::set_shipped_until`], and some time later (queriers
//! must have learnt about the block first) [`TenantDb::truncate`] with that boundary or a
//! later one. Cutting raises the head's minimum valid time to the boundary first, so nothing
//! older can be appended after the cut (it would never reach a block). A cut covers
//! `[shipped_until, boundary)`: data kept in the head after its upload is not cut twice, and
//! a cut whose upload failed is cut again from the same start.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sextant_model::{Labels, TimeRange};

use super::{DbError, TenantDb};
use crate::block::{BlockError, BlockSource, BlockWriter, EncodedBlock};
use crate::chunk::{HistogramChunk, XorChunk};
use crate::wal::{self, CheckpointWriter};
use crate::write::LabelRef;

/// Native histograms per block chunk.
const HISTOGRAMS_PER_CHUNK: usize = 120;

/// The file in the WAL directory holding [`TenantDb::shipped_until`] (decimal ms).
const SHIPPED_FILE: &str = "shipped_until";

/// What a truncation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruncateStats {
    /// Series left without data and dropped from the head.
    pub series_removed: u64,
    /// Bytes of the WAL checkpoint written.
    pub checkpoint_bytes: u64,
    pub checkpoint_duration: Duration,
}

type CutSeries = (Labels, Vec<XorChunk>, Vec<HistogramChunk>);

impl TenantDb {
    /// Encodes every sample and histogram in `[shipped_until, boundary)` into one block
    /// (`None` when there are none). From now on, appends older than `boundary` are rejected.
    pub fn cut_block(
        &self,
        boundary: i64,
        source: BlockSource,
    ) -> Result<Option<EncodedBlock>, BlockError> {
        {
            // in-flight appends finish under the WAL lock before the bound moves
            let _wal = self.wal.lock();
            self.min_valid_time.fetch_max(boundary, Ordering::Relaxed);
        }
        let from = self.shipped_until();
        let max_samples = self.config.chunk_max_samples;
        let mut series: Vec<CutSeries> = Vec::new();
        for s in self.head.all_series() {
            let (chunks, histograms) = {
                let state = s.state.lock();
                let chunks = state.chunks_between(from, boundary, max_samples);
                let histograms: Vec<HistogramChunk> = state
                    .histograms_between(from, boundary)
                    .chunks(HISTOGRAMS_PER_CHUNK)
                    .filter_map(HistogramChunk::encode)
                    .collect();
                (chunks, histograms)
            };
            if !chunks.is_empty() || !histograms.is_empty() {
                series.push((self.head.labels_of(&s), chunks, histograms));
            }
        }
        if series.is_empty() {
            return Ok(None);
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let mut writer = BlockWriter::new();
        for (labels, chunks, histograms) in &series {
            writer.add_series_with_histograms(labels, chunks, histograms)?;
        }
        Ok(Some(writer.finish(source)))
    }

    /// Records that everything older than `boundary` is in uploaded blocks (the block cut up
    /// to it was stored): the next cut starts there, also after a restart (the value is kept
    /// in the WAL directory). Never moves backwards.
    pub fn set_shipped_until(&self, boundary: i64) -> Result<(), DbError> {
        let _serial = self.truncating.lock();
        if self.shipped_until.fetch_max(boundary, Ordering::Relaxed) >= boundary {
            return Ok(());
        }
        let dir = &self.config.dir;
        let tmp = dir.join(format!("{SHIPPED_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(boundary.to_string().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(SHIPPED_FILE))
        };
        write().map_err(DbError::io("write shipped_until", dir))
    }

    /// Drops everything older than `boundary` from the head (and the series left empty), then
    /// replaces the WAL segments written so far with a checkpoint of what the head still holds.
    pub fn truncate(&self, boundary: i64) -> Result<TruncateStats, DbError> {
        let _serial = self.truncating.lock();
        let dir = self.config.dir.clone();
        let (removed, last_segment) = {
            let mut wal = self.wal.lock();
            self.min_valid_time.fetch_max(boundary, Ordering::Relaxed);
            let removed = self.truncate_head(boundary);
            let last = wal.writer.segment();
            wal.writer
                .roll()
                .map_err(DbError::io("roll segment", &dir))?;
            (removed, last)
        };
        let start = Instant::now();
        let checkpoint_bytes = self
            .write_checkpoint(last_segment, boundary)
            .map_err(DbError::io("write checkpoint", &dir))?;
        wal::remove_replaced(&dir, last_segment).map_err(DbError::io("remove segments", &dir))?;
        let stats = TruncateStats {
            series_removed: removed,
            checkpoint_bytes,
            checkpoint_duration: start.elapsed(),
        };
        tracing::info!(
            dir = %dir.display(), boundary, series_removed = removed, checkpoint_bytes,
            checkpoint_ms = stats.checkpoint_duration.as_millis() as u64, "head truncated"
        );
        Ok(stats)
    }

    /// Truncates every series (called under the WAL lock); returns how many were dropped.
    fn truncate_head(&self, boundary: i64) -> u64 {
        let mut empty = Vec::new();
        let mut range: Option<(i64, i64)> = None;
        for s in self.head.all_series() {
            let mut state = s.state.lock();
            if state.truncate_before(boundary) {
                empty.push(s.clone());
            } else if let Some((min, max)) = state.time_range() {
                range = Some(range.map_or((min, max), |(a, b)| (a.min(min), b.max(max))));
            }
        }
        self.head.remove_series(&empty);
        self.head.set_time_range(range);
        empty.len() as u64
    }

    /// Writes checkpoint `last_segment`: every series of the head, then its data at or after
    /// `boundary`. Appends may run meanwhile; what they add is also in the newer segments,
    /// and replaying it twice is harmless (duplicates are idempotent).
    fn write_checkpoint(&self, last_segment: u32, boundary: i64) -> std::io::Result<u64> {
        let mut cp = CheckpointWriter::create(&self.config.dir, last_segment)?;
        let series = self.head.all_series();
        for s in &series {
            let labels = self.head.labels_of(s);
            cp.add_series(s.id.into(), &label_refs(&labels))?;
        }
        let keep = TimeRange::new(boundary, i64::MAX);
        let mut exemplars = self.head.exemplars.lock().collect(keep);
        for s in &series {
            let (samples, histograms) = {
                let state = s.state.lock();
                (state.samples_in(keep), state.histograms_in(keep))
            };
            for sample in samples {
                cp.add_sample(s.id.into(), sample.timestamp_ms, sample.value)?;
            }
            for h in &histograms {
                cp.add_histogram(s.id.into(), h)?;
            }
            for e in exemplars.remove(&s.id).unwrap_or_default() {
                cp.add_exemplar(s.id.into(), e.timestamp_ms, e.value, &label_refs(&e.labels))?;
            }
        }
        cp.finish(boundary)
    }
}

fn label_refs(labels: &Labels) -> Vec<LabelRef<'_>> {
    labels
        .iter()
        .map(|l| LabelRef {
            name: &l.name,
            value: &l.value,
        })
        .collect()
}

/// The persisted [`TenantDb::shipped_until`], if any; an unreadable value counts as none
/// (the next cut may then repeat an uploaded range, which queriers deduplicate).
pub(super) fn read_shipped_until(dir: &Path) -> Result<Option<i64>, DbError> {
    let path = dir.join(SHIPPED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let value = text.trim().parse().ok();
            if value.is_none() {
                tracing::warn!(path = %path.display(), "ignoring unreadable shipped_until file");
            }
            Ok(value)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DbError::io("read shipped_until", dir)(e)),
    }
}
