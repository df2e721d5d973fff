//! What compaction needs of each signal's block format, behind one small trait
//! ([`SignalCompaction`]): the block's file names, the versions this build merges, and the
//! engine's merge. The runner does the I/O; the merge is CPU-bound and runs on the blocking
//! pool. Impls: `metrics.rs` (`index`, `chunks`), `logs.rs` (`index`, `chunks`), `traces.rs`
//! (`data`, `index`, `bloom`, `search`).

mod logs;
mod metrics;
mod traces;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use sextant_model::Signal;

use crate::error::CompactorError;

pub use logs::LogsCompaction;
pub use metrics::MetricsCompaction;
pub use traces::TracesCompaction;

/// The file whose presence marks a block complete; uploaded last.
pub const META_FILE: &str = sextant_storage::keys::BLOCK_META_FILE;

/// One signal's block format, as compaction uses it.
pub trait SignalCompaction: Send + Sync + 'static {
    fn signal(&self) -> Signal;
    /// The block's files other than `meta.json`, in upload order.
    fn data_files(&self) -> &'static [&'static str];
    /// The `meta.json` versions this build reads and merges.
    fn supported_versions(&self) -> RangeInclusive<u32>;
    /// Merges `sources` (all files downloaded, `meta.json` included) into a new block; `None`
    /// when they hold no data at all. CPU-bound: call it on the blocking pool.
    fn merge(
        &self,
        sources: &[SourceBlock],
        target: &MergeTarget,
    ) -> Result<Option<MergedBlock>, CompactorError>;
}

/// The compaction of `signal`.
pub fn signal_compaction(signal: Signal) -> Arc<dyn SignalCompaction> {
    match signal {
        Signal::Metrics => Arc::new(MetricsCompaction),
        Signal::Logs => Arc::new(LogsCompaction),
        Signal::Traces => Arc::new(TracesCompaction),
    }
}

/// A downloaded block: file name → content.
#[derive(Debug, Clone, Default)]
pub struct SourceBlock {
    pub block_id: String,
    pub files: BTreeMap<String, Bytes>,
}

impl SourceBlock {
    /// The content of `file`, or a meta error naming the missing file.
    pub(crate) fn file(&self, signal: Signal, file: &str) -> Result<&[u8], CompactorError> {
        match self.files.get(file) {
            Some(bytes) => Ok(bytes),
            None => Err(CompactorError::Meta {
                signal: signal.as_str(),
                block_id: self.block_id.clone(),
                reason: format!("file {file} was not downloaded"),
            }),
        }
    }

    /// Total bytes of the block's files.
    pub fn size_bytes(&self) -> u64 {
        self.files.values().map(|b| b.len() as u64).sum()
    }
}

/// What the merged block is called and who writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeTarget {
    pub block_id: String,
    /// The compactor's instance id, the new meta's `source_ingester`.
    pub source: String,
}

/// A merged block's files in upload order, `meta.json` last.
#[derive(Debug, Clone)]
pub struct MergedBlock {
    pub files: Vec<(&'static str, Bytes)>,
}

impl MergedBlock {
    /// Total bytes of the block's files.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// The fields of a `meta.json` the planner needs, shared by all signals' metas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionMeta {
    pub version: u32,
    pub level: u32,
    /// The level-1 blocks the block holds.
    pub sources: Vec<String>,
    /// For metas in ns (logs, traces): the time range in ms, both ends rounded down, so that
    /// blocks cut on aligned ranges do not seem to overlap (the bucket index rounds the max
    /// up). `None` for metas in ms.
    pub time_range_ms: Option<(i64, i64)>,
}

#[derive(Deserialize)]
struct CommonMeta {
    version: u32,
    #[serde(default)]
    min_time_ns: Option<i64>,
    #[serde(default)]
    max_time_ns: Option<i64>,
    #[serde(default)]
    compaction: CommonCompaction,
}

#[derive(Deserialize, Default)]
struct CommonCompaction {
    #[serde(default)]
    level: u32,
    #[serde(default)]
    sources: Vec<String>,
}

/// Reads the version, level and sources of any signal's `meta.json`; a block without
/// sources counts as its own source.
pub fn read_compaction_meta(
    signal: Signal,
    block_id: &str,
    bytes: &[u8],
) -> Result<CompactionMeta, CompactorError> {
    let meta: CommonMeta = serde_json::from_slice(bytes).map_err(|e| CompactorError::Meta {
        signal: signal.as_str(),
        block_id: block_id.to_owned(),
        reason: e.to_string(),
    })?;
    let mut sources = meta.compaction.sources;
    if sources.is_empty() {
        sources.push(block_id.to_owned());
    }
    const NS_PER_MS: i64 = 1_000_000;
    let time_range_ms = meta
        .min_time_ns
        .zip(meta.max_time_ns)
        .map(|(min, max)| (min.div_euclid(NS_PER_MS), max.div_euclid(NS_PER_MS)));
    Ok(CompactionMeta {
        version: meta.version,
        level: meta.compaction.level.max(1),
        sources,
        time_range_ms,
    })
}

/// A merge failure of `signal` for `target`.
pub(crate) fn merge_error(
    signal: Signal,
    target: &MergeTarget,
    error: impl std::fmt::Display,
) -> CompactorError {
    CompactorError::Merge {
        signal: signal.as_str(),
        block_id: target.block_id.clone(),
        reason: error.to_string(),
    }
}
