//! Remote write 1.0 (`prometheus.WriteRequest`) decoding into a [`WriteBatch`].

use super::common::{decode_histogram, decode_sample, in_field, item};
use super::wire::{expect, DecodeError, Problem, Reader, WireType};
use crate::write::{Exemplar, LabelRef, MetricMetadata, SeriesEntry, WriteBatch};

/// Decodes a whole `WriteRequest` into `out` (appending; callers `clear()` it between requests).
pub(crate) fn decode_request<'a>(
    buf: &'a [u8],
    out: &mut WriteBatch<'a>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(buf);
    let (mut series_index, mut metadata_index) = (0usize, 0usize);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect(wt, WireType::Len).map_err(|p| in_field(p, "timeseries"))?;
                let body = r.bytes().map_err(|p| item(p, "timeseries", series_index))?;
                let raw_start = (r.pos() - body.len()) as u32;
                decode_series(body, raw_start, out)
                    .map_err(|e| e.within_item("timeseries", series_index))?;
                series_index += 1;
            }
            3 => {
                expect(wt, WireType::Len).map_err(|p| in_field(p, "metadata"))?;
                let body = r.bytes().map_err(|p| item(p, "metadata", metadata_index))?;
                let md =
                    decode_metadata(body).map_err(|e| e.within_item("metadata", metadata_index))?;
                out.metadata.push(md);
                metadata_index += 1;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(())
}

/// Decodes one `TimeSeries`; `raw_start` is the offset of `buf` in the request body.
fn decode_series<'a>(
    buf: &'a [u8],
    raw_start: u32,
    out: &mut WriteBatch<'a>,
) -> Result<(), DecodeError> {
    let mut entry = SeriesEntry {
        labels: out.labels.len() as u32..0,
        samples: out.samples.len() as u32..0,
        histograms: out.histograms.len() as u32..0,
        exemplars: out.exemplars.len() as u32..0,
        raw: raw_start..raw_start + buf.len() as u32,
    };
    let mut r = Reader::new(buf);
    let mut counts = [0usize; 5];
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        let name = match field {
            1 => "labels",
            2 => "samples",
            3 => "exemplars",
            4 => "histograms",
            _ => {
                r.skip(wt)?;
                continue;
            }
        };
        expect(wt, WireType::Len).map_err(|p| in_field(p, name))?;
        let index = counts[field as usize];
        counts[field as usize] += 1;
        let body = r.bytes().map_err(|p| item(p, name, index))?;
        let result = match field {
            1 => decode_label(body).map(|l| out.labels.push(l)),
            2 => decode_sample(body).map(|s| out.samples.push(s)),
            3 => decode_exemplar(body, out).map(|e| out.exemplars.push(e)),
            _ => decode_histogram(body).map(|h| out.histograms.push(h)),
        };
        result.map_err(|e| e.within_item(name, index))?;
    }
    entry.labels.end = out.labels.len() as u32;
    entry.samples.end = out.samples.len() as u32;
    entry.histograms.end = out.histograms.len() as u32;
    entry.exemplars.end = out.exemplars.len() as u32;
    out.series.push(entry);
    Ok(())
}

/// Decodes a `Label { string name = 1; string value = 2; }`.
#[inline]
fn decode_label(buf: &[u8]) -> Result<LabelRef<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    let mut label = LabelRef {
        name: "",
        value: "",
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => label.name = read_str(&mut r, wt).map_err(|p| in_field(p, "name"))?,
            2 => label.value = read_str(&mut r, wt).map_err(|p| in_field(p, "value"))?,
            _ => r.skip(wt)?,
        }
    }
    Ok(label)
}

#[inline]
fn read_str<'a>(r: &mut Reader<'a>, wt: WireType) -> Result<&'a str, Problem> {
    expect(wt, WireType::Len)?;
    r.str()
}

/// Decodes an `Exemplar`, pushing its labels onto `out.exemplar_labels`.
fn decode_exemplar<'a>(buf: &'a [u8], out: &mut WriteBatch<'a>) -> Result<Exemplar, DecodeError> {
    let mut r = Reader::new(buf);
    let start = out.exemplar_labels.len() as u32;
    let mut exemplar = Exemplar {
        labels: start..start,
        value: 0.0,
        timestamp_ms: 0,
    };
    let mut label_index = 0;
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect(wt, WireType::Len).map_err(|p| in_field(p, "labels"))?;
                let body = r.bytes().map_err(|p| item(p, "labels", label_index))?;
                let label = decode_label(body).map_err(|e| e.within_item("labels", label_index))?;
                out.exemplar_labels.push(label);
                label_index += 1;
            }
            2 => {
                expect(wt, WireType::Fixed64).map_err(|p| in_field(p, "value"))?;
                exemplar.value = r.double()?;
            }
            3 => {
                expect(wt, WireType::Varint).map_err(|p| in_field(p, "timestamp"))?;
                exemplar.timestamp_ms = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    exemplar.labels.end = out.exemplar_labels.len() as u32;
    Ok(exemplar)
}

/// Decodes a `MetricMetadata`.
fn decode_metadata(buf: &[u8]) -> Result<MetricMetadata<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    let mut md = MetricMetadata {
        metric_family_name: "",
        metric_type: 0,
        help: "",
        unit: "",
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => {
                expect(wt, WireType::Varint).map_err(|p| in_field(p, "type"))?;
                md.metric_type = r.varint()? as i32;
            }
            2 => {
                md.metric_family_name =
                    read_str(&mut r, wt).map_err(|p| in_field(p, "metric_family_name"))?
            }
            4 => md.help = read_str(&mut r, wt).map_err(|p| in_field(p, "help"))?,
            5 => md.unit = read_str(&mut r, wt).map_err(|p| in_field(p, "unit"))?,
            _ => r.skip(wt)?,
        }
    }
    Ok(md)
}
