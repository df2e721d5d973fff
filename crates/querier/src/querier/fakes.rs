//! In-memory collaborators for the querier's tests: ingesters behind
//! [`IngesterQueryClients`], a ring of them, and an object store that records what it served.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use parking_lot::Mutex;
use sextant_metrics::block::{BlockSource, BlockWriter, CHUNKS_FILE, INDEX_FILE, META_FILE};
use sextant_metrics::chunk::XorAppender;
use sextant_model::{Labels, Matcher, Signal, TenantId};
use sextant_proto::ingester::{
    MetricsLabelsRequest, MetricsMetadataRequest, MetricsQueryRequest, MetricsSeriesRequest,
    SeriesLabels,
};
use sextant_proto::prometheus::{self as wire, MetricMetadata, TimeSeries};
use sextant_ring::{InstanceState, TokenRing};
use sextant_storage::keys;
use tonic::Status;

use crate::ingesters::fakes::{fake_ring, FakeIngesterPool, MayFail};
use crate::ingesters::IngesterQueryClients;

/// A series with float samples, as the tests write it.
pub(super) type Data = (Labels, Vec<(i64, f64)>);

pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// One fake ingester: its series and metadata, or a failure.
#[derive(Clone, Default)]
pub(super) struct FakeIngester {
    pub(super) series: Vec<Data>,
    pub(super) metadata: Vec<MetricMetadata>,
    pub(super) fail: bool,
}

impl FakeIngester {
    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
        start: i64,
        end: i64,
    ) -> impl Iterator<Item = &'a Data> + 'a {
        self.series.iter().filter(move |(l, samples)| {
            matchers
                .iter()
                .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
                && samples.iter().any(|&(t, _)| start <= t && t <= end)
        })
    }
}

impl MayFail for FakeIngester {
    fn fails(&self) -> bool {
        self.fail
    }
}

/// Ingesters by address; records the address of every request.
pub(super) type FakeIngesters = FakeIngesterPool<FakeIngester>;

fn from_wire(matchers: &[wire::LabelMatcher]) -> Vec<Matcher> {
    matchers
        .iter()
        .map(|m| sextant_proto::matcher_from_wire(m).unwrap())
        .collect()
}

fn to_wire(l: &Labels) -> Vec<wire::Label> {
    l.iter()
        .map(|l| wire::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

impl FakeIngesters {
    fn answer<T: Send + 'static>(
        &self,
        addr: &str,
        f: impl FnOnce(&FakeIngester) -> T,
    ) -> BoxFuture<'static, Result<T, Status>> {
        let result = self.reach(addr).map(f);
        Box::pin(async move { result })
    }

    fn labels(i: &FakeIngester, r: &MetricsLabelsRequest, name: Option<&str>) -> Vec<String> {
        let matchers = from_wire(&r.matchers);
        let set: BTreeSet<String> = i
            .matching(&matchers, r.start_ms, r.end_ms)
            .flat_map(|(l, _)| l.iter())
            .filter_map(|l| match name {
                None => Some(l.name.clone()),
                Some(n) => (l.name == n).then(|| l.value.clone()),
            })
            .collect();
        set.into_iter().collect()
    }
}

impl IngesterQueryClients for FakeIngesters {
    fn query_stream(
        &self,
        addr: &str,
        r: MetricsQueryRequest,
    ) -> BoxFuture<'static, Result<Vec<TimeSeries>, Status>> {
        self.answer(addr, |i| {
            let matchers = from_wire(&r.matchers);
            i.matching(&matchers, r.start_ms, r.end_ms)
                .map(|(l, samples)| TimeSeries {
                    labels: to_wire(l),
                    samples: samples
                        .iter()
                        .filter(|&&(t, _)| r.start_ms <= t && t <= r.end_ms)
                        .map(|&(timestamp, value)| wire::Sample { value, timestamp })
                        .collect(),
                    ..TimeSeries::default()
                })
                .collect()
        })
    }

    fn label_names(
        &self,
        addr: &str,
        r: MetricsLabelsRequest,
    ) -> BoxFuture<'static, Result<Vec<String>, Status>> {
        self.answer(addr, |i| Self::labels(i, &r, None))
    }

    fn label_values(
        &self,
        addr: &str,
        r: MetricsLabelsRequest,
    ) -> BoxFuture<'static, Result<Vec<String>, Status>> {
        self.answer(addr, |i| Self::labels(i, &r, Some(&r.label_name)))
    }

    fn series(
        &self,
        addr: &str,
        r: MetricsSeriesRequest,
    ) -> BoxFuture<'static, Result<Vec<SeriesLabels>, Status>> {
        self.answer(addr, |i| {
            let mut out: BTreeSet<Labels> = BTreeSet::new();
            for set in &r.matcher_sets {
                let matchers = from_wire(&set.matchers);
                out.extend(
                    i.matching(&matchers, r.start_ms, r.end_ms)
                        .map(|(l, _)| l.clone()),
                );
            }
            out.iter()
                .map(|l| SeriesLabels { labels: to_wire(l) })
                .collect()
        })
    }

    fn metadata(
        &self,
        addr: &str,
        _r: MetricsMetadataRequest,
    ) -> BoxFuture<'static, Result<Vec<MetricMetadata>, Status>> {
        self.answer(addr, |i| i.metadata.clone())
    }
}

/// A ring of `(id, addr, state, heartbeat_ms)` instances with RF 3.
pub(super) fn ring(instances: &[(&str, &str, InstanceState, i64)]) -> Arc<TokenRing> {
    fake_ring(instances, 1_000_000)
}

/// Writes a block of `series` (one chunk per 4 samples) under the tenant's prefix.
pub(super) async fn put_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: &str,
    mut series: Vec<Data>,
) {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut writer = BlockWriter::new();
    for (l, samples) in &series {
        let chunks: Vec<_> = samples
            .chunks(4)
            .map(|part| {
                let mut a = XorAppender::new();
                for &(t, v) in part {
                    assert!(a.append(t, v));
                }
                a.finish()
            })
            .collect();
        writer.add_series(l, &chunks).unwrap();
    }
    let block = writer.finish(BlockSource {
        block_id: id.to_string(),
        tenant: tenant.to_string(),
        ..BlockSource::default()
    });
    let files = [
        (INDEX_FILE, block.index),
        (CHUNKS_FILE, block.chunks),
        (META_FILE, block.meta.to_json()),
    ];
    for (file, bytes) in files {
        let key = keys::block_object_key(Signal::Metrics, tenant, id, file);
        store.put(&key, PutPayload::from(bytes)).await.unwrap();
    }
}

/// An in-memory store that records how many bytes each object served.
#[derive(Debug, Default)]
pub(super) struct CountingStore {
    inner: InMemory,
    served: Mutex<HashMap<String, u64>>,
}

impl CountingStore {
    /// Bytes served from objects whose key ends with `suffix`.
    pub(super) fn served(&self, suffix: &str) -> u64 {
        self.served
            .lock()
            .iter()
            .filter(|(k, _)| k.ends_with(suffix))
            .map(|(_, v)| v)
            .sum()
    }

    pub(super) fn reset(&self) {
        self.served.lock().clear();
    }

    pub(super) async fn size(&self, key: &Path) -> u64 {
        self.inner.head(key).await.unwrap().size
    }

    fn record(&self, location: &Path, bytes: u64) {
        *self.served.lock().entry(location.to_string()).or_default() += bytes;
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let result = self.inner.get_opts(location, options).await?;
        self.record(location, result.range.end - result.range.start);
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let result = self.inner.get_ranges(location, ranges).await?;
        self.record(location, result.iter().map(|b| b.len() as u64).sum());
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
