//! Per-tenant limits: global defaults plus a runtime overrides file reloaded without restart.
//!
//! The file is `overrides: { <tenant>: { <some TenantLimits keys> } }`; a tenant's block is
//! merged onto the *global* limits from the main config, not onto `TenantLimits::default()`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use sextant_model::{TenantId, TenantLimits};
use tokio_util::sync::CancellationToken;

use crate::config::{self, ConfigError};

/// The `runtime_config` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OverridesConfig {
    /// Path of the overrides file; empty means no per-tenant overrides.
    pub file: String,
    /// How often the file is re-read.
    #[serde(with = "sextant_model::duration")]
    pub period: Duration,
}

impl Default for OverridesConfig {
    fn default() -> Self {
        OverridesConfig {
            file: String::new(),
            period: Duration::from_secs(10),
        }
    }
}

/// The shape of the overrides file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct OverridesFile {
    overrides: HashMap<String, Value>,
}

type TenantTable = HashMap<TenantId, Arc<TenantLimits>>;

/// A clonable handle to the current limits of every tenant.
#[derive(Clone)]
pub struct Overrides {
    inner: Arc<Inner>,
}

struct Inner {
    global: Arc<TenantLimits>,
    global_tree: Value,
    file: Option<PathBuf>,
    period: Duration,
    tenants: RwLock<Arc<TenantTable>>,
    last_reload_successful: Gauge,
    reloads: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Overrides {
    /// Loads the overrides file once (a broken file is an error here, unlike on reload) and
    /// registers `sextant_runtime_config_last_reload_successful` and
    /// `sextant_runtime_config_reloads_total{result}` on `registry`.
    pub fn new(
        global: TenantLimits,
        config: &OverridesConfig,
        registry: &mut Registry,
    ) -> Result<Self, ConfigError> {
        let inner = Inner {
            global_tree: config::to_value(&global)?,
            global: Arc::new(global),
            file: (!config.file.is_empty()).then(|| PathBuf::from(&config.file)),
            period: config.period,
            tenants: RwLock::new(Arc::default()),
            last_reload_successful: Gauge::default(),
            reloads: Family::default(),
        };
        registry.register(
            "sextant_runtime_config_last_reload_successful",
            "Whether the last reload of the runtime overrides file succeeded (1) or failed (0).",
            inner.last_reload_successful.clone(),
        );
        registry.register(
            "sextant_runtime_config_reloads",
            "Reloads of the runtime overrides file, by result.",
            inner.reloads.clone(),
        );
        let overrides = Overrides {
            inner: Arc::new(inner),
        };
        overrides.reload()?;
        Ok(overrides)
    }

    /// Limits without any overrides file (tests and tools); nothing is registered.
    pub fn fixed(global: TenantLimits) -> Self {
        let inner = Inner {
            global_tree: Value::Null,
            global: Arc::new(global),
            file: None,
            period: Duration::ZERO,
            tenants: RwLock::new(Arc::default()),
            last_reload_successful: Gauge::default(),
            reloads: Family::default(),
        };
        Overrides {
            inner: Arc::new(inner),
        }
    }

    /// The limits of `tenant`: its override if the file has one, else the global limits.
    pub fn limits(&self, tenant: &TenantId) -> Arc<TenantLimits> {
        let tenants = self.inner.tenants.read().clone();
        tenants
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| self.inner.global.clone())
    }

    /// Re-reads the file. On error the previous limits stay in force.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.inner.file else {
            self.inner.last_reload_successful.set(1);
            return Ok(());
        };
        let result = read_file(path, &self.inner.global_tree);
        let label = if result.is_ok() { "success" } else { "failure" };
        self.inner.reloads.get_or_create(&[("result", label)]).inc();
        self.inner
            .last_reload_successful
            .set(i64::from(result.is_ok()));
        let table = result?;
        tracing::debug!(path = %path.display(), tenants = table.len(), "runtime overrides loaded");
        *self.inner.tenants.write() = Arc::new(table);
        Ok(())
    }

    /// Reloads the file every `period` until `cancel`. `None` when there is no file to watch.
    pub fn spawn_reloader(&self, cancel: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        let path = self.inner.file.clone()?;
        if self.inner.period.is_zero() {
            tracing::warn!(path = %path.display(), "runtime_config.period is 0s: overrides are not reloaded");
            return None;
        }
        let this = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(this.inner.period);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let handle = this.clone();
                match tokio::task::spawn_blocking(move || handle.reload()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(path = %path.display(), error = %err, "reloading runtime overrides failed; keeping the last good ones")
                    }
                    Err(err) => {
                        tracing::error!(path = %path.display(), error = %err, "runtime overrides reload task failed")
                    }
                }
            }
        }))
    }
}

fn read_file(path: &Path, global_tree: &Value) -> Result<TenantTable, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let tree: Value = serde_yaml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let file: OverridesFile = if tree.is_null() {
        OverridesFile::default()
    } else {
        config::from_value(tree)?
    };
    let mut table = TenantTable::new();
    for (tenant, partial) in file.overrides {
        let id = TenantId::parse(&tenant).map_err(|e| invalid_at(&tenant, ".", e.to_string()))?;
        let mut merged = global_tree.clone();
        config::merge_trees(&mut merged, partial);
        let limits: TenantLimits = config::from_value(merged).map_err(|e| match e {
            ConfigError::Invalid { path, message } => invalid_at(&tenant, &path, message),
            other => other,
        })?;
        table.insert(id, Arc::new(limits));
    }
    Ok(table)
}

/// An error at `path` (as `serde_path_to_error` prints it, `.` for the root) of a tenant block.
fn invalid_at(tenant: &str, path: &str, message: String) -> ConfigError {
    let path = match path {
        "." | "" => format!("overrides.{tenant}"),
        sub => format!("overrides.{tenant}.{sub}"),
    };
    ConfigError::Invalid { path, message }
}

#[cfg(test)]
mod tests;
