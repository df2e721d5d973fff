//! The read side of a ring: a [`TokenRing`] kept fresh from gossip notifications.

use std::sync::Arc;

use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use crate::error::RingError;
use crate::gossip::{now_ms, GossipKv};
use crate::token_ring::{InstanceDesc, Operation, ReplicationConfig, ReplicationSet, TokenRing};

/// A read handle on one ring, rebuilt in the background whenever the ring changes.
pub struct Ring {
    name: String,
    kv: Arc<GossipKv>,
    current: Arc<RwLock<Arc<TokenRing>>>,
    cancel: CancellationToken,
}

impl Ring {
    /// Watches ring `ring_name` of `kv`. Must be called inside a tokio runtime.
    pub fn new(ring_name: &str, kv: Arc<GossipKv>, config: ReplicationConfig) -> Self {
        let mut rx = kv.watch(ring_name);
        let first = TokenRing::new(&rx.borrow_and_update(), config.clone());
        let current = Arc::new(RwLock::new(Arc::new(first)));
        let cancel = CancellationToken::new();
        let (shared, stop) = (Arc::clone(&current), cancel.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = rx.changed() => if changed.is_err() { return },
                }
                let desc = Arc::clone(&rx.borrow_and_update());
                let prev = Arc::clone(&shared.read());
                let config = config.clone();
                // Sorting thousands of tokens is CPU work: keep it off the runtime.
                let rebuilt = tokio::task::spawn_blocking(move || {
                    TokenRing::rebuild(Some(&prev), &desc, config)
                })
                .await;
                match rebuilt {
                    Ok(ring) => *shared.write() = Arc::new(ring),
                    Err(error) => tracing::error!(%error, "ring rebuild failed"),
                }
            }
        });
        Self {
            name: ring_name.to_string(),
            kv,
            current,
            cancel,
        }
    }

    /// The ring's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current snapshot.
    pub fn token_ring(&self) -> Arc<TokenRing> {
        Arc::clone(&self.current.read())
    }

    /// The replication set of `key` now.
    pub fn get(&self, key: u32, op: Operation) -> Result<ReplicationSet, RingError> {
        self.token_ring().get(key, op, now_ms())
    }

    /// Live instances (no tombstones), sorted by id.
    pub fn instances(&self) -> Vec<InstanceDesc> {
        self.token_ring().instances().to_vec()
    }

    /// Instances with a recent heartbeat.
    pub fn healthy_count(&self) -> usize {
        self.token_ring().healthy_count(now_ms())
    }

    /// Removes a dead instance by gossiping a `Left` tombstone; false when unknown.
    pub fn forget(&self, instance_id: &str) -> bool {
        forget(&self.kv, &self.name, instance_id)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Writes a `Left` tombstone for `instance_id` in ring `ring_name`; false when unknown.
pub(crate) fn forget(kv: &GossipKv, ring_name: &str, instance_id: &str) -> bool {
    let mut found = false;
    kv.cas(ring_name, |desc| {
        found = desc.mark_left(instance_id, now_ms())
    });
    if found {
        tracing::info!(ring = %ring_name, instance = %instance_id, "forgot instance");
    }
    found
}
