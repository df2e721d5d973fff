//! Traces blocks: `data`, `index`, `bloom`, `search`, `meta.json` (see
//! `sextant_traces::block`). The merge reads `meta.json`, `index` and `data` and rebuilds the
//! rest.

use std::ops::RangeInclusive;

use sextant_model::Signal;
use sextant_traces::block::{
    merge_traces_blocks, TracesBlockError, TracesBlockFiles, TracesBlockOptions, TracesMergeTarget,
    BLOOM_FILE, DATA_FILE, INDEX_FILE, META_FILE, SEARCH_FILE, TRACES_BLOCK_FORMAT_VERSION,
};

use super::{merge_error, MergeTarget, MergedBlock, SignalCompaction, SourceBlock};
use crate::error::CompactorError;

/// Compaction of traces blocks through [`merge_traces_blocks`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TracesCompaction;

impl SignalCompaction for TracesCompaction {
    fn signal(&self) -> Signal {
        Signal::Traces
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[DATA_FILE, INDEX_FILE, BLOOM_FILE, SEARCH_FILE]
    }

    fn supported_versions(&self) -> RangeInclusive<u32> {
        TRACES_BLOCK_FORMAT_VERSION..=TRACES_BLOCK_FORMAT_VERSION
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
                Ok(TracesBlockFiles {
                    meta: s.file(signal, META_FILE)?,
                    index: s.file(signal, INDEX_FILE)?,
                    data: s.file(signal, DATA_FILE)?,
                })
            })
            .collect::<Result<Vec<_>, CompactorError>>()?;
        let merge_target = TracesMergeTarget {
            block_id: target.block_id.clone(),
            source_ingester: target.source.clone(),
            options: TracesBlockOptions::default(),
        };
        match merge_traces_blocks(&files, merge_target) {
            Ok(block) => Ok(Some(MergedBlock {
                files: block.files().to_vec(),
            })),
            Err(TracesBlockError::EmptyBlock) => Ok(None),
            Err(e) => Err(merge_error(signal, target, e)),
        }
    }
}
