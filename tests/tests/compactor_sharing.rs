//! Two compactors share the tenants through the `compactor-metrics` ring, and one takes over
//! when the other stops.
//!
//! 1 distributor, 3 ingesters (RF=3, one-minute blocks), two compactors (a run every second)
//! and one filesystem bucket, watched every 100 ms so every block that ever exists is seen.
//! Ten tenants' metrics are uploaded: once all are compacted, every level-1 block is held by
//! exactly one remaining block, no two compacted blocks ever held crossing or equal source
//! sets (no group compacted twice), and both compactors wrote blocks. Then compactor-b gets
//! SIGTERM; once the ring has dropped it, four new tenants are uploaded and compactor-a alone
//! compacts all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Result};
use sextant_e2e::bucket::{
    check_sources_nest, check_sources_partition, observe_blocks, tenant_blocks, StoredBlock,
    COMPACTOR_METRICS_RING,
};
use sextant_e2e::compactor::{
    cluster_flags, compactor_flags, filesystem_storage, push_metrics, start_compactor,
    wait_compacted, METRICS_FLUSH_PATH, METRICS_STEP_MS,
};
use sextant_e2e::Cluster;

const FIRST_TENANTS: usize = 10;
const LATER_TENANTS: usize = 4;
const SERIES: usize = 10;
const MINUTE_MS: i64 = 60_000;
const WINDOW_MS: i64 = 20 * MINUTE_MS;
const POINTS: i64 = WINDOW_MS / METRICS_STEP_MS;
const METRIC: &str = "e2e_compactor_sharing";
const TIMEOUT: Duration = Duration::from_secs(120);
const COMPACTION_TIMEOUT: Duration = Duration::from_secs(300);

fn tenant_names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|t| format!("share-{t:02}")).collect()
}

/// Writes the tenants' metrics and has every ingester upload them (the compactors may start
/// on the first blocks before the last are uploaded).
async fn upload(cluster: &Cluster, tenants: &[String], first_ms: i64) -> Result<()> {
    let writer = cluster.remote_write_client()?;
    for tenant in tenants {
        push_metrics(&writer, tenant, METRIC, SERIES, first_ms, POINTS).await?;
    }
    cluster.flush_ingesters(METRICS_FLUSH_PATH).await
}

/// Checks the compaction of `tenants` from every block seen and the bucket now; returns the
/// number of compacted blocks written per compactor.
fn check_compacted_once(
    bucket: &Path,
    seen: &BTreeMap<(String, String), StoredBlock>,
    tenants: &[String],
) -> Result<BTreeMap<String, usize>> {
    let mut writers: BTreeMap<String, usize> = BTreeMap::new();
    for tenant in tenants {
        let of_tenant = seen
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, b)| b);
        let (level1, compacted): (Vec<&StoredBlock>, Vec<&StoredBlock>) =
            of_tenant.partition(|b| b.level <= 1);
        let level1: BTreeSet<String> = level1.iter().map(|b| b.id.clone()).collect();
        ensure!(!level1.is_empty(), "{tenant}: no level-1 block was seen");
        let compacted: Vec<StoredBlock> = compacted.into_iter().cloned().collect();
        for block in &compacted {
            *writers.entry(block.source.clone()).or_default() += 1;
        }
        let remaining = tenant_blocks(bucket, "metrics", tenant).complete;
        check_sources_partition(&remaining, &level1)
            .map_err(|e| e.context(format!("{tenant}: remaining blocks")))?;
        check_sources_nest(&compacted)
            .map_err(|e| e.context(format!("{tenant}: every compacted block seen")))?;
    }
    Ok(writers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster and two compactors (make e2e)"]
async fn e2e_two_compactors_share_tenants_and_take_over() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    let flags = cluster_flags(&filesystem_storage(bucket.path()), "metrics");
    let cluster = Cluster::start(3, &flags).await?;
    cluster.wait_for_active_ingesters(3, TIMEOUT).await?;
    let seed = cluster.ingesters[0].memberlist_addr();
    let compactor_flags = compactor_flags(&filesystem_storage(bucket.path()), "metrics");
    let compactor_a = start_compactor("compactor-a", seed, &compactor_flags).await?;
    let mut compactor_b = start_compactor("compactor-b", seed, &compactor_flags).await?;
    for compactor in [&compactor_a, &compactor_b] {
        compactor
            .wait_for_ring(
                COMPACTOR_METRICS_RING,
                TIMEOUT,
                "2 ACTIVE compactors",
                |r| r.active_healthy() == 2,
            )
            .await?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let observer = observe_blocks(
        bucket.path(),
        "metrics",
        Duration::from_millis(100),
        stop.clone(),
    );

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let first_ms = (now_ms - 45 * MINUTE_MS) / WINDOW_MS * WINDOW_MS;
    let first = tenant_names(0..FIRST_TENANTS);
    upload(&cluster, &first, first_ms).await?;
    wait_compacted(bucket.path(), "metrics", &first, COMPACTION_TIMEOUT).await?;

    compactor_b.terminate(Duration::from_secs(30)).await?;
    compactor_a
        .wait_for_ring(
            COMPACTOR_METRICS_RING,
            TIMEOUT,
            "compactor-b gone from the ring",
            |r| r.active_healthy() == 1 && r.instance("compactor-a").is_some_and(|i| i.healthy),
        )
        .await?;
    let later = tenant_names(FIRST_TENANTS..FIRST_TENANTS + LATER_TENANTS);
    upload(&cluster, &later, first_ms).await?;
    wait_compacted(bucket.path(), "metrics", &later, COMPACTION_TIMEOUT).await?;

    stop.store(true, Ordering::Relaxed);
    let seen = observer.await?;
    let shared = check_compacted_once(bucket.path(), &seen, &first)?;
    let alone = check_compacted_once(bucket.path(), &seen, &later)?;
    eprintln!(
        "{} blocks seen; compacted blocks written per compactor: {} tenants shared {shared:?}, \
         {} tenants after compactor-b stopped {alone:?}",
        seen.len(),
        first.len(),
        later.len()
    );
    let writers: BTreeSet<&str> = shared.keys().map(String::as_str).collect();
    ensure!(
        writers == BTreeSet::from(["compactor-a", "compactor-b"]),
        "both compactors should have compacted some of {} tenants: {shared:?}",
        first.len()
    );
    ensure!(
        alone.keys().all(|w| w == "compactor-a"),
        "after compactor-b stopped only compactor-a compacts: {alone:?}"
    );
    let page = reqwest::get(compactor_a.url("/compactor/ring")).await?;
    ensure!(
        page.status().is_success(),
        "/compactor/ring: {}",
        page.status()
    );
    Ok(())
}
