//! Logs blocks: `index`, `chunks`, `meta.json` (see `sextant_logs::block`).

use std::ops::RangeInclusive;

use bytes::Bytes;
use sextant_logs::block::{
    merge_logs_blocks, LogsBlockFiles, LogsMergeTarget, CHUNKS_FILE, INDEX_FILE,
    LOGS_BLOCK_FORMAT_VERSION, META_FILE,
};
use sextant_logs::chunk::{DEFAULT_CHUNK_BLOCK_BYTES, DEFAULT_CHUNK_TARGET_BYTES};
use sextant_model::Signal;

use super::{merge_error, MergeTarget, MergedBlock, SignalCompaction, SourceBlock};
use crate::error::CompactorError;

/// Compaction of logs blocks through [`merge_logs_blocks`], chunked like the ingesters' blocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsCompaction;

impl SignalCompaction for LogsCompaction {
    fn signal(&self) -> Signal {
        Signal::Logs
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[INDEX_FILE, CHUNKS_FILE]
    }

    fn supported_versions(&self) -> RangeInclusive<u32> {
        LOGS_BLOCK_FORMAT_VERSION..=LOGS_BLOCK_FORMAT_VERSION
    }

    fn merge(
        &self,
        sources: &[SourceBlock],
        target: &MergeTarget,
    ) -> Result<Option<MergedBlock>, CompactorError> {
        let signal = self.signal();
        let files = sources
            .iter()
            .map(|s| {
                Ok(LogsBlockFiles {
                    meta: s.file(signal, META_FILE)?,
                    index: s.file(signal, INDEX_FILE)?,
                    chunks: s.file(signal, CHUNKS_FILE)?,
                })
            })
            .collect::<Result<Vec<_>, CompactorError>>()?;
        let merge_target = LogsMergeTarget {
            block_id: target.block_id.clone(),
            source_ingester: target.source.clone(),
            chunk_target_bytes: DEFAULT_CHUNK_TARGET_BYTES,
            chunk_block_bytes: DEFAULT_CHUNK_BLOCK_BYTES,
        };
        let block =
            merge_logs_blocks(&files, merge_target).map_err(|e| merge_error(signal, target, e))?;
        if block.meta.stats.streams == 0 {
            return Ok(None);
        }
        Ok(Some(MergedBlock {
            files: vec![
                (INDEX_FILE, Bytes::from(block.index)),
                (CHUNKS_FILE, Bytes::from(block.chunks)),
                (META_FILE, Bytes::from(block.meta.to_json())),
            ],
        }))
    }
}
