//! Downsampling of metrics blocks (Thanos semantics, our own rules): old blocks get copies at
//! coarser resolutions (5m, 1h by default) holding per-window count/sum/min/max/counter
//! aggregates (`sextant_metrics::block::downsample_block`), which the querier reads for long
//! ranges. A downsampled block is a normal metrics block whose meta has
//! `downsample.resolution_ms`; it keeps its source's time range, level and `sources`.
//!
//! The rules, per tenant, run by every compactor after the run's compaction jobs (so that a
//! block merged in this run is downsampled in the same run, not its parts), each taking the
//! candidates of the time windows it owns: a candidate is sharded like the compaction jobs of
//! its window of the largest block range (`service::shard_key`), so a big tenant's
//! downsampling spreads over the compactors and runs where that window is compacted:
//! - the configured resolutions are levels, ascending; each is computed from the one before
//!   it (raw for the first): 5m from raw, 1h from 5m;
//! - a level's candidates are the complete blocks of the finer resolution whose `max_time`
//!   is older than `now − after`, whose format this build reads, that no job of this run's
//!   plan is about to merge (a job of another compactor, or one that failed), that another
//!   block of their resolution does not hold entirely (they are about to be marked), whose
//!   sources are not all held by a block already at the target resolution, and (raw blocks)
//!   whose time range no other raw block overlaps: replicas and late blocks are merged
//!   vertically first, so that a copy never holds a range's series only in part (the
//!   querier lets a downsampled block hide another its range covers); stale blocks (the
//!   planner's rule, `planner::stale_downsampled`: a raw block in their range holds data they
//!   lack) count as absent, so late data is downsampled again, whole windows included;
//! - each candidate is downloaded, downsampled on the blocking pool and uploaded as a new
//!   block (files, `meta.json` last) by this compactor; the levels run in order, so a block
//!   old enough gets its 5m and its 1h copy in one run; the bucket index is updated once;
//! - when something was written, a downsampled block whose sources another downsampled block
//!   of its resolution holds entirely is marked for deletion (the planner's rule,
//!   `planner::redundant_blocks`): after raw blocks were merged and the merge downsampled
//!   again, the older, smaller copies go in the same run. The planner applies the same rule
//!   before each run's jobs, so nothing is marked twice;
//! - unlike Thanos, a block's size is no condition (Thanos waits for 40h-wide blocks before
//!   5m): `after` alone decides, so copies are made per raw block (a day at most), and a
//!   copy of a small block is superseded as above once its block is merged into a larger one;
//! - the copies of one resolution are then merged by the compaction planner into aligned
//!   windows of `downsampling.block_range` (14d by default, as Thanos keeps them) once the
//!   window's days are final and downsampled (its end is `after` plus the largest block range
//!   in the past), so that long-range queries read few chunk headers and no window split at
//!   day borders. The daily copies a job merged are marked for deletion like any job's
//!   sources; a merged copy is a candidate of the next level like any block until a coarser
//!   copy holds all its sources;
//! - failures of one block are reported and retried by the next run; a crash leaves at most
//!   a partial block (deleted by the cleanup) or a complete copy the next run sees.

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::ObjectStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sextant_metrics::block::{
    downsample_block, MetricsBlockSourceFiles, MetricsMergeOptions, CHUNKS_FILE, INDEX_FILE,
};
use sextant_model::{Signal, TenantId};
use sextant_storage::{mark_block_for_deletion, new_block_id};

use crate::config::{duration_ms, DownsamplingConfig};
use crate::error::{storage_error, CompactorError};
use crate::planner::{redundant_blocks, stale_downsampled, PlannerBlock};
use crate::runner::{blocking, download_block, now_ms, update_index, upload_block};
use crate::signals::{MergedBlock, MetricsCompaction, SourceBlock, META_FILE};

type ResolutionLabel = [(&'static str, String); 1];

/// One resolution: blocks of `source_ms` older than `after_ms` get a copy at `resolution_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownsampleLevel {
    /// The resolution the copy is computed from (0: raw).
    pub source_ms: i64,
    pub resolution_ms: i64,
    pub after_ms: i64,
}

/// The levels of `config`, each computed from the previous one (the first from raw).
pub fn downsample_levels(config: &DownsamplingConfig) -> Vec<DownsampleLevel> {
    let mut source_ms = 0;
    config
        .resolutions
        .iter()
        .map(|r| {
            let level = DownsampleLevel {
                source_ms,
                resolution_ms: duration_ms(r.resolution),
                after_ms: duration_ms(r.after),
            };
            source_ms = level.resolution_ms;
            level
        })
        .collect()
}

/// The blocks of `blocks` to downsample to `level` at `now_ms` (see the module doc); `busy`
/// holds the blocks a job of this run's plan merges. Pure.
pub fn downsample_candidates<'a>(
    blocks: &'a [PlannerBlock],
    level: &DownsampleLevel,
    busy: &HashSet<String>,
    now_ms: i64,
) -> Vec<&'a PlannerBlock> {
    let supported: Vec<&PlannerBlock> = blocks.iter().filter(|b| b.version_supported).collect();
    let mut redundant = redundant_blocks(&supported);
    redundant.extend(stale_downsampled(&supported, &redundant));
    let done: Vec<HashSet<&str>> = blocks
        .iter()
        .filter(|b| b.resolution_ms == level.resolution_ms)
        .filter(|b| !redundant.contains(b.block_id.as_str()))
        .map(|b| b.sources.iter().map(String::as_str).collect())
        .collect();
    let cutoff = now_ms.saturating_sub(level.after_ms);
    let live_raw: Vec<&PlannerBlock> = supported
        .iter()
        .copied()
        .filter(|b| b.resolution_ms == 0 && !redundant.contains(b.block_id.as_str()))
        .collect();
    // a raw block overlapping another one is a replica or a late block that vertical
    // compaction merges first: its copy would hold part of its range's series only
    let overlapped = |b: &PlannerBlock| {
        level.source_ms == 0
            && live_raw.iter().any(|o| {
                o.block_id != b.block_id
                    && o.min_time_ms <= b.max_time_ms
                    && b.min_time_ms <= o.max_time_ms
            })
    };
    supported
        .into_iter()
        .filter(|b| b.resolution_ms == level.source_ms && b.max_time_ms < cutoff)
        .filter(|b| !busy.contains(&b.block_id) && !redundant.contains(b.block_id.as_str()))
        .filter(|b| !overlapped(b))
        .filter(|b| {
            !done
                .iter()
                .any(|d| b.sources.iter().all(|s| d.contains(s.as_str())))
        })
        .collect()
}

/// Which candidates one [`Downsampler::run`] takes.
pub struct DownsampleScope<'a> {
    /// The blocks a job of this run's plan merges (left for the next run).
    pub busy: &'a HashSet<String>,
    /// Whether this compactor downsamples a candidate (the shard of its time window).
    pub owns: &'a (dyn Fn(&PlannerBlock) -> bool + Sync),
}

/// What one [`Downsampler::run`] did for a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownsampleOutcome {
    /// Downsampled blocks written.
    pub blocks_downsampled: usize,
    /// Downsampled blocks marked for deletion because a newer one holds all their sources.
    pub blocks_marked: usize,
    /// One line per block that failed (the next run retries it).
    pub errors: Vec<String>,
}

/// The downsampling pass of the metrics blocks of a tenant; counts
/// `sextant_compactor_blocks_downsampled_total{resolution}`.
pub struct Downsampler {
    levels: Vec<DownsampleLevel>,
    downsampled: Family<ResolutionLabel, Counter>,
}

impl Downsampler {
    /// The pass of `config`'s levels; registers its counter on `registry`.
    pub fn new(config: &DownsamplingConfig, registry: &mut Registry) -> Self {
        let downsampled = Family::default();
        registry.register(
            "sextant_compactor_blocks_downsampled",
            "Downsampled metrics blocks written, by resolution.",
            downsampled.clone(),
        );
        Downsampler {
            levels: downsample_levels(config),
            downsampled,
        }
    }

    pub fn levels(&self) -> &[DownsampleLevel] {
        &self.levels
    }

    /// Runs every level in order on the tenant's complete `blocks` (as compactor
    /// `instance_id`), then marks the downsampled blocks the new ones supersede.
    pub async fn run(
        &self,
        store: &dyn ObjectStore,
        tenant: &TenantId,
        instance_id: &str,
        mut blocks: Vec<PlannerBlock>,
        scope: &DownsampleScope<'_>,
        now_ms: i64,
    ) -> Result<DownsampleOutcome, CompactorError> {
        let mut outcome = DownsampleOutcome::default();
        for level in &self.levels {
            let candidates: Vec<PlannerBlock> =
                downsample_candidates(&blocks, level, scope.busy, now_ms)
                    .into_iter()
                    .filter(|b| (scope.owns)(b))
                    .cloned()
                    .collect();
            for source in &candidates {
                match downsample_one(store, tenant, instance_id, source, level).await {
                    Ok(copy) => {
                        blocks.push(copy);
                        outcome.blocks_downsampled += 1;
                        self.downsampled
                            .get_or_create(&[("resolution", resolution_label(level))])
                            .inc();
                    }
                    Err(e) => {
                        tracing::warn!(%tenant, block = source.block_id, resolution_ms = level.resolution_ms, error = %e, "downsampling a block failed");
                        outcome.errors.push(format!("downsampling: {e}"));
                    }
                }
            }
        }
        if outcome.blocks_downsampled > 0 {
            update_index(store, Signal::Metrics, tenant).await?;
            outcome.blocks_marked = mark_superseded(store, tenant, &blocks).await?;
        }
        Ok(outcome)
    }
}

/// `5m`, `1h`: the resolution as configured.
fn resolution_label(level: &DownsampleLevel) -> String {
    let ms = u64::try_from(level.resolution_ms).unwrap_or(0);
    sextant_model::duration::format(Duration::from_millis(ms))
}

/// Downsamples `source` to `level` and uploads the copy; returns the copy as the planner
/// sees it.
async fn downsample_one(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    instance_id: &str,
    source: &PlannerBlock,
    level: &DownsampleLevel,
) -> Result<PlannerBlock, CompactorError> {
    let src = download_block(store, &MetricsCompaction, tenant, &source.block_id).await?;
    let mut options = MetricsMergeOptions::new(new_block_id(SystemTime::now()));
    options.source_ingester = instance_id.to_owned();
    let block_id = options.block_id.clone();
    let resolution_ms = level.resolution_ms;
    let block = blocking(move || encode_downsampled(&src, resolution_ms, &options)).await??;
    upload_block(store, Signal::Metrics, tenant, &block_id, &block).await?;
    tracing::info!(%tenant, source = source.block_id, block = block_id, resolution_ms, bytes = block.size_bytes(), "downsampled a block");
    Ok(PlannerBlock {
        block_id,
        resolution_ms,
        upload_time_ms: now_ms(),
        ..source.clone()
    })
}

/// The downsampled copy of `src`, its files in upload order. CPU-bound.
fn encode_downsampled(
    src: &SourceBlock,
    resolution_ms: i64,
    options: &MetricsMergeOptions,
) -> Result<MergedBlock, CompactorError> {
    let signal = Signal::Metrics;
    let files = MetricsBlockSourceFiles {
        meta: src.file(signal, META_FILE)?,
        index: src.file(signal, INDEX_FILE)?,
        chunks: src.file(signal, CHUNKS_FILE)?,
    };
    let block =
        downsample_block(&files, resolution_ms, options).map_err(|e| CompactorError::Merge {
            signal: signal.as_str(),
            block_id: options.block_id.clone(),
            reason: e.to_string(),
        })?;
    Ok(MergedBlock {
        files: vec![
            (INDEX_FILE, Bytes::from(block.index)),
            (CHUNKS_FILE, Bytes::from(block.chunks)),
            (META_FILE, Bytes::from(block.meta.to_json())),
        ],
    })
}

/// Marks the downsampled blocks another downsampled block of their resolution holds
/// entirely, then updates the index; returns how many.
async fn mark_superseded(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    blocks: &[PlannerBlock],
) -> Result<usize, CompactorError> {
    let signal = Signal::Metrics;
    let downsampled: Vec<&PlannerBlock> = blocks
        .iter()
        .filter(|b| b.resolution_ms > 0 && b.version_supported)
        .collect();
    let mut superseded: Vec<&str> = redundant_blocks(&downsampled).into_iter().collect();
    superseded.sort_unstable();
    for id in &superseded {
        tracing::info!(%tenant, block = id, "marking a downsampled block a newer one holds entirely");
        mark_block_for_deletion(store, signal, tenant, id)
            .await
            .map_err(storage_error(
                "marking a block for deletion",
                signal,
                tenant,
            ))?;
    }
    if !superseded.is_empty() {
        update_index(store, signal, tenant).await?;
    }
    Ok(superseded.len())
}
