//! A real Alertmanager (`/usr/bin/prometheus-alertmanager` from the Debian package
//! `prometheus-alertmanager`, installed by `tests/setup-e2e.sh`) on a free loopback port, with
//! no cluster peers, and a reader of its v2 alerts API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use tempfile::TempDir;

use crate::ports::free_loopback_addr;
use crate::wait::wait_for;

/// One receiver that drops everything (the tests read alerts through the API), with short
/// grouping waits so nothing in Alertmanager delays what the API shows.
pub const DEFAULT_CONFIG: &str = "\
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
";

/// `$ALERTMANAGER_BIN`, else `prometheus-alertmanager` or `alertmanager` on `PATH`, else
/// `/usr/bin/prometheus-alertmanager`.
pub fn alertmanager_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ALERTMANAGER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .flat_map(|p| [p.join("prometheus-alertmanager"), p.join("alertmanager")])
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/prometheus-alertmanager")])
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!(
                "no alertmanager binary: run tests/setup-e2e.sh (as root) or set ALERTMANAGER_BIN"
            )
        })
}

/// An alert as `GET /api/v2/alerts` returns it (the fields the tests look at).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    pub status: AmAlertStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AmAlertStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
}

impl AmAlert {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// An Alertmanager on a free loopback port with its own config and storage directory.
pub struct AlertmanagerProcess {
    child: Option<Child>,
    dir: TempDir,
    addr: SocketAddr,
    http: reqwest::Client,
}

impl AlertmanagerProcess {
    /// Writes `config` (YAML) and starts Alertmanager without clustering. Call
    /// [`AlertmanagerProcess::wait_ready`] next.
    pub fn spawn(config: &str) -> Result<Self> {
        let binary = alertmanager_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("sextant-e2e-alertmanager-")
            .tempdir()?;
        let addr = free_loopback_addr();
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).context("write alertmanager.yml")?;
        let log = std::fs::File::create(dir.path().join("alertmanager.log"))?;
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        Ok(AlertmanagerProcess {
            child: Some(child),
            dir,
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: what the ruler's `alertmanager_url` takes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The last lines of Alertmanager's log.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!("---- alertmanager log ----\n{}", lines[from..].join("\n"))
    }

    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("alertmanager exited with {status}\n{}", self.log_tail());
            }
        }
        let url = format!("{}/-/ready", self.base_url());
        let http = self.http.clone();
        let ready = wait_for(timeout, "alertmanager /-/ready", || {
            let (http, url) = (&http, &url);
            async move {
                Ok(http
                    .get(url)
                    .send()
                    .await?
                    .status()
                    .is_success()
                    .then_some(()))
            }
        })
        .await;
        ready.with_context(|| self.log_tail())
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds that have not ended (it leaves out
    /// alerts whose `endsAt` has passed, so a resolved alert disappears from this list).
    pub async fn alerts(&self) -> Result<Vec<AmAlert>> {
        let url = format!("{}/api/v2/alerts", self.base_url());
        let response = self.http.get(&url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("parse alerts JSON {body}"))
    }

    /// The alerts whose `alertname` is `name`.
    pub async fn alerts_named(&self, name: &str) -> Result<Vec<AmAlert>> {
        let mut alerts = self.alerts().await?;
        alerts.retain(|a| a.label("alertname") == Some(name));
        Ok(alerts)
    }

    /// The number of alerts Alertmanager has received (`alertmanager_alerts_received_total`,
    /// summed over its `status` label: firing and resolved).
    pub async fn received_total(&self, status: &str) -> Result<f64> {
        let url = format!("{}/metrics", self.base_url());
        let text = self.http.get(&url).send().await?.text().await?;
        let prefix = format!("alertmanager_alerts_received_total{{status=\"{status}\"");
        Ok(text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

impl Drop for AlertmanagerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_v2_alerts_json() {
        let body = r#"[{"annotations":{"summary":"kitchen is hot"},"endsAt":"2026-11-22T04:00:04.000Z",
            "fingerprint":"f","receivers":[{"name":"blackhole"}],"startsAt":"2026-11-22T04:00:00.000Z",
            "status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"x",
            "generatorURL":"/graph?g0.expr=up","labels":{"alertname":"Hot","room":"kitchen"}}]"#;
        let alerts: Vec<AmAlert> = serde_json::from_str(body).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].label("room"), Some("kitchen"));
        assert_eq!(alerts[0].label("absent"), None);
        assert_eq!(alerts[0].annotations["summary"], "kitchen is hot");
        assert_eq!(alerts[0].status.state, "active");
    }
}
