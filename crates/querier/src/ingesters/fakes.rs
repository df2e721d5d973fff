//! What the queriers' fake ingesters share (tests only): a pool of fakes by address that
//! records every request and fails like a down or unknown ingester, and a ring of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sextant_ring::{InstanceDesc, InstanceState, ReplicationConfig, RingDesc, TokenRing};
use tonic::Status;

use crate::ingesters::RingSnapshot;

/// A fake ingester that may be down.
pub(crate) trait MayFail {
    /// Whether every request to it fails.
    fn fails(&self) -> bool;
}

/// Fake ingesters `I` by address; records the address of every request.
pub(crate) struct FakeIngesterPool<I> {
    pub(crate) by_addr: BTreeMap<String, I>,
    pub(crate) requests: Mutex<Vec<String>>,
}

impl<I> Default for FakeIngesterPool<I> {
    fn default() -> Self {
        FakeIngesterPool {
            by_addr: BTreeMap::new(),
            requests: Mutex::new(Vec::new()),
        }
    }
}

impl<I> FakeIngesterPool<I> {
    /// `ingesters` as `ingester-<n>` at `<host>-<n>:9095` (`n` from 1), with the ring of
    /// them, all ACTIVE and heartbeating at `heartbeat_ms`.
    pub(crate) fn numbered(
        ingesters: Vec<I>,
        host: &str,
        heartbeat_ms: i64,
    ) -> (Self, RingSnapshot) {
        let instances: Vec<(String, String)> = (1..=ingesters.len())
            .map(|i| (format!("ingester-{i}"), format!("{host}-{i}:9095")))
            .collect();
        let ring_instances: Vec<(&str, &str, InstanceState, i64)> = instances
            .iter()
            .map(|(id, addr)| {
                (
                    id.as_str(),
                    addr.as_str(),
                    InstanceState::Active,
                    heartbeat_ms,
                )
            })
            .collect();
        let ring = fake_ring(&ring_instances, 1_000_000);
        let pool = FakeIngesterPool {
            by_addr: instances
                .into_iter()
                .map(|(_, addr)| addr)
                .zip(ingesters)
                .collect(),
            requests: Mutex::new(Vec::new()),
        };
        (pool, Arc::new(move || Arc::clone(&ring)))
    }
}

impl<I: MayFail> FakeIngesterPool<I> {
    /// Records a request to `addr` and returns the ingester there, or the error of a down
    /// or unknown one.
    pub(crate) fn reach(&self, addr: &str) -> Result<&I, Status> {
        self.requests.lock().push(addr.to_string());
        match self.by_addr.get(addr) {
            Some(ingester) if !ingester.fails() => Ok(ingester),
            Some(_) => Err(Status::unavailable("injected failure")),
            None => Err(Status::unavailable("no such ingester")),
        }
    }
}

/// A ring with RF 3 of `(id, addr, state, heartbeat_ms)` instances, each owning one token
/// (`(i + 1) * token_step`).
pub(crate) fn fake_ring(
    instances: &[(&str, &str, InstanceState, i64)],
    token_step: u32,
) -> Arc<TokenRing> {
    let mut desc = RingDesc::default();
    for (i, &(id, addr, state, heartbeat_ms)) in instances.iter().enumerate() {
        let instance = InstanceDesc {
            id: id.to_string(),
            addr: addr.to_string(),
            zone: String::new(),
            state,
            tokens: vec![(i as u32 + 1) * token_step],
            heartbeat_ms,
            registered_ms: 0,
        };
        desc.instances.insert(id.to_string(), instance);
    }
    let config = ReplicationConfig {
        replication_factor: 3,
        zone_awareness_enabled: false,
        heartbeat_timeout: Duration::from_secs(60),
    };
    Arc::new(TokenRing::new(&desc, config))
}
