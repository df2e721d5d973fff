//! Remote write 2.0 (`io.prometheus.write.v2.Request`) decoding into a [`WriteBatch`]: label
//! references are resolved against the symbols table to strings borrowed from the body.

use super::common::{decode_histogram, decode_sample, in_field, item};
use super::wire::{expect, repeated, DecodeError, Problem, Reader, WireType};
use crate::write::{Exemplar, LabelRef, MetricMetadata, SeriesEntry, WriteBatch};
use sextant_model::METRIC_NAME;

/// Decodes a whole `Request` into `out` (appending; callers `clear()` it between requests).
pub(crate) fn decode_request<'a>(
    buf: &'a [u8],
    out: &mut WriteBatch<'a>,
) -> Result<(), DecodeError> {
    // Encoders write symbols (field 4) before timeseries (field 5), but the wire format does not
    // promise an order, so the table is read in a first pass.
    let symbols = read_symbols(buf)?;
    let mut r = Reader::new(buf);
    let mut series_index = 0usize;
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        if field == 5 {
            expect(wt, WireType::Len).map_err(|p| in_field(p, "timeseries"))?;
            let body = r.bytes().map_err(|p| item(p, "timeseries", series_index))?;
            decode_series(body, &symbols, out)
                .map_err(|e| e.within_item("timeseries", series_index))?;
            series_index += 1;
        } else {
            r.skip(wt)?;
        }
    }
    Ok(())
}

fn read_symbols(buf: &[u8]) -> Result<Vec<&str>, DecodeError> {
    let mut symbols = Vec::new();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        if field == 4 {
            let index = symbols.len();
            expect(wt, WireType::Len).map_err(|p| in_field(p, "symbols"))?;
            let symbol = r
                .str()
                .map_err(|p| DecodeError::from(p).within_item("symbols", index))?;
            symbols.push(symbol);
        } else {
            r.skip(wt)?;
        }
    }
    match symbols.first() {
        Some(first) if !first.is_empty() => Err(DecodeError {
            path: "symbols[0]".to_string(),
            problem: Problem::Custom(format!("must be the empty string, got {first:?}")),
        }),
        _ => Ok(symbols),
    }
}

/// Resolves a reference into the symbols table.
#[inline]
fn symbol<'a>(symbols: &[&'a str], reference: u64) -> Result<&'a str, Problem> {
    symbols.get(reference as usize).copied().ok_or_else(|| {
        Problem::Custom(format!(
            "= {reference} is out of range (the symbols table has {} entries)",
            symbols.len()
        ))
    })
}

/// Reads `labels_refs` (packed or not) as (name, value) pairs into `labels`. `pending` holds a
/// name whose value has not arrived yet; `count` counts the references seen so far.
fn read_label_refs<'a>(
    r: &mut Reader<'a>,
    wt: WireType,
    symbols: &[&'a str],
    labels: &mut Vec<LabelRef<'a>>,
    pending: &mut Option<&'a str>,
    count: &mut usize,
) -> Result<(), DecodeError> {
    let mut failed_at = 0;
    repeated(r, wt, WireType::Varint, Reader::varint, |reference| {
        failed_at = *count;
        let text = symbol(symbols, reference)?;
        *count += 1;
        match pending.take() {
            None => *pending = Some(text),
            Some(name) => labels.push(LabelRef { name, value: text }),
        }
        Ok(())
    })
    .map_err(|p| match p {
        Problem::Custom(_) => DecodeError::from(p).within_item("labels_refs", failed_at),
        _ => in_field(p, "labels_refs"),
    })
}

fn odd_refs(count: usize) -> DecodeError {
    DecodeError {
        path: "labels_refs".to_string(),
        problem: Problem::Custom(format!(
            "has an odd number of references ({count}); they must be (name, value) pairs"
        )),
    }
}

/// Decodes one `TimeSeries`.
fn decode_series<'a>(
    buf: &'a [u8],
    symbols: &[&'a str],
    out: &mut WriteBatch<'a>,
) -> Result<(), DecodeError> {
    let mut entry = SeriesEntry {
        labels: out.labels.len() as u32..0,
        samples: out.samples.len() as u32..0,
        histograms: out.histograms.len() as u32..0,
        exemplars: out.exemplars.len() as u32..0,
        raw: 0..0,
    };
    let mut r = Reader::new(buf);
    let (mut pending, mut ref_count) = (None, 0usize);
    let mut counts = [0usize; 5];
    let mut metadata = None;
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        let name = match field {
            1 => {
                read_label_refs(
                    &mut r,
                    wt,
                    symbols,
                    &mut out.labels,
                    &mut pending,
                    &mut ref_count,
                )?;
                continue;
            }
            2 => "samples",
            3 => "histograms",
            4 => "exemplars",
            5 => "metadata",
            _ => {
                r.skip(wt)?;
                continue;
            }
        };
        expect(wt, WireType::Len).map_err(|p| in_field(p, name))?;
        let index = counts[field as usize - 1];
        counts[field as usize - 1] += 1;
        let body = r.bytes().map_err(|p| item(p, name, index))?;
        let result = match field {
            2 => decode_sample(body).map(|s| out.samples.push(s)),
            3 => decode_histogram(body).map(|h| out.histograms.push(h)),
            4 => decode_exemplar(body, symbols, out).map(|e| out.exemplars.push(e)),
            _ => {
                let md = metadata.get_or_insert(MetricMetadata {
                    metric_family_name: "",
                    metric_type: 0,
                    help: "",
                    unit: "",
                });
                // a repeated occurrence of a message field merges into the earlier one
                let result = decode_metadata(body, symbols, md);
                result.map_err(|e| e.within(name))?;
                continue;
            }
        };
        result.map_err(|e| e.within_item(name, index))?;
    }
    if pending.is_some() {
        return Err(odd_refs(ref_count));
    }
    entry.labels.end = out.labels.len() as u32;
    entry.samples.end = out.samples.len() as u32;
    entry.histograms.end = out.histograms.len() as u32;
    entry.exemplars.end = out.exemplars.len() as u32;
    if let Some(md) = metadata {
        push_metadata(
            md,
            &out.labels[entry.labels.start as usize..],
            &mut out.metadata,
        );
    }
    out.series.push(entry);
    Ok(())
}

/// Keeps metadata that says something, named after the series' metric.
fn push_metadata<'a>(
    mut md: MetricMetadata<'a>,
    labels: &[LabelRef<'a>],
    out: &mut Vec<MetricMetadata<'a>>,
) {
    let Some(name) = labels.iter().find(|l| l.name == METRIC_NAME) else {
        return;
    };
    if md.metric_type == 0 && md.help.is_empty() && md.unit.is_empty() {
        return;
    }
    md.metric_family_name = name.value;
    out.push(md);
}

/// Decodes a `Metadata { type = 1; help_ref = 3; unit_ref = 4; }` into `md`.
fn decode_metadata<'a>(
    buf: &'a [u8],
    symbols: &[&'a str],
    md: &mut MetricMetadata<'a>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        let name = match field {
            1 => "type",
            3 => "help_ref",
            4 => "unit_ref",
            _ => {
                r.skip(wt)?;
                continue;
            }
        };
        let read = |r: &mut Reader<'a>| -> Result<u64, Problem> {
            expect(wt, WireType::Varint)?;
            r.varint()
        };
        let value = read(&mut r).map_err(|p| in_field(p, name))?;
        match field {
            1 => md.metric_type = value as i32,
            3 => {
                md.help = symbol(symbols, u64::from(value as u32)).map_err(|p| in_field(p, name))?
            }
            _ => {
                md.unit = symbol(symbols, u64::from(value as u32)).map_err(|p| in_field(p, name))?
            }
        }
    }
    Ok(())
}

/// Decodes an `Exemplar { labels_refs = 1; value = 2; timestamp = 3; }`.
fn decode_exemplar<'a>(
    buf: &'a [u8],
    symbols: &[&'a str],
    out: &mut WriteBatch<'a>,
) -> Result<Exemplar, DecodeError> {
    let mut r = Reader::new(buf);
    let start = out.exemplar_labels.len() as u32;
    let mut exemplar = Exemplar {
        labels: start..start,
        value: 0.0,
        timestamp_ms: 0,
    };
    let (mut pending, mut ref_count) = (None, 0usize);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            1 => read_label_refs(
                &mut r,
                wt,
                symbols,
                &mut out.exemplar_labels,
                &mut pending,
                &mut ref_count,
            )?,
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
    if pending.is_some() {
        return Err(odd_refs(ref_count));
    }
    exemplar.labels.end = out.exemplar_labels.len() as u32;
    Ok(exemplar)
}
