//! The in-memory head of one tenant: series keyed by label set, interned labels, postings for
//! matchers, per-series chunks and histograms, and a bounded exemplar ring.
//!
//! Concurrency: the series map is split into shards, each behind a `RwLock`; looking up an
//! existing series takes one shard read lock and the symbol table read lock and allocates
//! nothing. Creating a series takes the shard write lock and briefly the symbol, id and
//! postings locks, never two of those at once. Sample data sits behind a per-series mutex.
//! Lock order: shard, then symbols; nothing else nests.

mod exemplars;
mod postings;
mod series;
mod symbols;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use sextant_model::{Labels, Matcher};
use smallvec::SmallVec;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::db::RejectReason;
use crate::write::LabelRef;
use exemplars::ExemplarRing;
use postings::Postings;
pub(crate) use series::{Appended, MemSeries, SeriesState};
use symbols::SymbolTable;

const SHARD_BITS: u32 = 6;

/// Replay never trusts a series reference this far beyond the ids in use.
const MAX_ID_GAP: usize = 1 << 20;

/// The head of one tenant.
#[derive(Debug)]
pub struct Head {
    shards: Box<[RwLock<HashTable<Arc<MemSeries>>>]>,
    symbols: RwLock<SymbolTable>,
    by_id: RwLock<Vec<Option<Arc<MemSeries>>>>,
    postings: RwLock<Postings>,
    pub(crate) exemplars: Mutex<ExemplarRing>,
    series_count: AtomicU64,
    /// Oldest and newest sample or histogram time (`i64::MAX`/`i64::MIN` while empty), kept
    /// by appenders under the WAL lock and recomputed by truncation.
    min_time: AtomicI64,
    max_time: AtomicI64,
}

impl Default for Head {
    fn default() -> Self {
        Head::new()
    }
}

impl Head {
    pub fn new() -> Head {
        Head {
            shards: (0..1 << SHARD_BITS).map(|_| RwLock::default()).collect(),
            symbols: RwLock::default(),
            by_id: RwLock::default(),
            postings: RwLock::default(),
            exemplars: Mutex::default(),
            series_count: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
        }
    }

    /// The oldest and newest sample or histogram time, `None` while the head holds none.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.min_time.load(Ordering::Relaxed);
        let max = self.max_time.load(Ordering::Relaxed);
        (min <= max).then_some((min, max))
    }

    /// Widens the head's time range to include `ts`.
    pub(crate) fn observe_time(&self, ts: i64) {
        self.min_time.fetch_min(ts, Ordering::Relaxed);
        self.max_time.fetch_max(ts, Ordering::Relaxed);
    }

    /// Replaces the head's time range (after truncation).
    pub(crate) fn set_time_range(&self, range: Option<(i64, i64)>) {
        let (min, max) = range.unwrap_or((i64::MAX, i64::MIN));
        self.min_time.store(min, Ordering::Relaxed);
        self.max_time.store(max, Ordering::Relaxed);
    }

    /// Every series, in id order.
    pub(crate) fn all_series(&self) -> Vec<Arc<MemSeries>> {
        self.by_id.read().iter().flatten().cloned().collect()
    }

    /// Drops series from the lookup table, the id table and the postings, and marks them
    /// removed. Their symbols stay interned.
    pub(crate) fn remove_series(&self, removed: &[Arc<MemSeries>]) {
        if removed.is_empty() {
            return;
        }
        for series in removed {
            series.removed.store(true, Ordering::Relaxed);
            let mut table = self.shard(series.hash).write();
            if let Ok(entry) = table.find_entry(series.hash, |s| Arc::ptr_eq(s, series)) {
                entry.remove();
            }
        }
        {
            let mut by_id = self.by_id.write();
            for series in removed {
                if let Some(slot) = by_id.get_mut(series.id as usize) {
                    *slot = None;
                }
            }
        }
        let gone: Vec<(u32, &[u32])> = removed.iter().map(|s| (s.id, &*s.labels)).collect();
        self.postings.write().remove(&gone);
        self.series_count
            .fetch_sub(removed.len() as u64, Ordering::Relaxed);
    }

    pub fn series_count(&self) -> usize {
        self.series_count.load(Ordering::Relaxed) as usize
    }

    /// The series with these labels, created when new (the bool says so) unless that would
    /// exceed `max_series` (0 = unlimited).
    pub(crate) fn get_or_create(
        &self,
        labels: &[LabelRef<'_>],
        max_series: u64,
    ) -> Result<(Arc<MemSeries>, bool), RejectReason> {
        // input is normally sorted already: look it up as given before checking
        let hash = hash_labels(labels);
        if let Some(found) = self.find(&self.shard(hash).read(), hash, labels) {
            return Ok((found, false));
        }
        with_sorted(labels, |labels| {
            let hash = hash_labels(labels);
            let mut table = self.shard(hash).write();
            if let Some(found) = self.find(&table, hash, labels) {
                return Ok((found, false));
            }
            self.reserve_series(max_series)?;
            let series = self.create(None, hash, labels);
            table.insert_unique(hash, series.clone(), |s| s.hash);
            Ok((series, true))
        })
    }

    /// Replay: the series with these labels, created with id `wanted` when that id is free.
    pub(crate) fn recreate(&self, wanted: u64, labels: &[LabelRef<'_>]) -> Arc<MemSeries> {
        with_sorted(labels, |labels| {
            let hash = hash_labels(labels);
            let mut table = self.shard(hash).write();
            if let Some(found) = self.find(&table, hash, labels) {
                return found;
            }
            self.series_count.fetch_add(1, Ordering::Relaxed);
            let series = self.create(Some(wanted), hash, labels);
            table.insert_unique(hash, series.clone(), |s| s.hash);
            series
        })
    }

    /// Keeps ids up to `id` from being handed out (WAL references of lost series records).
    pub(crate) fn reserve_ids_through(&self, id: u64) {
        let mut by_id = self.by_id.write();
        let Ok(id) = usize::try_from(id) else { return };
        if id >= by_id.len() && id < by_id.len() + MAX_ID_GAP && id <= u32::MAX as usize {
            by_id.resize(id + 1, None);
        }
    }

    /// The series matching every matcher, in id order.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let ids = {
            let symbols = self.symbols.read();
            self.postings.read().select(matchers, &symbols)
        };
        let by_id = self.by_id.read();
        ids.iter()
            .filter_map(|id| by_id.get(*id as usize).cloned().flatten())
            .collect()
    }

    pub(crate) fn labels_of(&self, series: &MemSeries) -> Labels {
        let symbols = self.symbols.read();
        Labels::from_pairs(
            series
                .labels
                .chunks_exact(2)
                .map(|p| (symbols.get(p[0]), symbols.get(p[1]))),
        )
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let symbols = self.symbols.read();
        self.postings.read().label_names(&symbols)
    }

    /// All values of a label, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let symbols = self.symbols.read();
        self.postings.read().label_values(name, &symbols)
    }

    fn shard(&self, hash: u64) -> &RwLock<HashTable<Arc<MemSeries>>> {
        &self.shards[(hash >> (64 - SHARD_BITS)) as usize]
    }

    fn find(
        &self,
        table: &HashTable<Arc<MemSeries>>,
        hash: u64,
        labels: &[LabelRef<'_>],
    ) -> Option<Arc<MemSeries>> {
        table
            .find(hash, |s| s.hash == hash && key_equal(&s.key, labels))
            .cloned()
    }

    fn reserve_series(&self, max_series: u64) -> Result<(), RejectReason> {
        if max_series == 0 {
            self.series_count.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.series_count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max_series).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| RejectReason::MaxSeries)
    }

    /// Interns the labels, allocates an id (`wanted` when free) and indexes the series.
    fn create(&self, wanted: Option<u64>, hash: u64, labels: &[LabelRef<'_>]) -> Arc<MemSeries> {
        let ids: Box<[u32]> = {
            let mut symbols = self.symbols.write();
            labels
                .iter()
                .flat_map(|l| [symbols.intern(l.name), symbols.intern(l.value)])
                .collect()
        };
        let series = {
            let mut by_id = self.by_id.write();
            let free = |id: usize| by_id.get(id).is_none_or(|s| s.is_none());
            let id = match wanted.and_then(|w| usize::try_from(w).ok()) {
                Some(w) if w <= u32::MAX as usize && w < by_id.len() + MAX_ID_GAP && free(w) => w,
                _ => by_id.len(),
            };
            if by_id.len() <= id {
                by_id.resize(id + 1, None);
            }
            let series = Arc::new(MemSeries {
                id: id as u32,
                hash,
                labels: ids,
                key: series_key(labels),
                state: Mutex::default(),
                logged: AtomicBool::new(wanted.is_some()),
                removed: AtomicBool::new(false),
            });
            by_id[id] = Some(series.clone());
            series
        };
        self.postings.write().add(series.id, &series.labels);
        series
    }
}

/// Runs `f` on the labels sorted by name; copies them (on the stack for up to 16 labels) only
/// when they are not sorted already.
fn with_sorted<R>(labels: &[LabelRef<'_>], f: impl FnOnce(&[LabelRef<'_>]) -> R) -> R {
    if labels.windows(2).all(|w| w[0].name <= w[1].name) {
        return f(labels);
    }
    let mut sorted: SmallVec<[LabelRef<'_>; 16]> = labels.iter().copied().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    f(&sorted)
}

/// xxh3 of `name 0xff value 0xff ...`, hashed in one call from a stack buffer when it fits.
fn hash_labels(labels: &[LabelRef<'_>]) -> u64 {
    let mut buf = [0u8; 512];
    let mut len = 0;
    for s in labels.iter().flat_map(|l| [l.name, l.value]) {
        let end = len + s.len();
        if end >= buf.len() {
            return hash_labels_streaming(labels);
        }
        buf[len..end].copy_from_slice(s.as_bytes());
        buf[end] = 0xff;
        len = end + 1;
    }
    xxh3_64(&buf[..len])
}

/// The same hash for label sets too long for the stack buffer.
fn hash_labels_streaming(labels: &[LabelRef<'_>]) -> u64 {
    let mut h = Xxh3::new();
    for s in labels.iter().flat_map(|l| [l.name, l.value]) {
        h.update(s.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// The bytes of a label set that [`key_equal`] compares against: `name 0xff value 0xfe` per
/// label. 0xfe and 0xff never occur in UTF-8, so the encoding is unambiguous.
fn series_key(labels: &[LabelRef<'_>]) -> Box<[u8]> {
    let len = labels
        .iter()
        .map(|l| l.name.len() + l.value.len() + 2)
        .sum();
    let mut key = Vec::with_capacity(len);
    for l in labels {
        key.extend_from_slice(l.name.as_bytes());
        key.push(0xff);
        key.extend_from_slice(l.value.as_bytes());
        key.push(0xfe);
    }
    key.into_boxed_slice()
}

/// Whether `labels` (in order) are exactly the label set encoded in `key`.
fn key_equal(key: &[u8], labels: &[LabelRef<'_>]) -> bool {
    let mut rest = key;
    for l in labels {
        let (name, value) = (l.name.as_bytes(), l.value.as_bytes());
        let need = name.len() + value.len() + 2;
        if rest.len() < need
            || !same(&rest[..name.len()], name)
            || rest[name.len()] != 0xff
            || !same(&rest[name.len() + 1..need - 1], value)
            || rest[need - 1] != 0xfe
        {
            return false;
        }
        rest = &rest[need..];
    }
    rest.is_empty()
}

/// String equality without a `memcmp` call for the short strings labels mostly are.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
