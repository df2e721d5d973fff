//! Remote write 1.0 encoding of a simulated load into ready-to-send, snappy-compressed
//! requests, sharded by series hash so that one request in flight per shard never reorders a
//! series (Prometheus' queue manager model).
//!
//! Encoding is by hand: each series' labels are encoded once, and every sample appends
//! `TimeSeries{labels, samples: [one sample]}` to the request, as Prometheus does. The
//! `prost` types of `sextant_proto::prometheus` decode the result in tests and `--selftest`.

use bytes::Bytes;

use crate::catalogue::Catalogue;
use crate::simulate::Simulator;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub series: usize,
    pub samples_per_series: usize,
    pub interval_ms: i64,
    /// Timestamp just after the last round; rounds are `end - samples * interval ..`.
    pub end_ms: i64,
    /// Samples per request (Prometheus' `max_samples_per_send`).
    pub batch: usize,
    /// Shards = concurrent senders.
    pub shards: usize,
    pub seed: u64,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            series: 10_000,
            samples_per_series: 10,
            interval_ms: 30_000,
            end_ms: 1_735_689_600_000, // 2025-01-01T00:00:00Z, as gen.py
            batch: 2000,
            shards: 8,
            seed: 42,
        }
    }
}

impl LoadSpec {
    pub fn start_ms(&self) -> i64 {
        self.end_ms - self.samples_per_series as i64 * self.interval_ms
    }
}

/// One snappy-compressed `WriteRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRequest {
    pub body: Bytes,
    pub samples: u32,
    pub raw_len: u32,
}

/// Everything to replay, per shard in send order.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub spec: LoadSpec,
    pub shards: Vec<Vec<EncodedRequest>>,
    pub nodes: usize,
    pub pods: usize,
    pub avg_labels_per_series: f64,
}

impl Dataset {
    pub fn total_samples(&self) -> u64 {
        self.requests().map(|r| u64::from(r.samples)).sum()
    }

    pub fn compressed_bytes(&self) -> u64 {
        self.requests().map(|r| r.body.len() as u64).sum()
    }

    pub fn raw_bytes(&self) -> u64 {
        self.requests().map(|r| u64::from(r.raw_len)).sum()
    }

    pub fn requests(&self) -> impl Iterator<Item = &EncodedRequest> {
        self.shards.iter().flatten()
    }
}

pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_bytes_field(buf: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    buf.push(tag);
    put_varint(buf, payload.len() as u64);
    buf.extend_from_slice(payload);
}

/// The repeated `Label` fields (field 1) of a `TimeSeries`.
pub fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut label = Vec::new();
    for (name, value) in labels {
        label.clear();
        put_bytes_field(&mut label, 0x0a, name.as_bytes());
        put_bytes_field(&mut label, 0x12, value.as_bytes());
        put_bytes_field(&mut out, 0x0a, &label);
    }
    out
}

/// Appends `timeseries: TimeSeries{labels, samples: [Sample{value, timestamp}]}` (field 1 of
/// `WriteRequest`). Timestamps are non-negative here, so the int64 varint is the plain one.
pub fn put_series_sample(buf: &mut Vec<u8>, encoded_labels: &[u8], value: f64, timestamp_ms: i64) {
    let ts = timestamp_ms.max(0) as u64;
    let sample_len = 1 + 8 + 1 + varint_len(ts);
    let series_len = encoded_labels.len() + 1 + varint_len(sample_len as u64) + sample_len;
    buf.push(0x0a);
    put_varint(buf, series_len as u64);
    buf.extend_from_slice(encoded_labels);
    buf.push(0x12);
    put_varint(buf, sample_len as u64);
    buf.push(0x09);
    buf.extend_from_slice(&value.to_le_bytes());
    buf.push(0x10);
    put_varint(buf, ts);
}

/// Which shard a series goes to: a hash of its label set.
pub fn shard_of(labels: &[(String, String)], shards: usize) -> usize {
    let mut h = crc32fast::Hasher::new();
    for (n, v) in labels {
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xfe]);
    }
    h.finalize() as usize % shards.max(1)
}

/// The requests of one shard, and the one being filled.
#[derive(Default)]
struct RequestBuilder {
    pending: Vec<u8>,
    pending_samples: usize,
    requests: Vec<EncodedRequest>,
}

impl RequestBuilder {
    fn push(
        &mut self,
        encoder: &mut snap::raw::Encoder,
        batch: usize,
        labels: &[u8],
        value: f64,
        ts: i64,
    ) {
        put_series_sample(&mut self.pending, labels, value, ts);
        self.pending_samples += 1;
        if self.pending_samples >= batch {
            self.flush(encoder);
        }
    }

    fn flush(&mut self, encoder: &mut snap::raw::Encoder) {
        if self.pending_samples == 0 {
            return;
        }
        // compress_vec only fails for inputs above ~4 GiB; batches are far smaller
        let body = encoder.compress_vec(&self.pending).unwrap_or_default();
        self.requests.push(EncodedRequest {
            body: Bytes::from(body),
            samples: self.pending_samples as u32,
            raw_len: self.pending.len() as u32,
        });
        self.pending.clear();
        self.pending_samples = 0;
    }
}

/// Simulates `spec.samples_per_series` scrape rounds and encodes them. Deterministic for a
/// given spec. Batches run continuously over round boundaries (a request may hold the end of
/// one round and the start of the next), each series' samples in time order within its shard.
pub fn generate(spec: &LoadSpec) -> Dataset {
    let cat = Catalogue::build(spec.series, spec.seed);
    let interval = spec.interval_ms.max(1);
    let shard_count = spec.shards.max(1);
    // per shard: (scrape offset within the interval, catalogue index, encoded labels)
    let mut series: Vec<Vec<(i64, usize, Vec<u8>)>> = vec![Vec::new(); shard_count];
    for (i, s) in cat.series.iter().enumerate() {
        let offset = i64::from(s.target_hash) % interval;
        series[shard_of(&s.labels, shard_count)].push((offset, i, encode_labels(&s.labels)));
    }
    for sh in &mut series {
        sh.sort_by_key(|(offset, i, _)| (*offset, *i));
    }
    let mut out: Vec<RequestBuilder> = (0..shard_count)
        .map(|_| RequestBuilder::default())
        .collect();
    let mut sim = Simulator::new(&cat, spec.seed, interval as f64 / 1000.0);
    let mut encoder = snap::raw::Encoder::new();
    for round in 0..spec.samples_per_series {
        sim.step();
        let base = spec.start_ms() + round as i64 * interval;
        for (sh, builder) in series.iter().zip(&mut out) {
            for (offset, i, labels) in sh {
                builder.push(
                    &mut encoder,
                    spec.batch.max(1),
                    labels,
                    sim.values()[*i],
                    base + offset,
                );
            }
        }
    }
    for builder in &mut out {
        builder.flush(&mut encoder);
    }
    Dataset {
        spec: spec.clone(),
        shards: out.into_iter().map(|b| b.requests).collect(),
        nodes: cat.nodes,
        pods: cat.pods,
        avg_labels_per_series: cat.avg_labels_per_series(),
    }
}

/// Steady-state requests for benches: `rounds` requests, each holding every one of `series`
/// series once (one scrape round per request), one shard, timestamps ending at `end_ms`.
pub fn steady_state_requests(series: usize, rounds: usize, end_ms: i64) -> Vec<EncodedRequest> {
    let spec = LoadSpec {
        series,
        samples_per_series: rounds,
        end_ms,
        batch: series,
        shards: 1,
        ..LoadSpec::default()
    };
    generate(&spec).shards.swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;
    use sextant_proto::prometheus::WriteRequest;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [0, 1, 127, 128, 16_383, 16_384, 1 << 42, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
    }

    proptest! {
        #[test]
        fn series_samples_decode_with_prost(
            entries in proptest::collection::vec(
                (proptest::collection::vec(("[a-z_]{1,12}", ".{0,40}"), 0..12), any::<f64>(), 0i64..(1 << 50)),
                0..20,
            )
        ) {
            let mut buf = Vec::new();
            for (labels, value, ts) in &entries {
                put_series_sample(&mut buf, &encode_labels(labels), *value, *ts);
            }
            let wr = WriteRequest::decode(buf.as_slice()).unwrap();
            prop_assert_eq!(wr.timeseries.len(), entries.len());
            for (got, (labels, value, ts)) in wr.timeseries.iter().zip(&entries) {
                let got_labels: Vec<(String, String)> =
                    got.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                prop_assert_eq!(&got_labels, labels);
                prop_assert_eq!(got.samples.len(), 1);
                prop_assert_eq!(got.samples[0].value.to_bits(), value.to_bits());
                prop_assert_eq!(got.samples[0].timestamp, *ts);
            }
        }
    }

    #[test]
    fn steady_state_requests_hold_one_round_each() {
        let reqs = steady_state_requests(2000, 3, 1_000_000_000_000);
        assert_eq!(reqs.len(), 3);
        assert!(reqs.iter().all(|r| r.samples == 2000));
        // realistic label payload: ~9 labels of long-ish values
        let per_sample = reqs[0].raw_len as f64 / 2000.0;
        assert!(
            (120.0..400.0).contains(&per_sample),
            "{per_sample} bytes per sample"
        );
    }
}
