//! Per-tenant limits. Defaults follow Mimir's; the runtime overrides file sets them per tenant.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// Limits applied to one tenant. Every field has a default; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Samples (and histograms, exemplars) per second accepted by each distributor for the
    /// tenant (token bucket refill rate). 0 disables the limit.
    pub ingestion_rate: f64,
    /// Bucket size of the rate limiter: the largest burst accepted at once.
    pub ingestion_burst_size: u64,
    /// Most labels on one series, `__name__` included.
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes.
    pub max_label_name_length: usize,
    /// Longest label value in bytes.
    pub max_label_value_length: usize,
    /// Reject samples older than `reject_old_samples_max_age` (off by default so that backfills
    /// and replays are accepted).
    pub reject_old_samples: bool,
    #[serde(with = "duration")]
    pub reject_old_samples_max_age: Duration,
    /// Reject samples further than this in the future; `0s` switches the check off.
    #[serde(with = "duration")]
    pub creation_grace_period: Duration,
    /// Most active series of the tenant across the cluster (before replication); each ingester
    /// enforces its share. 0 disables the limit.
    pub max_global_series_per_user: u64,
    /// Most exemplars kept in each ingester's in-memory ring for the tenant; 0 drops exemplars
    /// (counted, never silently).
    pub max_exemplars_per_user: usize,
    /// Most buckets in one native histogram; 0 disables the check.
    pub max_native_histogram_buckets: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            ingestion_rate: 10_000.0,
            ingestion_burst_size: 200_000,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            reject_old_samples: false,
            reject_old_samples_max_age: Duration::from_secs(14 * 24 * 3600),
            creation_grace_period: Duration::from_secs(10 * 60),
            max_global_series_per_user: 150_000,
            max_exemplars_per_user: 100_000,
            max_native_histogram_buckets: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_yaml_keeps_defaults_and_rejects_unknown_keys() {
        let l: TenantLimits =
            serde_yaml::from_str("ingestion_rate: 5\ncreation_grace_period: 1h\n").unwrap();
        assert_eq!(l.ingestion_rate, 5.0);
        assert_eq!(l.creation_grace_period, Duration::from_secs(3600));
        assert_eq!(l.max_label_names_per_series, 30);
        assert!(serde_yaml::from_str::<TenantLimits>("ingestion_rat: 5").is_err());
    }
}
