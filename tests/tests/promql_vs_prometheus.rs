//! The same remote-write data goes to Sextant and to a real Prometheus; every dashboard query
//! of `DASHBOARD_QUERIES` must give equal answers (relative 1e-6) as instant queries at
//! three times and as a 1h range query.
//!
//! Needs `/usr/bin/prometheus` (`tests/setup-e2e.sh`), hence ignored by `cargo test`; `make e2e`
//! runs it with `--ignored`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Result};
use sextant_e2e::prometheus::PrometheusProcess;
use sextant_e2e::promql_compare::{
    api_get, compare, dashboard_dataset, DASHBOARD_QUERIES, INTERVAL_MS,
};
use sextant_e2e::remote_write::write_request;
use sextant_e2e::{start_single, RawPush, RemoteWriteClient};

/// 2.5 hours of 15 s samples.
const POINTS: usize = 600;
const BATCH_POINTS: usize = 40;
const REL_TOLERANCE: f64 = 1e-6;

/// One comparison: its name, the request parameters and the endpoint.
type Case<'a> = (String, Vec<(&'a str, String)>, &'a str);

fn seconds(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a prometheus binary (make e2e)"]
async fn e2e_promql_matches_prometheus() -> Result<()> {
    let mut prometheus = PrometheusProcess::spawn_with_args(
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
        &["--web.enable-remote-write-receiver"],
    )?;
    prometheus.wait_ready(Duration::from_secs(60)).await?;
    let sextant = start_single(&[
        "-limits.ingestion-rate=10000000".to_string(),
        "-limits.ingestion-burst-size=10000000".to_string(),
    ])
    .await?;

    // Samples sit 7.3 s past the 15 s grid; queries evaluate 8.3 s past it (see the module doc
    // of promql_compare).
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let end_ms = (now_ms / INTERVAL_MS - 1) * INTERVAL_MS + 7_300;
    let to_sextant = RemoteWriteClient::new(sextant.http_addr())?;
    let to_prometheus =
        RemoteWriteClient::for_url(format!("http://{}/api/v1/write", prometheus.addr()))?;
    for batch in dashboard_dataset(end_ms, POINTS, BATCH_POINTS) {
        let push = RawPush::v1(None, &write_request(batch));
        let ours = to_sextant.push(&push).await?;
        ensure!(
            ours.is_success(),
            "sextant push: {} {}",
            ours.status,
            ours.body
        );
        let theirs = to_prometheus.push(&push).await?;
        ensure!(
            theirs.is_success(),
            "prometheus push: {} {}\n{}",
            theirs.status,
            theirs.body,
            prometheus.log_tail()
        );
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let ours_base = sextant.url("/prometheus/api/v1");
    let ref_base = format!("http://{}/api/v1", prometheus.addr());
    let eval_end = end_ms + 1_000;
    let instants = [eval_end, eval_end - 20 * 60_000, eval_end - 65 * 60_000];
    let range = [
        ("start", seconds(eval_end - 3_600_000)),
        ("end", seconds(eval_end)),
        ("step", "60".to_string()),
    ];

    let (mut checked, mut failed) = (0, Vec::new());
    for query in DASHBOARD_QUERIES {
        let mut cases: Vec<Case<'_>> = instants
            .iter()
            .map(|t| {
                (
                    format!("instant@{}", seconds(*t)),
                    vec![("query", query.to_string()), ("time", seconds(*t))],
                    "query",
                )
            })
            .collect();
        let mut range_params = vec![("query", query.to_string())];
        range_params.extend(range.iter().cloned());
        cases.push(("range 1h/60s".to_string(), range_params, "query_range"));
        for (name, params, endpoint) in cases {
            checked += 1;
            let reference = api_get(&http, &format!("{ref_base}/{endpoint}"), &params).await?;
            let diffs = match api_get(&http, &format!("{ours_base}/{endpoint}"), &params).await {
                Ok(ours) => compare(&ours, &reference, REL_TOLERANCE),
                Err(e) => vec![format!("{e:#}")],
            };
            if !diffs.is_empty() {
                failed.push(format!(
                    "{query} [{name}]: {}",
                    diffs[..diffs.len().min(3)].join("; ")
                ));
            }
        }
    }
    eprintln!(
        "promql vs prometheus: {} queries, {checked} comparisons, {} differ",
        DASHBOARD_QUERIES.len(),
        failed.len()
    );
    for f in &failed {
        eprintln!("  DIFF {f}");
    }
    ensure!(
        failed.is_empty(),
        "{} of {checked} comparisons differ",
        failed.len()
    );
    Ok(())
}
