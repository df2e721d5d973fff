//! The per-tenant cleanup pass: blocks marked for deletion longer than `deletion_delay` ago
//! are deleted (`meta.json` first), and so are partial blocks (no `meta.json`) whose newest
//! object is older than `partial_block_deletion_delay`; then the index is updated.

use object_store::ObjectStore;
use sextant_model::{Signal, TenantId};
use sextant_storage::{delete_block, list_partial_blocks};

use super::update_index;
use crate::error::{storage_error, CompactorError};

/// The delays of the cleanup (ms); a partial delay of 0 keeps partial blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupSettings {
    pub deletion_delay_ms: i64,
    pub partial_block_deletion_delay_ms: i64,
}

/// What a cleanup deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupOutcome {
    pub blocks_deleted: usize,
    pub partial_blocks_deleted: usize,
}

/// Cleans one tenant's `signal` blocks at `now_ms`.
pub async fn cleanup_tenant(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    settings: CleanupSettings,
    now_ms: i64,
) -> Result<CleanupOutcome, CompactorError> {
    let index = update_index(store, signal, tenant).await?;
    let mut outcome = CleanupOutcome::default();
    let due = now_ms.saturating_sub(settings.deletion_delay_ms);
    for mark in index
        .deletion_marks
        .iter()
        .filter(|m| m.deletion_time_ms <= due)
    {
        delete(store, signal, tenant, &mark.block_id).await?;
        outcome.blocks_deleted += 1;
    }
    if settings.partial_block_deletion_delay_ms > 0 {
        let due = now_ms.saturating_sub(settings.partial_block_deletion_delay_ms);
        let partial = list_partial_blocks(store, signal, tenant)
            .await
            .map_err(storage_error("listing partial blocks", signal, tenant))?;
        for (id, _) in partial.iter().filter(|(_, modified)| *modified <= due) {
            tracing::info!(%tenant, signal = signal.as_str(), block = id, "deleting a partial block");
            delete(store, signal, tenant, id).await?;
            outcome.partial_blocks_deleted += 1;
        }
    }
    if outcome != CleanupOutcome::default() {
        update_index(store, signal, tenant).await?;
    }
    Ok(outcome)
}

async fn delete(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
) -> Result<(), CompactorError> {
    delete_block(store, signal, tenant, block_id)
        .await
        .map_err(storage_error("deleting a block", signal, tenant))
}
