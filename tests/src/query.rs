//! Reading what an ingester holds in memory, through its gRPC `QueryStream`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use sextant_proto::ingester::metrics_ingester_client::MetricsIngesterClient;
use sextant_proto::ingester::MetricsQueryRequest;
use sextant_proto::prometheus::{label_matcher, Label, LabelMatcher, TimeSeries};

/// Longest a whole query may take, connection included.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Every series of `tenant` on the ingester at `grpc_addr`, all of time
/// (`__name__ =~ ".+"`).
pub async fn query_all_series(grpc_addr: SocketAddr, tenant: &str) -> Result<Vec<TimeSeries>> {
    let matchers = vec![LabelMatcher {
        r#type: label_matcher::Type::Re as i32,
        name: "__name__".to_string(),
        value: ".+".to_string(),
    }];
    let request = MetricsQueryRequest {
        tenant: tenant.to_string(),
        start_ms: 0,
        end_ms: i64::MAX,
        matchers,
    };
    tokio::time::timeout(QUERY_TIMEOUT, query_stream(grpc_addr, request))
        .await
        .with_context(|| format!("QueryStream on {grpc_addr} took longer than {QUERY_TIMEOUT:?}"))?
}

async fn query_stream(
    grpc_addr: SocketAddr,
    request: MetricsQueryRequest,
) -> Result<Vec<TimeSeries>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connect to the ingester gRPC at {grpc_addr}"))?;
    let mut client = MetricsIngesterClient::new(channel).max_decoding_message_size(256 << 20);
    let mut stream = client.query_stream(request).await?.into_inner();
    let mut series = Vec::new();
    while let Some(batch) = stream.message().await? {
        series.extend(batch.series);
    }
    Ok(series)
}

/// `{a="1", b="2"}` with labels sorted by name: one key per series whatever the wire order.
pub fn series_key(labels: &[Label]) -> String {
    let mut pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    pairs.sort_unstable();
    let inner: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Samples by series key and timestamp. Values are compared by bit pattern, so NaN (and
/// Prometheus' stale marker) compare equal to themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeriesSet {
    pub series: BTreeMap<String, BTreeMap<i64, u64>>,
}

impl SeriesSet {
    pub fn from_timeseries<'a>(timeseries: impl IntoIterator<Item = &'a TimeSeries>) -> Self {
        let mut set = SeriesSet::default();
        for ts in timeseries {
            let key = series_key(&ts.labels);
            let samples = set.series.entry(key).or_default();
            for s in &ts.samples {
                samples.insert(s.timestamp, s.value.to_bits());
            }
        }
        set
    }

    pub fn insert(&mut self, key: &str, timestamp: i64, value: f64) {
        self.series
            .entry(key.to_string())
            .or_default()
            .insert(timestamp, value.to_bits());
    }

    /// The value at (`key`, `timestamp`), if present.
    pub fn get(&self, key: &str, timestamp: i64) -> Option<f64> {
        self.series
            .get(key)
            .and_then(|s| s.get(&timestamp))
            .map(|&bits| f64::from_bits(bits))
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.series.values().map(BTreeMap::len).sum()
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &SeriesSet) {
        for (key, samples) in &other.series {
            let mine = self.series.entry(key.clone()).or_default();
            mine.extend(samples.iter().map(|(&t, &v)| (t, v)));
        }
    }

    /// Samples of `self` that `other` lacks or holds with another value, as
    /// `(series, timestamp)`, at most `limit` of them.
    pub fn missing_from(&self, other: &SeriesSet, limit: usize) -> Vec<(String, i64)> {
        let mut missing = Vec::new();
        for (key, samples) in &self.series {
            for (&t, &v) in samples {
                if other.series.get(key).and_then(|s| s.get(&t)) != Some(&v) {
                    missing.push((key.clone(), t));
                    if missing.len() >= limit {
                        return missing;
                    }
                }
            }
        }
        missing
    }

    /// How many samples of `self` `other` lacks or holds with another value.
    pub fn count_missing_from(&self, other: &SeriesSet) -> usize {
        self.missing_from(other, usize::MAX).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::series;

    #[test]
    fn key_ignores_wire_label_order() {
        let a = series(&[("__name__", "up"), ("job", "x")], &[]);
        let b = series(&[("job", "x"), ("__name__", "up")], &[]);
        assert_eq!(series_key(&a.labels), series_key(&b.labels));
        assert_eq!(series_key(&a.labels), r#"{__name__="up", job="x"}"#);
    }

    #[test]
    fn missing_compares_values_bitwise() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let pushed = SeriesSet::from_timeseries(&[series(
            &[("__name__", "m")],
            &[(1, 1.0), (2, stale), (3, 3.0)],
        )]);
        let stored = SeriesSet::from_timeseries(&[series(
            &[("__name__", "m")],
            &[(1, 1.0), (2, stale), (3, 4.0)],
        )]);
        assert_eq!(
            pushed.missing_from(&stored, 10),
            vec![(r#"{__name__="m"}"#.to_string(), 3)]
        );
        assert_eq!(pushed.count_missing_from(&pushed), 0);
        let mut union = stored.clone();
        union.merge(&pushed);
        assert_eq!(union.sample_count(), 3);
        assert_eq!(union.get(r#"{__name__="m"}"#, 3), Some(3.0));
    }
}
