//! One series in memory: its interned labels and, behind a mutex, its chunks, histograms and
//! the ordering state that decides which samples are accepted.

use std::sync::atomic::AtomicBool;

use parking_lot::Mutex;
use sextant_model::TimeRange;

use crate::chunk::{XorAppender, XorChunk};
use crate::db::RejectReason;
use crate::write::{Histogram, HistogramCount, Sample};

/// A series of the head. `labels` holds symbol ids: name, value, name, value, ...
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) id: u32,
    pub(crate) hash: u64,
    pub(crate) labels: Box<[u32]>,
    /// The label pairs as contiguous bytes (`name 0xff value 0xfe ...`) so that finding a
    /// series compares one short buffer instead of chasing interned symbols (see
    /// `head::key_equal`).
    pub(crate) key: Box<[u8]>,
    pub(crate) state: Mutex<SeriesState>,
    /// Whether a Series record for it is in the WAL (only changed under the WAL lock).
    pub(crate) logged: AtomicBool,
    /// Set (under the WAL lock) when truncation dropped the series from the head: appenders
    /// that looked it up before must look it up again.
    pub(crate) removed: AtomicBool,
}

/// What an accepted append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    Added,
    /// Same timestamp and same value as the last one: an idempotent retry, nothing stored.
    Duplicate,
}

#[derive(Debug, Default)]
pub(crate) struct SeriesState {
    open: Option<XorAppender>,
    closed: Vec<XorChunk>,
    /// Timestamp and value bits of the newest sample.
    last_sample: Option<(i64, u64)>,
    histograms: Vec<Histogram>,
    last_exemplar_ts: Option<i64>,
}

impl SeriesState {
    /// Appends a float sample, closing the open chunk once it holds `chunk_max_samples`.
    pub(crate) fn append_sample(
        &mut self,
        ts: i64,
        value: f64,
        chunk_max_samples: usize,
    ) -> Result<Appended, RejectReason> {
        let bits = value.to_bits();
        if let Some((last_ts, last_bits)) = self.last_sample {
            if ts < last_ts {
                return Err(RejectReason::OutOfOrder);
            }
            if ts == last_ts {
                return match bits == last_bits {
                    true => Ok(Appended::Duplicate),
                    false => Err(RejectReason::DuplicateTimestamp),
                };
            }
        }
        let open = self.open.get_or_insert_with(XorAppender::new);
        if !open.append(ts, value) {
            // the chunk is at u16::MAX samples: close it and start another
            let full = std::mem::take(open);
            self.closed.push(full.finish());
            open.append(ts, value);
        }
        if open.num_samples() >= chunk_max_samples {
            if let Some(full) = self.open.take() {
                self.closed.push(full.finish());
            }
        }
        self.last_sample = Some((ts, bits));
        Ok(Appended::Added)
    }

    pub(crate) fn append_histogram(&mut self, h: &Histogram) -> Result<Appended, RejectReason> {
        if let Some(last) = self.histograms.last() {
            if h.timestamp_ms < last.timestamp_ms {
                return Err(RejectReason::OutOfOrder);
            }
            if h.timestamp_ms == last.timestamp_ms {
                return match same_histogram(h, last) {
                    true => Ok(Appended::Duplicate),
                    false => Err(RejectReason::DuplicateTimestamp),
                };
            }
        }
        self.histograms.push(h.clone());
        Ok(Appended::Added)
    }

    /// Exemplars of a series must come in time order; a repeated timestamp is a retry.
    pub(crate) fn accept_exemplar(&mut self, ts: i64) -> Result<Appended, RejectReason> {
        match self.last_exemplar_ts {
            Some(last) if ts < last => Err(RejectReason::ExemplarOutOfOrder),
            Some(last) if ts == last => Ok(Appended::Duplicate),
            _ => {
                self.last_exemplar_ts = Some(ts);
                Ok(Appended::Added)
            }
        }
    }

    pub(crate) fn samples_in(&self, range: TimeRange) -> Vec<Sample> {
        let closed = self
            .closed
            .iter()
            .filter(|c| range.overlaps(&TimeRange::new(c.min_time(), c.max_time())))
            .map(|c| c.iter());
        let open = self
            .open
            .iter()
            .filter(|c| range.overlaps(&TimeRange::new(c.min_time(), c.max_time())))
            .map(|c| c.iter());
        closed
            .chain(open)
            .flatten()
            .filter(|(t, _)| range.contains(*t))
            .map(|(timestamp_ms, value)| Sample {
                timestamp_ms,
                value,
            })
            .collect()
    }

    pub(crate) fn histograms_in(&self, range: TimeRange) -> Vec<Histogram> {
        self.histograms
            .iter()
            .filter(|h| range.contains(h.timestamp_ms))
            .cloned()
            .collect()
    }
}

impl SeriesState {
    /// Whether a float sample or histogram lies in `range`.
    pub(crate) fn has_data_in(&self, range: TimeRange) -> bool {
        self.closed
            .iter()
            .any(|c| chunk_has_data_in(range, c.min_time(), c.max_time(), c.iter()))
            || self
                .open
                .iter()
                .any(|c| chunk_has_data_in(range, c.min_time(), c.max_time(), c.iter()))
            || self
                .histograms
                .iter()
                .any(|h| range.contains(h.timestamp_ms))
    }

    /// The oldest and newest sample or histogram time.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let chunks = self
            .closed
            .iter()
            .map(|c| (c.min_time(), c.max_time()))
            .chain(self.open.iter().map(|c| (c.min_time(), c.max_time())));
        let histograms = self
            .histograms
            .first()
            .zip(self.histograms.last())
            .map(|(a, b)| (a.timestamp_ms, b.timestamp_ms));
        chunks
            .chain(histograms)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    /// The float samples in `[from, boundary)` as chunks: closed chunks entirely inside are
    /// shared, the rest of the range is re-encoded.
    pub(crate) fn chunks_between(
        &self,
        from: i64,
        boundary: i64,
        chunk_max_samples: usize,
    ) -> Vec<XorChunk> {
        let inside = |t: i64| from <= t && t < boundary;
        let mut out = Vec::new();
        let mut rest = Vec::new();
        for c in &self.closed {
            if c.max_time() < from || c.min_time() >= boundary {
                continue;
            }
            if c.min_time() >= from && c.max_time() < boundary {
                // a partial chunk before it (straddling `from`) goes first
                out.extend(encode_chunks(&std::mem::take(&mut rest), chunk_max_samples));
                out.push(c.clone());
            } else {
                rest.extend(c.iter().filter(|(t, _)| inside(*t)));
            }
        }
        if let Some(open) = self
            .open
            .as_ref()
            .filter(|o| o.min_time() < boundary && o.max_time() >= from)
        {
            rest.extend(open.iter().filter(|(t, _)| inside(*t)));
        }
        out.extend(encode_chunks(&rest, chunk_max_samples));
        out
    }

    /// The histograms in `[from, boundary)`.
    pub(crate) fn histograms_between(&self, from: i64, boundary: i64) -> &[Histogram] {
        let start = self.histograms.partition_point(|h| h.timestamp_ms < from);
        let end = self
            .histograms
            .partition_point(|h| h.timestamp_ms < boundary);
        &self.histograms[start..end.max(start)]
    }

    /// Drops every sample and histogram older than `boundary`; true when nothing is left.
    pub(crate) fn truncate_before(&mut self, boundary: i64) -> bool {
        self.closed.retain(|c| c.max_time() >= boundary);
        if let Some(first) = self.closed.first_mut().filter(|c| c.min_time() < boundary) {
            let kept: Vec<(i64, f64)> = first.iter().filter(|(t, _)| *t >= boundary).collect();
            if let Some(chunk) = encode_chunks(&kept, usize::MAX).pop() {
                *first = chunk;
            }
        }
        if let Some(open) = self.open.as_ref().filter(|o| o.min_time() < boundary) {
            let mut kept = XorAppender::new();
            for (t, v) in open.iter().filter(|(t, _)| *t >= boundary) {
                kept.append(t, v);
            }
            self.open = (kept.num_samples() > 0).then_some(kept);
        }
        let cut = self
            .histograms
            .partition_point(|h| h.timestamp_ms < boundary);
        self.histograms.drain(..cut);
        self.closed.is_empty() && self.open.is_none() && self.histograms.is_empty()
    }
}

/// Whether a chunk spanning `[min, max]` has a sample in `range`, decoding it only when the
/// chunk straddles an end of the range.
fn chunk_has_data_in(
    range: TimeRange,
    min: i64,
    max: i64,
    mut samples: impl Iterator<Item = (i64, f64)>,
) -> bool {
    if range.contains(min) && range.contains(max) {
        return true;
    }
    range.overlaps(&TimeRange::new(min, max)) && samples.any(|(t, _)| range.contains(t))
}

/// Samples (in time order) as closed chunks of at most `max` samples each.
fn encode_chunks(samples: &[(i64, f64)], max: usize) -> Vec<XorChunk> {
    let max = max.clamp(1, usize::from(u16::MAX));
    samples
        .chunks(max)
        .map(|part| {
            let mut app = XorAppender::new();
            for &(t, v) in part {
                app.append(t, v);
            }
            app.finish()
        })
        .collect()
}

/// Bit-exact equality, so that NaN sums (stale markers) of a retried request compare equal.
fn same_histogram(a: &Histogram, b: &Histogram) -> bool {
    let count = |c: &HistogramCount| match c {
        HistogramCount::Int(n) => (0u8, *n),
        HistogramCount::Float(f) => (1u8, f.to_bits()),
    };
    let floats = |x: &[f64], y: &[f64]| {
        x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits())
    };
    count(&a.count) == count(&b.count)
        && count(&a.zero_count) == count(&b.zero_count)
        && a.sum.to_bits() == b.sum.to_bits()
        && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
        && a.schema == b.schema
        && a.reset_hint == b.reset_hint
        && a.negative_spans == b.negative_spans
        && a.negative_deltas == b.negative_deltas
        && a.positive_spans == b.positive_spans
        && a.positive_deltas == b.positive_deltas
        && floats(&a.negative_counts, &b.negative_counts)
        && floats(&a.positive_counts, &b.positive_counts)
        && floats(&a.custom_values, &b.custom_values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_order_rules() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let cases: &[(i64, f64, Result<Appended, RejectReason>)] = &[
            (10, 1.0, Ok(Appended::Added)),
            (20, 2.0, Ok(Appended::Added)),
            (20, 2.0, Ok(Appended::Duplicate)),
            (20, 3.0, Err(RejectReason::DuplicateTimestamp)),
            (15, 1.0, Err(RejectReason::OutOfOrder)),
            (30, stale, Ok(Appended::Added)),
            (30, stale, Ok(Appended::Duplicate)),
            (30, f64::NAN, Err(RejectReason::DuplicateTimestamp)),
            (31, 4.0, Ok(Appended::Added)),
        ];
        let mut state = SeriesState::default();
        for (ts, v, want) in cases {
            assert_eq!(state.append_sample(*ts, *v, 120), *want, "ts {ts}");
        }
        let got: Vec<(i64, u64)> = state
            .samples_in(TimeRange::ALL)
            .iter()
            .map(|s| (s.timestamp_ms, s.value.to_bits()))
            .collect();
        let want = [
            (10, 1.0f64.to_bits()),
            (20, 2.0f64.to_bits()),
            (30, stale.to_bits()),
            (31, 4.0f64.to_bits()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn chunks_are_cut_and_ranges_filtered() {
        let mut state = SeriesState::default();
        for i in 0..250 {
            state.append_sample(i * 10, i as f64, 120).unwrap();
        }
        assert_eq!(state.closed.len(), 2);
        assert_eq!(state.open.as_ref().map(|o| o.num_samples()), Some(10));
        let got = state.samples_in(TimeRange::new(1195, 1215));
        let ts: Vec<i64> = got.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(ts, [1200, 1210]);
        assert_eq!(state.samples_in(TimeRange::ALL).len(), 250);
    }

    #[test]
    fn ranges_are_cut_from_whole_and_partial_chunks() {
        let mut state = SeriesState::default();
        // closed chunks [0, 1190], [1200, 2390]; open [2400, 2490]
        for i in 0..250 {
            state.append_sample(i * 10, i as f64, 120).unwrap();
        }
        let times = |chunks: &[XorChunk]| -> Vec<i64> {
            chunks
                .iter()
                .flat_map(|c| c.iter().map(|(t, _)| t))
                .collect()
        };
        // (from, boundary, chunks expected, of which shared with the head)
        let cases: &[(i64, i64, usize, usize)] = &[
            (i64::MIN, 1200, 1, 1),
            (i64::MIN, 1195, 1, 1),
            (i64::MIN, 1185, 1, 0),
            (1200, 2400, 1, 1),
            (1195, 2400, 1, 1),
            (600, 2450, 3, 1),
            (2400, 3000, 1, 0),
            (3000, 4000, 0, 0),
            (500, 500, 0, 0),
            (i64::MIN, i64::MAX, 3, 2),
        ];
        for &(from, boundary, n, shared) in cases {
            let chunks = state.chunks_between(from, boundary, 120);
            let want: Vec<i64> = (0..250)
                .map(|i| i * 10)
                .filter(|t| from <= *t && *t < boundary)
                .collect();
            assert_eq!(times(&chunks), want, "[{from}, {boundary})");
            assert_eq!(chunks.len(), n, "[{from}, {boundary})");
            let kept = chunks.iter().filter(|c| state.closed.contains(c)).count();
            assert_eq!(kept, shared, "[{from}, {boundary})");
        }
    }

    #[test]
    fn histogram_and_exemplar_order_rules() {
        let h = |ts: i64, sum: f64| Histogram {
            timestamp_ms: ts,
            count: HistogramCount::Int(1),
            sum,
            schema: 0,
            zero_threshold: 0.0,
            zero_count: HistogramCount::Int(0),
            negative_spans: vec![],
            negative_deltas: vec![],
            negative_counts: vec![],
            positive_spans: vec![],
            positive_deltas: vec![],
            positive_counts: vec![],
            reset_hint: 0,
            custom_values: vec![],
        };
        let mut state = SeriesState::default();
        assert_eq!(state.append_histogram(&h(10, 1.0)), Ok(Appended::Added));
        assert_eq!(state.append_histogram(&h(10, 1.0)), Ok(Appended::Duplicate));
        assert_eq!(
            state.append_histogram(&h(10, 2.0)),
            Err(RejectReason::DuplicateTimestamp)
        );
        assert_eq!(
            state.append_histogram(&h(5, 2.0)),
            Err(RejectReason::OutOfOrder)
        );
        assert_eq!(
            state.append_histogram(&h(20, f64::NAN)),
            Ok(Appended::Added)
        );
        assert_eq!(
            state.append_histogram(&h(20, f64::NAN)),
            Ok(Appended::Duplicate)
        );
        assert_eq!(state.histograms_in(TimeRange::new(0, 15)).len(), 1);
        let between = |from, to| -> Vec<i64> {
            state
                .histograms_between(from, to)
                .iter()
                .map(|h| h.timestamp_ms)
                .collect()
        };
        assert_eq!(between(i64::MIN, 20), [10]);
        assert_eq!(between(10, 21), [10, 20]);
        assert_eq!(between(11, 21), [20]);
        assert_eq!(between(20, 10), Vec::<i64>::new());

        assert_eq!(state.accept_exemplar(5), Ok(Appended::Added));
        assert_eq!(state.accept_exemplar(5), Ok(Appended::Duplicate));
        assert_eq!(
            state.accept_exemplar(4),
            Err(RejectReason::ExemplarOutOfOrder)
        );
    }
}
