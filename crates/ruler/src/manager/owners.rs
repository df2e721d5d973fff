//! Who evaluates a group: walking clockwise from the group's token, the first instance that
//! is ACTIVE with a heartbeat within the ring's timeout. A ruler that died (no heartbeat, still
//! ACTIVE in the ring) or is joining or leaving owns nothing, so its groups move to the next
//! ruler and no other group moves.
//!
//! `Ring::get(.., Operation::Write)` is not used: with one replica it returns the ring's owner
//! even when that owner is unhealthy (then fails the quorum), so a killed ruler's groups would
//! stay unevaluated until it is forgotten.

use sextant_ring::{InstanceState, TokenRing};

/// The eligible instances' tokens of one ring at one instant, sorted for lookups.
pub(super) struct RingOwners {
    tokens: Vec<(u32, usize)>,
    ids: Vec<String>,
}

impl RingOwners {
    pub(super) fn new(ring: &TokenRing, now_ms: i64) -> Self {
        let timeout_ms =
            i64::try_from(ring.config().heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
        let eligible: Vec<_> = ring
            .instances()
            .iter()
            .filter(|d| d.state == InstanceState::Active && d.is_healthy(now_ms, timeout_ms))
            .collect();
        let mut tokens: Vec<(u32, usize)> = eligible
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.tokens.iter().map(move |t| (*t, i)))
            .collect();
        tokens.sort_unstable();
        let ids = eligible.iter().map(|d| d.id.clone()).collect();
        Self { tokens, ids }
    }

    /// The id of the instance owning `token`; `None` when no instance is eligible.
    pub(super) fn owner(&self, token: u32) -> Option<&str> {
        let first = self.tokens.partition_point(|(t, _)| *t < token);
        let (_, i) = self.tokens.get(first).or_else(|| self.tokens.first())?;
        Some(self.ids[*i].as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use sextant_ring::{InstanceDesc, ReplicationConfig, RingDesc};

    use super::*;

    const NOW: i64 = 1_000_000;
    const TIMEOUT: Duration = Duration::from_secs(10);

    fn instance(id: &str, tokens: &[u32], state: InstanceState, heartbeat_ms: i64) -> InstanceDesc {
        InstanceDesc {
            id: id.into(),
            addr: format!("{id}:9095"),
            zone: String::new(),
            state,
            tokens: tokens.to_vec(),
            heartbeat_ms,
            registered_ms: 0,
        }
    }

    fn owners(instances: Vec<InstanceDesc>) -> RingOwners {
        let desc = RingDesc {
            instances: instances
                .into_iter()
                .map(|d| (d.id.clone(), d))
                .collect::<BTreeMap<_, _>>(),
        };
        let config = ReplicationConfig {
            replication_factor: 1,
            zone_awareness_enabled: false,
            heartbeat_timeout: TIMEOUT,
        };
        RingOwners::new(&TokenRing::new(&desc, config), NOW)
    }

    #[test]
    fn the_first_eligible_instance_clockwise_owns_a_token() {
        let stale = NOW - 10_001;
        let cases: &[(&str, Vec<InstanceDesc>, u32, Option<&str>)] = &[
            (
                "plain walk",
                vec![
                    instance("a", &[100, 300], InstanceState::Active, NOW),
                    instance("b", &[200], InstanceState::Active, NOW),
                ],
                150,
                Some("b"),
            ),
            (
                "a token equal to the key owns it",
                vec![
                    instance("a", &[100], InstanceState::Active, NOW),
                    instance("b", &[200], InstanceState::Active, NOW),
                ],
                100,
                Some("a"),
            ),
            (
                "wraps around past the last token",
                vec![
                    instance("a", &[100], InstanceState::Active, NOW),
                    instance("b", &[200], InstanceState::Active, NOW),
                ],
                250,
                Some("a"),
            ),
            (
                "a dead owner is skipped",
                vec![
                    instance("a", &[100], InstanceState::Active, NOW),
                    instance("b", &[200], InstanceState::Active, stale),
                ],
                150,
                Some("a"),
            ),
            (
                "a heartbeat at the timeout is still healthy",
                vec![
                    instance("a", &[100], InstanceState::Active, NOW),
                    instance("b", &[200], InstanceState::Active, NOW - 10_000),
                ],
                150,
                Some("b"),
            ),
            (
                "joining and leaving owners are skipped",
                vec![
                    instance("a", &[100], InstanceState::Joining, NOW),
                    instance("b", &[200], InstanceState::Leaving, NOW),
                    instance("c", &[300], InstanceState::Active, NOW),
                ],
                50,
                Some("c"),
            ),
            (
                "no eligible instance",
                vec![instance("a", &[100], InstanceState::Active, stale)],
                50,
                None,
            ),
            ("empty ring", vec![], 50, None),
        ];
        for (name, instances, token, want) in cases {
            let owners = owners(instances.clone());
            assert_eq!(owners.owner(*token), *want, "{name}");
        }
    }
}
