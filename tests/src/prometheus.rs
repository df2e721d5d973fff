//! A real Prometheus server (`/usr/bin/prometheus` from the Debian package, installed by
//! `tests/setup-e2e.sh`) and a small reader of the Prometheus text exposition format.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::ports::free_loopback_addr;
use crate::wait::wait_for;

/// `$PROMETHEUS_BIN`, else `prometheus` on `PATH`, else `/usr/bin/prometheus`.
pub fn prometheus_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PROMETHEUS_BIN") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("prometheus"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/prometheus")])
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!("no prometheus binary: run tests/setup-e2e.sh (as root) or set PROMETHEUS_BIN")
        })
}

/// A Prometheus server on a free loopback port with its own config and TSDB directory.
pub struct PrometheusProcess {
    child: Option<Child>,
    dir: TempDir,
    addr: SocketAddr,
    http: reqwest::Client,
}

impl PrometheusProcess {
    /// Writes `config` (YAML; `{self}` is replaced by Prometheus' own `host:port`, for
    /// self-scraping) and starts Prometheus. Call [`PrometheusProcess::wait_ready`] next.
    pub fn spawn(config: &str) -> Result<Self> {
        Self::spawn_with_args(config, &[])
    }

    /// Like [`PrometheusProcess::spawn`], with extra command-line flags (e.g.
    /// `--web.enable-remote-write-receiver`).
    pub fn spawn_with_args(config: &str, args: &[&str]) -> Result<Self> {
        let binary = prometheus_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("sextant-e2e-prometheus-")
            .tempdir()?;
        let addr = free_loopback_addr();
        let mut process = PrometheusProcess {
            child: None,
            dir,
            addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        process.write_config(config)?;
        let log = std::fs::File::create(process.dir.path().join("prometheus.log"))?;
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", process.config_path().display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                process.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        process.child = Some(child);
        Ok(process)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.yml")
    }

    fn write_config(&self, config: &str) -> Result<()> {
        let config = config.replace("{self}", &self.addr.to_string());
        std::fs::write(self.config_path(), config).context("write prometheus.yml")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last lines of Prometheus' log.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!("---- prometheus log ----\n{}", lines[from..].join("\n"))
    }

    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let url = format!("http://{}/-/ready", self.addr);
        let http = self.http.clone();
        let ready = wait_for(timeout, "prometheus /-/ready", || {
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

    /// Replaces the config and reloads it with SIGHUP, waiting until Prometheus reports a
    /// successful reload newer than the previous one.
    pub async fn reload(&self, config: &str, timeout: Duration) -> Result<()> {
        let before = self
            .metric("prometheus_config_last_reload_success_timestamp_seconds")
            .await?;
        self.write_config(config)?;
        self.signal("-HUP")?;
        let reloaded = wait_for(timeout, "prometheus config reload", || async {
            let text = self.metrics_text().await?;
            let at = metric_sum(
                &text,
                "prometheus_config_last_reload_success_timestamp_seconds",
            );
            let ok = metric_sum(&text, "prometheus_config_last_reload_successful");
            Ok((ok == Some(1.0) && at > Some(before)).then_some(()))
        })
        .await;
        reloaded.with_context(|| self.log_tail())
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| anyhow!("not running"))?;
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill {signal} {pid}: {status}");
        }
        Ok(())
    }

    /// Prometheus' own `/metrics` (read directly, not through a scrape, so reading it adds no
    /// samples).
    pub async fn metrics_text(&self) -> Result<String> {
        let url = format!("http://{}/metrics", self.addr);
        let response = self.http.get(&url).send().await?;
        if !response.status().is_success() {
            bail!("GET {url}: {}", response.status());
        }
        Ok(response.text().await?)
    }

    /// The sum over all label sets of the metric `name` in Prometheus' own `/metrics`.
    pub async fn metric(&self, name: &str) -> Result<f64> {
        let text = self.metrics_text().await?;
        metric_sum(&text, name).ok_or_else(|| anyhow!("prometheus does not expose {name}"))
    }
}

impl Drop for PrometheusProcess {
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

/// The sum of the values of every sample of metric `name` (any labels) in a text exposition,
/// or `None` when the metric has no sample.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        if let Some((metric, value)) = parse_sample_line(line) {
            if metric == name {
                *sum.get_or_insert(0.0) += value;
            }
        }
    }
    sum
}

/// `name{labels} value [timestamp]` → (name, value); `None` for comments, blank lines and
/// anything unparsable.
fn parse_sample_line(line: &str) -> Option<(&str, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let rest = &line[name_end..];
    let rest = if rest.starts_with('{') {
        &rest[label_set_end(rest)?..]
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, value))
}

/// The byte index just past the `}` closing the label set at the start of `s`, skipping
/// quoted values (which may hold `}` and escaped quotes).
fn label_set_end(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match (in_quotes, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_quotes = false,
            (false, _, '"') => in_quotes = true,
            (false, _, '}') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_metric_over_its_label_sets() {
        let text = r#"# HELP prometheus_remote_storage_samples_total Total number of samples sent.
# TYPE prometheus_remote_storage_samples_total counter
prometheus_remote_storage_samples_total{remote_name="a",url="http://x/{}"} 10
prometheus_remote_storage_samples_total{remote_name="b",url="q\"}"} 5 1700000000000
prometheus_remote_storage_samples_total_other 100
prometheus_remote_storage_samples_pending{remote_name="a"} 0
up 1
weird{a="1"} NaN
"#;
        let cases: &[(&str, Option<f64>)] = &[
            ("prometheus_remote_storage_samples_total", Some(15.0)),
            ("prometheus_remote_storage_samples_pending", Some(0.0)),
            ("up", Some(1.0)),
            ("absent", None),
        ];
        for (name, want) in cases {
            assert_eq!(metric_sum(text, name), *want, "{name}");
        }
        assert!(metric_sum(text, "weird").unwrap().is_nan());
    }

    #[test]
    fn ignores_garbage_lines() {
        for line in ["", "# comment", "name{unclosed=\"x\" 1", "name notanumber"] {
            assert_eq!(parse_sample_line(line), None, "{line:?}");
        }
    }
}
