//! The processes of the compactor tests: ingesters cutting 1-minute blocks that leave their
//! heads a second after upload, a querier re-reading bucket indexes every second, compactors
//! with short intervals and delays, and waiting for a bucket to be compacted.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::bucket::{bytes_by_source, not_compacted_yet, tenant_blocks};
use crate::cluster::Cluster;
use crate::cluster::READY_TIMEOUT;
use crate::process::{ProcessSpec, SextantProcess};
use crate::query::query_all_series;
use crate::remote_write::{series, write_request, RawPush, RemoteWriteClient};
use crate::wait::wait_for;

/// The flush endpoints of the three ingesters.
pub const METRICS_FLUSH_PATH: &str = "/ingester/flush";
pub const LOGS_FLUSH_PATH: &str = "/ingester/logs/flush";
pub const TRACES_FLUSH_PATH: &str = "/ingester/traces/flush";

/// The `-storage.*` flag of the filesystem bucket in directory `bucket`.
pub fn filesystem_storage(bucket: &Path) -> Vec<String> {
    vec![format!("-storage.filesystem.dir={}", bucket.display())]
}

/// Flags of the ingesters, distributor and querier: RF=3, one-minute blocks shipped within a
/// second and kept in the heads one second after upload, bucket indexes re-read every second,
/// all in the bucket of the `storage` flags ([`filesystem_storage`], or an S3 server's).
/// `signals` is `-signals` (`metrics,logs,traces`).
pub fn cluster_flags(storage: &[String], signals: &str) -> Vec<String> {
    let mut flags = vec![
        format!("-signals={signals}"),
        "-ingester.lifecycler.heartbeat-period=1s".into(),
        "-ingester.lifecycler.heartbeat-timeout=10s".into(),
        "-limits.ingestion-rate=0".into(),
        "-querier.bucket-index-refresh=1s".into(),
        "-multitenancy-enabled=true".into(),
    ];
    flags.extend(storage.iter().cloned());
    for signal in ["metrics", "logs", "traces"] {
        flags.extend([
            format!("-ingester.{signal}.replication-factor=3"),
            format!("-ingester.{signal}.block-check-interval=1s"),
            format!("-ingester.{signal}.retain-after-upload=1s"),
        ]);
    }
    flags.extend([
        "-ingester.metrics.block-duration=1m".into(),
        "-ingester.logs.block-duration=1m".into(),
        "-ingester.traces.trace-idle-period=1s".into(),
    ]);
    flags
}

/// Flags of a compactor on the bucket of the `storage` flags: a run every second over 1m → 5m → 20m ranges, no wait
/// before the first level, sources deleted 3 s after they are marked, 1 s ring heartbeats, no
/// downsampling.
pub fn compactor_flags(storage: &[String], signals: &str) -> Vec<String> {
    let mut flags = vec![
        format!("-signals={signals}"),
        "-multitenancy-enabled=true".into(),
        "-compactor.compaction-interval=1s".into(),
        "-compactor.block-ranges=1m,5m,20m".into(),
        "-compactor.first-level-compaction-wait-period=0s".into(),
        "-compactor.deletion-delay=3s".into(),
        "-compactor.ring.heartbeat-period=1s".into(),
        "-compactor.ring.heartbeat-timeout=10s".into(),
        "-compactor.downsampling.enabled=false".into(),
    ];
    flags.extend(storage.iter().cloned());
    flags
}

/// A compactor named `name` (also its ring instance id, so a restart is the same instance),
/// gossiping with `join`, with `flags` (see [`compactor_flags`]).
pub fn compactor_spec(name: &str, join: SocketAddr, flags: &[String]) -> ProcessSpec {
    ProcessSpec::new(name, "compactor")
        .join([join])
        .flags(flags.iter().cloned())
        .flag(format!("-compactor.ring.instance-id={name}"))
}

/// Starts a compactor (see [`compactor_spec`]) and waits until it is ready.
pub async fn start_compactor(
    name: &str,
    join: SocketAddr,
    flags: &[String],
) -> Result<SextantProcess> {
    let mut process = SextantProcess::spawn(compactor_spec(name, join, flags))?;
    process
        .wait_ready(READY_TIMEOUT)
        .await
        .with_context(|| format!("start {name}"))?;
    Ok(process)
}

/// Starts `-target=<target>` named `name`, gossiping with `join`, with `flags`; waits until it
/// is ready.
pub async fn start_process(
    name: &str,
    target: &str,
    join: SocketAddr,
    flags: &[String],
) -> Result<SextantProcess> {
    let spec = ProcessSpec::new(name, target)
        .join([join])
        .flags(flags.iter().cloned());
    let mut process = SextantProcess::spawn(spec)?;
    process
        .wait_ready(READY_TIMEOUT)
        .await
        .with_context(|| format!("start {name}"))?;
    Ok(process)
}

/// Waits until every tenant of `tenants` counts as compacted for `signal` (see
/// [`not_compacted_yet`]), naming what is left on timeout.
pub async fn wait_compacted(
    bucket: &Path,
    signal: &str,
    tenants: &[String],
    timeout: Duration,
) -> Result<()> {
    let what = format!("{signal} of {} tenants compacted", tenants.len());
    wait_for(timeout, &what, || async {
        let mut left = Vec::new();
        for tenant in tenants {
            if let Some(why) = not_compacted_yet(bucket, signal, tenant)? {
                left.push(why);
            }
        }
        match left.is_empty() {
            true => Ok(Some(())),
            false => anyhow::bail!("{}", left.join("; ")),
        }
    })
    .await
}

/// Sample spacing of [`push_metrics`].
pub const METRICS_STEP_MS: i64 = 15_000;

/// The value of sample `i` of series `s` written by [`push_metrics`]: a counter going up by
/// `s + 1` per step.
pub fn metrics_value(s: usize, i: i64) -> f64 {
    ((s + 1) as i64 * i) as f64
}

/// Pushes `series_count` series `metric{series="<s>"}` for `tenant`, `points` samples each,
/// every [`METRICS_STEP_MS`] from `first_ms`, oldest first, ten minutes per request.
pub async fn push_metrics(
    client: &RemoteWriteClient,
    tenant: &str,
    metric: &str,
    series_count: usize,
    first_ms: i64,
    points: i64,
) -> Result<()> {
    let steps: Vec<i64> = (0..points).collect();
    for chunk in steps.chunks(40) {
        let batch = (0..series_count)
            .map(|s| {
                let samples: Vec<(i64, f64)> = chunk
                    .iter()
                    .map(|&i| (first_ms + i * METRICS_STEP_MS, metrics_value(s, i)))
                    .collect();
                series(
                    &[("__name__", metric), ("series", &s.to_string())],
                    &samples,
                )
            })
            .collect();
        let response = client
            .push(&RawPush::v1(Some(tenant), &write_request(batch)))
            .await?;
        ensure!(
            response.is_success(),
            "push for {tenant}: {} {}",
            response.status,
            response.body
        );
    }
    Ok(())
}

/// Flushes `signals` (`metrics`, `logs`, `traces`) on every ingester, waits until each
/// ingester's blocks of each signal and tenant are in the bucket, then until the metrics heads
/// let go of them (retain-after-upload 1 s, truncated on the next 1 s pass; logs and traces
/// use the same timings, and get three more seconds).
pub async fn upload_everything(
    cluster: &Cluster,
    bucket: &Path,
    signals: &[&str],
    tenants: &[String],
    timeout: Duration,
) -> Result<()> {
    for signal in signals {
        let path = match *signal {
            "metrics" => METRICS_FLUSH_PATH,
            "logs" => LOGS_FLUSH_PATH,
            _ => TRACES_FLUSH_PATH,
        };
        cluster.flush_ingesters(path).await?;
    }
    let ingesters = cluster.ingesters.len();
    for signal in signals {
        for tenant in tenants {
            let what = format!("{signal} blocks of {tenant} from {ingesters} ingesters");
            wait_for(timeout, &what, || async {
                let sources = bytes_by_source(&tenant_blocks(bucket, signal, tenant).complete);
                Ok((sources.len() == ingesters).then_some(()))
            })
            .await?;
        }
    }
    if signals.contains(&"metrics") {
        for ingester in &cluster.ingesters {
            for tenant in tenants {
                wait_for(timeout, "metrics heads truncated after upload", || async {
                    let held = query_all_series(ingester.grpc_addr(), tenant).await?;
                    Ok(held.iter().all(|s| s.samples.is_empty()).then_some(()))
                })
                .await
                .with_context(|| ingester.logs_tail())?;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(())
}
