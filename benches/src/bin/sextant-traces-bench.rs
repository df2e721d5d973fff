//! `sextant-traces-bench`: pushes realistic OTLP traces to a running Sextant for a while and
//! reports spans/s and MB/s (per core of the Sextant process), then, as asked, bytes stored
//! per span, trace-by-ID latency and TraceQL search latency. See `benches/README.md`, section
//! Traces.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use sextant_benches::traces_bench::push::PushSpec;
use sextant_benches::traces_bench::read::DEFAULT_QUERIES;
use sextant_benches::traces_bench::{run, TracesBenchSpec};

const USAGE: &str = "usage: sextant-traces-bench --url http://HOST:PORT [--tenant ID] [--pid PID]
  [--workers N] [--duration-s S] [--traces-per-request N] [--seed N]
  [--storage-dir PATH (the target's storage.filesystem.dir: flush, then bytes per span)]
  [--lookups N] [--query TRACEQL]... [--search-runs N] [--search-limit N] [--json PATH]";

struct Args {
    spec: TracesBenchSpec,
    json: Option<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut push = PushSpec {
        url: String::new(),
        tenant: None,
        pid: None,
        workers: 4,
        duration: Duration::from_secs(10),
        traces_per_request: 50,
        seed: 42,
    };
    let mut spec = TracesBenchSpec {
        push: push.clone(),
        storage_dir: None,
        lookups: 200,
        queries: Vec::new(),
        search_runs: 5,
        search_limit: 20,
    };
    let mut json = None;
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
            "--url" => push.url = v,
            "--tenant" => push.tenant = Some(v),
            "--pid" => push.pid = Some(n()? as u32),
            "--workers" => push.workers = n()?.max(1),
            "--duration-s" => push.duration = Duration::from_secs(n()? as u64),
            "--traces-per-request" => push.traces_per_request = n()?.max(1),
            "--seed" => push.seed = n()? as u64,
            "--storage-dir" => spec.storage_dir = Some(PathBuf::from(v)),
            "--lookups" => spec.lookups = n()?,
            "--query" => spec.queries.push(v),
            "--search-runs" => spec.search_runs = n()?,
            "--search-limit" => spec.search_limit = n()?.max(1),
            "--json" => json = Some(v),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if push.url.is_empty() {
        bail!("--url is required\n{USAGE}");
    }
    if spec.queries.is_empty() {
        spec.queries = DEFAULT_QUERIES.iter().map(|q| q.to_string()).collect();
    }
    spec.push = push;
    Ok(Args { spec, json })
}

fn main() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(&args.spec))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.to_markdown().as_bytes())?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Args> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_set_the_spec_and_defaults_fill_the_rest() {
        let a = parse(&["--url", "http://h:1", "--workers", "8", "--query", "{ }"]).unwrap();
        assert_eq!(a.spec.push.url, "http://h:1");
        assert_eq!(a.spec.push.workers, 8);
        assert_eq!(a.spec.push.duration, Duration::from_secs(10));
        assert_eq!(a.spec.queries, vec!["{ }".to_string()]);
        assert_eq!(a.spec.storage_dir, None);
        let d = parse(&["--url", "http://h:1", "--storage-dir", "/b", "--json", "/j"]).unwrap();
        assert_eq!(d.spec.queries.len(), DEFAULT_QUERIES.len());
        assert_eq!(d.spec.storage_dir, Some(PathBuf::from("/b")));
        assert_eq!(d.json.as_deref(), Some("/j"));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        let cases: [&[&str]; 4] = [
            &[],
            &["--url"],
            &["--url", "http://h:1", "--workers", "many"],
            &["--url", "http://h:1", "--colour", "red"],
        ];
        for args in cases {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
