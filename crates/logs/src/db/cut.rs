//! Cutting a block out of the head and truncating the head and the WAL afterwards, as for
//! metrics.
//!
//! The caller (the ingester's shipper) runs: [`LogsTenantDb::cut_block`] for a boundary,
//! uploads the block, records it with [`LogsTenantDb::set_shipped_until`], and some time later
//! (queriers must have learnt about the block first) [`LogsTenantDb::truncate`] with that
//! boundary or a later one. Cutting raises the head's minimum valid time to the boundary
//! first, so nothing older can be appended after the cut (it would never reach a block). A cut
//! covers `[shipped_until, boundary)`: data kept in the head after its upload is not cut
//! twice, and a cut whose upload failed is cut again from the same start.
//!
//! Encoding a block compresses every chunk: run it off the async runtime.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{LogsDbError, LogsTenantDb};
use crate::block::{EncodedLogsBlock, LogsBlockSource, LogsBlockWriter};
use crate::wal::{self, CheckpointWriter};

/// The file in the WAL directory holding [`LogsTenantDb::shipped_until`] (decimal ns).
const SHIPPED_FILE: &str = "shipped_until";

/// What a truncation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsTruncateStats {
    /// Streams left without entries and dropped from the head.
    pub streams_removed: u64,
    /// Bytes of the WAL checkpoint written.
    pub checkpoint_bytes: u64,
    pub checkpoint_duration: Duration,
}

impl LogsTenantDb {
    /// Encodes every entry in `[shipped_until, boundary_ns)` into one block (`None` when there
    /// are none). From now on, appends older than `boundary_ns` are rejected.
    pub fn cut_block(
        &self,
        boundary_ns: i64,
        source: LogsBlockSource,
    ) -> Result<Option<EncodedLogsBlock>, LogsDbError> {
        {
            // in-flight appends finish under the WAL lock before the bound moves
            let _wal = self.wal.lock();
            self.min_valid_time
                .fetch_max(boundary_ns, Ordering::Relaxed);
        }
        let from = self.shipped_until();
        let mut streams = Vec::new();
        for s in self.head.all() {
            let entries = s.state.lock().entries_in(from, boundary_ns)?;
            if !entries.is_empty() {
                streams.push((s.labels.clone(), entries));
            }
        }
        if streams.is_empty() {
            return Ok(None);
        }
        streams.sort_by(|a, b| a.0.cmp(&b.0));
        let mut writer = LogsBlockWriter::new(self.chunks.target_bytes, self.chunks.block_bytes);
        for (labels, entries) in &streams {
            writer.add_stream(labels, entries)?;
        }
        Ok(Some(writer.finish(source)))
    }

    /// Records that everything older than `boundary_ns` is in uploaded blocks: the next cut
    /// starts there, also after a restart (the value is kept in the WAL directory). Never
    /// moves backwards.
    pub fn set_shipped_until(&self, boundary_ns: i64) -> Result<(), LogsDbError> {
        let _serial = self.truncating.lock();
        if self.shipped_until.fetch_max(boundary_ns, Ordering::Relaxed) >= boundary_ns {
            return Ok(());
        }
        let dir = &self.config.dir;
        let tmp = dir.join(format!("{SHIPPED_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(boundary_ns.to_string().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(SHIPPED_FILE))?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(LogsDbError::io("write shipped_until", dir))
    }

    /// Drops every entry older than `boundary_ns` from the head (and the streams left empty),
    /// then replaces the WAL segments written so far with a checkpoint of what the head still
    /// holds.
    pub fn truncate(&self, boundary_ns: i64) -> Result<LogsTruncateStats, LogsDbError> {
        let _serial = self.truncating.lock();
        let dir = self.config.dir.clone();
        let (removed, last_segment) = {
            let mut wal = self.wal.lock();
            self.min_valid_time
                .fetch_max(boundary_ns, Ordering::Relaxed);
            let removed = self.truncate_head(boundary_ns)?;
            let last = wal.writer.segment();
            wal.writer
                .roll()
                .map_err(LogsDbError::io("roll segment", &dir))?;
            (removed, last)
        };
        let start = Instant::now();
        let checkpoint_bytes =
            self.write_checkpoint(last_segment, boundary_ns)
                .map_err(|e| match e {
                    CheckpointError::Io(e) => LogsDbError::io("write checkpoint", &dir)(e),
                    CheckpointError::Db(e) => e,
                })?;
        wal::remove_replaced(&dir, last_segment)
            .map_err(LogsDbError::io("remove segments", &dir))?;
        let stats = LogsTruncateStats {
            streams_removed: removed,
            checkpoint_bytes,
            checkpoint_duration: start.elapsed(),
        };
        tracing::info!(
            dir = %dir.display(), boundary_ns, streams_removed = removed, checkpoint_bytes,
            checkpoint_ms = stats.checkpoint_duration.as_millis() as u64, "logs head truncated"
        );
        Ok(stats)
    }

    /// Truncates every stream (called under the WAL lock); returns how many were dropped.
    fn truncate_head(&self, boundary_ns: i64) -> Result<u64, LogsDbError> {
        let mut empty = Vec::new();
        for s in self.head.all() {
            if s.state.lock().truncate_before(boundary_ns, &self.chunks)? {
                empty.push(s);
            }
        }
        self.head.remove(&empty);
        Ok(empty.len() as u64)
    }

    /// Writes checkpoint `last_segment`: every stream of the head, then its entries at or
    /// after `boundary_ns`. Appends may run meanwhile; what they add is also in the newer
    /// segments, and replaying it twice is harmless (duplicates are dropped).
    fn write_checkpoint(
        &self,
        last_segment: u32,
        boundary_ns: i64,
    ) -> Result<u64, CheckpointError> {
        let mut cp = CheckpointWriter::create(&self.config.dir, last_segment)?;
        let streams = self.head.all();
        for s in &streams {
            cp.add_stream(s.id, &s.labels)?;
        }
        for s in &streams {
            let entries = s
                .state
                .lock()
                .entries_in(boundary_ns, i64::MAX)
                .map_err(|e| CheckpointError::Db(e.into()))?;
            cp.add_entries(s.id, &entries)?;
        }
        Ok(cp.finish(boundary_ns)?)
    }
}

enum CheckpointError {
    Io(std::io::Error),
    Db(LogsDbError),
}

impl From<std::io::Error> for CheckpointError {
    fn from(e: std::io::Error) -> Self {
        CheckpointError::Io(e)
    }
}

/// The persisted [`LogsTenantDb::shipped_until`], if any; an unreadable value counts as none
/// (the next cut may then repeat an uploaded range, which queriers deduplicate).
pub(super) fn read_shipped_until(dir: &Path) -> Result<Option<i64>, LogsDbError> {
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
        Err(e) => Err(LogsDbError::io("read shipped_until", dir)(e)),
    }
}
