//! The `ingester:` block of the configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_ring::LifecyclerConfig;

/// Ingester settings shared by all signals, with a sub-block per signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// Root of the write-ahead logs; each signal and tenant gets a sub-directory.
    pub wal_dir: String,
    /// Ring membership of this ingester (shared by its per-signal rings).
    pub lifecycler: LifecyclerConfig,
    pub metrics: IngesterMetricsConfig,
    pub logs: IngesterLogsConfig,
    pub traces: IngesterTracesConfig,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            wal_dir: "./data/wal".to_string(),
            lifecycler: LifecyclerConfig::default(),
            metrics: IngesterMetricsConfig::default(),
            logs: IngesterLogsConfig::default(),
            traces: IngesterTracesConfig::default(),
        }
    }
}

/// Logs-specific ingester settings (Loki's names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterLogsConfig {
    /// Copies of each stream kept on distinct ingesters of the `ingester-logs` ring.
    pub replication_factor: usize,
    /// How often idle tenants' WALs are fsynced (appends fsync when the last one is older).
    #[serde(with = "sextant_model::duration")]
    pub wal_fsync_interval: Duration,
    /// Size at which a WAL segment file is closed and a new one started.
    pub wal_segment_size: u64,
    /// A chunk is closed once its compressed size reaches this (Loki's `chunk_target_size`).
    pub chunk_target_size: usize,
    /// Uncompressed bytes per compressed block inside a chunk (Loki's `chunk_block_size`).
    pub chunk_block_size: usize,
    /// A chunk is closed once it spans this long (Loki's `max_chunk_age`); entries older than
    /// their stream's newest by more than half of it are refused (Loki 3's unordered writes).
    #[serde(with = "sextant_model::duration")]
    pub max_chunk_age: Duration,
    /// Length of the logs blocks cut from the heads, aligned to multiples of it in entry
    /// time (2h, as for metrics; small values such as `1m` suit tests).
    #[serde(with = "sextant_model::duration")]
    pub block_duration: Duration,
    /// How far the head's newest entry must be past a block's end before the block is cut.
    /// `0s` means half of `block_duration`.
    #[serde(with = "sextant_model::duration")]
    pub block_cut_grace: Duration,
    /// How often the logs shipper looks for blocks to cut and retries failed uploads.
    #[serde(with = "sextant_model::duration")]
    pub block_check_interval: Duration,
    /// How long shipped entries stay in the head (and are served by the ingester) so queriers
    /// learn about the block first; see `ingester.metrics.retain_after_upload`.
    #[serde(with = "sextant_model::duration")]
    pub retain_after_upload: Duration,
    /// Cut and upload everything the heads hold when the ingester stops (Loki's
    /// `flush_on_shutdown`); by default the WAL keeps it for the next start.
    pub flush_on_shutdown: bool,
}

impl Default for IngesterLogsConfig {
    fn default() -> Self {
        IngesterLogsConfig {
            replication_factor: 3,
            wal_fsync_interval: Duration::from_secs(1),
            wal_segment_size: 128 << 20,
            chunk_target_size: 1536 * 1024,
            chunk_block_size: 256 * 1024,
            max_chunk_age: Duration::from_secs(2 * 60 * 60),
            block_duration: Duration::from_secs(2 * 60 * 60),
            block_cut_grace: Duration::ZERO,
            block_check_interval: Duration::from_secs(15),
            retain_after_upload: Duration::from_secs(60),
            flush_on_shutdown: false,
        }
    }
}

impl IngesterLogsConfig {
    /// The grace after a block's end before it is cut, with `0s` resolved.
    pub fn effective_block_cut_grace(&self) -> Duration {
        match self.block_cut_grace.is_zero() {
            true => self.block_duration / 2,
            false => self.block_cut_grace,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.block_duration < Duration::from_secs(1) {
            return Err("ingester.logs.block_duration must be >= 1s".into());
        }
        if self.block_check_interval.is_zero() {
            return Err("ingester.logs.block_check_interval must be > 0s".into());
        }
        Ok(())
    }

    /// The settings of every tenant's logs database (its directory is set per tenant).
    pub fn db_template(&self) -> sextant_logs::db::LogsDbConfig {
        sextant_logs::db::LogsDbConfig {
            dir: std::path::PathBuf::new(),
            wal_segment_size: self.wal_segment_size,
            fsync: sextant_logs::db::LogsFsyncPolicy::Interval(self.wal_fsync_interval),
            chunk_target_bytes: self.chunk_target_size,
            chunk_block_bytes: self.chunk_block_size,
            max_chunk_age: self.max_chunk_age,
            out_of_order_window: self.max_chunk_age / 2,
        }
    }
}

/// Traces-specific ingester settings (Tempo's names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterTracesConfig {
    /// Copies of each trace kept on distinct ingesters of the `ingester-traces` ring.
    pub replication_factor: usize,
    /// How often the tenants' WALs are fsynced.
    #[serde(with = "sextant_model::duration")]
    pub wal_fsync_interval: Duration,
    /// Size at which a WAL segment file is closed and a new one started.
    pub wal_segment_size: u64,
    /// A live trace that received no span for this long is complete (Tempo's
    /// `trace_idle_period`).
    #[serde(with = "sextant_model::duration")]
    pub trace_idle_period: Duration,
    /// A live trace still receiving spans after this long is completed anyway; later spans
    /// start a new fragment, merged at query time. This bounds how long a trace pins its WAL
    /// segments and how late its first spans reach a block.
    #[serde(with = "sextant_model::duration")]
    pub max_trace_live: Duration,
    /// A block is cut once the oldest completed trace waits this long (Tempo's
    /// `max_block_duration`).
    #[serde(with = "sextant_model::duration")]
    pub max_block_duration: Duration,
    /// A block is cut once the completed traces hold this many bytes (Tempo's
    /// `max_block_bytes`).
    pub max_block_bytes: u64,
    /// How often the traces shipper completes idle traces and looks for blocks to cut
    /// (Tempo's `flush_check_period`).
    #[serde(with = "sextant_model::duration")]
    pub block_check_interval: Duration,
    /// How long the traces of an uploaded block stay in memory (and are served by the
    /// ingester) so queriers learn about the block first. Queriers always ask both the
    /// ingesters and the blocks (there is no `query_backend_after` split as in Tempo, whose
    /// `complete_block_timeout` of 15m keeps blocks on disk), so this only has to cover the
    /// queriers' bucket index refresh (30s) and the index update; 2m leaves margin without
    /// holding minutes of ingest in memory.
    #[serde(with = "sextant_model::duration")]
    pub retain_after_upload: Duration,
    /// Cut and upload every trace held when the ingester stops (default: yes, as Tempo
    /// flushes on shutdown; otherwise the WAL keeps them for the next start).
    pub flush_on_shutdown: bool,
    /// Uncompressed bytes of consecutive traces per page of a block's `data` file: one
    /// byte-range read finds a trace.
    pub block_page_size: usize,
}

impl Default for IngesterTracesConfig {
    fn default() -> Self {
        IngesterTracesConfig {
            replication_factor: 3,
            wal_fsync_interval: Duration::from_secs(1),
            wal_segment_size: 128 << 20,
            trace_idle_period: Duration::from_secs(10),
            max_trace_live: Duration::from_secs(5 * 60),
            max_block_duration: Duration::from_secs(5 * 60),
            max_block_bytes: 500_000_000,
            block_check_interval: Duration::from_secs(10),
            retain_after_upload: Duration::from_secs(2 * 60),
            flush_on_shutdown: true,
            block_page_size: 1 << 20,
        }
    }
}

impl IngesterTracesConfig {
    fn validate(&self) -> Result<(), String> {
        let cases = [
            (
                self.replication_factor == 0,
                "replication_factor must be >= 1",
            ),
            (
                self.wal_segment_size < 1 << 20,
                "wal_segment_size must be >= 1048576",
            ),
            (
                self.trace_idle_period.is_zero(),
                "trace_idle_period must be > 0s",
            ),
            (
                self.max_trace_live < self.trace_idle_period,
                "max_trace_live must be >= trace_idle_period",
            ),
            (
                self.block_check_interval.is_zero(),
                "block_check_interval must be > 0s",
            ),
            (self.max_block_bytes == 0, "max_block_bytes must be > 0"),
            (
                self.block_page_size < 1024,
                "block_page_size must be >= 1024",
            ),
        ];
        match cases.iter().find(|(bad, _)| *bad) {
            Some((_, message)) => Err(format!("ingester.traces.{message}")),
            None => Ok(()),
        }
    }
}

/// Metrics-specific ingester settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterMetricsConfig {
    /// Copies of each series kept on distinct ingesters; the distributor acknowledges a write
    /// once `replication_factor / 2 + 1` of them did.
    pub replication_factor: usize,
    /// How often the WAL is fsynced. Writes reach the file before the push is acknowledged, so
    /// a process crash loses nothing; this bounds what a machine crash can lose.
    #[serde(with = "sextant_model::duration")]
    pub wal_fsync_interval: Duration,
    /// Size at which a WAL segment file is closed and a new one started.
    pub wal_segment_size: u64,
    /// Length of the blocks cut from the head; blocks are aligned to multiples of it in
    /// sample time (Prometheus' and Mimir's 2h).
    #[serde(with = "sextant_model::duration")]
    pub block_duration: Duration,
    /// How far the head's newest sample must be past a block's end before the block is cut,
    /// leaving room for late samples. `0s` means half of `block_duration` (Prometheus' rule).
    #[serde(with = "sextant_model::duration")]
    pub block_cut_grace: Duration,
    /// How often the shipper looks for blocks to cut and retries failed uploads.
    #[serde(with = "sextant_model::duration")]
    pub block_check_interval: Duration,
    /// How long data stays in the head (and is served by the ingester) after its block was
    /// uploaded, so queriers have learnt about the block before the ingester stops serving
    /// it. Must exceed the queriers' `querier.bucket_index_refresh` (30s by default) plus the
    /// time a bucket index update takes; `0s` truncates the head right after the upload.
    #[serde(with = "sextant_model::duration")]
    pub retain_after_upload: Duration,
}

impl Default for IngesterMetricsConfig {
    fn default() -> Self {
        IngesterMetricsConfig {
            replication_factor: 3,
            wal_fsync_interval: Duration::from_secs(1),
            wal_segment_size: 128 << 20,
            block_duration: Duration::from_secs(2 * 60 * 60),
            block_cut_grace: Duration::ZERO,
            block_check_interval: Duration::from_secs(15),
            retain_after_upload: Duration::from_secs(60),
        }
    }
}

impl IngesterMetricsConfig {
    /// The grace after a block's end before it is cut, with `0s` resolved.
    pub fn effective_block_cut_grace(&self) -> Duration {
        match self.block_cut_grace.is_zero() {
            true => self.block_duration / 2,
            false => self.block_cut_grace,
        }
    }
}

impl IngesterConfig {
    /// Checks values that serde cannot; errors name the YAML path.
    pub fn validate(&self) -> Result<(), String> {
        if self.wal_dir.is_empty() {
            return Err("ingester.wal_dir must not be empty".into());
        }
        if self.metrics.replication_factor == 0 {
            return Err("ingester.metrics.replication_factor must be >= 1".into());
        }
        if self.metrics.wal_segment_size < 1 << 20 {
            return Err("ingester.metrics.wal_segment_size must be >= 1048576".into());
        }
        if self.metrics.block_duration < Duration::from_secs(1) {
            return Err("ingester.metrics.block_duration must be >= 1s".into());
        }
        if self.metrics.block_check_interval.is_zero() {
            return Err("ingester.metrics.block_check_interval must be > 0s".into());
        }
        self.logs.validate()?;
        self.traces.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_settings_parse_and_validate() {
        let c: IngesterMetricsConfig =
            serde_yaml::from_str("block_duration: 5s\nblock_check_interval: 1s\n").unwrap();
        assert_eq!(c.block_duration, Duration::from_secs(5));
        assert_eq!(c.effective_block_cut_grace(), Duration::from_millis(2500));
        let c: IngesterMetricsConfig = serde_yaml::from_str("block_cut_grace: 1ms\n").unwrap();
        assert_eq!(c.effective_block_cut_grace(), Duration::from_millis(1));
        assert_eq!(c.retain_after_upload, Duration::from_secs(60));
        let c: IngesterMetricsConfig = serde_yaml::from_str("retain_after_upload: 0s\n").unwrap();
        assert_eq!(c.retain_after_upload, Duration::ZERO);
        let bad = |metrics| IngesterConfig {
            metrics,
            ..IngesterConfig::default()
        };
        let zero_interval = IngesterMetricsConfig {
            block_check_interval: Duration::ZERO,
            ..IngesterMetricsConfig::default()
        };
        let tiny_blocks = IngesterMetricsConfig {
            block_duration: Duration::from_millis(10),
            ..IngesterMetricsConfig::default()
        };
        assert!(bad(zero_interval)
            .validate()
            .unwrap_err()
            .contains("block_check_interval"));
        assert!(bad(tiny_blocks)
            .validate()
            .unwrap_err()
            .contains("block_duration"));
        assert!(IngesterConfig::default().validate().is_ok());
    }

    #[test]
    fn logs_block_settings_parse_and_validate() {
        let c: IngesterLogsConfig = serde_yaml::from_str(
            "block_duration: 1m\nblock_check_interval: 2s\nflush_on_shutdown: true\n",
        )
        .unwrap();
        assert_eq!(c.block_duration, Duration::from_secs(60));
        assert_eq!(c.effective_block_cut_grace(), Duration::from_secs(30));
        assert!(c.flush_on_shutdown);
        let d = IngesterLogsConfig::default();
        assert_eq!(d.block_duration, Duration::from_secs(7200));
        assert_eq!(d.retain_after_upload, Duration::from_secs(60));
        // (config, error naming the path)
        let cases = [
            (
                IngesterLogsConfig {
                    block_duration: Duration::from_millis(500),
                    ..d.clone()
                },
                "ingester.logs.block_duration",
            ),
            (
                IngesterLogsConfig {
                    block_check_interval: Duration::ZERO,
                    ..d.clone()
                },
                "ingester.logs.block_check_interval",
            ),
        ];
        for (logs, want) in cases {
            let config = IngesterConfig {
                logs,
                ..IngesterConfig::default()
            };
            assert!(config.validate().unwrap_err().contains(want), "{want}");
        }
    }

    #[test]
    fn traces_settings_parse_and_validate() {
        let c: IngesterTracesConfig = serde_yaml::from_str(
            "trace_idle_period: 2s\nmax_block_duration: 1m\nflush_on_shutdown: false\n",
        )
        .unwrap();
        assert_eq!(c.trace_idle_period, Duration::from_secs(2));
        assert_eq!(c.max_block_duration, Duration::from_secs(60));
        assert!(!c.flush_on_shutdown);
        assert!(serde_yaml::from_str::<IngesterTracesConfig>("idle: 1s\n").is_err());
        let d = IngesterTracesConfig::default();
        assert_eq!(d.retain_after_upload, Duration::from_secs(120));
        assert_eq!(d.max_block_bytes, 500_000_000);
        // (config, error naming the path)
        let cases = [
            (
                IngesterTracesConfig {
                    replication_factor: 0,
                    ..d.clone()
                },
                "ingester.traces.replication_factor",
            ),
            (
                IngesterTracesConfig {
                    trace_idle_period: Duration::ZERO,
                    ..d.clone()
                },
                "ingester.traces.trace_idle_period",
            ),
            (
                IngesterTracesConfig {
                    max_trace_live: Duration::from_secs(1),
                    ..d.clone()
                },
                "ingester.traces.max_trace_live",
            ),
            (
                IngesterTracesConfig {
                    block_check_interval: Duration::ZERO,
                    ..d.clone()
                },
                "ingester.traces.block_check_interval",
            ),
            (
                IngesterTracesConfig {
                    block_page_size: 10,
                    ..d.clone()
                },
                "ingester.traces.block_page_size",
            ),
        ];
        for (traces, want) in cases {
            let config = IngesterConfig {
                traces,
                ..IngesterConfig::default()
            };
            assert!(config.validate().unwrap_err().contains(want), "{want}");
        }
    }
}
