//! Parsing the index file and answering label queries from its postings.

use sextant_model::{Label, Labels, Matcher};

use super::{LogsBlockError, LogsChunkMeta, LogsStreamRef};
use crate::chunk::encoding::Decoder;

pub(super) const INDEX_MAGIC: &[u8; 4] = b"SXLI";
pub(super) const INDEX_VERSION: u8 = 1;
const HEADER_LEN: usize = 5;
/// Length of the table of contents at the end of the index, CRC included.
pub const LOGS_INDEX_TOC_LEN: usize = 3 * 8 + 4;

/// A parsed, fully validated index: later lookups cannot fail on corrupt bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsBlockIndex {
    symbols: Vec<String>,
    streams: Vec<StreamEntry>,
    /// Sorted by (name, value) symbol refs, i.e. by name and value strings.
    postings: Vec<Postings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamEntry {
    labels: Vec<(u32, u32)>,
    chunks: Vec<LogsChunkMeta>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Postings {
    name: u32,
    value: u32,
    ids: Vec<u32>,
}

/// The table of contents at the end of an index. The CRC in it covers the whole file, so it
/// is checked by [`LogsBlockIndex::parse_sections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsIndexToc {
    pub symbols_offset: u64,
    pub streams_offset: u64,
    pub postings_offset: u64,
    /// Where the TOC starts: the length of everything before it.
    pub toc_offset: u64,
    raw: [u8; LOGS_INDEX_TOC_LEN],
}

impl LogsIndexToc {
    /// Parses the last [`LOGS_INDEX_TOC_LEN`] bytes of an index that is `index_len` bytes long.
    pub fn parse(tail: &[u8], index_len: u64) -> Result<LogsIndexToc, LogsBlockError> {
        let raw: [u8; LOGS_INDEX_TOC_LEN] = tail.try_into().map_err(|_| {
            LogsBlockError::Corrupt(format!("toc must be {LOGS_INDEX_TOC_LEN} bytes"))
        })?;
        let toc_offset = index_len
            .checked_sub(LOGS_INDEX_TOC_LEN as u64)
            .filter(|o| *o >= HEADER_LEN as u64)
            .ok_or_else(|| LogsBlockError::Corrupt("index shorter than header and toc".into()))?;
        let mut d = Decoder::new(&raw, "toc");
        let (sym, str_, post) = (d.be_u64()?, d.be_u64()?, d.be_u64()?);
        let ordered = HEADER_LEN as u64 <= sym && sym <= str_ && str_ <= post;
        if !ordered || post > toc_offset {
            return Err(LogsBlockError::Corrupt("toc offsets out of order".into()));
        }
        Ok(LogsIndexToc {
            symbols_offset: sym,
            streams_offset: str_,
            postings_offset: post,
            toc_offset,
            raw,
        })
    }

    /// The bytes of the index before the TOC (header and sections): fetch these next.
    pub fn body_range(&self) -> std::ops::Range<u64> {
        0..self.toc_offset
    }
}

impl LogsBlockIndex {
    /// Checks magic, version and CRC, then decodes and validates every section.
    pub fn parse(bytes: &[u8]) -> Result<LogsBlockIndex, LogsBlockError> {
        if bytes.len() < HEADER_LEN + LOGS_INDEX_TOC_LEN || &bytes[..4] != INDEX_MAGIC {
            return Err(LogsBlockError::Corrupt(
                "not a logs block index (bad magic)".into(),
            ));
        }
        let (body, tail) = bytes.split_at(bytes.len() - LOGS_INDEX_TOC_LEN);
        match LogsIndexToc::parse(tail, bytes.len() as u64) {
            Ok(toc) => LogsBlockIndex::parse_sections(&toc, body),
            // a CRC mismatch explains bad offsets better than the offsets do
            Err(err) if crc_matches(body, tail) => Err(err),
            Err(_) => Err(LogsBlockError::Checksum { file: "index" }),
        }
    }

    /// Decodes an index from its TOC and the bytes of [`LogsIndexToc::body_range`].
    pub fn parse_sections(
        toc: &LogsIndexToc,
        body: &[u8],
    ) -> Result<LogsBlockIndex, LogsBlockError> {
        if body.len() as u64 != toc.toc_offset || &body[..4] != INDEX_MAGIC {
            return Err(LogsBlockError::Corrupt(
                "not a logs block index (bad magic)".into(),
            ));
        }
        if body[4] != INDEX_VERSION {
            return Err(LogsBlockError::UnknownFormatVersion {
                file: "index",
                version: body[4],
            });
        }
        if !crc_matches(body, &toc.raw) {
            return Err(LogsBlockError::Checksum { file: "index" });
        }
        let section = |from: u64, to: u64| &body[from as usize..to as usize];
        let symbols = parse_symbols(section(toc.symbols_offset, toc.streams_offset))?;
        let streams = parse_streams(section(toc.streams_offset, toc.postings_offset), &symbols)?;
        let postings = parse_postings(
            section(toc.postings_offset, toc.toc_offset),
            &symbols,
            streams.len(),
        )?;
        Ok(LogsBlockIndex {
            symbols,
            streams,
            postings,
        })
    }

    pub fn num_streams(&self) -> usize {
        self.streams.len()
    }

    /// The streams matching all matchers (all streams when there are none), in label order.
    /// A matcher that matches "" also selects streams without its label.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<LogsStreamRef> {
        let mut result: Vec<u32> = (0..self.streams.len() as u32).collect();
        for m in matchers {
            let postings = self.postings_of(&m.name);
            let listed = |keep: &dyn Fn(&str) -> bool| -> Vec<u32> {
                let mut ids: Vec<u32> = postings
                    .iter()
                    .filter(|p| keep(&self.symbols[p.value as usize]))
                    .flat_map(|p| p.ids.iter().copied())
                    .collect();
                ids.sort_unstable();
                ids
            };
            if m.matches_empty() {
                let excluded = listed(&|v| !m.matches(v));
                result.retain(|id| excluded.binary_search(id).is_err());
            } else {
                let included = listed(&|v| m.matches(v));
                result.retain(|id| included.binary_search(id).is_ok());
            }
        }
        result.into_iter().map(LogsStreamRef).collect()
    }

    fn postings_of(&self, name: &str) -> &[Postings] {
        let Ok(name_ref) = self.symbols.binary_search_by(|s| s.as_str().cmp(name)) else {
            return &[];
        };
        let name_ref = name_ref as u32;
        let start = self.postings.partition_point(|p| p.name < name_ref);
        let end = self.postings.partition_point(|p| p.name <= name_ref);
        &self.postings[start..end]
    }

    /// The labels and chunks of a stream; `None` for a ref this index does not hold.
    pub fn stream(&self, r: LogsStreamRef) -> Option<(Labels, &[LogsChunkMeta])> {
        let entry = self.streams.get(r.0 as usize)?;
        let sym = |i: u32| self.symbols[i as usize].clone();
        let labels = entry
            .labels
            .iter()
            .map(|&(n, v)| Label {
                name: sym(n),
                value: sym(v),
            })
            .collect();
        Some((Labels::from_sorted(labels), &entry.chunks))
    }

    /// Every label name, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for p in &self.postings {
            let name = &self.symbols[p.name as usize];
            if names.last() != Some(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The values of a label, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings_of(name)
            .iter()
            .map(|p| self.symbols[p.value as usize].clone())
            .collect()
    }
}

/// Whether the CRC at the end of `toc` covers `body` and the TOC fields.
fn crc_matches(body: &[u8], toc: &[u8]) -> bool {
    let Some((fields, crc)) = toc.split_last_chunk::<4>() else {
        return false;
    };
    let mut h = crc32fast::Hasher::new();
    h.update(body);
    h.update(fields);
    h.finalize().to_be_bytes() == *crc
}

fn parse_symbols(bytes: &[u8]) -> Result<Vec<String>, LogsBlockError> {
    let mut d = Decoder::new(bytes, "symbols");
    let n = d.count()?;
    let mut symbols: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        let s = d.str()?;
        if symbols.last().is_some_and(|prev| prev.as_str() >= s) {
            return Err(d.corrupt("symbols not sorted").into());
        }
        symbols.push(s.to_owned());
    }
    finished(&d)?;
    Ok(symbols)
}

fn parse_streams(bytes: &[u8], symbols: &[String]) -> Result<Vec<StreamEntry>, LogsBlockError> {
    let mut d = Decoder::new(bytes, "streams");
    let n = d.count()?;
    let mut streams: Vec<StreamEntry> = Vec::with_capacity(n);
    let mut end = super::writer::CHUNKS_HEADER_LEN;
    for _ in 0..n {
        let n_labels = d.count()?;
        let mut labels = Vec::with_capacity(n_labels);
        for _ in 0..n_labels {
            let (name, value) = (symbol(&mut d, symbols)?, symbol(&mut d, symbols)?);
            if labels.last().is_some_and(|&(prev, _)| prev >= name) {
                return Err(d.corrupt("labels not sorted by name").into());
            }
            labels.push((name, value));
        }
        let n_chunks = d.count()?;
        let mut chunks = Vec::with_capacity(n_chunks);
        for _ in 0..n_chunks {
            let chunk = parse_chunk_meta(&mut d, end)?;
            end = chunk.offset + chunk.len;
            chunks.push(chunk);
        }
        let entry = StreamEntry { labels, chunks };
        // symbol refs sort like their strings, so label sets compare by refs
        if streams
            .last()
            .is_some_and(|prev| prev.labels >= entry.labels)
        {
            return Err(d.corrupt("streams not sorted by labels").into());
        }
        streams.push(entry);
    }
    finished(&d)?;
    Ok(streams)
}

fn parse_chunk_meta(d: &mut Decoder<'_>, end: u64) -> Result<LogsChunkMeta, LogsBlockError> {
    let offset = end.checked_add(d.uvarint()?);
    let len = d.uvarint()?;
    let min_time_ns = d.varint()?;
    let span = d.uvarint()?;
    let max_time_ns = i64::try_from(span)
        .ok()
        .and_then(|s| min_time_ns.checked_add(s));
    let entries = d.u32()?;
    let bytes = d.uvarint()?;
    match (offset, max_time_ns) {
        (Some(offset), Some(max_time_ns)) if offset.checked_add(len).is_some() => {
            Ok(LogsChunkMeta {
                offset,
                len,
                min_time_ns,
                max_time_ns,
                entries,
                bytes,
            })
        }
        _ => Err(d.corrupt("chunk offset or time range overflows").into()),
    }
}

fn parse_postings(
    bytes: &[u8],
    symbols: &[String],
    streams: usize,
) -> Result<Vec<Postings>, LogsBlockError> {
    let mut d = Decoder::new(bytes, "postings");
    let n = d.count()?;
    let mut out: Vec<Postings> = Vec::with_capacity(n);
    for _ in 0..n {
        let (name, value) = (symbol(&mut d, symbols)?, symbol(&mut d, symbols)?);
        if out
            .last()
            .is_some_and(|p| (p.name, p.value) >= (name, value))
        {
            return Err(d.corrupt("postings not sorted").into());
        }
        let count = d.count()?;
        let mut ids = Vec::with_capacity(count);
        let mut id = 0u64;
        for i in 0..count {
            let delta = d.uvarint()?;
            if i > 0 && delta == 0 {
                return Err(d.corrupt("duplicate stream in postings").into());
            }
            id = id.saturating_add(delta);
            if id >= streams as u64 {
                return Err(d.corrupt("stream ref out of range").into());
            }
            ids.push(id as u32);
        }
        out.push(Postings { name, value, ids });
    }
    finished(&d)?;
    Ok(out)
}

fn symbol(d: &mut Decoder<'_>, symbols: &[String]) -> Result<u32, LogsBlockError> {
    let r = d.u32()?;
    if r as usize >= symbols.len() {
        return Err(d.corrupt("symbol ref out of range").into());
    }
    Ok(r)
}

fn finished(d: &Decoder<'_>) -> Result<(), LogsBlockError> {
    if d.is_empty() {
        Ok(())
    } else {
        Err(d.corrupt("trailing bytes").into())
    }
}
