use std::collections::BTreeSet;

use object_store::memory::InMemory;
use sextant_ring::{InMemoryCluster, Lifecycler, LifecyclerConfig};

use super::*;
use crate::client::testing::{FakeQueryClient, FakeSampleWriter};
use crate::rule_file::RuleDesc;
use crate::store::ObjectRuleStore;

const RING: &str = "ruler-metrics";

struct Ruler {
    lifecycler: Lifecycler,
    ring: Arc<Ring>,
    manager: RulerManager,
}

fn ring_config(id: &str) -> LifecyclerConfig {
    LifecyclerConfig {
        instance_id: id.into(),
        instance_addr: format!("{id}:9095"),
        num_tokens: 64,
        heartbeat_period: Duration::from_millis(200),
        ..LifecyclerConfig::default()
    }
}

async fn ruler(cluster: &InMemoryCluster, id: &str, store: Arc<dyn RuleStore>) -> Ruler {
    let writer = Arc::new(FakeSampleWriter::default());
    ruler_with(
        cluster,
        id,
        store,
        Arc::new(FakeQueryClient::default()),
        writer,
    )
    .await
}

async fn ruler_with(
    cluster: &InMemoryCluster,
    id: &str,
    store: Arc<dyn RuleStore>,
    query: Arc<FakeQueryClient>,
    writer: Arc<FakeSampleWriter>,
) -> Ruler {
    let kv = cluster.join(id);
    let config = ring_config(id);
    let lifecycler = Lifecycler::new(config.clone(), RING, kv.clone()).unwrap();
    lifecycler.start().await.unwrap();
    let ring = Arc::new(Ring::new(RING, kv, config.replication_config(1)));
    let clients = RulerClients { query, writer };
    let rings = vec![RulerRing {
        signal: Signal::Metrics,
        ring: ring.clone(),
        instance_id: id.into(),
    }];
    let manager = RulerManager::new(
        RulerConfig::default(),
        store,
        clients,
        rings,
        &mut Registry::default(),
    )
    .unwrap();
    Ruler {
        lifecycler,
        ring,
        manager,
    }
}

async fn store_with_groups(n: usize) -> (Arc<dyn RuleStore>, BTreeSet<GroupKey>) {
    let store = ObjectRuleStore::new(Arc::new(InMemory::new()));
    let mut keys = BTreeSet::new();
    for i in 0..n {
        let tenant = TenantId::parse(if i % 2 == 0 { "team-a" } else { "team-b" }).unwrap();
        let namespace = format!("ns{}", i % 3);
        let group = RuleGroupDesc {
            name: format!("group-{i}"),
            rules: vec![RuleDesc {
                record: Some("x:sum".into()),
                expr: "sum(x)".into(),
                ..RuleDesc::default()
            }],
            ..RuleGroupDesc::default()
        };
        store
            .put_group(Signal::Metrics, &tenant, &namespace, &group)
            .await
            .unwrap();
        keys.insert(GroupKey {
            signal: Signal::Metrics,
            tenant,
            namespace,
            name: group.name,
        });
    }
    (Arc::new(store), keys)
}

/// Waits until `ring` shows `n` active instances.
async fn wait_for_active(ring: &Ring, n: usize) {
    for _ in 0..500 {
        let active = ring
            .instances()
            .iter()
            .filter(|i| i.state == sextant_ring::InstanceState::Active)
            .count();
        if active == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("ring never showed {n} active instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_group_is_owned_by_exactly_one_ruler() {
    let (store, all) = store_with_groups(24).await;
    let cluster = InMemoryCluster::new();
    let r1 = ruler(&cluster, "ruler-1", store.clone()).await;
    let r2 = ruler(&cluster, "ruler-2", store.clone()).await;
    wait_for_active(&r1.ring, 2).await;
    wait_for_active(&r2.ring, 2).await;

    r1.manager.sync().await.unwrap();
    r2.manager.sync().await.unwrap();
    let owned1: BTreeSet<GroupKey> = r1.manager.owned_groups().await.into_iter().collect();
    let owned2: BTreeSet<GroupKey> = r2.manager.owned_groups().await.into_iter().collect();
    assert!(owned1.is_disjoint(&owned2), "a group runs twice");
    assert_eq!(&owned1 | &owned2, all, "a group runs nowhere");
    assert!(
        !owned1.is_empty() && !owned2.is_empty(),
        "{owned1:?} {owned2:?}"
    );

    // Ruler 2 leaves: ruler 1 takes every group.
    r2.manager.stop().await.unwrap();
    r2.lifecycler.stop().await;
    wait_for_active(&r1.ring, 1).await;
    r1.manager.sync().await.unwrap();
    let owned1: BTreeSet<GroupKey> = r1.manager.owned_groups().await.into_iter().collect();
    assert_eq!(owned1, all);
    r1.manager.stop().await.unwrap();
    r1.lifecycler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_rulers_groups_move_to_a_live_one() {
    let (store, all) = store_with_groups(24).await;
    let cluster = InMemoryCluster::new();
    let r1 = ruler(&cluster, "ruler-1", store).await;
    // A ruler that died: still ACTIVE in the ring, tokens all around it, its last heartbeat
    // far older than the heartbeat timeout.
    let stale = sextant_ring::gossip::now_ms() - 10 * 60 * 1000;
    let ghost = sextant_ring::InstanceDesc {
        id: "ghost".into(),
        addr: "ghost:9095".into(),
        zone: String::new(),
        state: sextant_ring::InstanceState::Active,
        tokens: (0..512u32).map(|i| i * (u32::MAX / 512)).collect(),
        heartbeat_ms: stale,
        registered_ms: stale,
    };
    cluster.join("ghost").cas(RING, |desc| {
        desc.instances.insert(ghost.id.clone(), ghost);
    });
    wait_for_active(&r1.ring, 2).await;

    r1.manager.sync().await.unwrap();
    let owned: BTreeSet<GroupKey> = r1.manager.owned_groups().await.into_iter().collect();
    assert_eq!(
        owned, all,
        "the live ruler must evaluate the dead one's groups"
    );
    r1.manager.stop().await.unwrap();
    r1.lifecycler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_view_shows_one_tenant_only() {
    let (store, _) = store_with_groups(6).await;
    let cluster = InMemoryCluster::new();
    let r = ruler(&cluster, "ruler-1", store).await;
    wait_for_active(&r.ring, 1).await;
    r.manager.start().await.unwrap();

    let a = TenantId::parse("team-a").unwrap();
    let groups = r.manager.rule_groups(Signal::Metrics, &a);
    let names: Vec<(String, String)> = groups
        .iter()
        .map(|g| (g.file.clone(), g.name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("ns0".to_string(), "group-0".to_string()),
            ("ns1".into(), "group-4".into()),
            ("ns2".into(), "group-2".into()),
        ]
    );
    assert!(r.manager.rule_groups(Signal::Logs, &a).is_empty());
    let nobody = TenantId::parse("nobody").unwrap();
    assert!(r.manager.rule_groups(Signal::Metrics, &nobody).is_empty());
    assert!(r.manager.alerts(Signal::Metrics, &a).is_empty());
    r.manager.stop().await.unwrap();
    r.lifecycler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_group_restarts_with_its_alerts() {
    let store = Arc::new(ObjectRuleStore::new(Arc::new(InMemory::new())));
    let tenant = TenantId::parse("t").unwrap();
    let mut group = RuleGroupDesc {
        name: "g".into(),
        interval: Some(Duration::from_millis(50)),
        rules: vec![RuleDesc {
            alert: Some("Up".into()),
            expr: "up".into(),
            ..RuleDesc::default()
        }],
        ..RuleGroupDesc::default()
    };
    store
        .put_group(Signal::Metrics, &tenant, "ns", &group)
        .await
        .unwrap();
    let query = Arc::new(FakeQueryClient::default());
    query.set(
        "up",
        vec![(sextant_model::Labels::from_pairs([("job", "a")]), 1.0)],
    );
    let cluster = InMemoryCluster::new();
    let writer = Arc::new(FakeSampleWriter::default());
    let r = ruler_with(&cluster, "ruler-1", store.clone(), query, writer).await;
    wait_for_active(&r.ring, 1).await;
    r.manager.sync().await.unwrap();

    let mut active_at = None;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        active_at = r
            .manager
            .alerts(Signal::Metrics, &tenant)
            .first()
            .and_then(|a| a.active_at_ms);
        if active_at.is_some() {
            break;
        }
    }
    assert!(active_at.is_some(), "the alert never fired");

    group.interval = Some(Duration::from_secs(60));
    store
        .put_group(Signal::Metrics, &tenant, "ns", &group)
        .await
        .unwrap();
    r.manager.sync().await.unwrap();
    let groups = r.manager.rule_groups(Signal::Metrics, &tenant);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].interval, 60.0, "the new definition runs");
    let alerts = r.manager.alerts(Signal::Metrics, &tenant);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].active_at_ms, active_at, "the alert carried over");
    r.manager.stop().await.unwrap();
    r.lifecycler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_group_marks_its_series_stale() {
    let store = Arc::new(ObjectRuleStore::new(Arc::new(InMemory::new())));
    let tenant = TenantId::parse("t").unwrap();
    let group = RuleGroupDesc {
        name: "g".into(),
        interval: Some(Duration::from_millis(50)),
        rules: vec![RuleDesc {
            record: Some("x:sum".into()),
            expr: "sum(x)".into(),
            ..RuleDesc::default()
        }],
        ..RuleGroupDesc::default()
    };
    store
        .put_group(Signal::Metrics, &tenant, "ns", &group)
        .await
        .unwrap();
    let query = Arc::new(FakeQueryClient::default());
    query.set("sum(x)", vec![(sextant_model::Labels::default(), 5.0)]);
    let writer = Arc::new(FakeSampleWriter::default());
    let cluster = InMemoryCluster::new();
    let r = ruler_with(&cluster, "ruler-1", store.clone(), query, writer.clone()).await;
    wait_for_active(&r.ring, 1).await;
    r.manager.sync().await.unwrap();
    for _ in 0..300 {
        if !writer.written.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    store
        .delete_group(Signal::Metrics, &tenant, "ns", "g")
        .await
        .unwrap();
    r.manager.sync().await.unwrap();
    assert!(r.manager.owned_groups().await.is_empty());
    let written = writer.take();
    let last = written.last().expect("the group wrote");
    assert_eq!(last.labels.metric_name(), Some("x:sum"));
    assert!(crate::client::is_stale_nan(last.value), "{last:?}");
    assert!(written[..written.len() - 1].iter().all(|s| s.value == 5.0));
    r.manager.stop().await.unwrap();
    r.lifecycler.stop().await;
}
