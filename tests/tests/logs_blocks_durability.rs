//! Logs durability across the whole path: lines pushed through the distributor are cut into
//! logs blocks by the ingesters and uploaded; after `kill -9` of every ingester and a restart
//! on empty disks (no WAL), the querier still returns every line older than the cut, once and
//! with its labels, from object storage.
//!
//! 1 distributor, 3 logs ingesters (RF=3), 1 querier, one shared bucket (a filesystem
//! directory, or an S3 bucket on `s3s-fs`), 1-minute logs blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sextant_e2e::ring::INGESTER_LOGS_RING;
use sextant_e2e::s3::S3sFs;
use sextant_e2e::{wait_for, Cluster, ProcessSpec, SextantProcess};

const TENANT: &str = "logs-blocks";
const STREAMS: usize = 20;
const STEP_NS: i64 = 5_000_000_000;
/// Lines per stream: ten minutes of one line every 5 s, ending now.
const POINTS: i64 = 120;
/// Steps per push (one minute).
const PUSH_STEPS: i64 = 12;
const MINUTE_NS: i64 = 60_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(120);

fn flags(storage: &[String]) -> Vec<String> {
    let mut flags = [
        "-ingester.lifecycler.heartbeat-period=1s",
        "-ingester.lifecycler.heartbeat-timeout=10s",
        "-ingester.logs.replication-factor=3",
        "-ingester.logs.block-duration=1m",
        "-ingester.logs.block-check-interval=2s",
        "-multitenancy-enabled=true",
    ]
    .map(String::from)
    .to_vec();
    flags.extend(storage.iter().cloned());
    flags
}

fn line(stream: usize, step: i64) -> String {
    format!("stream={stream} step={step} msg=\"shipped to a block\"")
}

/// One push: every stream's lines for steps `steps`.
fn body(first_ns: i64, steps: std::ops::Range<i64>) -> Value {
    let streams: Vec<Value> = (0..STREAMS)
        .map(|s| {
            let values: Vec<Value> = steps
                .clone()
                .map(|i| json!([(first_ns + i * STEP_NS).to_string(), line(s, i)]))
                .collect();
            json!({"stream": {"job": "blocks", "stream": format!("{s:02}")}, "values": values})
        })
        .collect();
    json!({ "streams": streams })
}

/// Per source ingester, the newest entry time (ns) of its complete logs blocks in the bucket.
fn shipped_until_by_source(bucket: &Path) -> BTreeMap<String, i64> {
    let dir = bucket.join("logs").join(TENANT);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    let metas = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("meta.json")).ok())
        .filter_map(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    for meta in metas {
        let (Some(source), Some(max)) = (
            meta["source_ingester"].as_str(),
            meta["max_time_ns"].as_i64(),
        ) else {
            continue;
        };
        let newest = out.entry(source.to_string()).or_insert(max);
        *newest = (*newest).max(max);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster (make e2e)"]
async fn e2e_logs_blocks_outlive_the_ingesters() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    let storage = [format!(
        "-storage.filesystem.dir={}",
        bucket.path().display()
    )];
    logs_blocks_outlive_the_ingesters(&storage, bucket.path()).await
}

/// The same against a real S3 server (`s3s-fs`) standing in for MinIO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster and s3s-fs (make e2e)"]
async fn e2e_logs_blocks_outlive_the_ingesters_on_s3() -> Result<()> {
    let server = S3sFs::start("logs-blocks").await?;
    let storage = server.storage_flags("logs-blocks");
    logs_blocks_outlive_the_ingesters(&storage, &server.root().join("logs-blocks")).await
}

/// `bucket` is the directory where the bucket's objects appear as files.
async fn logs_blocks_outlive_the_ingesters(storage: &[String], bucket: &Path) -> Result<()> {
    let flags = flags(storage);
    let mut cluster = Cluster::start(3, &flags).await?;
    cluster
        .distributor
        .wait_for_ring(
            INGESTER_LOGS_RING,
            TIMEOUT,
            "3 ACTIVE logs ingesters",
            |r| r.instances.len() == 3 && r.active_healthy() == 3,
        )
        .await?;
    let mut querier = SextantProcess::spawn(
        ProcessSpec::new("querier", "querier")
            .join([cluster.ingesters[0].memberlist_addr()])
            .flags(flags.iter().cloned()),
    )?;
    querier.wait_ready(TIMEOUT).await?;

    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let first_ns = (now_ns / STEP_NS - POINTS) * STEP_NS;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let push_url = cluster.distributor.url("/loki/api/v1/push");
    // oldest first: a cut never leaves pushed lines behind its boundary
    for from in (0..POINTS).step_by(PUSH_STEPS as usize) {
        let response = http
            .post(&push_url)
            .header("X-Scope-OrgID", TENANT)
            .json(&body(first_ns, from..(from + PUSH_STEPS).min(POINTS)))
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status.as_u16() == 204,
            "push: {status} {}",
            response.text().await?
        );
    }

    // Each ingester uploads its own copy of each block: wait until every one of them shipped
    // at least five minutes; everything up to the least advanced one is in every copy.
    let covered = wait_for(TIMEOUT, "logs blocks covering five minutes", || async {
        let shipped = shipped_until_by_source(bucket);
        let least = shipped.values().min().copied();
        Ok(least.filter(|t| shipped.len() == 3 && *t >= first_ns + 5 * MINUTE_NS))
    })
    .await?;
    eprintln!(
        "logs blocks shipped until (s after the first line) per ingester: {:?}",
        shipped_until_by_source(bucket)
            .iter()
            .map(|(k, v)| (k.clone(), (v - first_ns) / 1_000_000_000))
            .collect::<Vec<_>>()
    );

    for ingester in &mut cluster.ingesters {
        ingester.kill9()?;
    }
    // every member the ingesters joined at first is gone: they rejoin through the running
    // distributor and querier, as pods do through the gossip Service
    let running = [
        cluster.distributor.memberlist_addr(),
        querier.memberlist_addr(),
    ];
    for ingester in &mut cluster.ingesters {
        ingester.join_also(running);
        let _ = std::fs::remove_dir_all(ingester.data_dir().join("wal"));
        ingester.restart()?;
        ingester.wait_ready(TIMEOUT).await?;
    }
    querier
        .wait_for_ring(
            INGESTER_LOGS_RING,
            TIMEOUT,
            "3 ACTIVE logs ingesters",
            |r| r.active_healthy() == 3,
        )
        .await?;

    let got = query_lines(&http, &querier, first_ns, covered).await?;
    let expected: BTreeSet<(String, String)> = (0..STREAMS)
        .flat_map(|s| {
            (0..POINTS)
                .filter(move |i| first_ns + i * STEP_NS <= covered)
                .map(move |i| (format!("{s:02}"), line(s, i)))
        })
        .collect();
    let unique: BTreeSet<(String, String)> = got.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&unique).take(5).collect();
    let unexpected: Vec<_> = unique.difference(&expected).take(5).collect();
    eprintln!(
        "after kill -9 of all logs ingesters on empty disks: {} lines read ({} unique), {} expected",
        got.len(),
        unique.len(),
        expected.len()
    );
    ensure!(
        got.len() == unique.len(),
        "{} duplicate lines",
        got.len() - unique.len()
    );
    ensure!(
        missing.is_empty(),
        "lines older than the cut missing, e.g. {missing:?}"
    );
    ensure!(
        unexpected.is_empty(),
        "unexpected lines or labels, e.g. {unexpected:?}"
    );
    Ok(())
}

/// Every `(stream label, line)` of `{job="blocks"}` in `[first_ns, covered_ns]`, as returned.
async fn query_lines(
    http: &reqwest::Client,
    querier: &SextantProcess,
    first_ns: i64,
    covered_ns: i64,
) -> Result<Vec<(String, String)>> {
    let response = http
        .get(querier.url("/loki/api/v1/query_range"))
        .header("X-Scope-OrgID", TENANT)
        .query(&[
            ("query", r#"{job="blocks"}"#.to_string()),
            ("start", first_ns.to_string()),
            ("end", (covered_ns + 1).to_string()),
            ("limit", "5000".to_string()),
            ("direction", "forward".to_string()),
        ])
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    ensure!(body["status"] == "success", "query_range: {status} {body}");
    let mut got = Vec::new();
    for stream in body["data"]["result"].as_array().context("result")? {
        ensure!(
            stream["stream"]["job"] == "blocks",
            "labels: {}",
            stream["stream"]
        );
        let label = stream["stream"]["stream"]
            .as_str()
            .context("stream label")?
            .to_string();
        for value in stream["values"].as_array().context("values")? {
            let line = value[1].as_str().context("line")?.to_string();
            got.push((label.clone(), line));
        }
    }
    Ok(got)
}
