//! Queries over the head: LogQL selections, label names and values, series and stats. A
//! stream counts as having data in a range when one of its chunk blocks overlaps it (the
//! granularity Loki's index answers at); selections return exactly the entries in range.

use std::collections::BTreeSet;
use std::sync::Arc;

use sextant_model::{Labels, Matcher};

use super::{LogsDbError, LogsTenantDb};
use crate::head::MemStream;
use crate::logql::ast::Stage;
use crate::logql::eval::{EvalError, LogQueryable, Stream};
use crate::pipeline::LogsLineFilter;

/// What `/index/stats` reports for a selection and time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsStats {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    /// Bytes of log lines.
    pub bytes: u64,
}

impl LogQueryable for LogsTenantDb {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        self.select_filtered(matchers, &[], start_ns, end_ns)
    }

    /// Runs the leading line filters inside the chunk readers: blocks that cannot hold a
    /// passing line are not decoded, entries are built for passing lines only.
    fn select_filtered(
        &self,
        matchers: &[Matcher],
        line_filters: &[Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        let filter = LogsLineFilter::new(line_filters)?;
        let mut out = Vec::new();
        for s in self.head.select(matchers) {
            let entries = s
                .state
                .lock()
                .entries_matching(start_ns, end_ns, &filter)
                .map_err(|e| EvalError::Storage(e.to_string()))?;
            if !entries.is_empty() {
                out.push(Stream {
                    labels: s.labels.clone(),
                    entries,
                });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

impl LogsTenantDb {
    /// The label names of the streams matching `matchers` with data in `[start_ns, end_ns)`,
    /// sorted.
    pub fn label_names(&self, start_ns: i64, end_ns: i64, matchers: &[Matcher]) -> Vec<String> {
        let names: BTreeSet<String> = self
            .streams_in(matchers, start_ns, end_ns)
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        names.into_iter().collect()
    }

    /// The values of label `name` over the streams matching `matchers` with data in
    /// `[start_ns, end_ns)`, sorted.
    pub fn label_values(
        &self,
        name: &str,
        start_ns: i64,
        end_ns: i64,
        matchers: &[Matcher],
    ) -> Vec<String> {
        let values: BTreeSet<String> = self
            .streams_in(matchers, start_ns, end_ns)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_owned))
            .collect();
        values.into_iter().collect()
    }

    /// The label sets of the streams matching `matchers` with data in `[start_ns, end_ns)`,
    /// sorted.
    pub fn series(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .streams_in(matchers, start_ns, end_ns)
            .into_iter()
            .map(|s| s.labels.clone())
            .collect();
        out.sort();
        out
    }

    /// Streams, chunks, entries and line bytes of the matching streams in
    /// `[start_ns, end_ns)`.
    pub fn stats(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<LogsStats, LogsDbError> {
        let mut stats = LogsStats::default();
        for s in self.head.select(matchers) {
            let (chunks, counts) = s.state.lock().counts_in(start_ns, end_ns)?;
            if counts.entries > 0 {
                stats.streams += 1;
                stats.chunks += chunks;
                stats.entries += counts.entries;
                stats.bytes += counts.line_bytes;
            }
        }
        Ok(stats)
    }

    /// The oldest and newest entry time in the head.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.head
            .all()
            .iter()
            .filter_map(|s| s.state.lock().time_range())
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    fn streams_in(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<Arc<MemStream>> {
        let mut streams = self.head.select(matchers);
        streams.retain(|s| s.state.lock().overlaps(start_ns, end_ns));
        streams
    }
}
