//! The measurements of `sextant-traces-bench` (see `benches/README.md`, section Traces),
//! against a running Sextant:
//!
//! - [`gen`]: realistic OTLP traces (10 spans over 3 services, 8 attributes a span), encoded
//!   as collector-shaped exports.
//! - [`push`]: N workers pushing them to `POST /v1/traces` for T seconds: spans/s, MB/s, and
//!   per core of the Sextant process (`/proc`).
//! - [`read`]: bytes stored per span after `POST /ingester/traces/flush`, trace-by-ID latency
//!   over random accepted IDs, TraceQL search latency.
//! - [`report`]: the result (JSON) and the markdown printed.
//!
//! [`run`] does them in that order. Unit tests (`cargo test -p sextant-benches traces_bench`)
//! run the whole tool against an in-process fake of the HTTP API.

pub mod gen;
pub mod push;
pub mod read;
pub mod report;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use push::{run_push, PushSpec};
use read::{dir_bytes, flush_and_measure, time_lookups, time_searches};
use report::TracesBenchReport;

use crate::logs_bench::now_ns;
use crate::replay::build_client;

/// Everything a run does besides the pushes.
#[derive(Debug, Clone, PartialEq)]
pub struct TracesBenchSpec {
    pub push: PushSpec,
    /// The target's `storage.filesystem.dir`: flush and measure the `traces/` growth.
    pub storage_dir: Option<PathBuf>,
    /// Trace-by-ID requests (0: none).
    pub lookups: usize,
    /// TraceQL queries, each run `search_runs` times.
    pub queries: Vec<String>,
    pub search_runs: usize,
    pub search_limit: usize,
}

/// The 1-minute load average of the machine.
pub fn load_avg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Pushes, then (as asked) flushes and measures the bucket, looks traces up, searches.
pub async fn run(spec: &TracesBenchSpec) -> anyhow::Result<TracesBenchReport> {
    let url = spec.push.url.trim_end_matches('/').to_string();
    let tenant = spec.push.tenant.as_deref();
    let mut report = TracesBenchReport {
        host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_avg_1m: load_avg_1m(),
        ..TracesBenchReport::default()
    };
    let bytes_before = spec
        .storage_dir
        .as_ref()
        .map(|d| dir_bytes(&d.join("traces")));
    let start_s = now_ns() / 1_000_000_000 - 60;
    let pushed = run_push(&PushSpec {
        url: url.clone(),
        ..spec.push.clone()
    })
    .await?;
    eprintln!(
        "pushed {} spans in {:.1} s: {:.0} spans/s",
        pushed.result.spans_acked, pushed.result.wall_s, pushed.result.spans_per_s
    );
    report.push = pushed.result;
    let client = build_client(1, std::time::Duration::from_secs(120))?;
    if let (Some(dir), Some(before)) = (&spec.storage_dir, bytes_before) {
        let stored = flush_and_measure(&client, &url, dir, before, report.push.spans_acked).await?;
        report.stored = Some(stored);
    }
    if spec.lookups > 0 {
        let ids = &pushed.trace_ids;
        let seed = spec.push.seed;
        report.lookups = Some(time_lookups(&client, &url, tenant, ids, spec.lookups, seed).await);
    }
    let window = (start_s, now_ns() / 1_000_000_000 + 60);
    report.searches = time_searches(
        &client,
        &url,
        tenant,
        &spec.queries,
        spec.search_runs,
        window,
        spec.search_limit,
    )
    .await;
    Ok(report)
}
