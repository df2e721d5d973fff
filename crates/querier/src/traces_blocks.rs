//! Reading traces from the blocks the ingesters uploaded to `traces/<tenant>/<block-id>/`.
//!
//! Blocks come from the tenant's traces bucket index (through the shared `BlockOpener`:
//! catalog, parsed `index` cache, concurrency permits, byte-range reads). Besides the page
//! index, a block has a `bloom` (trace IDs) and `search` columns; both are fetched whole
//! once and kept parsed in bounded caches like the indexes.
//!
//! - Trace by ID: every block overlapping the range (all when unbounded): the index says
//!   which page could hold the ID (none: skip), the bloom whether the block may hold it, then
//!   one ranged GET of that page in `data`. (The opener fetches the index before the bloom;
//!   the index is the smaller file and both stay cached.)
//! - Search (`search.rs`): newest blocks first, a batch of `max_concurrent_block_reads` at a
//!   time; per block the search columns give candidates, their pages are fetched (one range
//!   per page) and the decoded traces evaluated; stops once `limit` distinct traces matched.
//! - Tag names and values (`tags.rs`): from the search columns; values the columns do not
//!   keep, or under a TraceQL filter, from the candidate traces themselves (`pages.rs`).
//!
//! Parsing, candidate selection, decoding and evaluation run on the blocking pool.

mod pages;
mod search;
mod tags;

use std::future::Future;
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sextant_model::{Signal, TenantId};
use sextant_storage::{keys, BucketBlock};
use sextant_traces::block::{
    read_page, TracesBlockError, TracesBlockIndex, TracesBloom, TracesSearchColumns, BLOOM_FILE,
    DATA_FILE, INDEX_FILE, SEARCH_FILE,
};
use sextant_traces::model::{Trace, TraceId};

use crate::blocks::index_cache::IndexCache;
use crate::blocks::opener::{BlockIndexFormat, BlockOpenMetrics, BlockOpener};
use crate::config::QuerierConfig;
use crate::instrumentation::{BlockReadCounterNames, BlockReadCounters};
use crate::source::QuerierError;

pub(crate) use search::TracesBlockSearch;

const NS_PER_MS: i64 = 1_000_000;

/// What the traces block reader counts (`sextant_querier_traces_*`), besides the traces
/// inspected.
const TRACES_BLOCK_COUNTERS: BlockReadCounterNames = BlockReadCounterNames {
    prefix: "sextant_querier_traces",
    blocks_opened: ("blocks_opened", "Traces blocks opened by queries."),
    fetched_bytes: (
        "block_fetched_bytes",
        "Bytes of traces block files (index, bloom, search, data pages) fetched from object storage.",
    ),
    cache_hits: (
        "block_cache_hits",
        "Traces block indexes, blooms and search columns found parsed in the caches.",
    ),
    cache_misses: (
        "block_cache_misses",
        "Traces block indexes, blooms and search columns fetched and parsed.",
    ),
};

impl BlockIndexFormat for TracesBlockIndex {
    const INDEX_FILE: &'static str = INDEX_FILE;

    fn parse_index(bytes: &[u8]) -> Result<Self, String> {
        TracesBlockIndex::parse(bytes).map_err(|e| e.to_string())
    }
}

/// The block side of every traces read.
pub(crate) struct TracesBlockReader {
    blocks: BlockOpener<TracesBlockIndex, BlockReadCounters>,
    /// `sextant_querier_traces_block_traces_inspected`.
    traces_inspected: Counter,
    store: Arc<dyn ObjectStore>,
    blooms: IndexCache<TracesBloom>,
    columns: IndexCache<TracesSearchColumns>,
    /// Blocks searched at the same time before checking whether enough traces matched.
    search_batch: usize,
}

impl TracesBlockReader {
    /// Blooms and search columns each get a cache of `index_cache_size` bytes.
    pub(crate) fn new(
        config: &QuerierConfig,
        store: Arc<dyn ObjectStore>,
        registry: &mut Registry,
    ) -> Self {
        let metrics = BlockReadCounters::register(registry, &TRACES_BLOCK_COUNTERS);
        let traces_inspected = Counter::default();
        registry.register(
            "sextant_querier_traces_block_traces_inspected",
            "Traces decoded from blocks and evaluated by searches.",
            traces_inspected.clone(),
        );
        TracesBlockReader {
            blocks: BlockOpener::new(
                config,
                Arc::clone(&store),
                Signal::Traces,
                "traces block",
                metrics,
            ),
            traces_inspected,
            store,
            blooms: IndexCache::new(config.index_cache_size),
            columns: IndexCache::new(config.index_cache_size),
            search_batch: config.max_concurrent_block_reads.max(1),
        }
    }

    /// The fragments of trace `id` held by the blocks overlapping `[start_ns, end_ns)` (zero
    /// bounds: unbounded), one per block holding it.
    pub(crate) async fn find(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Trace>, QuerierError> {
        let found = self
            .blocks
            .each_block(
                tenant,
                |b: &BucketBlock| block_may_overlap(b, start_ns, end_ns),
                |block, index| async move {
                    let Some(page) = index.page_for(&id) else {
                        return Ok(None);
                    };
                    let bloom = self.bloom(tenant, &block.block_id).await?;
                    if !bloom.may_contain(&id) {
                        return Ok(None);
                    }
                    let fetched = self
                        .blocks
                        .fetch_ranges(tenant, &block.block_id, DATA_FILE, &[page.range()])
                        .await?;
                    blocking(move || match fetched.first() {
                        Some(bytes) => read_page(bytes)?.find(&id),
                        None => Ok(None),
                    })
                    .await?
                    .map_err(|e| self.blocks.block_error(&block.block_id, e))
                },
            )
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The blocks overlapping `[start_ns, end_ns)`, newest first (listed, not opened).
    async fn overlapping(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BucketBlock>, QuerierError> {
        let mut blocks = self
            .blocks
            .blocks(tenant, |b| block_may_overlap(b, start_ns, end_ns))
            .await?;
        blocks.sort_by(|a, b| {
            (b.max_time_ms, b.min_time_ms, &b.block_id).cmp(&(
                a.max_time_ms,
                a.min_time_ms,
                &a.block_id,
            ))
        });
        Ok(blocks)
    }

    /// Runs `read` on the given blocks (with their parsed indexes), concurrently.
    async fn read_blocks<'a, T, F, Fut>(
        &'a self,
        tenant: &'a TenantId,
        blocks: &[BucketBlock],
        read: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        F: Fn(BucketBlock, Arc<TracesBlockIndex>) -> Fut,
        Fut: Future<Output = Result<T, QuerierError>> + 'a,
    {
        let wanted = |b: &BucketBlock| blocks.iter().any(|w| w.block_id == b.block_id);
        self.blocks.each_block(tenant, wanted, read).await
    }

    async fn bloom(
        &self,
        tenant: &TenantId,
        block_id: &str,
    ) -> Result<Arc<TracesBloom>, QuerierError> {
        self.cached(
            &self.blooms,
            tenant,
            block_id,
            BLOOM_FILE,
            TracesBloom::parse,
        )
        .await
    }

    async fn columns(
        &self,
        tenant: &TenantId,
        block_id: &str,
    ) -> Result<Arc<TracesSearchColumns>, QuerierError> {
        self.cached(
            &self.columns,
            tenant,
            block_id,
            SEARCH_FILE,
            TracesSearchColumns::parse,
        )
        .await
    }

    /// A whole block `file`, parsed, from `cache` or fetched.
    async fn cached<T: Send + Sync + 'static>(
        &self,
        cache: &IndexCache<T>,
        tenant: &TenantId,
        block_id: &str,
        file: &'static str,
        parse: fn(&[u8]) -> Result<T, TracesBlockError>,
    ) -> Result<Arc<T>, QuerierError> {
        let cache_key = format!("{tenant}/{block_id}");
        if let Some(parsed) = cache.get(&cache_key) {
            self.blocks.metrics.index_cache(true);
            return Ok(parsed);
        }
        self.blocks.metrics.index_cache(false);
        let key = keys::block_object_key(Signal::Traces, tenant, block_id, file);
        let result = match self.store.get(&key).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = result.map_err(|e| QuerierError::Blocks(format!("cannot read {key}: {e}")))?;
        let weight = bytes.len() as u64;
        self.blocks.metrics.fetched(file, weight);
        let parsed = blocking(move || parse(&bytes))
            .await?
            .map_err(|e| self.blocks.block_error(block_id, e))?;
        let parsed = Arc::new(parsed);
        cache.insert(cache_key, Arc::clone(&parsed), weight);
        Ok(parsed)
    }
}

/// Whether a listed block (its time range in the ms covering its spans) may hold spans in
/// `[start_ns, end_ns)`; a zero bound is unbounded.
fn block_may_overlap(block: &BucketBlock, start_ns: i64, end_ns: i64) -> bool {
    let min_ns = block.min_time_ms.saturating_mul(NS_PER_MS);
    let max_ns = block.max_time_ms.saturating_mul(NS_PER_MS);
    (end_ns == 0 || min_ns < end_ns) && (start_ns == 0 || max_ns >= start_ns)
}

/// Runs CPU-heavy work (parsing, selecting, decoding, evaluating) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QuerierError> {
    crate::blocks::opener::blocking("traces block", f).await
}

#[cfg(test)]
mod perf;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
