//! What the Loki API needs from the logs data layer, and an in-memory implementation for
//! tests and wiring.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::{self, BoxFuture};
use parking_lot::{Mutex, RwLock};
use sextant_logs::logql::ast::Stage;
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_model::{Label, Labels, Matcher, TenantId};

use crate::source::QuerierError;

/// What `/index/stats` reports for a selection: the shape of Loki's answer.
pub use sextant_logs::db::LogsStats;

/// The logs behind every Loki read endpoint, for one tenant at a time. Times are unix
/// nanoseconds, `start_ns` inclusive and `end_ns` exclusive. Answers are already merged
/// across ingesters and blocks, each entry once.
pub trait LogsSource: Send + Sync {
    /// The streams matching every matcher with their entries in `start_ns <= ts < end_ns`,
    /// sorted by time; streams without entries in range are left out.
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Stream>, QuerierError>>;

    /// [`select`](Self::select) for a query whose pipeline starts with `line_filters` (line
    /// filter stages): a source may leave out entries failing them where the data lives. The
    /// evaluator runs the whole pipeline again; the default leaves nothing out.
    fn select_filtered<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        line_filters: &'a [Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Stream>, QuerierError>> {
        let _ = line_filters;
        self.select(tenant, matchers, start_ns, end_ns)
    }

    /// Sorted, unique label names of the streams with data in range (matching `matchers`
    /// when given).
    fn label_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&'a [Matcher]>,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>>;

    /// Sorted, unique values of label `name` over the same selection.
    fn label_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&'a [Matcher]>,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>>;

    /// Sorted, unique label sets of the streams with data in range matching any matcher set
    /// (every stream when `matcher_sets` is empty).
    fn series<'a>(
        &'a self,
        tenant: &'a TenantId,
        matcher_sets: &'a [Vec<Matcher>],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Labels>, QuerierError>>;

    /// Streams, chunks, entries and line bytes of the matching streams in range.
    fn stats<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<LogsStats, QuerierError>>;
}

type TenantStreams = BTreeMap<Labels, Vec<Entry>>;

/// Streams per tenant held in memory, with a switch to make every call fail. Each stream
/// counts as one chunk in [`LogsSource::stats`].
#[derive(Debug, Default)]
pub struct MemLogsSource {
    tenants: RwLock<BTreeMap<String, TenantStreams>>,
    failure: Mutex<Option<QuerierError>>,
}

impl MemLogsSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry to a tenant's stream. Empty label values are dropped, as Loki's
    /// distributor does; entries stay in time order.
    pub fn push(&self, tenant: &str, labels: &Labels, entry: Entry) {
        let kept: Vec<Label> = labels
            .iter()
            .filter(|l| !l.value.is_empty())
            .cloned()
            .collect();
        let mut tenants = self.tenants.write();
        let entries = tenants
            .entry(tenant.to_string())
            .or_default()
            .entry(Labels::from_sorted(kept))
            .or_default();
        let at = entries.partition_point(|e| e.ts_ns <= entry.ts_ns);
        entries.insert(at, entry);
    }

    /// Makes every later call fail with `error` (`None` to recover).
    pub fn set_failure(&self, error: Option<QuerierError>) {
        *self.failure.lock() = error;
    }

    /// The matching streams of a tenant with their entries in range; `Err` when failing.
    fn streams_in(
        &self,
        tenant: &TenantId,
        matcher_sets: &[&[Matcher]],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, QuerierError> {
        if let Some(error) = self.failure.lock().clone() {
            return Err(error);
        }
        let tenants = self.tenants.read();
        let Some(streams) = tenants.get(tenant.as_str()) else {
            return Ok(Vec::new());
        };
        let selected = streams
            .iter()
            .filter(|(labels, _)| {
                matcher_sets.is_empty() || matcher_sets.iter().any(|set| matches(set, labels))
            })
            .map(|(labels, entries)| {
                let from = entries.partition_point(|e| e.ts_ns < start_ns);
                let to = entries.partition_point(|e| e.ts_ns < end_ns).max(from);
                Stream {
                    labels: labels.clone(),
                    entries: entries[from..to].to_vec(),
                }
            })
            .filter(|s| !s.entries.is_empty())
            .collect();
        Ok(selected)
    }
}

fn matches(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl LogsSource for MemLogsSource {
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Stream>, QuerierError>> {
        Box::pin(future::ready(self.streams_in(
            tenant,
            &[matchers],
            start_ns,
            end_ns,
        )))
    }

    fn label_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&'a [Matcher]>,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        let sets: Vec<&[Matcher]> = matchers.into_iter().collect();
        let names = self
            .streams_in(tenant, &sets, start_ns, end_ns)
            .map(|streams| {
                let names: BTreeSet<String> = streams
                    .iter()
                    .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
                    .collect();
                names.into_iter().collect()
            });
        Box::pin(future::ready(names))
    }

    fn label_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&'a [Matcher]>,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        let sets: Vec<&[Matcher]> = matchers.into_iter().collect();
        let values = self
            .streams_in(tenant, &sets, start_ns, end_ns)
            .map(|streams| {
                let values: BTreeSet<String> = streams
                    .iter()
                    .filter_map(|s| s.labels.get(name).map(str::to_owned))
                    .collect();
                values.into_iter().collect()
            });
        Box::pin(future::ready(values))
    }

    fn series<'a>(
        &'a self,
        tenant: &'a TenantId,
        matcher_sets: &'a [Vec<Matcher>],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Labels>, QuerierError>> {
        let sets: Vec<&[Matcher]> = matcher_sets.iter().map(Vec::as_slice).collect();
        let series = self
            .streams_in(tenant, &sets, start_ns, end_ns)
            .map(|streams| streams.into_iter().map(|s| s.labels).collect());
        Box::pin(future::ready(series))
    }

    fn stats<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<LogsStats, QuerierError>> {
        let stats = self
            .streams_in(tenant, &[matchers], start_ns, end_ns)
            .map(|streams| {
                let mut stats = LogsStats::default();
                for stream in &streams {
                    stats.streams += 1;
                    stats.chunks += 1;
                    stats.entries += stream.entries.len() as u64;
                    stats.bytes += stream
                        .entries
                        .iter()
                        .map(|e| e.line.len() as u64)
                        .sum::<u64>();
                }
                stats
            });
        Box::pin(future::ready(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_model::MatchOp;

    fn entry(ts_ns: i64, line: &str) -> Entry {
        Entry {
            ts_ns,
            line: line.to_string(),
            metadata: Labels::default(),
        }
    }

    fn source() -> MemLogsSource {
        let source = MemLogsSource::new();
        let a = Labels::from_pairs([("app", "a"), ("env", "")]);
        let b = Labels::from_pairs([("app", "b"), ("env", "prod")]);
        for ts in [30, 10, 20] {
            source.push("t", &a, entry(ts, "abc"));
        }
        source.push("t", &b, entry(15, "hello"));
        source.push("other", &b, entry(15, "x"));
        source
    }

    fn eq(name: &str, value: &str) -> Matcher {
        Matcher::new(MatchOp::Equal, name, value).unwrap()
    }

    #[tokio::test]
    async fn selects_labels_series_and_stats_per_tenant_and_range() {
        let source = source();
        let t = TenantId::parse("t").unwrap();
        let app_a = [eq("app", "a")];
        let got = source.select(&t, &app_a, 10, 30).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels, Labels::from_pairs([("app", "a")]));
        let times: Vec<i64> = got[0].entries.iter().map(|e| e.ts_ns).collect();
        assert_eq!(times, vec![10, 20]);

        // (start, end, matchers, label names)
        type Case<'a> = (i64, i64, Option<&'a [Matcher]>, Vec<&'a str>);
        let cases: Vec<Case<'_>> = vec![
            (0, 100, None, vec!["app", "env"]),
            (0, 100, Some(&app_a), vec!["app"]),
            (16, 100, None, vec!["app"]),
            (31, 100, None, vec![]),
        ];
        for (start, end, matchers, want) in cases {
            let got = source.label_names(&t, start, end, matchers).await.unwrap();
            assert_eq!(got, want, "{start}..{end}");
        }
        let values = source.label_values(&t, "app", 0, 100, None).await.unwrap();
        assert_eq!(values, vec!["a", "b"]);
        let series = source
            .series(&t, &[vec![eq("env", "prod")]], 0, 100)
            .await
            .unwrap();
        assert_eq!(
            series,
            vec![Labels::from_pairs([("app", "b"), ("env", "prod")])]
        );
        assert_eq!(source.series(&t, &[], 0, 100).await.unwrap().len(), 2);
        let any = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
        let stats = source.stats(&t, &any, 0, 100).await.unwrap();
        let want = LogsStats {
            streams: 2,
            chunks: 2,
            entries: 4,
            bytes: 14,
        };
        assert_eq!(stats, want);
    }

    #[tokio::test]
    async fn failure_switch() {
        let source = source();
        let t = TenantId::parse("t").unwrap();
        source.set_failure(Some(QuerierError::Ingesters("down".into())));
        assert!(source.label_names(&t, 0, 100, None).await.is_err());
        source.set_failure(None);
        assert!(source.label_names(&t, 0, 100, None).await.is_ok());
    }
}
