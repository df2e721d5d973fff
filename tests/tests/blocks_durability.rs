//! Durability across the whole path: data written through the distributor is cut into blocks
//! by the ingesters and uploaded; after `kill -9` of every ingester and a restart on empty
//! disks (no WAL, no tokens), the querier still answers everything older than the cut from
//! object storage.
//!
//! 1 distributor, 3 ingesters (RF=3), 1 querier, one shared bucket (a filesystem directory, or
//! an S3 bucket on `s3s-fs`), 1-minute blocks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use sextant_e2e::remote_write::{series, write_request};
use sextant_e2e::ring::INGESTER_METRICS_RING;
use sextant_e2e::s3::S3sFs;
use sextant_e2e::{wait_for, Cluster, ProcessSpec, RawPush, SextantProcess};

const TENANT: &str = "blocks";
const METRIC: &str = "e2e_blocks";
const SERIES: usize = 50;
const STEP_MS: i64 = 5_000;
/// Samples per series: ten minutes of 5 s samples, ending now.
const POINTS: i64 = 120;
const BLOCK_DURATION: &str = "1m";
const TIMEOUT: Duration = Duration::from_secs(90);

fn flags(storage: &[String]) -> Vec<String> {
    let mut flags = vec![
        "-ingester.lifecycler.heartbeat-period=1s".to_string(),
        "-ingester.lifecycler.heartbeat-timeout=10s".to_string(),
        "-ingester.metrics.replication-factor=3".to_string(),
        format!("-ingester.metrics.block-duration={BLOCK_DURATION}"),
        "-limits.ingestion-rate=0".to_string(),
        "-querier.bucket-index-refresh=1s".to_string(),
        "-multitenancy-enabled=true".to_string(),
    ];
    flags.extend(storage.iter().cloned());
    flags
}

fn value(series: usize, i: i64) -> f64 {
    (series * 1000) as f64 + i as f64
}

/// `(source ingester, min, max)` sample times of every complete block in the bucket for the
/// tenant.
fn uploaded_blocks(bucket: &Path) -> Vec<(String, i64, i64)> {
    let dir = bucket.join("metrics").join(TENANT);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut blocks: Vec<(String, i64, i64)> = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("meta.json")).ok())
        .filter_map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .filter_map(|m| {
            let source = m["source_ingester"].as_str()?.to_string();
            Some((
                source,
                m["min_time_ms"].as_i64()?,
                m["max_time_ms"].as_i64()?,
            ))
        })
        .collect();
    blocks.sort();
    blocks
}

/// Up to when every one of `ingesters` has uploaded blocks: the least advanced one's newest
/// sample time. Each ingester ships only what it holds, and the third replica of a push may
/// lack it (its copy arrived after the next push and was refused as out of order; the push
/// was acknowledged by the other two), so only the range every ingester shipped is sure to be
/// in the bucket at least twice.
fn shipped_by_all(blocks: &[(String, i64, i64)], ingesters: usize) -> Option<i64> {
    let mut newest: BTreeMap<&str, i64> = BTreeMap::new();
    for (source, _, max) in blocks {
        let entry = newest.entry(source).or_insert(*max);
        *entry = (*entry).max(*max);
    }
    (newest.len() == ingesters)
        .then(|| newest.values().copied().min())
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster (make e2e)"]
async fn e2e_blocks_outlive_the_ingesters() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    let storage = [format!(
        "-storage.filesystem.dir={}",
        bucket.path().display()
    )];
    blocks_outlive_the_ingesters(&storage, bucket.path()).await
}

/// The same against a real S3 server (`s3s-fs`) standing in for MinIO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster and s3s-fs (make e2e)"]
async fn e2e_blocks_outlive_the_ingesters_on_s3() -> Result<()> {
    let server = S3sFs::start("blocks").await?;
    let storage = server.storage_flags("blocks");
    blocks_outlive_the_ingesters(&storage, &server.root().join("blocks")).await
}

/// `bucket` is the directory where the bucket's objects appear as files.
async fn blocks_outlive_the_ingesters(storage: &[String], bucket: &Path) -> Result<()> {
    let flags = flags(storage);
    let mut cluster = Cluster::start(3, &flags).await?;
    cluster.wait_for_active_ingesters(3, TIMEOUT).await?;
    let mut querier = SextantProcess::spawn(
        ProcessSpec::new("querier", "querier")
            .join([cluster.ingesters[0].memberlist_addr()])
            .flags(flags.iter().cloned()),
    )?;
    querier.wait_ready(TIMEOUT).await?;

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let first_ms = (now_ms / STEP_MS - POINTS) * STEP_MS;
    let client = cluster.remote_write_client()?;
    for chunk in (0..POINTS).collect::<Vec<_>>().chunks(12) {
        let batch = (0..SERIES)
            .map(|s| {
                let samples: Vec<(i64, f64)> = chunk
                    .iter()
                    .map(|&i| (first_ms + i * STEP_MS, value(s, i)))
                    .collect();
                series(
                    &[("__name__", METRIC), ("series", &s.to_string())],
                    &samples,
                )
            })
            .collect();
        let response = client
            .push(&RawPush::v1(Some(TENANT), &write_request(batch)))
            .await?;
        ensure!(
            response.is_success(),
            "push: {} {}",
            response.status,
            response.body
        );
    }

    // Each of the 3 ingesters uploads its own copy of each block; wait until every one of them
    // has uploaded at least five minutes.
    let covered = wait_for(TIMEOUT, "blocks uploaded by every ingester", || async {
        let covered = shipped_by_all(&uploaded_blocks(bucket), 3);
        Ok(covered.filter(|c| *c >= first_ms + 5 * 60_000))
    })
    .await?;
    eprintln!(
        "blocks: {}, every ingester shipped up to {covered}",
        uploaded_blocks(bucket).len()
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
        let dir = ingester.data_dir().to_path_buf();
        let _ = std::fs::remove_dir_all(dir.join("wal"));
        ingester.restart()?;
        ingester.wait_ready(TIMEOUT).await?;
    }
    querier
        .wait_for_ring(INGESTER_METRICS_RING, TIMEOUT, "3 ACTIVE ingesters", |r| {
            r.active_healthy() == 3
        })
        .await?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let params = [
        ("query", METRIC.to_string()),
        ("start", format!("{:.3}", first_ms as f64 / 1000.0)),
        ("end", format!("{:.3}", covered as f64 / 1000.0)),
        ("step", format!("{}", STEP_MS / 1000)),
    ];
    let url = querier.url("/prometheus/api/v1/query_range");
    // Readers see blocks through the bucket index, which an ingester killed between an upload
    // and its index update leaves behind until a restarted ingester or the next upload
    // rewrites it (and queriers re-read it every bucket_index_refresh, 1 s here): the answer
    // must become complete within the deadline, and is reported on the first miss.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (read, missing) = loop {
        let data = http_get_tenant(&http, &url, &params).await?;
        let (read, missing_times) = missing_points(&data, first_ms, covered)?;
        if missing_times.is_empty() || tokio::time::Instant::now() >= deadline {
            break (read, missing_times.values().sum::<usize>());
        }
        let blocks = uploaded_blocks(bucket);
        let index = std::fs::read_to_string(
            bucket
                .join("metrics")
                .join(TENANT)
                .join("bucket-index.json"),
        )
        .unwrap_or_else(|e| format!("({e})"));
        eprintln!(
            "{read} points read, missing (time, series): {:?}; first {first_ms}\n\
             blocks in the bucket (source, min, max): {blocks:?}\nbucket index: {index}",
            missing_times.iter().take(40).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    eprintln!(
        "after kill -9 of all ingesters on empty disks: {read} points read, {missing} missing"
    );
    ensure!(
        missing == 0,
        "{missing} points older than the cut are missing or wrong"
    );
    Ok(())
}

/// Points read, and per missing sample time the number of series without the right value.
fn missing_points(
    data: &serde_json::Value,
    first_ms: i64,
    covered: i64,
) -> Result<(usize, BTreeMap<i64, usize>)> {
    let mut got: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for item in data["result"].as_array().context("result")? {
        let s = item["metric"]["series"]
            .as_str()
            .context("series label")?
            .to_string();
        for p in item["values"].as_array().context("values")? {
            let t = (p[0].as_f64().context("t")? * 1000.0).round() as i64;
            got.insert((s.clone(), t), p[1].as_str().context("v")?.parse()?);
        }
    }
    let mut missing: BTreeMap<i64, usize> = BTreeMap::new();
    for s in 0..SERIES {
        let mut i = 0;
        while first_ms + i * STEP_MS <= covered {
            let t = first_ms + i * STEP_MS;
            match got.get(&(s.to_string(), t)) {
                Some(v) if *v == value(s, i) => {}
                _ => *missing.entry(t).or_default() += 1,
            }
            i += 1;
        }
    }
    Ok((got.len(), missing))
}

async fn http_get_tenant(
    http: &reqwest::Client,
    url: &str,
    params: &[(&str, String)],
) -> Result<serde_json::Value> {
    let response = http
        .get(url)
        .header("X-Scope-OrgID", TENANT)
        .query(params)
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    ensure!(body["status"] == "success", "{url}: {status} {body}");
    Ok(body["data"].clone())
}
