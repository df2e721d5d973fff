//! The append path: under the WAL lock, validate every entry against its stream (and the
//! entries accepted before it in the same batch), write the accepted ones to the WAL, then
//! apply them to the head.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sextant_model::{ErrorKind, Labels};

use super::timefmt::{go_time, rfc3339};
use super::{duration_ns, LogsDbError, LogsFsyncPolicy, LogsTenantDb, WalState};
use crate::head::{MemStream, StreamState};
use crate::logql::eval::Entry;
use crate::model::LogBatch;

/// How many rejections carry a message.
const MAX_REPORTED: usize = 5;

/// The result of an append that reached the WAL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsAppendReport {
    /// Entries stored.
    pub entries_written: u64,
    /// Bytes of the log lines stored.
    pub bytes_written: u64,
    pub streams_created: u64,
    /// Exact duplicates (same stream, time and line) dropped silently, as Loki does.
    pub duplicates_dropped: u64,
    /// The first few rejections, with messages for the client.
    pub rejected: Vec<LogsAppendRejection>,
    /// Rejected entries per reason.
    pub rejected_counts: Vec<(LogsRejectReason, u64)>,
}

impl LogsAppendReport {
    pub fn rejected_total(&self) -> u64 {
        self.rejected_counts.iter().map(|(_, n)| n).sum()
    }
}

/// One rejected entry and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsAppendRejection {
    pub reason: LogsRejectReason,
    /// Loki's wording: the entry, the rule, the stream.
    pub message: String,
}

impl std::fmt::Display for LogsAppendRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason.id())
    }
}

/// Why the head refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogsRejectReason {
    /// Older than the stream's newest entry minus the out-of-order window.
    TooFarBehind,
    /// Older than the end of the last block cut from the head.
    TooOld,
}

impl LogsRejectReason {
    /// The stable id clients can search for.
    pub fn id(self) -> &'static str {
        match self {
            LogsRejectReason::TooFarBehind => "err-sextant-log-entry-too-far-behind",
            LogsRejectReason::TooOld => "err-sextant-log-entry-too-old-for-head",
        }
    }

    pub fn kind(self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

/// The accepted entries of one stream of the batch (several batch streams with the same
/// labels share one).
struct Plan<'b> {
    labels: &'b Labels,
    existing: Option<Arc<MemStream>>,
    /// The id a new stream gets once its record is in the WAL.
    new_id: Option<u64>,
    accepted: Vec<&'b Entry>,
    seen: HashSet<(i64, &'b str)>,
    newest: Option<i64>,
}

pub(super) fn append(db: &LogsTenantDb, batch: &LogBatch) -> Result<LogsAppendReport, LogsDbError> {
    let mut report = LogsAppendReport::default();
    let mut rejects = Rejects::default();
    let mut wal = db.wal.lock();
    let mut plans = plan(db, batch, &mut report, &mut rejects)?;
    write_wal(db, &mut wal, &mut plans)?;
    // entries become visible while the WAL lock is still held, so that a concurrent append
    // to the same stream cannot validate against a state that lacks them
    for plan in &plans {
        let stream = match (&plan.existing, plan.new_id) {
            (Some(s), _) => s.clone(),
            (None, Some(id)) => {
                report.streams_created += 1;
                db.head.insert(id, plan.labels.clone())
            }
            (None, None) => continue,
        };
        let mut state = stream.state.lock();
        for e in &plan.accepted {
            state.push((*e).clone(), &db.chunks)?;
            report.entries_written += 1;
            report.bytes_written += e.line.len() as u64;
        }
    }
    drop(wal);
    (report.rejected, report.rejected_counts) = (rejects.first, rejects.counts);
    Ok(report)
}

/// Validates every entry of the batch, stream by stream.
fn plan<'b>(
    db: &LogsTenantDb,
    batch: &'b LogBatch,
    report: &mut LogsAppendReport,
    rejects: &mut Rejects,
) -> Result<Vec<Plan<'b>>, LogsDbError> {
    let rules = Rules {
        min_valid_time: db.min_valid_time.load(Ordering::Relaxed),
        window_ns: duration_ns(db.config.out_of_order_window),
    };
    let mut plans: Vec<Plan<'b>> = Vec::new();
    let mut by_labels: HashMap<&'b Labels, usize> = HashMap::new();
    for stream in &batch.streams {
        let at = *by_labels.entry(&stream.labels).or_insert_with(|| {
            plans.push(Plan {
                labels: &stream.labels,
                existing: db.head.get(&stream.labels),
                new_id: None,
                accepted: Vec::new(),
                seen: HashSet::new(),
                newest: None,
            });
            plans.len() - 1
        });
        let plan = &mut plans[at];
        let existing = plan.existing.clone();
        let state = existing.as_ref().map(|s| s.state.lock());
        for entry in &stream.entries {
            match rules.check(state.as_deref(), plan, entry)? {
                Verdict::Accept => plan.accept(entry),
                Verdict::Duplicate => report.duplicates_dropped += 1,
                Verdict::Reject(reason, bound) => {
                    rejects.add(reason, || message(reason, entry.ts_ns, bound, plan.labels))
                }
            }
        }
    }
    Ok(plans)
}

impl<'b> Plan<'b> {
    fn accept(&mut self, entry: &'b Entry) {
        self.accepted.push(entry);
        self.seen.insert((entry.ts_ns, &entry.line));
        self.newest = Some(self.newest.map_or(entry.ts_ns, |n| n.max(entry.ts_ns)));
    }
}

/// Writes the new streams' labels and the accepted entries, then fsyncs per policy.
fn write_wal(
    db: &LogsTenantDb,
    wal: &mut WalState,
    plans: &mut [Plan<'_>],
) -> Result<(), LogsDbError> {
    wal.batch.clear();
    for plan in plans.iter_mut().filter(|p| !p.accepted.is_empty()) {
        let id = match &plan.existing {
            Some(s) => s.id,
            None => {
                let id = db.head.reserve_id();
                wal.batch.add_stream(id, plan.labels);
                plan.new_id = Some(id);
                id
            }
        };
        wal.batch.add_entries(id, plan.accepted.iter().copied());
    }
    let dir = &db.config.dir;
    let records = wal.batch.finish().map_err(LogsDbError::io("encode", dir))?;
    if records.is_empty() {
        return Ok(());
    }
    wal.writer
        .write(records)
        .map_err(LogsDbError::io("write", dir))?;
    db.wal_bytes
        .fetch_add(records.len() as u64, Ordering::Relaxed);
    let due = match db.config.fsync {
        LogsFsyncPolicy::Always => true,
        LogsFsyncPolicy::Interval(every) => wal.last_sync.elapsed() >= every,
    };
    if due {
        wal.writer.sync().map_err(LogsDbError::io("fsync", dir))?;
        wal.last_sync = std::time::Instant::now();
    }
    Ok(())
}

enum Verdict {
    Accept,
    Duplicate,
    /// With the oldest acceptable time.
    Reject(LogsRejectReason, i64),
}

/// Loki's rejection message (`bound` is the oldest acceptable time).
fn message(reason: LogsRejectReason, ts: i64, bound: i64, labels: &Labels) -> String {
    let rule = match reason {
        LogsRejectReason::TooFarBehind => format!(
            "entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}",
            rfc3339(ts),
            rfc3339(bound)
        ),
        LogsRejectReason::TooOld => format!(
            "entry too old, entry timestamp is: {}, this ingester already cut its block up to \
             {}: only newer entries are accepted",
            rfc3339(ts),
            rfc3339(bound)
        ),
    };
    format!(
        "entry with timestamp {} ignored, reason: '{rule}' for stream: {labels}",
        go_time(ts)
    )
}

struct Rules {
    min_valid_time: i64,
    window_ns: i64,
}

impl Rules {
    fn check(
        &self,
        state: Option<&StreamState>,
        plan: &Plan<'_>,
        entry: &Entry,
    ) -> Result<Verdict, LogsDbError> {
        let ts = entry.ts_ns;
        let newest = state.and_then(StreamState::newest_ts).max(plan.newest);
        if let Some(newest) = newest {
            let cutoff = newest.saturating_sub(self.window_ns);
            if ts < cutoff {
                return Ok(Verdict::Reject(LogsRejectReason::TooFarBehind, cutoff));
            }
        }
        if ts < self.min_valid_time {
            let bound = self.min_valid_time;
            return Ok(Verdict::Reject(LogsRejectReason::TooOld, bound));
        }
        let duplicate = plan.seen.contains(&(ts, entry.line.as_str()))
            || state.map_or(Ok(false), |s| s.contains(ts, &entry.line))?;
        Ok(if duplicate {
            Verdict::Duplicate
        } else {
            Verdict::Accept
        })
    }
}

/// The first few rejections and the count per reason.
#[derive(Default)]
struct Rejects {
    first: Vec<LogsAppendRejection>,
    counts: Vec<(LogsRejectReason, u64)>,
}

impl Rejects {
    fn add(&mut self, reason: LogsRejectReason, message: impl FnOnce() -> String) {
        match self.counts.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((reason, 1)),
        }
        if self.first.len() < MAX_REPORTED {
            self.first.push(LogsAppendRejection {
                reason,
                message: message(),
            });
        }
    }
}
