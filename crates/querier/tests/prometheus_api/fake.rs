//! An in-memory [`MetricsSource`]: series per tenant, metadata, and switches to make it fail
//! or slow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::{self, BoxFuture};
use sextant_metrics::downsample::{raw_as_aggregate, DownsampleHint};
use sextant_metrics::promql::{FPoint, FloatHistogram, HPoint, Series};
use sextant_model::{Labels, Matcher, TenantId};
use sextant_querier::{MetadataEntry, MetricsSource, QuerierError};

#[derive(Default)]
pub struct FakeSource {
    series: BTreeMap<String, BTreeMap<Labels, Series>>,
    metadata: BTreeMap<String, BTreeMap<String, Vec<MetadataEntry>>>,
    /// Every call fails with this error.
    pub fail: Option<QuerierError>,
    /// `select` blocks this long first (it runs on the engine's blocking thread).
    pub select_delay: Duration,
    pub selects: AtomicUsize,
}

impl FakeSource {
    pub fn add_float(&mut self, tenant: &str, labels: &Labels, t: i64, f: f64) {
        self.entry(tenant, labels).floats.push(FPoint { t, f });
    }

    pub fn add_histogram(&mut self, tenant: &str, labels: &Labels, t: i64, h: FloatHistogram) {
        let h = Box::new(h);
        self.entry(tenant, labels).histograms.push(HPoint { t, h });
    }

    pub fn add_metadata(&mut self, tenant: &str, metric: &str, entry: MetadataEntry) {
        self.metadata
            .entry(tenant.to_string())
            .or_default()
            .entry(metric.to_string())
            .or_default()
            .push(entry);
    }

    fn entry(&mut self, tenant: &str, labels: &Labels) -> &mut Series {
        self.series
            .entry(tenant.to_string())
            .or_default()
            .entry(labels.clone())
            .or_insert_with(|| Series {
                metric: labels.clone(),
                ..Series::default()
            })
    }

    /// The tenant's series with at least one sample in the range, cut to the range.
    fn in_range(&self, tenant: &TenantId, start: i64, end: i64) -> Vec<Series> {
        let Some(all) = self.series.get(tenant.as_str()) else {
            return Vec::new();
        };
        let keep = |t: i64| t >= start && t <= end;
        all.values()
            .map(|s| Series {
                metric: s.metric.clone(),
                floats: s.floats.iter().filter(|p| keep(p.t)).copied().collect(),
                histograms: s.histograms.iter().filter(|p| keep(p.t)).cloned().collect(),
                drop_name: false,
            })
            .filter(|s| !s.floats.is_empty() || !s.histograms.is_empty())
            .collect()
    }

    /// Label sets matching any matcher set (all when there are none).
    fn matching_any(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        sets: &[Vec<Matcher>],
    ) -> Vec<Labels> {
        self.in_range(tenant, start, end)
            .into_iter()
            .map(|s| s.metric)
            .filter(|l| sets.is_empty() || sets.iter().any(|set| matches(l, set)))
            .collect()
    }

    fn check(&self) -> Result<(), QuerierError> {
        match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

fn limited<T>(items: impl IntoIterator<Item = T>, limit: usize) -> Vec<T> {
    let items = items.into_iter();
    if limit == 0 {
        items.collect()
    } else {
        items.take(limit).collect()
    }
}

impl MetricsSource for FakeSource {
    fn select<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matchers: &'a [Matcher],
        downsample: Option<DownsampleHint>,
    ) -> BoxFuture<'a, Result<Vec<Series>, QuerierError>> {
        self.selects.fetch_add(1, Ordering::SeqCst);
        if !self.select_delay.is_zero() {
            std::thread::sleep(self.select_delay);
        }
        let result = self.check().map(|()| {
            self.in_range(tenant, start_ms, end_ms)
                .into_iter()
                .filter(|s| matches(&s.metric, matchers))
                // all of it is raw data
                .map(|s| match downsample {
                    Some(hint) => raw_as_aggregate(s, hint.aggregate),
                    None => s,
                })
                .collect()
        });
        Box::pin(future::ready(result))
    }

    fn label_names<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, QuerierError>> {
        let result = self.check().map(|()| {
            let names: BTreeSet<String> = self
                .matching_any(tenant, start_ms, end_ms, matcher_sets)
                .iter()
                .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
                .collect();
            limited(names, limit)
        });
        Box::pin(future::ready(result))
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
        let result = self.check().map(|()| {
            let values: BTreeSet<String> = self
                .matching_any(tenant, start_ms, end_ms, matcher_sets)
                .iter()
                .filter_map(|l| l.get(name).map(str::to_string))
                .collect();
            limited(values, limit)
        });
        Box::pin(future::ready(result))
    }

    fn series<'a>(
        &'a self,
        tenant: &'a TenantId,
        start_ms: i64,
        end_ms: i64,
        matcher_sets: &'a [Vec<Matcher>],
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Labels>, QuerierError>> {
        let result = self.check().map(|()| {
            let series: BTreeSet<Labels> = self
                .matching_any(tenant, start_ms, end_ms, matcher_sets)
                .into_iter()
                .collect();
            limited(series, limit)
        });
        Box::pin(future::ready(result))
    }

    fn metadata<'a>(
        &'a self,
        tenant: &'a TenantId,
        metric: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Vec<MetadataEntry>>, QuerierError>> {
        let result = self.check().map(|()| {
            let all = self
                .metadata
                .get(tenant.as_str())
                .cloned()
                .unwrap_or_default();
            let families = all
                .into_iter()
                .filter(|(name, _)| metric.is_empty() || name == metric);
            limited(families, limit).into_iter().collect()
        });
        Box::pin(future::ready(result))
    }
}
