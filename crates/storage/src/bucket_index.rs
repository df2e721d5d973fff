//! The per-tenant bucket index, `<signal>/<tenant>/bucket-index.json`: the complete blocks of
//! one tenant and signal, so that queriers need not LIST the bucket on every query.
//!
//! A block is complete once its `meta.json` exists (writers upload it last). The index is
//! rebuilt from a LIST of the tenant's prefix, reusing entries of the previous index and
//! reading only new `meta.json` files; the result depends only on the bucket's content, so
//! concurrent updaters converge (the last write wins and is as good as any other).
//! Only the fields every signal's `meta.json` shares are read (see [`BucketBlock`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sextant_model::{Signal, TenantId};

use crate::keys::{bucket_index_key, tenant_prefix, BLOCK_META_FILE};
use crate::StorageError;

/// The format version of `bucket-index.json`.
pub const BUCKET_INDEX_VERSION: u32 = 1;

/// The contents of `bucket-index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketIndex {
    pub version: u32,
    /// Complete blocks, sorted by min time then id.
    pub blocks: Vec<BucketBlock>,
    /// When the index was written (Unix ms).
    pub updated_at_ms: i64,
}

/// One block of the index: the fields common to every signal's `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketBlock {
    pub block_id: String,
    /// Inclusive time range of the block's data (Unix ms).
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// 1 for a block cut by an ingester, higher for compacted blocks.
    pub compaction_level: u32,
    /// The ingester (or compactor) that wrote the block.
    pub source: String,
}

/// The shared fields of a block's `meta.json`; everything else in it is ignored. Times are
/// in ms (metrics) or ns (logs, traces: `min_time_ns`, `max_time_ns`); ns become the ms that
/// cover them (min rounded down, max up).
#[derive(Deserialize)]
struct CommonMeta {
    block_id: String,
    #[serde(default)]
    min_time_ms: Option<i64>,
    #[serde(default)]
    max_time_ms: Option<i64>,
    #[serde(default)]
    min_time_ns: Option<i64>,
    #[serde(default)]
    max_time_ns: Option<i64>,
    #[serde(default)]
    source_ingester: String,
    #[serde(default)]
    compaction: CommonCompaction,
}

impl CommonMeta {
    /// The block's inclusive time range in ms; `None` when the meta carries none.
    fn time_range_ms(&self) -> Option<(i64, i64)> {
        const NS_PER_MS: i64 = 1_000_000;
        let min = self
            .min_time_ms
            .or_else(|| Some(self.min_time_ns?.div_euclid(NS_PER_MS)))?;
        let max = self.max_time_ms.or_else(|| {
            let ns = self.max_time_ns?;
            Some(ns.div_euclid(NS_PER_MS) + i64::from(ns.rem_euclid(NS_PER_MS) != 0))
        })?;
        Some((min, max))
    }
}

#[derive(Deserialize, Default)]
struct CommonCompaction {
    #[serde(default)]
    level: u32,
}

/// Reads the tenant's bucket index; `None` when there is none yet.
pub async fn read_bucket_index(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<Option<BucketIndex>, StorageError> {
    let key = bucket_index_key(signal, tenant);
    let bytes = match store.get(&key).await {
        Ok(result) => result.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StorageError::Corrupt(format!("{key}: {e}")))
}

/// Rebuilds the tenant's bucket index from the bucket and writes it.
///
/// Several writers (every ingester after its uploads) race: one that LISTed before another's
/// upload may overwrite a newer index. So after writing, the index is read back and compared
/// with a new LIST, and written again while it misses a listed block: the last writer to
/// finish always leaves an index holding every block uploaded before it finished.
pub async fn update_bucket_index(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<BucketIndex, StorageError> {
    let mut index = write_bucket_index(store, signal, tenant).await?;
    for _ in 0..MAX_INDEX_WRITES {
        let stored: HashSet<String> = match read_bucket_index(store, signal, tenant).await {
            Ok(index) => index
                .into_iter()
                .flat_map(|i| i.blocks)
                .map(|b| b.block_id)
                .collect(),
            Err(StorageError::Corrupt(_)) => HashSet::new(),
            Err(e) => return Err(e),
        };
        let listed = complete_blocks(store, signal, tenant).await?;
        if listed.iter().all(|(id, _)| stored.contains(id)) {
            return Ok(index);
        }
        tracing::debug!(%tenant, signal = signal.as_str(), "bucket index overwritten by an older one, writing it again");
        index = write_bucket_index(store, signal, tenant).await?;
    }
    Ok(index)
}

/// How often [`update_bucket_index`] writes the index at most.
const MAX_INDEX_WRITES: usize = 5;

/// Builds the index from a LIST (reusing the entries of the stored one) and writes it.
async fn write_bucket_index(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<BucketIndex, StorageError> {
    let known: HashMap<String, BucketBlock> = match read_bucket_index(store, signal, tenant).await {
        Ok(index) => index
            .into_iter()
            .flat_map(|i| i.blocks)
            .map(|b| (b.block_id.clone(), b))
            .collect(),
        // a corrupt index is rebuilt from scratch
        Err(StorageError::Corrupt(reason)) => {
            tracing::warn!(%tenant, signal = signal.as_str(), reason, "rebuilding corrupt bucket index");
            HashMap::new()
        }
        Err(e) => return Err(e),
    };
    let mut blocks = Vec::new();
    for (id, meta_key) in complete_blocks(store, signal, tenant).await? {
        match known.get(&id) {
            Some(block) => blocks.push(block.clone()),
            None => blocks.extend(read_block_meta(store, &meta_key, &id).await?),
        }
    }
    blocks.sort_by(|a, b| (a.min_time_ms, &a.block_id).cmp(&(b.min_time_ms, &b.block_id)));
    let index = BucketIndex {
        version: BUCKET_INDEX_VERSION,
        blocks,
        updated_at_ms: now_ms(),
    };
    let json = serde_json::to_vec(&index).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    store
        .put(&bucket_index_key(signal, tenant), PutPayload::from(json))
        .await?;
    Ok(index)
}

/// The tenant's complete blocks: from the bucket index, or from a LIST when there is none.
pub async fn list_blocks(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<Vec<BucketBlock>, StorageError> {
    if let Some(index) = read_bucket_index(store, signal, tenant).await? {
        return Ok(index.blocks);
    }
    let mut blocks = Vec::new();
    for (id, meta_key) in complete_blocks(store, signal, tenant).await? {
        blocks.extend(read_block_meta(store, &meta_key, &id).await?);
    }
    blocks.sort_by(|a, b| (a.min_time_ms, &a.block_id).cmp(&(b.min_time_ms, &b.block_id)));
    Ok(blocks)
}

/// The tenants with objects for `signal` (one LIST with a delimiter).
pub async fn list_tenants(
    store: &dyn ObjectStore,
    signal: Signal,
) -> Result<Vec<TenantId>, StorageError> {
    let listing = store
        .list_with_delimiter(Some(&Path::from(signal.as_str())))
        .await?;
    let mut tenants: Vec<TenantId> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter_map(|name| TenantId::parse(name).ok())
        .collect();
    tenants.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(tenants)
}

/// Block ids with a `meta.json`, and the key of that file, in id order.
async fn complete_blocks(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<BTreeMap<String, Path>, StorageError> {
    let prefix = tenant_prefix(signal, tenant);
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut out = BTreeMap::new();
    for object in objects {
        let Some(rest) = object.location.prefix_match(&prefix) else {
            continue;
        };
        let parts: Vec<_> = rest.collect();
        if let [block, file] = parts.as_slice() {
            if file.as_ref() == BLOCK_META_FILE {
                out.insert(block.as_ref().to_owned(), object.location.clone());
            }
        }
    }
    Ok(out)
}

/// Reads a block's meta; a meta that vanished (deleted meanwhile) is skipped, an unreadable
/// one is logged and skipped so that one bad block does not hide the others.
async fn read_block_meta(
    store: &dyn ObjectStore,
    key: &Path,
    id: &str,
) -> Result<Option<BucketBlock>, StorageError> {
    let bytes = match store.get(key).await {
        Ok(result) => result.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match serde_json::from_slice::<CommonMeta>(&bytes) {
        Ok(meta) if meta.block_id == id => {
            let Some((min_time_ms, max_time_ms)) = meta.time_range_ms() else {
                tracing::warn!(%key, "block meta without a time range; skipped");
                return Ok(None);
            };
            Ok(Some(BucketBlock {
                block_id: meta.block_id,
                min_time_ms,
                max_time_ms,
                compaction_level: meta.compaction.level,
                source: meta.source_ingester,
            }))
        }
        Ok(meta) => {
            tracing::warn!(%key, meta_id = meta.block_id, "block meta names another block; skipped");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(%key, error = %e, "unreadable block meta; skipped");
            Ok(None)
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
