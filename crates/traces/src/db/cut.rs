//! Completing idle traces, cutting blocks of completed traces, and releasing them (which
//! deletes the WAL segments nothing in memory came from any more).

use std::time::Duration;

use super::state::Held;
use super::{duration_ms, TracesDbError, TracesTenantDb};
use crate::model::{Trace, TraceId};
use crate::wal;

/// Completed traces to put in a block. They stay queryable in memory until
/// [`TracesTenantDb::release`] of `seq`.
#[derive(Debug, Clone)]
pub struct TracesCut {
    pub seq: u64,
    /// Sorted by ID: each trace's fragments, still encoded.
    held: Vec<(TraceId, Held)>,
    /// Earliest span start and latest span end, ns.
    pub min_start_ns: i64,
    pub max_end_ns: i64,
    /// Spans held, before deduplication by span ID.
    pub spans: u64,
}

impl TracesCut {
    /// How many traces.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The traces sorted by ID, each decoded with its fragments merged (each span once) as
    /// the iterator reaches it: a block writer never holds a whole cut decoded.
    pub fn traces(&self) -> impl Iterator<Item = Trace> + '_ {
        self.held.iter().map(|(id, held)| held.decode(*id))
    }
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
    /// merging happen on the caller's thread, outside the locks, one trace at a time as
    /// [`TracesCut::traces`] is iterated.
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
        let mut held = held;
        held.sort_unstable_by_key(|(id, _)| *id);
        let (mut min_start_ns, mut max_end_ns, mut spans) = (i64::MAX, i64::MIN, 0u64);
        for (_, h) in &held {
            spans += h.spans;
            min_start_ns = min_start_ns.min(h.start_ns);
            max_end_ns = max_end_ns.max(h.end_ns);
        }
        if held.is_empty() {
            (min_start_ns, max_end_ns) = (0, 0);
        }
        tracing::debug!(seq, traces = held.len(), spans, "traces block cut");
        Some(TracesCut {
            seq,
            held,
            min_start_ns,
            max_end_ns,
            spans,
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
