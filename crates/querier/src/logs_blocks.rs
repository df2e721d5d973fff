//! Reading logs from the blocks the ingesters uploaded to `logs/<tenant>/<block-id>/`.
//!
//! A read lists the tenant's blocks from its logs bucket index (cached for
//! `querier.bucket_index_refresh`, a LIST while there is no index), opens only the blocks
//! overlapping the query, parses each block's `index` once (parsed indexes are kept by
//! [`IndexCache`]) and fetches only the byte ranges of the chunks of matching
//! streams that overlap the range. Parsing, matching and decoding run on the blocking pool.
//!
//! Every ingester of a replica set uploads its own block, so the same entry usually comes
//! from several blocks: callers merge streams by labels and entries by (time, line,
//! metadata), as they do for ingester replicas.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use futures::future::try_join_all;
use object_store::{ObjectStore, ObjectStoreExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sextant_logs::block::{
    chunk_byte_range, read_logs_chunk, LogsBlockIndex, LogsChunkMeta, CHUNKS_FILE, INDEX_FILE,
};
use sextant_logs::logql::ast::Stage;
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_logs::pipeline::LogsLineFilter;
use sextant_model::{Labels, Matcher, Signal, TenantId};
use sextant_storage::{keys, BucketBlock};
use tokio::sync::Semaphore;

use crate::blocks::catalog::BlockCatalog;
use crate::blocks::index_cache::IndexCache;
use crate::config::QuerierConfig;
use crate::source::QuerierError;

const NS_PER_MS: i64 = 1_000_000;

/// What the logs block reader counts (`sextant_querier_logs_*`).
#[derive(Clone, Debug, Default)]
struct LogsBlockMetrics {
    blocks_opened: Counter,
    fetched_bytes: Counter,
    index_cache_hits: Counter,
    index_cache_misses: Counter,
}

impl LogsBlockMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = LogsBlockMetrics::default();
        let r = registry.sub_registry_with_prefix("sextant_querier_logs");
        r.register(
            "blocks_opened",
            "Logs blocks opened by queries.",
            m.blocks_opened.clone(),
        );
        r.register(
            "block_fetched_bytes",
            "Bytes of logs block index and chunks fetched from object storage.",
            m.fetched_bytes.clone(),
        );
        r.register(
            "index_cache_hits",
            "Logs block indexes found parsed in the cache.",
            m.index_cache_hits.clone(),
        );
        r.register(
            "index_cache_misses",
            "Logs block indexes fetched and parsed.",
            m.index_cache_misses.clone(),
        );
        m
    }
}

/// The block side of every logs read.
pub(crate) struct LogsBlockReader {
    store: Arc<dyn ObjectStore>,
    catalog: BlockCatalog,
    indexes: IndexCache<LogsBlockIndex>,
    permits: Semaphore,
    metrics: LogsBlockMetrics,
}

impl LogsBlockReader {
    pub(crate) fn new(
        config: &QuerierConfig,
        store: Arc<dyn ObjectStore>,
        registry: &mut Registry,
    ) -> Self {
        LogsBlockReader {
            catalog: BlockCatalog::new(
                Arc::clone(&store),
                Signal::Logs,
                config.bucket_index_refresh,
            ),
            store,
            indexes: IndexCache::new(config.index_cache_size),
            permits: Semaphore::new(config.max_concurrent_block_reads.max(1)),
            metrics: LogsBlockMetrics::register(registry),
        }
    }

    /// The matching streams with their entries in `[start_ns, end_ns)`, one list per block
    /// (not deduplicated across blocks).
    pub(crate) async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        line_filters: &[Stage],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Vec<Stream>>, QuerierError> {
        let filter = LogsLineFilter::new(line_filters)
            .map_err(|e| QuerierError::BadRequest(e.to_string()))?;
        let filter = Arc::new(filter);
        self.each_block(tenant, start_ns, end_ns, |block, index| {
            let filter = filter.clone();
            async move {
                let matchers = matchers.to_vec();
                let plan =
                    blocking(move || plan_reads(&index, &matchers, start_ns, end_ns)).await?;
                if plan.ranges.is_empty() {
                    return Ok(Vec::new());
                }
                let key =
                    keys::block_object_key(Signal::Logs, tenant, &block.block_id, CHUNKS_FILE);
                let fetched = self
                    .store
                    .get_ranges(&key, &plan.ranges)
                    .await
                    .map_err(|e| self.storage_error(tenant, &key, e))?;
                let bytes: u64 = fetched.iter().map(|b| b.len() as u64).sum();
                self.metrics.fetched_bytes.inc_by(bytes);
                blocking(move || decode(plan, &fetched, &filter, start_ns, end_ns))
                    .await?
                    .map_err(|e| {
                        QuerierError::Blocks(format!("logs block {}: {e}", block.block_id))
                    })
            }
        })
        .await
    }

    /// Label sets of the streams matching any matcher set (all streams when there is none)
    /// with a chunk in `[start_ns, end_ns)`, one sorted list per block.
    pub(crate) async fn series(
        &self,
        tenant: &TenantId,
        matcher_sets: &[Vec<Matcher>],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Vec<Labels>>, QuerierError> {
        let sets = matcher_sets.to_vec();
        self.each_block(tenant, start_ns, end_ns, |_, index| {
            let sets = sets.clone();
            async move { blocking(move || matching_labels(&index, &sets, start_ns, end_ns)).await }
        })
        .await
    }

    /// Runs `read` on every block that may overlap `[start_ns, end_ns)`, at most
    /// `max_concurrent_block_reads` at a time over the whole querier.
    async fn each_block<'a, T, F, Fut>(
        &'a self,
        tenant: &'a TenantId,
        start_ns: i64,
        end_ns: i64,
        read: F,
    ) -> Result<Vec<T>, QuerierError>
    where
        F: Fn(BucketBlock, Arc<LogsBlockIndex>) -> Fut,
        Fut: Future<Output = Result<T, QuerierError>> + 'a,
    {
        let blocks = self.catalog.blocks(tenant).await?;
        let read = &read;
        let reads = blocks
            .iter()
            .filter(|b| block_may_overlap(b, start_ns, end_ns))
            .map(|block| async move {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| QuerierError::Blocks("logs block reader closed".into()))?;
                self.metrics.blocks_opened.inc();
                let index = self.index(tenant, block).await?;
                read(block.clone(), index).await
            });
        try_join_all(reads).await
    }

    /// The block's parsed index, from the cache or fetched and parsed.
    async fn index(
        &self,
        tenant: &TenantId,
        block: &BucketBlock,
    ) -> Result<Arc<LogsBlockIndex>, QuerierError> {
        let cache_key = format!("{tenant}/{}", block.block_id);
        if let Some(index) = self.indexes.get(&cache_key) {
            self.metrics.index_cache_hits.inc();
            return Ok(index);
        }
        self.metrics.index_cache_misses.inc();
        let key = keys::block_object_key(Signal::Logs, tenant, &block.block_id, INDEX_FILE);
        let result = match self.store.get(&key).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = result.map_err(|e| self.storage_error(tenant, &key, e))?;
        let weight = bytes.len() as u64;
        self.metrics.fetched_bytes.inc_by(weight);
        let index = blocking(move || LogsBlockIndex::parse(&bytes))
            .await?
            .map_err(|e| QuerierError::Blocks(format!("logs block {}: {e}", block.block_id)))?;
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

/// Whether a listed block (its time range in the ms covering its entries) may hold entries
/// in `[start_ns, end_ns)`.
fn block_may_overlap(block: &BucketBlock, start_ns: i64, end_ns: i64) -> bool {
    let min_ns = block.min_time_ms.saturating_mul(NS_PER_MS);
    let max_ns = block.max_time_ms.saturating_mul(NS_PER_MS);
    min_ns < end_ns && max_ns >= start_ns
}

/// Whether a chunk (inclusive times) has entries that may fall in `[start_ns, end_ns)`.
fn chunk_overlaps(chunk: &LogsChunkMeta, start_ns: i64, end_ns: i64) -> bool {
    chunk.min_time_ns < end_ns && chunk.max_time_ns >= start_ns
}

/// The chunks one block query needs: per matching stream its labels and chunk metas, and
/// the byte ranges to fetch (one per chunk, in the same order).
#[derive(Debug)]
struct ReadPlan {
    streams: Vec<(Labels, Vec<LogsChunkMeta>)>,
    ranges: Vec<Range<u64>>,
}

fn plan_reads(
    index: &LogsBlockIndex,
    matchers: &[Matcher],
    start_ns: i64,
    end_ns: i64,
) -> ReadPlan {
    let mut plan = ReadPlan {
        streams: Vec::new(),
        ranges: Vec::new(),
    };
    for r in index.select(matchers) {
        let Some((labels, chunks)) = index.stream(r) else {
            continue;
        };
        let needed: Vec<LogsChunkMeta> = chunks
            .iter()
            .filter(|c| chunk_overlaps(c, start_ns, end_ns))
            .copied()
            .collect();
        if needed.is_empty() {
            continue;
        }
        plan.ranges.extend(needed.iter().map(chunk_byte_range));
        plan.streams.push((labels, needed));
    }
    plan
}

/// Decodes the fetched chunks (`fetched[i]` holds `plan.ranges[i]`) into streams with their
/// entries in `[start_ns, end_ns)` sorted by time; streams left empty are dropped.
fn decode(
    plan: ReadPlan,
    fetched: &[bytes::Bytes],
    filter: &LogsLineFilter,
    start_ns: i64,
    end_ns: i64,
) -> Result<Vec<Stream>, sextant_logs::block::LogsBlockError> {
    let mut chunks_bytes = fetched.iter();
    let mut streams = Vec::with_capacity(plan.streams.len());
    for (labels, metas) in plan.streams {
        let mut entries: Vec<Entry> = Vec::new();
        for meta in &metas {
            let bytes = chunks_bytes.next().ok_or_else(|| {
                sextant_logs::block::LogsBlockError::Corrupt("fewer ranges than chunks".into())
            })?;
            read_logs_chunk(bytes, meta)?.entries_matching(
                start_ns,
                end_ns,
                filter,
                &mut entries,
            )?;
        }
        if entries.is_empty() {
            continue;
        }
        entries.sort_by_key(|e| e.ts_ns);
        streams.push(Stream { labels, entries });
    }
    Ok(streams)
}

/// Label sets of the streams matching any of `sets` (every stream when `sets` is empty) with
/// a chunk overlapping `[start_ns, end_ns)`, sorted and unique.
fn matching_labels(
    index: &LogsBlockIndex,
    sets: &[Vec<Matcher>],
    start_ns: i64,
    end_ns: i64,
) -> Vec<Labels> {
    let mut refs: Vec<_> = match sets.is_empty() {
        true => index.select(&[]),
        false => sets.iter().flat_map(|set| index.select(set)).collect(),
    };
    refs.sort_unstable();
    refs.dedup();
    // refs are in label order, so the result is sorted
    refs.into_iter()
        .filter_map(|r| index.stream(r))
        .filter(|(_, chunks)| chunks.iter().any(|c| chunk_overlaps(c, start_ns, end_ns)))
        .map(|(labels, _)| labels)
        .collect()
}

/// Runs CPU-heavy work (parsing, matching, decoding) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QuerierError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QuerierError::Blocks(format!("logs block read task failed: {e}")))
}

#[cfg(test)]
mod tests;
