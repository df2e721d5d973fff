//! The write path over HTTP: `workers` tasks push generated exports to a running Sextant's
//! `POST /v1/traces` (OTLP protobuf) for a fixed time, one request in flight each, and the CPU
//! the Sextant process spent meanwhile (`/proc/<pid>/stat`). A worker that gets a 429, a 5xx
//! or a connection error backs off 100 ms and goes on with new traces (no retries: the figure
//! is what was accepted).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use prost::Message;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;

use super::gen::{TracesGenerator, SPANS_PER_TRACE};
use super::report::PushResult;
use crate::logs_bench::{now_ns, quantile};
use crate::procfs;
use crate::replay::build_client;

/// Where, how hard and how long to push.
#[derive(Debug, Clone, PartialEq)]
pub struct PushSpec {
    /// `http://host:port` of the Sextant HTTP API.
    pub url: String,
    /// Sent as `X-Scope-OrgID` when set.
    pub tenant: Option<String>,
    /// The Sextant process (found as the listener of the URL's port when `None`).
    pub pid: Option<u32>,
    pub workers: usize,
    pub duration: Duration,
    pub traces_per_request: usize,
    pub seed: u64,
}

/// The result, and the IDs of the traces accepted whole (for the reads).
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub result: PushResult,
    pub trace_ids: Vec<[u8; 16]>,
}

#[derive(Debug, Default)]
struct WorkerStats {
    requests_ok: u64,
    requests_failed: u64,
    spans_sent: u64,
    spans_acked: u64,
    spans_rejected: u64,
    bytes_acked: u64,
    latencies_ms: Vec<f64>,
    trace_ids: Vec<[u8; 16]>,
    errors: BTreeMap<String, u64>,
}

impl WorkerStats {
    fn merge(&mut self, o: WorkerStats) {
        self.requests_ok += o.requests_ok;
        self.requests_failed += o.requests_failed;
        self.spans_sent += o.spans_sent;
        self.spans_acked += o.spans_acked;
        self.spans_rejected += o.spans_rejected;
        self.bytes_acked += o.bytes_acked;
        self.latencies_ms.extend(o.latencies_ms);
        self.trace_ids.extend(o.trace_ids);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// The Sextant process behind `url`: `pid`, else the listener of its port.
pub fn resolve_pid(url: &str, pid: Option<u32>) -> anyhow::Result<u32> {
    if let Some(pid) = pid {
        return Ok(pid);
    }
    let port = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .with_context(|| format!("no port in {url}"))?;
    procfs::pid_listening_on(port)
        .with_context(|| format!("no --pid and no process found listening on port {port}"))
}

/// `POST <url>/v1/traces` with `body`: the status and the body read.
async fn post(
    client: &reqwest::Client,
    url: &str,
    tenant: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Result<(u16, bytes::Bytes)> {
    let mut request = client
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .body(body);
    if let Some(t) = tenant {
        request = request.header("X-Scope-OrgID", t);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.bytes().await?))
}

fn error_key(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    format!(
        "{status}: {}",
        text.trim().chars().take(200).collect::<String>()
    )
}

/// One worker: new traces every request until `deadline`.
async fn worker(
    client: reqwest::Client,
    spec: PushSpec,
    seed: u64,
    deadline: Instant,
) -> WorkerStats {
    let url = format!("{}/v1/traces", spec.url);
    let mut gen = TracesGenerator::new(seed);
    let mut st = WorkerStats::default();
    while Instant::now() < deadline {
        let batch = gen.batch(spec.traces_per_request, now_ns() as u64);
        let bytes = batch.body.len() as u64;
        st.spans_sent += batch.spans as u64;
        let t0 = Instant::now();
        let answer = post(&client, &url, spec.tenant.as_deref(), batch.body).await;
        st.latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let failure = match answer {
            Ok((200, body)) => {
                let rejected = ExportTraceServiceResponse::decode(body.as_ref())
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| p.rejected_spans.max(0) as u64);
                st.requests_ok += 1;
                st.bytes_acked += bytes;
                st.spans_acked += batch.spans as u64 - rejected.min(batch.spans as u64);
                st.spans_rejected += rejected;
                if rejected == 0 {
                    st.trace_ids.extend(batch.trace_ids);
                } else {
                    *st.errors.entry(error_key(200, &body)).or_default() += 1;
                }
                None
            }
            Ok((status, body)) => Some(error_key(status, &body)),
            Err(e) => Some(format!("connection: {e}")),
        };
        if let Some(key) = failure {
            st.requests_failed += 1;
            *st.errors.entry(key).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    st
}

/// Pushes for `spec.duration` and measures the target and this process.
pub async fn run_push(spec: &PushSpec) -> anyhow::Result<PushOutcome> {
    let pid = resolve_pid(&spec.url, spec.pid)?;
    let ticks = procfs::clock_ticks();
    let me = std::process::id();
    let client = build_client(spec.workers, Duration::from_secs(60))?;
    let server_before = procfs::cpu_seconds(pid, ticks)?;
    let client_before = procfs::cpu_seconds(me, ticks)?;
    let t0 = Instant::now();
    let deadline = t0 + spec.duration;
    let tasks: Vec<_> = (0..spec.workers.max(1))
        .map(|w| {
            let seed = spec.seed.wrapping_mul(1000).wrapping_add(w as u64);
            tokio::spawn(worker(client.clone(), spec.clone(), seed, deadline))
        })
        .collect();
    let mut total = WorkerStats::default();
    for task in tasks {
        total.merge(task.await.context("push worker")?);
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let server_cpu_s = procfs::cpu_seconds(pid, ticks)? - server_before;
    let client_cpu_s = procfs::cpu_seconds(me, ticks)? - client_before;
    let mut result = summarize(spec, pid, &total, wall_s, server_cpu_s, client_cpu_s);
    result.server_vm_hwm_bytes = procfs::status_bytes(pid, "VmHWM").ok().flatten();
    Ok(PushOutcome {
        result,
        trace_ids: total.trace_ids,
    })
}

fn summarize(
    spec: &PushSpec,
    pid: u32,
    st: &WorkerStats,
    wall_s: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
) -> PushResult {
    let per = |n: f64, d: f64| if d > 0.0 { n / d } else { 0.0 };
    let spans = st.spans_acked as f64;
    let mb = st.bytes_acked as f64 / 1e6;
    let mut errors: Vec<(String, u64)> = st.errors.clone().into_iter().collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.1));
    errors.truncate(5);
    PushResult {
        url: spec.url.clone(),
        pid,
        workers: spec.workers,
        traces_per_request: spec.traces_per_request,
        spans_per_trace: SPANS_PER_TRACE,
        requests_ok: st.requests_ok,
        requests_failed: st.requests_failed,
        spans_sent: st.spans_sent,
        spans_acked: st.spans_acked,
        spans_rejected: st.spans_rejected,
        traces_acked_whole: st.trace_ids.len() as u64,
        bytes_acked: st.bytes_acked,
        bytes_per_span: per(st.bytes_acked as f64, spans),
        wall_s,
        spans_per_s: per(spans, wall_s),
        mb_per_s: per(mb, wall_s),
        server_cpu_s,
        server_cores_busy: per(server_cpu_s, wall_s),
        server_spans_per_core_s: per(spans, server_cpu_s),
        server_mb_per_core_s: per(mb, server_cpu_s),
        server_cpu_us_per_span: per(server_cpu_s * 1e6, spans),
        server_vm_hwm_bytes: None,
        client_cpu_s,
        latency_ms_p50: quantile(&st.latencies_ms, 0.5),
        latency_ms_p99: quantile(&st.latencies_ms, 0.99),
        errors,
    }
}
