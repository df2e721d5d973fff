//! The root configuration: one block per component, defaults only in `impl Default`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_compactor::CompactorConfig;
use sextant_distributor::DistributorConfig;
use sextant_ingester::IngesterConfig;
use sextant_kit::overrides::OverridesConfig;
use sextant_model::{Signal, TenantLimits};
use sextant_querier::QuerierConfig;
use sextant_ring::MemberlistConfig;
use sextant_ruler::RulerConfig;
use sextant_storage::StorageConfig;

/// Everything `sextant` reads from `-config.file` and flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootConfig {
    /// Comma-separated targets: `all`, `write`, `read`, `backend`, `distributor`, `ingester`,
    /// `querier`, `compactor`, `ruler`.
    pub target: String,
    /// Signals this process handles (`metrics`, `logs`, `traces`).
    #[serde(with = "signal_list")]
    pub signals: Vec<Signal>,
    /// When true, every request must carry `X-Scope-OrgID`; when false all data belongs to the
    /// tenant `anonymous`.
    pub multitenancy_enabled: bool,
    pub server: ServerConfig,
    pub memberlist: MemberlistConfig,
    pub distributor: DistributorConfig,
    pub ingester: IngesterConfig,
    pub querier: QuerierConfig,
    pub compactor: CompactorConfig,
    pub ruler: RulerConfig,
    pub storage: StorageConfig,
    /// Global defaults of the per-tenant limits.
    pub limits: TenantLimits,
    /// The per-tenant overrides file, reloaded without restart.
    pub runtime_config: OverridesConfig,
}

impl Default for RootConfig {
    fn default() -> Self {
        RootConfig {
            target: "all".to_string(),
            signals: Signal::ALL.to_vec(),
            multitenancy_enabled: false,
            server: ServerConfig::default(),
            memberlist: MemberlistConfig::default(),
            distributor: DistributorConfig::default(),
            ingester: IngesterConfig::default(),
            querier: QuerierConfig::default(),
            compactor: CompactorConfig::default(),
            ruler: RulerConfig::default(),
            storage: StorageConfig::default(),
            limits: TenantLimits::default(),
            runtime_config: OverridesConfig::default(),
        }
    }
}

impl RootConfig {
    /// Checks what serde cannot; the error names the YAML path.
    pub fn validate(&self) -> Result<(), String> {
        if self.signals.is_empty() {
            return Err("signals: at least one of metrics, logs, traces is required".into());
        }
        self.distributor.validate()?;
        self.ingester.validate()?;
        self.querier.validate()?;
        self.compactor.validate().map_err(|e| e.to_string())?;
        self.ruler.validate()?;
        Ok(())
    }

    /// The targets, split on commas.
    pub fn targets(&self) -> Vec<&str> {
        self.target
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// The `server:` block: listeners and logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Every HTTP API (push, query, operations).
    pub http_listen_address: String,
    /// Internal gRPC (distributor → ingester, querier → ingester).
    pub grpc_listen_address: String,
    pub log_level: String,
    /// `logfmt` or `json`.
    pub log_format: String,
    /// How long stopping may take before the process exits anyway.
    #[serde(with = "sextant_model::duration")]
    pub graceful_shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: "0.0.0.0:8080".to_string(),
            grpc_listen_address: "0.0.0.0:9095".to_string(),
            log_level: "info".to_string(),
            log_format: "logfmt".to_string(),
            graceful_shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// `signals` is a YAML list (`[metrics, logs]`) or, from a flag, a comma-separated string.
mod signal_list {
    use serde::{Deserialize, Deserializer, Serializer};
    use sextant_model::signal::parse_signals;
    use sextant_model::Signal;

    pub fn serialize<S: Serializer>(signals: &[Signal], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(signals.iter().map(|x| x.as_str()))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Signal>, D::Error> {
        let text = match Form::deserialize(d)? {
            Form::List(items) => items.join(","),
            Form::Text(text) => text,
        };
        parse_signals(&text).map_err(serde::de::Error::custom)
    }
}
