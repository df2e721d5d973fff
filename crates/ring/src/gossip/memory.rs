//! Several gossip nodes in one process, for tests: broadcasts are delivered synchronously to
//! every other live node, and joining exchanges the full state with all of them.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::store::KvStore;
use super::{GossipKv, GossipTransport, MemberStatus, MemberlistConfig};

struct Node {
    name: String,
    store: Arc<KvStore>,
    left: bool,
}

/// An in-process gossip cluster. Clones share the same cluster.
#[derive(Clone, Default)]
pub struct InMemoryCluster {
    nodes: Arc<Mutex<Vec<Node>>>,
}

impl InMemoryCluster {
    /// An empty cluster.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node named `node_name` and syncs it with the live nodes (a push/pull).
    pub fn join(&self, node_name: &str) -> Arc<GossipKv> {
        let store = Arc::new(KvStore::default());
        let mut nodes = self.nodes.lock();
        for node in nodes.iter().filter(|n| !n.left) {
            // Decoding our own encoding cannot fail; a failure would only lose this sync.
            let _ = store.merge_message(&node.store.full_state());
        }
        nodes.push(Node {
            name: node_name.to_string(),
            store: Arc::clone(&store),
            left: false,
        });
        drop(nodes);
        let transport = InMemoryTransport {
            cluster: self.clone(),
            name: node_name.to_string(),
        };
        let timeout = MemberlistConfig::default().left_instances_timeout;
        Arc::new(GossipKv::new(
            store,
            Box::new(transport),
            timeout,
            CancellationToken::new(),
        ))
    }
}

struct InMemoryTransport {
    cluster: InMemoryCluster,
    name: String,
}

impl GossipTransport for InMemoryTransport {
    fn broadcast(&self, msg: Bytes) {
        let nodes = self.cluster.nodes.lock();
        for node in nodes.iter().filter(|n| !n.left && n.name != self.name) {
            if let Err(error) = node.store.merge_message(&msg) {
                tracing::warn!(%error, node = %node.name, "in-memory gossip: dropping message");
            }
        }
    }

    fn members(&self) -> BoxFuture<'_, Vec<MemberStatus>> {
        let nodes = self.cluster.nodes.lock();
        let members = nodes
            .iter()
            .map(|n| MemberStatus {
                name: n.name.clone(),
                addr: format!("in-memory/{}", n.name),
                state: if n.left { "left" } else { "alive" }.to_string(),
            })
            .collect();
        Box::pin(async move { members })
    }

    fn node_name(&self) -> String {
        self.name.clone()
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        let mut nodes = self.cluster.nodes.lock();
        for node in nodes.iter_mut().filter(|n| n.name == self.name) {
            node.left = true;
        }
        Box::pin(async {})
    }
}
