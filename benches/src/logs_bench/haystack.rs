//! A needle in a haystack: about 1 GB of mixed logs built into blocks through a tenant
//! database (append, `cut_block`, truncate, in batches), a few lines carrying a unique trace
//! id, and `{namespace=~".+"} |= "trace_id=<needle>"` evaluated over the blocks three ways:
//!
//! - `querier`: as the querier evaluates a log query today: a `LogQueryable` over the blocks
//!   selects every matching stream's entries in range (index, chunk bytes, decompression,
//!   entries), then `eval_logs` runs the pipeline over them;
//! - `streaming`: chunk by chunk, each entry through the pipeline right after its chunk is
//!   decoded (nothing is kept but the matches);
//! - `pushdown`: the query's leading line filters handed to the chunk reader
//!   (`LogsChunk::entries_matching`), which skips blocks whose decompressed bytes cannot hold
//!   a match and builds entries only for matching lines.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{ensure, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sextant_logs::block::{read_logs_chunk, LogsBlockIndex, LogsBlockSource, LogsChunkMeta};
use sextant_logs::db::{LogsDbConfig, LogsTenantDb};
use sextant_logs::logql::ast::LogExpr;
use sextant_logs::logql::eval::{eval_logs, Direction, Entry, EvalError, LogQueryable, Stream};
use sextant_logs::logql::parse::parse_log_expr;
use sextant_logs::model::LogBatch;
use sextant_logs::pipeline::{LogsLineFilter, Pipeline};
use sextant_model::{Labels, Matcher};

use super::report::{HaystackReport, QueryReport};
use super::{now_ns, quantile, Stopwatch};
use crate::logs_gen::{LogsGenerator, LogsMix};

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaystackSpec {
    /// Raw line bytes in all.
    pub raw_bytes: usize,
    /// Raw line bytes per cut block.
    pub block_bytes: usize,
    /// Raw line bytes per append (one push).
    pub push_bytes: usize,
    /// Lines carrying the needle (1 to 3), spread over the haystack.
    pub needles: usize,
    pub seed: u64,
}

/// The built blocks and where the needle is.
#[derive(Debug)]
pub struct Haystack {
    /// (index file, chunks file) per block.
    pub blocks: Vec<(Vec<u8>, Vec<u8>)>,
    pub raw_bytes: usize,
    pub lines: usize,
    pub streams: usize,
    pub needle: String,
    /// The needle lines: (stream labels, time, line), sorted by time.
    pub planted: Vec<(Labels, i64, String)>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub build_s: f64,
}

/// Builds the haystack through a tenant database in `dir`.
pub fn build(spec: &HaystackSpec, dir: &Path, ticks: f64) -> anyhow::Result<Haystack> {
    let watch = Stopwatch::start(ticks);
    let step_ns = 1_000_000; // 1 ms a line: ~4M lines over ~70 minutes
    let lines_estimate = (spec.raw_bytes / 250) as i64;
    let start_ns = now_ns() - (lines_estimate + 1000) * step_ns;
    let mut gen = LogsGenerator::new(LogsMix::Mixed, spec.seed, start_ns, step_ns);
    let (db, _) = LogsTenantDb::open(LogsDbConfig {
        dir: dir.to_path_buf(),
        ..LogsDbConfig::default()
    })?;
    // a trace id like the haystack's (32 hex digits), from its own generator
    let mut ids = StdRng::seed_from_u64(spec.seed ^ 0x5eed_cafe);
    let needle = format!("{:016x}{:016x}", ids.random::<u64>(), ids.random::<u64>());
    // plant at evenly spread raw byte offsets
    let n = spec.needles.clamp(1, 3);
    let mut plant_at: Vec<usize> = (0..n)
        .map(|i| spec.raw_bytes * (2 * i + 1) / (2 * n))
        .collect();
    let (mut raw, mut lines) = (0usize, 0usize);
    let mut planted = Vec::new();
    let mut blocks = Vec::new();
    while raw < spec.raw_bytes {
        let block_end = (raw + spec.block_bytes).min(spec.raw_bytes);
        while raw < block_end {
            let mut batch = gen.batch(spec.push_bytes.min(block_end - raw));
            if plant_at
                .first()
                .is_some_and(|&at| at < raw + batch.line_bytes())
            {
                planted
                    .push(plant(&mut gen, &mut batch, &needle).context("no stream to plant in")?);
                plant_at.remove(0);
            }
            raw += batch.line_bytes();
            lines += batch.entries();
            let report = db.append(&batch)?;
            ensure!(
                report.entries_written == batch.entries() as u64,
                "append dropped entries"
            );
        }
        let boundary = gen.next_ts_ns();
        let block = db
            .cut_block(boundary, LogsBlockSource::default())?
            .context("nothing to cut")?;
        db.set_shipped_until(boundary)?;
        db.truncate(boundary)?;
        blocks.push((block.index, block.chunks));
    }
    planted.sort_by_key(|p| p.1);
    Ok(Haystack {
        blocks,
        raw_bytes: raw,
        lines,
        streams: gen.stream_count(),
        needle,
        planted,
        start_ns,
        end_ns: gen.next_ts_ns(),
        build_s: watch.elapsed().0,
    })
}

/// Replaces the first line of the batch that can carry a trace id with a needle line.
fn plant(
    gen: &mut LogsGenerator,
    batch: &mut LogBatch,
    needle: &str,
) -> Option<(Labels, i64, String)> {
    for stream in &mut batch.streams {
        if let Some(line) = gen.needle_line(&stream.labels, needle) {
            let entry = stream.entries.first_mut()?;
            entry.line = line;
            return Some((stream.labels.clone(), entry.ts_ns, entry.line.clone()));
        }
    }
    None
}

/// How the query is evaluated (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryPath {
    Querier,
    Streaming,
    Pushdown,
}

impl QueryPath {
    pub const ALL: [QueryPath; 3] = [
        QueryPath::Querier,
        QueryPath::Streaming,
        QueryPath::Pushdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueryPath::Querier => "querier",
            QueryPath::Streaming => "streaming",
            QueryPath::Pushdown => "pushdown",
        }
    }
}

/// The needle query of a haystack.
pub fn needle_query(needle: &str) -> String {
    format!("{{namespace=~\".+\"}} |= \"trace_id={needle}\"")
}

/// Runs the needle query `runs` times along `path`, checking that it finds exactly the
/// planted lines every time.
pub fn time_query(
    h: &Haystack,
    path: QueryPath,
    runs: usize,
    ticks: f64,
) -> anyhow::Result<QueryReport> {
    let query = needle_query(&h.needle);
    let expr = parse_log_expr(&query)?;
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let watch = Stopwatch::start(ticks);
        let found = match path {
            QueryPath::Querier => query_like_querier(h, &expr)?,
            QueryPath::Streaming | QueryPath::Pushdown => query_per_chunk(h, &expr, path)?,
        };
        let (w, c) = watch.elapsed();
        wall.push(w);
        cpu.extend(c);
        let want: Vec<(i64, &str)> = h.planted.iter().map(|p| (p.1, p.2.as_str())).collect();
        let got: Vec<(i64, &str)> = found
            .iter()
            .map(|(_, e)| (e.ts_ns, e.line.as_str()))
            .collect();
        ensure!(
            got == want,
            "{}: found {} lines, planted {}",
            path.name(),
            got.len(),
            want.len()
        );
    }
    let p50 = quantile(&wall, 0.5).unwrap_or(0.0);
    Ok(QueryReport {
        path: path.name(),
        query,
        runs: wall.len(),
        lines_found: h.planted.len(),
        p50_s: p50,
        p99_s: quantile(&wall, 0.99).unwrap_or(0.0),
        cpu_p50_s: quantile(&cpu, 0.5),
        raw_gb_per_s: if p50 > 0.0 {
            h.raw_bytes as f64 / 1e9 / p50
        } else {
            0.0
        },
        wall_s: wall,
    })
}

/// The summary of a haystack.
pub fn describe(h: &Haystack) -> HaystackReport {
    let index: usize = h.blocks.iter().map(|b| b.0.len()).sum();
    let chunks: usize = h.blocks.iter().map(|b| b.1.len()).sum();
    HaystackReport {
        raw_bytes: h.raw_bytes,
        lines: h.lines,
        streams: h.streams,
        blocks: h.blocks.len(),
        index_bytes: index,
        chunk_bytes: chunks,
        stored_bytes_per_raw_byte: (index + chunks) as f64 / h.raw_bytes as f64,
        build_s: h.build_s,
        needle_lines: h.planted.len(),
    }
}

/// The querier's way: select every entry, then the pipeline (`eval_logs`).
fn query_like_querier(h: &Haystack, expr: &LogExpr) -> anyhow::Result<Vec<(Labels, Entry)>> {
    let blocks = BlocksQueryable { h };
    let streams = eval_logs(
        &blocks,
        expr,
        h.start_ns,
        h.end_ns,
        1000,
        Direction::Forward,
    )?;
    Ok(sorted_matches(streams.into_iter().flat_map(|s| {
        let labels = s.labels;
        s.entries.into_iter().map(move |e| (labels.clone(), e))
    })))
}

/// Chunk by chunk, the pipeline right after decoding (`Streaming`) or with the line
/// filters pushed into the chunk reader (`Pushdown`).
fn query_per_chunk(
    h: &Haystack,
    expr: &LogExpr,
    path: QueryPath,
) -> anyhow::Result<Vec<(Labels, Entry)>> {
    let pipeline = Pipeline::new(&expr.pipeline)?;
    let filter = LogsLineFilter::new(&expr.pipeline)?;
    let mut found = Vec::new();
    let mut entries = Vec::new();
    for_each_chunk(h, &expr.matchers, |labels, chunks, meta| {
        let chunk = read_logs_chunk(chunks, meta)?;
        entries.clear();
        match path {
            QueryPath::Pushdown => {
                chunk.entries_matching(h.start_ns, h.end_ns, &filter, &mut entries)?
            }
            _ => chunk.entries_in(h.start_ns, h.end_ns, &mut entries)?,
        }
        for e in entries.drain(..) {
            if let Some(p) = pipeline.process(e.ts_ns, &e.line, labels, &e.metadata) {
                found.push((p.labels, Entry { line: p.line, ..e }));
            }
        }
        Ok(())
    })?;
    Ok(sorted_matches(found))
}

fn sorted_matches(found: impl IntoIterator<Item = (Labels, Entry)>) -> Vec<(Labels, Entry)> {
    let mut found: Vec<_> = found.into_iter().collect();
    found.sort_by_key(|(_, e)| e.ts_ns);
    found
}

/// Calls `f` with every chunk of every stream matching `matchers`, block by block.
fn for_each_chunk(
    h: &Haystack,
    matchers: &[Matcher],
    mut f: impl FnMut(&Labels, &[u8], &LogsChunkMeta) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for (index, chunks) in &h.blocks {
        let index = LogsBlockIndex::parse(index)?;
        for r in index.select(matchers) {
            let (labels, metas) = index.stream(r).context("stream ref out of range")?;
            for meta in metas
                .iter()
                .filter(|m| m.min_time_ns < h.end_ns && m.max_time_ns >= h.start_ns)
            {
                f(&labels, chunks, meta)?;
            }
        }
    }
    Ok(())
}

/// A `LogQueryable` over the haystack's blocks, as a block querier would be.
struct BlocksQueryable<'a> {
    h: &'a Haystack,
}

impl LogQueryable for BlocksQueryable<'_> {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Stream>, EvalError> {
        let mut streams: BTreeMap<Labels, Vec<Entry>> = BTreeMap::new();
        let storage = |e: &dyn std::fmt::Display| EvalError::Storage(e.to_string());
        for (index, chunks) in &self.h.blocks {
            let index = LogsBlockIndex::parse(index).map_err(|e| storage(&e))?;
            for r in index.select(matchers) {
                let (labels, metas) = index.stream(r).ok_or_else(|| storage(&"bad ref"))?;
                let entries = streams.entry(labels).or_default();
                for meta in metas
                    .iter()
                    .filter(|m| m.min_time_ns < end_ns && m.max_time_ns >= start_ns)
                {
                    let chunk = read_logs_chunk(chunks, meta).map_err(|e| storage(&e))?;
                    chunk
                        .entries_in(start_ns, end_ns, entries)
                        .map_err(|e| storage(&e))?;
                }
            }
        }
        Ok(streams
            .into_iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(labels, mut entries)| {
                entries.sort_by_key(|e| e.ts_ns);
                Stream { labels, entries }
            })
            .collect())
    }
}
