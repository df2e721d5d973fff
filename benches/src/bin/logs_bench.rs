//! `sextant-logs-bench`: ingest throughput per core on realistic logs, stored bytes per raw
//! byte, and the latency of a needle-in-a-haystack line filter over ~1 GB of blocks. See
//! `benches/README.md`, section Logs.

use std::io::Write as _;

use anyhow::{bail, Context};
use sextant_benches::logs_bench::haystack::{self, HaystackSpec, QueryPath};
use sextant_benches::logs_bench::http::{run_http, HttpSpec};
use sextant_benches::logs_bench::ingest::{encode_pushes, run_ingest, IngestSpec};
use sextant_benches::logs_bench::report::LogsBenchReport;
use sextant_benches::logs_gen::LogsWorkload;
use sextant_benches::procfs;

const USAGE: &str = "usage: sextant-logs-bench [--workloads nginx,json_app,k8s_events|none]
  [--ingest-mb MB] [--push-kb KB] [--haystack-mb MB (0: skip)] [--block-mb MB]
  [--paths querier,streaming,pushdown] [--runs N] [--querier-runs N] [--needles 1-3]
  [--seed N] [--dir PATH] [--json PATH]
  [--url http://HOST:PORT/loki/api/v1/push [--http-mb MB] [--concurrency N] [--tenant ID] [--pid PID]]";

struct Args {
    workloads: Vec<LogsWorkload>,
    ingest_mb: usize,
    push_kb: usize,
    haystack_mb: usize,
    block_mb: usize,
    paths: Vec<QueryPath>,
    runs: usize,
    querier_runs: usize,
    needles: usize,
    seed: u64,
    dir: Option<String>,
    json: Option<String>,
    http: Option<HttpSpec>,
}

fn parse_list<T: Copy>(
    v: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> anyhow::Result<Vec<T>> {
    if v == "none" {
        return Ok(Vec::new());
    }
    v.split(',')
        .map(|item| {
            all.iter()
                .copied()
                .find(|t| name(*t) == item)
                .with_context(|| format!("unknown item {item:?}"))
        })
        .collect()
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        workloads: LogsWorkload::ALL.to_vec(),
        ingest_mb: 64,
        push_kb: 1024,
        haystack_mb: 1024,
        block_mb: 128,
        paths: QueryPath::ALL.to_vec(),
        runs: 5,
        querier_runs: 3,
        needles: 3,
        seed: 42,
        dir: None,
        json: None,
        http: None,
    };
    let mut http = HttpSpec {
        url: String::new(),
        tenant: None,
        pid: None,
        concurrency: 4,
        raw_bytes: 256 << 20,
        push_bytes: 1 << 20,
        seed: 42,
    };
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            bail!("{USAGE}");
        }
        let v = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let n = || {
            v.parse::<usize>()
                .with_context(|| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--workloads" => a.workloads = parse_list(&v, &LogsWorkload::ALL, LogsWorkload::name)?,
            "--ingest-mb" => a.ingest_mb = n()?,
            "--push-kb" => a.push_kb = n()?.max(1),
            "--haystack-mb" => a.haystack_mb = n()?,
            "--block-mb" => a.block_mb = n()?.max(1),
            "--paths" => a.paths = parse_list(&v, &QueryPath::ALL, QueryPath::name)?,
            "--runs" => a.runs = n()?.max(1),
            "--querier-runs" => a.querier_runs = n()?.max(1),
            "--needles" => a.needles = n()?.clamp(1, 3),
            "--seed" => a.seed = n()? as u64,
            "--dir" => a.dir = Some(v),
            "--json" => a.json = Some(v),
            "--url" => http.url = v,
            "--http-mb" => http.raw_bytes = n()? << 20,
            "--concurrency" => http.concurrency = n()?.max(1),
            "--tenant" => http.tenant = Some(v),
            "--pid" => http.pid = Some(n()? as u32),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if !http.url.is_empty() {
        http.push_bytes = a.push_kb << 10;
        http.seed = a.seed;
        a.http = Some(http);
    }
    Ok(a)
}

fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn tempdir(parent: &Option<String>) -> anyhow::Result<tempfile::TempDir> {
    Ok(match parent {
        Some(p) => tempfile::tempdir_in(p)?,
        None => tempfile::tempdir()?,
    })
}

fn run(a: &Args) -> anyhow::Result<LogsBenchReport> {
    let ticks = procfs::clock_ticks();
    let mut report = LogsBenchReport {
        host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_avg_1m: load_avg(),
        ingest: Vec::new(),
        haystack: None,
        needle_queries: Vec::new(),
        http: None,
    };
    for &workload in &a.workloads {
        let spec = IngestSpec {
            workload,
            raw_bytes: a.ingest_mb << 20,
            push_bytes: a.push_kb << 10,
            seed: a.seed,
        };
        let (pushes, streams) = encode_pushes(&spec)?;
        let dir = tempdir(&a.dir)?;
        let r = run_ingest(&spec, &pushes, streams, dir.path(), ticks)?;
        eprintln!(
            "ingest {}: {:.0} lines/s, {:.1} MB/s (wall)",
            r.workload, r.lines_per_s_wall, r.mb_per_s_wall
        );
        report.ingest.push(r);
    }
    if a.haystack_mb > 0 {
        let spec = HaystackSpec {
            raw_bytes: a.haystack_mb << 20,
            block_bytes: a.block_mb << 20,
            push_bytes: a.push_kb << 10,
            needles: a.needles,
            seed: a.seed,
        };
        let dir = tempdir(&a.dir)?;
        let h = haystack::build(&spec, dir.path(), ticks)?;
        drop(dir);
        report.haystack = Some(haystack::describe(&h));
        eprintln!("haystack built in {:.1} s", h.build_s);
        for &path in &a.paths {
            let runs = if path == QueryPath::Querier {
                a.querier_runs
            } else {
                a.runs
            };
            let q = haystack::time_query(&h, path, runs, ticks)?;
            eprintln!("needle {}: p50 {:.3} s", q.path, q.p50_s);
            report.needle_queries.push(q);
        }
    }
    if let Some(spec) = &a.http {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        report.http = Some(runtime.block_on(run_http(spec))?);
    }
    Ok(report)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let report = run(&args)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.to_markdown().as_bytes())?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
