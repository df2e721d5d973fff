use std::time::Duration;

use axum::body::Body;
use object_store::memory::InMemory;
use tower::ServiceExt;

use super::*;
use crate::signals::fixtures::TENANT;

#[tokio::test]
async fn the_service_runs_on_start_and_stops() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut registry = Registry::default();
    let config = CompactorConfig {
        compaction_interval: Duration::from_millis(20),
        ..CompactorConfig::default()
    };
    let shards = vec![(Signal::Logs, CompactorSharding::single("c-1"))];
    let compactor = Arc::new(Compactor::new(config, store, shards, &mut registry).unwrap());
    let service = CompactorService::new(compactor);
    assert_eq!(service.name(), "compactor");
    service.start().await.unwrap();
    let ran = async {
        loop {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            if text.contains(r#"sextant_compactor_runs_total{signal="logs",outcome="success"} 2"#) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ran)
        .await
        .unwrap();
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_ring_page_lists_each_signal() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let shards = vec![
        (Signal::Metrics, CompactorSharding::single("c-1")),
        (Signal::Traces, CompactorSharding::single("c-1")),
    ];
    let compactor = Compactor::new(
        CompactorConfig::default(),
        store,
        shards,
        &mut Registry::default(),
    );
    let router = compactor_router(Arc::new(compactor.unwrap()));
    // (query, content type prefix, body fragment)
    let cases = [
        (
            "?format=json",
            "application/json",
            r#""name":"compactor-metrics","sharded":false"#,
        ),
        ("", "text/html", "<h2>compactor-traces</h2>"),
    ];
    for (query, content_type, fragment) in cases {
        let request = ::http::Request::get(format!("/compactor/ring{query}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let ct = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with(content_type), "{ct}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains(fragment), "{body}");
    }
    assert_eq!(TENANT, "team-a");
}

mod two_compactors {
    use sextant_ring::{InMemoryCluster, Lifecycler, LifecyclerConfig, Ring};

    use super::*;
    use crate::runner::{update_index, upload_block};
    use crate::signals::fixtures::metrics_block;
    use crate::signals::{MergedBlock, META_FILE};

    const HOUR_MS: i64 = 3_600_000;

    /// Three replicas of each of `windows` 2h windows, uploaded long ago.
    async fn ship_replicas(store: &dyn ObjectStore, windows: i64) {
        let tenant = TenantId::parse(TENANT).unwrap();
        let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for w in 0..windows {
            let samples: Vec<(i64, f64)> = (0..10)
                .map(|i| (w * 2 * HOUR_MS + i * 60_000, i as f64))
                .collect();
            for _ in 0..3 {
                let id = sextant_storage::new_block_id(old);
                let block = metrics_block(&id, &[("up", samples.clone())]);
                let files = ["index", "chunks", META_FILE]
                    .map(|f| (f, block.files[f].clone()))
                    .to_vec();
                let merged = MergedBlock { files };
                upload_block(store, Signal::Metrics, &tenant, &id, &merged)
                    .await
                    .unwrap();
            }
        }
        update_index(store, Signal::Metrics, &tenant).await.unwrap();
    }

    struct Member {
        lifecycler: Lifecycler,
        compactor: Compactor,
    }

    async fn member(cluster: &InMemoryCluster, id: &str, store: Arc<dyn ObjectStore>) -> Member {
        let kv = cluster.join(id);
        let ring_config = LifecyclerConfig {
            instance_id: id.into(),
            instance_addr: format!("{id}:9095"),
            num_tokens: 64,
            ..LifecyclerConfig::default()
        };
        let name = "compactor-metrics";
        let lifecycler = Lifecycler::new(ring_config.clone(), name, kv.clone()).unwrap();
        lifecycler.start().await.unwrap();
        let ring = Arc::new(Ring::new(name, kv, ring_config.replication_config(1)));
        let shards = vec![(Signal::Metrics, CompactorSharding::new(ring, id))];
        let compactor = Compactor::new(
            CompactorConfig {
                block_ranges: vec![Duration::from_secs(7200)],
                ..CompactorConfig::default()
            },
            store,
            shards,
            &mut Registry::default(),
        )
        .unwrap();
        Member {
            lifecycler,
            compactor,
        }
    }

    /// Waits until every member's ring view holds `n` ACTIVE instances.
    async fn settle(members: &[&Member], n: usize) {
        let settled = async {
            loop {
                let ok = members.iter().all(|m| {
                    let ring = m.compactor.shards[0].sharding.ring().unwrap();
                    let instances = ring.instances();
                    let active = instances
                        .iter()
                        .filter(|d| d.state == sextant_ring::InstanceState::Active);
                    active.count() == n && instances.len() == n
                });
                if ok {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), settled)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn two_compactors_share_the_jobs_and_one_takes_over_when_the_other_leaves() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        ship_replicas(store.as_ref(), 24).await;
        let cluster = InMemoryCluster::new();
        let a = member(&cluster, "c-1", store.clone()).await;
        let b = member(&cluster, "c-2", store.clone()).await;
        settle(&[&a, &b], 2).await;
        let (ra, rb) = tokio::join!(a.compactor.run_once(), b.compactor.run_once());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        // 24 windows, each compacted exactly once, by one of them
        assert_eq!(ra.jobs + rb.jobs, 24, "{ra:?} {rb:?}");
        assert_eq!(ra.blocks_written + rb.blocks_written, 24);
        assert_eq!(ra.jobs_failed + rb.jobs_failed, 0);
        assert!(ra.jobs > 0 && rb.jobs > 0, "{ra:?} {rb:?}");

        ship_replicas(store.as_ref(), 24).await;
        b.lifecycler.stop().await;
        settle(&[&a], 1).await;
        let ra = a.compactor.run_once().await.unwrap();
        assert_eq!((ra.jobs, ra.blocks_written), (24, 24), "{ra:?}");
        let tenant = TenantId::parse(TENANT).unwrap();
        let blocks = sextant_storage::list_blocks(store.as_ref(), Signal::Metrics, &tenant);
        // per window: the first merge, and the second batch merged with it
        let blocks = blocks.await.unwrap();
        assert_eq!(blocks.len(), 24, "{blocks:?}");
        a.lifecycler.stop().await;
    }
}

mod end_to_end {
    use std::collections::BTreeMap;

    use sextant_storage::{list_blocks, read_bucket_index};

    use super::*;
    use crate::runner::{update_index, upload_block};
    use crate::signals::fixtures::{logs_block, metrics_block, traces_block};
    use crate::signals::{MergedBlock, SourceBlock, META_FILE};

    fn tenant() -> TenantId {
        TenantId::parse(TENANT).unwrap()
    }

    /// Stores `block` as an ingester does: data files, `meta.json` last, then the index.
    async fn ship(store: &dyn ObjectStore, signal: Signal, block: &SourceBlock) {
        let compaction = crate::signals::signal_compaction(signal);
        let files = compaction
            .data_files()
            .iter()
            .chain([&META_FILE])
            .map(|f| (*f, block.files[*f].clone()))
            .collect();
        let merged = MergedBlock { files };
        let t = tenant();
        upload_block(store, signal, &t, &block.block_id, &merged)
            .await
            .unwrap();
        update_index(store, signal, &t).await.unwrap();
    }

    fn lone_compactor(store: Arc<dyn ObjectStore>, signal: Signal) -> (Compactor, Registry) {
        let mut registry = Registry::default();
        let config = CompactorConfig {
            first_level_compaction_wait_period: Duration::ZERO,
            ..CompactorConfig::default()
        };
        let shards = vec![(signal, CompactorSharding::single("c-1"))];
        let compactor = Compactor::new(config, store, shards, &mut registry).unwrap();
        (compactor, registry)
    }

    fn id() -> String {
        sextant_storage::new_block_id(std::time::SystemTime::now())
    }

    #[tokio::test]
    async fn rf3_replicas_of_each_signal_become_one_block_of_about_one_copy() {
        let names: Vec<String> = (0..20).map(|i| format!("metric_{i}")).collect();
        let series: Vec<(&str, Vec<(i64, f64)>)> = names
            .iter()
            .enumerate()
            .map(|(n, name)| {
                let samples =
                    (0..720).map(|i| (i * 10_000, ((i * 7_919 + n as i64) % 1_000) as f64 / 8.0));
                (name.as_str(), samples.collect())
            })
            .collect();
        let entries: Vec<(i64, String)> = (0..500)
            .map(|i| {
                (
                    1_000_000_000 + i * 1_000_000,
                    format!("GET /api/{i} 200 {}ms", i % 13),
                )
            })
            .collect();
        let lines: Vec<(i64, &str)> = entries.iter().map(|(t, l)| (*t, l.as_str())).collect();
        let spans: Vec<(u64, Vec<u64>)> = (0..50).map(|t| (t, (0..8).collect())).collect();
        type Make<'a> = Box<dyn Fn(&str) -> SourceBlock + 'a>;
        let cases: Vec<(Signal, Make<'_>)> = vec![
            (Signal::Metrics, Box::new(|id| metrics_block(id, &series))),
            (
                Signal::Logs,
                Box::new(|id| logs_block(id, &[("api", lines.clone())])),
            ),
            (Signal::Traces, Box::new(|id| traces_block(id, &spans))),
        ];
        for (signal, make) in cases {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let replicas: Vec<SourceBlock> = (0..3).map(|_| make(&id())).collect();
            for r in &replicas {
                ship(store.as_ref(), signal, r).await;
            }
            let (compactor, _) = lone_compactor(store.clone(), signal);
            let summary = compactor.run_once().await.unwrap();
            assert_eq!(
                (
                    summary.jobs,
                    summary.blocks_compacted,
                    summary.blocks_written
                ),
                (1, 3, 1),
                "{signal:?}: {summary:?}"
            );
            let blocks = list_blocks(store.as_ref(), signal, &tenant())
                .await
                .unwrap();
            assert_eq!(blocks.len(), 1, "{signal:?}");
            assert_eq!(blocks[0].compaction_level, 2, "{signal:?}");
            let one_copy = replicas[0].size_bytes() as f64;
            let compacted = sizes(store.as_ref(), signal, &blocks[0].block_id).await;
            assert!(
                compacted <= 1.1 * one_copy,
                "{signal:?}: {compacted} vs one copy {one_copy}"
            );
            // a second run finds nothing to do
            let again = compactor.run_once().await.unwrap();
            assert_eq!((again.jobs, again.redundant_marked), (0, 0), "{signal:?}");
        }
    }

    /// Total bytes of a stored block's files.
    async fn sizes(store: &dyn ObjectStore, signal: Signal, block_id: &str) -> f64 {
        let prefix = sextant_storage::keys::block_prefix(signal, &tenant(), block_id);
        let objects: Vec<_> =
            futures::TryStreamExt::try_collect::<Vec<_>>(store.list(Some(&prefix)))
                .await
                .unwrap();
        objects.iter().map(|o| o.size as f64).sum()
    }

    #[tokio::test]
    async fn blocks_waiting_for_their_replicas_show_in_the_oldest_block_age() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        for _ in 0..2 {
            let id = sextant_storage::new_block_id(an_hour_ago);
            let block = metrics_block(&id, &[("up", vec![(1_000, 1.0)])]);
            ship(store.as_ref(), Signal::Metrics, &block).await;
        }
        let mut registry = Registry::default();
        let config = CompactorConfig {
            first_level_compaction_wait_period: Duration::from_secs(2 * 3600),
            ..CompactorConfig::default()
        };
        let shards = vec![(Signal::Metrics, CompactorSharding::single("c-1"))];
        let compactor = Compactor::new(config, store, shards, &mut registry).unwrap();
        let summary = compactor.run_once().await.unwrap();
        assert_eq!(summary.jobs, 0, "{summary:?}");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let gauge = r#"sextant_compactor_oldest_uncompacted_block_age_seconds{signal="metrics"} "#;
        let age: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix(gauge))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no gauge in\n{text}"));
        assert!((3600..3700).contains(&age), "{age}");
    }

    #[tokio::test]
    async fn a_block_of_a_newer_version_is_skipped_counted_and_kept() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let samples = vec![(1_000, 1.0), (2_000, 2.0)];
        let mut newer = metrics_block(&id(), &[("up", samples.clone())]);
        let mut meta: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&newer.files[META_FILE]).unwrap();
        meta.insert("version".into(), 99.into());
        newer
            .files
            .insert(META_FILE.into(), serde_json::to_vec(&meta).unwrap().into());
        for block in [
            metrics_block(&id(), &[("up", samples.clone())]),
            metrics_block(&id(), &[("up", samples)]),
            newer.clone(),
        ] {
            ship(store.as_ref(), Signal::Metrics, &block).await;
        }
        let (compactor, registry) = lone_compactor(store.clone(), Signal::Metrics);
        let summary = compactor.run_once().await.unwrap();
        assert_eq!(
            (summary.jobs, summary.blocks_compacted),
            (1, 2),
            "{summary:?}"
        );
        assert_eq!(summary.blocks_skipped_version, 1);
        let index = read_bucket_index(store.as_ref(), Signal::Metrics, &tenant()).await;
        let index = index.unwrap().unwrap();
        assert_eq!(index.blocks.len(), 2);
        assert!(index.blocks.iter().any(|b| b.block_id == newer.block_id));
        assert_eq!(index.deletion_marks.len(), 2);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for want in [
            r#"sextant_compactor_blocks_skipped_version_total{signal="metrics"} 1"#,
            r#"sextant_compactor_blocks_compacted_total{signal="metrics"} 2"#,
            r#"sextant_compactor_blocks_written_total{signal="metrics"} 1"#,
            r#"sextant_compactor_blocks_marked_for_deletion_total{signal="metrics"} 2"#,
            r#"sextant_compactor_runs_total{signal="metrics",outcome="success"} 1"#,
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
    }
}

mod tenant_passes {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::runner::update_index;

    /// Counts its runs on tenant `t`; fails on tenant `bad`.
    #[derive(Default)]
    struct CountingPass {
        runs: AtomicUsize,
    }

    impl TenantPass for CountingPass {
        fn name(&self) -> &'static str {
            "counting"
        }

        fn run<'a>(
            &'a self,
            _store: &'a dyn ObjectStore,
            _signal: Signal,
            tenant: &'a TenantId,
            _instance_id: &'a str,
        ) -> BoxFuture<'a, Result<(), CompactorError>> {
            Box::pin(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                match tenant.as_str() {
                    "bad" => Err(CompactorError::Task("pass failed".into())),
                    _ => Ok(()),
                }
            })
        }
    }

    #[tokio::test]
    async fn passes_run_on_each_owned_tenant_and_their_failures_are_listed() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for t in ["good", "bad"] {
            let tenant = TenantId::parse(t).unwrap();
            update_index(store.as_ref(), Signal::Logs, &tenant)
                .await
                .unwrap();
        }
        let pass = Arc::new(CountingPass::default());
        let shards = vec![(Signal::Logs, CompactorSharding::single("c-1"))];
        let compactor = Compactor::new(
            CompactorConfig::default(),
            store,
            shards,
            &mut Registry::default(),
        )
        .unwrap()
        .with_tenant_pass(pass.clone());
        let summary = compactor.run_once().await.unwrap();
        assert_eq!(pass.runs.load(Ordering::SeqCst), 2);
        assert_eq!(summary.tenants, 2);
        assert_eq!(
            summary.errors,
            ["counting: background task failed: pass failed"]
        );
    }
}

#[test]
fn jobs_of_one_largest_window_share_a_shard_key() {
    use crate::planner::CompactionJob;
    const H: i64 = 3_600_000;
    let job = |start: i64, end: i64| CompactionJob {
        tenant: TenantId::parse("t").unwrap(),
        signal: Signal::Metrics,
        group_key: format!("{start}-{end}-0"),
        sources: Vec::new(),
        target_level: 2,
        range_start_ms: start,
        range_end_ms: end,
    };
    // a replica merge of 2h inside the day, the 12h and the 24h merge of that day
    let day = 24 * H;
    let keys: Vec<String> = [
        job(day + 2 * H, day + 4 * H),
        job(day, day + 12 * H),
        job(day, 2 * day),
    ]
    .iter()
    .map(|j| super::shard_key(j, day))
    .collect();
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert_ne!(
        super::shard_key(&job(2 * day, 2 * day + 2 * H), day),
        keys[0]
    );
    assert_eq!(super::shard_key(&job(-2 * H, 0), day), format!("{}", -day));
}
