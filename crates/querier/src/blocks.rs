//! Reading older data from the blocks in object storage.
//!
//! A query opens only the blocks overlapping its time range ([`catalog`] knows which exist),
//! fetches each block's index once (parsed indexes are cached by [`index_cache`]), and then
//! only the byte ranges of the chunks it needs ([`read`] plans and decodes them). Parsing,
//! matching and decoding run on the blocking pool.

pub(crate) mod catalog;
pub(crate) mod index_cache;
mod read;

use std::future::Future;
use std::sync::Arc;

use futures::future::try_join_all;
use object_store::{ObjectStore, ObjectStoreExt};
use sextant_metrics::block::{BlockIndex, CHUNKS_FILE, INDEX_FILE};
use sextant_metrics::promql::Series;
use sextant_model::{Labels, Matcher, Signal, TenantId};
use sextant_storage::{keys, BucketBlock};
use tokio::sync::Semaphore;

use crate::config::QuerierConfig;
use crate::instrumentation::QuerierMetrics;
use crate::source::QuerierError;
use catalog::BlockCatalog;
use index_cache::IndexCache;
use read::{decode, overlaps, plan_reads};

/// The block side of every read.
pub(crate) struct BlockReader {
    store: Arc<dyn ObjectStore>,
    catalog: BlockCatalog,
    indexes: IndexCache<BlockIndex>,
    permits: Semaphore,
    metrics: QuerierMetrics,
}

impl BlockReader {
    pub(crate) fn new(
        config: &QuerierConfig,
        store: Arc<dyn ObjectStore>,
        metrics: QuerierMetrics,
    ) -> Self {
        BlockReader {
            catalog: BlockCatalog::new(
                Arc::clone(&store),
                Signal::Metrics,
                config.bucket_index_refresh,
            ),
            store,
            indexes: IndexCache::new(config.index_cache_size),
            permits: Semaphore::new(config.max_concurrent_block_reads.max(1)),
            metrics,
        }
    }

    /// Series matching `matchers` with their samples in `[start, end]`, one list per block.
    pub(crate) async fn select(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Vec<Series>>, QuerierError> {
        self.each_block(tenant, start, end, |meta, index| async move {
            let matchers = matchers.to_vec();
            let plan = blocking(move || plan_reads(&index, &matchers, start, end)).await?;
            if plan.ranges.is_empty() {
                return Ok(Vec::new());
            }
            let key = keys::block_object_key(Signal::Metrics, tenant, &meta.block_id, CHUNKS_FILE);
            let fetched = self
                .store
                .get_ranges(&key, &plan.ranges)
                .await
                .map_err(|e| self.storage_error(tenant, &key, e))?;
            let bytes: u64 = fetched.iter().map(|b| b.len() as u64).sum();
            self.metrics.fetched("chunks", bytes);
            blocking(move || decode(plan, &fetched, start, end))
                .await?
                .map_err(|e| QuerierError::Blocks(format!("block {}: {e}", meta.block_id)))
        })
        .await
    }

    /// Label names of the blocks overlapping `[start, end]` (of the matching series when
    /// there are matcher sets), one sorted list per block.
    pub(crate) async fn label_names(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<Vec<String>>, QuerierError> {
        let sets = matcher_sets.to_vec();
        self.on_indexes(tenant, start, end, move |index| {
            if sets.is_empty() {
                return index.label_names();
            }
            let mut names: Vec<String> = matching_labels(index, &sets, start, end)
                .into_iter()
                .flat_map(|l| l.into_vec().into_iter().map(|l| l.name))
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        })
        .await
    }

    /// Values of label `name` over the same selection as [`BlockReader::label_names`].
    pub(crate) async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<Vec<String>>, QuerierError> {
        let sets = matcher_sets.to_vec();
        let name = name.to_string();
        self.on_indexes(tenant, start, end, move |index| {
            if sets.is_empty() {
                return index.label_values(&name);
            }
            let mut values: Vec<String> = matching_labels(index, &sets, start, end)
                .iter()
                .filter_map(|l| l.get(&name).map(str::to_string))
                .collect();
            values.sort_unstable();
            values.dedup();
            values
        })
        .await
    }

    /// Label sets of the series matching any matcher set with data in `[start, end]`.
    pub(crate) async fn series(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<Vec<Labels>>, QuerierError> {
        let sets = matcher_sets.to_vec();
        self.on_indexes(tenant, start, end, move |index| {
            matching_labels(index, &sets, start, end)
        })
        .await
    }

    /// Runs `f` on the index of every block overlapping `[start, end]` on the blocking pool.
    async fn on_indexes<T, F>(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        f: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        T: Send + 'static,
        F: Fn(&BlockIndex) -> T + Clone + Send + 'static,
    {
        self.each_block(tenant, start, end, |_, index| {
            let f = f.clone();
            async move { blocking(move || f(&index)).await }
        })
        .await
    }

    /// Runs `read` on every block overlapping `[start, end]`, at most
    /// `max_concurrent_block_reads` at a time over the whole querier.
    async fn each_block<'a, T, F, Fut>(
        &'a self,
        tenant: &'a TenantId,
        start: i64,
        end: i64,
        read: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        F: Fn(BucketBlock, Arc<BlockIndex>) -> Fut,
        Fut: Future<Output = Result<T, QuerierError>> + 'a,
    {
        let blocks = self.catalog.blocks(tenant).await?;
        let read = &read;
        let reads = blocks
            .iter()
            .filter(|m| overlaps(m.min_time_ms, m.max_time_ms, start, end))
            .map(|meta| async move {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| QuerierError::Blocks("block reader closed".into()))?;
                self.metrics.block_opened();
                let index = self.index(tenant, meta).await?;
                read(meta.clone(), index).await
            });
        try_join_all(reads).await
    }

    /// The block's parsed index, from the cache or fetched and parsed.
    async fn index(
        &self,
        tenant: &TenantId,
        meta: &BucketBlock,
    ) -> Result<Arc<BlockIndex>, QuerierError> {
        let cache_key = format!("{tenant}/{}", meta.block_id);
        if let Some(index) = self.indexes.get(&cache_key) {
            self.metrics.index_cache(true);
            return Ok(index);
        }
        self.metrics.index_cache(false);
        let key = keys::block_object_key(Signal::Metrics, tenant, &meta.block_id, INDEX_FILE);
        let result = match self.store.get(&key).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = result.map_err(|e| self.storage_error(tenant, &key, e))?;
        let weight = bytes.len() as u64;
        self.metrics.fetched("index", weight);
        let index = blocking(move || BlockIndex::parse(&bytes))
            .await?
            .map_err(|e| QuerierError::Blocks(format!("block {}: {e}", meta.block_id)))?;
        let index = Arc::new(index);
        self.indexes.insert(cache_key, Arc::clone(&index), weight);
        Ok(index)
    }

    /// A failed read; a missing object means the block list is stale, so it is reloaded by
    /// the next query.
    fn storage_error(
        &self,
        tenant: &TenantId,
        key: &object_store::path::Path,
        e: object_store::Error,
    ) -> QuerierError {
        if matches!(e, object_store::Error::NotFound { .. }) {
            self.catalog.invalidate(tenant);
        }
        QuerierError::Blocks(format!("cannot read {key}: {e}"))
    }
}

/// Label sets of the series matching any of `sets` with a chunk in `[start, end]`, sorted
/// and unique.
fn matching_labels(index: &BlockIndex, sets: &[Vec<Matcher>], start: i64, end: i64) -> Vec<Labels> {
    let mut refs: Vec<_> = sets.iter().flat_map(|set| index.select(set)).collect();
    refs.sort_unstable();
    refs.dedup();
    // refs are in label order, so the result is sorted
    refs.into_iter()
        .filter_map(|r| index.series(r))
        .filter(|(_, chunks)| {
            chunks
                .iter()
                .any(|c| overlaps(c.min_time, c.max_time, start, end))
        })
        .map(|(labels, _)| labels)
        .collect()
}

/// Runs CPU-heavy work (parsing, matching, decoding) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QuerierError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QuerierError::Blocks(format!("block read task failed: {e}")))
}
