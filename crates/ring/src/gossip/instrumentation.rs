//! Self-metrics of the gossip layer.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters of our own KV messages (deltas and full states), not memberlist's probes.
#[derive(Default)]
pub(crate) struct GossipMetrics {
    pub(crate) members: Gauge,
    messages_sent: Counter,
    bytes_sent: Counter,
    messages_received: Counter,
    bytes_received: Counter,
}

impl GossipMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "sextant_memberlist_members",
            "Alive members of the gossip cluster",
            m.members.clone(),
        );
        registry.register(
            "sextant_memberlist_messages_sent",
            "Ring KV messages handed to the gossip transport",
            m.messages_sent.clone(),
        );
        registry.register(
            "sextant_memberlist_sent_bytes",
            "Bytes of ring KV messages handed to the gossip transport",
            m.bytes_sent.clone(),
        );
        registry.register(
            "sextant_memberlist_messages_received",
            "Ring KV messages received from peers",
            m.messages_received.clone(),
        );
        registry.register(
            "sextant_memberlist_received_bytes",
            "Bytes of ring KV messages received from peers",
            m.bytes_received.clone(),
        );
        m
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.messages_sent.inc();
        self.bytes_sent.inc_by(bytes as u64);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.messages_received.inc();
        self.bytes_received.inc_by(bytes as u64);
    }
}
