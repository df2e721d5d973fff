//! Applying WAL records to a fresh head. Items of a series whose record has not been read yet
//! (appenders race between creating a series and logging it) wait until it arrives.

use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashMap;
use sextant_model::Labels;

use crate::head::{Appended, Head, MemSeries};
use crate::wal::{Record, RefExemplar};
use crate::write::{Histogram, LabelRef};

use super::ReplayStats;

enum Pending {
    Sample(i64, f64),
    Histogram(Histogram),
    Exemplar(RefExemplar),
}

pub(super) struct Replayer<'a> {
    head: &'a Head,
    chunk_max_samples: usize,
    refs: HashMap<u64, Arc<MemSeries>>,
    pending: HashMap<u64, Vec<Pending>>,
    stats: ReplayStats,
}

impl<'a> Replayer<'a> {
    pub(super) fn new(head: &'a Head, chunk_max_samples: usize) -> Self {
        Replayer {
            head,
            chunk_max_samples,
            refs: HashMap::new(),
            pending: HashMap::new(),
            stats: ReplayStats::default(),
        }
    }

    pub(super) fn apply(&mut self, record: Record) {
        match record {
            Record::Series(series) => {
                for s in series {
                    let labels: Vec<LabelRef<'_>> = s
                        .labels
                        .iter()
                        .map(|(name, value)| LabelRef { name, value })
                        .collect();
                    let series = self.head.recreate(s.series_ref, &labels);
                    self.stats.series += 1;
                    for item in self.pending.remove(&s.series_ref).unwrap_or_default() {
                        self.apply_item(&series, item);
                    }
                    self.refs.insert(s.series_ref, series);
                }
            }
            Record::Samples(samples) => samples
                .into_iter()
                .for_each(|s| self.route(s.series_ref, Pending::Sample(s.timestamp_ms, s.value))),
            Record::Histograms(hs) => hs
                .into_iter()
                .for_each(|h| self.route(h.series_ref, Pending::Histogram(h.histogram))),
            Record::Exemplars(es) => es
                .into_iter()
                .for_each(|e| self.route(e.series_ref, Pending::Exemplar(e))),
        }
    }

    fn route(&mut self, series_ref: u64, item: Pending) {
        match self.refs.get(&series_ref).cloned() {
            Some(series) => self.apply_item(&series, item),
            None => self.pending.entry(series_ref).or_default().push(item),
        }
    }

    fn apply_item(&mut self, series: &MemSeries, item: Pending) {
        let mut state = series.state.lock();
        match item {
            Pending::Sample(ts, v) => {
                if let Ok(Appended::Added) = state.append_sample(ts, v, self.chunk_max_samples) {
                    self.head.observe_time(ts);
                    self.stats.samples += 1;
                }
            }
            Pending::Histogram(h) => {
                if let Ok(Appended::Added) = state.append_histogram(&h) {
                    self.head.observe_time(h.timestamp_ms);
                    self.stats.histograms += 1;
                }
            }
            Pending::Exemplar(e) => {
                if let Ok(Appended::Added) = state.accept_exemplar(e.timestamp_ms) {
                    let labels = Labels::from_pairs(e.labels);
                    self.head
                        .exemplars
                        .lock()
                        .push(series.id, labels, e.value, e.timestamp_ms);
                    self.stats.exemplars += 1;
                }
            }
        }
    }

    /// Counts what never found its series and keeps new series off their references.
    pub(super) fn finish(self, corrupt_records: u64, duration: Duration) -> ReplayStats {
        let orphaned: usize = self.pending.values().map(Vec::len).sum();
        if orphaned > 0 {
            tracing::warn!(
                items = orphaned,
                series_refs = self.pending.len(),
                "wal items reference series that were never logged; dropped"
            );
        }
        if let Some(max) = self.pending.keys().max() {
            self.head.reserve_ids_through(*max);
        }
        ReplayStats {
            corrupt_records,
            orphaned_items: orphaned as u64,
            duration,
            ..self.stats
        }
    }
}
