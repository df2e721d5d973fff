use std::time::Duration;

use super::*;
use crate::gossip::InMemoryCluster;
use crate::token_ring::desc::tests::instance;
use crate::token_ring::{Operation, RingDesc};

const RING: &str = "ingester-metrics";

fn config(id: &str) -> LifecyclerConfig {
    LifecyclerConfig {
        instance_id: id.into(),
        instance_addr: format!("{id}:9095"),
        num_tokens: 16,
        heartbeat_period: Duration::from_millis(20),
        ..LifecyclerConfig::default()
    }
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn config_validation_and_serde() {
    let cases: Vec<(LifecyclerConfig, bool)> = vec![
        (config("a"), true),
        (LifecyclerConfig::default(), false),
        (
            LifecyclerConfig {
                num_tokens: 0,
                ..config("a")
            },
            false,
        ),
        (
            LifecyclerConfig {
                heartbeat_period: Duration::ZERO,
                ..config("a")
            },
            false,
        ),
    ];
    for (i, (c, ok)) in cases.into_iter().enumerate() {
        assert_eq!(c.validate().is_ok(), ok, "case {i}");
    }
    let parsed: LifecyclerConfig =
        serde_json::from_str(r#"{"instance_addr":"x:1","join_after":"30s"}"#).unwrap();
    assert_eq!(parsed.join_after, Duration::from_secs(30));
    assert_eq!(parsed.num_tokens, 128);
    assert!(serde_json::from_str::<LifecyclerConfig>(r#"{"tokens":1}"#).is_err());
}

#[test]
fn generated_tokens_are_distinct_and_free() {
    use rand::SeedableRng;
    let mut ring = RingDesc::default();
    let mut other = instance("other", InstanceState::Active, 1);
    other.tokens = (0..1000u32).map(|i| i * 7).collect();
    ring.instances.insert("other".into(), other.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for n in [1usize, 16, 512] {
        let tokens = tokens::generate(n, &ring, "me", &mut rng);
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), n);
        assert!(tokens.iter().all(|t| !other.tokens.contains(t)));
        assert!(tokens.windows(2).all(|w| w[0] < w[1]));
    }
}

#[tokio::test]
async fn lifecycle_is_seen_by_other_nodes() {
    let cluster = InMemoryCluster::new();
    let (kv_a, kv_b) = (cluster.join("a"), cluster.join("b"));
    let ring = Ring::new(RING, Arc::clone(&kv_b), config("x").replication_config(1));
    let lifecycler = Lifecycler::new(
        LifecyclerConfig {
            join_after: Duration::from_millis(50),
            ..config("ing-a")
        },
        RING,
        kv_a,
    )
    .unwrap();
    lifecycler.start().await.unwrap();
    assert_eq!(lifecycler.state(), InstanceState::Joining);
    wait_for("joining instance", || ring.instances().len() == 1).await;
    assert!(
        ring.get(1, Operation::Write).is_err(),
        "joining does not take writes"
    );
    wait_for("active", || lifecycler.state() == InstanceState::Active).await;
    wait_for("ring active", || ring.get(1, Operation::Write).is_ok()).await;
    assert_eq!(ring.instances()[0].tokens, lifecycler.tokens());
    assert_eq!(ring.healthy_count(), 1);

    let first_heartbeat = kv_b.get(RING).instances["ing-a"].heartbeat_ms;
    wait_for("heartbeat", || {
        kv_b.get(RING).instances["ing-a"].heartbeat_ms > first_heartbeat
    })
    .await;

    lifecycler.stop().await;
    assert_eq!(lifecycler.state(), InstanceState::Left);
    assert_eq!(kv_b.get(RING).instances["ing-a"].state, InstanceState::Left);
    wait_for("tombstone applied", || ring.instances().is_empty()).await;
}

#[tokio::test]
async fn forget_removes_a_dead_instance() {
    let cluster = InMemoryCluster::new();
    let kv = cluster.join("a");
    kv.cas(RING, |d| {
        d.instances
            .insert("dead".into(), instance("dead", InstanceState::Active, 5));
    });
    let ring = Ring::new(RING, Arc::clone(&kv), ReplicationConfig::default());
    assert_eq!(ring.instances().len(), 1);
    assert!(ring.forget("dead"));
    assert!(!ring.forget("never-there"));
    wait_for("forgotten", || ring.instances().is_empty()).await;
}

#[tokio::test]
async fn tokens_survive_a_restart_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = LifecyclerConfig {
        tokens_file_dir: dir.path().display().to_string(),
        ..config("ing-a")
    };
    let first = {
        let kv = InMemoryCluster::new().join("a");
        let lifecycler = Lifecycler::new(config.clone(), RING, kv).unwrap();
        lifecycler.start().await.unwrap();
        lifecycler.stop().await;
        lifecycler.tokens()
    };
    assert_eq!(first.len(), 16);
    assert!(dir.path().join("tokens-ingester-metrics.json").exists());
    let kv = InMemoryCluster::new().join("b");
    let lifecycler = Lifecycler::new(config, RING, kv).unwrap();
    lifecycler.start().await.unwrap();
    assert_eq!(lifecycler.tokens(), first);
    lifecycler.stop().await;
}
