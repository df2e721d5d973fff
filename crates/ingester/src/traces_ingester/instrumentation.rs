//! `sextant_ingester_traces_*` self-metrics of the traces ingester and its block shipper, on
//! an injected registry (distinct names from the metrics and logs families, so each family is
//! registered once).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

const PREFIX: &str = "sextant_ingester_traces";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    /// The limit's name as in the limits config (`max_traces_per_user`, ...), or `invalid`.
    limit: String,
}

/// What the push path counts.
#[derive(Debug, Default, Clone)]
pub(crate) struct TracesIngestMetrics {
    live_traces: Gauge,
    spans_received: Counter,
    traces_refused: Family<LimitLabels, Counter>,
    wal_bytes_written: Counter,
}

impl TracesIngestMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = TracesIngestMetrics::default();
        let r = registry.sub_registry_with_prefix(PREFIX);
        r.register(
            "live_traces",
            "Traces receiving spans (not completed yet) in this ingester, all tenants.",
            m.live_traces.clone(),
        );
        r.register(
            "spans_received",
            "Spans written to the traces WAL and heads.",
            m.spans_received.clone(),
        );
        r.register(
            "traces_refused",
            "Traces of pushes refused, by the limit that refused them.",
            m.traces_refused.clone(),
        );
        r.register(
            "wal_bytes_written",
            "Bytes of encoded traces written to the traces WAL.",
            m.wal_bytes_written.clone(),
        );
        m
    }

    pub(crate) fn observe_written(&self, spans: u64, bytes: u64) {
        self.spans_received.inc_by(spans);
        self.wal_bytes_written.inc_by(bytes);
    }

    pub(crate) fn count_refused(&self, limit: &str, traces: u64) {
        let labels = LimitLabels {
            limit: limit.to_owned(),
        };
        self.traces_refused.get_or_create(&labels).inc_by(traces);
    }

    pub(crate) fn set_live_traces(&self, live: usize) {
        self.live_traces
            .set(i64::try_from(live).unwrap_or(i64::MAX));
    }

    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> (i64, u64, u64) {
        (
            self.live_traces.get(),
            self.spans_received.get(),
            self.wal_bytes_written.get(),
        )
    }

    #[cfg(test)]
    pub(crate) fn refused(&self, limit: &str) -> u64 {
        let labels = LimitLabels {
            limit: limit.to_owned(),
        };
        self.traces_refused.get_or_create(&labels).get()
    }
}

/// What the block shipper counts.
#[derive(Debug, Default, Clone)]
pub(crate) struct TracesShipperMetrics {
    blocks_shipped: Counter,
    upload_bytes: Counter,
    upload_failures: Counter,
    traces_released: Counter,
}

impl TracesShipperMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = TracesShipperMetrics::default();
        let r = registry.sub_registry_with_prefix(PREFIX);
        r.register(
            "blocks_shipped",
            "Traces blocks uploaded to object storage (bucket index updated).",
            m.blocks_shipped.clone(),
        );
        r.register(
            "block_upload_bytes",
            "Bytes of traces blocks uploaded (all files).",
            m.upload_bytes.clone(),
        );
        r.register(
            "block_upload_failures",
            "Traces block writes, uploads or bucket index updates that failed (retried later).",
            m.upload_failures.clone(),
        );
        r.register(
            "traces_released",
            "Shipped traces dropped from memory after retain_after_upload.",
            m.traces_released.clone(),
        );
        m
    }

    pub(crate) fn observe_shipped(&self, bytes: u64) {
        self.blocks_shipped.inc();
        self.upload_bytes.inc_by(bytes);
    }

    pub(crate) fn count_failure(&self) {
        self.upload_failures.inc();
    }

    pub(crate) fn observe_released(&self, traces: u64) {
        self.traces_released.inc_by(traces);
    }

    #[cfg(test)]
    pub(crate) fn shipped(&self) -> (u64, u64, u64) {
        (
            self.blocks_shipped.get(),
            self.upload_bytes.get(),
            self.upload_failures.get(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_exposed_under_their_names() {
        let mut registry = Registry::default();
        let ingest = TracesIngestMetrics::new(&mut registry);
        let shipper = TracesShipperMetrics::new(&mut registry);
        ingest.observe_written(5, 300);
        ingest.count_refused("max_traces_per_user", 2);
        ingest.set_live_traces(3);
        shipper.observe_shipped(1000);
        shipper.count_failure();
        shipper.observe_released(4);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let want = [
            "sextant_ingester_traces_live_traces 3",
            "sextant_ingester_traces_spans_received_total 5",
            "sextant_ingester_traces_traces_refused_total{limit=\"max_traces_per_user\"} 2",
            "sextant_ingester_traces_wal_bytes_written_total 300",
            "sextant_ingester_traces_blocks_shipped_total 1",
            "sextant_ingester_traces_block_upload_bytes_total 1000",
            "sextant_ingester_traces_block_upload_failures_total 1",
            "sextant_ingester_traces_traces_released_total 4",
        ];
        for line in want {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
