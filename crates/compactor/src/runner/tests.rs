use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use prometheus_client::registry::Registry;
use sextant_storage::{list_blocks, list_partial_blocks, read_bucket_index};

use super::*;
use crate::config::CompactorConfig;
use crate::service::Compactor;
use crate::sharding::CompactorSharding;
use crate::signals::fixtures::{metrics_block, metrics_samples, TENANT};
use crate::signals::signal_compaction;

fn tenant() -> TenantId {
    TenantId::parse(TENANT).unwrap()
}

/// Stores `block` as an ingester does: files, `meta.json` last, then the index.
async fn ship(store: &dyn ObjectStore, block: &SourceBlock) {
    let mut files: Vec<(&'static str, bytes::Bytes)> = Vec::new();
    for (name, bytes) in &block.files {
        if name != META_FILE {
            files.push((Box::leak(name.clone().into_boxed_str()), bytes.clone()));
        }
    }
    files.push((META_FILE, block.files[META_FILE].clone()));
    let merged = MergedBlock { files };
    upload_block(store, Signal::Metrics, &tenant(), &block.block_id, &merged)
        .await
        .unwrap();
    update_index(store, Signal::Metrics, &tenant())
        .await
        .unwrap();
}

/// Three replicas of 2h of samples of two series (ids of now), and the distinct samples.
fn replicas() -> (Vec<SourceBlock>, BTreeSet<(String, i64, u64)>) {
    let samples: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, i as f64)).collect();
    let blocks: Vec<SourceBlock> = (0..3)
        .map(|_| {
            let id = new_block_id(SystemTime::now());
            metrics_block(&id, &[("up", samples.clone()), ("cpu", samples.clone())])
        })
        .collect();
    let want = blocks.iter().flat_map(metrics_samples).collect();
    (blocks, want)
}

/// Every sample a reader of the bucket index sees, checking no block is both listed and
/// marked.
async fn visible(store: &dyn ObjectStore) -> (usize, BTreeSet<(String, i64, u64)>) {
    let compaction = signal_compaction(Signal::Metrics);
    let blocks = list_blocks(store, Signal::Metrics, &tenant())
        .await
        .unwrap();
    if let Some(index) = read_bucket_index(store, Signal::Metrics, &tenant())
        .await
        .unwrap()
    {
        let listed: BTreeSet<&str> = index.blocks.iter().map(|b| b.block_id.as_str()).collect();
        assert_eq!(listed.len(), index.blocks.len(), "a block listed twice");
        for mark in &index.deletion_marks {
            assert!(
                !listed.contains(mark.block_id.as_str()),
                "listed and marked"
            );
        }
    }
    let mut samples = BTreeSet::new();
    for b in &blocks {
        let block = download_block(store, compaction.as_ref(), &tenant(), &b.block_id)
            .await
            .unwrap();
        samples.extend(metrics_samples(&block));
    }
    (blocks.len(), samples)
}

fn config() -> CompactorConfig {
    CompactorConfig {
        first_level_compaction_wait_period: Duration::ZERO,
        partial_block_deletion_delay: Duration::from_millis(1),
        ..CompactorConfig::default()
    }
}

fn compactor(store: Arc<dyn ObjectStore>, config: CompactorConfig) -> Compactor {
    let shards = vec![(Signal::Metrics, CompactorSharding::single("compactor-1"))];
    Compactor::new(config, store, shards, &mut Registry::default()).unwrap()
}

#[tokio::test]
async fn a_job_merges_rf3_replicas_into_one_block_and_marks_them() {
    let store = InMemory::new();
    let (blocks, want) = replicas();
    for b in &blocks {
        ship(&store, b).await;
    }
    let mut sources: Vec<String> = blocks.iter().map(|b| b.block_id.clone()).collect();
    sources.sort();
    let job = CompactionJob {
        tenant: tenant(),
        signal: Signal::Metrics,
        group_key: "0-7200000-0".into(),
        sources: sources.clone(),
        target_level: 2,
        range_start_ms: 0,
        range_end_ms: 7_200_000,
    };
    let compaction = signal_compaction(Signal::Metrics);
    let outcome = run_job(&store, &compaction, "compactor-1", &job)
        .await
        .unwrap();
    assert_eq!(outcome.blocks_compacted, 3);
    assert!(
        outcome.output_bytes * 2 < outcome.source_bytes,
        "{outcome:?}"
    );
    let index = read_bucket_index(&store, Signal::Metrics, &tenant())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(index.blocks.len(), 1);
    assert_eq!(Some(&index.blocks[0].block_id), outcome.new_block.as_ref());
    assert_eq!(
        (
            index.blocks[0].compaction_level,
            index.blocks[0].source.as_str()
        ),
        (2, "compactor-1")
    );
    let marked: Vec<String> = index
        .deletion_marks
        .iter()
        .map(|m| m.block_id.clone())
        .collect();
    assert_eq!(marked, sources);
    assert_eq!(visible(&store).await, (1, want));
}

#[tokio::test]
async fn cleanup_deletes_marked_blocks_and_partial_blocks_after_their_delays() {
    let store = InMemory::new();
    let (blocks, _) = replicas();
    for b in &blocks {
        ship(&store, b).await;
    }
    let t = tenant();
    mark_block_for_deletion(&store, Signal::Metrics, &t, &blocks[0].block_id)
        .await
        .unwrap();
    let partial = block_object_key(Signal::Metrics, &t, "01PARTIAL", "index");
    store
        .put(&partial, PutPayload::from_static(b"x"))
        .await
        .unwrap();
    let settings = CleanupSettings {
        deletion_delay_ms: 60_000,
        partial_block_deletion_delay_ms: 60_000,
    };
    // (now offset, blocks deleted, partial blocks deleted)
    for (offset_ms, want) in [(0, (0, 0)), (120_000, (1, 1)), (240_000, (0, 0))] {
        let got = cleanup_tenant(&store, Signal::Metrics, &t, settings, now_ms() + offset_ms)
            .await
            .unwrap();
        assert_eq!(
            (got.blocks_deleted, got.partial_blocks_deleted),
            want,
            "{offset_ms}"
        );
    }
    let index = read_bucket_index(&store, Signal::Metrics, &t)
        .await
        .unwrap()
        .unwrap();
    assert!(index.deletion_marks.is_empty());
    assert_eq!(index.blocks.len(), 2);
    let prefix = sextant_storage::keys::block_prefix(Signal::Metrics, &t, &blocks[0].block_id);
    let left: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(store.list(Some(&prefix)))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(list_partial_blocks(&store, Signal::Metrics, &t)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_run_killed_at_any_write_leaves_every_sample_visible_and_the_next_run_completes() {
    let mut completed = None;
    for puts_allowed in 0..60u64 {
        let flaky = Arc::new(FlakyStore::new());
        let (blocks, want) = replicas();
        for b in &blocks {
            ship(flaky.as_ref(), b).await;
        }
        flaky.puts_left.store(puts_allowed, Ordering::SeqCst);
        let store: Arc<dyn ObjectStore> = flaky.clone();
        let killed = compactor(store.clone(), config()).run_once().await;
        let used = puts_allowed - flaky.puts_left.load(Ordering::SeqCst);
        let (_, seen) = visible(flaky.as_ref()).await;
        assert_eq!(seen, want, "after {puts_allowed} writes");

        flaky.puts_left.store(u64::MAX, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let next = compactor(store, config()).run_once().await.unwrap();
        assert!(next.errors.is_empty(), "{next:?}");
        assert_eq!(
            visible(flaky.as_ref()).await,
            (1, want.clone()),
            "after {puts_allowed}"
        );
        let t = tenant();
        let index = read_bucket_index(flaky.as_ref(), Signal::Metrics, &t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            index.deletion_marks.len(),
            3,
            "after {puts_allowed}: {index:?}"
        );
        assert!(list_partial_blocks(flaky.as_ref(), Signal::Metrics, &t)
            .await
            .unwrap()
            .is_empty());
        if killed.is_ok_and(|s| s.errors.is_empty()) && used < puts_allowed {
            completed = Some(puts_allowed);
            break;
        }
    }
    // every write of a whole run was a crash point once
    let writes = completed.expect("a run never completed within 60 writes");
    assert!(writes >= 10, "only {writes} crash points");
}

/// An in-memory bucket that accepts `puts_left` more puts, then fails them (a killed process
/// writes nothing more).
#[derive(Debug)]
struct FlakyStore {
    inner: InMemory,
    puts_left: AtomicU64,
}

impl FlakyStore {
    fn new() -> Self {
        FlakyStore {
            inner: InMemory::new(),
            puts_left: AtomicU64::new(u64::MAX),
        }
    }
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
                source: "killed".into(),
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
