//! The `search` file: per trace and per span the fields a search filters on, so a query
//! reads `data` only for traces that may match ([`TracesSearchColumns::candidates`]), and
//! answers tag names and values without `data`.
//!
//! `build` encodes it while the writer adds traces; `tags` lists tag names and values.

mod build;
pub(super) mod tags;

use crate::model::TraceId;

use super::codec::{decompress, open, unzigzag, Reader};
use super::prefilter::TracesPrefilter;
use super::TracesBlockError;

pub(super) use build::SearchBuilder;

pub(super) const SEARCH_MAGIC: &[u8; 4] = b"SXTS";
const FILE: &str = "search";
/// Scopes whose attribute names the file lists.
const SCOPES: usize = crate::tags::TraceTagScope::ALL.len();
/// "No string": a root span or service name that is absent.
pub(super) const NONE: u32 = u32::MAX;

/// An attribute value as the columns keep it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ColValue {
    /// A ref into the string dictionary.
    Str(u32),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Arrays, maps, bytes and empty values: present, value not kept.
    Other,
}

/// A distinct attribute (key and value) of the block; spans and resources refer to them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Attr {
    /// A ref into the key dictionary.
    pub key: u32,
    pub value: ColValue,
}

/// A resource of one trace.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ResourceRow {
    /// `service.name` (string ref) or [`NONE`].
    pub service: u32,
    pub attrs: (u32, u32),
}

/// A span: its resource, name, kind, status, times and attributes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SpanRow {
    /// Position in [`TracesSearchColumns::resources`].
    pub resource: u32,
    pub name: u32,
    /// OTLP kind (0..=5) and status code (0..=2).
    pub kind: u8,
    pub status: u8,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub attrs: (u32, u32),
}

/// A trace: its ID, times, root names, page and spans (a range of `spans`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TraceRow {
    pub id: TraceId,
    /// Earliest span start and latest span end (0 for a trace without spans).
    pub start_ns: u64,
    pub end_ns: u64,
    pub root_service: u32,
    pub root_name: u32,
    pub page: u32,
    pub spans: (u32, u32),
}

/// The parsed `search` file of a block; every reference in it is checked, so later lookups
/// cannot fail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracesSearchColumns {
    pub(super) keys: Vec<String>,
    pub(super) strings: Vec<String>,
    /// Per scope (in [`crate::tags::TraceTagScope::ALL`] order), the key refs used.
    pub(super) scope_keys: Vec<Vec<u32>>,
    pub(super) traces: Vec<TraceRow>,
    pub(super) resources: Vec<ResourceRow>,
    pub(super) spans: Vec<SpanRow>,
    /// Distinct attributes.
    pub(super) pairs: Vec<Attr>,
    /// The attributes of resources and spans, as refs into `pairs`.
    pub(super) attr_refs: Vec<u32>,
}

/// What a search asks of a block's traces. Times are Unix ns; zero bounds are unbounded.
#[derive(Debug, Clone, Default)]
pub struct TracesBlockFilter {
    /// Traces overlapping `[start_ns, end_ns)`.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Trace duration bounds (inclusive).
    pub min_duration_ns: u64,
    pub max_duration_ns: u64,
    pub prefilter: TracesPrefilter,
}

/// A trace that may match a search: fetch its page, decode it and evaluate the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracesCandidate {
    pub id: TraceId,
    /// The page number ([`super::TracesBlockIndex::page`]).
    pub page: u32,
    pub start_ns: u64,
    pub end_ns: u64,
}

impl TracesSearchColumns {
    /// Checks magic, version and CRC, decompresses and validates every reference.
    pub fn parse(bytes: &[u8]) -> Result<TracesSearchColumns, TracesBlockError> {
        let body = decompress(open(bytes, SEARCH_MAGIC, FILE)?, FILE)?;
        let mut r = Reader::new(&body, FILE);
        let mut columns = TracesSearchColumns {
            keys: strings(&mut r)?,
            strings: strings(&mut r)?,
            ..TracesSearchColumns::default()
        };
        for _ in 0..SCOPES {
            let keys = (0..r.count()?)
                .map(|_| columns.key_ref(&mut r))
                .collect::<Result<_, _>>()?;
            columns.scope_keys.push(keys);
        }
        for _ in 0..r.count()? {
            let pair = columns.parse_pair(&mut r)?;
            columns.pairs.push(pair);
        }
        let count = r.count()?;
        for _ in 0..count {
            columns.parse_trace(&mut r)?;
        }
        r.finish()?;
        Ok(columns)
    }

    fn parse_trace(&mut self, r: &mut Reader<'_>) -> Result<(), TracesBlockError> {
        let id = r.trace_id()?;
        if self.traces.last().is_some_and(|t| t.id >= id) {
            return Err(r.corrupt("trace IDs out of order"));
        }
        let start_ns = r.varint()?;
        let end_ns = checked_add(r, start_ns)?;
        let root_service = self.optional_string(r)?;
        let root_name = self.optional_string(r)?;
        let page = r.u32()?;
        let first_resource = self.resources.len();
        for _ in 0..r.count()? {
            let service = self.optional_string(r)?;
            let attrs = self.parse_attrs(r)?;
            self.resources.push(ResourceRow { service, attrs });
        }
        let resources = self.resources.len() - first_resource;
        let first_span = self.spans.len() as u32;
        for _ in 0..r.count()? {
            let span = self.parse_span(r, start_ns, first_resource, resources)?;
            self.spans.push(span);
        }
        let spans = (first_span, self.spans.len() as u32);
        self.traces.push(TraceRow {
            id,
            start_ns,
            end_ns,
            root_service,
            root_name,
            page,
            spans,
        });
        Ok(())
    }

    fn parse_span(
        &mut self,
        r: &mut Reader<'_>,
        trace_start: u64,
        first_resource: usize,
        resources: usize,
    ) -> Result<SpanRow, TracesBlockError> {
        let resource = r.varint()?;
        if resource >= resources as u64 {
            return Err(r.corrupt("span resource out of range"));
        }
        let name = self.string_ref(r)?;
        let kind_status = r.u8()?;
        let (kind, status) = (kind_status / 4, kind_status % 4);
        if kind > 5 || status > 2 {
            return Err(r.corrupt(format!("kind and status byte {kind_status}")));
        }
        let start_ns = checked_add(r, trace_start)?;
        let duration_ns = r.varint()?;
        let attrs = self.parse_attrs(r)?;
        Ok(SpanRow {
            resource: (first_resource as u64 + resource) as u32,
            name,
            kind,
            status,
            start_ns,
            duration_ns,
            attrs,
        })
    }

    fn parse_pair(&self, r: &mut Reader<'_>) -> Result<Attr, TracesBlockError> {
        let key = self.key_ref(r)?;
        let value = match r.u8()? {
            0 => ColValue::Str(self.string_ref(r)?),
            1 => ColValue::Int(unzigzag(r.varint()?)),
            2 => ColValue::Float(r.f64()?),
            3 => ColValue::Bool(r.u8()? != 0),
            4 => ColValue::Other,
            t => return Err(r.corrupt(format!("attribute type {t}"))),
        };
        Ok(Attr { key, value })
    }

    fn parse_attrs(&mut self, r: &mut Reader<'_>) -> Result<(u32, u32), TracesBlockError> {
        let start = self.attr_refs.len() as u32;
        for _ in 0..r.count()? {
            let pair = r.u32()?;
            if pair as usize >= self.pairs.len() {
                return Err(r.corrupt(format!("attribute ref {pair} out of range")));
            }
            self.attr_refs.push(pair);
        }
        let end =
            u32::try_from(self.attr_refs.len()).map_err(|_| r.corrupt("too many attributes"))?;
        Ok((start, end))
    }

    fn key_ref(&self, r: &mut Reader<'_>) -> Result<u32, TracesBlockError> {
        let key = r.u32()?;
        if key as usize >= self.keys.len() {
            return Err(r.corrupt(format!("key ref {key} out of range")));
        }
        Ok(key)
    }

    fn string_ref(&self, r: &mut Reader<'_>) -> Result<u32, TracesBlockError> {
        let s = r.u32()?;
        if s as usize >= self.strings.len() {
            return Err(r.corrupt(format!("string ref {s} out of range")));
        }
        Ok(s)
    }

    /// A string ref stored + 1, 0 meaning [`NONE`].
    fn optional_string(&self, r: &mut Reader<'_>) -> Result<u32, TracesBlockError> {
        match r.u32()? {
            0 => Ok(NONE),
            s if (s - 1) as usize >= self.strings.len() => {
                Err(r.corrupt(format!("string ref {s} out of range")))
            }
            s => Ok(s - 1),
        }
    }

    /// How many traces the block holds.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// The traces that may match `filter`, in ID order (so in page order): those overlapping
    /// its time range, within its duration bounds and passing its prefilter. CPU work: about
    /// 10-20 ns per span for a selective query.
    pub fn candidates(&self, filter: &TracesBlockFilter) -> Vec<TracesCandidate> {
        let bound = filter.prefilter.bind(self);
        (0..self.traces.len())
            .filter(|&t| self.in_bounds(&self.traces[t], filter) && bound.matches(self, t))
            .map(|t| {
                let row = &self.traces[t];
                TracesCandidate {
                    id: row.id,
                    page: row.page,
                    start_ns: row.start_ns,
                    end_ns: row.end_ns,
                }
            })
            .collect()
    }

    fn in_bounds(&self, t: &TraceRow, f: &TracesBlockFilter) -> bool {
        let (start, end) = (i128::from(t.start_ns), i128::from(t.end_ns));
        let duration = t.end_ns - t.start_ns;
        (f.end_ns <= 0 || start < i128::from(f.end_ns))
            && (f.start_ns <= 0 || end >= i128::from(f.start_ns))
            && duration >= f.min_duration_ns
            && (f.max_duration_ns == 0 || duration <= f.max_duration_ns)
    }

    /// The spans of trace `t` (a position in `traces`).
    pub(super) fn spans_of(&self, t: usize) -> &[SpanRow] {
        let (start, end) = self.traces[t].spans;
        &self.spans[start as usize..end as usize]
    }

    /// The attribute refs (into `pairs`) of a resource or span.
    pub(super) fn attrs_of(&self, range: (u32, u32)) -> &[u32] {
        &self.attr_refs[range.0 as usize..range.1 as usize]
    }
}

fn strings(r: &mut Reader<'_>) -> Result<Vec<String>, TracesBlockError> {
    let count = r.count()?;
    (0..count).map(|_| r.string()).collect()
}

fn checked_add(r: &mut Reader<'_>, base: u64) -> Result<u64, TracesBlockError> {
    let delta = r.varint()?;
    base.checked_add(delta)
        .ok_or_else(|| r.corrupt("time overflows"))
}
