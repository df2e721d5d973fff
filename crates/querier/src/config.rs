//! The `querier:` block of the configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Querier settings: which sources a read consults and how blocks are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// Ask the ingesters only when the query's end is within this duration of now (they hold
    /// the last few hours). `0s` asks them for every query. Mimir's default, 13h.
    #[serde(with = "sextant_model::duration")]
    pub query_ingesters_within: Duration,
    /// Read blocks only for the part of a query older than this. Default `0s`: blocks are
    /// always consulted, so data is never missed while an ingester's block is cut and shipped
    /// (Mimir defaults to 12h because it trusts ingesters for the recent past; duplicates
    /// from both sources are merged away).
    #[serde(with = "sextant_model::duration")]
    pub query_store_after: Duration,
    /// How old a tenant's cached block list may get before it is read again from storage.
    #[serde(with = "sextant_model::duration")]
    pub bucket_index_refresh: Duration,
    /// Bytes of parsed block indexes kept in memory (weighted by the index file size).
    pub index_cache_size: u64,
    /// Blocks read at the same time, over all queries of this querier.
    pub max_concurrent_block_reads: usize,
    /// The Prometheus HTTP API: query timeout and concurrency.
    pub prometheus_api: crate::api::PrometheusApiConfig,
    /// The Loki HTTP API: query timeout, concurrency and the most entries one query returns.
    pub loki_api: crate::loki_api::LokiApiConfig,
    /// Base URL of the rulers' HTTP API (e.g. `http://sextant-ruler:8080`): when set and this
    /// process runs no ruler, the querier forwards the rules and alerts endpoints there, so
    /// Grafana's alerting UI works through the data source's URL. Empty: not forwarded.
    pub ruler_address: String,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        QuerierConfig {
            ruler_address: String::new(),
            query_ingesters_within: Duration::from_secs(13 * 3600),
            query_store_after: Duration::ZERO,
            bucket_index_refresh: Duration::from_secs(30),
            index_cache_size: 256 << 20,
            max_concurrent_block_reads: 16,
            prometheus_api: crate::api::PrometheusApiConfig::default(),
            loki_api: crate::loki_api::LokiApiConfig::default(),
        }
    }
}

impl QuerierConfig {
    /// Checks values that serde cannot; errors name the YAML path.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent_block_reads == 0 {
            return Err("querier.max_concurrent_block_reads must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_durations_and_defaults() {
        let config: QuerierConfig = serde_json::from_str(
            r#"{"query_ingesters_within": "0s", "bucket_index_refresh": "1m"}"#,
        )
        .unwrap();
        assert_eq!(config.query_ingesters_within, Duration::ZERO);
        assert_eq!(config.bucket_index_refresh, Duration::from_secs(60));
        assert_eq!(
            config.index_cache_size,
            QuerierConfig::default().index_cache_size
        );
        assert!(config.validate().is_ok());
    }

    #[test]
    fn rejects_unknown_keys_and_zero_concurrency() {
        assert!(
            serde_json::from_str::<QuerierConfig>(r#"{"query_ingester_within": "1h"}"#).is_err()
        );
        let config = QuerierConfig {
            max_concurrent_block_reads: 0,
            ..QuerierConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .contains("max_concurrent_block_reads"));
    }
}
