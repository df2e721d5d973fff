//! `sextant-loadgen`: pre-encodes a realistic Kubernetes-like remote write 1.0 load, replays it
//! with one request in flight per sender, and reports throughput, latency and the target's CPU
//! and memory. See `benches/README.md`.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use sextant_benches::encode::{generate, Dataset, LoadSpec};
use sextant_benches::procfs;
use sextant_benches::replay::{build_client, replay, ReplayConfig, ReplayStats};
use sextant_benches::report::{LoadReport, LoadgenReport, SendReport, TargetReport};

const USAGE: &str = "usage: sextant-loadgen [--url URL] [--series N] [--samples-per-series N]
  [--interval-ms MS] [--concurrency N] [--batch N] [--tenant ID] [--end-ms now|MS] [--seed N]
  [--pid PID] [--json PATH] [--timeout-s S] [--max-retries N] [--selftest]";

struct Args {
    url: String,
    spec: LoadSpec,
    tenant: Option<String>,
    pid: Option<u32>,
    json: Option<String>,
    timeout: Duration,
    max_retries: u32,
    selftest: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        url: "http://127.0.0.1:8080/api/v1/push".into(),
        spec: LoadSpec {
            end_ms: -1,
            ..LoadSpec::default()
        },
        tenant: None,
        pid: None,
        json: None,
        timeout: Duration::from_secs(30),
        max_retries: 5,
        selftest: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--selftest" {
            a.selftest = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            bail!("{USAGE}");
        }
        let v = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .with_context(|| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--url" => a.url = v,
            "--series" => a.spec.series = num(&v)? as usize,
            "--samples-per-series" => a.spec.samples_per_series = num(&v)? as usize,
            "--interval-ms" => a.spec.interval_ms = num(&v)?.max(1) as i64,
            "--concurrency" => a.spec.shards = num(&v)?.max(1) as usize,
            "--batch" => a.spec.batch = num(&v)?.max(1) as usize,
            "--seed" => a.spec.seed = num(&v)?,
            "--tenant" => a.tenant = Some(v),
            "--end-ms" if v == "now" => a.spec.end_ms = -1,
            "--end-ms" => a.spec.end_ms = num(&v)? as i64,
            "--pid" => a.pid = Some(num(&v)? as u32),
            "--json" => a.json = Some(v),
            "--timeout-s" => a.timeout = Duration::from_secs(num(&v)?),
            "--max-retries" => a.max_retries = num(&v)? as u32,
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if a.spec.end_ms < 0 {
        // like gen.py --end-ms now: the last round ends at the current interval boundary
        a.spec.end_ms = now_ms() / a.spec.interval_ms * a.spec.interval_ms;
    }
    Ok(a)
}

fn load_report(ds: &Dataset, generate_s: f64) -> LoadReport {
    let spec = &ds.spec;
    let samples = ds.total_samples();
    let per_sample = |b: u64| b as f64 / samples.max(1) as f64;
    LoadReport {
        series: spec.series,
        samples_per_series: spec.samples_per_series,
        interval_ms: spec.interval_ms,
        start_ms: spec.start_ms(),
        end_ms: spec.end_ms,
        batch: spec.batch,
        concurrency: spec.shards,
        nodes: ds.nodes,
        pods: ds.pods,
        avg_labels_per_series: ds.avg_labels_per_series,
        requests: ds.requests().count(),
        samples,
        wire_bytes_per_sample_compressed: per_sample(ds.compressed_bytes()),
        wire_bytes_per_sample_uncompressed: per_sample(ds.raw_bytes()),
        generate_s,
    }
}

fn send_report(url: &str, st: &ReplayStats, wall_s: f64, loadgen_cpu_s: Option<f64>) -> SendReport {
    SendReport {
        url: url.to_string(),
        wall_s,
        samples_accepted: st.ok_samples,
        samples_per_s: st.ok_samples as f64 / wall_s.max(1e-9),
        requests_ok: st.ok_requests,
        requests_rejected: st.rejected_requests,
        samples_rejected: st.rejected_samples,
        samples_failed: st.failed_samples,
        retries: st.retries,
        conn_errors: st.conn_errors,
        req_latency_ms_p50: st.latency_ms(0.5),
        req_latency_ms_p99: st.latency_ms(0.99),
        loadgen_cpu_s,
        errors: st.errors.clone(),
    }
}

/// The target's state before the replay, and a task sampling its RSS every 250 ms.
struct TargetProbe {
    pid: u32,
    ticks: f64,
    cpu_before: f64,
    rss_before: Option<u64>,
    peak: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl TargetProbe {
    fn start(pid: u32) -> anyhow::Result<TargetProbe> {
        let ticks = procfs::clock_ticks();
        let cpu_before =
            procfs::cpu_seconds(pid, ticks).with_context(|| format!("reading /proc/{pid}/stat"))?;
        let rss_before = procfs::status_bytes(pid, "VmRSS")?;
        let peak = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
        let p = Arc::clone(&peak);
        let sampler = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Ok(Some(rss)) = procfs::status_bytes(pid, "VmRSS") {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
            }
        });
        Ok(TargetProbe {
            pid,
            ticks,
            cpu_before,
            rss_before,
            peak,
            sampler,
        })
    }

    fn finish(self, wall_s: f64, accepted: u64, series: usize) -> anyhow::Result<TargetReport> {
        self.sampler.abort();
        let cpu_s = procfs::cpu_seconds(self.pid, self.ticks)? - self.cpu_before;
        if let Ok(Some(rss)) = procfs::status_bytes(self.pid, "VmRSS") {
            self.peak.fetch_max(rss, Ordering::Relaxed);
        }
        let peak = self.peak.load(Ordering::Relaxed);
        let vm_hwm = procfs::status_bytes(self.pid, "VmHWM")?;
        let series = series.max(1) as f64;
        Ok(TargetReport {
            pid: self.pid,
            cpu_s,
            cores_used: cpu_s / wall_s.max(1e-9),
            cpu_us_per_sample: cpu_s * 1e6 / accepted.max(1) as f64,
            rss_before_bytes: self.rss_before,
            rss_peak_sampled_bytes: peak,
            vm_hwm_bytes: vm_hwm,
            bytes_per_series_peak: peak.max(vm_hwm.unwrap_or(0)) as f64 / series,
            bytes_per_series_growth: self
                .rss_before
                .map(|b| peak.saturating_sub(b) as f64 / series),
        })
    }
}

async fn run(
    args: &Args,
    ds: Dataset,
    pid: Option<u32>,
    generate_s: f64,
) -> anyhow::Result<LoadgenReport> {
    let client = build_client(args.spec.shards, args.timeout)?;
    let cfg = ReplayConfig {
        url: args.url.clone(),
        tenant: args.tenant.clone(),
        max_retries: args.max_retries,
    };
    let load = load_report(&ds, generate_s);
    let me = std::process::id();
    let ticks = procfs::clock_ticks();
    let probe = pid.map(TargetProbe::start).transpose()?;
    let own_cpu_before = procfs::cpu_seconds(me, ticks).ok();
    let t0 = Instant::now();
    let stats = replay(client, cfg, ds.shards).await;
    let wall_s = t0.elapsed().as_secs_f64();
    let own_cpu = own_cpu_before.and_then(|b| procfs::cpu_seconds(me, ticks).ok().map(|a| a - b));
    let target = probe
        .map(|p| p.finish(wall_s, stats.ok_samples, args.spec.series))
        .transpose()?;
    Ok(LoadgenReport {
        load,
        send: send_report(&args.url, &stats, wall_s, own_cpu),
        target,
    })
}

fn url_port(url: &str) -> Option<u16> {
    reqwest::Url::parse(url).ok()?.port_or_known_default()
}

fn main() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let mut err = std::io::stderr();
    let t0 = Instant::now();
    let ds = generate(&args.spec);
    let generate_s = t0.elapsed().as_secs_f64();
    writeln!(
        err,
        "pre-encoded {} samples in {} requests in {generate_s:.1} s",
        ds.total_samples(),
        ds.requests().count()
    )?;
    if args.selftest {
        let s = sextant_benches::selftest::verify(&ds)?;
        writeln!(
            std::io::stdout(),
            "selftest OK: {} requests, {} samples, {} series decoded with prost",
            s.requests,
            s.samples,
            s.series
        )?;
        return Ok(());
    }
    let pid = args
        .pid
        .or_else(|| url_port(&args.url).and_then(procfs::pid_listening_on));
    if pid.is_none() {
        writeln!(
            err,
            "target pid unknown (pass --pid): CPU and memory are not measured"
        )?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(run(&args, ds, pid, generate_s))?;
    writeln!(std::io::stdout(), "{}", report.to_markdown())?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> anyhow::Result<Args> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_flags() {
        let a = args("--series 5 --samples-per-series 3 --concurrency 2 --end-ms 60000 --tenant t1 --selftest").unwrap();
        assert_eq!(
            (a.spec.series, a.spec.samples_per_series, a.spec.shards),
            (5, 3, 2)
        );
        assert_eq!(a.spec.end_ms, 60000);
        assert_eq!(a.tenant.as_deref(), Some("t1"));
        assert!(a.selftest);
        let now = args("--end-ms now --interval-ms 15000").unwrap();
        assert_eq!(now.spec.end_ms % 15000, 0);
        assert!(now.spec.end_ms > 1_700_000_000_000);
        for bad in ["--series", "--series x", "--nope 1"] {
            assert!(args(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_the_port_of_a_url() {
        assert_eq!(url_port("http://127.0.0.1:19500/api/v1/push"), Some(19500));
        assert_eq!(url_port("http://localhost/api/v1/push"), Some(80));
        assert_eq!(url_port("not a url"), None);
    }
}
