use std::time::Duration;

use prometheus_client::registry::Registry;

use super::*;
use crate::token_ring::desc::tests::instance;
use crate::token_ring::InstanceState;

fn register(kv: &GossipKv, id: &str, heartbeat_ms: i64) {
    kv.cas("ingester-metrics", |d| {
        d.instances.insert(
            id.to_string(),
            instance(id, InstanceState::Active, heartbeat_ms),
        );
    });
}

#[test]
fn config_defaults_and_yaml_shape() {
    let config: MemberlistConfig =
        serde_json::from_str(r#"{"join_members":["a:7946"],"gossip_interval":"1s"}"#).unwrap();
    assert_eq!(config.bind_address, "0.0.0.0:7946");
    assert_eq!(config.gossip_interval, Duration::from_secs(1));
    assert_eq!(config.left_instances_timeout, Duration::from_secs(300));
    assert!(serde_json::from_str::<MemberlistConfig>(r#"{"nope":1}"#).is_err());
}

#[tokio::test]
async fn in_memory_cluster_converges() {
    let cluster = InMemoryCluster::new();
    let a = cluster.join("a");
    register(&a, "ing-a", 10);
    let b = cluster.join("b"); // gets a's state by push/pull
    assert_eq!(b.get("ingester-metrics").instances.len(), 1);
    let watch = a.watch("ingester-metrics");
    register(&b, "ing-b", 11);
    assert!(watch.has_changed().unwrap());
    assert_eq!(*a.get("ingester-metrics"), *b.get("ingester-metrics"));
    assert_eq!(a.members().await.len(), 2);
    b.leave().await;
    register(&a, "ing-c", 12);
    assert_eq!(b.get("ingester-metrics").instances.len(), 2);
    assert_eq!(a.ring_names(), vec!["ingester-metrics".to_string()]);
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn loopback_config(name: &str, seeds: Vec<String>) -> MemberlistConfig {
    MemberlistConfig {
        bind_address: "127.0.0.1:0".into(),
        node_name: name.into(),
        join_members: seeds,
        gossip_interval: Duration::from_millis(50),
        push_pull_interval: Duration::from_secs(1),
        ..MemberlistConfig::default()
    }
}

/// Three real memberlist nodes on loopback converge on one ring, both through gossiped deltas
/// and through large deltas sent over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberlist_nodes_converge_on_loopback() {
    let mut registry = Registry::default();
    let first = GossipKv::start(&loopback_config("n1", vec![]), &mut registry)
        .await
        .unwrap();
    let seed = first.members().await[0].addr.clone();
    let mut others = Vec::new();
    for name in ["n2", "n3"] {
        let mut registry = Registry::default();
        let kv = GossipKv::start(&loopback_config(name, vec![seed.clone()]), &mut registry)
            .await
            .unwrap();
        others.push(kv);
    }
    let nodes = [&first, &others[0], &others[1]];
    for kv in nodes {
        let mut n = 0;
        for _ in 0..100 {
            n = kv
                .members()
                .await
                .iter()
                .filter(|m| m.state == "alive")
                .count();
            if n == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(n, 3, "members seen by {}", kv.node_name());
    }

    register(nodes[0], "ing-1", 1);
    register(nodes[1], "ing-2", 2);
    // A delta too large for a gossip packet.
    nodes[2].cas("ingester-metrics", |d| {
        let mut big = instance("ing-3", InstanceState::Active, 3);
        big.tokens = (0..2000u32).map(|i| i * 1_000_003).collect();
        d.instances.insert(big.id.clone(), big);
    });
    wait_for("convergence", || {
        nodes
            .iter()
            .all(|kv| kv.get("ingester-metrics").instances.len() == 3)
    })
    .await;
    let want = nodes[0].get("ingester-metrics");
    for kv in nodes {
        assert_eq!(*kv.get("ingester-metrics"), *want);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("sextant_memberlist_messages_received_total"),
        "{text}"
    );
    for kv in nodes {
        kv.leave().await;
    }
}
