//! The result of `sextant-logs-bench`: JSON (`--json`) and a markdown table.

use std::fmt::Write as _;

use serde::Serialize;

/// Ingest of one workload on one core.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestResult {
    pub workload: &'static str,
    pub streams: usize,
    pub lines: usize,
    /// Bytes of log lines pushed.
    pub raw_bytes: usize,
    pub avg_line_bytes: f64,
    pub pushes: usize,
    /// Snappy-compressed protobuf bytes of the pushes.
    pub wire_bytes: usize,
    pub wall_s: f64,
    /// CPU seconds of the ingesting thread (`None` when /proc does not tell).
    pub cpu_s: Option<f64>,
    pub lines_per_s_wall: f64,
    pub mb_per_s_wall: f64,
    pub lines_per_cpu_s: Option<f64>,
    pub mb_per_cpu_s: Option<f64>,
    /// Wall seconds in each step: protobuf + snappy decoding and service name discovery,
    /// validation, `LogsTenantDb::append` (WAL write, fsync every second, head).
    pub decode_s: f64,
    pub validate_s: f64,
    pub append_s: f64,
    pub wal_bytes_per_raw_byte: f64,
    /// Block bytes (chunks + index + meta.json) after cutting the whole head.
    pub stored_bytes: usize,
    pub chunk_bytes: usize,
    pub index_bytes: usize,
    pub stored_bytes_per_raw_byte: f64,
    pub cut_s: f64,
}

/// The needle haystack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HaystackReport {
    pub raw_bytes: usize,
    pub lines: usize,
    pub streams: usize,
    pub blocks: usize,
    pub index_bytes: usize,
    pub chunk_bytes: usize,
    pub stored_bytes_per_raw_byte: f64,
    /// Generating, appending, cutting and truncating, wall seconds.
    pub build_s: f64,
    pub needle_lines: usize,
}

/// One evaluation path of the needle query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryReport {
    pub path: &'static str,
    pub query: String,
    pub runs: usize,
    pub lines_found: usize,
    pub p50_s: f64,
    pub p99_s: f64,
    pub cpu_p50_s: Option<f64>,
    /// Raw bytes of the haystack / p50.
    pub raw_gb_per_s: f64,
    pub wall_s: Vec<f64>,
}

/// Pushes over HTTP to a running Sextant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpResult {
    pub url: String,
    pub pid: u32,
    pub concurrency: usize,
    pub lines: u64,
    pub raw_bytes: u64,
    pub lines_accepted: u64,
    pub lines_rejected: u64,
    pub lines_failed: u64,
    pub retries: u64,
    pub wall_s: f64,
    pub lines_per_s_wall: f64,
    pub mb_per_s_wall: f64,
    /// utime + stime of the Sextant process during the pushes (all its threads).
    pub server_cpu_s: f64,
    pub server_cpu_us_per_line: f64,
    pub server_lines_per_cpu_s: f64,
    pub server_mb_per_cpu_s: f64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    /// The first few error responses, with counts.
    pub errors: Vec<(String, u64)>,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogsBenchReport {
    pub host_cores: usize,
    pub load_avg_1m: Option<f64>,
    pub ingest: Vec<IngestResult>,
    pub haystack: Option<HaystackReport>,
    pub needle_queries: Vec<QueryReport>,
    pub http: Option<HttpResult>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

impl LogsBenchReport {
    /// Markdown tables of the figures.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "host: {} cores, load avg (1m) before: {}\n",
            self.host_cores,
            opt(self.load_avg_1m, 2)
        );
        if !self.ingest.is_empty() {
            out.push_str("| workload | streams | lines | raw MB | avg line B | lines/s (CPU) | MB/s (CPU) | lines/s (wall) | MB/s (wall) | wire B/raw B | WAL B/raw B | stored B/raw B |\n");
            out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for r in &self.ingest {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.1} | {:.0} | {} | {} | {:.0} | {:.1} | {:.3} | {:.3} | {:.3} |",
                    r.workload,
                    r.streams,
                    r.lines,
                    r.raw_bytes as f64 / 1e6,
                    r.avg_line_bytes,
                    opt(r.lines_per_cpu_s, 0),
                    opt(r.mb_per_cpu_s, 1),
                    r.lines_per_s_wall,
                    r.mb_per_s_wall,
                    r.wire_bytes as f64 / r.raw_bytes as f64,
                    r.wal_bytes_per_raw_byte,
                    r.stored_bytes_per_raw_byte,
                );
            }
            out.push_str("\n| workload | decode % | validate % | append % | cut s |\n| --- | ---: | ---: | ---: | ---: |\n");
            for r in &self.ingest {
                let total = (r.decode_s + r.validate_s + r.append_s).max(f64::MIN_POSITIVE);
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.0} | {:.0} | {:.2} |",
                    r.workload,
                    100.0 * r.decode_s / total,
                    100.0 * r.validate_s / total,
                    100.0 * r.append_s / total,
                    r.cut_s
                );
            }
            out.push('\n');
        }
        if let Some(h) = &self.haystack {
            let _ = writeln!(
                out,
                "haystack: {:.1} MB raw, {} lines, {} streams, {} blocks, {:.3} stored B/raw B, built in {:.1} s, {} needle lines\n",
                h.raw_bytes as f64 / 1e6,
                h.lines,
                h.streams,
                h.blocks,
                h.stored_bytes_per_raw_byte,
                h.build_s,
                h.needle_lines
            );
        }
        if let Some(h) = &self.http {
            let _ = writeln!(
                out,
                "HTTP {} ({} senders): {}/{} lines accepted ({} rejected, {} failed, {} retries) in {:.1} s = {:.0} lines/s, {:.1} MB/s wall; Sextant CPU {:.2} s = {:.2} µs/line, {:.0} lines/s and {:.1} MB/s per core; request p50 {} ms, p99 {} ms; errors {:?}\n",
                h.url,
                h.concurrency,
                h.lines_accepted,
                h.lines,
                h.lines_rejected,
                h.lines_failed,
                h.retries,
                h.wall_s,
                h.lines_per_s_wall,
                h.mb_per_s_wall,
                h.server_cpu_s,
                h.server_cpu_us_per_line,
                h.server_lines_per_cpu_s,
                h.server_mb_per_cpu_s,
                opt(h.latency_ms_p50, 1),
                opt(h.latency_ms_p99, 1),
                h.errors
            );
        }
        if !self.needle_queries.is_empty() {
            out.push_str("| path | runs | lines | p50 s | p99 s | CPU p50 s | raw GB/s |\n");
            out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for q in &self.needle_queries {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.3} | {:.3} | {} | {:.2} |",
                    q.path,
                    q.runs,
                    q.lines_found,
                    q.p50_s,
                    q.p99_s,
                    opt(q.cpu_p50_s, 3),
                    q.raw_gb_per_s
                );
            }
        }
        out
    }
}
