//! Native histogram chunks: a 2-byte big-endian count, then per histogram its timestamp (zig-zag
//! varint, the first absolute, later ones as the delta to the previous) and every field of
//! [`Histogram`] in declaration order: counts as a tag byte (0 integer, 1 float) followed by a
//! uvarint or the 8 float bytes, floats as 8 little-endian bytes of their bits, integers as
//! (zig-zag) varints, lists as a uvarint length then the items. Simple rather than tight:
//! histograms are rare next to float samples, and every bit of them is kept.

use super::ChunkError;
use crate::write::{BucketSpan, Histogram, HistogramCount};

/// A closed chunk of native histograms in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramChunk {
    bytes: Box<[u8]>,
    min_time: i64,
    max_time: i64,
}

impl HistogramChunk {
    /// Encodes up to `u16::MAX` histograms (timestamps increasing); `None` beyond that.
    pub fn encode(histograms: &[Histogram]) -> Option<HistogramChunk> {
        let count = u16::try_from(histograms.len()).ok()?;
        let mut out = Vec::with_capacity(2 + histograms.len() * 48);
        out.extend_from_slice(&count.to_be_bytes());
        let mut prev = 0i64;
        for h in histograms {
            put_varint(&mut out, h.timestamp_ms.wrapping_sub(prev));
            prev = h.timestamp_ms;
            put_fields(&mut out, h);
        }
        Some(HistogramChunk {
            bytes: out.into_boxed_slice(),
            min_time: histograms.first().map_or(0, |h| h.timestamp_ms),
            max_time: histograms.last().map_or(0, |h| h.timestamp_ms),
        })
    }

    /// Decodes `bytes` completely to check them and find the time range.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<HistogramChunk, ChunkError> {
        let decoded = decode(&bytes)?;
        Ok(HistogramChunk {
            bytes: bytes.into_boxed_slice(),
            min_time: decoded.first().map_or(0, |h| h.timestamp_ms),
            max_time: decoded.last().map_or(0, |h| h.timestamp_ms),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn num_samples(&self) -> usize {
        match &*self.bytes {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        }
    }

    pub fn min_time(&self) -> i64 {
        self.min_time
    }

    pub fn max_time(&self) -> i64 {
        self.max_time
    }

    /// The histograms, in time order. Cannot fail on a chunk built by `encode` or
    /// `from_bytes`, which validated the bytes.
    pub fn histograms(&self) -> Vec<Histogram> {
        decode(&self.bytes).unwrap_or_default()
    }
}

fn decode(bytes: &[u8]) -> Result<Vec<Histogram>, ChunkError> {
    let [a, b, rest @ ..] = bytes else {
        return Err(ChunkError::MissingHeader(2));
    };
    let count = u16::from_be_bytes([*a, *b]);
    let mut r = Reader { buf: rest, pos: 0 };
    let mut out = Vec::with_capacity(usize::from(count).min(rest.len()));
    let mut prev = 0i64;
    for i in 0..count {
        let ts = prev.wrapping_add(r.varint().ok_or(ChunkError::Truncated(i))?);
        if i > 0 && ts <= prev {
            return Err(ChunkError::InvalidValue(i));
        }
        prev = ts;
        out.push(read_fields(&mut r, ts, i)?);
    }
    if r.pos != r.buf.len() {
        return Err(ChunkError::InvalidValue(count));
    }
    Ok(out)
}

fn put_fields(out: &mut Vec<u8>, h: &Histogram) {
    put_count(out, h.count);
    put_f64(out, h.sum);
    put_varint(out, i64::from(h.schema));
    put_f64(out, h.zero_threshold);
    put_count(out, h.zero_count);
    for (spans, deltas, counts) in [
        (&h.negative_spans, &h.negative_deltas, &h.negative_counts),
        (&h.positive_spans, &h.positive_deltas, &h.positive_counts),
    ] {
        put_uvarint(out, spans.len() as u64);
        for s in spans {
            put_varint(out, i64::from(s.offset));
            put_uvarint(out, u64::from(s.length));
        }
        put_uvarint(out, deltas.len() as u64);
        deltas.iter().for_each(|d| put_varint(out, *d));
        put_floats(out, counts);
    }
    put_varint(out, i64::from(h.reset_hint));
    put_floats(out, &h.custom_values);
}

fn read_fields(r: &mut Reader<'_>, timestamp_ms: i64, i: u16) -> Result<Histogram, ChunkError> {
    let t = ChunkError::Truncated(i);
    let bad = ChunkError::InvalidValue(i);
    let count = r.count().ok_or(t)?.ok_or(bad)?;
    let sum = r.f64().ok_or(t)?;
    let schema = i32::try_from(r.varint().ok_or(t)?).map_err(|_| bad)?;
    let zero_threshold = r.f64().ok_or(t)?;
    let zero_count = r.count().ok_or(t)?.ok_or(bad)?;
    let mut sides = Vec::with_capacity(2);
    for _ in 0..2 {
        let spans = r.list(|r| {
            let offset = i32::try_from(r.varint()?).ok()?;
            let length = u32::try_from(r.uvarint()?).ok()?;
            Some(BucketSpan { offset, length })
        });
        let deltas = r.list(Reader::varint);
        let counts = r.list(Reader::f64);
        sides.push((spans.ok_or(t)?, deltas.ok_or(t)?, counts.ok_or(t)?));
    }
    let reset_hint = i32::try_from(r.varint().ok_or(t)?).map_err(|_| bad)?;
    let custom_values = r.list(Reader::f64).ok_or(t)?;
    let (positive_spans, positive_deltas, positive_counts) = sides.pop().ok_or(bad)?;
    let (negative_spans, negative_deltas, negative_counts) = sides.pop().ok_or(bad)?;
    Ok(Histogram {
        timestamp_ms,
        count,
        sum,
        schema,
        zero_threshold,
        zero_count,
        negative_spans,
        negative_deltas,
        negative_counts,
        positive_spans,
        positive_deltas,
        positive_counts,
        reset_hint,
        custom_values,
    })
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_floats(out: &mut Vec<u8>, values: &[f64]) {
    put_uvarint(out, values.len() as u64);
    values.iter().for_each(|v| put_f64(out, *v));
}

fn put_count(out: &mut Vec<u8>, c: HistogramCount) {
    match c {
        HistogramCount::Int(n) => {
            out.push(0);
            put_uvarint(out, n);
        }
        HistogramCount::Float(f) => {
            out.push(1);
            put_f64(out, f);
        }
    }
}

/// A bounds-checked byte reader: `None` on short input.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn f64(&mut self) -> Option<f64> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(8)?)?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        Some(f64::from_bits(u64::from_le_bytes(a)))
    }

    /// A tagged count; the inner `None` is an unknown tag.
    fn count(&mut self) -> Option<Option<HistogramCount>> {
        Some(match self.byte()? {
            0 => Some(HistogramCount::Int(self.uvarint()?)),
            1 => Some(HistogramCount::Float(self.f64()?)),
            _ => None,
        })
    }

    /// A length-prefixed list; the length is bounded by the bytes left (each item takes one).
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        if n > self.buf.len() - self.pos {
            return None;
        }
        (0..n).map(|_| item(self)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_count() -> impl Strategy<Value = HistogramCount> {
        prop_oneof![
            any::<u64>().prop_map(HistogramCount::Int),
            any::<f64>().prop_map(HistogramCount::Float),
        ]
    }

    fn arb_histogram() -> impl Strategy<Value = Histogram> {
        let spans = proptest::collection::vec(
            (any::<i32>(), any::<u32>()).prop_map(|(offset, length)| BucketSpan { offset, length }),
            0..4,
        );
        let side = (
            spans,
            proptest::collection::vec(any::<i64>(), 0..6),
            proptest::collection::vec(any::<f64>(), 0..6),
        );
        (
            (
                arb_count(),
                any::<f64>(),
                any::<i32>(),
                any::<f64>(),
                arb_count(),
            ),
            side.clone(),
            side,
            (any::<i32>(), proptest::collection::vec(any::<f64>(), 0..3)),
        )
            .prop_map(
                |((count, sum, schema, zt, zc), neg, pos, (reset, custom))| Histogram {
                    timestamp_ms: 0,
                    count,
                    sum,
                    schema,
                    zero_threshold: zt,
                    zero_count: zc,
                    negative_spans: neg.0,
                    negative_deltas: neg.1,
                    negative_counts: neg.2,
                    positive_spans: pos.0,
                    positive_deltas: pos.1,
                    positive_counts: pos.2,
                    reset_hint: reset,
                    custom_values: custom,
                },
            )
    }

    /// Bit-exact comparison (NaN sums must survive too).
    fn bits(h: &[Histogram]) -> String {
        format!(
            "{:?}",
            h.iter()
                .map(|h| format!("{h:?}|{}", h.sum.to_bits()))
                .collect::<Vec<_>>()
        )
    }

    proptest! {
        #[test]
        fn round_trips(mut hs in proptest::collection::vec(arb_histogram(), 0..12), start in any::<i64>(), step in 1i64..100_000) {
            for (i, h) in hs.iter_mut().enumerate() {
                h.timestamp_ms = start.wrapping_add(step * i as i64);
            }
            // keep timestamps increasing: no wrap-around
            prop_assume!(hs.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms));
            let chunk = HistogramChunk::encode(&hs).unwrap();
            let again = HistogramChunk::from_bytes(chunk.bytes().to_vec()).unwrap();
            prop_assert_eq!(&again, &chunk);
            prop_assert_eq!(chunk.num_samples(), hs.len());
            prop_assert_eq!(bits(&chunk.histograms()), bits(&hs));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = HistogramChunk::from_bytes(bytes);
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_errors() {
        let h = Histogram {
            timestamp_ms: 5,
            count: HistogramCount::Float(2.0),
            sum: 1.0,
            schema: 3,
            zero_threshold: 0.001,
            zero_count: HistogramCount::Int(1),
            negative_spans: vec![],
            negative_deltas: vec![],
            negative_counts: vec![],
            positive_spans: vec![BucketSpan {
                offset: -2,
                length: 2,
            }],
            positive_deltas: vec![],
            positive_counts: vec![1.0, 0.5],
            reset_hint: 2,
            custom_values: vec![],
        };
        let chunk = HistogramChunk::encode(&[
            h.clone(),
            Histogram {
                timestamp_ms: 9,
                ..h
            },
        ])
        .unwrap();
        assert_eq!((chunk.min_time(), chunk.max_time()), (5, 9));
        let bytes = chunk.bytes();
        for cut in 0..bytes.len() {
            assert!(
                HistogramChunk::from_bytes(bytes[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(HistogramChunk::from_bytes(longer).is_err());
    }
}
