//! Messages that remote write 1.0 and 2.0 share field for field: `Sample`, `Histogram` and
//! `BucketSpan`.

use super::wire::{expect, repeated, zigzag32, zigzag64, DecodeError, Problem, Reader, WireType};
use crate::write::{BucketSpan, Histogram, HistogramCount, Sample};

/// Decodes a `Sample { double value = 1; int64 timestamp = 2; }`.
#[inline]
pub(crate) fn decode_sample(buf: &[u8]) -> Result<Sample, DecodeError> {
    let mut r = Reader::new(buf);
    let mut sample = Sample {
        timestamp_ms: 0,
        value: 0.0,
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect(wt, WireType::Fixed64).map_err(|p| in_field(p, "value"))?;
                sample.value = r.double()?;
            }
            2 => {
                expect(wt, WireType::Varint).map_err(|p| in_field(p, "timestamp"))?;
                sample.timestamp_ms = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(sample)
}

pub(crate) fn in_field(problem: Problem, field: &str) -> DecodeError {
    DecodeError::from(problem).within(field)
}

pub(crate) fn item(problem: Problem, field: &str, index: usize) -> DecodeError {
    DecodeError::from(problem).within_item(field, index)
}

fn empty_histogram() -> Histogram {
    Histogram {
        timestamp_ms: 0,
        count: HistogramCount::Int(0),
        sum: 0.0,
        schema: 0,
        zero_threshold: 0.0,
        zero_count: HistogramCount::Int(0),
        negative_spans: Vec::new(),
        negative_deltas: Vec::new(),
        negative_counts: Vec::new(),
        positive_spans: Vec::new(),
        positive_deltas: Vec::new(),
        positive_counts: Vec::new(),
        reset_hint: 0,
        custom_values: Vec::new(),
    }
}

/// Decodes a native `Histogram` (identical in 1.0 and 2.0).
pub(crate) fn decode_histogram(buf: &[u8]) -> Result<Histogram, DecodeError> {
    let mut r = Reader::new(buf);
    let mut h = empty_histogram();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        decode_histogram_field(&mut r, &mut h, field, wt)
            .map_err(|e| e.within(histogram_field_name(field)))?;
    }
    Ok(h)
}

fn histogram_field_name(field: u32) -> &'static str {
    match field {
        1 => "count_int",
        2 => "count_float",
        3 => "sum",
        4 => "schema",
        5 => "zero_threshold",
        6 => "zero_count_int",
        7 => "zero_count_float",
        8 => "negative_spans",
        9 => "negative_deltas",
        10 => "negative_counts",
        11 => "positive_spans",
        12 => "positive_deltas",
        13 => "positive_counts",
        14 => "reset_hint",
        15 => "timestamp",
        16 => "custom_values",
        _ => "unknown field",
    }
}

fn decode_histogram_field(
    r: &mut Reader<'_>,
    h: &mut Histogram,
    field: u32,
    wt: WireType,
) -> Result<(), DecodeError> {
    use WireType::{Fixed64, Varint};
    let varint = |r: &mut Reader<'_>| -> Result<u64, Problem> {
        expect(wt, Varint)?;
        r.varint()
    };
    let double = |r: &mut Reader<'_>| -> Result<f64, Problem> {
        expect(wt, Fixed64)?;
        r.double()
    };
    let sint64 = |r: &mut Reader<'_>| r.varint().map(zigzag64);
    let f64_ = |r: &mut Reader<'_>| r.double();
    match field {
        1 => h.count = HistogramCount::Int(varint(r)?),
        2 => h.count = HistogramCount::Float(double(r)?),
        3 => h.sum = double(r)?,
        4 => h.schema = zigzag32(varint(r)?),
        5 => h.zero_threshold = double(r)?,
        6 => h.zero_count = HistogramCount::Int(varint(r)?),
        7 => h.zero_count = HistogramCount::Float(double(r)?),
        8 | 11 => {
            expect(wt, WireType::Len)?;
            let span = decode_span(r.bytes()?)?;
            let spans = if field == 8 {
                &mut h.negative_spans
            } else {
                &mut h.positive_spans
            };
            spans.push(span);
        }
        9 => repeated(r, wt, Varint, sint64, push_to(&mut h.negative_deltas))?,
        10 => repeated(r, wt, Fixed64, f64_, push_to(&mut h.negative_counts))?,
        12 => repeated(r, wt, Varint, sint64, push_to(&mut h.positive_deltas))?,
        13 => repeated(r, wt, Fixed64, f64_, push_to(&mut h.positive_counts))?,
        14 => h.reset_hint = varint(r)? as i32,
        15 => h.timestamp_ms = varint(r)? as i64,
        16 => repeated(r, wt, Fixed64, f64_, push_to(&mut h.custom_values))?,
        _ => r.skip(wt)?,
    }
    Ok(())
}

fn push_to<T>(v: &mut Vec<T>) -> impl FnMut(T) -> Result<(), Problem> + '_ {
    move |x| {
        v.push(x);
        Ok(())
    }
}

fn decode_span(buf: &[u8]) -> Result<BucketSpan, Problem> {
    let mut r = Reader::new(buf);
    let mut span = BucketSpan {
        offset: 0,
        length: 0,
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect(wt, WireType::Varint)?;
                span.offset = zigzag32(r.varint()?);
            }
            2 => {
                expect(wt, WireType::Varint)?;
                span.length = r.varint()? as u32;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(span)
}
