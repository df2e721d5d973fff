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
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            wal_dir: "./data/wal".to_string(),
            lifecycler: LifecyclerConfig::default(),
            metrics: IngesterMetricsConfig::default(),
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
}

impl Default for IngesterMetricsConfig {
    fn default() -> Self {
        IngesterMetricsConfig {
            replication_factor: 3,
            wal_fsync_interval: Duration::from_secs(1),
            wal_segment_size: 128 << 20,
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
        Ok(())
    }
}
