//! The traces shipper over a temporary WAL and an in-memory bucket: when traces are completed
//! and cut, what lands in the bucket (read back as a querier does: bloom, index, one page),
//! when they are released, and what a restart brings back.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use sextant_model::TenantLimits;
use sextant_proto::ingester::TraceByIdRequest;
use sextant_storage::keys::block_object_key;
use sextant_storage::read_bucket_index;
use sextant_traces::block::{
    read_page, TracesBlockIndex, TracesBlockMeta, TracesBloom, BLOOM_FILE, DATA_FILE, INDEX_FILE,
    META_FILE, SEARCH_FILE,
};
use sextant_traces::model::{Trace, TraceId};

use super::super::tests::{ingester_with, push_request, span, trace};
use super::*;
use crate::block_upload::refresh_bucket_indexes;
use crate::test_support::test_clock;

const TENANT: &str = "t";
const START_S: u64 = 1_700_000_000;

fn config() -> IngesterTracesConfig {
    IngesterTracesConfig {
        trace_idle_period: Duration::from_secs(10),
        max_block_duration: Duration::from_secs(60),
        retain_after_upload: Duration::from_secs(60),
        block_page_size: 1024,
        ..IngesterTracesConfig::default()
    }
}

struct Fixture {
    ingester: Arc<TracesIngester>,
    shipper: Arc<TracesShipper>,
    store: Arc<dyn ObjectStore>,
    /// Seconds since the epoch, read by the ingester's and the shipper's clock.
    clock: Arc<AtomicU64>,
}

impl Fixture {
    async fn new(
        dir: &std::path::Path,
        store: Arc<dyn ObjectStore>,
        config: IngesterTracesConfig,
    ) -> Fixture {
        let clock = Arc::new(AtomicU64::new(START_S));
        let ingester = ingester_with(dir, &config, TenantLimits::default(), test_clock(&clock));
        ingester.replay_all().await.unwrap();
        let mut registry = Registry::default();
        let shipper = TracesShipper::new(
            ingester.clone(),
            config,
            store.clone(),
            "ingester-7",
            &mut registry,
        );
        Fixture {
            ingester,
            shipper,
            store,
            clock,
        }
    }

    fn at(&self, seconds_after_start: u64) {
        self.clock
            .store(START_S + seconds_after_start, Ordering::SeqCst);
    }

    async fn push(&self, traces: &[Trace]) {
        let reply = self
            .ingester
            .push(push_request(TENANT, traces))
            .await
            .unwrap();
        assert!(reply.rejections.is_empty(), "{:?}", reply.rejections);
    }

    /// The span IDs (first byte) the ingester holds of trace `id`, sorted.
    async fn held(&self, id: u8) -> Vec<u8> {
        let request = TraceByIdRequest {
            tenant: TENANT.into(),
            trace_id: vec![id; 16],
            ..TraceByIdRequest::default()
        };
        let bytes = self.ingester.find_trace_by_id(request).await.unwrap().trace;
        if bytes.is_empty() {
            return Vec::new();
        }
        let trace = sextant_traces::search::decode_trace(TraceId([id; 16]), &bytes).unwrap();
        sorted_span_ids(&trace)
    }
}

fn sorted_span_ids(trace: &Trace) -> Vec<u8> {
    let mut ids: Vec<u8> = trace.spans().map(|s| s.span_id[0]).collect();
    ids.sort();
    ids
}

fn two_traces() -> Vec<Trace> {
    vec![
        trace(
            1,
            "api",
            vec![
                span(1, 1, 0, "GET /", 0, 300),
                span(1, 2, 1, "select", 0, 20),
            ],
        ),
        trace(2, "web", vec![span(2, 3, 0, "POST /", 5, 100)]),
    ]
}

/// Every complete block's meta in the bucket, with each of its files' put order (InMemory's
/// e-tags count puts).
async fn stored_blocks(store: &dyn ObjectStore) -> Vec<(TracesBlockMeta, Vec<(String, u64)>)> {
    let prefix = ObjectPath::from(format!("traces/{TENANT}"));
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    let mut out = Vec::new();
    for meta_object in objects
        .iter()
        .filter(|o| o.location.filename() == Some(META_FILE))
    {
        let bytes = store.get(&meta_object.location).await.unwrap();
        let meta = TracesBlockMeta::from_json(&bytes.bytes().await.unwrap()).unwrap();
        let dir = ObjectPath::from(format!("traces/{TENANT}/{}", meta.block_id));
        let mut files: Vec<(String, u64)> = objects
            .iter()
            .filter(|o| o.location.prefix_matches(&dir))
            .map(|o| {
                let order = o.e_tag.as_deref().unwrap_or_default().trim_matches('"');
                let name = o.location.filename().unwrap_or_default().to_owned();
                (name, order.parse().unwrap())
            })
            .collect();
        files.sort_by_key(|(_, order)| *order);
        out.push((meta, files));
    }
    out.sort_by_key(|(meta, _)| meta.min_time_ns);
    out
}

/// Trace `id` read from a block as a querier does: bloom, index, one ranged read of `data`.
async fn read_from_block(store: &dyn ObjectStore, block_id: &str, id: u8) -> Option<Trace> {
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = |file| block_object_key(Signal::Traces, &tenant, block_id, file);
    let get = |file| {
        let key = key(file);
        async move { store.get(&key).await.unwrap().bytes().await.unwrap() }
    };
    let id = TraceId([id; 16]);
    if !TracesBloom::parse(&get(BLOOM_FILE).await)
        .unwrap()
        .may_contain(&id)
    {
        return None;
    }
    let index = TracesBlockIndex::parse(&get(INDEX_FILE).await).unwrap();
    let page = index.page_for(&id)?;
    let bytes = store
        .get_range(&key(DATA_FILE), page.range())
        .await
        .unwrap();
    read_page(&bytes).unwrap().find(&id).unwrap()
}

#[tokio::test]
async fn idle_traces_are_cut_uploaded_meta_last_indexed_then_released() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path(), Arc::new(InMemory::new()), config()).await;
    f.push(&two_traces()).await;

    // (seconds after the push, blocks uploaded so far, live traces)
    let steps = [(0, 0, 2), (9, 0, 2), (10, 0, 0), (69, 0, 0), (70, 1, 0)];
    let mut uploaded = 0;
    for (at, want_blocks, want_live) in steps {
        f.at(at);
        let outcome = f.shipper.ship_due_blocks().await;
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        uploaded += outcome.blocks_uploaded;
        assert_eq!(uploaded, want_blocks, "at {at}");
        let live = f.ingester.metrics.snapshot().0;
        assert_eq!(live, want_live, "at {at}");
    }
    let blocks = stored_blocks(&*f.store).await;
    assert_eq!(blocks.len(), 1);
    let (meta, files) = &blocks[0];
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[4], META_FILE, "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [BLOOM_FILE, DATA_FILE, INDEX_FILE, META_FILE, SEARCH_FILE]
    );
    assert_eq!((meta.traces, meta.spans), (2, 3));
    assert_eq!(meta.source_ingester, "ingester-7");
    let base = super::super::tests::BASE_NS as i64;
    assert_eq!(meta.min_time_ns, base);
    assert_eq!(meta.max_time_ns, base + 5_100_000_000);
    for (id, want) in [(1, vec![1, 2]), (2, vec![3])] {
        let found = read_from_block(&*f.store, &meta.block_id, id)
            .await
            .unwrap();
        assert_eq!(sorted_span_ids(&found), want, "trace {id}");
    }
    assert_eq!(read_from_block(&*f.store, &meta.block_id, 9).await, None);
    let tenant = TenantId::parse(TENANT).unwrap();
    let index = read_bucket_index(&*f.store, Signal::Traces, &tenant)
        .await
        .unwrap()
        .unwrap();
    let listed: Vec<&str> = index.blocks.iter().map(|b| b.block_id.as_str()).collect();
    assert_eq!(listed, [meta.block_id.as_str()]);
    let (shipped, bytes, failures) = f.shipper.metrics().shipped();
    assert_eq!((shipped, failures), (1, 0));
    assert!(bytes > 0);

    // served until retain_after_upload has passed since the upload, then released
    f.at(129);
    f.shipper.ship_due_blocks().await;
    assert_eq!(f.held(1).await, [1, 2]);
    f.at(130);
    f.shipper.ship_due_blocks().await;
    assert_eq!(f.held(1).await, Vec::<u8>::new());
    // and the WAL no longer brings them back
    let dir_path = dir.path().to_owned();
    drop(f);
    let restarted = Fixture::new(&dir_path, Arc::new(InMemory::new()), config()).await;
    assert_eq!(restarted.held(1).await, Vec::<u8>::new());
}

#[tokio::test]
async fn the_flush_route_ships_live_traces_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path(), Arc::new(InMemory::new()), config()).await;
    f.push(&two_traces()).await;
    let router = f.shipper.router(&[TRACES_FLUSH_PATH]);
    let request = axum::http::Request::post(TRACES_FLUSH_PATH)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let blocks = stored_blocks(&*f.store).await;
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0.traces, 2);
    // still served during the retention; spans arriving later start a new fragment
    assert_eq!(f.held(1).await, [1, 2]);
    f.push(&[trace(1, "api", vec![span(1, 4, 1, "late", 1, 5)])])
        .await;
    assert_eq!(f.held(1).await, [1, 2, 4]);
    assert_eq!(f.shipper.flush_blocks().await.blocks_uploaded, 1);
    assert_eq!(stored_blocks(&*f.store).await.len(), 2);

    // an index deleted behind the shipper's back is rebuilt by the refresh at start
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = sextant_storage::keys::bucket_index_key(Signal::Traces, &tenant);
    f.store.delete(&key).await.unwrap();
    assert_eq!(refresh_bucket_indexes(&*f.store, Signal::Traces).await, 1);
    let index = read_bucket_index(&*f.store, Signal::Traces, &tenant)
        .await
        .unwrap();
    assert_eq!(index.map(|i| i.blocks.len()), Some(2));
}

#[tokio::test]
async fn stopping_flushes_with_flush_on_shutdown_else_the_wal_keeps_the_traces() {
    // flush_on_shutdown -> (blocks in the bucket, spans of trace 1 after a restart)
    let cases: [(bool, usize, &[u8]); 2] = [(true, 1, &[]), (false, 0, &[1, 2])];
    for (flush_on_shutdown, want_blocks, want_replayed) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let config = IngesterTracesConfig {
            flush_on_shutdown,
            ..config()
        };
        let f = Fixture::new(dir.path(), store.clone(), config.clone()).await;
        f.push(&two_traces()).await;
        let service = f.shipper.service();
        service.start().await.unwrap();
        service.stop().await.unwrap();
        assert_eq!(
            stored_blocks(&*store).await.len(),
            want_blocks,
            "{flush_on_shutdown}"
        );
        drop(f);
        let restarted = Fixture::new(dir.path(), store, config).await;
        assert_eq!(
            restarted.held(1).await,
            want_replayed,
            "{flush_on_shutdown}"
        );
    }
}

/// An in-memory bucket that accepts `puts_left` more puts, then fails them.
#[derive(Debug)]
struct FlakyStore {
    inner: InMemory,
    puts_left: AtomicU64,
}

impl std::fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Flaky({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FlakyStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        let left = self
            .puts_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if left.is_err() {
            return Err(object_store::Error::Generic {
                store: "flaky",
                source: "storage is down".into(),
            });
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_failed_upload_is_retried_under_the_same_block_id_and_keeps_the_traces() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(FlakyStore {
        inner: InMemory::new(),
        puts_left: AtomicU64::new(u64::MAX),
    });
    let f = Fixture::new(dir.path(), flaky.clone(), config()).await;
    f.push(&two_traces()).await;
    // `data` and `index` are stored, `bloom` fails
    flaky.puts_left.store(2, Ordering::SeqCst);
    let outcome = f.shipper.flush_blocks().await;
    assert_eq!((outcome.blocks_uploaded, outcome.errors.len()), (0, 1));
    assert!(
        outcome.errors[0].contains("uploading block"),
        "{:?}",
        outcome.errors
    );
    assert_eq!(f.shipper.metrics().shipped().2, 1);
    assert_eq!(f.held(2).await, [3]);

    assert!(stored_blocks(&*f.store).await.is_empty());
    flaky.puts_left.store(u64::MAX, Ordering::SeqCst);
    let outcome = f.shipper.ship_due_blocks().await;
    assert_eq!((outcome.blocks_uploaded, outcome.errors.len()), (1, 0));
    let blocks = stored_blocks(&*f.store).await;
    assert_eq!(blocks.len(), 1);
    // the retry rewrote the same block's files: one block directory in the bucket
    let prefix = ObjectPath::from(format!("traces/{TENANT}"));
    let listed = f.store.list_with_delimiter(Some(&prefix)).await.unwrap();
    assert_eq!(listed.common_prefixes.len(), 1);
    assert_eq!(blocks[0].0.traces, 2);
}
