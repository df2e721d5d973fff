//! Grouping series by replica set and the quorum rule.
//!
//! Every series has a replica set (RF instances and how many of them may fail). Series are
//! batched per instance; after the sends, each distinct replica set ("group") must have at least
//! `instances - max_errors` successful instances. Many series share a group, so the check is
//! per group rather than per series.

use std::collections::HashMap;

use sextant_ring::{Operation, TokenRing};

use crate::error::DistributorError;

/// One destination instance of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    pub id: String,
    pub addr: String,
    /// Indices of the series (in the validated batch) this instance receives.
    pub series: Vec<u32>,
}

/// The routing of one push: destinations and the groups whose quorum decides success.
#[derive(Debug, Default)]
pub(crate) struct ReplicaPlan {
    pub destinations: Vec<Destination>,
    slot_by_id: HashMap<String, u16>,
    groups: Vec<Group>,
    group_by_slots: HashMap<Vec<u16>, usize>,
}

#[derive(Debug)]
struct Group {
    slots: Vec<u16>,
    min_success: usize,
}

impl ReplicaPlan {
    /// Routes item `i` of a push (a series, stream or trace) to the replica set its token
    /// `tokens[i]` picks on `ring` at `now_ms`.
    pub(crate) fn route(
        ring: &TokenRing,
        now_ms: i64,
        tokens: impl IntoIterator<Item = u32>,
    ) -> Result<Self, DistributorError> {
        let mut plan = ReplicaPlan::default();
        let mut replicas = Vec::with_capacity(8);
        let instances = ring.instances();
        for (i, token) in tokens.into_iter().enumerate() {
            let max_errors = ring
                .get_indices(token, Operation::Write, now_ms, &mut replicas)
                .map_err(|e| {
                    DistributorError::new(e.kind(), format!("cannot route the write: {e}"))
                })?;
            plan.add(
                i as u32,
                replicas
                    .iter()
                    .map(|&r| (instances[r].id.as_str(), instances[r].addr.as_str())),
                max_errors,
            );
        }
        Ok(plan)
    }

    /// Routes series `series` to the replica set `instances` (id, addr) of which `max_errors`
    /// may fail.
    pub(crate) fn add<'a>(
        &mut self,
        series: u32,
        instances: impl IntoIterator<Item = (&'a str, &'a str)>,
        max_errors: usize,
    ) {
        let mut slots: Vec<u16> = Vec::with_capacity(5);
        for (id, addr) in instances {
            let slot = self.slot(id, addr);
            self.destinations[slot as usize].series.push(series);
            slots.push(slot);
        }
        slots.sort_unstable();
        if let Some(&group) = self.group_by_slots.get(&slots) {
            // The same set always comes with the same max_errors within one ring snapshot.
            let _ = group;
            return;
        }
        let min_success = slots.len().saturating_sub(max_errors);
        self.group_by_slots.insert(slots.clone(), self.groups.len());
        self.groups.push(Group { slots, min_success });
    }

    fn slot(&mut self, id: &str, addr: &str) -> u16 {
        if let Some(&slot) = self.slot_by_id.get(id) {
            return slot;
        }
        let slot = self.destinations.len() as u16;
        self.destinations.push(Destination {
            id: id.to_string(),
            addr: addr.to_string(),
            series: Vec::new(),
        });
        self.slot_by_id.insert(id.to_string(), slot);
        slot
    }

    /// Whether every group reached its quorum, given which destinations succeeded
    /// (`succeeded[i]` for `destinations[i]`).
    pub(crate) fn quorum_met(&self, succeeded: &[bool]) -> bool {
        self.groups.iter().all(|g| {
            let ok = g.slots.iter().filter(|s| succeeded[**s as usize]).count();
            ok >= g.min_success
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sets: &[(&[&str], usize)]) -> ReplicaPlan {
        let mut plan = ReplicaPlan::default();
        for (i, (ids, max_errors)) in sets.iter().enumerate() {
            plan.add(i as u32, ids.iter().map(|id| (*id, *id)), *max_errors);
        }
        plan
    }

    fn ok(plan: &ReplicaPlan, failed: &[&str]) -> Vec<bool> {
        plan.destinations
            .iter()
            .map(|d| !failed.contains(&d.id.as_str()))
            .collect()
    }

    /// Replica sets (instance ids, max errors) of the series of one push.
    type Sets<'a> = &'a [(&'a [&'a str], usize)];

    #[test]
    fn quorum_table() {
        let three: &[&str] = &["a", "b", "c"];
        let other: &[&str] = &["b", "c", "d"];
        let cases: &[(Sets<'_>, &[&str], bool)] = &[
            (&[(three, 1)], &[], true),
            (&[(three, 1)], &["a"], true),
            (&[(three, 1)], &["a", "b"], false),
            (&[(three, 1), (other, 1)], &["a", "d"], true),
            (&[(three, 1), (other, 1)], &["c", "d"], false),
            // a set shrunk by an unhealthy instance allows no error
            (&[(&["a", "b"], 0)], &["b"], false),
            (&[(&["a"], 0)], &[], true),
        ];
        for (sets, failed, want) in cases {
            let p = plan(sets);
            assert_eq!(
                p.quorum_met(&ok(&p, failed)),
                *want,
                "{sets:?} failed={failed:?}"
            );
        }
    }

    #[test]
    fn route_puts_every_item_on_its_replica_set() {
        let ring = crate::test_support::test_ring(4, "i", |i| vec![i as u32 * 1000]);
        let now = crate::push_common::now_ms();
        let cases: &[&[u32]] = &[&[], &[1], &[1, 1500, 2500, 3500, 4500]];
        for tokens in cases {
            let plan = ReplicaPlan::route(&ring, now, tokens.iter().copied()).unwrap();
            let mut want = Vec::new();
            for (i, &token) in tokens.iter().enumerate() {
                ring.get_indices(token, Operation::Write, now, &mut want)
                    .unwrap();
                let mut want: Vec<&str> = want
                    .iter()
                    .map(|&r| ring.instances()[r].id.as_str())
                    .collect();
                want.sort_unstable();
                let mut got: Vec<&str> = (plan.destinations.iter())
                    .filter(|d| d.series.contains(&(i as u32)))
                    .map(|d| d.id.as_str())
                    .collect();
                got.sort_unstable();
                assert_eq!(got, want, "{tokens:?} item {i}");
            }
            let all_ok = vec![true; plan.destinations.len()];
            assert!(plan.quorum_met(&all_ok));
        }
    }

    #[test]
    fn batches_series_per_instance() {
        let p = plan(&[(&["a", "b"], 0), (&["b", "c"], 0), (&["c", "a"], 0)]);
        let by_id: HashMap<_, _> = p
            .destinations
            .iter()
            .map(|d| (d.id.as_str(), d.series.clone()))
            .collect();
        assert_eq!(by_id["a"], vec![0, 2]);
        assert_eq!(by_id["b"], vec![0, 1]);
        assert_eq!(by_id["c"], vec![1, 2]);
        // same set in a different order is one group
        let p = plan(&[(&["a", "b"], 1), (&["b", "a"], 1)]);
        assert_eq!(p.groups.len(), 1);
    }
}
