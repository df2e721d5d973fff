//! Reading older data from the blocks in object storage.
//!
//! A query opens only the blocks overlapping its time range ([`catalog`] knows which exist),
//! fetches each block's index once (parsed indexes are cached by [`index_cache`]), and then
//! only the byte ranges of the chunks it needs ([`read`] plans and decodes them). Parsing,
//! matching and decoding run on the blocking pool.
//!
//! Metrics blocks come in resolutions: raw, and downsampled (5m, 1h). Raw reads (selects
//! without a downsample hint, label and series lookups) open raw blocks only; a select with
//! a [`DownsampleHint`] opens per time span the coarsest blocks it allows ([`resolution`])
//! and reads them as the hinted aggregate ([`downsampled`]).

pub(crate) mod catalog;
pub(crate) mod downsampled;
pub(crate) mod index_cache;
pub(crate) mod opener;
mod read;
pub(crate) mod resolution;

use std::future::Future;
use std::sync::Arc;

use object_store::ObjectStore;
use sextant_metrics::block::{BlockIndex, CHUNKS_FILE, INDEX_FILE};
use sextant_metrics::downsample::DownsampleHint;
use sextant_metrics::promql::Series;
use sextant_model::{Labels, Matcher, Signal, TenantId};
use sextant_storage::BucketBlock;

use crate::config::QuerierConfig;
use crate::instrumentation::QuerierMetrics;
use crate::source::QuerierError;
use opener::{BlockIndexFormat, BlockOpenMetrics, BlockOpener};
use read::{decode, overlaps, plan_reads};
use resolution::{choose_blocks, ChosenBlock, Spans};

impl BlockIndexFormat for BlockIndex {
    const INDEX_FILE: &'static str = INDEX_FILE;

    fn parse_index(bytes: &[u8]) -> Result<Self, String> {
        BlockIndex::parse(bytes).map_err(|e| e.to_string())
    }
}

impl BlockOpenMetrics for QuerierMetrics {
    fn block_opened(&self) {
        QuerierMetrics::block_opened(self);
    }

    fn index_cache(&self, hit: bool) {
        QuerierMetrics::index_cache(self, hit);
    }

    fn fetched(&self, file: &'static str, bytes: u64) {
        QuerierMetrics::fetched(self, file, bytes, 0);
    }

    fn fetched_at_resolution(&self, file: &'static str, bytes: u64, resolution_ms: i64) {
        QuerierMetrics::fetched(self, file, bytes, resolution_ms);
    }
}

/// What the blocks give for one select.
#[derive(Debug, Default)]
pub(crate) struct BlockSelection {
    /// The series of each block read, in the form the read asked for.
    pub(crate) per_block: Vec<Vec<Series>>,
    /// The spans downsampled blocks answered (empty for raw reads).
    pub(crate) downsampled: Spans,
}

/// The block side of every read.
pub(crate) struct BlockReader {
    blocks: BlockOpener<BlockIndex, QuerierMetrics>,
}

impl BlockReader {
    pub(crate) fn new(
        config: &QuerierConfig,
        store: Arc<dyn ObjectStore>,
        metrics: QuerierMetrics,
    ) -> Self {
        BlockReader {
            blocks: BlockOpener::new(config, store, Signal::Metrics, "block", metrics),
        }
    }

    /// Series matching `matchers` with their samples in `[start, end]`, one list per block:
    /// raw samples of raw blocks, or with a hint, the hinted aggregate from the coarsest
    /// blocks it allows per span.
    pub(crate) async fn select(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matchers: &[Matcher],
        hint: Option<DownsampleHint>,
    ) -> Result<BlockSelection, QuerierError> {
        let listed = self
            .blocks
            .blocks(tenant, |b| {
                overlaps(b.min_time_ms, b.max_time_ms, start, end)
            })
            .await?;
        let choice = choose_blocks(&listed, start, end, hint.map(|h| h.resolution_ms));
        let per_block = self
            .blocks
            .each_chosen(
                tenant,
                choice.blocks,
                |c: &ChosenBlock| &c.block,
                |chosen, index| self.select_block(tenant, chosen, index, matchers, hint),
            )
            .await?;
        Ok(BlockSelection {
            per_block,
            downsampled: choice.downsampled,
        })
    }

    /// The series of one chosen block, in its spans.
    async fn select_block(
        &self,
        tenant: &TenantId,
        chosen: ChosenBlock,
        index: Arc<BlockIndex>,
        matchers: &[Matcher],
        hint: Option<DownsampleHint>,
    ) -> Result<Vec<Series>, QuerierError> {
        let Some((start, end)) = chosen.spans.bounds() else {
            return Ok(Vec::new());
        };
        let mut matchers = matchers.to_vec();
        if chosen.block.resolution_ms > 0 {
            // only hinted reads choose downsampled blocks
            let Some(hint) = hint else {
                return Ok(Vec::new());
            };
            matchers.push(downsampled::aggregate_matcher(hint.aggregate));
        }
        let plan = blocking(move || plan_reads(&index, &matchers, start, end)).await?;
        if plan.ranges.is_empty() {
            return Ok(Vec::new());
        }
        let fetched = self
            .blocks
            .fetch_block_ranges(tenant, &chosen.block, CHUNKS_FILE, &plan.ranges)
            .await?;
        let spans = chosen.spans;
        blocking(move || {
            decode(plan, &fetched, start, end)
                .map(|series| downsampled::block_series(series, &spans, hint))
        })
        .await?
        .map_err(|e| self.blocks.block_error(&chosen.block.block_id, e))
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

    /// Runs `f` on the index of every raw block overlapping `[start, end]` on the blocking
    /// pool (downsampled blocks hold the same series).
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
        let raw_overlapping =
            |b: &BucketBlock| is_raw(b) && overlaps(b.min_time_ms, b.max_time_ms, start, end);
        self.blocks.on_indexes(tenant, raw_overlapping, f).await
    }
}

/// Whether a block holds raw samples (not a downsampled resolution).
fn is_raw(block: &BucketBlock) -> bool {
    block.resolution_ms == 0
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

/// What `read` gives over `blocks`, or nothing (`T::default()`) for a querier that reads
/// the ingesters only.
pub(crate) async fn read_optional<'b, B, T, Fut>(
    blocks: Option<&'b B>,
    read: impl FnOnce(&'b B) -> Fut,
) -> Result<T, QuerierError>
where
    T: Default,
    Fut: Future<Output = Result<T, QuerierError>>,
{
    match blocks {
        Some(blocks) => read(blocks).await,
        None => Ok(T::default()),
    }
}

/// Runs CPU-heavy work (parsing, matching, decoding) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QuerierError> {
    opener::blocking("block", f).await
}
