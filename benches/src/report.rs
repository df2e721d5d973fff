//! The load generator's result: JSON (`--json`) and a markdown summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// The load that was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub series: usize,
    pub samples_per_series: usize,
    pub interval_ms: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub batch: usize,
    pub concurrency: usize,
    pub nodes: usize,
    pub pods: usize,
    pub avg_labels_per_series: f64,
    pub requests: usize,
    pub samples: u64,
    pub wire_bytes_per_sample_compressed: f64,
    pub wire_bytes_per_sample_uncompressed: f64,
    pub generate_s: f64,
}

/// What the replay achieved, seen from the sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendReport {
    pub url: String,
    pub wall_s: f64,
    pub samples_accepted: u64,
    pub samples_per_s: f64,
    pub requests_ok: u64,
    pub requests_rejected: u64,
    pub samples_rejected: u64,
    pub samples_failed: u64,
    pub retries: u64,
    pub conn_errors: u64,
    pub req_latency_ms_p50: Option<f64>,
    pub req_latency_ms_p99: Option<f64>,
    pub loadgen_cpu_s: Option<f64>,
    /// Most frequent error responses (status and body prefix).
    pub errors: BTreeMap<String, u64>,
}

/// The target process during the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    pub pid: u32,
    pub cpu_s: f64,
    pub cores_used: f64,
    pub cpu_us_per_sample: f64,
    pub rss_before_bytes: Option<u64>,
    pub rss_peak_sampled_bytes: u64,
    pub vm_hwm_bytes: Option<u64>,
    /// max(peak sampled RSS, VmHWM) / series.
    pub bytes_per_series_peak: f64,
    /// (peak sampled RSS - RSS before) / series: what the series added.
    pub bytes_per_series_growth: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadgenReport {
    pub load: LoadReport,
    pub send: SendReport,
    pub target: Option<TargetReport>,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

impl LoadgenReport {
    pub fn to_markdown(&self) -> String {
        let (l, s) = (&self.load, &self.send);
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "| {k} | {v} |");
        };
        row("figure", "value".into());
        row("---", "---".into());
        row("target", s.url.clone());
        let shape = format!(
            "{} series x {} samples @ {} ms",
            l.series, l.samples_per_series, l.interval_ms
        );
        row("load", shape);
        row(
            "requests (samples/request, senders)",
            format!("{} ({}, {})", l.requests, l.batch, l.concurrency),
        );
        row(
            "avg labels per series",
            format!("{:.2}", l.avg_labels_per_series),
        );
        let wire = format!(
            "{:.2} / {:.1}",
            l.wire_bytes_per_sample_compressed, l.wire_bytes_per_sample_uncompressed
        );
        row("wire bytes/sample (snappy / raw)", wire);
        row("pre-encoding time", format!("{:.1} s", l.generate_s));
        row(
            "accepted samples/s (wall)",
            format!("{:.0}", s.samples_per_s),
        );
        row(
            "accepted samples",
            format!(
                "{} of {} in {:.2} s",
                s.samples_accepted, l.samples, s.wall_s
            ),
        );
        row(
            "rejected / failed samples",
            format!("{} / {}", s.samples_rejected, s.samples_failed),
        );
        row(
            "retries / connection errors",
            format!("{} / {}", s.retries, s.conn_errors),
        );
        row(
            "request latency p50 / p99",
            format!(
                "{} / {} ms",
                opt(s.req_latency_ms_p50, 2),
                opt(s.req_latency_ms_p99, 2)
            ),
        );
        row("loadgen CPU", format!("{} s", opt(s.loadgen_cpu_s, 2)));
        if let Some(t) = &self.target {
            row("target pid", t.pid.to_string());
            row(
                "target CPU",
                format!("{:.2} s ({:.2} cores)", t.cpu_s, t.cores_used),
            );
            row(
                "target CPU per sample",
                format!("{:.3} µs", t.cpu_us_per_sample),
            );
            let hwm = t.vm_hwm_bytes.map_or_else(|| "-".into(), mib);
            row(
                "target RSS peak sampled / VmHWM",
                format!("{} / {hwm}", mib(t.rss_peak_sampled_bytes)),
            );
            row(
                "target bytes per active series (peak)",
                format!("{:.0}", t.bytes_per_series_peak),
            );
            row(
                "target bytes per active series (growth)",
                opt(t.bytes_per_series_growth, 0),
            );
        }
        let mut errors: Vec<_> = self.send.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1));
        for (k, v) in errors.into_iter().take(10) {
            let _ = writeln!(out, "\nerror x{v}: {k}");
        }
        out
    }
}
