//! Merging blocks into one (the compactor's job): the RF replicas of a time range, or
//! adjacent ranges. Traces are matched by ID across sources and their spans deduplicated by
//! span ID ([`merge_traces`]); [`TracesBlockWriter`] rebuilds data, index, bloom and search.
//! Sources are read one page at a time each (a k-way merge over ascending IDs), so memory
//! holds one decoded page per source, not every trace. Works on the files' bytes, without
//! I/O; CPU work: run it off the async runtime.

use crate::model::{Trace, TraceId};
use crate::search::merge_traces;

use super::codec::FILE_VERSION;
use super::data::DATA_MAGIC;
use super::{
    read_page, EncodedTracesBlock, TracesBlockCompaction, TracesBlockError, TracesBlockIndex,
    TracesBlockMeta, TracesBlockOptions, TracesBlockWriter, TracesPage, TracesPageRef,
};

#[cfg(test)]
mod tests;

/// The files of one source block a merge reads (bloom and search are rebuilt, not read).
#[derive(Debug, Clone, Copy)]
pub struct TracesBlockFiles<'a> {
    pub meta: &'a [u8],
    pub index: &'a [u8],
    pub data: &'a [u8],
}

/// What the merged block is called and how it is paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracesMergeTarget {
    pub block_id: String,
    /// Who wrote it (the compactor's instance ID), for `meta.source_ingester`.
    pub source_ingester: String,
    pub options: TracesBlockOptions,
}

/// Merges `sources` into one block whose compaction level is one more than the highest
/// source's and whose sources are the union of theirs. Refuses a source of another format
/// version; no traces at all give [`TracesBlockError::EmptyBlock`].
pub fn merge_traces_blocks(
    sources: &[TracesBlockFiles<'_>],
    target: TracesMergeTarget,
) -> Result<EncodedTracesBlock, TracesBlockError> {
    let metas = sources
        .iter()
        .map(|f| TracesBlockMeta::from_json(f.meta))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cursors = sources
        .iter()
        .map(Cursor::open)
        .collect::<Result<Vec<_>, _>>()?;
    let mut writer = TracesBlockWriter::new(target.options);
    while let Some(id) = cursors.iter().filter_map(Cursor::current).min() {
        let mut fragments = Vec::new();
        for cursor in cursors.iter_mut() {
            if cursor.current() == Some(id) {
                fragments.push(cursor.take()?);
            }
        }
        writer.add_trace(&merge_traces(fragments))?;
    }
    let mut block = writer.finish(target.block_id, target.source_ingester)?;
    block.meta.compaction = merged_compaction(&metas);
    Ok(block)
}

/// Level max + 1, sources unioned (sorted).
fn merged_compaction(metas: &[TracesBlockMeta]) -> TracesBlockCompaction {
    let level = metas.iter().map(|m| m.compaction.level).max().unwrap_or(0);
    let mut sources: Vec<String> = metas
        .iter()
        .flat_map(|m| m.compaction.sources.iter().cloned())
        .collect();
    sources.sort();
    sources.dedup();
    TracesBlockCompaction {
        level: level.saturating_add(1),
        sources,
    }
}

/// A source read in ID order: its pages, the decoded current one and the position in it.
struct Cursor<'a> {
    data: &'a [u8],
    pages: Vec<TracesPageRef>,
    next_page: usize,
    page: Option<(TracesPage, Vec<TraceId>)>,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn open(files: &TracesBlockFiles<'a>) -> Result<Cursor<'a>, TracesBlockError> {
        check_data_header(files.data)?;
        let index = TracesBlockIndex::parse(files.index)?;
        let mut cursor = Cursor {
            data: files.data,
            pages: index.pages().to_vec(),
            next_page: 0,
            page: None,
            at: 0,
        };
        cursor.load_next_page()?;
        Ok(cursor)
    }

    /// The ID under the cursor; `None` once the source is exhausted.
    fn current(&self) -> Option<TraceId> {
        self.page
            .as_ref()
            .and_then(|(_, ids)| ids.get(self.at).copied())
    }

    /// Decodes the trace under the cursor and moves past it.
    fn take(&mut self) -> Result<Trace, TracesBlockError> {
        let Some((page, ids)) = &self.page else {
            return Err(TracesBlockError::corrupt("data", "read past the last page"));
        };
        let id = ids[self.at];
        let trace = page
            .find(&id)?
            .ok_or_else(|| TracesBlockError::corrupt("data page", format!("{id} vanished")))?;
        self.at += 1;
        if self.at == ids.len() {
            self.load_next_page()?;
        }
        Ok(trace)
    }

    fn load_next_page(&mut self) -> Result<(), TracesBlockError> {
        self.page = None;
        self.at = 0;
        // the index has no empty pages, and a page must hold the IDs it lists
        let Some(page_ref) = self.pages.get(self.next_page) else {
            return Ok(());
        };
        self.next_page += 1;
        let range = page_ref.range();
        let bytes = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| self.data.get(start..end))
            .ok_or_else(|| {
                TracesBlockError::corrupt("data", format!("page {range:?} beyond the file"))
            })?;
        let page = read_page(bytes)?;
        let ids: Vec<TraceId> = page.ids().collect();
        if ids.first() != Some(&page_ref.first) || ids.last() != Some(&page_ref.last) {
            return Err(TracesBlockError::corrupt(
                "data page",
                format!(
                    "page {} does not hold the IDs the index says",
                    page_ref.number
                ),
            ));
        }
        self.page = Some((page, ids));
        Ok(())
    }
}

fn check_data_header(data: &[u8]) -> Result<(), TracesBlockError> {
    match data.get(..5) {
        Some(h) if &h[..4] == DATA_MAGIC && h[4] == FILE_VERSION => Ok(()),
        Some(h) if &h[..4] == DATA_MAGIC => Err(TracesBlockError::UnknownFormatVersion {
            file: "data",
            version: h[4],
        }),
        _ => Err(TracesBlockError::corrupt("data", "bad magic")),
    }
}
