//! Block shipping end to end within one ingester: push, tick, find the blocks in the store.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use sextant_metrics::block::{read_chunk, read_histogram_chunk, BlockIndex, BlockMeta};
use sextant_model::Signal;
use sextant_proto::prometheus::histogram::{Count, ZeroCount};

use super::*;
use crate::test_support::test_clock;
use crate::ShipOutcome;

const SECOND: i64 = 1000;

/// 10 s blocks, cut 5 s (half a block) after their end, truncated right after the upload.
fn metrics_config() -> IngesterMetricsConfig {
    IngesterMetricsConfig {
        block_duration: std::time::Duration::from_secs(10),
        replication_factor: 1,
        retain_after_upload: std::time::Duration::ZERO,
        ..IngesterMetricsConfig::default()
    }
}

/// A fixture whose shipper reads the time (in seconds) from `clock`, started.
async fn clocked(dir: &Path, store: Arc<dyn ObjectStore>, clock: &Arc<AtomicU64>) -> Fixture {
    let config = IngesterMetricsConfig {
        retain_after_upload: std::time::Duration::from_secs(60),
        ..metrics_config()
    };
    let mut f = Fixture::with_store(dir, config, store);
    f.ingester = f.ingester.with_clock(test_clock(clock));
    f.started().await
}

/// The times of the `up` samples the ingester serves.
async fn up_times(ingester: &MetricsIngester) -> Vec<i64> {
    let got = query(ingester, vec![matcher(MatchType::Eq, "__name__", "up")]).await;
    got.iter()
        .flat_map(|s| s.samples.iter().map(|s| s.timestamp))
        .collect()
}

fn histogram(ts: i64) -> wire::Histogram {
    wire::Histogram {
        count: Some(Count::CountInt(3)),
        sum: 2.5,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: Some(ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![wire::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![1, 0],
        timestamp: ts,
        ..Default::default()
    }
}

/// `up{job="a"}` every second over [1 s, 25 s], and a native histogram every 5 s.
fn pushed() -> Vec<wire::TimeSeries> {
    let samples: Vec<(i64, f64)> = (1..=25).map(|s| (s * SECOND, s as f64)).collect();
    let mut h = series(&[("__name__", "latency")], &[]);
    h.histograms = (1..=5).map(|i| histogram(i * 5 * SECOND)).collect();
    vec![series(&[("__name__", "up"), ("job", "a")], &samples), h]
}

/// The metas of the complete blocks in the store, by min time.
async fn block_metas(store: &dyn ObjectStore) -> Vec<BlockMeta> {
    let objects: Vec<_> = store
        .list(Some(&ObjectPath::from("metrics/team-a")))
        .try_collect()
        .await
        .unwrap();
    let mut metas = Vec::new();
    for o in objects
        .iter()
        .filter(|o| o.location.filename() == Some("meta.json"))
    {
        let bytes = store.get(&o.location).await.unwrap().bytes().await.unwrap();
        metas.push(BlockMeta::from_json(&bytes).unwrap());
    }
    metas.sort_by_key(|m| m.min_time_ms);
    metas
}

async fn get(store: &dyn ObjectStore, meta: &BlockMeta, file: &str) -> Vec<u8> {
    let key = format!("metrics/team-a/{}/{file}", meta.block_id);
    let result = store.get(&ObjectPath::from(key)).await.unwrap();
    result.bytes().await.unwrap().to_vec()
}

/// (series name, float sample times, histogram times) of a stored block.
async fn block_contents(
    store: &dyn ObjectStore,
    meta: &BlockMeta,
) -> Vec<(String, Vec<i64>, Vec<i64>)> {
    let index = BlockIndex::parse(&get(store, meta, "index").await).unwrap();
    let chunks = get(store, meta, "chunks").await;
    let mut out = Vec::new();
    for r in index.select(&[]) {
        let (labels, metas) = index.series(r).unwrap();
        let floats = metas
            .iter()
            .flat_map(|m| read_chunk(&chunks, m).unwrap().iter().collect::<Vec<_>>())
            .map(|(t, _)| t)
            .collect();
        let hists = index
            .histogram_chunks(r)
            .unwrap()
            .iter()
            .flat_map(|m| read_histogram_chunk(&chunks, m).unwrap().histograms())
            .map(|h| h.timestamp_ms)
            .collect();
        out.push((
            labels.get("__name__").unwrap_or("").to_owned(),
            floats,
            hists,
        ));
    }
    out
}

fn secs(range: std::ops::RangeInclusive<i64>) -> Vec<i64> {
    range.map(|s| s * SECOND).collect()
}

#[tokio::test]
async fn due_blocks_are_cut_uploaded_and_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::with_store(dir.path(), metrics_config(), Arc::new(InMemory::new()))
        .started()
        .await;
    f.ingester.push(push_request(&pushed())).await.unwrap();

    let outcome = f.ingester.ship_due_blocks().await;
    assert_eq!(
        outcome,
        ShipOutcome {
            blocks_uploaded: 2,
            errors: vec![]
        }
    );
    let metas = block_metas(&*f.store).await;
    let ranges: Vec<(i64, i64)> = metas
        .iter()
        .map(|m| (m.min_time_ms, m.max_time_ms))
        .collect();
    assert_eq!(ranges, [(1000, 9000), (10_000, 19_000)]);
    let first = &metas[0];
    assert_eq!((first.compaction.level, first.tenant.as_str()), (1, TENANT));
    assert_eq!(
        first.compaction.sources,
        std::slice::from_ref(&first.block_id)
    );
    assert_eq!(
        (
            first.stats.series,
            first.stats.samples,
            first.stats.histograms
        ),
        (2, 9, 1)
    );
    assert_eq!(first.block_id.len(), 26);
    assert_eq!(
        block_contents(&*f.store, first).await,
        [
            ("latency".to_owned(), vec![], vec![5000]),
            ("up".to_owned(), secs(1..=9), vec![]),
        ]
    );

    let index = sextant_storage::read_bucket_index(
        &*f.store,
        Signal::Metrics,
        &TenantId::parse(TENANT).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let ids: Vec<&str> = index.blocks.iter().map(|b| b.block_id.as_str()).collect();
    assert_eq!(
        ids,
        [metas[0].block_id.as_str(), metas[1].block_id.as_str()]
    );

    // the head keeps only what is not in a block yet; older pushes are refused
    let left = query(&f.ingester, vec![matcher(MatchType::Eq, "__name__", "up")]).await;
    let times: Vec<i64> = left[0].samples.iter().map(|s| s.timestamp).collect();
    assert_eq!(times, secs(20..=25));
    let late = series(&[("__name__", "up"), ("job", "b")], &[(19_999, 1.0)]);
    let err = f.ingester.push(push_request(&[late])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("too old") || err.message().contains("older than"),
        "{}",
        err.message()
    );

    // nothing more is due; a flush cuts the rest
    assert_eq!(f.ingester.ship_due_blocks().await.blocks_uploaded, 0);
    let response = f
        .ingester
        .router()
        .oneshot(
            http::Request::post("/ingester/flush")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let metas = block_metas(&*f.store).await;
    assert_eq!(
        (metas.len(), metas[2].min_time_ms, metas[2].max_time_ms),
        (3, 20_000, 25_000)
    );
    assert!(query(&f.ingester, vec![]).await.is_empty());
}

#[tokio::test]
async fn failed_uploads_keep_the_head_and_retry() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    // a file where the signal's directory belongs makes every upload fail
    let blocker = bucket.path().join("metrics");
    std::fs::write(&blocker, b"").unwrap();
    let store = Arc::new(LocalFileSystem::new_with_prefix(bucket.path()).unwrap());
    let f = Fixture::with_store(dir.path(), metrics_config(), store.clone())
        .started()
        .await;
    f.ingester.push(push_request(&pushed())).await.unwrap();

    let outcome = f.ingester.ship_due_blocks().await;
    assert_eq!((outcome.blocks_uploaded, outcome.errors.len()), (0, 1));
    assert!(
        outcome.errors[0].contains("uploading block"),
        "{:?}",
        outcome.errors
    );
    let all = query(&f.ingester, vec![matcher(MatchType::Eq, "__name__", "up")]).await;
    assert_eq!(all[0].samples.len(), 25, "nothing truncated");

    std::fs::remove_file(&blocker).unwrap();
    let outcome = f.ingester.ship_due_blocks().await;
    assert_eq!(
        outcome,
        ShipOutcome {
            blocks_uploaded: 2,
            errors: vec![]
        }
    );
    assert_eq!(block_metas(&*store).await.len(), 2);
}

#[tokio::test]
async fn data_after_the_cut_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let f = Fixture::with_store(dir.path(), metrics_config(), Arc::new(InMemory::new()))
            .started()
            .await;
        f.ingester.push(push_request(&pushed())).await.unwrap();
        assert_eq!(f.ingester.ship_due_blocks().await.blocks_uploaded, 2);
        f.ingester.service().stop().await.unwrap();
    }
    let f = Fixture::with_store(dir.path(), metrics_config(), Arc::new(InMemory::new()))
        .started()
        .await;
    let got = query(&f.ingester, vec![]).await;
    let times: Vec<(usize, usize)> = got
        .iter()
        .map(|s| (s.samples.len(), s.histograms.len()))
        .collect();
    // latency keeps its 20 s and 25 s histograms, up its samples from 20 s on
    assert_eq!(times, [(0, 2), (6, 0)]);
    // shutdown did not cut partial blocks: the restarted ingester's store is empty too
    assert!(block_metas(&*f.store).await.is_empty());
}

#[tokio::test]
async fn shipped_data_is_served_until_the_retention_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clock = Arc::new(AtomicU64::new(1000));
    let f = clocked(dir.path(), store.clone(), &clock).await;
    f.ingester.push(push_request(&pushed())).await.unwrap();

    assert_eq!(f.ingester.ship_due_blocks().await.blocks_uploaded, 2);
    let metas = block_metas(&*store).await;
    // the second block starts where the first ended although the head kept that range
    assert_eq!(
        block_contents(&*store, &metas[1]).await,
        [
            ("latency".to_owned(), vec![], vec![10_000, 15_000]),
            ("up".to_owned(), secs(10..=19), vec![]),
        ]
    );
    assert_eq!(
        up_times(&f.ingester).await,
        secs(1..=25),
        "nothing truncated"
    );
    let late = series(&[("__name__", "up"), ("job", "a")], &[(19_999, 1.0)]);
    assert!(f.ingester.push(push_request(&[late])).await.is_err());

    // a later range is cut without anything shipped before
    let more: Vec<(i64, f64)> = (26..=35).map(|s| (s * SECOND, s as f64)).collect();
    let more = series(&[("__name__", "up"), ("job", "a")], &more);
    f.ingester.push(push_request(&[more])).await.unwrap();
    clock.store(1030, Ordering::SeqCst);
    assert_eq!(f.ingester.ship_due_blocks().await.blocks_uploaded, 1);
    let metas = block_metas(&*store).await;
    assert_eq!(metas.len(), 3);
    assert_eq!(
        block_contents(&*store, &metas[2]).await,
        [
            ("latency".to_owned(), vec![], vec![20_000, 25_000]),
            ("up".to_owned(), secs(20..=29), vec![]),
        ]
    );
    assert_eq!(up_times(&f.ingester).await, secs(1..=35));

    // (clock, first sample the head still serves) of passes with nothing new to cut
    let passes = [(1059, 1), (1060, 20), (1089, 20), (1090, 30)];
    for (now, first) in passes {
        clock.store(now, Ordering::SeqCst);
        let outcome = f.ingester.ship_due_blocks().await;
        assert_eq!((outcome.blocks_uploaded, outcome.errors.len()), (0, 0));
        assert_eq!(up_times(&f.ingester).await, secs(first..=35), "at {now}");
    }
}

#[tokio::test]
async fn shipped_data_replayed_after_a_restart_is_not_cut_again() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clock = Arc::new(AtomicU64::new(1000));
    {
        let f = clocked(dir.path(), store.clone(), &clock).await;
        f.ingester.push(push_request(&pushed())).await.unwrap();
        assert_eq!(f.ingester.ship_due_blocks().await.blocks_uploaded, 2);
        f.ingester.service().stop().await.unwrap();
    }
    let f = clocked(dir.path(), store.clone(), &clock).await;
    // the WAL brings the shipped range back; it is served, but too old for new samples
    assert_eq!(up_times(&f.ingester).await, secs(1..=25));
    let late = series(&[("__name__", "up"), ("job", "a")], &[(19_999, 1.0)]);
    assert!(f.ingester.push(push_request(&[late])).await.is_err());
    // a flush cuts only what was never shipped
    assert_eq!(f.ingester.flush_blocks().await.blocks_uploaded, 1);
    let metas = block_metas(&*store).await;
    let ranges: Vec<(i64, i64)> = metas
        .iter()
        .map(|m| (m.min_time_ms, m.max_time_ms))
        .collect();
    assert_eq!(ranges, [(1000, 9000), (10_000, 19_000), (20_000, 25_000)]);
    assert_eq!(up_times(&f.ingester).await, secs(1..=25));
    // the next truncation takes the replayed data with it
    clock.store(1060, Ordering::SeqCst);
    f.ingester.ship_due_blocks().await;
    assert!(query(&f.ingester, vec![]).await.is_empty());
}

#[tokio::test]
async fn a_stale_bucket_index_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let f = Fixture::with_store(dir.path(), metrics_config(), store.clone())
        .started()
        .await;
    f.ingester.push(push_request(&pushed())).await.unwrap();
    assert_eq!(f.ingester.ship_due_blocks().await.blocks_uploaded, 2);
    // as if the ingester died between an upload and the index update
    let tenant = TenantId::parse(TENANT).unwrap();
    store
        .delete(&sextant_storage::keys::bucket_index_key(
            Signal::Metrics,
            &tenant,
        ))
        .await
        .unwrap();
    assert_eq!(f.ingester.refresh_bucket_indexes().await, 1);
    let index = sextant_storage::read_bucket_index(&*store, Signal::Metrics, &tenant)
        .await
        .unwrap()
        .expect("an index");
    assert_eq!(index.blocks.len(), 2);
}
