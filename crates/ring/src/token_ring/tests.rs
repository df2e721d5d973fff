use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

const NOW: i64 = 1_000_000;

fn inst(id: &str, zone: &str, state: InstanceState, tokens: Vec<u32>) -> InstanceDesc {
    InstanceDesc {
        id: id.to_string(),
        addr: format!("{id}:9095"),
        zone: zone.to_string(),
        state,
        tokens,
        heartbeat_ms: NOW,
        registered_ms: 0,
    }
}

fn desc(instances: Vec<InstanceDesc>) -> RingDesc {
    RingDesc {
        instances: instances.into_iter().map(|d| (d.id.clone(), d)).collect(),
    }
}

fn config(rf: usize, zones: bool) -> ReplicationConfig {
    ReplicationConfig {
        replication_factor: rf,
        zone_awareness_enabled: zones,
        heartbeat_timeout: Duration::from_secs(60),
    }
}

fn ids(set: &ReplicationSet) -> Vec<&str> {
    set.instances.iter().map(|d| d.id.as_str()).collect()
}

/// Four instances with one token each at 100, 200, 300, 400.
fn four(states: [InstanceState; 4], stale: &[&str]) -> RingDesc {
    let mut d = desc(
        ["a", "b", "c", "d"]
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (id, s))| inst(id, "", s, vec![(i as u32 + 1) * 100]))
            .collect(),
    );
    for id in stale {
        if let Some(x) = d.instances.get_mut(*id) {
            x.heartbeat_ms = NOW - 120_000;
        }
    }
    d
}

#[test]
fn get_table() {
    use InstanceState::*;
    use Operation::*;
    const ALL: [InstanceState; 4] = [Active, Active, Active, Active];
    // (states, stale ids, key, op, want ids, want max_errors) ; None = TooManyUnhealthy
    type Case = (RingDesc, u32, Operation, Option<(Vec<&'static str>, usize)>);
    let cases: Vec<Case> = vec![
        (four(ALL, &[]), 150, Write, Some((vec!["b", "c", "d"], 1))),
        (four(ALL, &[]), 100, Write, Some((vec!["a", "b", "c"], 1))),
        (four(ALL, &[]), 401, Write, Some((vec!["a", "b", "c"], 1))),
        (four(ALL, &[]), 350, Read, Some((vec!["d", "a", "b"], 1))),
        (four(ALL, &["c"]), 150, Write, Some((vec!["b", "d"], 0))),
        (four(ALL, &["b", "c"]), 150, Write, None),
        (
            four([Active, Joining, Active, Active], &[]),
            150,
            Write,
            Some((vec!["c", "d", "a"], 1)),
        ),
        (
            four([Active, Leaving, Active, Active], &[]),
            150,
            Write,
            Some((vec!["c", "d", "a"], 1)),
        ),
        (
            four([Active, Leaving, Active, Active], &[]),
            150,
            Read,
            Some((vec!["b", "c", "d"], 1)),
        ),
        (
            four([Active, Joining, Active, Active], &[]),
            150,
            Read,
            Some((vec!["c", "d", "a"], 1)),
        ),
        (
            four([Left, Active, Active, Active], &[]),
            350,
            Write,
            Some((vec!["d", "b", "c"], 1)),
        ),
        (
            four([Joining, Joining, Active, Active], &[]),
            50,
            Write,
            Some((vec!["c", "d"], 0)),
        ),
    ];
    for (i, (d, key, op, want)) in cases.into_iter().enumerate() {
        let ring = TokenRing::new(&d, config(3, false));
        let got = ring.get(key, op, NOW);
        match want {
            Some((want_ids, max_errors)) => {
                let set = got.unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert_eq!(ids(&set), want_ids, "case {i}");
                assert_eq!(set.max_errors, max_errors, "case {i}");
            }
            None => assert!(
                matches!(got, Err(RingError::TooManyUnhealthy { .. })),
                "case {i}: {got:?}"
            ),
        }
    }
}

#[test]
fn empty_ring_is_an_error() {
    let ring = TokenRing::new(&RingDesc::default(), config(3, false));
    assert!(matches!(
        ring.get(1, Operation::Write, NOW),
        Err(RingError::EmptyRing)
    ));
}

#[test]
fn zone_awareness_skips_same_zone() {
    let d = desc(vec![
        inst("a1", "a", InstanceState::Active, vec![100]),
        inst("a2", "a", InstanceState::Active, vec![200]),
        inst("b1", "b", InstanceState::Active, vec![300]),
        inst("c1", "c", InstanceState::Active, vec![400]),
    ]);
    let set = TokenRing::new(&d, config(3, true))
        .get(50, Operation::Write, NOW)
        .unwrap();
    assert_eq!(ids(&set), vec!["a1", "b1", "c1"]);
}

#[test]
fn rebuild_reuses_tokens_on_heartbeat() {
    let mut d = four([InstanceState::Active; 4], &[]);
    let first = TokenRing::new(&d, config(3, false));
    d.instances.get_mut("a").unwrap().heartbeat_ms += 5;
    let second = TokenRing::rebuild(Some(&first), &d, config(3, false));
    assert!(Arc::ptr_eq(&first.tokens, &second.tokens));
    d.instances.get_mut("a").unwrap().tokens = vec![5];
    let third = TokenRing::rebuild(Some(&second), &d, config(3, false));
    assert!(!Arc::ptr_eq(&second.tokens, &third.tokens));
}

fn arb_ring(zones: usize) -> impl Strategy<Value = RingDesc> {
    (1usize..10, any::<u64>()).prop_map(move |(n, seed)| {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        desc(
            (0..n)
                .map(|i| {
                    let tokens = (0..16).map(|_| rng.random()).collect();
                    inst(
                        &format!("i{i}"),
                        &format!("z{}", i % zones),
                        InstanceState::Active,
                        tokens,
                    )
                })
                .collect(),
        )
    })
}

proptest! {
    #[test]
    fn rf_distinct_instances(d in arb_ring(3), key in any::<u32>(), rf in 1usize..5) {
        let ring = TokenRing::new(&d, config(rf, false));
        let got = ring.get(key, Operation::Write, NOW);
        if d.instances.len() < rf / 2 + 1 {
            prop_assert!(matches!(got, Err(RingError::TooManyUnhealthy { .. })), "{:?}", got);
            return Ok(());
        }
        let set = got.unwrap();
        let distinct: HashSet<_> = ids(&set).into_iter().collect();
        prop_assert_eq!(distinct.len(), set.instances.len());
        prop_assert_eq!(set.instances.len(), rf.min(d.instances.len()));
        prop_assert_eq!(set.max_errors, set.instances.len() - (rf / 2 + 1));
    }

    #[test]
    fn zones_distinct_when_enabled(d in arb_ring(3), key in any::<u32>()) {
        prop_assume!(d.instances.len() >= 2);
        let ring = TokenRing::new(&d, config(3, true));
        let set = ring.get(key, Operation::Write, NOW).unwrap();
        let zones: HashSet<_> = set.instances.iter().map(|d| d.zone.as_str()).collect();
        prop_assert_eq!(zones.len(), set.instances.len());
        prop_assert_eq!(set.instances.len(), 3.min(d.instances.len()));
    }

    #[test]
    fn deterministic(d in arb_ring(2), keys in prop::collection::vec(any::<u32>(), 1..20)) {
        let a = TokenRing::new(&d, config(3, false));
        let b = TokenRing::new(&d.clone(), config(3, false));
        for key in keys {
            prop_assert_eq!(a.get(key, Operation::Write, NOW).ok(), b.get(key, Operation::Write, NOW).ok());
        }
    }

    /// Adding an instance displaces at most one owner per key, always in favour of the newcomer.
    #[test]
    fn adding_an_instance_moves_little(d in arb_ring(1), seed in any::<u64>(), keys in prop::collection::vec(any::<u32>(), 1..50)) {
        use rand::{Rng, SeedableRng};
        prop_assume!(d.instances.len() >= 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let before = TokenRing::new(&d, config(3, false));
        let mut grown = d.clone();
        let tokens = (0..16).map(|_| rng.random()).collect();
        grown.instances.insert("new".into(), inst("new", "z0", InstanceState::Active, tokens));
        let after = TokenRing::new(&grown, config(3, false));
        for key in keys {
            let old: HashSet<String> = before.get(key, Operation::Write, NOW).unwrap().instances.into_iter().map(|d| d.id).collect();
            let new: HashSet<String> = after.get(key, Operation::Write, NOW).unwrap().instances.into_iter().map(|d| d.id).collect();
            let lost: Vec<_> = old.difference(&new).collect();
            let gained: Vec<_> = new.difference(&old).collect();
            prop_assert!(lost.len() <= 1);
            prop_assert!(gained.iter().all(|id| id.as_str() == "new"));
        }
    }
}

#[test]
fn most_keys_keep_their_owner_when_growing() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut tokens = |n: usize| -> Vec<u32> { (0..n).map(|_| rng.random()).collect() };
    let mut d = desc(
        (0..10)
            .map(|i| inst(&format!("i{i}"), "", InstanceState::Active, tokens(128)))
            .collect(),
    );
    let before = TokenRing::new(&d, config(1, false));
    d.instances.insert(
        "new".into(),
        inst("new", "", InstanceState::Active, tokens(128)),
    );
    let after = TokenRing::new(&d, config(1, false));
    let keys: Vec<u32> = (0..10_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let moved = keys
        .iter()
        .filter(|k| {
            before.get(**k, Operation::Write, NOW).unwrap().instances[0].id
                != after.get(**k, Operation::Write, NOW).unwrap().instances[0].id
        })
        .count();
    // The newcomer should take about 1/11 of the keys.
    assert!(moved > 400 && moved < 1500, "moved {moved}");
}
