//! The `ruler:` block of the root config.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_ring::LifecyclerConfig;

/// How rules are loaded, evaluated and notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerConfig {
    /// Interval of groups that set none.
    #[serde(with = "sextant_model::duration")]
    pub evaluation_interval: Duration,
    /// How often the rule store is read for changed groups.
    #[serde(with = "sextant_model::duration")]
    pub poll_interval: Duration,
    /// GitOps rule files: `<dir>/<signal>/<tenant>/<namespace>.yaml`; empty = none.
    pub local_directory: String,
    /// Base URL of the query API (`http://127.0.0.1:8080`); empty = this process's HTTP server.
    pub query_address: String,
    /// Base URL of remote write (`POST {push_address}/api/v1/push`); empty = this process.
    pub push_address: String,
    /// Alertmanager base URLs every tenant's alerts go to (each receives all of them).
    pub alertmanager_url: Vec<String>,
    /// Per-tenant Alertmanager URLs, replacing `alertmanager_url` for that tenant.
    pub tenant_alertmanager_urls: BTreeMap<String, Vec<String>>,
    /// Labels added to every alert sent (and available as `$externalLabels`).
    pub external_labels: BTreeMap<String, String>,
    /// URL this ruler's alerts link back to (`generatorURL` = `{external_url}/graph?g0.expr=..`,
    /// `$externalURL` in templates); empty = a relative link.
    pub external_url: String,
    /// Alerts queued per Alertmanager URL; beyond it the oldest are dropped.
    pub notification_queue_capacity: usize,
    /// Timeout of one POST to Alertmanager.
    #[serde(with = "sextant_model::duration")]
    pub notification_timeout: Duration,
    /// Minimum time between two sends of the same firing alert.
    #[serde(with = "sextant_model::duration")]
    pub resend_delay: Duration,
    /// Longest ruler outage after which `for` state is still restored.
    #[serde(with = "sextant_model::duration")]
    pub for_outage_tolerance: Duration,
    /// Minimum time an alert with `for` waits after a restore before firing.
    #[serde(with = "sextant_model::duration")]
    pub for_grace_period: Duration,
    /// This ruler's entry in the `ruler-<signal>` rings.
    pub ring: LifecyclerConfig,
}

impl Default for RulerConfig {
    fn default() -> Self {
        Self {
            evaluation_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            local_directory: String::new(),
            query_address: String::new(),
            push_address: String::new(),
            alertmanager_url: Vec::new(),
            tenant_alertmanager_urls: BTreeMap::new(),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            notification_queue_capacity: 10_000,
            notification_timeout: Duration::from_secs(10),
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            ring: LifecyclerConfig::default(),
        }
    }
}

impl RulerConfig {
    /// Checks values that have no sensible fallback. `query_address` and `push_address` may
    /// still be empty here: the server fills them with its own address.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("ruler.evaluation_interval", self.evaluation_interval),
            ("ruler.poll_interval", self.poll_interval),
            ("ruler.notification_timeout", self.notification_timeout),
        ];
        for (path, value) in positive {
            if value.is_zero() {
                return Err(format!("{path} must be positive"));
            }
        }
        if self.notification_queue_capacity == 0 {
            return Err("ruler.notification_queue_capacity must be positive".into());
        }
        let urls = self
            .alertmanager_url
            .iter()
            .chain(self.tenant_alertmanager_urls.values().flatten());
        for url in urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "ruler alertmanager url {url:?} must start with http:// or https://"
                ));
            }
        }
        Ok(())
    }

    /// The Alertmanager URLs of one tenant: its own list if configured, else the global one.
    pub fn alertmanager_urls(&self, tenant: &str) -> &[String] {
        self.tenant_alertmanager_urls
            .get(tenant)
            .unwrap_or(&self.alertmanager_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_overrides_defaults_and_refuses_unknown_keys() {
        let yaml = r#"
evaluation_interval: 30s
alertmanager_url: [http://am:9093]
tenant_alertmanager_urls: {team-a: [http://am-a:9093]}
external_labels: {cluster: eu1}
resend_delay: 2m
"#;
        let config: RulerConfig = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(config.evaluation_interval, Duration::from_secs(30));
        assert_eq!(config.resend_delay, Duration::from_secs(120));
        assert_eq!(config.poll_interval, Duration::from_secs(60));
        assert_eq!(config.notification_queue_capacity, 10_000);
        assert_eq!(config.alertmanager_urls("team-a"), ["http://am-a:9093"]);
        assert_eq!(config.alertmanager_urls("other"), ["http://am:9093"]);
        assert!(config.validate().is_ok());
        assert!(serde_yaml::from_str::<RulerConfig>("bogus: 1").is_err());
    }

    #[test]
    fn validate_rejects_bad_values() {
        let cases: [fn(&mut RulerConfig); 3] = [
            |c| c.evaluation_interval = Duration::ZERO,
            |c| c.notification_queue_capacity = 0,
            |c| c.alertmanager_url = vec!["am:9093".into()],
        ];
        for change in cases {
            let mut config = RulerConfig::default();
            change(&mut config);
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
