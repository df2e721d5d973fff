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
    let text = LabelText::new(buf);
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
            1 => decode_label(body, text.as_ref()).map(|l| out.labels.push(l)),
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

/// The leading run of `labels` fields of one `TimeSeries`, checked as UTF-8 in one pass.
///
/// Validating 18 short strings one by one costs more than decoding them. Senders put the labels
/// first, and with lengths under 128 the tags and lengths are ASCII too, so the whole run is
/// usually valid UTF-8: then each label string is a slice of that one checked `&str`.
/// Strings outside the run, or not on its char boundaries, are checked on their own.
struct LabelText<'a> {
    base: usize,
    text: &'a str,
}

impl<'a> LabelText<'a> {
    fn new(series: &'a [u8]) -> Option<Self> {
        let mut end = 0;
        // field 1, wire type LEN, with a one-byte length
        while series.get(end) == Some(&0x0a) {
            let len = *series.get(end + 1)?;
            if len >= 0x80 {
                break;
            }
            let next = end + 2 + len as usize;
            if next > series.len() {
                break;
            }
            end = next;
        }
        let text = std::str::from_utf8(&series[..end]).ok()?;
        Some(LabelText {
            base: series.as_ptr() as usize,
            text,
        })
    }

    /// `bytes` as a `&str` when it lies within the checked run on char boundaries.
    fn get(&self, bytes: &'a [u8]) -> Option<&'a str> {
        let start = (bytes.as_ptr() as usize).checked_sub(self.base)?;
        self.text.get(start..start + bytes.len())
    }
}

/// Decodes a `Label { string name = 1; string value = 2; }`.
#[inline]
fn decode_label<'a>(
    buf: &'a [u8],
    text: Option<&LabelText<'a>>,
) -> Result<LabelRef<'a>, DecodeError> {
    let mut r = Reader::new(buf);
    let mut label = LabelRef {
        name: "",
        value: "",
    };
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => label.name = read_str(&mut r, wt, text).map_err(|p| in_field(p, "name"))?,
            2 => label.value = read_str(&mut r, wt, text).map_err(|p| in_field(p, "value"))?,
            _ => r.skip(wt)?,
        }
    }
    Ok(label)
}

#[inline]
fn read_str<'a>(
    r: &mut Reader<'a>,
    wt: WireType,
    text: Option<&LabelText<'a>>,
) -> Result<&'a str, Problem> {
    expect(wt, WireType::Len)?;
    let bytes = r.bytes()?;
    match text.and_then(|t| t.get(bytes)) {
        Some(s) => Ok(s),
        None => std::str::from_utf8(bytes).map_err(|_| Problem::InvalidUtf8),
    }
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
                let label =
                    decode_label(body, None).map_err(|e| e.within_item("labels", label_index))?;
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
                    read_str(&mut r, wt, None).map_err(|p| in_field(p, "metric_family_name"))?
            }
            4 => md.help = read_str(&mut r, wt, None).map_err(|p| in_field(p, "help"))?,
            5 => md.unit = read_str(&mut r, wt, None).map_err(|p| in_field(p, "unit"))?,
            _ => r.skip(wt)?,
        }
    }
    Ok(md)
}
