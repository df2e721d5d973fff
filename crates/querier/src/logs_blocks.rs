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

use std::ops::Range;
use std::sync::Arc;

use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_logs::block::{
    chunk_byte_range, read_logs_chunk, LogsBlockIndex, LogsChunkMeta, CHUNKS_FILE, INDEX_FILE,
};
use sextant_logs::logql::ast::Stage;
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_logs::pipeline::LogsLineFilter;
use sextant_model::{Labels, Matcher, Signal, TenantId};
use sextant_storage::BucketBlock;

use crate::blocks::opener::{BlockIndexFormat, BlockOpener};
use crate::config::QuerierConfig;
use crate::instrumentation::{BlockReadCounterNames, BlockReadCounters};
use crate::source::QuerierError;

const NS_PER_MS: i64 = 1_000_000;

/// What the logs block reader counts (`sextant_querier_logs_*`).
const LOGS_BLOCK_COUNTERS: BlockReadCounterNames = BlockReadCounterNames {
    prefix: "sextant_querier_logs",
    blocks_opened: ("blocks_opened", "Logs blocks opened by queries."),
    fetched_bytes: (
        "block_fetched_bytes",
        "Bytes of logs block index and chunks fetched from object storage.",
    ),
    cache_hits: (
        "index_cache_hits",
        "Logs block indexes found parsed in the cache.",
    ),
    cache_misses: (
        "index_cache_misses",
        "Logs block indexes fetched and parsed.",
    ),
};

impl BlockIndexFormat for LogsBlockIndex {
    const INDEX_FILE: &'static str = INDEX_FILE;

    fn parse_index(bytes: &[u8]) -> Result<Self, String> {
        LogsBlockIndex::parse(bytes).map_err(|e| e.to_string())
    }
}

/// The block side of every logs read.
pub(crate) struct LogsBlockReader {
    blocks: BlockOpener<LogsBlockIndex, BlockReadCounters>,
}

impl LogsBlockReader {
    pub(crate) fn new(
        config: &QuerierConfig,
        store: Arc<dyn ObjectStore>,
        registry: &mut Registry,
    ) -> Self {
        let metrics = BlockReadCounters::register(registry, &LOGS_BLOCK_COUNTERS);
        LogsBlockReader {
            blocks: BlockOpener::new(config, store, Signal::Logs, "logs block", metrics),
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
        self.blocks
            .each_block(
                tenant,
                |b: &BucketBlock| block_may_overlap(b, start_ns, end_ns),
                |block, index| {
                    let filter = filter.clone();
                    async move {
                        let matchers = matchers.to_vec();
                        let plan =
                            blocking(move || plan_reads(&index, &matchers, start_ns, end_ns))
                                .await?;
                        if plan.ranges.is_empty() {
                            return Ok(Vec::new());
                        }
                        let fetched = self
                            .blocks
                            .fetch_ranges(tenant, &block.block_id, CHUNKS_FILE, &plan.ranges)
                            .await?;
                        blocking(move || decode(plan, &fetched, &filter, start_ns, end_ns))
                            .await?
                            .map_err(|e| self.blocks.block_error(&block.block_id, e))
                    }
                },
            )
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
        self.blocks
            .on_indexes(
                tenant,
                |b: &BucketBlock| block_may_overlap(b, start_ns, end_ns),
                move |index| matching_labels(index, &sets, start_ns, end_ns),
            )
            .await
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
    crate::blocks::opener::blocking("logs block", f).await
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
