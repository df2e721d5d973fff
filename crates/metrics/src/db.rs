//! A tenant's database: its [`Head`] and its WAL. Appends are written to the WAL (with
//! `write(2)`, before [`TenantDb::append`] returns) in the same order as they are applied to
//! the head; [`TenantDb::open`] replays the WAL into a fresh head.
//!
//! Appending runs in two phases: series are looked up or created without any global lock
//! (sharded maps), then samples are applied under each series' mutex and encoded while the
//! WAL mutex is held, so that the WAL order of a series' samples is the head's order and a
//! replay rebuilds exactly the acknowledged state.

mod append;
mod cut;
mod read;
mod replay;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sextant_model::{ErrorKind, Labels, Matcher, TimeRange};

use crate::chunk::DEFAULT_CHUNK_MAX_SAMPLES;
use crate::head::Head;
use crate::wal::{self, WalBatch, WalWriter};
use crate::write::{self, WriteBatch};

pub use cut::TruncateStats;
pub use read::StoredMetadata;

/// Where and how a tenant's WAL is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDbConfig {
    /// The tenant's WAL directory (created when missing).
    pub dir: PathBuf,
    /// Segments are rolled once they would exceed this many bytes.
    pub wal_segment_size: u64,
    /// Samples per chunk before it is closed (clamped to 1..=65535).
    pub chunk_max_samples: usize,
}

impl Default for TenantDbConfig {
    fn default() -> Self {
        TenantDbConfig {
            dir: PathBuf::from("./data/wal"),
            wal_segment_size: 128 << 20,
            chunk_max_samples: DEFAULT_CHUNK_MAX_SAMPLES,
        }
    }
}

/// The tenant's limits that apply to one append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOptions {
    /// Most series in this head; 0 = unlimited.
    pub max_series: u64,
    /// Capacity of the exemplar ring; 0 drops exemplars (counted in `exemplars_dropped`).
    pub max_exemplars: usize,
    /// Most buckets in one native histogram; 0 = unlimited.
    pub max_native_histogram_buckets: usize,
}

impl Default for AppendOptions {
    fn default() -> Self {
        AppendOptions {
            max_series: 0,
            max_exemplars: 100_000,
            max_native_histogram_buckets: 0,
        }
    }
}

/// What a WAL replay restored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub series: u64,
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
    /// Bad records met (a torn tail or corruption; replay stops at the first).
    pub corrupt_records: u64,
    /// Samples, histograms and exemplars whose series record never appeared.
    pub orphaned_items: u64,
    pub duration: Duration,
}

/// The result of an append that reached the WAL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// Samples stored (idempotent duplicates are accepted but not counted).
    pub samples_written: u64,
    pub histograms_written: u64,
    pub exemplars_written: u64,
    /// Exemplars dropped because exemplar storage is off (`max_exemplars` = 0).
    pub exemplars_dropped: u64,
    pub series_created: u64,
    /// The first few rejections, with messages for the client.
    pub rejected: Vec<AppendRejection>,
    /// Rejected samples, histograms and exemplars per reason.
    pub rejected_counts: Vec<(RejectReason, u64)>,
}

impl AppendOutcome {
    pub fn rejected_total(&self) -> u64 {
        self.rejected_counts.iter().map(|(_, n)| n).sum()
    }
}

/// One rejected item (or series) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRejection {
    pub reason: RejectReason,
    /// Names the series, the timestamp and the rule (and the limit, for limits).
    pub message: String,
}

impl std::fmt::Display for AppendRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason.id())
    }
}

/// Why the head refused a sample, histogram, exemplar or series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    OutOfOrder,
    DuplicateTimestamp,
    MaxSeries,
    MaxNativeHistogramBuckets,
    ExemplarOutOfOrder,
    /// Older than the end of the last block cut from the head.
    TooOld,
}

impl RejectReason {
    /// The stable id clients can search for.
    pub fn id(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "err-sextant-sample-out-of-order",
            RejectReason::DuplicateTimestamp => "err-sextant-sample-duplicate-timestamp",
            RejectReason::MaxSeries => "err-sextant-max-series-per-user",
            RejectReason::MaxNativeHistogramBuckets => "err-sextant-max-native-histogram-buckets",
            RejectReason::ExemplarOutOfOrder => "err-sextant-exemplar-out-of-order",
            RejectReason::TooOld => "err-sextant-sample-too-old-for-head",
        }
    }

    pub fn kind(self) -> ErrorKind {
        match self {
            RejectReason::MaxSeries => ErrorKind::TooManyRequests,
            _ => ErrorKind::BadRequest,
        }
    }
}

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    pub labels: Labels,
    pub samples: Vec<write::Sample>,
    pub histograms: Vec<write::Histogram>,
    pub exemplars: Vec<ExemplarData>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarData {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("wal i/o failed ({op}) on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("wal in {path} is unusable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl DbError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> DbError + 'p {
        move |source| DbError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The segment new records go to: a new one after the last, or the last when it is empty
/// (so that restarts do not pile up empty segments); always after the checkpoint.
fn next_segment(dir: &Path, last: Option<u32>, checkpoint: Option<u32>) -> Result<u32, DbError> {
    let Some(last) = last else {
        return Ok(checkpoint.map_or(1, |c| c.saturating_add(1)));
    };
    let path = wal::segment_path(dir, last);
    let len = std::fs::metadata(&path)
        .map_err(DbError::io("stat segment", &path))?
        .len();
    if len == 0 {
        return Ok(last);
    }
    last.checked_add(1).ok_or_else(|| DbError::Corrupt {
        path: dir.to_path_buf(),
        reason: "segment numbers exhausted".to_owned(),
    })
}

// appends come from many tokio tasks at once
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<TenantDb>();
};

#[derive(Debug)]
struct WalState {
    writer: WalWriter,
    batch: WalBatch,
}

/// One tenant's head and WAL.
#[derive(Debug)]
pub struct TenantDb {
    config: TenantDbConfig,
    head: Head,
    wal: Mutex<WalState>,
    wal_bytes: AtomicU64,
    /// Samples and histograms older than this are rejected: the end of the last block cut.
    min_valid_time: AtomicI64,
    /// Everything older than this is in uploaded blocks: the next cut starts here (the head
    /// may still hold older data, kept for queries until it is truncated).
    shipped_until: AtomicI64,
    metadata: Mutex<read::MetadataStore>,
    /// Serializes truncations (and so checkpoints).
    truncating: Mutex<()>,
}

impl TenantDb {
    /// Creates the directory if needed, replays the WAL and opens a segment for new records.
    pub fn open(mut config: TenantDbConfig) -> Result<(TenantDb, ReplayStats), DbError> {
        config.chunk_max_samples = config.chunk_max_samples.clamp(1, usize::from(u16::MAX));
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(DbError::io("create dir", &dir))?;
        let start = Instant::now();
        let head = Head::new();
        let mut replayer = replay::Replayer::new(&head, config.chunk_max_samples);
        let outcome =
            wal::replay(&dir, |r| replayer.apply(r)).map_err(DbError::io("replay", &dir))?;
        let stats = replayer.finish(outcome.corrupt_records, start.elapsed());
        let next = next_segment(&dir, outcome.last_segment, outcome.checkpoint)?;
        let writer = WalWriter::create(&dir, next, config.wal_segment_size)
            .map_err(DbError::io("create segment", &dir))?;
        tracing::info!(
            dir = %dir.display(), series = stats.series, samples = stats.samples,
            corrupt_records = stats.corrupt_records, duration_ms = stats.duration.as_millis() as u64,
            "wal replayed"
        );
        // data replayed from before the last uploaded block stays until the next truncation,
        // but is neither accepted again nor cut into another block
        let shipped_until = cut::read_shipped_until(&dir)?
            .max(outcome.checkpoint_min_time)
            .unwrap_or(i64::MIN);
        let db = TenantDb {
            config,
            head,
            wal: Mutex::new(WalState {
                writer,
                batch: WalBatch::default(),
            }),
            wal_bytes: AtomicU64::new(0),
            min_valid_time: AtomicI64::new(shipped_until),
            shipped_until: AtomicI64::new(shipped_until),
            metadata: Mutex::default(),
            truncating: Mutex::new(()),
        };
        Ok((db, stats))
    }

    /// Appends a batch. Rejections are reported in the outcome; `Err` only when the WAL
    /// could not be written (the head may then hold samples that are not in the WAL).
    pub fn append(
        &self,
        batch: &WriteBatch<'_>,
        opts: &AppendOptions,
    ) -> Result<AppendOutcome, DbError> {
        append::append(self, batch, opts)
    }

    /// The series matching all `matchers` with at least one sample, histogram or exemplar in
    /// `range`, sorted by labels.
    pub fn query(&self, range: TimeRange, matchers: &[Matcher]) -> Vec<SeriesData> {
        let series = self.head.select(matchers);
        let mut exemplars = self.head.exemplars.lock().collect(range);
        let mut out: Vec<SeriesData> = series
            .iter()
            .filter_map(|s| {
                let (samples, histograms) = {
                    let state = s.state.lock();
                    (state.samples_in(range), state.histograms_in(range))
                };
                let exemplars = exemplars.remove(&s.id).unwrap_or_default();
                if samples.is_empty() && histograms.is_empty() && exemplars.is_empty() {
                    return None;
                }
                Some(SeriesData {
                    labels: self.head.labels_of(s),
                    samples,
                    histograms,
                    exemplars,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The oldest and newest sample or histogram time in the head.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.head.time_range()
    }

    /// Samples older than this are rejected (`err-sextant-sample-too-old-for-head`).
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Relaxed)
    }

    /// Everything older than this is in uploaded blocks; the next cut starts here.
    pub fn shipped_until(&self) -> i64 {
        self.shipped_until.load(Ordering::Relaxed)
    }

    pub fn series_count(&self) -> usize {
        self.head.series_count()
    }

    /// Bytes written to the WAL since open.
    pub fn wal_bytes_written(&self) -> u64 {
        self.wal_bytes.load(Ordering::Relaxed)
    }

    /// `fsync`s the current WAL segment.
    pub fn sync(&self) -> Result<(), DbError> {
        self.wal
            .lock()
            .writer
            .sync()
            .map_err(DbError::io("fsync", &self.config.dir))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod perf;
