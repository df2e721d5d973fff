//! Parsing the index file and answering label queries from its postings.

use sextant_model::{Label, Labels, Matcher};

use super::encoding::Decoder;
use super::{BlockError, ChunkMeta, SeriesRef};
use crate::chunk::ChunkEncoding;
use crate::sorted_ids::{intersect, subtract, union};

pub(super) const INDEX_MAGIC: &[u8; 4] = b"SXIX";
pub(super) const INDEX_VERSION: u8 = 3;
/// Version 2 has no chunk encodings: float chunks are XOR.
const INDEX_VERSION_V2: u8 = 2;
/// Version 1 has no histogram chunks either.
const INDEX_VERSION_V1: u8 = 1;
const HEADER_LEN: usize = 5;
/// Length of the table of contents at the end of the index, CRC included.
pub const INDEX_TOC_LEN: usize = 4 * 8 + 4;

/// A parsed, fully validated index: later lookups cannot fail on corrupt bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockIndex {
    symbols: Vec<String>,
    series: Vec<SeriesEntry>,
    /// Sorted by (name, value) symbol refs, i.e. by name and value strings.
    postings: Vec<Postings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SeriesEntry {
    labels: Vec<(u32, u32)>,
    chunks: Vec<ChunkMeta>,
    histograms: Vec<ChunkMeta>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Postings {
    name: u32,
    value: u32,
    ids: Vec<u32>,
}

/// The table of contents at the end of an index: where its sections start. The CRC in it
/// covers the whole file, so it is checked by [`BlockIndex::parse_sections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexToc {
    pub symbols_offset: u64,
    pub series_offset: u64,
    pub postings_offset: u64,
    /// Chunk times in the series section are relative to this.
    pub base_time: i64,
    /// Where the TOC starts: the length of everything before it.
    pub toc_offset: u64,
    raw: [u8; INDEX_TOC_LEN],
}

impl IndexToc {
    /// Parses the last [`INDEX_TOC_LEN`] bytes of an index that is `index_len` bytes long.
    pub fn parse(tail: &[u8], index_len: u64) -> Result<IndexToc, BlockError> {
        let raw: [u8; INDEX_TOC_LEN] = tail
            .try_into()
            .map_err(|_| BlockError::Corrupt(format!("toc must be {INDEX_TOC_LEN} bytes")))?;
        let toc_offset = index_len
            .checked_sub(INDEX_TOC_LEN as u64)
            .filter(|o| *o >= HEADER_LEN as u64)
            .ok_or_else(|| BlockError::Corrupt("index shorter than header and toc".into()))?;
        let mut d = Decoder::new(&raw, "toc");
        let (sym, ser, post) = (d.be_u64()?, d.be_u64()?, d.be_u64()?);
        let base_time = d.be_u64()? as i64;
        let ordered = HEADER_LEN as u64 <= sym && sym <= ser && ser <= post;
        if !ordered || post > toc_offset {
            return Err(BlockError::Corrupt("toc offsets out of order".into()));
        }
        Ok(IndexToc {
            symbols_offset: sym,
            series_offset: ser,
            postings_offset: post,
            base_time,
            toc_offset,
            raw,
        })
    }

    /// The bytes of the index before the TOC (header and sections): fetch these next.
    pub fn body_range(&self) -> std::ops::Range<u64> {
        0..self.toc_offset
    }
}

impl BlockIndex {
    /// Checks magic, version and CRC, then decodes and validates every section.
    pub fn parse(bytes: &[u8]) -> Result<BlockIndex, BlockError> {
        if bytes.len() < HEADER_LEN + INDEX_TOC_LEN || &bytes[..4] != INDEX_MAGIC {
            return Err(BlockError::Corrupt("not a block index (bad magic)".into()));
        }
        check_version(bytes[4])?;
        let (body, tail) = bytes.split_at(bytes.len() - INDEX_TOC_LEN);
        let toc = IndexToc::parse(tail, bytes.len() as u64);
        // a CRC mismatch explains bad offsets better than the offsets do
        match toc {
            Ok(toc) => BlockIndex::parse_sections(&toc, body),
            Err(err) if crc_matches(body, tail) => Err(err),
            Err(_) => Err(BlockError::Checksum { file: "index" }),
        }
    }

    /// Decodes an index from its TOC and the bytes of [`IndexToc::body_range`], checking the
    /// magic, version and the CRC over both.
    pub fn parse_sections(toc: &IndexToc, body: &[u8]) -> Result<BlockIndex, BlockError> {
        if body.len() as u64 != toc.toc_offset || &body[..4] != INDEX_MAGIC {
            return Err(BlockError::Corrupt("not a block index (bad magic)".into()));
        }
        let version = check_version(body[4])?;
        if !crc_matches(body, &toc.raw) {
            return Err(BlockError::Checksum { file: "index" });
        }
        let section = |from: u64, to: u64| &body[from as usize..to as usize];
        let symbols = parse_symbols(section(toc.symbols_offset, toc.series_offset))?;
        let series = parse_series(
            section(toc.series_offset, toc.postings_offset),
            symbols.len(),
            toc.base_time,
            version,
        )?;
        let postings = parse_postings(
            section(toc.postings_offset, toc.toc_offset),
            &symbols,
            series.len(),
        )?;
        Ok(BlockIndex {
            symbols,
            series,
            postings,
        })
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// The series matching all matchers (all series when there are none), in label order.
    /// A matcher that matches "" also selects series without its label.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut result: Option<Vec<u32>> = None;
        for m in matchers {
            let ids = self.matching(m);
            result = Some(match result {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
        }
        let ids = result.unwrap_or_else(|| (0..self.series.len() as u32).collect());
        ids.into_iter().map(SeriesRef).collect()
    }

    fn matching(&self, m: &Matcher) -> Vec<u32> {
        let entries = self.postings_of(&m.name);
        if m.matches_empty() {
            let excluded = union(
                entries
                    .iter()
                    .filter(|p| !m.matches(&self.symbols[p.value as usize]))
                    .map(|p| p.ids.as_slice()),
            );
            subtract(0..self.series.len() as u32, &excluded)
        } else {
            union(
                entries
                    .iter()
                    .filter(|p| m.matches(&self.symbols[p.value as usize]))
                    .map(|p| p.ids.as_slice()),
            )
        }
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

    /// The labels and chunks of a series; `None` for a ref this index does not hold.
    pub fn series(&self, r: SeriesRef) -> Option<(Labels, Vec<ChunkMeta>)> {
        let entry = self.series.get(r.0 as usize)?;
        let sym = |i: u32| self.symbols[i as usize].clone();
        let labels = entry
            .labels
            .iter()
            .map(|&(n, v)| Label {
                name: sym(n),
                value: sym(v),
            })
            .collect();
        Some((Labels::from_sorted(labels), entry.chunks.clone()))
    }

    /// The native histogram chunks of a series (none in a version 1 index); `None` for a ref
    /// this index does not hold.
    pub fn histogram_chunks(&self, r: SeriesRef) -> Option<Vec<ChunkMeta>> {
        Some(self.series.get(r.0 as usize)?.histograms.clone())
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

fn parse_symbols(bytes: &[u8]) -> Result<Vec<String>, BlockError> {
    let mut d = Decoder::new(bytes, "symbols");
    let n = d.count()?;
    let mut symbols: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        let len = d.count()?;
        let s = std::str::from_utf8(d.bytes(len)?).map_err(|_| d.corrupt("symbol not utf-8"))?;
        if symbols.last().is_some_and(|prev| prev.as_str() >= s) {
            return Err(d.corrupt("symbols not sorted"));
        }
        symbols.push(s.to_owned());
    }
    finished(&d)?;
    Ok(symbols)
}

fn check_version(version: u8) -> Result<u8, BlockError> {
    match version {
        INDEX_VERSION | INDEX_VERSION_V2 | INDEX_VERSION_V1 => Ok(version),
        _ => Err(BlockError::UnknownFormatVersion {
            file: "index",
            version,
        }),
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

fn parse_series(
    bytes: &[u8],
    symbols: usize,
    base_time: i64,
    version: u8,
) -> Result<Vec<SeriesEntry>, BlockError> {
    let mut d = Decoder::new(bytes, "series");
    let n = d.count()?;
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = parse_labels(&mut d, symbols)?;
        let chunks = parse_chunk_metas(&mut d, base_time, version, ChunkKind::Float)?;
        let histograms = match version {
            INDEX_VERSION_V1 => Vec::new(),
            _ => parse_chunk_metas(&mut d, base_time, version, ChunkKind::Histogram)?,
        };
        series.push(SeriesEntry {
            labels,
            chunks,
            histograms,
        });
    }
    finished(&d)?;
    Ok(series)
}

fn parse_labels(d: &mut Decoder<'_>, symbols: usize) -> Result<Vec<(u32, u32)>, BlockError> {
    let n = d.count()?;
    if n == 0 {
        return Err(d.corrupt("series without labels"));
    }
    let mut labels: Vec<(u32, u32)> = Vec::with_capacity(n);
    for _ in 0..n {
        let (name, value) = (d.u32()?, d.u32()?);
        if name as usize >= symbols || value as usize >= symbols {
            return Err(d.corrupt("symbol ref out of range"));
        }
        // symbol refs sort like the strings: names must be strictly increasing
        if labels.last().is_some_and(|&(prev, _)| prev >= name) {
            return Err(d.corrupt("label names not sorted"));
        }
        labels.push((name, value));
    }
    Ok(labels)
}

/// Which list of a series a chunk is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkKind {
    Float,
    Histogram,
}

impl ChunkKind {
    /// The only encoding before index version 3.
    fn implied_encoding(self) -> ChunkEncoding {
        match self {
            ChunkKind::Float => ChunkEncoding::Xor,
            ChunkKind::Histogram => ChunkEncoding::Histogram,
        }
    }

    fn allows(self, encoding: ChunkEncoding) -> bool {
        (encoding == ChunkEncoding::Histogram) == (self == ChunkKind::Histogram)
    }
}

fn parse_encoding(
    d: &mut Decoder<'_>,
    version: u8,
    kind: ChunkKind,
) -> Result<ChunkEncoding, BlockError> {
    if version < INDEX_VERSION {
        return Ok(kind.implied_encoding());
    }
    u8::try_from(d.uvarint()?)
        .ok()
        .and_then(ChunkEncoding::from_byte)
        .filter(|&e| kind.allows(e))
        .ok_or_else(|| d.corrupt("unknown chunk encoding"))
}

fn parse_chunk_metas(
    d: &mut Decoder<'_>,
    base_time: i64,
    version: u8,
    kind: ChunkKind,
) -> Result<Vec<ChunkMeta>, BlockError> {
    let n = d.count()?;
    let mut chunks = Vec::with_capacity(n);
    if n == 0 {
        return Ok(chunks);
    }
    let mut offset = d.uvarint()?;
    let mut prev_time = base_time;
    for _ in 0..n {
        let min_time = prev_time.wrapping_add(d.varint()?);
        let max_time = min_time.wrapping_add(d.uvarint()? as i64);
        let num_samples = d.u32()?;
        let len = d.uvarint()?;
        let encoding = parse_encoding(d, version, kind)?;
        chunks.push(ChunkMeta {
            min_time,
            max_time,
            num_samples,
            offset,
            len,
            encoding,
        });
        offset = offset
            .checked_add(len)
            .ok_or_else(|| d.corrupt("chunk offset overflows"))?;
        prev_time = max_time;
    }
    Ok(chunks)
}

fn parse_postings(
    bytes: &[u8],
    symbols: &[String],
    series: usize,
) -> Result<Vec<Postings>, BlockError> {
    let mut d = Decoder::new(bytes, "postings");
    let n = d.count()?;
    let mut postings: Vec<Postings> = Vec::with_capacity(n);
    for _ in 0..n {
        let (name, value) = (d.u32()?, d.u32()?);
        if name as usize >= symbols.len() || value as usize >= symbols.len() {
            return Err(d.corrupt("symbol ref out of range"));
        }
        if postings
            .last()
            .is_some_and(|p| (p.name, p.value) >= (name, value))
        {
            return Err(d.corrupt("postings not sorted"));
        }
        let ids = parse_ids(&mut d, series)?;
        postings.push(Postings { name, value, ids });
    }
    finished(&d)?;
    Ok(postings)
}

fn parse_ids(d: &mut Decoder<'_>, series: usize) -> Result<Vec<u32>, BlockError> {
    let n = d.count()?;
    let mut ids = Vec::with_capacity(n);
    let mut prev: u64 = 0;
    for i in 0..n {
        let delta = d.uvarint()?;
        if i > 0 && delta == 0 {
            return Err(d.corrupt("postings not strictly increasing"));
        }
        let id = prev.saturating_add(delta);
        if id >= series as u64 {
            return Err(d.corrupt("postings refer to a missing series"));
        }
        ids.push(id as u32);
        prev = id;
    }
    Ok(ids)
}

fn finished(d: &Decoder<'_>) -> Result<(), BlockError> {
    if d.is_empty() {
        Ok(())
    } else {
        Err(d.corrupt("trailing bytes"))
    }
}
