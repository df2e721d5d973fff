//! Tenant deletion (Mimir's `POST /compactor/delete_tenant`): a `tenant-deletion-mark.json`
//! per signal, then the compactor deletes every object of the tenant for that signal on each
//! pass. The mark stays, so blocks an ingester uploads after the deletion are deleted too.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::{
    bucket_index_key, deletion_requests_prefix, tenant_deletion_mark_key, tenant_prefix,
};
use sextant_storage::{delete_block, list_tenants, StorageError};

use crate::error::{storage_error, CompactorError};
use crate::retention::CompactorRetentionMetrics;

/// The JSON of `tenant-deletion-mark.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TenantDeletionMark {
    version: u32,
    /// When the deletion was requested (Unix ms).
    deletion_time_ms: i64,
}

/// Mimir's answer of `GET /compactor/delete_tenant_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantDeletionStatus {
    pub tenant_id: String,
    /// Whether no block of the tenant is left, for any of the signals asked about.
    pub blocks_deleted: bool,
}

/// What one [`delete_marked_tenants`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantDeletionOutcome {
    /// Marked tenants whose objects this pass deleted (some may have had none left).
    pub tenants: Vec<TenantId>,
    /// Blocks deleted.
    pub blocks_deleted: usize,
}

/// Writes the tenant's deletion mark for each of `signals` (an existing mark keeps its time).
pub async fn mark_tenant_for_deletion(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signals: &[Signal],
    now_ms: i64,
) -> Result<(), CompactorError> {
    for &signal in signals {
        if tenant_marked_for_deletion(store, signal, tenant).await? {
            continue;
        }
        let mark = TenantDeletionMark {
            version: 1,
            deletion_time_ms: now_ms,
        };
        let json = serde_json::to_vec(&mark).unwrap_or_default();
        store
            .put(
                &tenant_deletion_mark_key(signal, tenant),
                PutPayload::from(json),
            )
            .await
            .map_err(StorageError::from)
            .map_err(storage_error(
                "writing the tenant deletion mark",
                signal,
                tenant,
            ))?;
        tracing::info!(%tenant, signal = signal.as_str(), "tenant marked for deletion");
    }
    Ok(())
}

/// Whether the tenant has no block left for any of `signals`.
pub async fn tenant_deletion_status(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signals: &[Signal],
) -> Result<TenantDeletionStatus, CompactorError> {
    let mut blocks_deleted = true;
    for &signal in signals {
        blocks_deleted &= block_ids(store, signal, tenant).await?.is_empty();
    }
    Ok(TenantDeletionStatus {
        tenant_id: tenant.to_string(),
        blocks_deleted,
    })
}

/// Deletes every block (and the bucket index) of each marked tenant of `signal` that `owns`
/// accepts (the ring decides which compactor handles a tenant); the marks stay. For logs,
/// the tenant's deletion requests go too.
pub async fn delete_marked_tenants(
    store: &dyn ObjectStore,
    signal: Signal,
    owns: &(dyn Fn(&TenantId) -> bool + Sync),
    metrics: &CompactorRetentionMetrics,
) -> Result<TenantDeletionOutcome, CompactorError> {
    let tenants = list_tenants(store, signal)
        .await
        .map_err(|source| CompactorError::Storage {
            operation: "listing tenants",
            signal: signal.as_str(),
            tenant: String::new(),
            source,
        })?;
    let mut outcome = TenantDeletionOutcome::default();
    for tenant in tenants.into_iter().filter(|t| owns(t)) {
        if !tenant_marked_for_deletion(store, signal, &tenant).await? {
            continue;
        }
        let deleted = delete_tenant_objects(store, signal, &tenant).await?;
        if deleted > 0 {
            metrics.tenants_deleted.inc();
        }
        tracing::info!(%tenant, signal = signal.as_str(), blocks = deleted, "deleted the blocks of a tenant marked for deletion");
        outcome.blocks_deleted += deleted;
        outcome.tenants.push(tenant);
    }
    Ok(outcome)
}

/// Deletes the bucket index first (readers fall back to a listing, which skips a block
/// once its meta is gone), then every block (meta first), then logs' deletion requests.
async fn delete_tenant_objects(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<usize, CompactorError> {
    let fail = || storage_error("deleting a tenant", signal, tenant);
    delete_if_present(store, &bucket_index_key(signal, tenant))
        .await
        .map_err(fail())?;
    let blocks = block_ids(store, signal, tenant).await?;
    for block_id in &blocks {
        delete_block(store, signal, tenant, block_id)
            .await
            .map_err(fail())?;
    }
    if signal == Signal::Logs {
        let prefix = deletion_requests_prefix(signal, tenant);
        let objects: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(StorageError::from)
            .map_err(fail())?;
        for object in objects {
            delete_if_present(store, &object.location)
                .await
                .map_err(fail())?;
        }
    }
    Ok(blocks.len())
}

async fn delete_if_present(store: &dyn ObjectStore, key: &Path) -> Result<(), StorageError> {
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the tenant is marked for deletion for `signal`: compaction, retention and
/// downsampling should skip it (its blocks are about to go).
pub async fn tenant_marked_for_deletion(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<bool, CompactorError> {
    match store.head(&tenant_deletion_mark_key(signal, tenant)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(storage_error(
            "reading the tenant deletion mark",
            signal,
            tenant,
        )(e.into())),
    }
}

/// The ids of every block directory of the tenant, complete or not.
async fn block_ids(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<Vec<String>, CompactorError> {
    let listing = store
        .list_with_delimiter(Some(&tenant_prefix(signal, tenant)))
        .await
        .map_err(StorageError::from)
        .map_err(storage_error("listing blocks", signal, tenant))?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_owned))
        .collect())
}
