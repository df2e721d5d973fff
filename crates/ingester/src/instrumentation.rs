//! `sextant_ingester_*` self-metrics, registered on an injected registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sextant_metrics::db::{AppendOutcome, ReplayStats, TruncateStats};
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    signal: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    signal: &'static str,
    reason: &'static str,
}

const METRICS: SignalLabels = SignalLabels { signal: "metrics" };

pub(crate) struct IngesterMetrics {
    ingested: Family<KindLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    head_series: Family<SignalLabels, Gauge>,
    tenants: Family<SignalLabels, Gauge>,
    wal_bytes: Family<SignalLabels, Gauge<u64, AtomicU64>>,
    replay_seconds: Family<SignalLabels, Gauge<f64, AtomicU64>>,
    replayed: Family<KindLabels, Counter>,
    replay_corrupt: Family<SignalLabels, Counter>,
    wal_sync_failures: Family<SignalLabels, Counter>,
    blocks_cut: Family<SignalLabels, Counter>,
    blocks_uploaded: Family<SignalLabels, Counter>,
    block_upload_failures: Family<SignalLabels, Counter>,
    block_upload_bytes: Family<SignalLabels, Counter>,
    last_upload_seconds: Family<SignalLabels, Gauge<f64, AtomicU64>>,
    head_truncations: Family<SignalLabels, Counter>,
    checkpoint_seconds: Family<SignalLabels, Histogram>,
}

impl IngesterMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = IngesterMetrics {
            ingested: Family::default(),
            rejected: Family::default(),
            head_series: Family::default(),
            tenants: Family::default(),
            wal_bytes: Family::default(),
            replay_seconds: Family::default(),
            replayed: Family::default(),
            replay_corrupt: Family::default(),
            wal_sync_failures: Family::default(),
            blocks_cut: Family::default(),
            blocks_uploaded: Family::default(),
            block_upload_failures: Family::default(),
            block_upload_bytes: Family::default(),
            last_upload_seconds: Family::default(),
            head_truncations: Family::default(),
            checkpoint_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 4.0, 8))
            }),
        };
        let r = registry.sub_registry_with_prefix("sextant_ingester");
        r.register(
            "ingested_items",
            "Samples, histograms and exemplars appended, by kind.",
            m.ingested.clone(),
        );
        r.register(
            "rejected_items",
            "Items refused by the head, by reason.",
            m.rejected.clone(),
        );
        r.register(
            "head_series",
            "Series in the in-memory heads of all tenants.",
            m.head_series.clone(),
        );
        r.register(
            "tenants",
            "Tenants with a head on this ingester.",
            m.tenants.clone(),
        );
        r.register(
            "wal_bytes_written",
            "Bytes written to the WAL since start.",
            m.wal_bytes.clone(),
        );
        r.register(
            "wal_replay_duration_seconds",
            "Time the last start spent replaying the WAL.",
            m.replay_seconds.clone(),
        );
        r.register(
            "wal_replayed_items",
            "Items restored from the WAL at start, by kind.",
            m.replayed.clone(),
        );
        r.register(
            "wal_corrupt_records",
            "Corrupt or torn WAL records skipped during replay.",
            m.replay_corrupt.clone(),
        );
        r.register(
            "wal_sync_failures",
            "Failed WAL fsyncs.",
            m.wal_sync_failures.clone(),
        );
        m.register_blocks(r);
        m
    }

    fn register_blocks(&self, r: &mut Registry) {
        r.register(
            "blocks_cut",
            "Blocks cut from the heads.",
            self.blocks_cut.clone(),
        );
        r.register(
            "blocks_uploaded",
            "Blocks uploaded to object storage.",
            self.blocks_uploaded.clone(),
        );
        r.register(
            "block_upload_failures",
            "Block uploads that failed (retried on the next tick).",
            self.block_upload_failures.clone(),
        );
        r.register(
            "block_upload_bytes",
            "Bytes of blocks uploaded.",
            self.block_upload_bytes.clone(),
        );
        r.register(
            "last_block_upload_timestamp_seconds",
            "Unix time of the last successful block upload.",
            self.last_upload_seconds.clone(),
        );
        r.register(
            "head_truncations",
            "Head truncations after a block upload.",
            self.head_truncations.clone(),
        );
        r.register(
            "wal_checkpoint_duration_seconds",
            "Time spent writing a WAL checkpoint.",
            self.checkpoint_seconds.clone(),
        );
    }

    pub(crate) fn count_block_cut(&self) {
        self.blocks_cut.get_or_create(&METRICS).inc();
    }

    pub(crate) fn count_upload_failure(&self) {
        self.block_upload_failures.get_or_create(&METRICS).inc();
    }

    pub(crate) fn observe_upload(&self, bytes: u64) {
        self.blocks_uploaded.get_or_create(&METRICS).inc();
        self.block_upload_bytes
            .get_or_create(&METRICS)
            .inc_by(bytes);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_upload_seconds.get_or_create(&METRICS).set(now);
    }

    pub(crate) fn observe_truncation(&self, stats: &TruncateStats) {
        self.head_truncations.get_or_create(&METRICS).inc();
        self.checkpoint_seconds
            .get_or_create(&METRICS)
            .observe(stats.checkpoint_duration.as_secs_f64());
        self.head_series
            .get_or_create(&METRICS)
            .dec_by(stats.series_removed as i64);
    }

    pub(crate) fn observe_append(&self, outcome: &AppendOutcome) {
        for (kind, n) in [
            ("sample", outcome.samples_written),
            ("histogram", outcome.histograms_written),
            ("exemplar", outcome.exemplars_written),
        ] {
            if n > 0 {
                self.ingested
                    .get_or_create(&KindLabels {
                        signal: "metrics",
                        kind,
                    })
                    .inc_by(n);
            }
        }
        for (reason, n) in &outcome.rejected_counts {
            self.rejected
                .get_or_create(&ReasonLabels {
                    signal: "metrics",
                    reason: reason.id(),
                })
                .inc_by(*n);
        }
        if outcome.series_created > 0 {
            self.head_series
                .get_or_create(&METRICS)
                .inc_by(outcome.series_created as i64);
        }
    }

    pub(crate) fn observe_replay(&self, stats: &ReplayStats, series_now: usize) {
        for (kind, n) in [
            ("series", stats.series),
            ("sample", stats.samples),
            ("histogram", stats.histograms),
            ("exemplar", stats.exemplars),
        ] {
            self.replayed
                .get_or_create(&KindLabels {
                    signal: "metrics",
                    kind,
                })
                .inc_by(n);
        }
        self.replay_corrupt
            .get_or_create(&METRICS)
            .inc_by(stats.corrupt_records);
        self.head_series
            .get_or_create(&METRICS)
            .inc_by(series_now as i64);
    }

    pub(crate) fn set_replay_seconds(&self, seconds: f64) {
        self.replay_seconds.get_or_create(&METRICS).set(seconds);
    }

    pub(crate) fn set_tenants(&self, n: usize) {
        self.tenants.get_or_create(&METRICS).set(n as i64);
    }

    pub(crate) fn set_wal_bytes(&self, bytes: u64) {
        self.wal_bytes.get_or_create(&METRICS).set(bytes);
    }

    pub(crate) fn count_sync_failure(&self) {
        self.wal_sync_failures.get_or_create(&METRICS).inc();
    }
}
