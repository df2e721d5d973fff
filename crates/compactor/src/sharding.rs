//! Which compactor runs what: compactors join the `compactor-<signal>` ring (RF 1), a job
//! belongs to the owner of `xxh3(tenant, group key)` and a tenant's per-tenant passes
//! (cleanup, redundant blocks) to the owner of `xxh3(tenant)`, so a big tenant's time ranges
//! spread over the compactors. The owner is the first ACTIVE, healthy instance clockwise from
//! the token; when the ring has none, nobody owns anything (the next run retries). Two
//! compactors with different views may both run a job: the planner then marks one of the two
//! equal blocks as redundant, so that costs work, not correctness.

use std::sync::Arc;

use sextant_model::TenantId;
use sextant_ring::{InstanceDesc, InstanceState, Ring, TokenRing};
use xxhash_rust::xxh3::xxh3_64;

/// The name of the compactors' ring for `signal`.
pub fn compactor_ring_name(signal: sextant_model::Signal) -> String {
    format!("compactor-{}", signal.as_str())
}

/// One compactor's view of one signal's ring.
#[derive(Clone)]
pub struct CompactorSharding {
    /// `None`: a lone compactor that owns everything.
    ring: Option<Arc<Ring>>,
    instance_id: String,
}

impl CompactorSharding {
    /// Shards through `ring`, as instance `instance_id`.
    pub fn new(ring: Arc<Ring>, instance_id: impl Into<String>) -> Self {
        CompactorSharding {
            ring: Some(ring),
            instance_id: instance_id.into(),
        }
    }

    /// A lone compactor that owns every job and tenant (tests, single-node setups).
    pub fn single(instance_id: impl Into<String>) -> Self {
        CompactorSharding {
            ring: None,
            instance_id: instance_id.into(),
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The ring, if sharded.
    pub fn ring(&self) -> Option<&Arc<Ring>> {
        self.ring.as_ref()
    }

    /// Whether this compactor runs the job of `group_key` of `tenant`.
    pub fn owns_job(&self, tenant: &TenantId, group_key: &str) -> bool {
        self.owns(job_token(tenant, group_key))
    }

    /// Whether this compactor runs the per-tenant passes of `tenant`.
    pub fn owns_tenant(&self, tenant: &TenantId) -> bool {
        self.owns(tenant_token(tenant))
    }

    fn owns(&self, token: u32) -> bool {
        let Some(ring) = &self.ring else {
            return true;
        };
        let now = sextant_ring::gossip::now_ms();
        owner(&ring.token_ring(), token, now).as_deref() == Some(self.instance_id.as_str())
    }
}

/// The ring token of a job.
pub fn job_token(tenant: &TenantId, group_key: &str) -> u32 {
    let key = format!("{}/{group_key}", tenant.as_str());
    fold(xxh3_64(key.as_bytes()))
}

/// The ring token of a tenant's per-tenant passes.
pub fn tenant_token(tenant: &TenantId) -> u32 {
    fold(xxh3_64(tenant.as_str().as_bytes()))
}

fn fold(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// The id of the instance owning `token` at `now_ms`: walking clockwise from the token, the
/// first instance that is ACTIVE with a recent heartbeat, so that the work of a compactor
/// that died (or is still joining) moves to the next one and nothing else moves; `None` when
/// there is no such instance.
pub fn owner(ring: &TokenRing, token: u32, now_ms: i64) -> Option<String> {
    let timeout_ms = i64::try_from(ring.config().heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
    let eligible: Vec<&InstanceDesc> = ring
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
    let first = tokens.partition_point(|(t, _)| *t < token);
    let (_, i) = tokens.get(first).or_else(|| tokens.first())?;
    Some(eligible[*i].id.clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;
    use sextant_ring::{ReplicationConfig, RingDesc};

    use super::*;

    const NOW: i64 = 1_000_000;

    fn instance(id: &str, n: u32, state: InstanceState) -> InstanceDesc {
        InstanceDesc {
            id: id.into(),
            addr: format!("{id}:9095"),
            zone: String::new(),
            state,
            tokens: (0..128)
                .map(|i| xxh3_64(format!("{id}-{i}").as_bytes()) as u32 ^ n)
                .collect(),
            heartbeat_ms: NOW,
            registered_ms: 0,
        }
    }

    fn ring(instances: &[InstanceDesc]) -> TokenRing {
        let mut desc = RingDesc::default();
        for i in instances {
            desc.instances.insert(i.id.clone(), i.clone());
        }
        TokenRing::new(
            &desc,
            ReplicationConfig {
                replication_factor: 1,
                zone_awareness_enabled: false,
                heartbeat_timeout: Duration::from_secs(60),
            },
        )
    }

    fn jobs() -> Vec<u32> {
        (0..20)
            .flat_map(|t| (0..50).map(move |w| (t, w)))
            .map(|(t, w)| {
                let tenant = TenantId::parse(&format!("tenant-{t}")).unwrap();
                job_token(
                    &tenant,
                    &format!("{}-{}-0", w * 7_200_000, (w + 1) * 7_200_000),
                )
            })
            .collect()
    }

    #[test]
    fn every_job_has_one_owner_and_removing_one_moves_only_its_jobs() {
        let three = [
            instance("c-1", 1, InstanceState::Active),
            instance("c-2", 2, InstanceState::Active),
            instance("c-3", 3, InstanceState::Active),
        ];
        let before = ring(&three);
        let after = ring(&three[..2]);
        let mut per_owner: BTreeMap<String, usize> = BTreeMap::new();
        for token in jobs() {
            let owner_before = owner(&before, token, NOW).unwrap();
            let owner_after = owner(&after, token, NOW).unwrap();
            *per_owner.entry(owner_before.clone()).or_default() += 1;
            if owner_before != "c-3" {
                assert_eq!(owner_after, owner_before, "token {token} moved");
            }
        }
        // 1000 jobs spread over the three compactors
        assert_eq!(per_owner.len(), 3, "{per_owner:?}");
        assert!(per_owner.values().all(|n| *n > 150), "{per_owner:?}");
    }

    #[test]
    fn only_active_healthy_instances_own_work() {
        let mut stale = instance("c-2", 2, InstanceState::Active);
        stale.heartbeat_ms = NOW - 120_000;
        // (instances, owners that may appear)
        let cases: Vec<(Vec<InstanceDesc>, Vec<Option<&str>>)> = vec![
            (
                vec![
                    instance("c-1", 1, InstanceState::Active),
                    instance("c-2", 2, InstanceState::Joining),
                ],
                vec![Some("c-1")],
            ),
            (
                vec![instance("c-1", 1, InstanceState::Active), stale],
                vec![Some("c-1")],
            ),
            (
                vec![
                    instance("c-1", 1, InstanceState::Active),
                    instance("c-2", 2, InstanceState::Active),
                ],
                vec![Some("c-1"), Some("c-2")],
            ),
            (vec![instance("c-1", 1, InstanceState::Leaving)], vec![None]),
            (vec![], vec![None]),
        ];
        for (instances, allowed) in cases {
            let r = ring(&instances);
            for token in jobs().into_iter().take(100) {
                let got = owner(&r, token, NOW);
                assert!(
                    allowed.contains(&got.as_deref()),
                    "{got:?} for {instances:?}"
                );
            }
        }
    }

    #[test]
    fn a_lone_compactor_owns_everything() {
        let s = CompactorSharding::single("c-1");
        let t = TenantId::parse("t").unwrap();
        assert!(s.owns_job(&t, "0-1-0") && s.owns_tenant(&t));
        assert_eq!(s.instance_id(), "c-1");
        assert_eq!(
            compactor_ring_name(sextant_model::Signal::Logs),
            "compactor-logs"
        );
    }

    proptest! {
        /// Any two or three compactors: each token has exactly one owner among them.
        #[test]
        fn ownership_is_a_partition(n in 2u32..4, tokens in prop::collection::vec(any::<u32>(), 1..50)) {
            let instances: Vec<InstanceDesc> = (0..n)
                .map(|i| instance(&format!("c-{i}"), i, InstanceState::Active))
                .collect();
            let r = ring(&instances);
            for token in tokens {
                let owner = owner(&r, token, NOW).unwrap();
                prop_assert!(instances.iter().any(|i| i.id == owner));
            }
        }
    }
}
