//! The traces held in memory: live, completed and cut, with byte and WAL segment
//! bookkeeping. Pure data structure; the callers hold it under the state mutex.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use prost::Message;
use sextant_proto::otlp::trace::v1::TracesData;

use crate::model::{Trace, TraceId};
use crate::search::{decode_trace, merge_traces};

/// What decoding one fragment taught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FragmentMeta {
    pub spans: u64,
    /// Earliest span start, ns.
    pub start_ns: i64,
    /// Latest span end, ns.
    pub end_ns: i64,
}

/// Decodes a fragment of trace `id` for its metadata; refuses bytes that are not a
/// `TracesData`, hold no span, or hold a span of another trace.
pub(super) fn fragment_meta(id: &TraceId, data: &[u8]) -> Result<FragmentMeta, String> {
    let decoded = TracesData::decode(data)
        .map_err(|e| format!("invalid trace {id}: not an encoded OTLP TracesData: {e}"))?;
    let mut meta = FragmentMeta {
        spans: 0,
        start_ns: i64::MAX,
        end_ns: i64::MIN,
    };
    let spans = decoded
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans);
    for span in spans {
        if span.trace_id != id.as_bytes() {
            return Err(format!("invalid trace {id}: holds a span of another trace"));
        }
        meta.spans += 1;
        meta.start_ns = meta.start_ns.min(ns(span.start_time_unix_nano));
        meta.end_ns = meta.end_ns.max(ns(span.end_time_unix_nano));
    }
    if meta.spans == 0 {
        return Err(format!("invalid trace {id}: holds no spans"));
    }
    Ok(meta)
}

fn ns(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// The fragments of one trace held in one place, and their totals.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Held {
    pub fragments: Vec<Bytes>,
    pub spans: u64,
    pub bytes: u64,
    pub start_ns: i64,
    pub end_ns: i64,
    /// The oldest WAL segment holding one of the fragments.
    pub first_segment: u32,
}

impl Held {
    fn new(first_segment: u32) -> Held {
        Held {
            fragments: Vec::new(),
            spans: 0,
            bytes: 0,
            start_ns: i64::MAX,
            end_ns: i64::MIN,
            first_segment,
        }
    }

    fn add(&mut self, data: Bytes, meta: FragmentMeta) {
        self.bytes += data.len() as u64;
        self.fragments.push(data);
        self.spans += meta.spans;
        self.start_ns = self.start_ns.min(meta.start_ns);
        self.end_ns = self.end_ns.max(meta.end_ns);
    }

    /// Adds `later`'s fragments after this one's.
    pub fn absorb(&mut self, later: Held) {
        self.fragments.extend(later.fragments);
        self.spans += later.spans;
        self.bytes += later.bytes;
        self.start_ns = self.start_ns.min(later.start_ns);
        self.end_ns = self.end_ns.max(later.end_ns);
        self.first_segment = self.first_segment.min(later.first_segment);
    }

    /// Whether the trace overlaps `[start_ns, end_ns)` (zero bounds are open).
    pub fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        (start_ns == 0 || self.end_ns >= start_ns) && (end_ns == 0 || self.start_ns < end_ns)
    }

    /// The span time covered, ns (0 without spans).
    pub fn duration_ns(&self) -> u64 {
        u64::try_from(self.end_ns.saturating_sub(self.start_ns)).unwrap_or(0)
    }

    /// The fragments decoded and merged, each span once; undecodable fragments (validated at
    /// append, so never expected) are skipped with a warning.
    pub fn decode(&self, id: TraceId) -> Trace {
        let parts: Vec<Trace> = self
            .fragments
            .iter()
            .filter_map(|f| match decode_trace(id, f) {
                Ok(t) => Some(t),
                Err(error) => {
                    tracing::warn!(trace_id = %id, %error, "skipping undecodable trace fragment");
                    None
                }
            })
            .collect();
        Trace {
            id,
            ..merge_traces(parts)
        }
    }
}

/// A live trace.
#[derive(Debug)]
struct Live {
    held: Held,
    created_ms: i64,
    last_append_ms: i64,
}

/// Everything held in memory.
#[derive(Debug, Default)]
pub(super) struct State {
    live: HashMap<TraceId, Live>,
    completed: HashMap<TraceId, Held>,
    /// When the oldest completed trace was completed.
    oldest_completed_ms: Option<i64>,
    completed_bytes: u64,
    /// Handed to the block writer, kept until released.
    cuts: BTreeMap<u64, HashMap<TraceId, Held>>,
    next_seq: u64,
    bytes: u64,
    spans: u64,
}

impl State {
    pub fn live_traces(&self) -> usize {
        self.live.len()
    }

    pub fn completed_traces(&self) -> usize {
        self.completed.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn spans(&self) -> u64 {
        self.spans
    }

    pub fn is_live(&self, id: &TraceId) -> bool {
        self.live.contains_key(id)
    }

    /// Bytes of a trace not yet handed to a block (live and completed): the size
    /// `max_bytes_per_trace` applies to.
    pub fn unshipped_bytes(&self, id: &TraceId) -> u64 {
        self.live.get(id).map_or(0, |l| l.held.bytes)
            + self.completed.get(id).map_or(0, |h| h.bytes)
    }

    /// Adds a fragment written to WAL `segment` to its live trace.
    pub fn append(
        &mut self,
        id: TraceId,
        data: Bytes,
        meta: FragmentMeta,
        segment: u32,
        now_ms: i64,
    ) {
        self.bytes += data.len() as u64;
        self.spans += meta.spans;
        let live = self.live.entry(id).or_insert_with(|| Live {
            held: Held::new(segment),
            created_ms: now_ms,
            last_append_ms: now_ms,
        });
        live.held.add(data, meta);
        live.last_append_ms = live.last_append_ms.max(now_ms);
    }

    /// Completes the live traces idle for `idle_ms` or live for `max_live_ms`.
    pub fn complete_idle(&mut self, now_ms: i64, idle_ms: i64, max_live_ms: i64) -> usize {
        let due: Vec<TraceId> = self
            .live
            .iter()
            .filter(|(_, l)| {
                now_ms.saturating_sub(l.last_append_ms) >= idle_ms
                    || now_ms.saturating_sub(l.created_ms) >= max_live_ms
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            let Some(live) = self.live.remove(id) else {
                continue;
            };
            self.completed_bytes += live.held.bytes;
            match self.completed.get_mut(id) {
                Some(held) => held.absorb(live.held),
                None => {
                    self.completed.insert(*id, live.held);
                }
            }
        }
        if !due.is_empty() {
            let oldest = self.oldest_completed_ms.map_or(now_ms, |o| o.min(now_ms));
            self.oldest_completed_ms = Some(oldest);
        }
        due.len()
    }

    /// When the oldest completed trace was completed, and the completed bytes.
    pub fn completed_age(&self) -> (Option<i64>, u64) {
        (self.oldest_completed_ms, self.completed_bytes)
    }

    /// Moves every completed trace to a new cut; returns its number and a copy of it.
    pub fn cut(&mut self) -> (u64, Vec<(TraceId, Held)>) {
        let completed = std::mem::take(&mut self.completed);
        self.oldest_completed_ms = None;
        self.completed_bytes = 0;
        self.next_seq += 1;
        let seq = self.next_seq;
        let copy = completed.iter().map(|(id, h)| (*id, h.clone())).collect();
        self.cuts.insert(seq, completed);
        (seq, copy)
    }

    /// Drops cut `seq`: (traces, spans, bytes) dropped.
    pub fn release(&mut self, seq: u64) -> (u64, u64, u64) {
        let Some(cut) = self.cuts.remove(&seq) else {
            return (0, 0, 0);
        };
        let spans: u64 = cut.values().map(|h| h.spans).sum();
        let bytes: u64 = cut.values().map(|h| h.bytes).sum();
        self.spans = self.spans.saturating_sub(spans);
        self.bytes = self.bytes.saturating_sub(bytes);
        (cut.len() as u64, spans, bytes)
    }

    /// The oldest WAL segment something in memory came from.
    pub fn oldest_segment(&self) -> Option<u32> {
        let live = self.live.values().map(|l| l.held.first_segment);
        let completed = self.completed.values().map(|h| h.first_segment);
        let cut = self
            .cuts
            .values()
            .flat_map(|c| c.values())
            .map(|h| h.first_segment);
        live.chain(completed).chain(cut).min()
    }

    /// Every fragment of `id`, oldest place first (cuts, completed, live).
    pub fn find(&self, id: &TraceId) -> Option<Held> {
        let places = self
            .cuts
            .values()
            .filter_map(|c| c.get(id))
            .chain(self.completed.get(id))
            .chain(self.live.get(id).map(|l| &l.held));
        let mut out: Option<Held> = None;
        for held in places {
            match &mut out {
                Some(o) => o.absorb(held.clone()),
                None => out = Some(held.clone()),
            }
        }
        out
    }

    /// Every trace overlapping `[start_ns, end_ns)`, its places merged.
    pub fn snapshot(&self, start_ns: i64, end_ns: i64) -> Vec<(TraceId, Held)> {
        let mut all: HashMap<TraceId, Held> = HashMap::new();
        let places = self
            .cuts
            .values()
            .flat_map(|c| c.iter())
            .chain(self.completed.iter())
            .chain(self.live.iter().map(|(id, l)| (id, &l.held)));
        for (id, held) in places {
            match all.get_mut(id) {
                Some(o) => o.absorb(held.clone()),
                None => {
                    all.insert(*id, held.clone());
                }
            }
        }
        all.into_iter()
            .filter(|(_, h)| h.overlaps(start_ns, end_ns))
            .collect()
    }
}
