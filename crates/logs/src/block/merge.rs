//! Merging blocks of one tenant into one (the compactor's job): the RF replicas of a time
//! range, or adjacent ranges. Streams are matched by label set; each stream's entries are
//! sorted by (time, line, metadata), exact duplicates dropped, and re-chunked by
//! [`LogsBlockWriter`]. Works on the files' bytes, without I/O; memory holds every source's
//! index and one stream's entries at a time. CPU work: run it off the async runtime.

use std::collections::BTreeMap;

use sextant_model::Labels;

use super::{
    read_logs_chunk, EncodedLogsBlock, LogsBlockCompaction, LogsBlockError, LogsBlockIndex,
    LogsBlockMeta, LogsBlockSource, LogsBlockWriter, LogsStreamRef,
};
use crate::logql::eval::Entry;

#[cfg(test)]
mod tests;

/// The three files of one source block, as downloaded.
#[derive(Debug, Clone, Copy)]
pub struct LogsBlockFiles<'a> {
    pub meta: &'a [u8],
    pub index: &'a [u8],
    pub chunks: &'a [u8],
}

/// What the merged block is called and how it is chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsMergeTarget {
    pub block_id: String,
    /// Who wrote it (the compactor's instance ID), for `meta.source_ingester`.
    pub source_ingester: String,
    pub chunk_target_bytes: usize,
    pub chunk_block_bytes: usize,
}

struct Source<'a> {
    meta: LogsBlockMeta,
    index: LogsBlockIndex,
    chunks: &'a [u8],
}

/// Merges `sources` (blocks of one tenant) into one block whose compaction level is one
/// more than the highest source's and whose sources are the union of theirs. Refuses a
/// source of another format version or another tenant.
pub fn merge_logs_blocks(
    sources: &[LogsBlockFiles<'_>],
    target: LogsMergeTarget,
) -> Result<EncodedLogsBlock, LogsBlockError> {
    merge_logs_blocks_filtered(sources, target, &|_, _, _| false)
}

/// Whether an entry (stream labels, time in ns, line) is dropped from a merged block.
pub(super) type DropEntry<'f> = &'f dyn Fn(&Labels, i64, &str) -> bool;

/// [`merge_logs_blocks`] without the entries `drop` selects (streams left empty disappear):
/// the engine of retention and deletion rewrites (see `super::rewrite`).
pub(super) fn merge_logs_blocks_filtered(
    sources: &[LogsBlockFiles<'_>],
    target: LogsMergeTarget,
    drop: DropEntry<'_>,
) -> Result<EncodedLogsBlock, LogsBlockError> {
    let sources = sources
        .iter()
        .map(|f| {
            Ok(Source {
                meta: LogsBlockMeta::from_json(f.meta)?,
                index: LogsBlockIndex::parse(f.index)?,
                chunks: f.chunks,
            })
        })
        .collect::<Result<Vec<_>, LogsBlockError>>()?;
    let block_source = merged_source(&sources, target.block_id, target.source_ingester)?;
    let mut writer = LogsBlockWriter::new(target.chunk_target_bytes, target.chunk_block_bytes);
    for (labels, refs) in streams_by_labels(&sources) {
        let mut entries = merged_entries(&sources, &refs)?;
        entries.retain(|e| !drop(&labels, e.ts_ns, &e.line));
        writer.add_stream(&labels, &entries)?;
    }
    Ok(writer.finish(block_source))
}

/// The merged block's identity: one tenant, level max + 1, sources unioned (sorted).
fn merged_source(
    sources: &[Source<'_>],
    block_id: String,
    source_ingester: String,
) -> Result<LogsBlockSource, LogsBlockError> {
    let tenant = sources
        .first()
        .map(|s| s.meta.tenant.clone())
        .unwrap_or_default();
    if let Some(other) = sources.iter().find(|s| s.meta.tenant != tenant) {
        return Err(LogsBlockError::Corrupt(format!(
            "cannot merge blocks of tenants {tenant:?} and {:?}",
            other.meta.tenant
        )));
    }
    let level = sources
        .iter()
        .map(|s| s.meta.compaction.level)
        .max()
        .unwrap_or(0);
    let mut ids: Vec<String> = sources
        .iter()
        .flat_map(|s| s.meta.compaction.sources.iter().cloned())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(LogsBlockSource {
        block_id,
        tenant,
        source_ingester,
        compaction: LogsBlockCompaction {
            level: level.saturating_add(1),
            sources: ids,
        },
    })
}

/// Every label set of the sources, in order, with the (source, stream) pairs holding it.
fn streams_by_labels(sources: &[Source<'_>]) -> BTreeMap<Labels, Vec<(usize, LogsStreamRef)>> {
    let mut streams: BTreeMap<Labels, Vec<(usize, LogsStreamRef)>> = BTreeMap::new();
    for (i, source) in sources.iter().enumerate() {
        for r in source.index.select(&[]) {
            if let Some((labels, _)) = source.index.stream(r) {
                streams.entry(labels).or_default().push((i, r));
            }
        }
    }
    streams
}

/// The entries of one stream across sources, sorted by (time, line, metadata), each once.
fn merged_entries(
    sources: &[Source<'_>],
    refs: &[(usize, LogsStreamRef)],
) -> Result<Vec<Entry>, LogsBlockError> {
    let mut entries = Vec::new();
    for &(i, r) in refs {
        let source = &sources[i];
        let Some((_, metas)) = source.index.stream(r) else {
            continue;
        };
        for meta in metas {
            entries.extend(read_logs_chunk(source.chunks, meta)?.entries()?);
        }
    }
    entries.sort_by(|a, b| (a.ts_ns, &a.line, &a.metadata).cmp(&(b.ts_ns, &b.line, &b.metadata)));
    entries.dedup();
    Ok(entries)
}
