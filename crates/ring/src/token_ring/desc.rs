//! The gossiped ring state: one [`InstanceDesc`] per instance, merged last-writer-wins.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where an instance is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceState {
    /// Registered with tokens, not yet taking writes as an owner.
    Joining,
    /// Owns its tokens.
    Active,
    /// Shutting down: still readable, writes extend past it.
    Leaving,
    /// Gone: a tombstone that wins over older entries and is dropped after a timeout.
    Left,
}

impl InstanceState {
    /// Upper-case name as on the status pages (`ACTIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Joining => "JOINING",
            InstanceState::Active => "ACTIVE",
            InstanceState::Leaving => "LEAVING",
            InstanceState::Left => "LEFT",
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            InstanceState::Joining => 0,
            InstanceState::Active => 1,
            InstanceState::Leaving => 2,
            InstanceState::Left => 3,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => InstanceState::Joining,
            1 => InstanceState::Active,
            2 => InstanceState::Leaving,
            3 => InstanceState::Left,
            _ => return None,
        })
    }
}

/// One instance of a ring as gossiped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstanceDesc {
    /// Unique instance id (usually the hostname).
    pub id: String,
    /// gRPC address, `host:port`.
    pub addr: String,
    /// Availability zone, empty when zones are not used.
    pub zone: String,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Sorted, distinct tokens.
    pub tokens: Vec<u32>,
    /// Last heartbeat, unix milliseconds. Doubles as the entry's version.
    pub heartbeat_ms: i64,
    /// When the instance first registered, unix milliseconds.
    pub registered_ms: i64,
}

impl InstanceDesc {
    /// Whether the last heartbeat is within `timeout_ms` of `now_ms`.
    pub fn is_healthy(&self, now_ms: i64, timeout_ms: i64) -> bool {
        self.state != InstanceState::Left && now_ms.saturating_sub(self.heartbeat_ms) <= timeout_ms
    }

    /// The total order used by merge: newer heartbeat wins; on a tie `Left` beats the others,
    /// then the content decides so that every node picks the same entry.
    fn version_cmp(&self, other: &InstanceDesc) -> Ordering {
        (self.heartbeat_ms, self.state)
            .cmp(&(other.heartbeat_ms, other.state))
            .then_with(|| self.tokens.cmp(&other.tokens))
            .then_with(|| self.addr.cmp(&other.addr))
            .then_with(|| self.zone.cmp(&other.zone))
            .then_with(|| self.registered_ms.cmp(&other.registered_ms))
    }
}

/// The whole state of one ring: instances by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingDesc {
    /// Instances by id, including `Left` tombstones.
    pub instances: BTreeMap<String, InstanceDesc>,
}

impl RingDesc {
    /// Merges `other` into `self`; true when anything changed.
    pub fn merge(&mut self, other: &RingDesc) -> bool {
        !self.merge_changes(other).instances.is_empty()
    }

    /// Merges `other` into `self` and returns the entries that changed (the delta to gossip on).
    /// Each entry is last-writer-wins by [`InstanceDesc::heartbeat_ms`], so merge is
    /// commutative, associative and idempotent.
    pub fn merge_changes(&mut self, other: &RingDesc) -> RingDesc {
        let mut changed = RingDesc::default();
        for (id, theirs) in &other.instances {
            let newer = match self.instances.get(id) {
                Some(mine) => theirs.version_cmp(mine) == Ordering::Greater,
                None => true,
            };
            if newer {
                self.instances.insert(id.clone(), theirs.clone());
                changed.instances.insert(id.clone(), theirs.clone());
            }
        }
        changed
    }

    /// The entries of `self` that differ from (or are absent in) `before`.
    pub fn diff_from(&self, before: &RingDesc) -> RingDesc {
        let instances = self
            .instances
            .iter()
            .filter(|(id, desc)| before.instances.get(*id) != Some(*desc))
            .map(|(id, desc)| (id.clone(), desc.clone()))
            .collect();
        RingDesc { instances }
    }

    /// Drops `Left` tombstones older than `timeout_ms`; returns how many were dropped.
    pub fn remove_expired_tombstones(&mut self, now_ms: i64, timeout_ms: i64) -> usize {
        let before = self.instances.len();
        self.instances.retain(|_, d| {
            d.state != InstanceState::Left || now_ms.saturating_sub(d.heartbeat_ms) <= timeout_ms
        });
        before - self.instances.len()
    }

    /// Marks `id` as `Left` with a heartbeat newer than its current one (a tombstone).
    /// Returns false when the instance is unknown.
    pub fn mark_left(&mut self, id: &str, now_ms: i64) -> bool {
        match self.instances.get_mut(id) {
            Some(desc) => {
                desc.state = InstanceState::Left;
                desc.heartbeat_ms = now_ms.max(desc.heartbeat_ms.saturating_add(1));
                true
            }
            None => false,
        }
    }

    /// Instances that are not tombstones.
    pub fn live_instances(&self) -> impl Iterator<Item = &InstanceDesc> {
        self.instances
            .values()
            .filter(|d| d.state != InstanceState::Left)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn instance(id: &str, state: InstanceState, heartbeat_ms: i64) -> InstanceDesc {
        InstanceDesc {
            id: id.to_string(),
            addr: format!("{id}:9095"),
            zone: String::new(),
            state,
            tokens: vec![1, 2, 3],
            heartbeat_ms,
            registered_ms: 0,
        }
    }

    fn ring(instances: &[InstanceDesc]) -> RingDesc {
        RingDesc {
            instances: instances
                .iter()
                .map(|d| (d.id.clone(), d.clone()))
                .collect(),
        }
    }

    #[test]
    fn merge_table() {
        use InstanceState::*;
        // (mine, theirs, expected state of "a" after merge, changed)
        type Case = (
            Vec<InstanceDesc>,
            Vec<InstanceDesc>,
            Option<(InstanceState, i64)>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                vec![],
                vec![instance("a", Active, 5)],
                Some((Active, 5)),
                true,
            ),
            (
                vec![instance("a", Active, 5)],
                vec![],
                Some((Active, 5)),
                false,
            ),
            (
                vec![instance("a", Active, 5)],
                vec![instance("a", Active, 4)],
                Some((Active, 5)),
                false,
            ),
            (
                vec![instance("a", Joining, 5)],
                vec![instance("a", Active, 6)],
                Some((Active, 6)),
                true,
            ),
            (
                vec![instance("a", Active, 5)],
                vec![instance("a", Left, 6)],
                Some((Left, 6)),
                true,
            ),
            (
                vec![instance("a", Left, 6)],
                vec![instance("a", Active, 5)],
                Some((Left, 6)),
                false,
            ),
            (
                vec![instance("a", Active, 6)],
                vec![instance("a", Left, 6)],
                Some((Left, 6)),
                true,
            ),
            (
                vec![instance("a", Left, 6)],
                vec![instance("a", Active, 7)],
                Some((Active, 7)),
                true,
            ),
        ];
        for (i, (mine, theirs, want, want_changed)) in cases.into_iter().enumerate() {
            let mut desc = ring(&mine);
            let changed = desc.merge(&ring(&theirs));
            let got = desc.instances.get("a").map(|d| (d.state, d.heartbeat_ms));
            assert_eq!(got, want, "case {i}");
            assert_eq!(changed, want_changed, "case {i}");
        }
    }

    #[test]
    fn tombstones_expire() {
        let mut desc = ring(&[
            instance("a", InstanceState::Left, 100),
            instance("b", InstanceState::Left, 900),
            instance("c", InstanceState::Active, 0),
        ]);
        assert_eq!(desc.remove_expired_tombstones(1000, 500), 1);
        let ids: Vec<_> = desc.instances.keys().cloned().collect();
        assert_eq!(ids, vec!["b".to_string(), "c".to_string()]);
    }

    #[test]
    fn mark_left_bumps_version() {
        let mut desc = ring(&[instance("a", InstanceState::Active, 100)]);
        assert!(desc.mark_left("a", 50));
        assert_eq!(desc.instances["a"].heartbeat_ms, 101);
        assert!(!desc.mark_left("zz", 50));
    }

    fn arb_instance() -> impl Strategy<Value = InstanceDesc> {
        (
            prop::sample::select(vec!["a", "b", "c", "d"]),
            0u8..4,
            0i64..5,
            prop::collection::vec(any::<u32>(), 0..3),
        )
            .prop_map(|(id, state, hb, tokens)| InstanceDesc {
                tokens,
                ..instance(
                    id,
                    InstanceState::from_u8(state).unwrap_or(InstanceState::Active),
                    hb,
                )
            })
    }

    pub(crate) fn arb_ring() -> impl Strategy<Value = RingDesc> {
        prop::collection::vec(arb_instance(), 0..6).prop_map(|v| ring(&v))
    }

    proptest! {
        #[test]
        fn merge_is_commutative_idempotent_associative(a in arb_ring(), b in arb_ring(), c in arb_ring()) {
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert_eq!(&ab, &ba);

            let mut again = ab.clone();
            prop_assert!(!again.merge(&b));
            prop_assert!(!again.merge(&a));
            prop_assert_eq!(&again, &ab);

            let mut ab_c = ab.clone();
            ab_c.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut a_bc = a.clone();
            a_bc.merge(&bc);
            prop_assert_eq!(ab_c, a_bc);
        }

        #[test]
        fn merge_changes_is_the_delta(a in arb_ring(), b in arb_ring()) {
            let before = a.clone();
            let mut merged = a.clone();
            let delta = merged.merge_changes(&b);
            prop_assert_eq!(merged.diff_from(&before), delta.clone());
            let mut from_delta = before.clone();
            from_delta.merge(&delta);
            prop_assert_eq!(from_delta, merged);
        }
    }
}
