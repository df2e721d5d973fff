//! Ingest of Loki pushes on one core, as the distributor and an ingester do it, and the stored
//! bytes per raw byte of the resulting block.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context};
use prost::Message;
use sextant_logs::block::LogsBlockSource;
use sextant_logs::db::{LogsDbConfig, LogsTenantDb};
use sextant_logs::push::{
    decode_loki_push, discover_service_name, push_request_from_streams, validate,
    LogsValidationLimits, DEFAULT_DISCOVER_SERVICE_NAME,
};

use super::report::IngestResult;
use super::{now_ns, Stopwatch};
use crate::logs_gen::{LogsGenerator, LogsMix, LogsWorkload};

/// Loki's default limit on a decompressed push.
pub const MAX_DECOMPRESSED: usize = 100 << 20;
const PROTOBUF: &str = "application/x-protobuf";

/// What to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestSpec {
    pub workload: LogsWorkload,
    /// Raw line bytes over all pushes.
    pub raw_bytes: usize,
    /// Raw line bytes per push (Promtail's `batchsize` is 1 MiB).
    pub push_bytes: usize,
    pub seed: u64,
}

/// One push body (snappy-compressed `logproto.PushRequest`) and what it carries.
#[derive(Debug, Clone)]
pub struct EncodedPush {
    pub body: Vec<u8>,
    pub lines: usize,
    pub raw_bytes: usize,
}

/// The pushes of a spec, with timestamps ending about now (so validation accepts them).
pub fn encode_pushes(spec: &IngestSpec) -> anyhow::Result<(Vec<EncodedPush>, usize)> {
    // ~250 bytes a line: spread the lines over the last ~10 minutes
    let lines_estimate = (spec.raw_bytes / 250).max(1) as i64;
    let step_ns = (600_000_000_000 / lines_estimate).max(1);
    let start = now_ns() - 660_000_000_000;
    let mut gen = LogsGenerator::new(LogsMix::Only(spec.workload), spec.seed, start, step_ns);
    let mut pushes = Vec::new();
    let mut total = 0;
    while total < spec.raw_bytes {
        let batch = gen.batch(spec.push_bytes.min(spec.raw_bytes - total));
        let raw = push_request_from_streams(&batch.streams).encode_to_vec();
        let body = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .context("snappy")?;
        total += batch.line_bytes();
        pushes.push(EncodedPush {
            body,
            lines: batch.entries(),
            raw_bytes: batch.line_bytes(),
        });
    }
    Ok((pushes, gen.stream_count()))
}

/// Decodes, validates and appends every push to a fresh tenant database in `dir`, timing
/// that (wall and CPU of this thread), then cuts the head into a block.
pub fn run_ingest(
    spec: &IngestSpec,
    pushes: &[EncodedPush],
    streams: usize,
    dir: &Path,
    ticks: f64,
) -> anyhow::Result<IngestResult> {
    let (db, _) = LogsTenantDb::open(LogsDbConfig {
        dir: dir.to_path_buf(),
        ..LogsDbConfig::default()
    })?;
    let limits = LogsValidationLimits::default();
    let discover: Vec<String> = DEFAULT_DISCOVER_SERVICE_NAME
        .iter()
        .map(|s| s.to_string())
        .collect();
    let watch = Stopwatch::start(ticks);
    let mut written = 0u64;
    // wall seconds of decode (+ service name discovery), validate, append
    let mut phases = [0.0f64; 3];
    for push in pushes {
        let t0 = Instant::now();
        let mut batch = decode_loki_push(Some(PROTOBUF), None, &push.body, MAX_DECOMPRESSED)?;
        discover_service_name(&mut batch, &discover);
        let t1 = Instant::now();
        let (accepted, rejected) = validate(batch, &limits, now_ns());
        ensure!(rejected.is_empty(), "rejected: {:?}", rejected.first());
        let t2 = Instant::now();
        let report = db.append(&accepted)?;
        phases[0] += (t1 - t0).as_secs_f64();
        phases[1] += (t2 - t1).as_secs_f64();
        phases[2] += t2.elapsed().as_secs_f64();
        ensure!(
            report.rejected_total() == 0,
            "append rejected {:?}",
            report.rejected.first()
        );
        written += report.entries_written;
    }
    db.sync()?;
    let (wall_s, cpu_s) = watch.elapsed();
    let lines: usize = pushes.iter().map(|p| p.lines).sum();
    let raw: usize = pushes.iter().map(|p| p.raw_bytes).sum();
    ensure!(
        written == lines as u64,
        "{written} of {lines} lines written"
    );
    let cut = Stopwatch::start(ticks);
    let block = db
        .cut_block(i64::MAX, LogsBlockSource::default())?
        .context("nothing to cut")?;
    let (cut_wall_s, _) = cut.elapsed();
    ensure!(
        block.meta.stats.entries == lines as u64,
        "block lost entries"
    );
    let stored = block.chunks.len() + block.index.len() + block.meta_json().len();
    let per_s = |n: f64, s: f64| if s > 0.0 { n / s } else { 0.0 };
    let mb = raw as f64 / 1e6;
    Ok(IngestResult {
        workload: spec.workload.name(),
        streams,
        lines,
        raw_bytes: raw,
        avg_line_bytes: raw as f64 / lines.max(1) as f64,
        pushes: pushes.len(),
        wire_bytes: pushes.iter().map(|p| p.body.len()).sum(),
        wall_s,
        cpu_s,
        lines_per_s_wall: per_s(lines as f64, wall_s),
        mb_per_s_wall: per_s(mb, wall_s),
        lines_per_cpu_s: cpu_s.map(|c| per_s(lines as f64, c)),
        mb_per_cpu_s: cpu_s.map(|c| per_s(mb, c)),
        decode_s: phases[0],
        validate_s: phases[1],
        append_s: phases[2],
        wal_bytes_per_raw_byte: db.wal_bytes_written() as f64 / raw as f64,
        stored_bytes: stored,
        chunk_bytes: block.chunks.len(),
        index_bytes: block.index.len(),
        stored_bytes_per_raw_byte: stored as f64 / raw as f64,
        cut_s: cut_wall_s,
    })
}
