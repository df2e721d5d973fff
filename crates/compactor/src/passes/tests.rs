//! The standard passes end to end through `Compactor::run_once`: an in-memory bucket, real
//! engine blocks, the real clock (block data placed relative to it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use sextant_metrics::block::{read_chunk, BlockIndex, SeriesRef};
use sextant_metrics::downsample::AGGREGATE_LABEL;
use sextant_storage::keys::block_object_key;
use sextant_storage::{list_blocks, new_block_id, read_bucket_index, update_bucket_index};

use super::*;
use crate::config::CompactorConfig;
use crate::deletion::{
    list_log_deletion_requests, mark_tenant_for_deletion, put_log_deletion_request,
    tenant_deletion_status, LogDeletionRequest, LogDeletionStatus,
};
use crate::service::{Compactor, RunSummary};
use crate::sharding::CompactorSharding;
use crate::signals::fixtures::{logs_block, metrics_block, TENANT};
use crate::signals::{read_compaction_meta, SourceBlock, META_FILE};

const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MIN_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const NS_PER_MS: i64 = 1_000_000;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// The start of the UTC day `days` ago.
fn day_start(days: i64) -> i64 {
    (now_ms() / DAY_MS - days) * DAY_MS
}

/// A block id made a day ago: past the first-level wait.
fn old_block_id() -> String {
    new_block_id(SystemTime::now() - Duration::from_secs(86_400))
}

/// `up` every 15s over `[start, start + 2h)`.
fn two_hours(start_ms: i64) -> Vec<(i64, f64)> {
    (0..480)
        .map(|i| (start_ms + i * 15_000, i as f64))
        .collect()
}

/// Uploads `block` as an ingester does (data files, `meta.json` last) and updates the index.
async fn upload(store: &dyn ObjectStore, signal: Signal, tenant: &TenantId, block: &SourceBlock) {
    let data = block.files.iter().filter(|(f, _)| f.as_str() != META_FILE);
    let meta = block.files.iter().filter(|(f, _)| f.as_str() == META_FILE);
    for (file, bytes) in data.chain(meta) {
        let key = block_object_key(signal, tenant, &block.block_id, file);
        store
            .put(&key, PutPayload::from(bytes.clone()))
            .await
            .unwrap();
    }
    update_bucket_index(store, signal, tenant).await.unwrap();
}

/// Uploads a metrics block of `up` over `[start, start + 2h)`; returns its id.
async fn upload_metrics(store: &dyn ObjectStore, tenant: &TenantId, start_ms: i64) -> String {
    let id = old_block_id();
    let block = metrics_block(&id, &[("up", two_hours(start_ms))]);
    upload(store, Signal::Metrics, tenant, &block).await;
    id
}

struct Setup {
    store: Arc<InMemory>,
    compactor: Compactor,
    registry: Registry,
}

fn setup(
    signal: Signal,
    downsampling: bool,
    limits: impl Fn(&TenantId) -> TenantLimits + Send + Sync + 'static,
) -> Setup {
    let store = Arc::new(InMemory::new());
    let mut config = CompactorConfig::default();
    config.downsampling.enabled = downsampling;
    let mut registry = Registry::default();
    let shards = vec![(signal, CompactorSharding::single("compactor-1"))];
    let compactor = Compactor::new(config, store.clone(), shards, &mut registry).unwrap();
    let limits: CompactorTenantLimits = Arc::new(move |t| Arc::new(limits(t)));
    let compactor = compactor.with_standard_passes(limits, &mut registry);
    Setup {
        store,
        compactor,
        registry,
    }
}

fn no_limits(_: &TenantId) -> TenantLimits {
    TenantLimits::default()
}

async fn run(setup: &Setup) -> RunSummary {
    let summary = setup.compactor.run_once().await.unwrap();
    assert!(summary.errors.is_empty(), "{summary:?}");
    summary
}

/// The tenant's listed metrics blocks as (resolution, sources), sorted, and their ids.
async fn metrics_blocks(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> (Vec<(i64, Vec<String>)>, BTreeSet<String>) {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for b in list_blocks(store, Signal::Metrics, tenant).await.unwrap() {
        let key = block_object_key(Signal::Metrics, tenant, &b.block_id, META_FILE);
        let bytes = store.get(&key).await.unwrap().bytes().await.unwrap();
        let meta = read_compaction_meta(Signal::Metrics, &b.block_id, &bytes).unwrap();
        let mut sources = meta.sources;
        sources.sort();
        out.push((b.resolution_ms, sources));
        ids.insert(b.block_id);
    }
    out.sort();
    (out, ids)
}

/// Per aggregate of a downsampled block: (samples, sum of values).
async fn aggregates(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    block_id: &str,
) -> BTreeMap<String, (usize, f64)> {
    let get = |file: &str| {
        let key = block_object_key(Signal::Metrics, tenant, block_id, file);
        async move { store.get(&key).await.unwrap().bytes().await.unwrap() }
    };
    let (index, chunks) = (get("index").await, get("chunks").await);
    let index = BlockIndex::parse(&index).unwrap();
    let mut out = BTreeMap::new();
    for r in 0..index.num_series() {
        let (labels, metas) = index.series(SeriesRef(r as u32)).unwrap();
        let aggregate = labels.get(AGGREGATE_LABEL).unwrap_or_default().to_owned();
        let entry: &mut (usize, f64) = out.entry(aggregate).or_default();
        for meta in &metas {
            for (_, v) in read_chunk(&chunks, meta).unwrap().iter() {
                *entry = (entry.0 + 1, entry.1 + v);
            }
        }
    }
    out
}

fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

#[tokio::test]
async fn old_raw_blocks_get_5m_and_1h_copies_once_and_fresh_ones_none() {
    let s = setup(Signal::Metrics, true, no_limits);
    let t = tenant(TENANT);
    let store = s.store.as_ref();
    // two days of one 14-day window (`downsampling.block_range`), long past
    let window_start = day_start(60).div_euclid(14 * DAY_MS) * 14 * DAY_MS;
    let first = upload_metrics(store, &t, window_start).await;
    let second = upload_metrics(store, &t, window_start + 2 * DAY_MS).await;
    let fresh = upload_metrics(store, &t, now_ms() - 3 * HOUR_MS).await;

    let summary = run(&s).await;
    assert_eq!(
        (summary.jobs, summary.blocks_downsampled),
        (0, 4),
        "{summary:?}"
    );
    let (blocks, _) = metrics_blocks(store, &t).await;
    let mut expected = vec![(0, vec![fresh.clone()])];
    for resolution in [0, 300_000, HOUR_MS] {
        expected.push((resolution, vec![first.clone()]));
        expected.push((resolution, vec![second.clone()]));
    }
    expected.sort();
    assert_eq!(blocks, expected);
    let text = metrics_text(&s.registry);
    for line in [
        r#"sextant_compactor_blocks_downsampled_total{resolution="5m"} 2"#,
        r#"sextant_compactor_blocks_downsampled_total{resolution="1h"} 2"#,
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }

    // the 5m copy of 2h of 15s samples from an aligned start: windows are `(k·5m, (k+1)·5m]`,
    // so the first sample closes a window of its own, then 24 windows hold the other 479
    let index = read_bucket_index(store, Signal::Metrics, &t).await.unwrap();
    let blocks = index.unwrap().blocks;
    let copy = blocks.iter().find(|b| b.resolution_ms == 300_000).unwrap();
    let got = aggregates(store, &t, &copy.block_id).await;
    assert_eq!(got["count"], (25, 480.0), "{got:?}");
    assert_eq!(got["sum"], (25, (0..480).sum::<i32>() as f64), "{got:?}");
    // the last sample of each window: 0, then 20, 40, ... 479
    let maxima = (0..24).map(|k| (20 * k + 20).min(479)).sum::<i32>();
    assert_eq!(got["max"], (25, f64::from(maxima)), "{got:?}");

    // the next run merges the daily copies of each resolution into their window, once
    let again = run(&s).await;
    assert_eq!((again.blocks_downsampled, again.jobs), (0, 2), "{again:?}");
    let (blocks, ids) = metrics_blocks(store, &t).await;
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    let mut expected = vec![
        (0, vec![fresh.clone()]),
        (0, vec![first.clone()]),
        (0, vec![second.clone()]),
        (300_000, both.clone()),
        (HOUR_MS, both),
    ];
    expected.sort();
    assert_eq!(blocks, expected);
    let listed = list_blocks(store, Signal::Metrics, &t).await.unwrap();
    let merged = listed.iter().find(|b| b.resolution_ms == 300_000).unwrap();
    let got = aggregates(store, &t, &merged.block_id).await;
    assert_eq!(got["count"], (50, 960.0), "{got:?}");
    let third = run(&s).await;
    assert_eq!((third.blocks_downsampled, third.jobs), (0, 0), "{third:?}");
    assert_eq!(metrics_blocks(store, &t).await.1, ids);
}

#[tokio::test]
async fn a_compactor_downsamples_only_the_blocks_of_the_windows_it_owns() {
    let store = InMemory::new();
    let t = tenant(TENANT);
    let owned = upload_metrics(&store, &t, day_start(60)).await;
    let other = upload_metrics(&store, &t, day_start(58)).await;
    let listed = list_blocks(&store, Signal::Metrics, &t).await.unwrap();
    let mut cache = crate::runner::MetaCache::new();
    let compaction = crate::signals::MetricsCompaction;
    let blocks = crate::runner::planner_blocks(&store, &compaction, &t, &listed, &mut cache)
        .await
        .unwrap();
    let mut registry = Registry::default();
    let config = crate::config::DownsamplingConfig::default();
    let downsampler = crate::downsample::Downsampler::new(&config, &mut registry);
    let busy = std::collections::HashSet::new();
    let owns = |b: &crate::planner::PlannerBlock| b.sources.contains(&owned);
    let scope = crate::downsample::DownsampleScope {
        busy: &busy,
        owns: &owns,
    };
    let outcome = downsampler
        .run(&store, &t, "compactor-1", blocks, &scope, now_ms())
        .await
        .unwrap();
    assert_eq!(outcome.blocks_downsampled, 2, "{outcome:?}");
    let (blocks, _) = metrics_blocks(&store, &t).await;
    let mut expected = vec![
        (0, vec![owned.clone()]),
        (0, vec![other]),
        (300_000, vec![owned.clone()]),
        (HOUR_MS, vec![owned]),
    ];
    expected.sort();
    assert_eq!(blocks, expected);
}

#[tokio::test]
async fn merged_raw_blocks_replace_the_downsampled_copies_of_their_parts() {
    let s = setup(Signal::Metrics, true, no_limits);
    let t = tenant(TENANT);
    let store = s.store.as_ref();
    let a = upload_metrics(store, &t, day_start(50)).await;
    assert_eq!(run(&s).await.blocks_downsampled, 2);
    let copies_of_a = metrics_blocks(store, &t).await.1;

    // a late block of the same 12h window: merged with `a`, then downsampled again
    let b = upload_metrics(store, &t, day_start(50) + 2 * HOUR_MS).await;
    let summary = run(&s).await;
    assert_eq!(summary.jobs, 1, "{summary:?}");
    assert_eq!(summary.blocks_downsampled, 2, "{summary:?}");
    assert_eq!(summary.redundant_marked, 2, "{summary:?}");
    let both = vec![a.clone(), b.clone()];
    let expected = [0, 300_000, HOUR_MS].map(|r| (r, both.clone())).to_vec();
    assert_eq!(metrics_blocks(store, &t).await.0, expected);
    let index = read_bucket_index(store, Signal::Metrics, &t).await.unwrap();
    let marked: BTreeSet<String> = index
        .unwrap()
        .deletion_marks
        .into_iter()
        .map(|m| m.block_id)
        .collect();
    assert!(copies_of_a.is_subset(&marked), "{copies_of_a:?} {marked:?}");
    assert!(marked.contains(&b), "{marked:?}");

    let again = run(&s).await;
    let work = (again.jobs, again.blocks_downsampled, again.redundant_marked);
    assert_eq!(work, (0, 0, 0), "{again:?}");
}

#[tokio::test]
async fn retention_applies_each_tenants_limits() {
    let short = tenant("short");
    let s = setup(Signal::Metrics, false, |t| {
        let mut limits = TenantLimits::default();
        if t.as_str() == "short" {
            limits.compactor_blocks_retention_period = Duration::from_secs(7 * 86_400);
        }
        limits
    });
    let store = s.store.as_ref();
    let long = tenant("long");
    let mut fresh = Vec::new();
    for t in [&short, &long] {
        upload_metrics(store, t, day_start(30)).await;
        fresh.push(upload_metrics(store, t, now_ms() - 3 * HOUR_MS).await);
    }
    let summary = run(&s).await;
    assert_eq!(summary.tenants, 2, "{summary:?}");
    let kept = metrics_blocks(store, &short).await.1;
    assert_eq!(kept, BTreeSet::from([fresh[0].clone()]));
    assert_eq!(metrics_blocks(store, &long).await.1.len(), 2);
    let text = metrics_text(&s.registry);
    let line = r#"sextant_compactor_retention_blocks_deleted_total{signal="metrics"} 1"#;
    assert!(text.contains(line), "{text}");
}

/// Three replicas of one old 2h range: one compaction job.
async fn upload_replicas(store: &dyn ObjectStore, tenant: &TenantId) {
    for _ in 0..3 {
        upload_metrics(store, tenant, day_start(2)).await;
    }
}

#[tokio::test]
async fn a_tenant_marked_for_deletion_is_emptied_and_never_compacted() {
    let s = setup(Signal::Metrics, false, no_limits);
    let store = s.store.as_ref();
    let (gone, kept) = (tenant("gone"), tenant("kept"));
    upload_replicas(store, &gone).await;
    upload_replicas(store, &kept).await;
    mark_tenant_for_deletion(store, &gone, &[Signal::Metrics], now_ms())
        .await
        .unwrap();

    // without the standard passes the marked tenant is still skipped
    let plain_store: Arc<dyn ObjectStore> = s.store.clone();
    let shards = vec![(Signal::Metrics, CompactorSharding::single("c-2"))];
    let plain = Compactor::new(
        CompactorConfig::default(),
        plain_store,
        shards,
        &mut Registry::default(),
    )
    .unwrap();
    let summary = plain.run_once().await.unwrap();
    assert_eq!(
        (summary.jobs, summary.tenants_deleted),
        (1, 0),
        "{summary:?}"
    );
    assert_eq!(metrics_blocks(store, &gone).await.1.len(), 3);

    let summary = run(&s).await;
    assert_eq!(
        (summary.jobs, summary.tenants_deleted),
        (0, 1),
        "{summary:?}"
    );
    assert_eq!(summary.blocks_deleted, 3, "{summary:?}");
    let status = tenant_deletion_status(store, &gone, &[Signal::Metrics]);
    assert!(status.await.unwrap().blocks_deleted);
    assert_eq!(metrics_blocks(store, &kept).await.1.len(), 1);

    // late uploads of the deleted tenant go too, uncompacted
    upload_replicas(store, &gone).await;
    let summary = run(&s).await;
    assert_eq!(
        (summary.jobs, summary.tenants_deleted),
        (0, 1),
        "{summary:?}"
    );
    let status = tenant_deletion_status(store, &gone, &[Signal::Metrics]);
    assert!(status.await.unwrap().blocks_deleted);
}

fn deletion_request(id: &str, query: &str, created_at_ms: i64) -> LogDeletionRequest {
    LogDeletionRequest {
        request_id: id.into(),
        query: query.into(),
        start_time_ms: 0,
        end_time_ms: now_ms(),
        created_at_ms,
        status: LogDeletionStatus::Received,
        entries_deleted: 0,
        processed_at_ms: 0,
        applied_through_ms: 0,
    }
}

/// Each request of the tenant as (id, status, entries deleted).
async fn requests(store: &dyn ObjectStore, t: &TenantId) -> Vec<(String, LogDeletionStatus, u64)> {
    let requests = list_log_deletion_requests(store, t).await.unwrap();
    let view = requests.into_iter();
    view.map(|r| (r.request_id, r.status, r.entries_deleted))
        .collect()
}

#[tokio::test]
async fn log_deletion_requests_are_applied_by_run_once() {
    let s = setup(Signal::Logs, false, no_limits);
    let store = s.store.as_ref();
    let (t, quiet) = (tenant(TENANT), tenant("quiet"));
    let ts = |minutes_ago: i64| (now_ms() - minutes_ago * MIN_MS) * NS_PER_MS;
    let streams = [
        ("api", vec![(ts(90), "ok"), (ts(80), "secret token")]),
        ("web", vec![(ts(70), "secret web")]),
    ];
    let original = old_block_id();
    upload(store, Signal::Logs, &t, &logs_block(&original, &streams)).await;
    let due = now_ms() - HOUR_MS;
    let requests_in = [
        (
            &t,
            deletion_request("due", r#"{app="api"} |= "secret""#, due),
        ),
        (&t, deletion_request("recent", r#"{app="web"}"#, now_ms())),
        (&quiet, deletion_request("no-blocks", r#"{app="api"}"#, due)),
    ];
    for (tenant, request) in &requests_in {
        put_log_deletion_request(store, tenant, request)
            .await
            .unwrap();
    }

    let summary = run(&s).await;
    assert_eq!(summary.tenants, 2, "{summary:?}");
    use LogDeletionStatus::{Processed, Received};
    assert_eq!(
        requests(store, &t).await,
        [("due".into(), Processed, 1), ("recent".into(), Received, 0)]
    );
    assert_eq!(
        requests(store, &quiet).await,
        [("no-blocks".into(), Processed, 0)]
    );
    let blocks = list_blocks(store, Signal::Logs, &t).await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_ne!(blocks[0].block_id, original, "the block was rewritten");
    let text = metrics_text(&s.registry);
    for line in [
        "sextant_compactor_deletion_requests_processed_total 2",
        "sextant_compactor_log_entries_deleted_total 1",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
}
