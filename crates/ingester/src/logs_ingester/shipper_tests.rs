//! The logs shipper over a temporary WAL and an in-memory bucket: what is cut, what lands in
//! the bucket (read back with byte ranges as a querier does), when the head is truncated.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use sextant_logs::block::{chunk_byte_range, read_logs_chunk, LogsBlockIndex, LogsBlockMeta};
use sextant_logs::db::{LogsDbConfig, LogsFsyncPolicy};
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_logs::push::push_request_from_streams;
use sextant_model::Labels;
use sextant_proto::ingester::LogsPushRequest;
use sextant_storage::keys::block_object_key;
use sextant_storage::read_bucket_index;

use super::*;
use crate::test_support::test_clock;

const SEC: i64 = 1_000_000_000;
/// A multiple of the 60 s blocks, about 2023.
const BASE: i64 = 28_333_333 * 60 * SEC;
const TENANT: &str = "team-a";

fn config() -> IngesterLogsConfig {
    IngesterLogsConfig {
        block_duration: Duration::from_secs(60),
        block_cut_grace: Duration::from_secs(30),
        retain_after_upload: Duration::from_secs(60),
        ..IngesterLogsConfig::default()
    }
}

/// Two streams with one entry every 10 s in `[from_s, to_s)` past [`BASE`].
fn streams(from_s: i64, to_s: i64) -> Vec<Stream> {
    let stream = |app: &str| Stream {
        labels: Labels::from_pairs([("app", app), ("env", "prod")]),
        entries: (from_s..to_s)
            .step_by(10)
            .map(|s| Entry {
                ts_ns: BASE + s * SEC,
                line: format!("{app} line at {s}"),
                metadata: match s % 20 {
                    0 => Labels::from_pairs([("trace_id", "t1")]),
                    _ => Labels::default(),
                },
            })
            .collect(),
    };
    vec![stream("api"), stream("web")]
}

struct Fixture {
    ingester: Arc<LogsIngester>,
    shipper: Arc<LogsShipper>,
    store: Arc<dyn ObjectStore>,
    clock: Arc<AtomicU64>,
}

async fn fixture(
    dir: &std::path::Path,
    store: Arc<dyn ObjectStore>,
    config: IngesterLogsConfig,
) -> Fixture {
    let template = LogsDbConfig {
        fsync: LogsFsyncPolicy::Always,
        ..config.db_template()
    };
    let ingester = Arc::new(LogsIngester::new(dir, template));
    ingester.replay_all().await.unwrap();
    let clock = Arc::new(AtomicU64::new(1000));
    let mut registry = Registry::default();
    let shipper = LogsShipper::new(
        ingester.clone(),
        config,
        store.clone(),
        "ingester-7",
        &mut registry,
    )
    .with_clock(test_clock(&clock));
    Fixture {
        ingester,
        shipper,
        store,
        clock,
    }
}

async fn push(ingester: &LogsIngester, streams: &[Stream]) {
    let request = LogsPushRequest {
        tenant: TENANT.into(),
        push: Some(push_request_from_streams(streams)),
    };
    let reply = ingester.push(request).await.unwrap();
    assert_eq!(reply.entries_rejected, 0, "{:?}", reply.rejections);
}

/// Every complete block's meta in the bucket, oldest data first.
async fn block_metas(store: &dyn ObjectStore) -> Vec<LogsBlockMeta> {
    let prefix = ObjectPath::from(format!("logs/{TENANT}"));
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    let mut metas = Vec::new();
    for o in objects
        .iter()
        .filter(|o| o.location.filename() == Some(META_FILE))
    {
        let bytes = store.get(&o.location).await.unwrap().bytes().await.unwrap();
        metas.push(LogsBlockMeta::from_json(&bytes).unwrap());
    }
    metas.sort_by_key(|m| m.min_time_ns);
    metas
}

/// A block's streams, read as a querier does: the index, then each chunk's byte range.
async fn block_streams(store: &dyn ObjectStore, meta: &LogsBlockMeta) -> Vec<Stream> {
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = |file| block_object_key(Signal::Logs, &tenant, &meta.block_id, file);
    let index = store
        .get(&key(INDEX_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let index = LogsBlockIndex::parse(&index).unwrap();
    let mut out = Vec::new();
    for r in index.select(&[]) {
        let (labels, chunks) = index.stream(r).unwrap();
        let ranges: Vec<_> = chunks.iter().map(chunk_byte_range).collect();
        let fetched = store.get_ranges(&key(CHUNKS_FILE), &ranges).await.unwrap();
        let mut entries = Vec::new();
        for (bytes, chunk) in fetched.iter().zip(chunks) {
            entries.extend(read_logs_chunk(bytes, chunk).unwrap().entries().unwrap());
        }
        out.push(Stream { labels, entries });
    }
    out
}

/// The entries of `streams` in `[from_s, to_s)`.
fn between(streams: &[Stream], from_s: i64, to_s: i64) -> Vec<Stream> {
    streams
        .iter()
        .map(|s| Stream {
            labels: s.labels.clone(),
            entries: s
                .entries
                .iter()
                .filter(|e| BASE + from_s * SEC <= e.ts_ns && e.ts_ns < BASE + to_s * SEC)
                .cloned()
                .collect(),
        })
        .collect()
}

async fn head_times(ingester: &LogsIngester) -> Option<(i64, i64)> {
    let tenant = TenantId::parse(TENANT).unwrap();
    ingester.tenant(&tenant)?.time_range()
}

#[tokio::test]
async fn due_blocks_are_uploaded_indexed_and_read_back_by_byte_range() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path(), Arc::new(InMemory::new()), config()).await;
    let pushed = streams(0, 300);
    push(&f.ingester, &pushed).await;

    // the head spans [0 s, 290 s]: 60 s blocks up to 240 s are due (240 + 30 <= 290)
    let outcome = f.shipper.ship_due_blocks().await;
    assert_eq!((outcome.blocks_uploaded, outcome.errors.len()), (4, 0));
    let metas = block_metas(&*f.store).await;
    assert_eq!(metas.len(), 4);
    for (i, meta) in metas.iter().enumerate() {
        let from = i as i64 * 60;
        assert_eq!(
            (meta.min_time_ns, meta.max_time_ns),
            (BASE + from * SEC, BASE + (from + 50) * SEC)
        );
        assert_eq!((meta.stats.streams, meta.stats.entries), (2, 12));
        assert_eq!(meta.source_ingester, "ingester-7");
        assert_eq!(
            meta.compaction.sources,
            std::slice::from_ref(&meta.block_id)
        );
        assert_eq!(
            block_streams(&*f.store, meta).await,
            between(&pushed, from, from + 60)
        );
    }
    // the bucket index lists them, in covering ms
    let tenant = TenantId::parse(TENANT).unwrap();
    let index = read_bucket_index(&*f.store, Signal::Logs, &tenant)
        .await
        .unwrap()
        .unwrap();
    let listed: Vec<(&str, i64)> = index
        .blocks
        .iter()
        .map(|b| (b.block_id.as_str(), b.min_time_ms))
        .collect();
    let want: Vec<(&str, i64)> = metas
        .iter()
        .map(|m| (m.block_id.as_str(), m.min_time_ns / 1_000_000))
        .collect();
    assert_eq!(listed, want);
    let (shipped, bytes, failures) = f.shipper.metrics().shipped();
    assert_eq!((shipped, failures), (4, 0));
    assert!(bytes > 0);

    // nothing new is due; the head keeps everything until the retention ends
    assert_eq!(f.shipper.ship_due_blocks().await.blocks_uploaded, 0);
    assert_eq!(
        head_times(&f.ingester).await,
        Some((BASE, BASE + 290 * SEC))
    );
    f.clock.store(1060, Ordering::SeqCst);
    f.shipper.ship_due_blocks().await;
    assert_eq!(
        head_times(&f.ingester).await,
        Some((BASE + 240 * SEC, BASE + 290 * SEC))
    );

    // a flush cuts the rest; nothing older than the cut is accepted afterwards
    assert_eq!(f.shipper.flush_blocks().await.blocks_uploaded, 1);
    let metas = block_metas(&*f.store).await;
    assert_eq!(
        block_streams(&*f.store, &metas[4]).await,
        between(&pushed, 240, 300)
    );
    let late = LogsPushRequest {
        tenant: TENANT.into(),
        push: Some(push_request_from_streams(&streams(281, 282))),
    };
    assert_eq!(f.ingester.push(late).await.unwrap().entries_rejected, 2);
}

#[tokio::test]
async fn shipped_ranges_survive_a_restart_and_are_not_cut_again() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let pushed = streams(0, 150);
    {
        let f = fixture(dir.path(), store.clone(), config()).await;
        push(&f.ingester, &pushed).await;
        assert_eq!(f.shipper.ship_due_blocks().await.blocks_uploaded, 1);
    }
    let f = fixture(dir.path(), store.clone(), config()).await;
    // the WAL brings the shipped minute back (served until truncated), it is not cut twice
    assert_eq!(
        head_times(&f.ingester).await,
        Some((BASE, BASE + 140 * SEC))
    );
    // a flush cuts the rest along the same alignment
    assert_eq!(f.shipper.flush_blocks().await.blocks_uploaded, 2);
    let metas = block_metas(&*store).await;
    let ranges: Vec<(i64, i64)> = metas
        .iter()
        .map(|m| ((m.min_time_ns - BASE) / SEC, (m.max_time_ns - BASE) / SEC))
        .collect();
    assert_eq!(ranges, [(0, 50), (60, 110), (120, 140)]);
    // with no retention the next pass truncates head and WAL up to the flushed end
    let f = {
        drop(f);
        let config = IngesterLogsConfig {
            retain_after_upload: Duration::ZERO,
            ..config()
        };
        fixture(dir.path(), store.clone(), config).await
    };
    push(&f.ingester, &streams(150, 160)).await;
    f.shipper.flush_blocks().await;
    assert_eq!(head_times(&f.ingester).await, None);
    let restarted = fixture(dir.path(), store.clone(), config()).await;
    assert_eq!(head_times(&restarted.ingester).await, None);
    assert_eq!(block_metas(&*store).await.len(), 4);
}

#[tokio::test]
async fn flush_route_and_stale_bucket_index_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path(), Arc::new(InMemory::new()), config()).await;
    push(&f.ingester, &streams(0, 30)).await;
    let router = f.shipper.router(&[LOGS_FLUSH_PATH, "/ingester/flush"]);
    for path in [LOGS_FLUSH_PATH, "/ingester/flush"] {
        let request = axum::http::Request::post(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(router.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }
    assert_eq!(block_metas(&*f.store).await.len(), 1);
    // an index deleted behind the shipper's back is rebuilt by the refresh at start
    let tenant = TenantId::parse(TENANT).unwrap();
    let key = sextant_storage::keys::bucket_index_key(Signal::Logs, &tenant);
    f.store.delete(&key).await.unwrap();
    assert_eq!(f.shipper.refresh_bucket_indexes().await, 1);
    let index = read_bucket_index(&*f.store, Signal::Logs, &tenant)
        .await
        .unwrap();
    assert_eq!(index.map(|i| i.blocks.len()), Some(1));
}

#[tokio::test]
async fn stopping_flushes_only_with_flush_on_shutdown() {
    // flush_on_shutdown -> blocks in the bucket after stop
    for (flush_on_shutdown, want) in [(false, 0), (true, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let config = IngesterLogsConfig {
            flush_on_shutdown,
            ..config()
        };
        let f = fixture(dir.path(), Arc::new(InMemory::new()), config).await;
        push(&f.ingester, &streams(0, 30)).await;
        let service = f.shipper.service();
        service.start().await.unwrap();
        service.stop().await.unwrap();
        assert_eq!(
            block_metas(&*f.store).await.len(),
            want,
            "{flush_on_shutdown}"
        );
    }
}
