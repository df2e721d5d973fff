//! The append path: decode each trace once (outside the locks), check the limits against
//! the traces held and those accepted earlier in the same call, write the accepted ones to
//! the WAL, then add them to the live traces.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use sextant_model::ErrorKind;

use super::state::{fragment_meta, FragmentMeta, State};
use super::{TracesDbError, TracesTenantDb};
use crate::model::TraceId;
use crate::wal;

/// The per-tenant limits an append enforces (0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracesAppendLimits {
    /// Most live traces (the tenant's `max_traces_per_user`, or this ingester's share of
    /// `max_global_traces_per_user`): spans of a new trace beyond it are refused.
    pub max_live_traces: u64,
    /// Largest trace not yet handed to a block, in encoded bytes (`max_bytes_per_trace`):
    /// spans that would make a trace larger are refused.
    pub max_bytes_per_trace: u64,
}

/// Why traces were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TracesRejectReason {
    /// A new trace beyond `max_live_traces`.
    LiveTracesExceeded,
    /// A trace that would exceed `max_bytes_per_trace`.
    TraceTooLarge,
    /// Bytes that are not an OTLP `TracesData`, or hold no span, or a span of another trace.
    Invalid,
}

impl TracesRejectReason {
    /// The limit's name in the limits config (`invalid` for undecodable traces).
    pub fn limit(self) -> &'static str {
        match self {
            TracesRejectReason::LiveTracesExceeded => "max_traces_per_user",
            TracesRejectReason::TraceTooLarge => "max_bytes_per_trace",
            TracesRejectReason::Invalid => "invalid",
        }
    }

    /// Limits are a client's rate to lower (429 in Tempo's distributor); undecodable bytes
    /// a bad request.
    pub fn kind(self) -> ErrorKind {
        match self {
            TracesRejectReason::LiveTracesExceeded | TracesRejectReason::TraceTooLarge => {
                ErrorKind::TooManyRequests
            }
            TracesRejectReason::Invalid => ErrorKind::BadRequest,
        }
    }
}

/// The traces refused for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesAppendRejection {
    pub reason: TracesRejectReason,
    pub traces: u64,
    /// Their spans (0 for undecodable traces).
    pub spans: u64,
    /// The first refusal's message, in Tempo's words, naming the limit.
    pub message: String,
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracesAppendReport {
    /// Trace fragments written (one per accepted input entry).
    pub traces_written: u64,
    pub spans_written: u64,
    /// Encoded bytes of the written fragments.
    pub bytes_written: u64,
    /// Traces that were not live before this append.
    pub traces_created: u64,
    /// One entry per reason that refused something, in order of first refusal.
    pub rejections: Vec<TracesAppendRejection>,
}

impl TracesAppendReport {
    /// The rejection entry of one reason.
    pub fn rejection(&self, reason: TracesRejectReason) -> Option<&TracesAppendRejection> {
        self.rejections.iter().find(|r| r.reason == reason)
    }

    fn reject(&mut self, reason: TracesRejectReason, spans: u64, message: impl FnOnce() -> String) {
        match self.rejections.iter_mut().find(|r| r.reason == reason) {
            Some(r) => {
                r.traces += 1;
                r.spans += spans;
            }
            None => self.rejections.push(TracesAppendRejection {
                reason,
                traces: 1,
                spans,
                message: message(),
            }),
        }
    }
}

pub(super) fn append(
    db: &TracesTenantDb,
    traces: &[(TraceId, Bytes)],
    limits: TracesAppendLimits,
    now_ms: i64,
) -> Result<TracesAppendReport, TracesDbError> {
    let mut report = TracesAppendReport::default();
    let decoded: Vec<_> = traces
        .iter()
        .map(|(id, data)| fragment_meta(id, data))
        .collect();
    let mut wal = db.wal.lock();
    let accepted = admit(&db.state.lock(), traces, decoded, limits, &mut report);
    if accepted.is_empty() {
        return Ok(report);
    }
    let wal = &mut *wal;
    wal.buf.clear();
    for (i, _) in &accepted {
        let (id, data) = &traces[*i];
        wal::encode_record(&mut wal.buf, id, data)
            .map_err(TracesDbError::io("encode", &db.config.dir))?;
    }
    let segment = wal
        .writer
        .write(&wal.buf)
        .map_err(TracesDbError::io("write", &db.config.dir))?;
    db.wal_bytes
        .fetch_add(wal.buf.len() as u64, Ordering::Relaxed);
    // visible while the WAL lock is still held: the WAL order is the visible order
    let mut state = db.state.lock();
    for (i, meta) in accepted {
        let (id, data) = &traces[i];
        state.append(*id, data.clone(), meta, segment, now_ms);
        report.traces_written += 1;
        report.spans_written += meta.spans;
        report.bytes_written += data.len() as u64;
    }
    Ok(report)
}

/// The traces (positions in `traces`) that pass validation and the limits; the others are
/// counted in the report.
fn admit(
    state: &State,
    traces: &[(TraceId, Bytes)],
    decoded: Vec<Result<FragmentMeta, String>>,
    limits: TracesAppendLimits,
    report: &mut TracesAppendReport,
) -> Vec<(usize, FragmentMeta)> {
    let mut check = Checker {
        state,
        limits,
        created: HashSet::new(),
        added: HashMap::new(),
    };
    let mut accepted = Vec::with_capacity(traces.len());
    for (i, ((id, data), meta)) in traces.iter().zip(decoded).enumerate() {
        let meta = match meta {
            Ok(meta) => meta,
            Err(message) => {
                report.reject(TracesRejectReason::Invalid, 0, || message);
                continue;
            }
        };
        match check.admit(id, data.len() as u64) {
            Ok(()) => accepted.push((i, meta)),
            Err((reason, message)) => report.reject(reason, meta.spans, message),
        }
    }
    report.traces_created = check.created.len() as u64;
    accepted
}

/// The limits, checked against the traces held plus those admitted earlier in the call.
struct Checker<'s> {
    state: &'s State,
    limits: TracesAppendLimits,
    /// Traces this call makes live.
    created: HashSet<TraceId>,
    /// Bytes this call adds per trace.
    added: HashMap<TraceId, u64>,
}

type Refusal = (TracesRejectReason, Box<dyn FnOnce() -> String>);

impl Checker<'_> {
    fn admit(&mut self, id: &TraceId, bytes: u64) -> Result<(), Refusal> {
        let is_new = !self.state.is_live(id) && !self.created.contains(id);
        let max_live = self.limits.max_live_traces;
        if is_new && max_live > 0 {
            let live = self.state.live_traces() as u64 + self.created.len() as u64;
            if live >= max_live {
                return Err((
                    TracesRejectReason::LiveTracesExceeded,
                    Box::new(move || {
                        format!(
                            "LIVE_TRACES_EXCEEDED: max live traces exceeded: per-user traces \
                             limit (local: {max_live} actual local: {live}) exceeded; raise \
                             the tenant's max_traces_per_user"
                        )
                    }),
                ));
            }
        }
        let max_bytes = self.limits.max_bytes_per_trace;
        let held = self.state.unshipped_bytes(id) + self.added.get(id).copied().unwrap_or(0);
        if max_bytes > 0 && held + bytes > max_bytes {
            let id = *id;
            return Err((
                TracesRejectReason::TraceTooLarge,
                Box::new(move || {
                    format!(
                        "TRACE_TOO_LARGE: max size of trace ({max_bytes}) exceeded while adding \
                         {bytes} bytes to trace {id}; raise the tenant's max_bytes_per_trace"
                    )
                }),
            ));
        }
        if is_new {
            self.created.insert(*id);
        }
        *self.added.entry(*id).or_insert(0) += bytes;
        Ok(())
    }
}
