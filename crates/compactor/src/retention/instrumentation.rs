//! Self-metrics of retention and deletions, registered on an injected registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sextant_model::Signal;

use super::RetentionOutcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

/// `sextant_compactor_retention_*`, `..._deletion_requests_processed_total`,
/// `..._log_entries_deleted_total` and `..._tenants_deleted_total`. Clones share the counters.
#[derive(Clone, Debug, Default)]
pub struct CompactorRetentionMetrics {
    blocks_deleted: Family<SignalLabels, Counter>,
    blocks_rewritten: Family<SignalLabels, Counter>,
    pub(crate) deletion_requests_processed: Counter,
    pub(crate) log_entries_deleted: Counter,
    pub(crate) tenants_deleted: Counter,
}

impl CompactorRetentionMetrics {
    /// Registers the metrics on `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = CompactorRetentionMetrics::default();
        registry.register(
            "sextant_compactor_retention_blocks_deleted",
            "Blocks marked for deletion by retention (wholly expired or rewritten to nothing).",
            metrics.blocks_deleted.clone(),
        );
        registry.register(
            "sextant_compactor_retention_blocks_rewritten",
            "Partially expired blocks replaced by a rewritten block.",
            metrics.blocks_rewritten.clone(),
        );
        registry.register(
            "sextant_compactor_deletion_requests_processed",
            "Log deletion requests applied to storage.",
            metrics.deletion_requests_processed.clone(),
        );
        registry.register(
            "sextant_compactor_log_entries_deleted",
            "Log entries removed from blocks by deletion requests.",
            metrics.log_entries_deleted.clone(),
        );
        registry.register(
            "sextant_compactor_tenants_deleted",
            "Tenant deletions completed for one signal (all blocks deleted).",
            metrics.tenants_deleted.clone(),
        );
        metrics
    }

    pub(crate) fn count_retention(&self, signal: Signal, outcome: &RetentionOutcome) {
        let labels = SignalLabels {
            signal: signal.as_str(),
        };
        self.blocks_deleted
            .get_or_create(&labels)
            .inc_by(outcome.blocks_deleted as u64);
        self.blocks_rewritten
            .get_or_create(&labels)
            .inc_by(outcome.blocks_rewritten as u64);
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn registers_and_counts_by_signal() {
        let mut registry = Registry::default();
        let metrics = CompactorRetentionMetrics::new(&mut registry);
        let outcome = RetentionOutcome {
            blocks_deleted: 2,
            blocks_rewritten: 1,
            failures: 0,
        };
        metrics.count_retention(Signal::Logs, &outcome);
        metrics.log_entries_deleted.inc_by(7);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "sextant_compactor_retention_blocks_deleted_total{signal=\"logs\"} 2",
            "sextant_compactor_retention_blocks_rewritten_total{signal=\"logs\"} 1",
            "sextant_compactor_log_entries_deleted_total 7",
            "sextant_compactor_tenants_deleted_total 0",
            "sextant_compactor_deletion_requests_processed_total 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
