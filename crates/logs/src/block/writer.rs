//! Writing a block: streams in label order, their entries packed into chunks.

use std::collections::BTreeMap;

use sextant_model::Labels;

use super::index::{INDEX_MAGIC, INDEX_VERSION};
use super::meta::{LogsBlockMeta, LogsBlockSource, LogsBlockStats, LOGS_BLOCK_FORMAT_VERSION};
use super::{LogsBlockError, LogsChunkMeta};
use crate::chunk::encoding::{put_str, put_uvarint, put_varint};
use crate::chunk::LogsChunk;
use crate::logql::eval::Entry;

pub(super) const CHUNKS_MAGIC: &[u8; 4] = b"SXLK";
pub(super) const CHUNKS_VERSION: u8 = 1;
pub(super) const CHUNKS_HEADER_LEN: u64 = 5;

/// A block's three files, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLogsBlock {
    pub meta: LogsBlockMeta,
    pub index: Vec<u8>,
    pub chunks: Vec<u8>,
}

impl EncodedLogsBlock {
    pub fn meta_json(&self) -> Vec<u8> {
        self.meta.to_json()
    }
}

/// Builds a block from streams added in label order.
#[derive(Debug)]
pub struct LogsBlockWriter {
    target_bytes: usize,
    block_bytes: usize,
    streams: Vec<(Labels, Vec<LogsChunkMeta>)>,
    chunks: Vec<u8>,
    stats: LogsBlockStats,
    time_range: Option<(i64, i64)>,
}

impl LogsBlockWriter {
    /// Chunks are closed at about `target_bytes` compressed, with blocks of `block_bytes`.
    pub fn new(target_bytes: usize, block_bytes: usize) -> LogsBlockWriter {
        let mut chunks = CHUNKS_MAGIC.to_vec();
        chunks.push(CHUNKS_VERSION);
        LogsBlockWriter {
            target_bytes: target_bytes.max(1),
            block_bytes: block_bytes.max(1),
            streams: Vec::new(),
            chunks,
            stats: LogsBlockStats::default(),
            time_range: None,
        }
    }

    /// Adds a stream and its entries (sorted by time); streams must come in label order.
    /// A stream without entries is skipped.
    pub fn add_stream(&mut self, labels: &Labels, entries: &[Entry]) -> Result<(), LogsBlockError> {
        if labels.is_empty() {
            return Err(LogsBlockError::EmptyLabels);
        }
        if let Some((previous, _)) = self.streams.last().filter(|(p, _)| p >= labels) {
            return Err(LogsBlockError::UnsortedStreams {
                previous: previous.to_string(),
                next: labels.to_string(),
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        let mut metas = Vec::new();
        let mut chunk = LogsChunk::new(self.block_bytes);
        for e in entries {
            chunk.push(e.clone())?;
            if chunk.size_estimate() >= self.target_bytes {
                metas.push(self.write_chunk(&chunk)?);
                chunk = LogsChunk::new(self.block_bytes);
            }
        }
        if !chunk.is_empty() {
            metas.push(self.write_chunk(&chunk)?);
        }
        self.stats.streams += 1;
        self.streams.push((labels.clone(), metas));
        Ok(())
    }

    fn write_chunk(&mut self, chunk: &LogsChunk) -> Result<LogsChunkMeta, LogsBlockError> {
        let bytes = chunk.to_bytes()?;
        let (min, max) = chunk.time_range().unwrap_or_default();
        let counts = chunk.counts();
        let entries = counts.entries;
        let meta = LogsChunkMeta {
            offset: self.chunks.len() as u64,
            len: bytes.len() as u64,
            min_time_ns: min,
            max_time_ns: max,
            entries: u32::try_from(entries).unwrap_or(u32::MAX),
            bytes: counts.line_bytes,
        };
        self.chunks.extend_from_slice(&bytes);
        self.stats.chunks += 1;
        self.stats.entries += entries;
        self.stats.bytes += counts.line_bytes;
        self.time_range = Some(
            self.time_range
                .map_or((min, max), |(a, b)| (a.min(min), b.max(max))),
        );
        Ok(meta)
    }

    /// Encodes the index and the meta (an empty block has min and max time 0).
    pub fn finish(self, source: LogsBlockSource) -> EncodedLogsBlock {
        let (min, max) = self.time_range.unwrap_or_default();
        let meta = LogsBlockMeta {
            version: LOGS_BLOCK_FORMAT_VERSION,
            block_id: source.block_id,
            min_time_ns: min,
            max_time_ns: max,
            stats: self.stats,
            source_ingester: source.source_ingester,
            compaction: source.compaction,
            tenant: source.tenant,
        };
        EncodedLogsBlock {
            meta,
            index: encode_index(&self.streams),
            chunks: self.chunks,
        }
    }
}

fn encode_index(streams: &[(Labels, Vec<LogsChunkMeta>)]) -> Vec<u8> {
    let mut symbols: BTreeMap<&str, u64> = BTreeMap::new();
    for (labels, _) in streams {
        for l in labels {
            symbols.insert(&l.name, 0);
            symbols.insert(&l.value, 0);
        }
    }
    for (i, r) in symbols.values_mut().enumerate() {
        *r = i as u64;
    }
    let mut out = INDEX_MAGIC.to_vec();
    out.push(INDEX_VERSION);
    let symbols_offset = out.len() as u64;
    put_uvarint(&mut out, symbols.len() as u64);
    symbols.keys().for_each(|s| put_str(&mut out, s));
    let streams_offset = out.len() as u64;
    put_uvarint(&mut out, streams.len() as u64);
    let mut postings: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
    let mut end = super::writer::CHUNKS_HEADER_LEN;
    for (id, (labels, chunks)) in streams.iter().enumerate() {
        put_uvarint(&mut out, labels.len() as u64);
        for l in labels {
            let pair = (symbols[l.name.as_str()], symbols[l.value.as_str()]);
            put_uvarint(&mut out, pair.0);
            put_uvarint(&mut out, pair.1);
            postings.entry(pair).or_default().push(id as u64);
        }
        put_uvarint(&mut out, chunks.len() as u64);
        for c in chunks {
            put_uvarint(&mut out, c.offset - end);
            put_uvarint(&mut out, c.len);
            put_varint(&mut out, c.min_time_ns);
            put_uvarint(&mut out, c.max_time_ns.wrapping_sub(c.min_time_ns) as u64);
            put_uvarint(&mut out, u64::from(c.entries));
            put_uvarint(&mut out, c.bytes);
            end = c.offset + c.len;
        }
    }
    let postings_offset = out.len() as u64;
    put_uvarint(&mut out, postings.len() as u64);
    for ((name, value), ids) in &postings {
        put_uvarint(&mut out, *name);
        put_uvarint(&mut out, *value);
        put_uvarint(&mut out, ids.len() as u64);
        let mut prev = 0;
        for id in ids {
            put_uvarint(&mut out, id - prev);
            prev = *id;
        }
    }
    for offset in [symbols_offset, streams_offset, postings_offset] {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}
