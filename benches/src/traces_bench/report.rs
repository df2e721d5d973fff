//! The result of `sextant-traces-bench`: JSON (`--json`) and markdown.

use std::fmt::Write as _;

use serde::Serialize;

/// Pushes over HTTP to a running Sextant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushResult {
    pub url: String,
    pub pid: u32,
    pub workers: usize,
    pub traces_per_request: usize,
    pub spans_per_trace: usize,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub spans_sent: u64,
    /// Spans of 200 answers, less those their partial success rejected.
    pub spans_acked: u64,
    pub spans_rejected: u64,
    pub traces_acked_whole: u64,
    /// OTLP protobuf bytes (uncompressed) of the accepted requests.
    pub bytes_acked: u64,
    pub bytes_per_span: f64,
    pub wall_s: f64,
    pub spans_per_s: f64,
    pub mb_per_s: f64,
    /// utime + stime of the Sextant process during the pushes (all its threads).
    pub server_cpu_s: f64,
    pub server_cores_busy: f64,
    pub server_spans_per_core_s: f64,
    pub server_mb_per_core_s: f64,
    pub server_cpu_us_per_span: f64,
    /// The Sextant process's peak resident memory after the pushes.
    pub server_vm_hwm_bytes: Option<u64>,
    /// CPU of this process (generating, encoding, sending) during the pushes.
    pub client_cpu_s: f64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    /// The most frequent error answers, with counts.
    pub errors: Vec<(String, u64)>,
}

/// What the flush left in the bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoredResult {
    pub storage_dir: String,
    pub flush_s: f64,
    /// Bytes under `<storage_dir>/traces` before the pushes and after the flush.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Growth over spans accepted (every replica's copy counts: divide by RF for one copy).
    pub bytes_per_span: f64,
}

/// Trace by ID over random accepted IDs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LookupResult {
    /// Traces accepted whole, the pool the IDs were drawn from.
    pub traces_known: u64,
    pub lookups: u64,
    pub found_whole: u64,
    pub found_partial: u64,
    pub not_found: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One TraceQL query, timed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResult {
    pub query: String,
    pub runs: usize,
    /// Traces the last successful run returned.
    pub traces_found: usize,
    pub errors: u64,
    pub first_error: Option<String>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TracesBenchReport {
    pub host_cores: usize,
    pub load_avg_1m: Option<f64>,
    pub push: PushResult,
    pub stored: Option<StoredResult>,
    pub lookups: Option<LookupResult>,
    pub searches: Vec<SearchResult>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

impl TracesBenchReport {
    /// The figures as markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "host: {} cores, load avg (1m) before: {}\n",
            self.host_cores,
            opt(self.load_avg_1m, 2)
        );
        self.push_markdown(&mut out);
        if let Some(s) = &self.stored {
            let _ = writeln!(
                out,
                "stored: flush {:.1} s; {}/traces grew {} → {} bytes = **{:.1} bytes per span**\n",
                s.flush_s, s.storage_dir, s.bytes_before, s.bytes_after, s.bytes_per_span
            );
        }
        if let Some(l) = &self.lookups {
            let _ = writeln!(
                out,
                "trace by ID (`/api/traces/<id>`, protobuf) over {} accepted traces: {} lookups, {} whole, {} partial, {} not found, {} errors{}; **p50 {} ms, p99 {} ms**\n",
                l.traces_known,
                l.lookups,
                l.found_whole,
                l.found_partial,
                l.not_found,
                l.errors,
                l.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default(),
                opt(l.p50_ms, 1),
                opt(l.p99_ms, 1)
            );
        }
        if !self.searches.is_empty() {
            out.push_str("| TraceQL search | runs | traces | p50 ms | p99 ms | errors |\n");
            out.push_str("| --- | ---: | ---: | ---: | ---: | --- |\n");
            for s in &self.searches {
                let errors = match &s.first_error {
                    Some(e) => format!("{} ({e})", s.errors),
                    None => s.errors.to_string(),
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    s.query.replace('|', "\\|"),
                    s.runs,
                    s.traces_found,
                    opt(s.p50_ms, 1),
                    opt(s.p99_ms, 1),
                    errors
                );
            }
        }
        out
    }

    fn push_markdown(&self, out: &mut String) {
        let p = &self.push;
        let _ = writeln!(
            out,
            "push {} ({} workers, {} traces × {} spans a request): {} requests ok, {} failed; {} of {} spans accepted ({} rejected), {} traces whole, {:.0} bytes a span\n",
            p.url,
            p.workers,
            p.traces_per_request,
            p.spans_per_trace,
            p.requests_ok,
            p.requests_failed,
            p.spans_acked,
            p.spans_sent,
            p.spans_rejected,
            p.traces_acked_whole,
            p.bytes_per_span
        );
        out.push_str("| wall s | spans/s | MB/s | server CPU s | cores busy | spans/s per core | MB/s per core | µs CPU/span | VmHWM MB | client CPU s | p50 ms | p99 ms |\n");
        out.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        let _ = writeln!(
            out,
            "| {:.1} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {} | {} |\n",
            p.wall_s,
            p.spans_per_s,
            p.mb_per_s,
            p.server_cpu_s,
            p.server_cores_busy,
            p.server_spans_per_core_s,
            p.server_mb_per_core_s,
            p.server_cpu_us_per_span,
            opt(p.server_vm_hwm_bytes.map(|b| b as f64 / 1e6), 0),
            p.client_cpu_s,
            opt(p.latency_ms_p50, 1),
            opt(p.latency_ms_p99, 1)
        );
        if !p.errors.is_empty() {
            let _ = writeln!(out, "errors: {:?}\n", p.errors);
        }
    }
}
