//! The per-tenant exemplar store: a bounded ring, oldest exemplars evicted first.

use std::collections::VecDeque;

use hashbrown::HashMap;
use sextant_model::{Labels, TimeRange};

use crate::db::ExemplarData;

/// Capacity until an append sets it from the tenant's limits (e.g. during WAL replay).
pub(crate) const DEFAULT_EXEMPLAR_CAPACITY: usize = 100_000;

#[derive(Debug, Clone)]
struct StoredExemplar {
    series: u32,
    labels: Labels,
    value: f64,
    timestamp_ms: i64,
}

#[derive(Debug)]
pub(crate) struct ExemplarRing {
    entries: VecDeque<StoredExemplar>,
    capacity: usize,
}

impl Default for ExemplarRing {
    fn default() -> Self {
        ExemplarRing {
            entries: VecDeque::new(),
            capacity: DEFAULT_EXEMPLAR_CAPACITY,
        }
    }
}

impl ExemplarRing {
    /// Changes the capacity, evicting the oldest exemplars beyond it.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        let excess = self.entries.len().saturating_sub(capacity);
        self.entries.drain(..excess);
    }

    pub(crate) fn push(&mut self, series: u32, labels: Labels, value: f64, timestamp_ms: i64) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(StoredExemplar {
            series,
            labels,
            value,
            timestamp_ms,
        });
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Exemplars in `range`, grouped by series id, oldest first.
    pub(crate) fn collect(&self, range: TimeRange) -> HashMap<u32, Vec<ExemplarData>> {
        let mut out: HashMap<u32, Vec<ExemplarData>> = HashMap::new();
        for e in self
            .entries
            .iter()
            .filter(|e| range.contains(e.timestamp_ms))
        {
            out.entry(e.series).or_default().push(ExemplarData {
                labels: e.labels.clone(),
                value: e.value,
                timestamp_ms: e.timestamp_ms,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_and_groups_by_series() {
        let mut ring = ExemplarRing::default();
        ring.set_capacity(3);
        for ts in 0..5 {
            ring.push(
                (ts % 2) as u32,
                Labels::from_pairs([("trace_id", ts.to_string())]),
                1.0,
                ts,
            );
        }
        assert_eq!(ring.len(), 3);
        let got = ring.collect(TimeRange::ALL);
        let ts = |s: u32| got[&s].iter().map(|e| e.timestamp_ms).collect::<Vec<_>>();
        assert_eq!((ts(0), ts(1)), (vec![2, 4], vec![3]));
        assert_eq!(ring.collect(TimeRange::new(3, 3)).len(), 1);
        ring.set_capacity(1);
        assert_eq!(ring.len(), 1);
        ring.set_capacity(0);
        ring.push(0, Labels::default(), 1.0, 9);
        assert_eq!(ring.len(), 0);
    }
}
