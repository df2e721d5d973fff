//! Parsing the index file and answering label queries from its postings.

use sextant_model::{Label, Labels, Matcher};

use super::encoding::Decoder;
use super::{BlockError, ChunkMeta, SeriesRef};
use crate::sorted_ids::{intersect, subtract, union};

pub(super) const INDEX_MAGIC: &[u8; 4] = b"SXIX";
pub(super) const INDEX_VERSION: u8 = 1;
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Postings {
    name: u32,
    value: u32,
    ids: Vec<u32>,
}

impl BlockIndex {
    /// Checks magic, version and CRC, then decodes and validates every section.
    pub fn parse(bytes: &[u8]) -> Result<BlockIndex, BlockError> {
        if bytes.len() < HEADER_LEN + INDEX_TOC_LEN || &bytes[..4] != INDEX_MAGIC {
            return Err(BlockError::Corrupt("not a block index (bad magic)".into()));
        }
        if bytes[4] != INDEX_VERSION {
            return Err(BlockError::UnknownFormatVersion {
                file: "index",
                version: bytes[4],
            });
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_be_bytes() != crc {
            return Err(BlockError::Checksum { file: "index" });
        }
        let toc_start = body.len() - (INDEX_TOC_LEN - 4);
        let mut toc = Decoder::new(&body[toc_start..], "toc");
        let (sym, ser, post) = (toc.be_u64()?, toc.be_u64()?, toc.be_u64()?);
        let base_time = toc.be_u64()? as i64;
        let ordered = HEADER_LEN as u64 <= sym && sym <= ser && ser <= post;
        if !ordered || post > toc_start as u64 {
            return Err(BlockError::Corrupt("toc offsets out of order".into()));
        }
        let section = |from: u64, to: u64| &body[from as usize..to as usize];
        let symbols = parse_symbols(section(sym, ser))?;
        let series = parse_series(section(ser, post), symbols.len(), base_time)?;
        let postings = parse_postings(section(post, toc_start as u64), &symbols, series.len())?;
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

fn parse_series(
    bytes: &[u8],
    symbols: usize,
    base_time: i64,
) -> Result<Vec<SeriesEntry>, BlockError> {
    let mut d = Decoder::new(bytes, "series");
    let n = d.count()?;
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = parse_labels(&mut d, symbols)?;
        let chunks = parse_chunk_metas(&mut d, base_time)?;
        series.push(SeriesEntry { labels, chunks });
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

fn parse_chunk_metas(d: &mut Decoder<'_>, base_time: i64) -> Result<Vec<ChunkMeta>, BlockError> {
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
        chunks.push(ChunkMeta {
            min_time,
            max_time,
            num_samples,
            offset,
            len,
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
