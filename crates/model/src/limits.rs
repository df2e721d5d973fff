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
    /// How long the compactor keeps the tenant's metrics blocks (Mimir's
    /// `compactor_blocks_retention_period`); `0s` keeps them forever.
    #[serde(with = "duration")]
    pub compactor_blocks_retention_period: Duration,
    /// The logs limits (Loki's names and defaults), a nested `logs:` block.
    pub logs: TenantLogsLimits,
    /// The traces limits (Tempo's names and defaults), a nested `traces:` block.
    #[serde(default)]
    pub traces: TenantTracesLimits,
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
            compactor_blocks_retention_period: Duration::ZERO,
            logs: TenantLogsLimits::default(),
            traces: TenantTracesLimits::default(),
        }
    }
}

/// Loki's default `discover_service_name`: the labels that name a stream's service when it has
/// no `service_name`, in priority order.
pub const DEFAULT_DISCOVER_SERVICE_NAME: &[&str] = &[
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// Loki 3's default OTLP resource attributes stored as stream labels (`index_label`); every
/// other attribute becomes structured metadata.
pub const DEFAULT_OTLP_RESOURCE_ATTRIBUTES_AS_LABELS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Per-tenant logs limits, with Loki's `limits_config` names and defaults. Sizes are bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLogsLimits {
    /// Log line bytes per second accepted by each distributor for the tenant, in MiB
    /// (token bucket refill rate). 0 disables the limit.
    pub ingestion_rate_mb: f64,
    /// Bucket size of the rate limiter in MiB: the largest push accepted at once.
    pub ingestion_burst_size_mb: f64,
    /// Longest log line in bytes; 0 disables the check.
    pub max_line_size: usize,
    /// Truncate longer lines to `max_line_size` instead of rejecting them.
    pub max_line_size_truncate: bool,
    /// Most labels on one stream (`service_name` not counted).
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes.
    pub max_label_name_length: usize,
    /// Longest label value in bytes.
    pub max_label_value_length: usize,
    /// Reject entries older than `reject_old_samples_max_age`.
    pub reject_old_samples: bool,
    #[serde(with = "duration")]
    pub reject_old_samples_max_age: Duration,
    /// Reject entries further than this in the future.
    #[serde(with = "duration")]
    pub creation_grace_period: Duration,
    /// Whether entries may carry structured metadata.
    pub allow_structured_metadata: bool,
    /// Most bytes (names and values) of one entry's structured metadata; 0 = no limit.
    pub max_structured_metadata_size: usize,
    /// Most structured metadata pairs on one entry; 0 = no limit.
    pub max_structured_metadata_entries_count: usize,
    /// Most active streams of the tenant across the cluster (before replication), enforced by
    /// the ingesters: each allows its share, the limit times the replication factor divided
    /// by the healthy ingesters. 0 disables the limit.
    pub max_global_streams_per_user: u64,
    /// Most active streams of the tenant in one ingester, whatever the ring's size. 0
    /// disables the limit; with both set, the lower of the two local limits applies.
    pub max_streams_per_user: u64,
    /// Labels that name the service of a stream without `service_name`, in priority order;
    /// the first present is copied into `service_name` (else `unknown_service`). Empty: no
    /// `service_name` is added.
    pub discover_service_name: Vec<String>,
    /// OTLP resource attributes that become stream labels (with `.` → `_`); the others, and
    /// every scope and log attribute, become structured metadata (Loki 3's `otlp_config`
    /// `index_label` list).
    pub otlp_resource_attributes_as_labels: Vec<String>,
    /// How long the compactor keeps the tenant's logs (Loki's `retention_period`); `0s` keeps
    /// them forever.
    #[serde(with = "duration")]
    pub retention_period: Duration,
    /// Per-stream retention (Loki's `retention_stream`): the streams matching a selector are
    /// kept for its period; of several matching selectors the highest priority wins (then
    /// the shortest period).
    pub retention_stream: Vec<StreamRetention>,
}

/// One entry of `retention_stream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRetention {
    /// A LogQL stream selector, e.g. `{namespace="dev"}`.
    pub selector: String,
    #[serde(default)]
    pub priority: u32,
    #[serde(with = "duration")]
    pub period: Duration,
}

impl Default for TenantLogsLimits {
    fn default() -> Self {
        TenantLogsLimits {
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            max_line_size: 256 * 1024,
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            creation_grace_period: Duration::from_secs(10 * 60),
            allow_structured_metadata: true,
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
            max_global_streams_per_user: 5000,
            max_streams_per_user: 0,
            discover_service_name: strings(DEFAULT_DISCOVER_SERVICE_NAME),
            otlp_resource_attributes_as_labels: strings(DEFAULT_OTLP_RESOURCE_ATTRIBUTES_AS_LABELS),
            retention_period: Duration::ZERO,
            retention_stream: Vec::new(),
        }
    }
}

/// Per-tenant traces limits, with Tempo's `overrides` names and defaults where Tempo has the
/// limit. Sizes are bytes (decimal megabytes, as Tempo's `15e6`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantTracesLimits {
    /// Span bytes per second accepted by each distributor for the tenant (token bucket refill
    /// rate); default 15 MB/s. 0 disables the limit.
    pub ingestion_rate_limit_bytes: u64,
    /// Bucket size of the rate limiter: the largest push accepted at once; default 20 MB.
    pub ingestion_burst_size_bytes: u64,
    /// Most live (not yet cut) traces of the tenant in one ingester; default 10000. 0
    /// disables the limit.
    pub max_traces_per_user: u64,
    /// Most live traces of the tenant across the cluster (before replication); each ingester
    /// enforces its share. Default 0: off, as in Tempo.
    pub max_global_traces_per_user: u64,
    /// Largest trace in bytes (OTLP protobuf encoding); spans past it are refused; default
    /// 5 MB. 0 disables the limit.
    pub max_bytes_per_trace: u64,
    /// Longest attribute key or string value in bytes; longer ones are truncated (Tempo's
    /// behaviour, never a rejection); default 2048. 0 disables the check.
    pub max_attribute_bytes: usize,
    /// Most attributes on one span, event or link (Sextant's limit; the OpenTelemetry SDKs'
    /// default attribute count limit is 128); spans over it are refused. 0 = no limit.
    pub max_attributes_per_span: usize,
    /// Most attributes on one resource or instrumentation scope (Sextant's limit); every span
    /// under such a resource or scope is refused. 0 = no limit.
    pub max_attributes_per_resource: usize,
    /// How long the compactor keeps the tenant's traces blocks (Tempo's `block_retention`);
    /// `0s` keeps them forever.
    #[serde(with = "duration")]
    pub block_retention: Duration,
}

impl Default for TenantTracesLimits {
    fn default() -> Self {
        TenantTracesLimits {
            ingestion_rate_limit_bytes: 15_000_000,
            ingestion_burst_size_bytes: 20_000_000,
            max_traces_per_user: 10_000,
            max_global_traces_per_user: 0,
            max_bytes_per_trace: 5_000_000,
            max_attribute_bytes: 2048,
            max_attributes_per_span: 128,
            max_attributes_per_resource: 128,
            block_retention: Duration::ZERO,
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

    #[test]
    fn logs_block_is_nested_with_loki_defaults() {
        /// A property the parsed limits must have.
        type Check = fn(&TenantLimits) -> bool;
        // (yaml, check)
        let cases: &[(&str, Check)] = &[
            ("{}", |l| l.logs == TenantLogsLimits::default()),
            ("logs: {}", |l| l.logs.ingestion_rate_mb == 4.0),
            ("logs:\n  ingestion_rate_mb: 8\n", |l| {
                l.logs.ingestion_rate_mb == 8.0 && l.logs.ingestion_burst_size_mb == 6.0
            }),
            ("logs:\n  reject_old_samples_max_age: 168h\n", |l| {
                l.logs.reject_old_samples_max_age == Duration::from_secs(7 * 24 * 3600)
            }),
            (
                "logs:\n  max_line_size: 1024\nmax_label_names_per_series: 40\n",
                |l| {
                    l.logs.max_line_size == 1024
                        && l.max_label_names_per_series == 40
                        && l.logs.max_label_names_per_series == 15
                },
            ),
        ];
        for (yaml, check) in cases {
            let limits: TenantLimits = serde_yaml::from_str(yaml).unwrap();
            assert!(check(&limits), "{yaml}: {limits:?}");
        }
        let d = TenantLogsLimits::default();
        assert_eq!(
            (d.max_line_size, d.max_structured_metadata_size),
            (262_144, 65_536)
        );
        assert_eq!(
            (d.max_global_streams_per_user, d.max_streams_per_user),
            (5000, 0)
        );
        let set: TenantLimits = serde_yaml::from_str("logs:\n  max_streams_per_user: 7\n").unwrap();
        assert_eq!(set.logs.max_streams_per_user, 7);
        assert!(serde_yaml::from_str::<TenantLimits>("logs:\n  ingestion_rate: 5\n").is_err());
    }

    #[test]
    fn traces_block_is_nested_with_tempo_defaults() {
        /// A property the parsed limits must have.
        type Check = fn(&TenantLimits) -> bool;
        // (yaml, check)
        let cases: &[(&str, Check)] = &[
            ("{}", |l| l.traces == TenantTracesLimits::default()),
            ("traces: {}", |l| l.traces.max_traces_per_user == 10_000),
            ("traces:\n  max_bytes_per_trace: 1000\n", |l| {
                l.traces.max_bytes_per_trace == 1000 && l.traces.max_attribute_bytes == 2048
            }),
            ("traces:\n  ingestion_rate_limit_bytes: 0\n", |l| {
                l.traces.ingestion_rate_limit_bytes == 0
                    && l.traces.ingestion_burst_size_bytes == 20_000_000
            }),
        ];
        for (yaml, check) in cases {
            let limits: TenantLimits = serde_yaml::from_str(yaml).unwrap();
            assert!(check(&limits), "{yaml}: {limits:?}");
        }
        let d = TenantTracesLimits::default();
        assert_eq!(
            (d.ingestion_rate_limit_bytes, d.ingestion_burst_size_bytes),
            (15_000_000, 20_000_000)
        );
        assert_eq!(
            (d.max_bytes_per_trace, d.max_attribute_bytes),
            (5_000_000, 2048)
        );
        assert!(serde_yaml::from_str::<TenantLimits>("traces:\n  max_line_size: 5\n").is_err());
    }

    #[test]
    fn limits_round_trip_through_yaml() {
        let mut limits = TenantLimits::default();
        limits.logs.max_line_size_truncate = true;
        limits.logs.creation_grace_period = Duration::from_secs(90);
        limits.traces.max_attributes_per_span = 7;
        let yaml = serde_yaml::to_string(&limits).unwrap();
        assert_eq!(serde_yaml::from_str::<TenantLimits>(&yaml).unwrap(), limits);
    }
}
