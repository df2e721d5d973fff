//! Downsampling changes no answer of a 1h-step range query and reads ≥ 10× fewer bytes.
//!
//! Thirty days of synthetic metrics (25 integer and 25 fractional counters with resets: one
//! in five every few hours, the others every few days; 25 gauges; one sample every 30 s) are
//! written as one raw block per day straight into a bucket, without a bucket index. The data
//! ends 16 days before today, so every 14-day window it touches is complete (downsampled
//! blocks merge into aligned 14-day blocks once their window is over, as in steady state for
//! data this old). One `sextant -target=compactor,querier` process (no ingesters: the querier
//! asks them only about the last hour) runs on that bucket; its compactor downsamples every
//! block (5m and 1h copies: both `after`s are 1 s, set in a config file), merges the copies of
//! each window and writes the bucket index. Then, per query, the answers over the thirty days
//! with `max_source_resolution=raw`, `1h` and `auto` must be equal (values within 1e-9
//! relative), and the querier's `sextant_querier_fetched_bytes_total` must grow ≥ 10× less for
//! `1h` than for `raw`. Then a late block (two hours of a day's gauges, sampled between the
//! day's samples) is written into a merged window: the compactor must merge it into its day
//! and downsample and merge that window again (its old 5m and 1h blocks lack it), after
//! which the same holds, and the raw answers of the gauge queries changed. The first test
//! runs on a filesystem bucket, the second on an S3 server (`s3s-fs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use sextant_e2e::answers::AnswerClient;
use sextant_e2e::bucket::read_bucket_index;
use sextant_e2e::compactor::filesystem_storage;
use sextant_e2e::downsampling::{
    metric_sum_with_label, write_late_gauges, write_raw_days, COUNTER, DAY_MS, GAUGE,
    SECONDS_COUNTER,
};
use sextant_e2e::prometheus::metric_sum;
use sextant_e2e::s3::S3sFs;
use sextant_e2e::{wait_for, ProcessSpec, SextantProcess};
use sextant_metrics::block::BlockMeta;
use sextant_storage::BucketIndex;

const TENANT: &str = "downsampling";
const DAYS: i64 = 30;
const HOUR_MS: i64 = 3_600_000;
const RESOLUTIONS_MS: [i64; 2] = [5 * 60_000, HOUR_MS];
const FETCHED: &str = "sextant_querier_fetched_bytes_total";
const REL_TOLERANCE: f64 = 1e-9;
/// Downsampled data must read at least this many times fewer bytes than raw.
const MIN_BYTES_RATIO: f64 = 10.0;
/// The compactor's default `downsampling.block_range`.
const WINDOW_MS: i64 = 14 * DAY_MS;
/// The late block: gauges of this day (from 06:00) ...
const LATE_DAY: i64 = 10;
/// ... over this many hours.
const LATE_HOURS: i64 = 2;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const DOWNSAMPLING_TIMEOUT: Duration = Duration::from_secs(600);

/// Both levels apply to any block older than a second; the first from raw, the second from 5m.
const CONFIG: &str = "compactor:\n  downsampling:\n    enabled: true\n    resolutions:\n      \
    - {resolution: 5m, after: 1s}\n      - {resolution: 1h, after: 1s}\n";

/// The queries, each evaluated every hour over the thirty days.
fn queries() -> Vec<(&'static str, String)> {
    vec![
        ("sum_over_time", format!("sum_over_time({GAUGE}[1h])")),
        ("max_over_time", format!("max_over_time({GAUGE}[1h])")),
        ("min_over_time", format!("min_over_time({GAUGE}[1h])")),
        ("count_over_time", format!("count_over_time({GAUGE}[1h])")),
        ("rate", format!("rate({COUNTER}[1h])")),
        ("increase", format!("increase({COUNTER}[1h])")),
        (
            "sum by job rate",
            format!("sum by (job) (rate({COUNTER}[1h]))"),
        ),
        ("rate seconds", format!("rate({SECONDS_COUNTER}[1h])")),
        (
            "increase seconds",
            format!("increase({SECONDS_COUNTER}[1h])"),
        ),
        (
            "sum by job rate seconds",
            format!("sum by (job) (rate({SECONDS_COUNTER}[1h]))"),
        ),
    ]
}

/// The first day: forty-six days before today's midnight (UTC), so the data ends sixteen
/// days ago and its last 14-day window ended at least two days ago (a window's copies are
/// merged a day after its end plus `after`).
fn first_ms() -> Result<i64> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    Ok(now_ms / DAY_MS * DAY_MS - (DAYS + 16) * DAY_MS)
}

/// Why the bucket index does not list, for every raw block, an unmarked copy at each
/// resolution of [`RESOLUTIONS_MS`] covering its time range, and at each resolution one
/// unmarked block per 14-day window (the merged copies); `None` once it does.
fn not_downsampled_yet(bucket: &Path, raw_blocks: usize) -> Result<Option<String>> {
    let Some(index) = read_bucket_index(bucket, "metrics", TENANT)? else {
        return Ok(Some("no bucket index".into()));
    };
    let marked: Vec<&str> = index
        .deletion_marks
        .iter()
        .map(|m| m.block_id.as_str())
        .collect();
    let live: Vec<_> = index
        .blocks
        .iter()
        .filter(|b| !marked.contains(&b.block_id.as_str()))
        .collect();
    let raw: Vec<_> = live.iter().filter(|b| b.resolution_ms == 0).collect();
    if raw.len() != raw_blocks {
        return Ok(Some(format!(
            "{} raw blocks listed, want {raw_blocks}",
            raw.len()
        )));
    }
    for resolution in RESOLUTIONS_MS {
        let uncovered = raw
            .iter()
            .filter(|r| {
                !live.iter().any(|b| {
                    b.resolution_ms == resolution
                        && b.min_time_ms <= r.min_time_ms
                        && b.max_time_ms >= r.max_time_ms
                })
            })
            .count();
        if uncovered > 0 {
            return Ok(Some(format!(
                "{uncovered} raw blocks without a {resolution} ms copy"
            )));
        }
        let mut windows: Vec<i64> = raw.iter().map(|r| r.min_time_ms / WINDOW_MS).collect();
        windows.sort_unstable();
        windows.dedup();
        let copies = live
            .iter()
            .filter(|b| b.resolution_ms == resolution)
            .count();
        if copies != windows.len() {
            return Ok(Some(format!(
                "{copies} blocks of {resolution} ms, want one per window: {}",
                windows.len()
            )));
        }
    }
    Ok(None)
}

/// Why not every live block overlapping the late block `late_id` (raw, 5m and 1h) holds it
/// among its sources yet; `None` once they all do.
fn late_not_held_yet(bucket: &Path, late_id: &str) -> Result<Option<String>> {
    let Some(index) = read_bucket_index(bucket, "metrics", TENANT)? else {
        return Ok(Some("no bucket index".into()));
    };
    // merged into its day, the late block is marked for deletion
    if !index.deletion_marks.iter().any(|m| m.block_id == late_id) {
        return Ok(Some("the late block is not merged into its day yet".into()));
    }
    let late = read_meta(bucket, late_id)?;
    late_held(bucket, &index, late_id, late.min_time_ms, late.max_time_ms)
}

/// See [`late_not_held_yet`]: every block the index lists (unmarked ones) overlapping
/// `[min, max]`, at every resolution, lists `late_id` among its sources.
fn late_held(
    bucket: &Path,
    index: &BucketIndex,
    late_id: &str,
    min: i64,
    max: i64,
) -> Result<Option<String>> {
    for resolution in [0].into_iter().chain(RESOLUTIONS_MS) {
        let overlapping: Vec<_> = index
            .blocks
            .iter()
            .filter(|b| b.resolution_ms == resolution)
            .filter(|b| b.min_time_ms <= max && min <= b.max_time_ms)
            .collect();
        if overlapping.is_empty() {
            return Ok(Some(format!(
                "no {resolution} ms block over the late range"
            )));
        }
        for block in overlapping {
            let sources = read_meta(bucket, &block.block_id)?.compaction.sources;
            if !sources.iter().any(|s| s == late_id) {
                return Ok(Some(format!(
                    "the {resolution} ms block {} does not hold the late block",
                    block.block_id
                )));
            }
        }
    }
    Ok(None)
}

/// The `meta.json` of a metrics block of the tenant.
fn read_meta(bucket: &Path, block_id: &str) -> Result<BlockMeta> {
    let path = bucket
        .join("metrics")
        .join(TENANT)
        .join(block_id)
        .join("meta.json");
    let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
}

/// A matrix answer: `(t, value)` points by labels (as JSON).
type Answer = BTreeMap<String, Vec<(f64, f64)>>;

/// `(labels as JSON, [(t, value)])` of a matrix answer, sorted by labels.
fn series_of(body: &Value) -> Result<Answer> {
    ensure!(body["status"] == "success", "{body}");
    ensure!(body["data"]["resultType"] == "matrix", "{body}");
    let mut out = BTreeMap::new();
    for item in body["data"]["result"].as_array().context("no result")? {
        let points = item["values"]
            .as_array()
            .context("no values")?
            .iter()
            .map(|p| {
                let t = p[0].as_f64().context("bad time")?;
                let v: f64 = p[1].as_str().context("bad value")?.parse()?;
                Ok((t, v))
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert(item["metric"].to_string(), points);
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOLERANCE * a.abs().max(b.abs())
}

/// The differences between two answers (at most a few per series), empty when equal.
fn differences(want: &Answer, got: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    if want.keys().ne(got.keys()) {
        out.push(format!(
            "series differ: {:?} vs {:?}",
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>()
        ));
        return out;
    }
    for (labels, w) in want {
        let g = &got[labels];
        if w.len() != g.len() {
            out.push(format!("{labels}: {} points vs {}", w.len(), g.len()));
            continue;
        }
        let wrong: Vec<String> = w
            .iter()
            .zip(g)
            .filter(|(a, b)| a.0 != b.0 || !close(a.1, b.1))
            .take(3)
            .map(|(a, b)| format!("t={} {} vs t={} {}", a.0, a.1, b.0, b.1))
            .collect();
        if !wrong.is_empty() {
            out.push(format!("{labels}: {}", wrong.join(", ")));
        }
    }
    out
}

/// One query's answer and the bytes the querier fetched for it, in total and by resolution.
struct Measured {
    series: Answer,
    bytes: f64,
    by_resolution: BTreeMap<&'static str, f64>,
}

async fn measure(
    querier: &SextantProcess,
    client: &AnswerClient,
    params: &[(&str, String)],
) -> Result<Measured> {
    let labels = ["raw", "5m", "1h"];
    let read = |text: &str| -> (f64, Vec<f64>) {
        let total = metric_sum(text, FETCHED).unwrap_or(0.0);
        let by = labels
            .iter()
            .map(|r| metric_sum_with_label(text, FETCHED, "resolution", r))
            .collect();
        (total, by)
    };
    let (before, before_by) = read(&querier.metrics_text().await?);
    let body = client.get("/prometheus/api/v1/query_range", params).await?;
    let (after, after_by) = read(&querier.metrics_text().await?);
    Ok(Measured {
        series: series_of(&body)?,
        bytes: after - before,
        by_resolution: labels
            .iter()
            .zip(after_by.iter().zip(&before_by))
            .map(|(r, (a, b))| (*r, a - b))
            .collect(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a compactor and a querier (make e2e)"]
async fn e2e_downsampling_answers_and_bytes() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    downsampling_answers_and_bytes(&filesystem_storage(bucket.path()), bucket.path()).await
}

/// The same on a real S3 server (`s3s-fs`) standing in for MinIO: the compactor lists,
/// downloads, uploads, merges and marks the downsampled blocks through the S3 API, and the
/// querier reads them through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns s3s-fs, a compactor and a querier (make e2e)"]
async fn e2e_downsampling_on_s3_answers_and_bytes() -> Result<()> {
    let server = S3sFs::start("blocks").await?;
    let storage = server.storage_flags("blocks");
    downsampling_answers_and_bytes(&storage, &server.root().join("blocks")).await
}

/// The test on the bucket of the `storage` flags, whose objects are the files under `bucket`
/// (the raw blocks are written there directly).
async fn downsampling_answers_and_bytes(storage: &[String], bucket: &Path) -> Result<()> {
    let first_ms = first_ms()?;
    let written = write_raw_days(bucket, TENANT, first_ms, DAYS)?;
    eprintln!(
        "wrote {} raw blocks: {} samples, {} bytes",
        written.block_ids.len(),
        written.samples,
        written.bytes
    );
    let config_dir = tempfile::tempdir()?;
    let config = config_dir.path().join("downsampling.yaml");
    std::fs::write(&config, CONFIG)?;
    let spec = ProcessSpec::new("downsampling", "compactor,querier").flags(
        [
            "-signals=metrics".to_string(),
            "-multitenancy-enabled=true".into(),
            format!("-config.file={}", config.display()),
        ]
        .into_iter()
        .chain(storage.iter().cloned())
        .chain([
            "-compactor.compaction-interval=1s".into(),
            "-compactor.first-level-compaction-wait-period=0s".into(),
            "-compactor.ring.heartbeat-period=1s".into(),
            "-compactor.ring.instance-id=downsampling".into(),
            "-querier.bucket-index-refresh=1s".into(),
            "-querier.query-ingesters-within=1h".into(),
        ]),
    );
    let mut process = SextantProcess::spawn(spec)?;
    process.wait_ready(READY_TIMEOUT).await?;

    let raw_blocks = written.block_ids.len();
    wait_for(
        DOWNSAMPLING_TIMEOUT,
        "5m and 1h copies of every day, merged per window",
        || async {
            match not_downsampled_yet(bucket, raw_blocks)? {
                None => Ok(Some(())),
                Some(why) => anyhow::bail!("{why}"),
            }
        },
    )
    .await
    .with_context(|| process.logs_tail())?;
    // the querier re-reads the bucket index every second
    tokio::time::sleep(Duration::from_secs(3)).await;

    let client = AnswerClient::new(process.url(""), TENANT)?;
    let before = compare_resolutions(&process, &client, first_ms, "all data").await?;

    // a late block inside a merged window: the windows' 5m and 1h blocks lack it, so the
    // compactor marks them stale, merges the late block into its day and downsamples again
    let late_from = first_ms + LATE_DAY * DAY_MS + 6 * HOUR_MS;
    let late_id = write_late_gauges(bucket, TENANT, late_from, LATE_HOURS)?;
    eprintln!("wrote the late block {late_id} (gauges, day {LATE_DAY}, {LATE_HOURS}h)");
    wait_for(
        DOWNSAMPLING_TIMEOUT,
        "the late block merged into its day, downsampled and merged per window again",
        || async {
            let why = match not_downsampled_yet(bucket, raw_blocks)? {
                None => late_not_held_yet(bucket, &late_id)?,
                why => why,
            };
            match why {
                None => Ok(Some(())),
                Some(why) => anyhow::bail!("{why}"),
            }
        },
    )
    .await
    .with_context(|| process.logs_tail())?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = compare_resolutions(&process, &client, first_ms, "with the late block").await?;
    for name in ["sum_over_time", "count_over_time", "max_over_time"] {
        ensure!(
            before.get(name) != after.get(name),
            "{name}: the late samples changed no raw answer"
        );
    }
    Ok(())
}

/// Runs every query of [`queries`] with `max_source_resolution` `raw`, `1h` and `auto`,
/// prints a table of bytes read and fails unless the answers are equal and `1h` reads
/// [`MIN_BYTES_RATIO`] times fewer bytes; returns the raw answers by query name.
async fn compare_resolutions(
    process: &SextantProcess,
    client: &AnswerClient,
    first_ms: i64,
    phase: &str,
) -> Result<BTreeMap<&'static str, Answer>> {
    let mut raw_answers = BTreeMap::new();
    let s = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let mut failures = Vec::new();
    eprintln!("{phase}:");
    eprintln!("| query | series × points | raw bytes | 1h bytes | auto bytes | raw / 1h |");
    eprintln!("|---|---|---|---|---|---|");
    for (name, query) in queries() {
        let params = |resolution: &str| {
            [
                ("query", query.clone()),
                ("start", s(first_ms + HOUR_MS)),
                ("end", s(first_ms + DAYS * DAY_MS)),
                ("step", "3600".to_string()),
                ("max_source_resolution", resolution.to_string()),
            ]
        };
        let raw = measure(process, client, &params("raw")).await?;
        let hour = measure(process, client, &params("1h")).await?;
        let auto = measure(process, client, &params("auto")).await?;
        let points: usize = raw.series.values().map(Vec::len).sum();
        let ratio = raw.bytes / hour.bytes.max(1.0);
        eprintln!(
            "| {name} | {} × {} | {} | {} | {} | {ratio:.1} |",
            raw.series.len(),
            points / raw.series.len().max(1),
            raw.bytes,
            hour.bytes,
            auto.bytes
        );
        eprintln!(
            "|   by resolution | | {:?} | {:?} | {:?} | |",
            raw.by_resolution, hour.by_resolution, auto.by_resolution
        );
        if points == 0 {
            failures.push(format!("{name}: empty raw answer"));
        }
        for (what, other) in [("1h", &hour), ("auto", &auto)] {
            let diff = differences(&raw.series, &other.series);
            if !diff.is_empty() {
                failures.push(format!(
                    "{name}: raw vs {what}:\n  {}",
                    diff.iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ));
            }
        }
        if ratio < MIN_BYTES_RATIO {
            failures.push(format!(
                "{name}: raw read {} bytes, 1h {} (ratio {ratio:.1} < {MIN_BYTES_RATIO})",
                raw.bytes, hour.bytes
            ));
        }
        raw_answers.insert(name, raw.series);
    }
    ensure!(failures.is_empty(), "{phase}:\n{}", failures.join("\n"));
    Ok(raw_answers)
}
