//! The compactor's self-metrics, registered on an injected registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sextant_model::Signal;

type SignalLabel = [(&'static str, &'static str); 1];
type RunLabels = [(&'static str, &'static str); 2];

/// How a run (one signal's pass) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Success,
    Failure,
}

impl RunOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Failure => "failure",
        }
    }
}

/// `sextant_compactor_*`.
#[derive(Clone)]
pub struct CompactorMetrics {
    runs: Family<RunLabels, Counter>,
    blocks_compacted: Family<SignalLabel, Counter>,
    blocks_written: Family<SignalLabel, Counter>,
    bytes_saved: Family<SignalLabel, Counter>,
    job_failures: Family<SignalLabel, Counter>,
    oldest_uncompacted_age: Family<SignalLabel, Gauge>,
    blocks_marked: Family<SignalLabel, Counter>,
    blocks_deleted: Family<SignalLabel, Counter>,
    blocks_skipped_version: Family<SignalLabel, Counter>,
    run_duration: Family<SignalLabel, Histogram>,
}

fn signal_label(signal: Signal) -> SignalLabel {
    [("signal", signal.as_str())]
}

impl CompactorMetrics {
    /// Registers the metrics on `registry` (counters get their `_total` suffix there).
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = CompactorMetrics {
            runs: Family::default(),
            blocks_compacted: Family::default(),
            blocks_written: Family::default(),
            bytes_saved: Family::default(),
            job_failures: Family::default(),
            oldest_uncompacted_age: Family::default(),
            blocks_marked: Family::default(),
            blocks_deleted: Family::default(),
            blocks_skipped_version: Family::default(),
            run_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.1, 4.0, 10))
            }),
        };
        let r = registry;
        let m = &metrics;
        r.register(
            "sextant_compactor_runs",
            "Compaction runs per signal, by outcome.",
            m.runs.clone(),
        );
        r.register(
            "sextant_compactor_blocks_compacted",
            "Source blocks merged into new blocks.",
            m.blocks_compacted.clone(),
        );
        r.register(
            "sextant_compactor_blocks_written",
            "Blocks written by compaction.",
            m.blocks_written.clone(),
        );
        r.register(
            "sextant_compactor_bytes_saved",
            "Source bytes minus written bytes of compactions.",
            m.bytes_saved.clone(),
        );
        r.register(
            "sextant_compactor_job_failures",
            "Compaction jobs that failed.",
            m.job_failures.clone(),
        );
        r.register(
            "sextant_compactor_oldest_uncompacted_block_age_seconds",
            "Age of the oldest raw level-1 block still waiting to be compacted.",
            m.oldest_uncompacted_age.clone(),
        );
        r.register(
            "sextant_compactor_blocks_marked_for_deletion",
            "Blocks marked for deletion.",
            m.blocks_marked.clone(),
        );
        r.register(
            "sextant_compactor_blocks_deleted",
            "Blocks (and partial blocks) deleted.",
            m.blocks_deleted.clone(),
        );
        r.register("sextant_compactor_blocks_skipped_version", "Blocks left alone because their format version is newer than this build reads (per run).", m.blocks_skipped_version.clone());
        r.register(
            "sextant_compactor_run_duration_seconds",
            "Duration of a compaction run of one signal.",
            m.run_duration.clone(),
        );
        metrics
    }

    pub(crate) fn run_finished(&self, signal: Signal, outcome: RunOutcome, seconds: f64) {
        let labels = [("signal", signal.as_str()), ("outcome", outcome.as_str())];
        self.runs.get_or_create(&labels).inc();
        self.run_duration
            .get_or_create(&signal_label(signal))
            .observe(seconds);
    }

    pub(crate) fn job_succeeded(
        &self,
        signal: Signal,
        compacted: usize,
        written: bool,
        saved: u64,
    ) {
        let l = signal_label(signal);
        self.blocks_compacted
            .get_or_create(&l)
            .inc_by(compacted as u64);
        self.blocks_written
            .get_or_create(&l)
            .inc_by(u64::from(written));
        self.bytes_saved.get_or_create(&l).inc_by(saved);
        self.blocks_marked
            .get_or_create(&l)
            .inc_by(compacted as u64);
    }

    pub(crate) fn job_failed(&self, signal: Signal) {
        self.job_failures.get_or_create(&signal_label(signal)).inc();
    }

    pub(crate) fn blocks_marked(&self, signal: Signal, n: usize) {
        self.blocks_marked
            .get_or_create(&signal_label(signal))
            .inc_by(n as u64);
    }

    pub(crate) fn blocks_deleted(&self, signal: Signal, n: usize) {
        self.blocks_deleted
            .get_or_create(&signal_label(signal))
            .inc_by(n as u64);
    }

    pub(crate) fn blocks_skipped_version(&self, signal: Signal, n: usize) {
        self.blocks_skipped_version
            .get_or_create(&signal_label(signal))
            .inc_by(n as u64);
    }

    pub(crate) fn set_oldest_uncompacted_age(&self, signal: Signal, seconds: i64) {
        self.oldest_uncompacted_age
            .get_or_create(&signal_label(signal))
            .set(seconds);
    }
}
