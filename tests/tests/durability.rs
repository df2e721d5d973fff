//! Acknowledged writes survive a kill -9 of one ingester and a graceful leave of another
//! (1 distributor, 3 ingesters, RF=3, quorum 2).
//!
//! Timeline: push `ROUNDS` rounds (one sample for each of `SERIES` series per round) from a
//! task; after `KILL_AFTER_ROUNDS` acknowledged rounds kill -9 ingester-1 while pushes go on.
//! Then: every acknowledged sample is on a survivor; ingester-1 restarts from its WAL with what
//! it had acknowledged; ingester-2 leaves gracefully and pushes to the two left still succeed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use sextant_e2e::remote_write::{series, write_request};
use sextant_e2e::ring::INGESTER_METRICS_RING;
use sextant_e2e::{query_all_series, Cluster, RemoteWriteClient, SeriesSet, SextantProcess};
use sextant_proto::prometheus::WriteRequest;

const TENANT: &str = "durability";
const METRIC: &str = "e2e_durability";
const SERIES: usize = 1_000;
const ROUNDS: usize = 100;
const KILL_AFTER_ROUNDS: usize = 30;
const ROUNDS_AFTER_LEAVE: usize = 20;
const ROUND_PAUSE: Duration = Duration::from_millis(20);
/// An ingester that acknowledged nothing for this long before the kill had no write in flight:
/// its WAL must hold every round acknowledged before that.
const SETTLED: Duration = Duration::from_secs(1);
const KILLED: usize = 1;
const LEAVING: usize = 2;
const RING_TIMEOUT: Duration = Duration::from_secs(60);

fn cluster_flags() -> Vec<String> {
    [
        "-ingester.lifecycler.heartbeat-period=1s",
        "-ingester.lifecycler.heartbeat-timeout=10s",
        "-ingester.metrics.replication-factor=3",
        "-limits.ingestion-rate=0",
        "-limits.max-global-series-per-user=0",
        "-multitenancy-enabled=true",
    ]
    .map(String::from)
    .to_vec()
}

/// The load: round `r` writes one sample to each series at `base_ms + r` seconds with a value
/// unique to (series, round).
#[derive(Debug, Clone, Copy)]
struct Load {
    base_ms: i64,
}

impl Load {
    fn new() -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        // Start in the past so every round stays behind "now" (no creation-grace rejections).
        Load {
            base_ms: now_ms - 10 * 60 * 1000,
        }
    }

    fn sample(&self, series: usize, round: usize) -> (i64, f64) {
        let ts = self.base_ms + round as i64 * 1000;
        (ts, (round * SERIES + series) as f64)
    }

    fn series_value(series: usize) -> String {
        format!("{series:04}")
    }

    fn request(&self, round: usize) -> WriteRequest {
        let timeseries = (0..SERIES)
            .map(|s| {
                let value = Self::series_value(s);
                series(
                    &[("__name__", METRIC), ("series", &value)],
                    &[self.sample(s, round)],
                )
            })
            .collect();
        write_request(timeseries)
    }

    fn expected(&self, rounds: impl IntoIterator<Item = usize>) -> SeriesSet {
        let mut set = SeriesSet::default();
        for round in rounds {
            for s in 0..SERIES {
                let key = format!(
                    "{{__name__={METRIC:?}, series={:?}}}",
                    Self::series_value(s)
                );
                let (ts, value) = self.sample(s, round);
                set.insert(&key, ts, value);
            }
        }
        set
    }
}

/// What happened to one round's push.
#[derive(Debug, Clone)]
struct RoundOutcome {
    round: usize,
    started: Instant,
    finished: Instant,
    result: std::result::Result<u16, String>,
}

impl RoundOutcome {
    fn acked(&self) -> bool {
        matches!(self.result, Ok(status) if (200..300).contains(&status))
    }
}

async fn push_round(client: &RemoteWriteClient, load: Load, round: usize) -> RoundOutcome {
    let started = Instant::now();
    let result = match client.push_v1(Some(TENANT), &load.request(round)).await {
        Ok(r) if r.is_success() => Ok(r.status),
        Ok(r) => Err(format!("status {}: {}", r.status, r.body)),
        Err(e) => Err(format!("{e:#}")),
    };
    RoundOutcome {
        round,
        started,
        finished: Instant::now(),
        result,
    }
}

fn failures(outcomes: &[RoundOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.acked())
        .map(|o| format!("round {}: {:?}", o.round, o.result))
        .collect()
}

async fn ingester_data(ingester: &SextantProcess) -> Result<SeriesSet> {
    let series = query_all_series(ingester.grpc_addr(), TENANT)
        .await
        .with_context(|| format!("query {}", ingester.name()))?;
    Ok(SeriesSet::from_timeseries(&series))
}

fn ensure_subset(what: &str, part: &SeriesSet, whole: &SeriesSet) -> Result<()> {
    let extra = part.missing_from(whole, 5);
    ensure!(
        extra.is_empty(),
        "{what}: {} samples are not among those pushed, e.g. {extra:?}",
        part.count_missing_from(whole)
    );
    Ok(())
}

fn ensure_contains(what: &str, whole: &SeriesSet, part: &SeriesSet) -> Result<()> {
    let missing = part.missing_from(whole, 5);
    ensure!(
        missing.is_empty(),
        "{what}: {} of {} samples missing, e.g. {missing:?}",
        part.count_missing_from(whole),
        part.sample_count()
    );
    Ok(())
}

/// Pushes every round from a task and kills ingester-1 once `KILL_AFTER_ROUNDS` rounds are
/// acknowledged. Returns the outcomes and the instant of the kill.
async fn push_while_killing(
    cluster: &mut Cluster,
    load: Load,
) -> Result<(Vec<RoundOutcome>, Instant)> {
    let client = cluster.remote_write_client()?;
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let pusher = tokio::spawn(async move {
        let mut outcomes = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            outcomes.push(push_round(&client, load, round).await);
            let acked = outcomes.iter().filter(|o| o.acked()).count();
            let _ = progress_tx.send(acked);
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        outcomes
    });
    // `wait_for` returns a guard holding the watch's read lock: drop it at once, or the
    // pusher's next `send` blocks forever.
    let reached = tokio::time::timeout(
        Duration::from_secs(120),
        progress.wait_for(|&acked| acked >= KILL_AFTER_ROUNDS),
    )
    .await
    .map(|r| r.map(|_| ()));
    if !matches!(reached, Ok(Ok(()))) {
        pusher.abort();
        bail!("{KILL_AFTER_ROUNDS} rounds were not acknowledged within 120s");
    }
    let killed_at = Instant::now();
    cluster.ingesters[KILLED].kill9()?;
    let outcomes = tokio::time::timeout(Duration::from_secs(300), pusher)
        .await
        .context("pushes did not finish within 300s")??;
    Ok((outcomes, killed_at))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_samples_survive_kill9_restart_and_graceful_leave() -> Result<()> {
    let mut cluster = Cluster::start(3, &cluster_flags()).await?;
    cluster.wait_for_active_ingesters(3, RING_TIMEOUT).await?;
    let load = Load::new();

    // 1. Push while one ingester is killed: with quorum 2 of 3 still reachable every push must
    // succeed, and every acknowledged sample must be on a survivor.
    let (outcomes, killed_at) = push_while_killing(&mut cluster, load).await?;
    let failed = failures(&outcomes);
    ensure!(
        failed.is_empty(),
        "pushes failed although a quorum was up: {failed:#?}"
    );
    let acked = load.expected(outcomes.iter().filter(|o| o.acked()).map(|o| o.round));
    let pushed = load.expected(0..ROUNDS);
    let mut survivors = SeriesSet::default();
    for i in (0..3).filter(|&i| i != KILLED) {
        let data = ingester_data(&cluster.ingesters[i]).await?;
        ensure_subset(cluster.ingesters[i].name(), &data, &pushed)?;
        survivors.merge(&data);
    }
    ensure_contains("acknowledged samples on the survivors", &survivors, &acked)?;

    // 2. Restart the killed ingester: its WAL replay gives back what it acknowledged before the
    // kill (every round settled by then) and nothing it never received.
    let restarted = &mut cluster.ingesters[KILLED];
    restarted.restart()?;
    restarted.wait_ready(Duration::from_secs(120)).await?;
    let replayed = ingester_data(restarted).await?;
    ensure!(
        replayed.series_count() > 0,
        "{} replayed no series",
        restarted.name()
    );
    let settled = load.expected(
        outcomes
            .iter()
            .filter(|o| o.acked() && o.finished + SETTLED < killed_at)
            .map(|o| o.round),
    );
    ensure!(
        settled.sample_count() > 0,
        "no round settled before the kill; push faster or kill later"
    );
    ensure_contains("settled rounds replayed after kill -9", &replayed, &settled)?;
    let sent_before_kill = load.expected(
        outcomes
            .iter()
            .filter(|o| o.started < killed_at)
            .map(|o| o.round),
    );
    ensure_subset(
        "replayed data vs rounds sent before the kill",
        &replayed,
        &sent_before_kill,
    )?;
    cluster.wait_for_active_ingesters(3, RING_TIMEOUT).await?;

    // 3. A graceful leave: SIGTERM flushes and leaves the ring; the two ingesters left form a
    // quorum, so every push succeeds and lands on both.
    let status = cluster.ingesters[LEAVING]
        .terminate(Duration::from_secs(60))
        .await?;
    ensure!(
        status.success(),
        "{} exited with {status} after SIGTERM",
        cluster.ingesters[LEAVING].name()
    );
    let leaving_id = cluster.ingesters[LEAVING].name().to_string();
    cluster
        .distributor
        .wait_for_ring(
            INGESTER_METRICS_RING,
            RING_TIMEOUT,
            "the leaving ingester gone",
            |ring| {
                ring.instances.len() == 2
                    && ring.instance(&leaving_id).is_none()
                    && ring.active_healthy() == 2
            },
        )
        .await?;
    let client = cluster.remote_write_client()?;
    let mut after_leave = Vec::new();
    for round in ROUNDS..ROUNDS + ROUNDS_AFTER_LEAVE {
        after_leave.push(push_round(&client, load, round).await);
    }
    let failed = failures(&after_leave);
    ensure!(
        failed.is_empty(),
        "pushes failed after a graceful leave: {failed:#?}"
    );
    let expected = load.expected(ROUNDS..ROUNDS + ROUNDS_AFTER_LEAVE);
    for i in (0..3).filter(|&i| i != LEAVING) {
        let data = ingester_data(&cluster.ingesters[i]).await?;
        ensure_contains(
            &format!("rounds after the leave on {}", cluster.ingesters[i].name()),
            &data,
            &expected,
        )?;
    }
    Ok(())
}
