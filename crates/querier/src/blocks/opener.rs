//! Opening a signal's blocks, shared by the metrics, logs and traces block readers: which
//! blocks overlap a query (from the [`BlockCatalog`]), their parsed indexes (fetched once, kept
//! in the [`IndexCache`]), byte ranges of their other files, at most `max_concurrent_block_reads`
//! blocks at a time over the whole querier. A missing object means the block list is stale:
//! it is reloaded by the next query.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::try_join_all;
use object_store::{ObjectStore, ObjectStoreExt};
use sextant_model::{Signal, TenantId};
use sextant_storage::{keys, BucketBlock};
use tokio::sync::Semaphore;

use super::catalog::BlockCatalog;
use super::index_cache::IndexCache;
use crate::config::QuerierConfig;
use crate::source::QuerierError;

/// A block index format: parsed from the block's `index` file.
pub(crate) trait BlockIndexFormat: Sized + Send + Sync + 'static {
    /// The block's index file name.
    const INDEX_FILE: &'static str;

    fn parse_index(bytes: &[u8]) -> Result<Self, String>;
}

/// What opening blocks reports (each signal counts in its own metrics).
pub(crate) trait BlockOpenMetrics: Send + Sync {
    fn block_opened(&self);
    fn index_cache(&self, hit: bool);
    /// Bytes fetched from a block's `file` (`index`, `chunks`).
    fn fetched(&self, file: &'static str, bytes: u64);
    /// Bytes fetched from `file` of a block of resolution `resolution_ms` (0 = raw); by
    /// default counted like [`BlockOpenMetrics::fetched`].
    fn fetched_at_resolution(&self, file: &'static str, bytes: u64, resolution_ms: i64) {
        let _ = resolution_ms;
        self.fetched(file, bytes);
    }
}

/// Opens the blocks of one signal.
pub(crate) struct BlockOpener<I, M> {
    store: Arc<dyn ObjectStore>,
    signal: Signal,
    /// How errors name a block: "block", "logs block".
    noun: &'static str,
    catalog: BlockCatalog,
    indexes: IndexCache<I>,
    permits: Semaphore,
    pub(crate) metrics: M,
}

impl<I: BlockIndexFormat, M: BlockOpenMetrics> BlockOpener<I, M> {
    pub(crate) fn new(
        config: &QuerierConfig,
        store: Arc<dyn ObjectStore>,
        signal: Signal,
        noun: &'static str,
        metrics: M,
    ) -> Self {
        BlockOpener {
            catalog: BlockCatalog::new(Arc::clone(&store), signal, config.bucket_index_refresh),
            store,
            signal,
            noun,
            indexes: IndexCache::new(config.index_cache_size),
            permits: Semaphore::new(config.max_concurrent_block_reads.max(1)),
            metrics,
        }
    }

    /// The tenant's listed blocks for which `wanted` holds; nothing is opened.
    pub(crate) async fn blocks(
        &self,
        tenant: &TenantId,
        wanted: impl Fn(&BucketBlock) -> bool,
    ) -> Result<Vec<BucketBlock>, QuerierError> {
        let blocks = self.catalog.blocks(tenant).await?;
        Ok(blocks.iter().filter(|b| wanted(b)).cloned().collect())
    }

    /// Runs `read` on every listed block for which `overlaps` holds, with its parsed index.
    pub(crate) async fn each_block<'a, T, F, Fut>(
        &'a self,
        tenant: &'a TenantId,
        overlaps: impl Fn(&BucketBlock) -> bool,
        read: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        F: Fn(BucketBlock, Arc<I>) -> Fut,
        Fut: Future<Output = Result<T, QuerierError>> + 'a,
    {
        let blocks = self.blocks(tenant, overlaps).await?;
        self.each_chosen(tenant, blocks, |b| b, read).await
    }

    /// Runs `read` on each of `chosen` (items naming a listed block through `block`), with
    /// the block's parsed index.
    pub(crate) async fn each_chosen<'a, X, T, F, Fut>(
        &'a self,
        tenant: &'a TenantId,
        chosen: Vec<X>,
        block: impl Fn(&X) -> &BucketBlock,
        read: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        F: Fn(X, Arc<I>) -> Fut,
        Fut: Future<Output = Result<T, QuerierError>> + 'a,
    {
        let (read, block) = (&read, &block);
        let reads = chosen.into_iter().map(|item| async move {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| QuerierError::Blocks(format!("{} reader closed", self.noun)))?;
            self.metrics.block_opened();
            let index = self.index(tenant, block(&item)).await?;
            read(item, index).await
        });
        try_join_all(reads).await
    }

    /// Runs `f` on the parsed index of every listed block for which `overlaps` holds, on the
    /// blocking pool.
    pub(crate) async fn on_indexes<T, F>(
        &self,
        tenant: &TenantId,
        overlaps: impl Fn(&BucketBlock) -> bool,
        f: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        T: Send + 'static,
        F: Fn(&I) -> T + Clone + Send + 'static,
    {
        self.each_block(tenant, overlaps, |_, index| {
            let f = f.clone();
            async move { blocking(self.noun, move || f(&index)).await }
        })
        .await
    }

    /// The byte `ranges` of the block's `file`.
    pub(crate) async fn fetch_ranges(
        &self,
        tenant: &TenantId,
        block_id: &str,
        file: &'static str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, QuerierError> {
        let fetched = self.get_ranges(tenant, block_id, file, ranges).await?;
        self.metrics.fetched(file, total_len(&fetched));
        Ok(fetched)
    }

    /// The byte `ranges` of `block`'s `file`, counted at the block's resolution.
    pub(crate) async fn fetch_block_ranges(
        &self,
        tenant: &TenantId,
        block: &BucketBlock,
        file: &'static str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, QuerierError> {
        let fetched = self
            .get_ranges(tenant, &block.block_id, file, ranges)
            .await?;
        self.metrics
            .fetched_at_resolution(file, total_len(&fetched), block.resolution_ms);
        Ok(fetched)
    }

    async fn get_ranges(
        &self,
        tenant: &TenantId,
        block_id: &str,
        file: &'static str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, QuerierError> {
        let key = keys::block_object_key(self.signal, tenant, block_id, file);
        self.store
            .get_ranges(&key, ranges)
            .await
            .map_err(|e| self.storage_error(tenant, &key, e))
    }

    /// A block's error, naming the block.
    pub(crate) fn block_error(&self, block_id: &str, e: impl std::fmt::Display) -> QuerierError {
        QuerierError::Blocks(format!("{} {block_id}: {e}", self.noun))
    }

    /// The block's parsed index, from the cache or fetched and parsed.
    async fn index(&self, tenant: &TenantId, block: &BucketBlock) -> Result<Arc<I>, QuerierError> {
        let cache_key = format!("{tenant}/{}", block.block_id);
        if let Some(index) = self.indexes.get(&cache_key) {
            self.metrics.index_cache(true);
            return Ok(index);
        }
        self.metrics.index_cache(false);
        let key = keys::block_object_key(self.signal, tenant, &block.block_id, I::INDEX_FILE);
        let result = match self.store.get(&key).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = result.map_err(|e| self.storage_error(tenant, &key, e))?;
        let weight = bytes.len() as u64;
        self.metrics
            .fetched_at_resolution("index", weight, block.resolution_ms);
        let index = blocking(self.noun, move || I::parse_index(&bytes))
            .await?
            .map_err(|e| self.block_error(&block.block_id, e))?;
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

fn total_len(fetched: &[Bytes]) -> u64 {
    fetched.iter().map(|b| b.len() as u64).sum()
}

/// Runs CPU work (parsing, matching, decoding) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    noun: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QuerierError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QuerierError::Blocks(format!("{noun} read task failed: {e}")))
}
