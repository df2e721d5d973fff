//! Remote write 1.0 encoding of decoded series, for forwarding: a `WriteRequest` is the
//! concatenation of its `timeseries` (field 1) and `metadata` (field 3) fields, so series are
//! appended one at a time.

use crate::write::{
    BucketSpan, Exemplar, Histogram, HistogramCount, LabelRef, MetricMetadata, Sample, SeriesEntry,
    WriteBatch,
};

const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;

/// Appends one `WriteRequest.timeseries` field for `series` to `out`. When the series still has
/// its original bytes (`raw` non-empty) and `body` (the decompressed request it was decoded from)
/// is given, they are copied unchanged; otherwise the series is encoded from the batch.
pub fn encode_series_v1(
    batch: &WriteBatch<'_>,
    series: &SeriesEntry,
    body: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    let raw = series.raw.start as usize..series.raw.end as usize;
    if let Some(bytes) = body.filter(|_| !raw.is_empty()).and_then(|b| b.get(raw)) {
        key(out, 1, LEN);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
        return;
    }
    nested(out, 1, |out| {
        for label in batch.series_labels(series) {
            encode_label(out, 1, label);
        }
        for sample in batch.series_samples(series) {
            encode_sample(out, sample);
        }
        for exemplar in batch.series_exemplars(series) {
            encode_exemplar(out, exemplar, batch.exemplar_labels(exemplar));
        }
        for histogram in batch.series_histograms(series) {
            encode_histogram(out, histogram);
        }
    });
}

/// Appends one `WriteRequest.metadata` field to `out`.
pub fn encode_metadata_v1(md: &MetricMetadata<'_>, out: &mut Vec<u8>) {
    nested(out, 3, |out| {
        if md.metric_type != 0 {
            key(out, 1, VARINT);
            varint(out, md.metric_type as i64 as u64);
        }
        string(out, 2, md.metric_family_name);
        string(out, 4, md.help);
        string(out, 5, md.unit);
    });
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Writes a length-delimited field whose payload `f` appends. Room for the longest length
/// prefix is reserved, then the payload is moved down to close the gap.
fn nested(out: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    let prefix_at = out.len();
    out.extend_from_slice(&[0; 5]);
    f(out);
    let payload = out.len() - prefix_at - 5;
    let prefix_len = varint_len(payload as u64);
    out.copy_within(prefix_at + 5.., prefix_at + prefix_len);
    out.truncate(prefix_at + prefix_len + payload);
    let mut prefix = Vec::with_capacity(5);
    varint(&mut prefix, payload as u64);
    out[prefix_at..prefix_at + prefix_len].copy_from_slice(&prefix);
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        key(out, field, LEN);
        varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn int(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, VARINT);
        varint(out, v);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn encode_label(out: &mut Vec<u8>, field: u32, label: &LabelRef<'_>) {
    let len = label_len(label.name) + label_len(label.value);
    key(out, field, LEN);
    varint(out, len as u64);
    string(out, 1, label.name);
    string(out, 2, label.value);
}

fn label_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn encode_sample(out: &mut Vec<u8>, sample: &Sample) {
    let ts = sample.timestamp_ms as u64;
    let len = 9 + if ts == 0 { 0 } else { 1 + varint_len(ts) };
    key(out, 2, LEN);
    varint(out, len as u64);
    double(out, 1, sample.value);
    int(out, 2, ts);
}

fn encode_exemplar(out: &mut Vec<u8>, exemplar: &Exemplar, labels: &[LabelRef<'_>]) {
    nested(out, 3, |out| {
        for label in labels {
            encode_label(out, 1, label);
        }
        double(out, 2, exemplar.value);
        int(out, 3, exemplar.timestamp_ms as u64);
    });
}

fn encode_count(out: &mut Vec<u8>, int_field: u32, count: HistogramCount) {
    match count {
        HistogramCount::Int(n) => {
            key(out, int_field, VARINT);
            varint(out, n);
        }
        HistogramCount::Float(f) => double(out, int_field + 1, f),
    }
}

fn encode_histogram(out: &mut Vec<u8>, h: &Histogram) {
    nested(out, 4, |out| {
        encode_count(out, 1, h.count);
        double(out, 3, h.sum);
        int(out, 4, zigzag(i64::from(h.schema)));
        double(out, 5, h.zero_threshold);
        encode_count(out, 6, h.zero_count);
        encode_spans(out, 8, &h.negative_spans);
        packed_sint64(out, 9, &h.negative_deltas);
        packed_double(out, 10, &h.negative_counts);
        encode_spans(out, 11, &h.positive_spans);
        packed_sint64(out, 12, &h.positive_deltas);
        packed_double(out, 13, &h.positive_counts);
        int(out, 14, h.reset_hint as i64 as u64);
        int(out, 15, h.timestamp_ms as u64);
        packed_double(out, 16, &h.custom_values);
    });
}

fn encode_spans(out: &mut Vec<u8>, field: u32, spans: &[BucketSpan]) {
    for span in spans {
        nested(out, field, |out| {
            int(out, 1, zigzag(i64::from(span.offset)));
            int(out, 2, u64::from(span.length));
        });
    }
}

fn packed_sint64(out: &mut Vec<u8>, field: u32, values: &[i64]) {
    if !values.is_empty() {
        nested(out, field, |out| {
            for v in values {
                varint(out, zigzag(*v));
            }
        });
    }
}

fn packed_double(out: &mut Vec<u8>, field: u32, values: &[f64]) {
    if !values.is_empty() {
        key(out, field, LEN);
        varint(out, values.len() as u64 * 8);
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn nested_closes_the_length_gap() {
        for payload_len in [0usize, 1, 127, 128, 300, 20_000] {
            let mut out = vec![0xaa];
            nested(&mut out, 1, |out| {
                out.extend(std::iter::repeat_n(7u8, payload_len))
            });
            let mut expected = vec![0xaa, 0x0a];
            varint(&mut expected, payload_len as u64);
            expected.extend(std::iter::repeat_n(7u8, payload_len));
            assert_eq!(out, expected, "{payload_len}");
        }
    }
}
