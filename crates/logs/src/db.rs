//! A tenant's logs database: its stream head and its WAL, shaped like the metrics engine's
//! `TenantDb`. An append validates every entry (out-of-order window, duplicates, entries
//! older than the last cut block), writes the accepted ones to the WAL (and fsyncs per
//! [`LogsFsyncPolicy`]) and only then makes them visible in the head; [`LogsTenantDb::open`]
//! replays the WAL into a fresh head.
//!
//! - `append`: validation and the WAL-before-visible append path, Loki's rejection messages.
//! - `read`: [`LogQueryable`](crate::logql::eval::LogQueryable), label names and values,
//!   series and stats.
//! - `cut`: cutting a block of `[shipped_until, boundary)`, `shipped_until` persisted beside
//!   the WAL, truncation and WAL checkpoints.
//! - `replay`: applying WAL records to a fresh head.
//!
//! Appends are serialized per tenant by the WAL mutex (validation, WAL write and apply happen
//! under it), so the WAL order of a stream's entries is the order they were accepted in and a
//! replay rebuilds exactly the acknowledged state. Readers never take the WAL mutex.

mod append;
mod cut;
mod read;
mod replay;
mod timefmt;

#[cfg(test)]
mod perf;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sextant_model::ErrorKind;

use crate::block::LogsBlockError;
use crate::chunk::{LogsChunkError, DEFAULT_CHUNK_BLOCK_BYTES, DEFAULT_CHUNK_TARGET_BYTES};
use crate::head::{ChunkConfig, Head};
use crate::model::LogBatch;
use crate::wal::{self, WalBatch, WalWriter};

pub use append::{LogsAppendRejection, LogsAppendReport, LogsRejectReason};
pub use cut::LogsTruncateStats;
pub use read::LogsStats;

/// When appended WAL records are fsynced. Records always reach the file (`write(2)`) before
/// the append returns, so they survive a process crash; fsync makes them survive a machine
/// crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsFsyncPolicy {
    /// Every append fsyncs before it returns.
    Always,
    /// An append fsyncs when the last fsync is older than this; the owner also calls
    /// [`LogsTenantDb::sync`] on a timer of this period so that idle tenants are synced.
    Interval(Duration),
}

/// Where and how a tenant's logs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsDbConfig {
    /// The tenant's WAL directory (created when missing).
    pub dir: PathBuf,
    /// Segments are rolled once they would exceed this many bytes.
    pub wal_segment_size: u64,
    pub fsync: LogsFsyncPolicy,
    /// A chunk is closed once its compressed size reaches this (Loki: 1.5 MiB).
    pub chunk_target_bytes: usize,
    /// Uncompressed size of one compressed block inside a chunk (Loki: 256 KiB).
    pub chunk_block_bytes: usize,
    /// A chunk is closed once it spans this long.
    pub max_chunk_age: Duration,
    /// Entries older than their stream's newest entry minus this are rejected (Loki 3's
    /// unordered writes accept half of `max_chunk_age`).
    pub out_of_order_window: Duration,
}

impl Default for LogsDbConfig {
    fn default() -> Self {
        let max_chunk_age = Duration::from_secs(2 * 3600);
        LogsDbConfig {
            dir: PathBuf::from("./data/wal"),
            wal_segment_size: 128 << 20,
            fsync: LogsFsyncPolicy::Interval(Duration::from_secs(1)),
            chunk_target_bytes: DEFAULT_CHUNK_TARGET_BYTES,
            chunk_block_bytes: DEFAULT_CHUNK_BLOCK_BYTES,
            max_chunk_age,
            out_of_order_window: max_chunk_age / 2,
        }
    }
}

/// What a WAL replay restored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsReplayStats {
    pub streams: u64,
    pub entries: u64,
    /// Bad records met (a torn tail or corruption; replay stops at the first).
    pub corrupt_records: u64,
    /// Entries whose stream record never appeared.
    pub orphaned_entries: u64,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LogsDbError {
    #[error("logs wal i/o failed ({op}) on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("logs wal in {path} is unusable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Chunk(#[from] LogsChunkError),
    #[error(transparent)]
    Block(#[from] LogsBlockError),
}

impl LogsDbError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> LogsDbError + 'p {
        move |source| LogsDbError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

// appends and queries come from many tokio tasks at once
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<LogsTenantDb>();
};

#[derive(Debug)]
struct WalState {
    writer: WalWriter,
    batch: WalBatch,
    last_sync: Instant,
}

/// One tenant's log streams and WAL.
#[derive(Debug)]
pub struct LogsTenantDb {
    config: LogsDbConfig,
    chunks: ChunkConfig,
    head: Head,
    wal: Mutex<WalState>,
    wal_bytes: AtomicU64,
    /// Entries older than this are rejected: the end of the last block cut.
    min_valid_time: AtomicI64,
    /// Everything older than this is in uploaded blocks: the next cut starts here.
    shipped_until: AtomicI64,
    /// Serializes truncations (and so checkpoints) and `shipped_until` updates.
    truncating: Mutex<()>,
}

impl LogsTenantDb {
    /// Creates the directory if needed, replays the WAL and opens a segment for new records.
    pub fn open(config: LogsDbConfig) -> Result<(LogsTenantDb, LogsReplayStats), LogsDbError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(LogsDbError::io("create dir", &dir))?;
        let chunks = ChunkConfig {
            target_bytes: config.chunk_target_bytes.max(1),
            block_bytes: config.chunk_block_bytes.max(1),
            max_age_ns: duration_ns(config.max_chunk_age),
        };
        let start = Instant::now();
        let head = Head::default();
        let mut replayer = replay::Replayer::new(&head, chunks);
        let outcome =
            wal::replay(&dir, |r| replayer.apply(r)).map_err(LogsDbError::io("replay", &dir))?;
        let stats = replayer.finish(outcome.corrupt_records, start.elapsed())?;
        let next = next_segment(&dir, outcome.last_segment, outcome.checkpoint)?;
        let writer = WalWriter::create(&dir, next, config.wal_segment_size)
            .map_err(LogsDbError::io("create segment", &dir))?;
        tracing::info!(
            dir = %dir.display(), streams = stats.streams, entries = stats.entries,
            corrupt_records = stats.corrupt_records,
            duration_ms = stats.duration.as_millis() as u64, "logs wal replayed"
        );
        let shipped_until = cut::read_shipped_until(&dir)?
            .max(outcome.checkpoint_min_time)
            .unwrap_or(i64::MIN);
        let db = LogsTenantDb {
            config,
            chunks,
            head,
            wal: Mutex::new(WalState {
                writer,
                batch: WalBatch::default(),
                last_sync: Instant::now(),
            }),
            wal_bytes: AtomicU64::new(0),
            min_valid_time: AtomicI64::new(shipped_until),
            shipped_until: AtomicI64::new(shipped_until),
            truncating: Mutex::new(()),
        };
        Ok((db, stats))
    }

    /// Appends a batch: rejections and dropped duplicates are in the report. `Err` when the
    /// WAL write or fsync failed: nothing of the batch is visible then (a replay may still
    /// restore records whose write succeeded; a retried push drops them as duplicates).
    pub fn append(&self, batch: &LogBatch) -> Result<LogsAppendReport, LogsDbError> {
        append::append(self, batch)
    }

    /// Entries older than this are rejected (`err-sextant-log-entry-too-old-for-head`).
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Relaxed)
    }

    /// Everything older than this is in uploaded blocks; the next cut starts here.
    pub fn shipped_until(&self) -> i64 {
        self.shipped_until.load(Ordering::Relaxed)
    }

    pub fn stream_count(&self) -> usize {
        self.head.stream_count()
    }

    /// Bytes written to the WAL since open.
    pub fn wal_bytes_written(&self) -> u64 {
        self.wal_bytes.load(Ordering::Relaxed)
    }

    /// `fsync`s the current WAL segment.
    pub fn sync(&self) -> Result<(), LogsDbError> {
        let mut wal = self.wal.lock();
        wal.writer
            .sync()
            .map_err(LogsDbError::io("fsync", &self.config.dir))?;
        wal.last_sync = Instant::now();
        Ok(())
    }
}

/// A duration in ns, saturating.
fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The segment new records go to: a new one after the last, or the last when it is empty
/// (so that restarts do not pile up empty segments); always after the checkpoint.
fn next_segment(
    dir: &Path,
    last: Option<u32>,
    checkpoint: Option<u32>,
) -> Result<u32, LogsDbError> {
    let Some(last) = last else {
        return Ok(checkpoint.map_or(1, |c| c.saturating_add(1)));
    };
    let path = wal::segment_path(dir, last);
    let len = std::fs::metadata(&path)
        .map_err(LogsDbError::io("stat segment", &path))?
        .len();
    if len == 0 {
        return Ok(last);
    }
    last.checked_add(1).ok_or_else(|| LogsDbError::Corrupt {
        path: dir.to_path_buf(),
        reason: "segment numbers exhausted".to_owned(),
    })
}
