//! [`LogsQuerier`]: the [`LogsSource`] behind the Loki API, reading the ingesters of the
//! `ingester-logs` ring and, once [`LogsQuerier::with_blocks`] gave it a bucket, the logs
//! blocks the ingesters uploaded (`crate::logs_blocks`).
//!
//! Every call asks every healthy ingester (the fan-out of [`crate::ingesters`]: it fails once
//! more than `replication_factor / 2` instances failed) and, concurrently, the blocks
//! overlapping its range. With RF replicas each stream comes back up to RF times from the
//! ingesters and once per replica's block: `select` merges streams by labels and keeps one
//! entry per (timestamp, line, structured metadata); label names, values and series are
//! sorted unions; `stats` is the sum of the ingesters' answers scaled down by the
//! replication (see [`deduplicate_stats`]; blocks are not counted yet).
//!
//! With a bucket, `select` also drops the entries selected by the tenant's log deletion
//! requests from the merged streams (`crate::logs_deletions`, Loki's `filter-and-delete`);
//! labels, series and stats are not filtered.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use sextant_logs::logql::ast::Stage;
use sextant_logs::logql::eval::{line_filters_text, Entry, Stream};
use sextant_logs::push::batch_from_push_request;
use sextant_model::{Labels, Matcher, TenantId};
use sextant_proto::ingester::{
    LogsLabelsRequest, LogsLabelsResponse, LogsQueryRequest, LogsQueryResponse, LogsSeriesRequest,
    LogsSeriesResponse, LogsStatsRequest, LogsStatsResponse, MatcherSet,
};
use sextant_proto::loki::PushRequest;
use tonic::Status;

use crate::blocks::read_optional;
use crate::config::QuerierConfig;
use crate::ingesters::{IngesterFanOut, RingSnapshot};
use crate::instrumentation::IngesterRequests;
use crate::logs_blocks::LogsBlockReader;
use crate::logs_deletions::LogsDeletions;
use crate::loki_api::{LogsSource, LogsStats};
use crate::merge::sorted_union;
use crate::querier::Clock;
use crate::source::QuerierError;
use crate::wire;

/// Answers with fewer entries than this are decoded and merged on the async runtime; larger
/// ones on a blocking thread.
const INLINE_MERGE_ENTRIES: usize = 1024;

/// Read RPCs of the logs ingester at `addr` (pooled tonic clients of `LogsIngester` in the
/// server, in-memory ingesters in tests).
pub trait LogsIngesterQueryClients: Send + Sync + 'static {
    /// `QueryStream`: every streamed batch.
    fn query_stream(
        &self,
        addr: &str,
        request: LogsQueryRequest,
    ) -> BoxFuture<'static, Result<Vec<LogsQueryResponse>, Status>>;

    /// `LabelNames`.
    fn label_names(
        &self,
        addr: &str,
        request: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, Status>>;

    /// `LabelValues` of `request.label_name`.
    fn label_values(
        &self,
        addr: &str,
        request: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, Status>>;

    /// `Series`.
    fn series(
        &self,
        addr: &str,
        request: LogsSeriesRequest,
    ) -> BoxFuture<'static, Result<LogsSeriesResponse, Status>>;

    /// `Stats`.
    fn stats(
        &self,
        addr: &str,
        request: LogsStatsRequest,
    ) -> BoxFuture<'static, Result<LogsStatsResponse, Status>>;
}

/// The logs data layer over the `ingester-logs` ring.
pub struct LogsQuerier {
    ingesters: IngesterFanOut<dyn LogsIngesterQueryClients>,
    /// The uploaded blocks; `None` reads the ingesters only.
    blocks: Option<LogsBlockReader>,
    /// The log deletion requests in the same bucket; `None` filters nothing.
    deletions: Option<LogsDeletions>,
}

impl LogsQuerier {
    /// `ring` returns the current `ingester-logs` ring, `clients` reaches an ingester by
    /// address; `sextant_querier_logs_ingester_requests_total` goes to `registry`.
    pub fn new(
        ring: RingSnapshot,
        clients: Arc<dyn LogsIngesterQueryClients>,
        registry: &mut Registry,
    ) -> Self {
        LogsQuerier {
            ingesters: IngesterFanOut::new(
                "ingester-logs",
                ring,
                clients,
                IngesterRequests::register_logs(registry),
            ),
            blocks: None,
            deletions: None,
        }
    }

    /// Also reads the logs blocks in `store` (`logs/<tenant>/...`), with the block list
    /// refresh, index cache size and read concurrency of `config`, and drops from `select`
    /// the entries selected by the log deletion requests stored there (re-read every
    /// `bucket_index_refresh`); `sextant_querier_logs_*` block and deletion metrics go to
    /// `registry`.
    pub fn with_blocks(
        mut self,
        config: &QuerierConfig,
        store: Arc<dyn object_store::ObjectStore>,
        registry: &mut Registry,
    ) -> Self {
        self.deletions = Some(LogsDeletions::new(
            Arc::clone(&store),
            config.bucket_index_refresh,
            registry,
        ));
        self.blocks = Some(LogsBlockReader::new(config, store, registry));
        self
    }

    /// Replaces the wall clock that judges ingester heartbeats (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.ingesters = self.ingesters.with_clock(clock);
        self
    }

    async fn select_inner(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        line_filters: &[Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, QuerierError> {
        let request = LogsQueryRequest {
            tenant: tenant.to_string(),
            start_ns,
            end_ns,
            matchers: wire::matchers_to_wire(matchers),
            line_filters: line_filters_text(line_filters),
        };
        let from_ingesters = self.ingesters.call("query_stream", |c, addr| {
            c.query_stream(addr, request.clone())
        });
        let from_blocks = read_optional(self.blocks.as_ref(), |blocks| {
            blocks.select(tenant, matchers, line_filters, start_ns, end_ns)
        });
        let deletions = async {
            match &self.deletions {
                Some(deletions) => deletions.applicable(tenant, start_ns, end_ns).await,
                None => Ok(None),
            }
        };
        let (answers, blocks, deletions) =
            futures::try_join!(from_ingesters, from_blocks, deletions)?;
        let responses: Vec<LogsQueryResponse> = answers.into_iter().flatten().collect();
        let blocks: Vec<Stream> = blocks.into_iter().flatten().collect();
        let entries: usize = responses
            .iter()
            .flat_map(|r| &r.streams)
            .map(|s| s.entries.len())
            .chain(blocks.iter().map(|s| s.entries.len()))
            .sum();
        let merge = move || {
            let streams = merge_responses(responses, blocks, start_ns, end_ns)?;
            Ok(match deletions {
                Some(deletions) => deletions.apply(streams),
                None => streams,
            })
        };
        if entries < INLINE_MERGE_ENTRIES {
            return merge();
        }
        tokio::task::spawn_blocking(merge)
            .await
            .map_err(|e| QuerierError::Ingesters(format!("merge task failed: {e}")))?
    }

    /// The label sets of the blocks' streams matching any of `matcher_sets` (all when empty)
    /// with data in range, one list per block; none without blocks.
    async fn block_series(
        &self,
        tenant: &TenantId,
        matcher_sets: &[Vec<Matcher>],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Vec<Labels>>, QuerierError> {
        read_optional(self.blocks.as_ref(), |blocks| {
            blocks.series(tenant, matcher_sets, start_ns, end_ns)
        })
        .await
    }

    async fn labels_inner(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&[Matcher]>,
    ) -> Result<Vec<String>, QuerierError> {
        let request = LogsLabelsRequest {
            tenant: tenant.to_string(),
            start_ns,
            end_ns,
            matchers: wire::matchers_to_wire(matchers.unwrap_or_default()),
            label_name: name.unwrap_or_default().to_string(),
        };
        let operation = match name {
            Some(_) => "label_values",
            None => "label_names",
        };
        let from_ingesters = self.ingesters.call(operation, |c, addr| match name {
            Some(_) => c.label_values(addr, request.clone()),
            None => c.label_names(addr, request.clone()),
        });
        let sets: Vec<Vec<Matcher>> = matchers.map(<[Matcher]>::to_vec).into_iter().collect();
        let from_blocks = self.block_series(tenant, &sets, start_ns, end_ns);
        let (answers, block_series) = futures::try_join!(from_ingesters, from_blocks)?;
        let block_values = block_series.into_iter().map(|series| {
            let mut values: Vec<String> = series
                .iter()
                .flat_map(|labels| labels.iter())
                .filter(|l| name.is_none_or(|n| l.name == n))
                .map(|l| match name {
                    Some(_) => l.value.clone(),
                    None => l.name.clone(),
                })
                .collect();
            values.sort_unstable();
            values.dedup();
            values
        });
        let lists = answers.into_iter().map(|a| a.values).chain(block_values);
        let mut values = sorted_union(lists, 0);
        // an absent label is not a value
        values.retain(|v| !v.is_empty());
        Ok(values)
    }

    async fn series_inner(
        &self,
        tenant: &TenantId,
        matcher_sets: &[Vec<Matcher>],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, QuerierError> {
        let request = LogsSeriesRequest {
            tenant: tenant.to_string(),
            start_ns,
            end_ns,
            matcher_sets: matcher_sets
                .iter()
                .map(|set| MatcherSet {
                    matchers: wire::matchers_to_wire(set),
                })
                .collect(),
        };
        let from_ingesters = self
            .ingesters
            .call("series", |c, addr| c.series(addr, request.clone()));
        let from_blocks = self.block_series(tenant, matcher_sets, start_ns, end_ns);
        let (answers, block_series) = futures::try_join!(from_ingesters, from_blocks)?;
        let label_sets = answers.into_iter().map(|answer| {
            answer
                .series
                .into_iter()
                .map(|s| wire::labels_from_wire(s.labels))
                .collect::<Vec<Labels>>()
        });
        Ok(sorted_union(label_sets.chain(block_series), 0))
    }

    async fn stats_inner(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<LogsStats, QuerierError> {
        let request = LogsStatsRequest {
            tenant: tenant.to_string(),
            start_ns,
            end_ns,
            matchers: wire::matchers_to_wire(matchers),
        };
        let ring = (self.ingesters.ring)();
        let answers = self
            .ingesters
            .call("stats", |c, addr| c.stats(addr, request.clone()))
            .await?;
        Ok(deduplicate_stats(
            &answers,
            ring.instances().len(),
            ring.config().replication_factor,
        ))
    }
}

/// Decodes the ingesters' answers and merges them with the blocks' streams: one stream per
/// label set, one entry per (timestamp, line, structured metadata), entries in
/// `[start_ns, end_ns)` sorted by time (then line and metadata, so that the order does not
/// depend on which replica answered first), streams sorted by labels; streams left without
/// entries are dropped.
fn merge_responses(
    responses: Vec<LogsQueryResponse>,
    blocks: Vec<Stream>,
    start_ns: i64,
    end_ns: i64,
) -> Result<Vec<Stream>, QuerierError> {
    let mut by_labels: BTreeMap<Labels, Vec<Entry>> = BTreeMap::new();
    for stream in blocks {
        by_labels
            .entry(stream.labels)
            .or_default()
            .extend(stream.entries);
    }
    for response in responses {
        let push = PushRequest {
            streams: response.streams,
            format: String::new(),
        };
        let batch = batch_from_push_request(push).map_err(|e| {
            QuerierError::Ingesters(format!("undecodable answer from an ingester: {e}"))
        })?;
        for stream in batch.streams {
            by_labels
                .entry(stream.labels)
                .or_default()
                .extend(stream.entries);
        }
    }
    let streams = by_labels
        .into_iter()
        .filter_map(|(labels, mut entries)| {
            entries.retain(|e| start_ns <= e.ts_ns && e.ts_ns < end_ns);
            // runs of sorted replicas: the stable sort merges them in linear time
            entries.sort_by(|a, b| {
                (a.ts_ns, &a.line, &a.metadata).cmp(&(b.ts_ns, &b.line, &b.metadata))
            });
            entries.dedup();
            (!entries.is_empty()).then_some(Stream { labels, entries })
        })
        .collect();
    Ok(streams)
}

/// One copy's worth of the ingesters' stats. Each stream lives on `min(RF, instances)`
/// ingesters, so `k` answers out of `n` instances hold about `k · min(RF, n) / n` copies of
/// the data: the sums are divided by that (rounded to nearest). With every instance
/// answering and `n >= RF` this is "sum / RF"; it is exact when each ingester holds the same
/// share of the streams and an estimate otherwise. (Loki dedupes by chunk references
/// instead; the ingesters do not expose chunks.)
fn deduplicate_stats(
    answers: &[LogsStatsResponse],
    instances: usize,
    replication_factor: usize,
) -> LogsStats {
    let copies_n = answers.len() as u128 * replication_factor.min(instances).max(1) as u128;
    let instances = instances.max(1) as u128;
    let scale = |sum: u64| -> u64 {
        if copies_n == 0 {
            return 0;
        }
        let scaled = (u128::from(sum) * instances + copies_n / 2) / copies_n;
        u64::try_from(scaled).unwrap_or(u64::MAX)
    };
    let sum = |field: fn(&LogsStatsResponse) -> u64| -> u64 {
        answers.iter().map(field).fold(0, u64::saturating_add)
    };
    LogsStats {
        streams: scale(sum(|a| a.streams)),
        chunks: scale(sum(|a| a.chunks)),
        entries: scale(sum(|a| a.entries)),
        bytes: scale(sum(|a| a.bytes)),
    }
}

impl LogsSource for LogsQuerier {
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Stream>, QuerierError>> {
        if start_ns >= end_ns {
            return Box::pin(async { Ok(Vec::new()) });
        }
        Box::pin(self.select_inner(tenant, matchers, &[], start_ns, end_ns))
    }

    /// The ingesters and the block readers run the line filters inside their chunk readers.
    fn select_filtered<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        line_filters: &'a [Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Stream>, QuerierError>> {
        if start_ns >= end_ns {
            return Box::pin(async { Ok(Vec::new()) });
        }
        Box::pin(self.select_inner(tenant, matchers, line_filters, start_ns, end_ns))
    }

    fn label_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&'a [Matcher]>,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        Box::pin(self.labels_inner(tenant, None, start_ns, end_ns, matchers))
    }

    fn label_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        start_ns: i64,
        end_ns: i64,
        matchers: Option<&'a [Matcher]>,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        Box::pin(self.labels_inner(tenant, Some(name), start_ns, end_ns, matchers))
    }

    fn series<'a>(
        &'a self,
        tenant: &'a TenantId,
        matcher_sets: &'a [Vec<Matcher>],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<Vec<Labels>, QuerierError>> {
        Box::pin(self.series_inner(tenant, matcher_sets, start_ns, end_ns))
    }

    fn stats<'a>(
        &'a self,
        tenant: &'a TenantId,
        matchers: &'a [Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'a, Result<LogsStats, QuerierError>> {
        Box::pin(self.stats_inner(tenant, matchers, start_ns, end_ns))
    }
}

#[cfg(test)]
mod blocks_tests;
#[cfg(test)]
mod deletion_tests;
#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;
