//! [`TracesBlockWriter`]: traces in ascending ID order in, the five files of a block out.

use bytes::Bytes;

use crate::model::{Trace, TraceId};

use super::bloom::TracesBloom;
use super::codec::header;
use super::data::{put_entry, seal_page, DATA_MAGIC};
use super::index::{TracesBlockIndex, TracesPageRef};
use super::meta::{TracesBlockCompaction, TracesBlockMeta, TRACES_BLOCK_FORMAT_VERSION};
use super::search::SearchBuilder;
use super::{TracesBlockError, BLOOM_FILE, DATA_FILE, INDEX_FILE, META_FILE, SEARCH_FILE};

/// How blocks are cut into pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracesBlockOptions {
    /// Uncompressed bytes of entries per page: a page is closed before a trace would take
    /// it past this (a larger trace gets a page of its own).
    pub page_bytes: usize,
}

impl Default for TracesBlockOptions {
    fn default() -> Self {
        TracesBlockOptions {
            page_bytes: 1 << 20,
        }
    }
}

/// A finished block: its meta and the bytes of each file.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedTracesBlock {
    pub meta: TracesBlockMeta,
    pub data: Bytes,
    pub index: Bytes,
    pub bloom: Bytes,
    pub search: Bytes,
}

impl EncodedTracesBlock {
    /// (file name, bytes) in upload order, `meta.json` last.
    pub fn files(&self) -> [(&'static str, Bytes); 5] {
        [
            (DATA_FILE, self.data.clone()),
            (INDEX_FILE, self.index.clone()),
            (BLOOM_FILE, self.bloom.clone()),
            (SEARCH_FILE, self.search.clone()),
            (META_FILE, Bytes::from(self.meta.to_json())),
        ]
    }
}

/// Builds a block from traces added in ascending ID order. Encoding is CPU work: run it off
/// the async runtime.
pub struct TracesBlockWriter {
    options: TracesBlockOptions,
    data: Vec<u8>,
    /// Entries of the page being filled, uncompressed.
    page: Vec<u8>,
    page_ids: Vec<TraceId>,
    pages: Vec<TracesPageRef>,
    ids: Vec<TraceId>,
    search: SearchBuilder,
    spans: u64,
    min_time_ns: u64,
    max_time_ns: u64,
}

impl TracesBlockWriter {
    pub fn new(options: TracesBlockOptions) -> TracesBlockWriter {
        TracesBlockWriter {
            options,
            data: header(DATA_MAGIC),
            page: Vec::new(),
            page_ids: Vec::new(),
            pages: Vec::new(),
            ids: Vec::new(),
            search: SearchBuilder::default(),
            spans: 0,
            min_time_ns: u64::MAX,
            max_time_ns: 0,
        }
    }

    /// Adds a trace; its ID must be greater than the previous one's.
    pub fn add_trace(&mut self, trace: &Trace) -> Result<(), TracesBlockError> {
        if let Some(&previous) = self.ids.last() {
            if previous >= trace.id {
                return Err(TracesBlockError::UnsortedTraces {
                    previous,
                    next: trace.id,
                });
            }
        }
        let encoded_len = trace.encoded_len();
        let entry_len = 16 + 10 + encoded_len;
        if !self.page.is_empty() && self.page.len() + entry_len > self.options.page_bytes {
            self.flush_page()?;
        }
        put_entry(&mut self.page, trace, encoded_len);
        self.page_ids.push(trace.id);
        self.ids.push(trace.id);
        let summary = self.search.add(trace, self.pages.len() as u32);
        if summary.spans > 0 {
            self.spans += summary.spans;
            self.min_time_ns = self.min_time_ns.min(summary.start_ns);
            self.max_time_ns = self.max_time_ns.max(summary.end_ns);
        }
        Ok(())
    }

    fn flush_page(&mut self) -> Result<(), TracesBlockError> {
        let (Some(&first), Some(&last)) = (self.page_ids.first(), self.page_ids.last()) else {
            return Ok(());
        };
        let sealed = seal_page(&self.page)?;
        self.pages.push(TracesPageRef {
            number: self.pages.len() as u32,
            first,
            last,
            offset: self.data.len() as u64,
            len: sealed.len() as u64,
            traces: self.page_ids.len() as u32,
        });
        self.data.extend_from_slice(&sealed);
        self.page.clear();
        self.page_ids.clear();
        Ok(())
    }

    /// Closes the block: compaction level 1, its own ID as source (a compactor sets
    /// `meta.compaction` of the result before calling [`EncodedTracesBlock::files`]).
    pub fn finish(
        mut self,
        block_id: String,
        source_ingester: String,
    ) -> Result<EncodedTracesBlock, TracesBlockError> {
        if self.ids.is_empty() {
            return Err(TracesBlockError::EmptyBlock);
        }
        self.flush_page()?;
        let mut bloom = TracesBloom::with_capacity(self.ids.len());
        for id in &self.ids {
            bloom.insert(id);
        }
        let pages = self.pages.len() as u64;
        let (bloom, index) = (bloom.encode(), TracesBlockIndex::new(self.pages).encode());
        let search = self.search.finish()?;
        let (min_time_ns, max_time_ns) = if self.spans == 0 {
            (0, 0)
        } else {
            (self.min_time_ns, self.max_time_ns)
        };
        let meta = TracesBlockMeta {
            version: TRACES_BLOCK_FORMAT_VERSION,
            block_id: block_id.clone(),
            min_time_ns: i64::try_from(min_time_ns).unwrap_or(i64::MAX),
            max_time_ns: i64::try_from(max_time_ns).unwrap_or(i64::MAX),
            traces: self.ids.len() as u64,
            spans: self.spans,
            pages,
            data_bytes: self.data.len() as u64,
            index_bytes: index.len() as u64,
            bloom_bytes: bloom.len() as u64,
            search_bytes: search.len() as u64,
            source_ingester,
            compaction: TracesBlockCompaction {
                level: 1,
                sources: vec![block_id],
            },
        };
        Ok(EncodedTracesBlock {
            meta,
            data: Bytes::from(self.data),
            index: Bytes::from(index),
            bloom: Bytes::from(bloom),
            search: Bytes::from(search),
        })
    }
}
