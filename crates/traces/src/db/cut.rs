//! Completing idle traces, cutting blocks of completed traces, and releasing them (which
//! deletes the WAL segments nothing in memory came from any more).

use std::time::Duration;

use super::{duration_ms, TracesDbError, TracesTenantDb};
use crate::model::Trace;
use crate::wal;

/// Completed traces to put in a block. They stay queryable in memory until
/// [`TracesTenantDb::release`] of `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct TracesCut {
    pub seq: u64,
    /// Sorted by ID; each trace's fragments merged, each span once.
    pub traces: Vec<Trace>,
    /// Earliest span start and latest span end, ns.
    pub min_start_ns: i64,
    pub max_end_ns: i64,
    pub spans: u64,
}

/// What a release dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesReleaseStats {
    pub traces: u64,
    pub spans: u64,
    pub bytes: u64,
    pub segments_deleted: u64,
}

impl TracesTenantDb {
    /// Completes the live traces idle for `trace_idle`, or live for `max_trace_live`, at
    /// `now_ms`; returns how many.
    pub fn cut_idle(&self, now_ms: i64) -> usize {
        let idle = duration_ms(self.config.trace_idle);
        let max_live = duration_ms(self.config.max_trace_live);
        self.state.lock().complete_idle(now_ms, idle, max_live)
    }

    /// The completed traces to put in a block, when due: the oldest was completed at least
    /// `max_block_age` ago, or they hold at least `max_block_bytes` (0: no size trigger), or
    /// `force` (flush, shutdown). `None` when nothing is completed or not due. Decoding and
    /// merging happen on the caller's thread, outside the locks.
    pub fn cut_block(
        &self,
        now_ms: i64,
        max_block_age: Duration,
        max_block_bytes: u64,
        force: bool,
    ) -> Option<TracesCut> {
        let (seq, held) = {
            let mut state = self.state.lock();
            let (oldest, bytes) = state.completed_age();
            let oldest = oldest?;
            let due = force
                || now_ms.saturating_sub(oldest) >= duration_ms(max_block_age)
                || (max_block_bytes > 0 && bytes >= max_block_bytes);
            if !due || state.completed_traces() == 0 {
                return None;
            }
            state.cut()
        };
        let mut traces: Vec<Trace> = held.iter().map(|(id, h)| h.decode(*id)).collect();
        traces.sort_unstable_by_key(|t| t.id);
        let spans = traces.iter().map(|t| t.spans());
        let (mut min_start_ns, mut max_end_ns, mut count) = (i64::MAX, i64::MIN, 0u64);
        for span in spans.flatten() {
            count += 1;
            min_start_ns =
                min_start_ns.min(i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX));
            max_end_ns = max_end_ns.max(i64::try_from(span.end_time_unix_nano).unwrap_or(i64::MAX));
        }
        if count == 0 {
            (min_start_ns, max_end_ns) = (0, 0);
        }
        tracing::debug!(
            seq,
            traces = traces.len(),
            spans = count,
            "traces block cut"
        );
        Some(TracesCut {
            seq,
            traces,
            min_start_ns,
            max_end_ns,
            spans: count,
        })
    }

    /// Drops the traces of cut `seq` (once its block is uploaded) and deletes every WAL
    /// segment older than the oldest one still holding a fragment in memory. When nothing is
    /// held any more, the current segment is rolled first (if not empty) so that it can go
    /// too. An unknown `seq` drops nothing but still deletes what is not needed.
    pub fn release(&self, seq: u64) -> Result<TracesReleaseStats, TracesDbError> {
        let dir = &self.config.dir;
        let mut wal = self.wal.lock();
        let ((traces, spans, bytes), oldest) = {
            let mut state = self.state.lock();
            (state.release(seq), state.oldest_segment())
        };
        let keep_from = match oldest {
            Some(oldest) => oldest.min(wal.writer.segment()),
            None => {
                if wal.writer.segment_bytes() > 0 {
                    wal.writer.roll().map_err(TracesDbError::io("roll", dir))?;
                }
                wal.writer.segment()
            }
        };
        let deleted = wal::delete_segments_before(dir, keep_from)
            .map_err(TracesDbError::io("delete segments", dir))?;
        drop(wal);
        Ok(TracesReleaseStats {
            traces,
            spans,
            bytes,
            segments_deleted: deleted as u64,
        })
    }
}
