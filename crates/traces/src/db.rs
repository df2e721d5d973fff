//! One tenant's traces in an ingester: Tempo's live traces and WAL.
//!
//! A trace is held as the encoded OTLP `TracesData` fragments it arrived in, with what
//! decoding them once at append taught (span count, time range, size, the oldest WAL segment
//! holding one of them). It goes through three places, and is queryable in all of them:
//!
//! ```text
//! append ──▶ live ──cut_idle──▶ completed ──cut_block──▶ cut (seq) ──release(seq)──▶ gone
//!            (idle for trace_idle,             (handed to the block writer,
//!             or live for max_trace_live)       kept until the block is uploaded)
//! ```
//!
//! Spans arriving for a trace that already left `live` start a new partial trace; reads
//! (`find`, `search`, the cut itself) decode and merge every fragment of an ID, each span
//! once by span ID.
//!
//! - `state`: the three places and their byte and segment bookkeeping (no I/O).
//! - `append`: limits, then the WAL (one `write(2)` per append), then memory.
//! - `read`: find, search and tag scans (on the caller's thread: call them off the async
//!   runtime; locks are held only to clone fragment handles).
//! - `cut`: idle cuts, block cuts and release, which deletes the WAL segments nothing in
//!   memory came from (there are no checkpoints: `max_trace_live` bounds how long a trace
//!   pins a segment).
//!
//! Lock order: the WAL mutex, then the state mutex. Appends hold the WAL mutex throughout, so
//! the WAL order of fragments is the order they became visible in.

mod append;
mod cut;
mod read;
mod state;

#[cfg(test)]
mod perf;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sextant_model::ErrorKind;

use crate::wal::{self, WalWriter};
use state::State;

pub use append::{
    TracesAppendLimits, TracesAppendRejection, TracesAppendReport, TracesRejectReason,
};
pub use cut::{TracesCut, TracesReleaseStats};
pub use read::{TracesDbSearch, TracesDbSearchResult};

/// Where and how a tenant's traces are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesDbConfig {
    /// The tenant's WAL directory (created when missing).
    pub dir: PathBuf,
    /// Segments are rolled once they would exceed this many bytes.
    pub wal_segment_size: u64,
    /// A live trace that received nothing for this long is completed (Tempo's
    /// `trace_idle_period`).
    pub trace_idle: Duration,
    /// A live trace is completed this long after its first span even if spans keep coming;
    /// later spans start a new partial trace, merged with it at query time.
    pub max_trace_live: Duration,
}

impl Default for TracesDbConfig {
    fn default() -> Self {
        TracesDbConfig {
            dir: PathBuf::from("./data/wal"),
            wal_segment_size: 128 << 20,
            trace_idle: Duration::from_secs(10),
            max_trace_live: Duration::from_secs(5 * 60),
        }
    }
}

/// What a WAL replay restored (every trace comes back live).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesReplayStats {
    pub traces: u64,
    pub spans: u64,
    pub bytes: u64,
    /// Valid records read.
    pub records: u64,
    /// Bad records met: a segment is truncated at its first (torn tail or corruption), and
    /// records whose checksum holds but whose `TracesData` does not decode are skipped.
    pub corrupt_records: u64,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TracesDbError {
    #[error("traces wal i/o failed ({op}) on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl TracesDbError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> TracesDbError + 'p {
        move |source| TracesDbError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

// appends and queries come from many tasks at once
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<TracesTenantDb>();
};

#[derive(Debug)]
struct WalState {
    writer: WalWriter,
    /// The framed records of the append in progress (kept for its allocation).
    buf: Vec<u8>,
}

/// One tenant's traces and WAL.
#[derive(Debug)]
pub struct TracesTenantDb {
    config: TracesDbConfig,
    wal: Mutex<WalState>,
    state: Mutex<State>,
    wal_bytes: AtomicU64,
}

impl TracesTenantDb {
    /// Creates the directory if needed, replays the WAL (every trace comes back live, last
    /// appended now by the system clock) and opens a segment for new records.
    pub fn open(
        config: TracesDbConfig,
    ) -> Result<(TracesTenantDb, TracesReplayStats), TracesDbError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(TracesDbError::io("create dir", &dir))?;
        let start = Instant::now();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut state = State::default();
        let mut undecodable = 0u64;
        let outcome = wal::replay(&dir, |segment, id, data| {
            match state::fragment_meta(&id, &data) {
                Ok(meta) => state.append(id, data, meta, segment, now_ms),
                Err(_) => undecodable += 1,
            }
        })
        .map_err(TracesDbError::io("replay", &dir))?;
        let next = match outcome.last_segment {
            None => 1,
            Some((last, 0)) => last,
            Some((last, _)) => last.saturating_add(1),
        };
        let writer = WalWriter::open(&dir, next, config.wal_segment_size)
            .map_err(TracesDbError::io("open segment", &dir))?;
        let stats = TracesReplayStats {
            traces: state.live_traces() as u64,
            spans: state.spans(),
            bytes: state.bytes(),
            records: outcome.records - undecodable,
            corrupt_records: outcome.corrupt_records + undecodable,
            duration: start.elapsed(),
        };
        tracing::info!(
            dir = %dir.display(), traces = stats.traces, spans = stats.spans,
            corrupt_records = stats.corrupt_records,
            duration_ms = stats.duration.as_millis() as u64, "traces wal replayed"
        );
        let db = TracesTenantDb {
            config,
            wal: Mutex::new(WalState {
                writer,
                buf: Vec::new(),
            }),
            state: Mutex::new(state),
            wal_bytes: AtomicU64::new(0),
        };
        Ok((db, stats))
    }

    /// Appends whole traces: `(id, encoded OTLP TracesData holding only that trace's spans)`.
    /// The accepted ones are written to the WAL (one `write(2)`, not fsynced: see
    /// [`TracesTenantDb::sync`]) and then become visible. Traces refused by a limit, or
    /// undecodable, are counted per reason in the report and not written. `Err` when the WAL
    /// write failed: nothing of the call is visible then.
    pub fn append(
        &self,
        traces: &[(crate::model::TraceId, bytes::Bytes)],
        limits: TracesAppendLimits,
        now_ms: i64,
    ) -> Result<TracesAppendReport, TracesDbError> {
        append::append(self, traces, limits, now_ms)
    }

    /// `fsync`s the current WAL segment (the ingester calls it on a timer).
    pub fn sync(&self) -> Result<(), TracesDbError> {
        self.wal
            .lock()
            .writer
            .sync()
            .map_err(TracesDbError::io("fsync", &self.config.dir))
    }

    /// Traces receiving spans (not yet completed).
    pub fn live_traces(&self) -> usize {
        self.state.lock().live_traces()
    }

    /// Completed traces waiting for a block cut.
    pub fn completed_traces(&self) -> usize {
        self.state.lock().completed_traces()
    }

    /// Encoded bytes held in memory (live, completed and cut but not released).
    pub fn bytes_in_memory(&self) -> u64 {
        self.state.lock().bytes()
    }

    /// Bytes written to the WAL since open.
    pub fn wal_bytes_written(&self) -> u64 {
        self.wal_bytes.load(Ordering::Relaxed)
    }
}

/// A duration in ms, saturating.
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
