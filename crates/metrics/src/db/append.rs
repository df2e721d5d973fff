//! The append path: resolve series, then apply and log under the WAL lock.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sextant_model::Labels;

use crate::head::{Appended, Head, MemSeries, SeriesState};
use crate::wal::WalBatch;
use crate::write::{LabelRef, SeriesEntry, WriteBatch};

use super::{AppendOptions, AppendOutcome, AppendRejection, DbError, RejectReason, TenantDb};

/// How many rejections carry a message.
const MAX_REPORTED: usize = 5;

pub(super) fn append(
    db: &TenantDb,
    batch: &WriteBatch<'_>,
    opts: &AppendOptions,
) -> Result<AppendOutcome, DbError> {
    let mut out = AppendOutcome::default();
    let mut rejects = Rejects::default();
    let mut resolved = resolve(db, batch, opts, &mut out, &mut rejects);
    db.record_metadata(&batch.metadata);

    let mut wal = db.wal.lock();
    let wal = &mut *wal;
    reresolve_removed(db, batch, opts, &mut resolved, &mut rejects);
    wal.batch.clear();
    let newly_logged = log_new_series(&mut wal.batch, batch, &resolved);
    let mut ring = (!batch.exemplars.is_empty()).then(|| db.head.exemplars.lock());
    if let Some(ring) = ring.as_mut() {
        ring.set_capacity(opts.max_exemplars);
    }
    let mut ctx = SeriesAppend {
        batch,
        opts,
        head: &db.head,
        min_valid_time: db.min_valid_time.load(Ordering::Relaxed),
        chunk_max_samples: db.config.chunk_max_samples,
        records: &mut wal.batch,
        out: &mut out,
        rejects: &mut rejects,
    };
    for (entry, resolved) in batch.series.iter().zip(&resolved) {
        let Some(series) = resolved else { continue };
        let mut state = series.state.lock();
        ctx.samples(series, &mut state, entry);
        ctx.histograms(series, &mut state, entry);
        let exemplars = batch.series_exemplars(entry);
        match ring.as_mut() {
            Some(ring) if opts.max_exemplars > 0 => {
                for e in exemplars {
                    if ctx.exemplar(series, &mut state, entry, e) {
                        let labels = to_labels(batch.exemplar_labels(e));
                        ring.push(series.id, labels, e.value, e.timestamp_ms);
                    }
                }
            }
            _ => ctx.out.exemplars_dropped += exemplars.len() as u64,
        }
    }
    drop(ring);
    let written = wal.batch.finish().and_then(|records| {
        wal.writer.write(records)?;
        Ok(records.len() as u64)
    });
    match written {
        Ok(bytes) => db.wal_bytes.fetch_add(bytes, Ordering::Relaxed),
        Err(err) => {
            for s in newly_logged {
                s.logged.store(false, Ordering::Relaxed);
            }
            return Err(DbError::io("write", &db.config.dir)(err));
        }
    };
    (out.rejected, out.rejected_counts) = (rejects.first, rejects.counts);
    Ok(out)
}

/// Adds a Series record for every series not logged yet. Whoever logs first after a series
/// is created writes its record, so a series' record precedes its samples in the WAL (unless
/// a write failed in between; replay copes with that too).
fn log_new_series<'s>(
    records: &mut WalBatch,
    batch: &WriteBatch<'_>,
    resolved: &'s [Option<Arc<MemSeries>>],
) -> Vec<&'s MemSeries> {
    let mut logged = Vec::new();
    for (entry, series) in batch.series.iter().zip(resolved) {
        let Some(series) = series else { continue };
        if !series.logged.swap(true, Ordering::Relaxed) {
            records.add_series(series.id.into(), batch.series_labels(entry));
            logged.push(&**series);
        }
    }
    logged
}

/// Truncation may have dropped series between lookup and the WAL lock: look those up again
/// (now under the WAL lock, so truncation cannot run in between).
fn reresolve_removed(
    db: &TenantDb,
    batch: &WriteBatch<'_>,
    opts: &AppendOptions,
    resolved: &mut [Option<Arc<MemSeries>>],
    rejects: &mut Rejects,
) {
    for (entry, slot) in batch.series.iter().zip(resolved.iter_mut()) {
        if !slot
            .as_ref()
            .is_some_and(|s| s.removed.load(Ordering::Relaxed))
        {
            continue;
        }
        let labels = batch.series_labels(entry);
        match db.head.get_or_create(labels, opts.max_series) {
            Ok((series, _)) => *slot = Some(series),
            Err(reason) => {
                let items = entry.samples.len() + entry.histograms.len() + entry.exemplars.len();
                rejects.add(reason, items as u64, || {
                    format!(
                        "series {} was not created: this tenant reached its per-tenant series \
                         limit of {} (max_global_series_per_user)",
                        to_labels(labels),
                        opts.max_series
                    )
                });
                *slot = None;
            }
        }
    }
}

/// Looks up or creates the series of every entry; `None` for series over the limit.
fn resolve(
    db: &TenantDb,
    batch: &WriteBatch<'_>,
    opts: &AppendOptions,
    out: &mut AppendOutcome,
    rejects: &mut Rejects,
) -> Vec<Option<Arc<MemSeries>>> {
    let mut resolved = Vec::with_capacity(batch.series.len());
    for entry in &batch.series {
        let labels = batch.series_labels(entry);
        match db.head.get_or_create(labels, opts.max_series) {
            Ok((series, created)) => {
                out.series_created += u64::from(created);
                resolved.push(Some(series));
            }
            Err(reason) => {
                let items = entry.samples.len() + entry.histograms.len() + entry.exemplars.len();
                rejects.add(reason, items as u64, || {
                    format!(
                        "series {} was not created: this tenant reached its per-tenant series \
                         limit of {} (max_global_series_per_user); reduce the number of series \
                         or ask for a higher limit",
                        to_labels(labels),
                        opts.max_series
                    )
                });
                resolved.push(None);
            }
        }
    }
    resolved
}

struct SeriesAppend<'b, 'a> {
    batch: &'b WriteBatch<'a>,
    opts: &'b AppendOptions,
    head: &'b Head,
    /// Samples and histograms older than this belong to a block already cut.
    min_valid_time: i64,
    chunk_max_samples: usize,
    records: &'b mut WalBatch,
    out: &'b mut AppendOutcome,
    rejects: &'b mut Rejects,
}

impl SeriesAppend<'_, '_> {
    fn samples(&mut self, series: &MemSeries, state: &mut SeriesState, entry: &SeriesEntry) {
        for s in self.batch.series_samples(entry) {
            if s.timestamp_ms < self.min_valid_time {
                self.reject(RejectReason::TooOld, entry, "sample", s.timestamp_ms);
                continue;
            }
            match state.append_sample(s.timestamp_ms, s.value, self.chunk_max_samples) {
                Ok(Appended::Added) => {
                    self.records
                        .add_sample(series.id.into(), s.timestamp_ms, s.value);
                    self.head.observe_time(s.timestamp_ms);
                    self.out.samples_written += 1;
                }
                Ok(Appended::Duplicate) => {}
                Err(reason) => self.reject(reason, entry, "sample", s.timestamp_ms),
            }
        }
    }

    fn histograms(&mut self, series: &MemSeries, state: &mut SeriesState, entry: &SeriesEntry) {
        let max_buckets = self.opts.max_native_histogram_buckets;
        for h in self.batch.series_histograms(entry) {
            let buckets = h.bucket_count();
            if max_buckets > 0 && buckets > max_buckets {
                let labels = self.batch.series_labels(entry);
                self.rejects
                    .add(RejectReason::MaxNativeHistogramBuckets, 1, || {
                        format!(
                            "native histogram at timestamp {} of series {} has {buckets} buckets, \
                         more than the limit of {max_buckets} (max_native_histogram_buckets)",
                            h.timestamp_ms,
                            to_labels(labels)
                        )
                    });
                continue;
            }
            if h.timestamp_ms < self.min_valid_time {
                self.reject(
                    RejectReason::TooOld,
                    entry,
                    "native histogram",
                    h.timestamp_ms,
                );
                continue;
            }
            match state.append_histogram(h) {
                Ok(Appended::Added) => {
                    self.records.add_histogram(series.id.into(), h);
                    self.head.observe_time(h.timestamp_ms);
                    self.out.histograms_written += 1;
                }
                Ok(Appended::Duplicate) => {}
                Err(reason) => self.reject(reason, entry, "native histogram", h.timestamp_ms),
            }
        }
    }

    /// Whether the exemplar was accepted (and logged); the caller stores it in the ring.
    fn exemplar(
        &mut self,
        series: &MemSeries,
        state: &mut SeriesState,
        entry: &SeriesEntry,
        e: &crate::write::Exemplar,
    ) -> bool {
        match state.accept_exemplar(e.timestamp_ms) {
            Ok(Appended::Added) => {
                let labels = self.batch.exemplar_labels(e);
                self.records
                    .add_exemplar(series.id.into(), e.timestamp_ms, e.value, labels);
                self.out.exemplars_written += 1;
                true
            }
            Ok(Appended::Duplicate) => false,
            Err(reason) => {
                self.reject(reason, entry, "exemplar", e.timestamp_ms);
                false
            }
        }
    }

    fn reject(&mut self, reason: RejectReason, entry: &SeriesEntry, what: &str, ts: i64) {
        let labels = self.batch.series_labels(entry);
        let min_valid_time = self.min_valid_time;
        self.rejects.add(reason, 1, || {
            let too_old;
            let rule = match reason {
                RejectReason::TooOld => {
                    too_old = format!(
                        "it is older than {min_valid_time}, the end of the last block this \
                         ingester cut; only newer data is accepted"
                    );
                    too_old.as_str()
                }
                RejectReason::DuplicateTimestamp => {
                    "another one with the same timestamp and a different value was already \
                     ingested; a series holds one value per timestamp"
                }
                _ => {
                    "it is older than the newest one already ingested; they must arrive in \
                     time order"
                }
            };
            format!(
                "{what} at timestamp {ts} of series {} rejected: {rule}",
                to_labels(labels)
            )
        });
    }
}

fn to_labels(labels: &[LabelRef<'_>]) -> Labels {
    Labels::from_pairs(labels.iter().map(|l| (l.name, l.value)))
}

/// The first few rejections and the count per reason.
#[derive(Default)]
struct Rejects {
    first: Vec<AppendRejection>,
    counts: Vec<(RejectReason, u64)>,
}

impl Rejects {
    fn add(&mut self, reason: RejectReason, items: u64, message: impl FnOnce() -> String) {
        match self.counts.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += items,
            None => self.counts.push((reason, items)),
        }
        if self.first.len() < MAX_REPORTED {
            self.first.push(AppendRejection {
                reason,
                message: message(),
            });
        }
    }
}
