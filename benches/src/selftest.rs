//! Decodes a generated [`Dataset`] back with the `prost` types of `sextant_proto::prometheus`
//! and checks what the replay relies on: counts, label sorting, time order per series, and
//! that a series lives in exactly one shard.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context};
use prost::Message;
use sextant_proto::prometheus::WriteRequest;

use crate::encode::Dataset;

/// What the self-test decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelftestSummary {
    pub requests: usize,
    pub samples: u64,
    pub series: usize,
}

struct SeenSeries {
    shard: usize,
    last_ts: i64,
    samples: usize,
}

pub fn verify(ds: &Dataset) -> anyhow::Result<SelftestSummary> {
    let spec = &ds.spec;
    let mut seen: HashMap<Vec<(String, String)>, SeenSeries> = HashMap::new();
    let mut decoder = snap::raw::Decoder::new();
    let (mut requests, mut samples) = (0, 0u64);
    for (shard, reqs) in ds.shards.iter().enumerate() {
        for (k, req) in reqs.iter().enumerate() {
            let raw = decoder
                .decompress_vec(&req.body)
                .with_context(|| format!("shard {shard} request {k}: snappy"))?;
            ensure!(
                raw.len() == req.raw_len as usize,
                "shard {shard} request {k}: raw length"
            );
            let wr = WriteRequest::decode(raw.as_slice())
                .with_context(|| format!("shard {shard} request {k}: protobuf"))?;
            ensure!(
                wr.timeseries.len() == req.samples as usize,
                "shard {shard} request {k}: series count"
            );
            ensure!(
                wr.timeseries.len() <= spec.batch,
                "shard {shard} request {k}: over the batch size"
            );
            for ts in wr.timeseries {
                ensure!(ts.samples.len() == 1, "one sample per series entry");
                let labels: Vec<(String, String)> =
                    ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
                ensure!(
                    labels.windows(2).all(|w| w[0].0 < w[1].0),
                    "labels not sorted: {labels:?}"
                );
                ensure!(
                    labels.first().is_some_and(|l| l.0 == "__name__"),
                    "no __name__: {labels:?}"
                );
                let t = ts.samples[0].timestamp;
                ensure!(
                    (spec.start_ms()..spec.end_ms).contains(&t),
                    "timestamp {t} out of range"
                );
                let entry = seen.entry(labels).or_insert(SeenSeries {
                    shard,
                    last_ts: i64::MIN,
                    samples: 0,
                });
                ensure!(
                    entry.shard == shard,
                    "series in shards {} and {shard}",
                    entry.shard
                );
                ensure!(
                    t > entry.last_ts,
                    "series out of order: {t} after {}",
                    entry.last_ts
                );
                entry.last_ts = t;
                entry.samples += 1;
            }
            requests += 1;
            samples += u64::from(req.samples);
        }
    }
    ensure!(
        seen.len() == spec.series,
        "{} distinct series, expected {}",
        seen.len(),
        spec.series
    );
    if let Some((l, s)) = seen
        .iter()
        .find(|(_, s)| s.samples != spec.samples_per_series)
    {
        bail!(
            "series {l:?} has {} samples, expected {}",
            s.samples,
            spec.samples_per_series
        );
    }
    Ok(SelftestSummary {
        requests,
        samples,
        series: seen.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{generate, LoadSpec};

    #[test]
    fn generated_datasets_decode_back() {
        let cases = [
            (1, 1, 2000, 1),
            (2000, 3, 2000, 1),
            (3500, 4, 2000, 4),
            (1600, 5, 777, 3),
        ];
        for (series, samples, batch, shards) in cases {
            let spec = LoadSpec {
                series,
                samples_per_series: samples,
                batch,
                shards,
                ..LoadSpec::default()
            };
            let ds = generate(&spec);
            let got = verify(&ds).unwrap();
            assert_eq!(got.samples, (series * samples) as u64);
            assert_eq!(got.series, series);
            assert_eq!(ds.shards.len(), shards);
            let full = ds
                .requests()
                .filter(|r| r.samples as usize == batch)
                .count();
            assert!(
                got.requests - full <= shards,
                "at most one partial request per shard"
            );
        }
    }

    #[test]
    fn detects_a_dropped_request() {
        let spec = LoadSpec {
            series: 3000,
            samples_per_series: 2,
            shards: 2,
            ..LoadSpec::default()
        };
        let mut ds = generate(&spec);
        ds.shards[0].pop();
        assert!(verify(&ds).is_err());
    }
}
