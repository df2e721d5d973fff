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
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            wal_dir: "./data/wal".to_string(),
            lifecycler: LifecyclerConfig::default(),
            metrics: IngesterMetricsConfig::default(),
            logs: IngesterLogsConfig::default(),
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
        self.logs.validate()
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
}
