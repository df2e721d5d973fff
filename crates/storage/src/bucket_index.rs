//! The per-tenant bucket index, `<signal>/<tenant>/bucket-index.json`: the complete blocks of
//! one tenant and signal, so that queriers need not LIST the bucket on every query.
//!
//! A block is complete once its `meta.json` exists (writers upload it last). The index is
//! rebuilt from a LIST of the tenant's prefix, reusing entries of the previous index and
//! reading only new `meta.json` files; the result depends only on the bucket's content, so
//! concurrent updaters converge (the last write wins and is as good as any other).
//! Only the fields every signal's `meta.json` shares are read (see [`BucketBlock`]).
//!
//! A block with a `deletion-mark.json` is left out of `blocks` and listed in `deletion_marks`
//! instead: the compactor marks a block only after the block replacing it is complete, so a
//! reader of one index never misses data, and it deletes marked blocks after a delay longer
//! than any reader's cached index.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sextant_model::{Signal, TenantId};

use crate::keys::{
    block_object_key, block_prefix, bucket_index_key, tenant_prefix, BLOCK_META_FILE,
    DELETION_MARK_FILE,
};
use crate::StorageError;

/// The format version of `bucket-index.json`.
pub const BUCKET_INDEX_VERSION: u32 = 1;

/// The contents of `bucket-index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketIndex {
    pub version: u32,
    /// Complete blocks not marked for deletion, sorted by min time then id.
    pub blocks: Vec<BucketBlock>,
    /// Complete blocks marked for deletion, in id order.
    #[serde(default)]
    pub deletion_marks: Vec<BucketDeletionMark>,
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
    /// The resolution of a downsampled metrics block (ms); 0 for raw data.
    #[serde(default)]
    pub resolution_ms: i64,
}

/// A block marked for deletion (its `deletion-mark.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketDeletionMark {
    pub block_id: String,
    /// When the block was marked (Unix ms).
    pub deletion_time_ms: i64,
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
    #[serde(default)]
    downsample: CommonDownsample,
}

#[derive(Deserialize, Default)]
struct CommonDownsample {
    #[serde(default)]
    resolution_ms: i64,
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
            Ok(index) => index.iter().flat_map(BucketIndex::block_ids).collect(),
            Err(StorageError::Corrupt(_)) => HashSet::new(),
            Err(e) => return Err(e),
        };
        let listed = complete_blocks(store, signal, tenant).await?;
        if listed.keys().all(|id| stored.contains(id)) {
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
    let previous = match read_bucket_index(store, signal, tenant).await {
        Ok(index) => index.unwrap_or_default(),
        // a corrupt index is rebuilt from scratch
        Err(StorageError::Corrupt(reason)) => {
            tracing::warn!(%tenant, signal = signal.as_str(), reason, "rebuilding corrupt bucket index");
            BucketIndex::default()
        }
        Err(e) => return Err(e),
    };
    let known: HashMap<&str, &BucketBlock> = previous
        .blocks
        .iter()
        .map(|b| (b.block_id.as_str(), b))
        .collect();
    let known_marks: HashMap<&str, &BucketDeletionMark> = previous
        .deletion_marks
        .iter()
        .map(|m| (m.block_id.as_str(), m))
        .collect();
    let mut blocks = Vec::new();
    let mut deletion_marks = Vec::new();
    for (id, files) in complete_blocks(store, signal, tenant).await? {
        if let Some(mark_key) = &files.deletion_mark {
            match known_marks.get(id.as_str()) {
                Some(mark) => deletion_marks.push((*mark).clone()),
                None => deletion_marks.extend(read_deletion_mark(store, mark_key, &id).await?),
            }
            continue;
        }
        match known.get(id.as_str()) {
            Some(block) => blocks.push((*block).clone()),
            None => blocks.extend(read_block_meta(store, &files.meta, &id).await?),
        }
    }
    sort_blocks(&mut blocks);
    let index = BucketIndex {
        version: BUCKET_INDEX_VERSION,
        blocks,
        deletion_marks,
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
    for (id, files) in complete_blocks(store, signal, tenant).await? {
        if files.deletion_mark.is_none() {
            blocks.extend(read_block_meta(store, &files.meta, &id).await?);
        }
    }
    sort_blocks(&mut blocks);
    Ok(blocks)
}

fn sort_blocks(blocks: &mut [BucketBlock]) {
    blocks.sort_by(|a, b| (a.min_time_ms, &a.block_id).cmp(&(b.min_time_ms, &b.block_id)));
}

impl Default for BucketIndex {
    fn default() -> Self {
        BucketIndex {
            version: BUCKET_INDEX_VERSION,
            blocks: Vec::new(),
            deletion_marks: Vec::new(),
            updated_at_ms: 0,
        }
    }
}

impl BucketIndex {
    /// Every complete block the index knows of, marked for deletion or not.
    pub fn block_ids(&self) -> impl Iterator<Item = String> + '_ {
        let blocks = self.blocks.iter().map(|b| b.block_id.clone());
        blocks.chain(self.deletion_marks.iter().map(|m| m.block_id.clone()))
    }
}

/// The JSON of a block's `deletion-mark.json`.
#[derive(Serialize, Deserialize)]
struct DeletionMarkFile {
    version: u32,
    block_id: String,
    deletion_time_ms: i64,
}

/// Marks a complete block for deletion (idempotent: an existing mark keeps its time). Readers
/// stop reading it once the bucket index is updated; call this only after every block that
/// replaces it is complete.
pub async fn mark_block_for_deletion(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
) -> Result<(), StorageError> {
    let key = block_object_key(signal, tenant, block_id, DELETION_MARK_FILE);
    match store.head(&key).await {
        Ok(_) => return Ok(()),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let mark = DeletionMarkFile {
        version: 1,
        block_id: block_id.to_owned(),
        deletion_time_ms: now_ms(),
    };
    let json = serde_json::to_vec(&mark).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    store.put(&key, PutPayload::from(json)).await?;
    Ok(())
}

/// Deletes every object of a block: `meta.json` first, so that a deletion cut short leaves
/// an incomplete block that no reader lists, then the rest.
pub async fn delete_block(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block_id: &str,
) -> Result<(), StorageError> {
    let meta = block_object_key(signal, tenant, block_id, BLOCK_META_FILE);
    match store.delete(&meta).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let prefix = block_prefix(signal, tenant, block_id);
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    for object in objects {
        match store.delete(&object.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Blocks without a `meta.json` (uploads in progress, or cut short by a crash), with the
/// newest modification time of their objects (Unix ms).
pub async fn list_partial_blocks(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<Vec<(String, i64)>, StorageError> {
    let prefix = tenant_prefix(signal, tenant);
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut newest: BTreeMap<String, (bool, i64)> = BTreeMap::new();
    for object in objects {
        let Some(rest) = object.location.prefix_match(&prefix) else {
            continue;
        };
        let parts: Vec<_> = rest.collect();
        if parts.len() < 2 {
            continue;
        }
        let entry = newest
            .entry(parts[0].as_ref().to_owned())
            .or_insert((false, i64::MIN));
        entry.0 |= parts.len() == 2 && parts[1].as_ref() == BLOCK_META_FILE;
        entry.1 = entry.1.max(object.last_modified.timestamp_millis());
    }
    Ok(newest
        .into_iter()
        .filter(|(_, (complete, _))| !complete)
        .map(|(id, (_, modified))| (id, modified))
        .collect())
}

/// Reads a deletion mark; a vanished or unreadable one counts as marked now.
async fn read_deletion_mark(
    store: &dyn ObjectStore,
    key: &Path,
    id: &str,
) -> Result<Option<BucketDeletionMark>, StorageError> {
    let bytes = match store.get(key).await {
        Ok(result) => result.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let deletion_time_ms = match serde_json::from_slice::<DeletionMarkFile>(&bytes) {
        Ok(mark) => mark.deletion_time_ms,
        Err(e) => {
            tracing::warn!(%key, error = %e, "unreadable deletion mark; taken as marked now");
            now_ms()
        }
    };
    Ok(Some(BucketDeletionMark {
        block_id: id.to_owned(),
        deletion_time_ms,
    }))
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

/// The keys of a complete block's marker files.
struct BlockFiles {
    meta: Path,
    deletion_mark: Option<Path>,
}

/// Block ids with a `meta.json` (and their deletion mark, if any), in id order.
async fn complete_blocks(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
) -> Result<BTreeMap<String, BlockFiles>, StorageError> {
    let prefix = tenant_prefix(signal, tenant);
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut metas = BTreeMap::new();
    let mut marks = HashMap::new();
    for object in objects {
        let Some(rest) = object.location.prefix_match(&prefix) else {
            continue;
        };
        let parts: Vec<_> = rest.collect();
        if let [block, file] = parts.as_slice() {
            let block = block.as_ref().to_owned();
            match file.as_ref() {
                BLOCK_META_FILE => {
                    metas.insert(block, object.location.clone());
                }
                DELETION_MARK_FILE => {
                    marks.insert(block, object.location.clone());
                }
                _ => {}
            }
        }
    }
    Ok(metas
        .into_iter()
        .map(|(id, meta)| {
            let deletion_mark = marks.remove(&id);
            (
                id,
                BlockFiles {
                    meta,
                    deletion_mark,
                },
            )
        })
        .collect())
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
                resolution_ms: meta.downsample.resolution_ms,
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
