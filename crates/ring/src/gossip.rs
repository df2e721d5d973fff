//! Gossiped key-value store of ring states, Cortex memberlist-KV style.
//!
//! Values are [`RingDesc`]s keyed by ring name. A local [`GossipKv::cas`] applies the closure,
//! and broadcasts only the changed instance entries; peers merge what they receive and pass
//! real changes on; periodic push/pull exchanges the full state; watchers see every change.
//! [`GossipTransport`] is the narrow seam in front of the gossip library: [`GossipKv::start`]
//! uses the `memberlist` crate over TCP+UDP, [`InMemoryCluster`] wires nodes in one process.

mod instrumentation;
mod memory;
mod net;
mod store;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use memory::InMemoryCluster;

use crate::error::RingError;
use crate::token_ring::RingDesc;
use store::KvStore;

/// The `memberlist:` section of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemberlistConfig {
    /// `ip:port` to listen on (TCP and UDP). Port 0 picks a free port.
    pub bind_address: String,
    /// `ip:port` (or `host:port`) peers use to reach this node; empty: the bind address, or
    /// the first private IP when binding to 0.0.0.0.
    pub advertise_address: String,
    /// Seeds, `host:port`; DNS names are resolved (all addresses) at each join attempt.
    pub join_members: Vec<String>,
    /// Unique node name; empty: hostname plus a random suffix.
    pub node_name: String,
    /// How often gossip packets (with queued broadcasts) are sent.
    #[serde(with = "sextant_model::duration")]
    pub gossip_interval: Duration,
    /// How often the full state is exchanged with a random peer.
    #[serde(with = "sextant_model::duration")]
    pub push_pull_interval: Duration,
    /// How long `Left` tombstones are kept before being dropped.
    #[serde(with = "sextant_model::duration")]
    pub left_instances_timeout: Duration,
}

impl Default for MemberlistConfig {
    fn default() -> Self {
        Self {
            bind_address: "0.0.0.0:7946".to_string(),
            advertise_address: String::new(),
            join_members: Vec::new(),
            node_name: String::new(),
            gossip_interval: Duration::from_millis(200),
            push_pull_interval: Duration::from_secs(30),
            left_instances_timeout: Duration::from_secs(300),
        }
    }
}

/// One gossip cluster member, for the `/memberlist` page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Node name.
    pub name: String,
    /// Gossip address.
    pub addr: String,
    /// `alive`, `suspect`, `dead` or `left`.
    pub state: String,
}

/// What [`GossipKv`] needs from a gossip library.
pub trait GossipTransport: Send + Sync + 'static {
    /// Sends an encoded delta to the other members, best effort (push/pull repairs losses).
    fn broadcast(&self, msg: Bytes);
    /// Known members, this node included.
    fn members(&self) -> BoxFuture<'_, Vec<MemberStatus>>;
    /// This node's name.
    fn node_name(&self) -> String;
    /// Announces departure and stops gossiping.
    fn leave(&self) -> BoxFuture<'_, ()>;
}

/// The gossiped KV store of ring states. Cheap to share as `Arc<GossipKv>`.
pub struct GossipKv {
    store: Arc<KvStore>,
    transport: Box<dyn GossipTransport>,
    left_instances_timeout: Duration,
    cancel: CancellationToken,
}

impl GossipKv {
    /// Binds the memberlist transport, joins the seeds (retrying in the background until one
    /// answers) and starts gossiping. Self-metrics go to `registry`.
    pub async fn start(
        config: &MemberlistConfig,
        registry: &mut Registry,
    ) -> Result<Arc<GossipKv>, RingError> {
        let store = Arc::new(KvStore::default());
        let cancel = CancellationToken::new();
        let transport =
            net::MemberlistTransport::start(config, Arc::clone(&store), registry, cancel.clone())
                .await?;
        let kv = Arc::new(GossipKv::new(
            store,
            Box::new(transport),
            config.left_instances_timeout,
            cancel,
        ));
        kv.spawn_pruning();
        Ok(kv)
    }

    pub(crate) fn new(
        store: Arc<KvStore>,
        transport: Box<dyn GossipTransport>,
        left_instances_timeout: Duration,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            store,
            transport,
            left_instances_timeout,
            cancel,
        }
    }

    /// Updates ring `ring_name` locally with `f` and gossips the changed entries. Entries `f`
    /// changes must carry a newer `heartbeat_ms` than before to win on other nodes.
    pub fn cas(&self, ring_name: &str, f: impl FnOnce(&mut RingDesc)) {
        if let Some(delta) = self.store.cas(ring_name, f) {
            self.transport.broadcast(delta);
        }
    }

    /// The current state of a ring (empty when unknown).
    pub fn get(&self, ring_name: &str) -> Arc<RingDesc> {
        self.store.get(ring_name)
    }

    /// Notified on every change of the ring.
    pub fn watch(&self, ring_name: &str) -> watch::Receiver<Arc<RingDesc>> {
        self.store.watch(ring_name)
    }

    /// Names of the rings this node knows of.
    pub fn ring_names(&self) -> Vec<String> {
        self.store.ring_names()
    }

    /// Gossip cluster members, for the status page.
    pub async fn members(&self) -> Vec<MemberStatus> {
        self.transport.members().await
    }

    /// This node's gossip name.
    pub fn node_name(&self) -> String {
        self.transport.node_name()
    }

    /// How long tombstones are kept.
    pub fn left_instances_timeout(&self) -> Duration {
        self.left_instances_timeout
    }

    /// Leaves the cluster and stops background tasks. Call after the lifecyclers stopped so
    /// that their `Left` entries had a chance to be gossiped.
    pub async fn leave(&self) {
        self.transport.leave().await;
        self.cancel.cancel();
    }

    /// Drops tombstones older than `left_instances_timeout`.
    pub fn prune_tombstones(&self, now_ms: i64) -> usize {
        let timeout = i64::try_from(self.left_instances_timeout.as_millis()).unwrap_or(i64::MAX);
        self.store.prune(now_ms, timeout)
    }

    fn spawn_pruning(self: &Arc<Self>) {
        let kv = Arc::downgrade(self);
        let cancel = self.cancel.clone();
        let period = (self.left_instances_timeout / 10).max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(kv) = kv.upgrade() else { return };
                kv.prune_tombstones(now_ms());
            }
        });
    }
}

impl Drop for GossipKv {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Wall-clock unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
