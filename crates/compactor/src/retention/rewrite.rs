//! Replacing one block by a rewritten copy (retention and deletion requests): download its
//! files, rewrite them on the blocking pool with the engine's rewrite, upload the new block
//! (meta last: complete before anything else happens), then mark the old one for deletion.
//! The caller updates the bucket index once it has handled all its blocks.
//!
//! A kill at any point leaves the bucket consistent: before the new meta is written the new
//! block is partial (cleaned up later); between its upload and the old block's mark both are
//! complete and hold the same kept data (readers deduplicate replicas anyway), and the next
//! run rewrites the old one again and the planner marks the redundant copy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use object_store::ObjectStore;
use sextant_logs::block::{rewrite_logs_block, LogsBlockFiles, LogsBlockMeta, LogsMergeTarget};
use sextant_logs::chunk::{DEFAULT_CHUNK_BLOCK_BYTES, DEFAULT_CHUNK_TARGET_BYTES};
use sextant_metrics::block::{
    rewrite_metrics_block, BlockMeta, MetricsBlockSourceFiles, MetricsMergeOptions,
};
use sextant_model::{Labels, Signal, TenantId};
use sextant_storage::{mark_block_for_deletion, new_block_id};

use crate::error::{storage_error, CompactorError};
pub(crate) use crate::runner::blocking;
use crate::runner::{get_block_file, put_block_file};

/// The files of metrics and logs blocks (both engines use these names).
pub(crate) const META_FILE: &str = sextant_logs::block::META_FILE;
pub(crate) const INDEX_FILE: &str = sextant_logs::block::INDEX_FILE;
pub(crate) const CHUNKS_FILE: &str = sextant_logs::block::CHUNKS_FILE;

/// Downloaded files of one block, by name.
pub(crate) type BlockFiles = BTreeMap<&'static str, Bytes>;

/// Whether a log entry (stream labels, time in ns, line) goes.
pub(crate) type DropEntry = Arc<dyn Fn(&Labels, i64, &str) -> bool + Send + Sync>;

/// What rewriting one block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rewritten {
    /// Nothing to drop: the block stays as it is.
    Unchanged,
    /// A new block replaces it (the old one is marked for deletion).
    Replaced { block_id: String, dropped: u64 },
    /// Nothing was left: the old block is marked for deletion.
    Emptied { dropped: u64 },
}

/// Rewrites blocks of one tenant and signal, as the compactor `instance_id`.
pub(crate) struct BlockRewriter<'a> {
    store: &'a dyn ObjectStore,
    signal: Signal,
    tenant: &'a TenantId,
    instance_id: &'a str,
}

impl<'a> BlockRewriter<'a> {
    pub(crate) fn new(
        store: &'a dyn ObjectStore,
        signal: Signal,
        tenant: &'a TenantId,
        instance_id: &'a str,
    ) -> Self {
        BlockRewriter {
            store,
            signal,
            tenant,
            instance_id,
        }
    }

    pub(crate) fn signal(&self) -> Signal {
        self.signal
    }

    /// Downloads `files` of a block.
    pub(crate) async fn download(
        &self,
        block_id: &str,
        files: &[&'static str],
    ) -> Result<BlockFiles, CompactorError> {
        let mut out = BlockFiles::new();
        for &file in files {
            let bytes =
                get_block_file(self.store, self.signal, self.tenant, block_id, file).await?;
            out.insert(file, bytes);
        }
        Ok(out)
    }

    /// Uploads a new block's files in order (the caller puts `meta.json` last).
    async fn upload(
        &self,
        block_id: &str,
        files: Vec<(&'static str, Bytes)>,
    ) -> Result<(), CompactorError> {
        for (file, bytes) in files {
            put_block_file(self.store, self.signal, self.tenant, block_id, file, bytes).await?;
        }
        Ok(())
    }

    /// Marks a block for deletion.
    pub(crate) async fn mark(&self, block_id: &str) -> Result<(), CompactorError> {
        mark_block_for_deletion(self.store, self.signal, self.tenant, block_id)
            .await
            .map_err(storage_error(
                "marking a block for deletion",
                self.signal,
                self.tenant,
            ))
    }

    /// Rewrites a metrics block without its samples before `keep_from_ms`.
    pub(crate) async fn rewrite_metrics(
        &self,
        block_id: &str,
        keep_from_ms: i64,
    ) -> Result<Rewritten, CompactorError> {
        let files = self
            .download(block_id, &[META_FILE, INDEX_FILE, CHUNKS_FILE])
            .await?;
        let options = MetricsMergeOptions {
            source_ingester: self.instance_id.to_owned(),
            ..MetricsMergeOptions::new(new_block_id(SystemTime::now()))
        };
        let rewritten = blocking(move || {
            let file = |name| files.get(name).map_or(&[][..], |b| &b[..]);
            let src = MetricsBlockSourceFiles {
                meta: file(META_FILE),
                index: file(INDEX_FILE),
                chunks: file(CHUNKS_FILE),
            };
            let before = BlockMeta::from_json(src.meta)?.stats;
            let block = rewrite_metrics_block(&src, keep_from_ms, &options)?;
            Ok::<_, sextant_metrics::block::BlockError>((before, block))
        })
        .await?;
        let (before, block) = rewritten.map_err(|e| self.merge_error(block_id, e))?;
        let before = before.samples + before.histograms;
        let Some(block) = block else {
            self.mark(block_id).await?;
            return Ok(Rewritten::Emptied { dropped: before });
        };
        let after = block.meta.stats.samples + block.meta.stats.histograms;
        if after == before {
            return Ok(Rewritten::Unchanged);
        }
        let new_id = block.meta.block_id.clone();
        let meta = Bytes::from(block.meta.to_json());
        let files = vec![
            (INDEX_FILE, Bytes::from(block.index)),
            (CHUNKS_FILE, Bytes::from(block.chunks)),
            (META_FILE, meta),
        ];
        self.replace(block_id, &new_id, files, before - after).await
    }

    /// Rewrites a logs block without the entries `drop` selects.
    pub(crate) async fn rewrite_logs(
        &self,
        block_id: &str,
        drop: DropEntry,
    ) -> Result<Rewritten, CompactorError> {
        let files = self
            .download(block_id, &[META_FILE, INDEX_FILE, CHUNKS_FILE])
            .await?;
        self.rewrite_logs_files(block_id, files, drop).await
    }

    /// Rewrites a logs block (all of its files downloaded) without the entries `drop`
    /// selects.
    pub(crate) async fn rewrite_logs_files(
        &self,
        block_id: &str,
        files: BlockFiles,
        drop: DropEntry,
    ) -> Result<Rewritten, CompactorError> {
        let target = LogsMergeTarget {
            block_id: new_block_id(SystemTime::now()),
            source_ingester: self.instance_id.to_owned(),
            chunk_target_bytes: DEFAULT_CHUNK_TARGET_BYTES,
            chunk_block_bytes: DEFAULT_CHUNK_BLOCK_BYTES,
        };
        let rewritten = blocking(move || {
            let file = |name| files.get(name).map_or(&[][..], |b| &b[..]);
            let src = LogsBlockFiles {
                meta: file(META_FILE),
                index: file(INDEX_FILE),
                chunks: file(CHUNKS_FILE),
            };
            let before = LogsBlockMeta::from_json(src.meta)?.stats.entries;
            let block = rewrite_logs_block(&src, target, &*drop)?;
            Ok::<_, sextant_logs::block::LogsBlockError>((before, block))
        })
        .await?;
        let (before, block) = rewritten.map_err(|e| self.merge_error(block_id, e))?;
        let Some(block) = block else {
            self.mark(block_id).await?;
            return Ok(Rewritten::Emptied { dropped: before });
        };
        let after = block.meta.stats.entries;
        if after == before {
            return Ok(Rewritten::Unchanged);
        }
        let new_id = block.meta.block_id.clone();
        let meta = Bytes::from(block.meta_json());
        let files = vec![
            (INDEX_FILE, Bytes::from(block.index)),
            (CHUNKS_FILE, Bytes::from(block.chunks)),
            (META_FILE, meta),
        ];
        self.replace(block_id, &new_id, files, before.saturating_sub(after))
            .await
    }

    /// Uploads the new block complete, then marks the old one.
    async fn replace(
        &self,
        old_id: &str,
        new_id: &str,
        files: Vec<(&'static str, Bytes)>,
        dropped: u64,
    ) -> Result<Rewritten, CompactorError> {
        self.upload(new_id, files).await?;
        self.mark(old_id).await?;
        tracing::debug!(tenant = %self.tenant, signal = self.signal.as_str(), old_id, new_id, dropped, "block rewritten");
        Ok(Rewritten::Replaced {
            block_id: new_id.to_owned(),
            dropped,
        })
    }

    pub(crate) fn merge_error(&self, block_id: &str, e: impl std::fmt::Display) -> CompactorError {
        CompactorError::Merge {
            signal: self.signal.as_str(),
            block_id: block_id.to_owned(),
            reason: format!("rewriting: {e}"),
        }
    }
}
