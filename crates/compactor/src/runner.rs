//! Running compaction against the bucket: one job ([`run_job`]), the block I/O helpers other
//! passes reuse ([`download_block`], [`upload_block`], [`replace_blocks`]), reading a
//! tenant's blocks for the planner ([`planner_blocks`]) and the cleanup pass
//! (`runner/cleanup.rs`).
//!
//! Crash safety: every step is idempotent and ordered so that the bucket index never lacks
//! data. The new block is uploaded `meta.json` last (invisible until complete), the index is
//! updated, and only then are its sources marked for deletion. A run killed after the upload
//! leaves sources whose `sources` the new block holds: the next plan marks them (see
//! `planner`). A run killed mid-upload leaves a partial block the cleanup deletes later.

mod cleanup;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_model::{Signal, TenantId};
use sextant_storage::block_id::block_id_time_ms;
use sextant_storage::keys::block_object_key;
use sextant_storage::{mark_block_for_deletion, new_block_id, update_bucket_index, BucketBlock};

pub use cleanup::{cleanup_tenant, CleanupOutcome, CleanupSettings};

use crate::error::{storage_error, CompactorError};
use crate::planner::{CompactionJob, PlannerBlock};
use crate::signals::{
    read_compaction_meta, CompactionMeta, MergeTarget, MergedBlock, SignalCompaction, SourceBlock,
    META_FILE,
};

/// What one job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutcome {
    /// The new block; `None` when the sources held no data.
    pub new_block: Option<String>,
    /// Sources merged (and marked for deletion).
    pub blocks_compacted: usize,
    pub source_bytes: u64,
    pub output_bytes: u64,
}

/// Runs one job: downloads the sources one after the other, merges them on the blocking pool,
/// uploads the new block (`meta.json` last) and replaces the sources with it
/// ([`replace_blocks`]). `instance_id` becomes the new block's `source_ingester`.
pub async fn run_job(
    store: &dyn ObjectStore,
    compaction: &Arc<dyn SignalCompaction>,
    instance_id: &str,
    job: &CompactionJob,
) -> Result<JobOutcome, CompactorError> {
    let mut sources = Vec::with_capacity(job.sources.len());
    for id in &job.sources {
        sources.push(download_block(store, compaction.as_ref(), &job.tenant, id).await?);
    }
    let source_bytes = sources.iter().map(SourceBlock::size_bytes).sum();
    let target = MergeTarget {
        block_id: new_block_id(SystemTime::now()),
        source: instance_id.to_owned(),
    };
    let merged = {
        let (compaction, target) = (compaction.clone(), target.clone());
        blocking(move || compaction.merge(&sources, &target)).await??
    };
    let output_bytes = merged.as_ref().map_or(0, MergedBlock::size_bytes);
    let new_block = merged.as_ref().map(|m| (target.block_id.as_str(), m));
    replace_blocks(store, job.signal, &job.tenant, new_block, &job.sources).await?;
    tracing::info!(
        tenant = %job.tenant,
        signal = job.signal.as_str(),
        group = job.group_key,
        sources = job.sources.len(),
        block = new_block.map(|b| b.0),
        source_bytes,
        output_bytes,
        "compacted blocks"
    );
    Ok(JobOutcome {
        new_block: new_block.map(|b| b.0.to_owned()),
        blocks_compacted: job.sources.len(),
        source_bytes,
        output_bytes,
    })
}

/// Uploads `new_block` (if any), updates the index, marks every block of `replaced` for
/// deletion and updates the index again. Idempotent; safe to cut short anywhere: until the
/// marks are in the index, readers see the replaced blocks (and maybe the new one, holding
/// the same data), never less.
pub(crate) async fn replace_blocks(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    new_block: Option<(&str, &MergedBlock)>,
    replaced: &[String],
) -> Result<(), CompactorError> {
    if let Some((id, block)) = new_block {
        upload_block(store, signal, tenant, id, block).await?;
        update_index(store, signal, tenant).await?;
    }
    for id in replaced {
        mark_block_for_deletion(store, signal, tenant, id)
            .await
            .map_err(storage_error(
                "marking a block for deletion",
                signal,
                tenant,
            ))?;
    }
    update_index(store, signal, tenant).await?;
    Ok(())
}

/// Downloads a block's `meta.json` and data files.
pub(crate) async fn download_block(
    store: &dyn ObjectStore,
    compaction: &dyn SignalCompaction,
    tenant: &TenantId,
    block_id: &str,
) -> Result<SourceBlock, CompactorError> {
    let signal = compaction.signal();
    let mut block = SourceBlock {
        block_id: block_id.to_owned(),
        files: Default::default(),
    };
    for file in compaction.data_files().iter().chain([&META_FILE]) {
        let bytes = get_block_file(store, signal, tenant, block_id, file).await?;
        block.files.insert((*file).to_owned(), bytes);
    }
    Ok(block)
}

/// Downloads one file of a block.
pub(crate) async fn get_block_file(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
    file: &str,
) -> Result<Bytes, CompactorError> {
    let key = block_object_key(signal, tenant, block_id, file);
    async { store.get(&key).await?.bytes().await }
        .await
        .map_err(|e| storage_error("downloading a block", signal, tenant)(e.into()))
}

/// Uploads one file of a new block.
pub(crate) async fn put_block_file(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
    file: &str,
    bytes: Bytes,
) -> Result<(), CompactorError> {
    let key = block_object_key(signal, tenant, block_id, file);
    store
        .put(&key, PutPayload::from(bytes))
        .await
        .map(|_| ())
        .map_err(|e| storage_error("uploading a block", signal, tenant)(e.into()))
}

/// Uploads a block's files in their order (`meta.json` last: the block is complete once it
/// is there).
pub(crate) async fn upload_block(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
    block: &MergedBlock,
) -> Result<(), CompactorError> {
    for (file, bytes) in &block.files {
        put_block_file(store, signal, tenant, block_id, file, bytes.clone()).await?;
    }
    Ok(())
}

/// Rewrites the tenant's bucket index from the bucket.
pub(crate) async fn update_index(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<sextant_storage::BucketIndex, CompactorError> {
    update_bucket_index(store, signal, tenant)
        .await
        .map_err(storage_error("updating the bucket index", signal, tenant))
}

/// The metas of a tenant's blocks, by block id, read once per block (metas are immutable).
pub type MetaCache = HashMap<String, CompactionMeta>;

/// The planner's view of `blocks`: each meta's sources and version, from `cache` or read
/// from the bucket (and then cached). `cache` ends up holding exactly `blocks`.
pub async fn planner_blocks(
    store: &dyn ObjectStore,
    compaction: &dyn SignalCompaction,
    tenant: &TenantId,
    blocks: &[BucketBlock],
    cache: &mut MetaCache,
) -> Result<Vec<PlannerBlock>, CompactorError> {
    let signal = compaction.signal();
    let mut fresh = MetaCache::with_capacity(blocks.len());
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let id = &block.block_id;
        let meta = match cache.remove(id) {
            Some(meta) => meta,
            None => {
                let key = block_object_key(signal, tenant, id, META_FILE);
                let bytes = async { store.get(&key).await?.bytes().await }
                    .await
                    .map_err(|e| storage_error("reading a block meta", signal, tenant)(e.into()))?;
                read_compaction_meta(signal, id, &bytes)?
            }
        };
        let (min_time_ms, max_time_ms) = meta
            .time_range_ms
            .unwrap_or((block.min_time_ms, block.max_time_ms));
        out.push(PlannerBlock {
            block_id: id.clone(),
            min_time_ms,
            max_time_ms,
            level: meta.level,
            resolution_ms: block.resolution_ms,
            sources: meta.sources.clone(),
            upload_time_ms: block_id_time_ms(id).map_or(0, |t| t as i64),
            version_supported: compaction.supported_versions().contains(&meta.version),
        });
        fresh.insert(id.clone(), meta);
    }
    *cache = fresh;
    Ok(out)
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CompactorError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CompactorError::Task(e.to_string()))
}

/// Now, Unix ms.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
