//! [`Querier`]: the data layer behind the read API. Every call asks the ingesters (recent
//! data) and the blocks (older data) concurrently and merges the answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_metrics::downsample::DownsampleHint;
use sextant_metrics::promql::Series;
use sextant_model::{Labels, Matcher, TenantId};
use sextant_proto::ingester::{
    MatcherSet, MetricsLabelsRequest, MetricsMetadataRequest, MetricsQueryRequest,
    MetricsSeriesRequest,
};

use crate::blocks::{downsampled, BlockReader, BlockSelection};
use crate::config::QuerierConfig;
use crate::ingesters::{IngesterFanOut, IngesterQueryClients, RingSnapshot};
use crate::instrumentation::QuerierMetrics;
use crate::merge::{apply_limit, merge_series, sorted_union};
use crate::source::{MetadataEntry, MetricsSource, QuerierError};
use crate::wire;

/// Unix milliseconds now; injected so tests control "now".
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Merges ingesters and blocks into one answer per read.
pub struct Querier {
    config: QuerierConfig,
    ingesters: IngesterFanOut<dyn IngesterQueryClients>,
    blocks: BlockReader,
}

/// Which sources a read over `[start, end]` consults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SourcePlan {
    ingesters: bool,
    /// The part of the range read from blocks, if any.
    blocks: Option<(i64, i64)>,
}

fn plan_sources(config: &QuerierConfig, now_ms: i64, start: i64, end: i64) -> SourcePlan {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let within = ms(config.query_ingesters_within);
    let ingesters = within == 0 || end >= now_ms.saturating_sub(within);
    let blocks = if config.query_store_after.is_zero() {
        Some((start, end))
    } else {
        let cutoff = now_ms.saturating_sub(ms(config.query_store_after));
        (start <= cutoff).then_some((start, end.min(cutoff)))
    };
    SourcePlan { ingesters, blocks }
}

impl Querier {
    /// `ring` returns the current `ingester-metrics` ring, `clients` reaches an ingester by
    /// address, `store` holds the blocks (`metrics/<tenant>/<block>/...`).
    pub fn new(
        config: QuerierConfig,
        ring: RingSnapshot,
        clients: Arc<dyn IngesterQueryClients>,
        store: Arc<dyn ObjectStore>,
        registry: &mut Registry,
    ) -> Self {
        let metrics = QuerierMetrics::new(registry);
        Querier {
            blocks: BlockReader::new(&config, store, metrics.clone()),
            ingesters: IngesterFanOut::new(
                "ingester-metrics",
                ring,
                clients,
                metrics.ingester_requests(),
            ),
            config,
        }
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.ingesters = self.ingesters.with_clock(clock);
        self
    }

    fn plan(&self, start: i64, end: i64) -> SourcePlan {
        plan_sources(&self.config, self.ingesters.now_ms(), start, end)
    }

    async fn select_inner(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matchers: &[Matcher],
        hint: Option<DownsampleHint>,
    ) -> Result<Vec<Series>, QuerierError> {
        let plan = self.plan(start, end);
        let from_ingesters = async {
            if !plan.ingesters {
                return Ok(Vec::new());
            }
            let request = MetricsQueryRequest {
                tenant: tenant.to_string(),
                start_ms: start,
                end_ms: end,
                matchers: wire::matchers_to_wire(matchers),
            };
            let answers = self
                .ingesters
                .call("query_stream", |c, addr| {
                    c.query_stream(addr, request.clone())
                })
                .await?;
            Ok::<_, QuerierError>(answers)
        };
        let from_blocks = async {
            match plan.blocks {
                Some((s, e)) => self.blocks.select(tenant, s, e, matchers, hint).await,
                None => Ok(BlockSelection::default()),
            }
        };
        let (ingested, stored) = futures::try_join!(from_ingesters, from_blocks)?;
        // conversion and merging are proportional to the samples: off the runtime
        tokio::task::spawn_blocking(move || {
            let mut sources: Vec<Vec<Series>> = ingested
                .into_iter()
                .map(|series| {
                    let series: Vec<Series> = series
                        .into_iter()
                        .map(|ts| wire::series_from_wire(ts, start, end))
                        .collect();
                    match hint {
                        Some(hint) => downsampled::raw_series(series, &stored.downsampled, hint),
                        None => series,
                    }
                })
                .collect();
            sources.extend(stored.per_block);
            merge_series(sources)
        })
        .await
        .map_err(|e| QuerierError::Ingesters(format!("merge task failed: {e}")))
    }

    /// Asks the ingesters one `LabelNames`/`LabelValues` request per matcher set (one without
    /// matchers when there is none) and returns each instance's union.
    async fn ingester_labels(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
        limit: usize,
    ) -> Result<Vec<Vec<String>>, QuerierError> {
        let sets: Vec<&[Matcher]> = if matcher_sets.is_empty() {
            vec![&[]]
        } else {
            matcher_sets.iter().map(Vec::as_slice).collect()
        };
        let requests: Vec<MetricsLabelsRequest> = sets
            .into_iter()
            .map(|set| MetricsLabelsRequest {
                tenant: tenant.to_string(),
                start_ms: start,
                end_ms: end,
                matchers: wire::matchers_to_wire(set),
                label_name: name.unwrap_or_default().to_string(),
                limit: limit as u64,
            })
            .collect();
        let operation = if name.is_some() {
            "label_values"
        } else {
            "label_names"
        };
        self.ingesters
            .call(operation, |c, addr| {
                let calls: Vec<_> = requests
                    .iter()
                    .map(|r| match name {
                        Some(_) => c.label_values(addr, r.clone()),
                        None => c.label_names(addr, r.clone()),
                    })
                    .collect();
                futures::future::try_join_all(calls)
                    .map(|r| r.map(|answers| answers.into_iter().flatten().collect()))
                    .boxed()
            })
            .await
    }

    async fn labels_inner(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
        limit: usize,
    ) -> Result<Vec<String>, QuerierError> {
        let plan = self.plan(start, end);
        let from_ingesters = async {
            if !plan.ingesters {
                return Ok(Vec::new());
            }
            self.ingester_labels(tenant, name, start, end, matcher_sets, limit)
                .await
        };
        let from_blocks = async {
            match (plan.blocks, name) {
                (None, _) => Ok(Vec::new()),
                (Some((s, e)), None) => self.blocks.label_names(tenant, s, e, matcher_sets).await,
                (Some((s, e)), Some(n)) => {
                    self.blocks
                        .label_values(tenant, n, s, e, matcher_sets)
                        .await
                }
            }
        };
        let (ingested, stored) = futures::try_join!(from_ingesters, from_blocks)?;
        let mut values = sorted_union(ingested.into_iter().chain(stored), 0);
        // an absent label is not a value
        values.retain(|v| !v.is_empty());
        Ok(apply_limit(values, limit))
    }

    async fn series_inner(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
        limit: usize,
    ) -> Result<Vec<Labels>, QuerierError> {
        let plan = self.plan(start, end);
        let from_ingesters = async {
            if !plan.ingesters {
                return Ok(Vec::new());
            }
            let request = MetricsSeriesRequest {
                tenant: tenant.to_string(),
                start_ms: start,
                end_ms: end,
                matcher_sets: matcher_sets
                    .iter()
                    .map(|set| MatcherSet {
                        matchers: wire::matchers_to_wire(set),
                    })
                    .collect(),
                limit: limit as u64,
            };
            let answers = self
                .ingesters
                .call("series", |c, addr| c.series(addr, request.clone()))
                .await?;
            Ok::<Vec<Vec<Labels>>, QuerierError>(
                answers
                    .into_iter()
                    .map(|series| {
                        series
                            .into_iter()
                            .map(|s| wire::labels_from_wire(s.labels))
                            .collect()
                    })
                    .collect(),
            )
        };
        let from_blocks = async {
            match plan.blocks {
                Some((s, e)) => self.blocks.series(tenant, s, e, matcher_sets).await,
                None => Ok(Vec::new()),
            }
        };
        let (ingested, stored) = futures::try_join!(from_ingesters, from_blocks)?;
        Ok(sorted_union(ingested.into_iter().chain(stored), limit))
    }

    async fn metadata_inner(
        &self,
        tenant: &TenantId,
        metric: &str,
        limit: usize,
    ) -> Result<BTreeMap<String, Vec<MetadataEntry>>, QuerierError> {
        let request = MetricsMetadataRequest {
            tenant: tenant.to_string(),
            metric: metric.to_string(),
            limit: limit as u64,
        };
        let answers = self
            .ingesters
            .call("metadata", |c, addr| c.metadata(addr, request.clone()))
            .await?;
        let mut families: BTreeMap<String, BTreeSet<MetadataEntry>> = BTreeMap::new();
        for entry in answers.into_iter().flatten() {
            let (family, entry) = wire::metadata_from_wire(entry);
            if metric.is_empty() || family == metric {
                families.entry(family).or_default().insert(entry);
            }
        }
        let families: Vec<(String, Vec<MetadataEntry>)> = families
            .into_iter()
            .map(|(family, entries)| (family, entries.into_iter().collect()))
            .collect();
        Ok(apply_limit(families, limit).into_iter().collect())
    }
}

impl MetricsSource for Querier {
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &'a [Matcher],
        downsample: Option<DownsampleHint>,
    ) -> BoxFuture<'a, Result<Vec<Series>, QuerierError>> {
        if start_ms > end_ms {
            return Box::pin(async { Ok(Vec::new()) });
        }
        Box::pin(self.select_inner(tenant, start_ms, end_ms, matchers, downsample))
    }

    fn label_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        Box::pin(self.labels_inner(tenant, None, start_ms, end_ms, matcher_sets, limit))
    }

    fn label_values<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        Box::pin(self.labels_inner(tenant, Some(name), start_ms, end_ms, matcher_sets, limit))
    }

    fn series<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Labels>, QuerierError>> {
        Box::pin(self.series_inner(tenant, start_ms, end_ms, matcher_sets, limit))
    }

    fn metadata<'a>(
        &'a self,
        tenant: &'a TenantId,
        metric: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Vec<MetadataEntry>>, QuerierError>> {
        Box::pin(self.metadata_inner(tenant, metric, limit))
    }
}

#[cfg(test)]
mod downsample_tests;
#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn sources_by_time() {
        const H: i64 = 3_600_000;
        let now = 100 * H;
        let default = QuerierConfig::default();
        let always = QuerierConfig {
            query_ingesters_within: Duration::ZERO,
            ..QuerierConfig::default()
        };
        let store_after = QuerierConfig {
            query_store_after: Duration::from_secs(12 * 3600),
            ..QuerierConfig::default()
        };
        let cases = [
            (
                "recent query asks both",
                &default,
                now - H,
                now,
                true,
                Some((now - H, now)),
            ),
            (
                "old query skips ingesters",
                &default,
                now - 20 * H,
                now - 14 * H,
                false,
                Some((now - 20 * H, now - 14 * H)),
            ),
            (
                "end just within 13h",
                &default,
                now - 20 * H,
                now - 13 * H,
                true,
                Some((now - 20 * H, now - 13 * H)),
            ),
            (
                "0s always asks ingesters",
                &always,
                0,
                1,
                true,
                Some((0, 1)),
            ),
            (
                "store_after skips recent blocks",
                &store_after,
                now - H,
                now,
                true,
                None,
            ),
            (
                "store_after clamps the block range",
                &store_after,
                now - 20 * H,
                now,
                true,
                Some((now - 20 * H, now - 12 * H)),
            ),
        ];
        for (name, config, start, end, ingesters, blocks) in cases {
            assert_eq!(
                plan_sources(config, now, start, end),
                SourcePlan { ingesters, blocks },
                "{name}"
            );
        }
    }
}
