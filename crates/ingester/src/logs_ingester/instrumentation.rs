//! `sextant_ingester_logs_*` self-metrics of the logs block shipper, on an injected registry.
//! (The metrics side's `sextant_ingester_blocks_*` families live in `crate::instrumentation`;
//! distinct names keep each family registered once.)

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sextant_logs::db::LogsTruncateStats;

#[derive(Debug, Default, Clone)]
pub(crate) struct LogsShipperMetrics {
    blocks_shipped: Counter,
    upload_bytes: Counter,
    failures: Counter,
    truncations: Counter,
    streams_removed: Counter,
}

impl LogsShipperMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = LogsShipperMetrics::default();
        let r = registry.sub_registry_with_prefix("sextant_ingester_logs");
        r.register(
            "blocks_shipped",
            "Logs blocks uploaded to object storage.",
            m.blocks_shipped.clone(),
        );
        r.register(
            "block_upload_bytes",
            "Bytes of logs blocks uploaded (index, chunks and meta).",
            m.upload_bytes.clone(),
        );
        r.register(
            "block_ship_failures",
            "Logs block cuts, uploads or bucket index updates that failed (retried later).",
            m.failures.clone(),
        );
        r.register(
            "head_truncations",
            "Logs head truncations after shipped blocks.",
            m.truncations.clone(),
        );
        r.register(
            "head_streams_removed",
            "Streams dropped from the logs heads by truncations.",
            m.streams_removed.clone(),
        );
        m
    }

    pub(crate) fn observe_shipped(&self, bytes: u64) {
        self.blocks_shipped.inc();
        self.upload_bytes.inc_by(bytes);
    }

    pub(crate) fn count_failures(&self, failures: usize) {
        self.failures.inc_by(failures as u64);
    }

    pub(crate) fn observe_truncation(&self, stats: &LogsTruncateStats) {
        self.truncations.inc();
        self.streams_removed.inc_by(stats.streams_removed);
    }

    #[cfg(test)]
    pub(crate) fn shipped(&self) -> (u64, u64, u64) {
        (
            self.blocks_shipped.get(),
            self.upload_bytes.get(),
            self.failures.get(),
        )
    }
}
