//! The whole HTTP path: pre-encoded Loki pushes (mixed workload, protobuf + snappy) sent to a
//! running Sextant's `/loki/api/v1/push` with one request in flight per sender, and the CPU
//! the Sextant process spent meanwhile (`/proc/<pid>/stat`).

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

use super::ingest::{encode_pushes, IngestSpec};
use super::report::HttpResult;
use crate::encode::EncodedRequest;
use crate::logs_gen::LogsWorkload;
use crate::procfs;
use crate::replay::{build_client, replay, ReplayConfig};

/// Where and what to push.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    pub url: String,
    pub tenant: Option<String>,
    /// The Sextant process (found as the listener of the URL's port when `None`).
    pub pid: Option<u32>,
    pub concurrency: usize,
    /// Raw line bytes in all, a third per workload (nginx, application logs, events).
    pub raw_bytes: usize,
    pub push_bytes: usize,
    pub seed: u64,
}

/// The port of an `http://host:port/...` URL.
fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// Encodes the pushes, sends them and measures the target.
pub async fn run_http(spec: &HttpSpec) -> anyhow::Result<HttpResult> {
    let mut shards: Vec<Vec<EncodedRequest>> = vec![Vec::new(); spec.concurrency.max(1)];
    let mut k = 0;
    for (w, workload) in LogsWorkload::ALL.into_iter().enumerate() {
        let ingest = IngestSpec {
            workload,
            raw_bytes: spec.raw_bytes / LogsWorkload::ALL.len(),
            push_bytes: spec.push_bytes,
            seed: spec.seed + w as u64,
        };
        for push in encode_pushes(&ingest)?.0 {
            // round robin: a stream's entries may arrive a push out of order, well within
            // the out-of-order window (Loki 3's unordered writes)
            let n = shards.len();
            shards[k % n].push(EncodedRequest {
                body: Bytes::from(push.body),
                samples: push.lines as u32,
                raw_len: push.raw_bytes as u32,
            });
            k += 1;
        }
    }
    let lines: u64 = shards.iter().flatten().map(|r| u64::from(r.samples)).sum();
    let raw: u64 = shards.iter().flatten().map(|r| u64::from(r.raw_len)).sum();
    let pid = match spec.pid {
        Some(pid) => pid,
        None => url_port(&spec.url)
            .and_then(procfs::pid_listening_on)
            .context("no --pid and no process found listening on the URL's port")?,
    };
    let ticks = procfs::clock_ticks();
    let cpu_before = procfs::cpu_seconds(pid, ticks)?;
    let client = build_client(spec.concurrency, Duration::from_secs(60))?;
    let cfg = ReplayConfig {
        url: spec.url.clone(),
        tenant: spec.tenant.clone(),
        max_retries: 5,
    };
    let t0 = Instant::now();
    let stats = replay(client, cfg, shards).await;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = procfs::cpu_seconds(pid, ticks)? - cpu_before;
    let ok = stats.ok_samples as f64;
    Ok(HttpResult {
        url: spec.url.clone(),
        pid,
        concurrency: spec.concurrency,
        lines,
        raw_bytes: raw,
        lines_accepted: stats.ok_samples,
        lines_rejected: stats.rejected_samples,
        lines_failed: stats.failed_samples,
        retries: stats.retries,
        wall_s,
        lines_per_s_wall: ok / wall_s,
        mb_per_s_wall: ok / lines as f64 * raw as f64 / 1e6 / wall_s,
        server_cpu_s: cpu_s,
        server_cpu_us_per_line: cpu_s * 1e6 / ok.max(1.0),
        server_lines_per_cpu_s: ok / cpu_s.max(f64::MIN_POSITIVE),
        server_mb_per_cpu_s: ok / lines as f64 * raw as f64 / 1e6 / cpu_s.max(f64::MIN_POSITIVE),
        latency_ms_p50: stats.latency_ms(0.5),
        latency_ms_p99: stats.latency_ms(0.99),
        errors: stats.errors.into_iter().take(5).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_of_urls() {
        let cases = [
            ("http://127.0.0.1:19600/loki/api/v1/push", Some(19600)),
            ("http://localhost:8080", Some(8080)),
            ("http://localhost/loki", None),
            ("nonsense", None),
        ];
        for (url, want) in cases {
            assert_eq!(url_port(url), want, "{url}");
        }
    }
}
