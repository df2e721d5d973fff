//! What the ruler e2e tests share: a `-target=all` process (and a `-target=ruler` one) running
//! the ruler against a real Alertmanager, pushes of samples and log lines, and the rules and
//! query APIs as one tenant. Included by `ruler_e2e.rs` and `ruler_ha_e2e.rs` with `#[path]`
//! (a file in a subdirectory is not a test target of its own).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sextant_e2e::alertmanager::{AlertmanagerProcess, DEFAULT_CONFIG};
use sextant_e2e::remote_write::{series, write_request, TENANT_HEADER};
use sextant_e2e::wait::wait_for;
use sextant_e2e::{start_single, ProcessSpec, RemoteWriteClient, SextantProcess};
use tempfile::TempDir;

pub const TENANT: &str = "team-a";
pub const TENANT_B: &str = "team-b";
pub const RULER_METRICS_RING: &str = "ruler-metrics";

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub async fn start_alertmanager() -> Result<AlertmanagerProcess> {
    let mut am = AlertmanagerProcess::spawn(DEFAULT_CONFIG)?;
    am.wait_ready(Duration::from_secs(30)).await?;
    Ok(am)
}

/// The ruler's flags: 1 s evaluation and polling, this Alertmanager, 1 s ring heartbeats,
/// multitenancy, and a config file (written to the returned dir) with the external labels,
/// which flags cannot set.
pub fn ruler_flags(am: &AlertmanagerProcess) -> Result<(Vec<String>, TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("sextant-e2e-ruler-config-")
        .tempdir()?;
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "ruler:\n  external_labels:\n    cluster: e2e\n")?;
    let flags = vec![
        format!("-config.file={}", path.display()),
        "-multitenancy-enabled=true".to_string(),
        "-ruler.evaluation-interval=1s".to_string(),
        "-ruler.poll-interval=1s".to_string(),
        format!("-ruler.alertmanager-url={}", am.base_url()),
        "-ruler.ring.heartbeat-period=1s".to_string(),
        "-ruler.ring.heartbeat-timeout=10s".to_string(),
    ];
    Ok((flags, dir))
}

/// `sextant -target=all` (RF 1 for metrics and logs) running the ruler, its ruler ring ready.
pub async fn start_ruler_all(
    am: &AlertmanagerProcess,
    extra: &[&str],
) -> Result<(SextantProcess, TempDir)> {
    let (mut flags, dir) = ruler_flags(am)?;
    flags.push("-ingester.logs.replication-factor=1".to_string());
    flags.extend(extra.iter().map(|f| f.to_string()));
    let process = start_single(&flags).await?;
    process
        .wait_for_ring(
            RULER_METRICS_RING,
            Duration::from_secs(30),
            "1 ruler",
            |r| r.active_healthy() == 1,
        )
        .await?;
    Ok((process, dir))
}

/// `sextant -target=ruler` joined to `all`: same bucket (rules), queries and writes through
/// `all`'s HTTP API.
pub async fn start_ruler_only(
    am: &AlertmanagerProcess,
    all: &SextantProcess,
) -> Result<(SextantProcess, TempDir)> {
    let (flags, dir) = ruler_flags(am)?;
    let spec = ProcessSpec::new("ruler-2", "ruler")
        .join([all.memberlist_addr()])
        .flags(flags)
        .flag(format!(
            "-storage.filesystem.dir={}",
            all.data_dir().join("blocks").display()
        ))
        .flag(format!("-ruler.query-address={}", all.url("")))
        .flag(format!("-ruler.push-address={}", all.url("")));
    let mut process = SextantProcess::spawn(spec)?;
    process.wait_ready(Duration::from_secs(60)).await?;
    Ok((process, dir))
}

pub async fn push_series(
    process: &SextantProcess,
    labels: &[(&str, &str)],
    samples: &[(i64, f64)],
) -> Result<()> {
    let client = RemoteWriteClient::new(process.http_addr())?;
    let request = write_request(vec![series(labels, samples)]);
    let response = client.push_v1(Some(TENANT), &request).await?;
    ensure!(
        response.is_success(),
        "push: {} {}",
        response.status,
        response.body
    );
    Ok(())
}

pub async fn push_gauge(
    process: &SextantProcess,
    name: &str,
    labels: &[(&str, &str)],
    ts_ms: i64,
    value: f64,
) -> Result<()> {
    let mut all = vec![("__name__", name)];
    all.extend_from_slice(labels);
    all.sort();
    push_series(process, &all, &[(ts_ms, value)]).await
}

/// Pushes `lines` (timestamped now, 1 µs apart) to one stream through the Loki JSON API.
pub async fn push_log_lines(
    process: &SextantProcess,
    stream: &[(&str, &str)],
    lines: &[&str],
) -> Result<()> {
    let base_ns = now_ms() as i128 * 1_000_000;
    let values: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| json!([(base_ns + i as i128 * 1_000).to_string(), line]))
        .collect();
    let stream: serde_json::Map<String, Value> = stream
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let body = json!({"streams": [{"stream": stream, "values": values}]});
    let response = reqwest::Client::new()
        .post(process.url("/loki/api/v1/push"))
        .header(TENANT_HEADER, TENANT)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    ensure!(
        status.is_success(),
        "loki push: {status} {}",
        response.text().await?
    );
    Ok(())
}

/// The rules and query APIs of one process, as one tenant.
pub struct RulerApi {
    http: reqwest::Client,
    base: String,
    tenant: &'static str,
}

impl RulerApi {
    pub fn new(process: &SextantProcess, tenant: &'static str) -> Result<Self> {
        Ok(RulerApi {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: process.url(""),
            tenant,
        })
    }

    pub async fn post_group(&self, path: &str, yaml: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(TENANT_HEADER, self.tenant)
            .header("Content-Type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status.as_u16() == 202,
            "POST {path}: {status} {}",
            response.text().await?
        );
        Ok(())
    }

    pub async fn get_data(&self, path_and_query: &str) -> Result<Value> {
        let url = format!("{}{path_and_query}", self.base);
        let response = self
            .http
            .get(&url)
            .header(TENANT_HEADER, self.tenant)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status.is_success(), "GET {url}: {status} {body}");
        let answer: Value =
            serde_json::from_str(&body).with_context(|| format!("{url}: {body}"))?;
        ensure!(answer["status"] == "success", "GET {url}: {body}");
        Ok(answer["data"].clone())
    }

    pub async fn rule_groups(&self) -> Result<Vec<Value>> {
        let data = self.get_data("/prometheus/api/v1/rules").await?;
        Ok(data["groups"].as_array().cloned().unwrap_or_default())
    }

    pub async fn ruler_alerts(&self) -> Result<Vec<Value>> {
        let data = self.get_data("/prometheus/api/v1/alerts").await?;
        Ok(data["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until `/api/v1/rules` lists the group `name` with an evaluation done.
    pub async fn wait_group_loaded(&self, name: &str) -> Result<()> {
        wait_for(Duration::from_secs(20), "group loaded", || async {
            let groups = self.rule_groups().await?;
            let loaded = groups.iter().any(|g| {
                g["name"] == name
                    && g["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001") && !t.starts_with("1970"))
            });
            Ok(loaded.then_some(()))
        })
        .await
        .with_context(|| format!("group {name}"))
    }

    /// The `state` of the rule `name` in `/api/v1/rules`.
    pub async fn rule_state(&self, name: &str) -> Result<String> {
        let groups = self.rule_groups().await?;
        groups
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .find(|r| r["name"] == name)
            .and_then(|r| r["state"].as_str().map(str::to_string))
            .with_context(|| format!("no rule {name} in {groups:?}"))
    }

    pub async fn query(&self, query: &str) -> Result<Vec<Value>> {
        let time = format!("{:.3}", now_ms() as f64 / 1000.0);
        self.query_at(query, &time).await
    }

    pub async fn query_at(&self, query: &str, time: &str) -> Result<Vec<Value>> {
        let q: String = form_urlencoded(&[("query", query), ("time", time)]);
        let data = self
            .get_data(&format!("/prometheus/api/v1/query?{q}"))
            .await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
