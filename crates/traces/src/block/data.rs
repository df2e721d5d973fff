//! The `data` file's pages: consecutive traces, each as its ID, a length and an encoded OTLP
//! `TracesData`, snappy-compressed together and followed by a CRC.

use std::ops::Range;

use crate::model::{Trace, TraceId};
use crate::search::decode_trace;

use super::codec::{check_crc, compress, decompress, put_varint, Reader};
use super::TracesBlockError;

pub(super) const DATA_MAGIC: &[u8; 4] = b"SXTD";
const FILE: &str = "data page";

/// Appends one trace's entry (ID, length, `TracesData`) to an uncompressed page;
/// `encoded_len` is [`Trace::encoded_len`].
pub(super) fn put_entry(page: &mut Vec<u8>, trace: &Trace, encoded_len: usize) {
    page.extend_from_slice(trace.id.as_bytes());
    put_varint(page, encoded_len as u64);
    for rs in &trace.resource_spans {
        // field 1 of `TracesData`, as `Trace::encoded_len` counts it
        prost::encoding::message::encode(1, rs, page);
    }
}

/// A finished page as stored: compressed entries and their CRC.
pub(super) fn seal_page(entries: &[u8]) -> Result<Vec<u8>, TracesBlockError> {
    let mut page = compress(entries, "data")?;
    let crc = crc32fast::hash(&page);
    page.extend_from_slice(&crc.to_be_bytes());
    Ok(page)
}

/// One decoded page: its entries, sorted by trace ID, still as encoded protobuf.
#[derive(Debug, Clone)]
pub struct TracesPage {
    bytes: Vec<u8>,
    /// (ID, byte range of its `TracesData` in `bytes`), ascending IDs.
    entries: Vec<(TraceId, Range<usize>)>,
}

/// Checks and decompresses a page fetched from `data` (the bytes of
/// [`super::TracesPageRef::range`]).
pub fn read_page(page_bytes: &[u8]) -> Result<TracesPage, TracesBlockError> {
    let compressed = check_crc(page_bytes, FILE)?;
    let bytes = decompress(compressed, FILE)?;
    let entries = parse_entries(&bytes)?;
    Ok(TracesPage { bytes, entries })
}

fn parse_entries(bytes: &[u8]) -> Result<Vec<(TraceId, Range<usize>)>, TracesBlockError> {
    let mut r = Reader::new(bytes, FILE);
    let mut entries: Vec<(TraceId, Range<usize>)> = Vec::new();
    while !r.is_empty() {
        let id = r.trace_id()?;
        if entries.last().is_some_and(|(last, _)| *last >= id) {
            return Err(r.corrupt("trace IDs out of order"));
        }
        let len = r.count()?;
        let start = bytes.len() - r.remaining();
        r.bytes(len)?;
        entries.push((id, start..start + len));
    }
    Ok(entries)
}

impl TracesPage {
    /// How many traces the page holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The IDs of the page, ascending.
    pub fn ids(&self) -> impl Iterator<Item = TraceId> + '_ {
        self.entries.iter().map(|(id, _)| *id)
    }

    /// The trace `id`, decoded; `None` when the page does not hold it.
    pub fn find(&self, id: &TraceId) -> Result<Option<Trace>, TracesBlockError> {
        let Ok(at) = self.entries.binary_search_by(|(e, _)| e.cmp(id)) else {
            return Ok(None);
        };
        self.decode(at).map(Some)
    }

    /// Every trace of the page, decoded, in ID order.
    pub fn traces(&self) -> impl Iterator<Item = Result<Trace, TracesBlockError>> + '_ {
        (0..self.entries.len()).map(|i| self.decode(i))
    }

    fn decode(&self, at: usize) -> Result<Trace, TracesBlockError> {
        let (id, range) = &self.entries[at];
        decode_trace(*id, &self.bytes[range.clone()])
            .map_err(|e| TracesBlockError::corrupt(FILE, e.to_string()))
    }
}
