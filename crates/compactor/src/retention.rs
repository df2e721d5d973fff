//! Retention: per tenant and signal, data older than the tenant's retention goes.
//!
//! The cutoff is `now − period`, the period coming from the tenant's limits (runtime
//! overrides included): metrics `compactor_blocks_retention_period`, logs `retention_period`
//! refined per stream by `retention_stream` (of the selectors a stream matches, the highest
//! priority wins, then the shortest period; a matching selector overrides the tenant's period,
//! as in Loki), traces `block_retention`; a period of 0 keeps data forever.
//!
//! [`plan_retention`] (pure) decides per block from the bucket index alone:
//! - a block whose every sample is older than any cutoff that can apply to it is marked for
//!   deletion (the compactor's cleanup deletes it after its deletion delay);
//! - a metrics block with at least half of its time range before the cutoff (logs: before
//!   the cutoff of the shortest period any stream has) is rewritten without the expired
//!   data. Waiting for half bounds the work: a block is rewritten a few times over its life
//!   instead of on every run as the cutoff moves, and data outlives its retention by at
//!   most half a block range (Mimir, deleting whole blocks only, by up to a whole one). The
//!   new block is
//!   uploaded complete (meta last) before the old one is marked, then the bucket index is
//!   updated, so readers see either block and never a gap. Logs blocks are first checked
//!   through their index (small) and their chunks only fetched when a stream really holds
//!   expired entries.
//! - traces blocks are only deleted whole (as in Tempo): a block straddling the cutoff stays
//!   until its newest span expires. Downsampled metrics blocks (`resolution_ms > 0`) likewise.
//!
//! [`apply_retention`] executes the plan for one tenant and signal.

mod instrumentation;
mod policy;
pub(crate) mod rewrite;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use sextant_logs::block::{LogsBlockIndex, LogsStreamRef};
use sextant_model::{Signal, TenantId, TenantLimits};
use sextant_storage::{list_blocks, update_bucket_index, BucketBlock};

use crate::error::{storage_error, CompactorError};
pub use instrumentation::CompactorRetentionMetrics;
pub use policy::RetentionPolicy;
use rewrite::{BlockRewriter, Rewritten, CHUNKS_FILE, INDEX_FILE, META_FILE};

const NS_PER_MS: i64 = 1_000_000;

/// What retention does to one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionAction {
    /// All of the block is expired: mark it for deletion.
    Delete { block_id: String },
    /// Part of the block may be expired: rewrite it without the expired data.
    Rewrite { block_id: String },
}

/// What one [`apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Blocks marked for deletion (whole blocks expired, or rewritten to nothing).
    pub blocks_deleted: usize,
    /// Blocks replaced by a rewritten block.
    pub blocks_rewritten: usize,
    /// Blocks that failed (logged; the next run retries them).
    pub failures: usize,
}

/// The retention actions for a tenant's `blocks` of `signal` under `policy` at `now_ms`.
pub fn plan_retention(
    signal: Signal,
    blocks: &[BucketBlock],
    policy: &RetentionPolicy,
    now_ms: i64,
) -> Vec<RetentionAction> {
    let Some(shortest) = policy.shortest_period_ms() else {
        return Vec::new();
    };
    let latest_cutoff = now_ms.saturating_sub(shortest);
    let earliest_cutoff = policy.longest_period_ms().map(|p| now_ms.saturating_sub(p));
    let mut actions = Vec::new();
    for block in blocks {
        let block_id = block.block_id.clone();
        if earliest_cutoff.is_some_and(|cutoff| block.max_time_ms < cutoff) {
            actions.push(RetentionAction::Delete { block_id });
        } else if rewritable(signal, block) && half_expired(block, latest_cutoff) {
            actions.push(RetentionAction::Rewrite { block_id });
        }
    }
    actions
}

/// Whether at least half of the block's time range is before `cutoff` (see the module doc).
fn half_expired(block: &BucketBlock, cutoff: i64) -> bool {
    let expired = cutoff.saturating_sub(block.min_time_ms);
    let span = (block.max_time_ms.saturating_sub(block.min_time_ms)).saturating_add(1);
    expired > 0 && expired.saturating_mul(2) >= span
}

/// Whether a partially expired block is rewritten: raw metrics and logs blocks only.
fn rewritable(signal: Signal, block: &BucketBlock) -> bool {
    match signal {
        Signal::Metrics => block.resolution_ms == 0,
        Signal::Logs => true,
        Signal::Traces => false,
    }
}

/// Applies the tenant's retention to its `signal` blocks: plans with [`plan_retention`],
/// marks expired blocks, rewrites partially expired ones (as `instance_id`), then updates the
/// bucket index once. A block that fails is logged, counted and left for the next run; an
/// invalid `retention_stream` selector fails the whole pass (applying the tenant's period
/// alone could delete streams a selector keeps longer).
pub async fn apply_retention(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    limits: &TenantLimits,
    now_ms: i64,
    instance_id: &str,
    metrics: &CompactorRetentionMetrics,
) -> Result<RetentionOutcome, CompactorError> {
    let policy = Arc::new(RetentionPolicy::new(signal, limits)?);
    let blocks = list_blocks(store, signal, tenant)
        .await
        .map_err(storage_error("listing blocks", signal, tenant))?;
    let actions = plan_retention(signal, &blocks, &policy, now_ms);
    if actions.is_empty() {
        return Ok(RetentionOutcome::default());
    }
    let rewriter = BlockRewriter::new(store, signal, tenant, instance_id);
    let mut outcome = RetentionOutcome::default();
    for action in &actions {
        if let Err(e) = apply_action(&rewriter, action, &policy, now_ms, &mut outcome).await {
            outcome.failures += 1;
            tracing::warn!(%tenant, signal = signal.as_str(), ?action, error = %e, "retention of a block failed");
        }
    }
    metrics.count_retention(signal, &outcome);
    update_bucket_index(store, signal, tenant)
        .await
        .map_err(storage_error("updating the bucket index", signal, tenant))?;
    tracing::info!(%tenant, signal = signal.as_str(), deleted = outcome.blocks_deleted, rewritten = outcome.blocks_rewritten, failures = outcome.failures, "retention applied");
    Ok(outcome)
}

/// Executes one action, counting what it did in `outcome`.
async fn apply_action(
    rewriter: &BlockRewriter<'_>,
    action: &RetentionAction,
    policy: &Arc<RetentionPolicy>,
    now_ms: i64,
    outcome: &mut RetentionOutcome,
) -> Result<(), CompactorError> {
    match action {
        RetentionAction::Delete { block_id } => {
            rewriter.mark(block_id).await?;
            outcome.blocks_deleted += 1;
        }
        RetentionAction::Rewrite { block_id } => {
            match rewrite_expired(rewriter, block_id, policy, now_ms).await? {
                Rewritten::Unchanged => {}
                Rewritten::Replaced { .. } => outcome.blocks_rewritten += 1,
                Rewritten::Emptied { .. } => outcome.blocks_deleted += 1,
            }
        }
    }
    Ok(())
}

/// Rewrites one block without what `policy` expires at `now_ms`.
async fn rewrite_expired(
    rewriter: &BlockRewriter<'_>,
    block_id: &str,
    policy: &Arc<RetentionPolicy>,
    now_ms: i64,
) -> Result<Rewritten, CompactorError> {
    match rewriter.signal() {
        Signal::Metrics => {
            let Some(period) = policy.shortest_period_ms() else {
                return Ok(Rewritten::Unchanged);
            };
            let keep_from_ms = now_ms.saturating_sub(period);
            rewriter.rewrite_metrics(block_id, keep_from_ms).await
        }
        Signal::Logs => rewrite_expired_logs(rewriter, block_id, policy, now_ms).await,
        Signal::Traces => Ok(Rewritten::Unchanged),
    }
}

/// Checks the block's index first: its chunks are only fetched and rewritten when some
/// stream holds entries older than that stream's cutoff.
async fn rewrite_expired_logs(
    rewriter: &BlockRewriter<'_>,
    block_id: &str,
    policy: &Arc<RetentionPolicy>,
    now_ms: i64,
) -> Result<Rewritten, CompactorError> {
    let mut files = rewriter
        .download(block_id, &[META_FILE, INDEX_FILE])
        .await?;
    let index_bytes = files.get(INDEX_FILE).cloned().unwrap_or_default();
    let check_policy = policy.clone();
    let expired =
        rewrite::blocking(move || logs_index_has_expired(&index_bytes, &check_policy, now_ms))
            .await?
            .map_err(|e| rewriter.merge_error(block_id, e))?;
    if !expired {
        return Ok(Rewritten::Unchanged);
    }
    files.extend(rewriter.download(block_id, &[CHUNKS_FILE]).await?);
    let policy = policy.clone();
    let drop = Arc::new(move |labels: &sextant_model::Labels, ts_ns: i64, _: &str| {
        policy
            .stream_cutoff_ms(labels, now_ms)
            .is_some_and(|cutoff| ts_ns < cutoff.saturating_mul(NS_PER_MS))
    });
    rewriter.rewrite_logs_files(block_id, files, drop).await
}

/// Whether any stream of a logs index has a chunk starting before the stream's cutoff.
fn logs_index_has_expired(
    index: &Bytes,
    policy: &RetentionPolicy,
    now_ms: i64,
) -> Result<bool, sextant_logs::block::LogsBlockError> {
    let index = LogsBlockIndex::parse(index)?;
    for r in 0.. {
        let Some((labels, chunks)) = index.stream(LogsStreamRef(r)) else {
            return Ok(false);
        };
        let Some(cutoff) = policy.stream_cutoff_ms(&labels, now_ms) else {
            continue;
        };
        let cutoff_ns = cutoff.saturating_mul(NS_PER_MS);
        if chunks.iter().any(|c| c.min_time_ns < cutoff_ns) {
            return Ok(true);
        }
    }
    Ok(false)
}
