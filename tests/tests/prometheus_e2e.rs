//! A real Prometheus remote-writes its own metrics to Sextant; afterwards Sextant holds exactly
//! the series and samples Prometheus reports having sent.
//!
//! Needs `/usr/bin/prometheus` (`tests/setup-e2e.sh`), hence ignored by `cargo test`; `make e2e`
//! runs it with `--ignored`.
//!
//! Counting at a quiescent point: after `RUN` of self-scraping every second, the scrape job is
//! removed by a config reload (SIGHUP), after which nothing new enters Prometheus' WAL.
//! (Prometheus 2.42 cancels a removed job's scrape pool without end-of-run stale markers; a
//! version that writes them does so about two intervals later, inside `STALENESS_DELAY`.)
//! Once its remote-write counters stop moving with nothing pending, the comparison is exact:
//! - samples: `prometheus_remote_storage_samples_total` counts samples handed to a send attempt
//!   (stale markers included). With no failed and no retried sends
//!   (`samples_failed_total == samples_retried_total == 0`, both asserted) every sample was sent
//!   exactly once and acknowledged, so Sextant must hold exactly that many (stale NaN markers
//!   included, compared as stored samples).
//! - series: `prometheus_tsdb_head_series`, every series Prometheus created; none is garbage
//!   collected within the first two hours, and every one got at least one sample.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use sextant_e2e::prometheus::PrometheusProcess;
use sextant_e2e::{query_all_series, start_single, SeriesSet, SextantProcess};

/// Multi-tenancy is off: the Debian build of Prometheus 2.42 does not send custom `headers`
/// (checked on the wire), so everything lands in the default tenant.
const TENANT: &str = "anonymous";
const RUN: Duration = Duration::from_secs(30);
/// End-of-run stale markers, where a version writes them, come ~2.1 scrape intervals after the
/// job is removed.
const STALENESS_DELAY: Duration = Duration::from_secs(4);
/// The remote-write counters must hold still this many consecutive polls (1 s apart).
const STABLE_POLLS: usize = 5;

fn prometheus_config(sextant_http: std::net::SocketAddr, scrape: bool) -> String {
    let scrape_configs = if scrape {
        "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{self}']\n"
    } else {
        "scrape_configs: []\n"
    };
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{scrape_configs}\
         remote_write:\n  - url: http://{sextant_http}/api/v1/push\n    name: sextant\n\
         \x20   queue_config:\n      batch_send_deadline: 1s\n"
    )
}

/// Prometheus' remote-write counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SendCounters {
    samples: f64,
    failed: f64,
    retried: f64,
    pending: f64,
    samples_in: f64,
}

async fn send_counters(prometheus: &PrometheusProcess) -> Result<SendCounters> {
    Ok(SendCounters {
        samples: prometheus
            .metric("prometheus_remote_storage_samples_total")
            .await?,
        failed: prometheus
            .metric("prometheus_remote_storage_samples_failed_total")
            .await?,
        retried: prometheus
            .metric("prometheus_remote_storage_samples_retried_total")
            .await?,
        pending: prometheus
            .metric("prometheus_remote_storage_samples_pending")
            .await?,
        samples_in: prometheus
            .metric("prometheus_remote_storage_samples_in_total")
            .await?,
    })
}

/// Polls the counters once a second until they are unchanged for `STABLE_POLLS` polls with
/// nothing pending.
async fn wait_until_quiescent(prometheus: &PrometheusProcess) -> Result<SendCounters> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = send_counters(prometheus).await?;
    let mut stable = 0;
    while stable < STABLE_POLLS {
        ensure!(
            Instant::now() < deadline,
            "remote write did not settle within 120s: {last:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = send_counters(prometheus).await?;
        stable = if now == last && now.pending == 0.0 {
            stable + 1
        } else {
            0
        };
        last = now;
    }
    Ok(last)
}

async fn start_sextant() -> Result<SextantProcess> {
    start_single(&[
        "-limits.ingestion-rate=0".to_string(),
        "-limits.max-global-series-per-user=0".to_string(),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the prometheus binary; run with make e2e"]
async fn e2e_sextant_holds_exactly_what_prometheus_sent() -> Result<()> {
    let sextant = start_sextant().await?;
    let mut prometheus = PrometheusProcess::spawn(&prometheus_config(sextant.http_addr(), true))?;
    prometheus.wait_ready(Duration::from_secs(60)).await?;
    tokio::time::sleep(RUN).await;

    prometheus
        .reload(
            &prometheus_config(sextant.http_addr(), false),
            Duration::from_secs(30),
        )
        .await?;
    tokio::time::sleep(STALENESS_DELAY).await;
    let sent = wait_until_quiescent(&prometheus).await?;
    let head_series = prometheus.metric("prometheus_tsdb_head_series").await?;

    ensure!(
        sent.failed == 0.0,
        "Prometheus failed to send {} samples: {sent:?}\n{}",
        sent.failed,
        sextant.logs_tail()
    );
    ensure!(
        sent.retried == 0.0,
        "Prometheus retried {} samples: {sent:?}\n{}",
        sent.retried,
        sextant.logs_tail()
    );
    ensure!(
        sent.samples > 0.0,
        "Prometheus sent nothing: {sent:?}\n{}",
        prometheus.log_tail()
    );

    let stored = query_all_series(sextant.grpc_addr(), TENANT).await?;
    let raw_samples: usize = stored.iter().map(|s| s.samples.len()).sum();
    let set = SeriesSet::from_timeseries(&stored);
    ensure!(
        set.series_count() == stored.len() && set.sample_count() == raw_samples,
        "the ingester returned a series or sample twice: {} series / {} distinct, {raw_samples} samples / {} distinct",
        stored.len(),
        set.series_count(),
        set.sample_count()
    );
    ensure!(
        set.series_count() as f64 == head_series,
        "Sextant holds {} series, Prometheus created {head_series}",
        set.series_count()
    );
    ensure!(
        raw_samples as f64 == sent.samples,
        "Sextant holds {raw_samples} samples, Prometheus sent {} ({sent:?})",
        sent.samples
    );
    eprintln!(
        "prometheus sent {} samples of {head_series} series; sextant holds {raw_samples} samples of {} series",
        sent.samples,
        set.series_count()
    );
    Ok(())
}
