//! The `distributor:` block of the configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Distributor settings. Per-tenant limits live in `limits:` and the runtime overrides file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// OTLP gRPC listener shared by all signals (used by the logs and traces paths).
    pub otlp_grpc_listen_address: String,
    /// Largest accepted request body as received (compressed), in bytes; 413 beyond.
    pub max_recv_msg_size: usize,
    /// Largest accepted body after decompression, in bytes; 413 beyond.
    pub max_decompressed_size: usize,
    /// How long to wait for ingesters before failing a push.
    #[serde(with = "sextant_model::duration")]
    pub remote_timeout: Duration,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        DistributorConfig {
            otlp_grpc_listen_address: "0.0.0.0:4317".to_string(),
            max_recv_msg_size: 4 << 20,
            max_decompressed_size: 32 << 20,
            remote_timeout: Duration::from_secs(2),
        }
    }
}

impl DistributorConfig {
    /// Checks values that serde cannot; errors name the YAML path.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_recv_msg_size == 0 {
            return Err("distributor.max_recv_msg_size must be > 0".into());
        }
        if self.max_decompressed_size < self.max_recv_msg_size {
            return Err(
                "distributor.max_decompressed_size must be >= distributor.max_recv_msg_size".into(),
            );
        }
        if self.remote_timeout.is_zero() {
            return Err("distributor.remote_timeout must be > 0".into());
        }
        Ok(())
    }
}
