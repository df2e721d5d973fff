//! Payloads of WAL records. All integers little endian, strings as u32 length + bytes:
//!
//! - Series: repeated `ref u64, n u32, n × (name, value)`.
//! - Samples: repeated `ref u64, ts i64, value bits u64`.
//! - Histograms: repeated `ref u64, histogram` (every field of [`Histogram`] in order).
//! - Exemplars: repeated `ref u64, ts i64, value bits u64, n u32, n × (name, value)`.

use sextant_wal::WalRecordType;

use crate::write::{BucketSpan, Histogram, HistogramCount, LabelRef};

/// A record type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    Series = 1,
    Samples = 2,
    Histograms = 3,
    Exemplars = 4,
}

impl WalRecordType for RecordType {
    fn from_byte(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Series),
            2 => Some(RecordType::Samples),
            3 => Some(RecordType::Histograms),
            4 => Some(RecordType::Exemplars),
            _ => None,
        }
    }

    fn to_byte(self) -> u8 {
        self as u8
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<SeriesRecord>),
    Samples(Vec<RefSample>),
    Histograms(Vec<RefHistogram>),
    Exemplars(Vec<RefExemplar>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRecord {
    pub series_ref: u64,
    pub labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series_ref: u64,
    pub timestamp_ms: i64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogram {
    pub series_ref: u64,
    pub histogram: Histogram,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    pub series_ref: u64,
    pub timestamp_ms: i64,
    pub value: f64,
    pub labels: Vec<(String, String)>,
}

/// Payload bytes ended early or held an invalid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid record payload at byte {0}")]
pub struct DecodeError(pub usize);

pub(crate) fn put_series(out: &mut Vec<u8>, series_ref: u64, labels: &[LabelRef<'_>]) {
    out.extend_from_slice(&series_ref.to_le_bytes());
    put_labels(out, labels.iter().map(|l| (l.name, l.value)), labels.len());
}

pub(crate) fn put_sample(out: &mut Vec<u8>, series_ref: u64, ts: i64, value: f64) {
    out.extend_from_slice(&series_ref.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&value.to_bits().to_le_bytes());
}

pub(crate) fn put_exemplar(
    out: &mut Vec<u8>,
    series_ref: u64,
    ts: i64,
    value: f64,
    labels: &[LabelRef<'_>],
) {
    put_sample(out, series_ref, ts, value);
    put_labels(out, labels.iter().map(|l| (l.name, l.value)), labels.len());
}

pub(crate) fn put_histogram(out: &mut Vec<u8>, series_ref: u64, h: &Histogram) {
    out.extend_from_slice(&series_ref.to_le_bytes());
    out.extend_from_slice(&h.timestamp_ms.to_le_bytes());
    put_count(out, h.count);
    out.extend_from_slice(&h.sum.to_bits().to_le_bytes());
    out.extend_from_slice(&h.schema.to_le_bytes());
    out.extend_from_slice(&h.zero_threshold.to_bits().to_le_bytes());
    put_count(out, h.zero_count);
    for (spans, deltas, counts) in [
        (&h.negative_spans, &h.negative_deltas, &h.negative_counts),
        (&h.positive_spans, &h.positive_deltas, &h.positive_counts),
    ] {
        put_len(out, spans.len());
        for s in spans {
            out.extend_from_slice(&s.offset.to_le_bytes());
            out.extend_from_slice(&s.length.to_le_bytes());
        }
        put_len(out, deltas.len());
        deltas
            .iter()
            .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        put_floats(out, counts);
    }
    out.extend_from_slice(&h.reset_hint.to_le_bytes());
    put_floats(out, &h.custom_values);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_floats(out: &mut Vec<u8>, values: &[f64]) {
    put_len(out, values.len());
    values
        .iter()
        .for_each(|v| out.extend_from_slice(&v.to_bits().to_le_bytes()));
}

fn put_count(out: &mut Vec<u8>, c: HistogramCount) {
    let (tag, bits) = match c {
        HistogramCount::Int(n) => (0u8, n),
        HistogramCount::Float(f) => (1u8, f.to_bits()),
    };
    out.push(tag);
    out.extend_from_slice(&bits.to_le_bytes());
}

fn put_labels<'a>(out: &mut Vec<u8>, labels: impl Iterator<Item = (&'a str, &'a str)>, n: usize) {
    put_len(out, n);
    for (name, value) in labels {
        for s in [name, value] {
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Decodes the payload of a record of type `kind`.
pub fn decode(kind: RecordType, payload: &[u8]) -> Result<Record, DecodeError> {
    let mut c = Cursor {
        buf: payload,
        pos: 0,
    };
    macro_rules! repeated {
        ($read:expr) => {{
            let mut out = Vec::new();
            while !c.at_end() {
                out.push($read);
            }
            out
        }};
    }
    Ok(match kind {
        RecordType::Series => Record::Series(repeated!(SeriesRecord {
            series_ref: c.u64()?,
            labels: c.labels()?,
        })),
        RecordType::Samples => Record::Samples(repeated!(RefSample {
            series_ref: c.u64()?,
            timestamp_ms: c.i64()?,
            value: c.f64()?,
        })),
        RecordType::Histograms => Record::Histograms(repeated!(RefHistogram {
            series_ref: c.u64()?,
            histogram: c.histogram()?,
        })),
        RecordType::Exemplars => Record::Exemplars(repeated!(RefExemplar {
            series_ref: c.u64()?,
            timestamp_ms: c.i64()?,
            value: c.f64()?,
            labels: c.labels()?,
        })),
    })
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or(DecodeError(self.pos))?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.take().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.take().map(i64::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.take().map(i32::from_le_bytes)
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        self.u64().map(f64::from_bits)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let start = self.pos;
        let len = self.u32()? as usize;
        let bytes = self
            .buf
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or(DecodeError(start))?;
        self.pos += len;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError(start))
    }

    /// `n` items, each of which consumes at least one byte (so a corrupt `n` fails fast).
    fn many<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.u32()?;
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn labels(&mut self) -> Result<Vec<(String, String)>, DecodeError> {
        self.many(|c| Ok((c.string()?, c.string()?)))
    }

    fn count(&mut self) -> Result<HistogramCount, DecodeError> {
        let at = self.pos;
        match self.take::<1>()?[0] {
            0 => Ok(HistogramCount::Int(self.u64()?)),
            1 => Ok(HistogramCount::Float(self.f64()?)),
            _ => Err(DecodeError(at)),
        }
    }

    fn histogram(&mut self) -> Result<Histogram, DecodeError> {
        let timestamp_ms = self.i64()?;
        let count = self.count()?;
        let sum = self.f64()?;
        let schema = self.i32()?;
        let zero_threshold = self.f64()?;
        let zero_count = self.count()?;
        let span = |c: &mut Self| {
            Ok(BucketSpan {
                offset: c.i32()?,
                length: c.u32()?,
            })
        };
        let negative_spans = self.many(span)?;
        let negative_deltas = self.many(Self::i64)?;
        let negative_counts = self.many(Self::f64)?;
        let positive_spans = self.many(span)?;
        let positive_deltas = self.many(Self::i64)?;
        let positive_counts = self.many(Self::f64)?;
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
            reset_hint: self.i32()?,
            custom_values: self.many(Self::f64)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn histogram(ts: i64) -> Histogram {
        Histogram {
            timestamp_ms: ts,
            count: HistogramCount::Int(7),
            sum: f64::from_bits(0x7ff0_0000_0000_0002),
            schema: 3,
            zero_threshold: 1e-128,
            zero_count: HistogramCount::Float(2.5),
            negative_spans: vec![BucketSpan {
                offset: -2,
                length: 1,
            }],
            negative_deltas: vec![4],
            negative_counts: vec![],
            positive_spans: vec![
                BucketSpan {
                    offset: 0,
                    length: 2,
                },
                BucketSpan {
                    offset: 3,
                    length: 1,
                },
            ],
            positive_deltas: vec![1, -1, 2],
            positive_counts: vec![0.5],
            reset_hint: 2,
            custom_values: vec![1.0, 2.0],
        }
    }

    #[test]
    fn every_record_type_round_trips() {
        let labels = [
            LabelRef {
                name: "__name__",
                value: "up",
            },
            LabelRef {
                name: "job",
                value: "é",
            },
        ];
        let owned = vec![
            ("__name__".to_owned(), "up".to_owned()),
            ("job".to_owned(), "é".to_owned()),
        ];
        let mut buf = Vec::new();
        put_series(&mut buf, 3, &labels);
        put_series(&mut buf, 4, &[]);
        assert_eq!(
            decode(RecordType::Series, &buf),
            Ok(Record::Series(vec![
                SeriesRecord {
                    series_ref: 3,
                    labels: owned.clone()
                },
                SeriesRecord {
                    series_ref: 4,
                    labels: vec![]
                },
            ]))
        );
        buf.clear();
        put_sample(&mut buf, 3, -5, 1.5);
        assert_eq!(
            decode(RecordType::Samples, &buf),
            Ok(Record::Samples(vec![RefSample {
                series_ref: 3,
                timestamp_ms: -5,
                value: 1.5
            }]))
        );
        buf.clear();
        put_histogram(&mut buf, 9, &histogram(10));
        let Ok(Record::Histograms(h)) = decode(RecordType::Histograms, &buf) else {
            panic!("histogram record did not decode");
        };
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].histogram.sum.to_bits(), 0x7ff0_0000_0000_0002);
        assert_eq!(h[0].histogram.positive_deltas, [1, -1, 2]);
        assert_eq!(h[0].histogram.custom_values, [1.0, 2.0]);
        buf.clear();
        put_exemplar(&mut buf, 1, 2, 3.0, &labels);
        assert_eq!(
            decode(RecordType::Exemplars, &buf),
            Ok(Record::Exemplars(vec![RefExemplar {
                series_ref: 1,
                timestamp_ms: 2,
                value: 3.0,
                labels: owned
            }]))
        );
        assert_eq!(RecordType::from_byte(0), None);
        assert_eq!(RecordType::from_byte(4), Some(RecordType::Exemplars));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(kind in 1u8..=4, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let kind = RecordType::from_byte(kind).unwrap();
            let _ = decode(kind, &bytes);
        }

        #[test]
        fn truncated_histograms_fail_cleanly(cut in 0usize..200) {
            let mut buf = Vec::new();
            put_histogram(&mut buf, 1, &histogram(5));
            let cut = cut.min(buf.len() - 1);
            prop_assert!(decode(RecordType::Histograms, &buf[..cut]).is_err() || cut == 0);
        }
    }
}
