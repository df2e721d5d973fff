//! The evaluator's synchronous [`LogQueryable`] over the async [`LogsSource`]: each select
//! blocks the evaluator's thread on the runtime handle captured when the query started.
//! A selection is fetched once: a later select with the same matchers inside a range
//! already fetched is answered from it (binary operators often repeat a selector).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use sextant_logs::logql::ast::Stage;
use sextant_logs::logql::eval::{line_filters_text, EvalError, LogQueryable, Stream};
use sextant_model::{Matcher, TenantId};
use tokio::runtime::Handle;

use super::source::LogsSource;
use crate::source::QuerierError;

/// What a query read from the source: the raw lines before any pipeline stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LokiProcessed {
    pub lines: u64,
    /// Bytes of the lines.
    pub bytes: u64,
    /// Bytes of structured metadata names and values.
    pub metadata_bytes: u64,
}

/// One fetched selection.
struct Fetched {
    key: Vec<(String, &'static str, String)>,
    start_ns: i64,
    end_ns: i64,
    streams: Arc<Vec<Stream>>,
}

/// One tenant's streams for one query. Must be used from a blocking thread (not from inside
/// the runtime), as [`Handle::block_on`] requires.
pub struct SourceLogQueryable {
    source: Arc<dyn LogsSource>,
    tenant: TenantId,
    handle: Handle,
    deadline: Instant,
    fetched: Mutex<Vec<Fetched>>,
    processed: Mutex<LokiProcessed>,
    /// The first data-layer error, reported as the data layer phrased it.
    source_error: Mutex<Option<QuerierError>>,
    /// A select found the deadline passed.
    timed_out: AtomicBool,
}

impl SourceLogQueryable {
    pub fn new(
        source: Arc<dyn LogsSource>,
        tenant: TenantId,
        handle: Handle,
        deadline: Instant,
    ) -> Self {
        SourceLogQueryable {
            source,
            tenant,
            handle,
            deadline,
            fetched: Mutex::new(Vec::new()),
            processed: Mutex::new(LokiProcessed::default()),
            source_error: Mutex::new(None),
            timed_out: AtomicBool::new(false),
        }
    }

    /// The first error the source returned, if any.
    pub fn take_source_error(&self) -> Option<QuerierError> {
        self.source_error.lock().take()
    }

    /// Whether a select gave up because the deadline had passed.
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Lines and bytes fetched so far (each fetched entry once).
    pub fn processed(&self) -> LokiProcessed {
        *self.processed.lock()
    }

    fn cached(
        &self,
        key: &[(String, &'static str, String)],
        start: i64,
        end: i64,
    ) -> Option<Vec<Stream>> {
        let fetched = self.fetched.lock();
        let hit = fetched
            .iter()
            .find(|f| f.key == key && f.start_ns <= start && end <= f.end_ns)?;
        Some(slice_streams(&hit.streams, start, end))
    }

    fn fetch(
        &self,
        matchers: &[Matcher],
        line_filters: &[Stage],
        start: i64,
        end: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        if Instant::now() >= self.deadline {
            self.timed_out.store(true, Ordering::Relaxed);
            return Err(EvalError::Storage("query timed out".to_string()));
        }
        let select = self
            .source
            .select_filtered(&self.tenant, matchers, line_filters, start, end);
        self.handle.block_on(select).map_err(|e| {
            let converted = EvalError::Storage(e.to_string());
            self.source_error.lock().get_or_insert(e);
            converted
        })
    }
}

impl LogQueryable for SourceLogQueryable {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        self.select_filtered(matchers, &[], start_ns, end_ns)
    }

    /// Passes the leading line filters to the source (the ingesters and block readers run
    /// them); a selection is cached per matchers and line filters.
    fn select_filtered(
        &self,
        matchers: &[Matcher],
        line_filters: &[Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        let mut key: Vec<(String, &'static str, String)> = matchers
            .iter()
            .map(|m| (m.name.clone(), m.op.as_str(), m.value.clone()))
            .collect();
        if !line_filters.is_empty() {
            key.push((String::new(), "|", line_filters_text(line_filters)));
        }
        if let Some(streams) = self.cached(&key, start_ns, end_ns) {
            return Ok(streams);
        }
        let streams = self.fetch(matchers, line_filters, start_ns, end_ns)?;
        let mut processed = self.processed.lock();
        for entry in streams.iter().flat_map(|s| &s.entries) {
            processed.lines += 1;
            processed.bytes += entry.line.len() as u64;
            processed.metadata_bytes += entry
                .metadata
                .iter()
                .map(|l| (l.name.len() + l.value.len()) as u64)
                .sum::<u64>();
        }
        drop(processed);
        let streams = Arc::new(streams);
        self.fetched.lock().push(Fetched {
            key,
            start_ns,
            end_ns,
            streams: streams.clone(),
        });
        Ok(Arc::unwrap_or_clone(streams))
    }
}

/// The entries of `streams` in `start <= ts < end`; streams left empty are dropped.
fn slice_streams(streams: &[Stream], start: i64, end: i64) -> Vec<Stream> {
    streams
        .iter()
        .filter_map(|s| {
            let from = s.entries.partition_point(|e| e.ts_ns < start);
            let to = s.entries.partition_point(|e| e.ts_ns < end).max(from);
            (from < to).then(|| Stream {
                labels: s.labels.clone(),
                entries: s.entries[from..to].to_vec(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki_api::source::MemLogsSource;
    use sextant_logs::logql::eval::Entry;
    use sextant_model::{Labels, MatchOp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn fetches_once_and_counts_processed() {
        let source = Arc::new(MemLogsSource::new());
        let labels = Labels::from_pairs([("app", "a")]);
        for ts in 1..=4 {
            let entry = Entry {
                ts_ns: ts,
                line: "abcd".to_string(),
                metadata: Labels::from_pairs([("k", "v")]),
            };
            source.push("anonymous", &labels, entry);
        }
        let q = SourceLogQueryable::new(
            source.clone(),
            TenantId::default_tenant(),
            Handle::current(),
            Instant::now() + std::time::Duration::from_secs(10),
        );
        let matchers = vec![Matcher::new(MatchOp::Equal, "app", "a").unwrap()];
        let got = tokio::task::spawn_blocking(move || {
            let wide = q.select(&matchers, 0, 10).unwrap();
            source.set_failure(Some(QuerierError::Blocks("gone".into())));
            // Inside the fetched range: answered without asking the failing source.
            let narrow = q.select(&matchers, 2, 4).unwrap();
            let outside = q.select(&matchers, 0, 20);
            (
                wide,
                narrow,
                outside.is_err(),
                q.processed(),
                q.take_source_error(),
            )
        })
        .await
        .unwrap();
        let (wide, narrow, outside_failed, processed, error) = got;
        assert_eq!(wide[0].entries.len(), 4);
        let times: Vec<i64> = narrow[0].entries.iter().map(|e| e.ts_ns).collect();
        assert_eq!(times, vec![2, 3]);
        assert!(outside_failed);
        let want = LokiProcessed {
            lines: 4,
            bytes: 16,
            metadata_bytes: 8,
        };
        assert_eq!(processed, want);
        assert!(matches!(error, Some(QuerierError::Blocks(_))));
    }
}
