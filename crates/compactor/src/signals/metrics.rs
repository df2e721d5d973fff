//! Metrics blocks: `index`, `chunks`, `meta.json` (see `sextant_metrics::block`).

use std::ops::RangeInclusive;

use bytes::Bytes;
use sextant_metrics::block::{
    merge_blocks, MetricsBlockSourceFiles, MetricsMergeOptions, BLOCK_FORMAT_VERSION, CHUNKS_FILE,
    INDEX_FILE, META_FILE, MIN_BLOCK_FORMAT_VERSION,
};
use sextant_model::Signal;

use super::{merge_error, MergeTarget, MergedBlock, SignalCompaction, SourceBlock};
use crate::error::CompactorError;

/// Compaction of metrics blocks through [`merge_blocks`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsCompaction;

impl SignalCompaction for MetricsCompaction {
    fn signal(&self) -> Signal {
        Signal::Metrics
    }

    fn data_files(&self) -> &'static [&'static str] {
        &[INDEX_FILE, CHUNKS_FILE]
    }

    fn supported_versions(&self) -> RangeInclusive<u32> {
        MIN_BLOCK_FORMAT_VERSION..=BLOCK_FORMAT_VERSION
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
                Ok(MetricsBlockSourceFiles {
                    meta: s.file(signal, META_FILE)?,
                    index: s.file(signal, INDEX_FILE)?,
                    chunks: s.file(signal, CHUNKS_FILE)?,
                })
            })
            .collect::<Result<Vec<_>, CompactorError>>()?;
        let mut options = MetricsMergeOptions::new(target.block_id.clone());
        options.source_ingester = target.source.clone();
        let block = merge_blocks(&files, &options).map_err(|e| merge_error(signal, target, e))?;
        if block.meta.stats.series == 0 {
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
