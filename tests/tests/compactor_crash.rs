//! A compactor killed with `kill -9` at random points leaves nothing half-visible.
//!
//! 1 distributor, 3 ingesters (RF=3, one-minute blocks), 1 querier, one filesystem bucket, and
//! many small metrics blocks: 40 minutes of data for each of several tenants, three copies of
//! one block per minute. A compactor is started, and killed with `kill -9` at a random delay
//! (0–1.5 s) after each time it is ready, then restarted, at least 20 times. Meanwhile a task
//! queries the querier continuously; every answer must equal the reference recorded before
//! the first start (never an error, never a count doubled by a half-done compaction). After
//! the loop the compactor runs undisturbed: no level-1 block, deletion mark or partial block
//! is left (the partial-block delay is short), and the answers are still the reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use rand::Rng;
use serde_json::Value;
use sextant_e2e::answers::{differences, points, AnswerApi, AnswerClient, AnswerQuery};
use sextant_e2e::bucket::tenant_blocks;
use sextant_e2e::cluster::READY_TIMEOUT;
use sextant_e2e::compactor::{
    cluster_flags, compactor_flags, compactor_spec, filesystem_storage, push_metrics,
    start_process, upload_everything, wait_compacted, METRICS_STEP_MS,
};
use sextant_e2e::{wait_for, Cluster, SextantProcess};

const TENANTS: usize = 4;
const SERIES: usize = 10;
const MINUTE_MS: i64 = 60_000;
/// Two 20-minute ranges of data, starting on a 20-minute boundary.
const WINDOW_MS: i64 = 40 * MINUTE_MS;
const POINTS: i64 = WINDOW_MS / METRICS_STEP_MS;
const KILLS: usize = 20;
const MAX_KILL_DELAY_MS: u64 = 1_500;
const METRIC: &str = "e2e_compactor_crash";
const TIMEOUT: Duration = Duration::from_secs(120);
const COMPACTION_TIMEOUT: Duration = Duration::from_secs(300);

fn tenants() -> Vec<String> {
    (0..TENANTS).map(|t| format!("crash-{t}")).collect()
}

/// The queries every reader repeats: the raw samples, and aggregations a double-counted block
/// would change (sample count and sum over the whole window, a rate).
fn queries(first_ms: i64) -> Vec<AnswerQuery> {
    let last_ms = first_ms + WINDOW_MS - 1;
    let s = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let range = |q: String, step: &str| {
        [
            ("query", q),
            ("start", s(first_ms)),
            ("end", s(last_ms)),
            ("step", step.to_string()),
        ]
    };
    let at_end = |q: String| [("query", q), ("time", s(last_ms))];
    let window = format!("{}m", WINDOW_MS / MINUTE_MS);
    let prom = AnswerApi::Prometheus;
    vec![
        AnswerQuery::new(
            "raw",
            prom,
            "/prometheus/api/v1/query_range",
            &range(METRIC.to_string(), "15s"),
        ),
        AnswerQuery::new(
            "rate",
            prom,
            "/prometheus/api/v1/query_range",
            &range(format!("sum(rate({METRIC}[5m]))"), "60s"),
        ),
        AnswerQuery::new(
            "samples",
            prom,
            "/prometheus/api/v1/query",
            &at_end(format!("sum(count_over_time({METRIC}[{window}]))")),
        ),
        AnswerQuery::new(
            "sum",
            prom,
            "/prometheus/api/v1/query",
            &at_end(format!("sum(sum_over_time({METRIC}[{window}]))")),
        ),
    ]
}

/// Checks a tenant's reference against the input: every sample once.
fn check_reference(tenant: &str, answers: &BTreeMap<String, Value>) -> Result<()> {
    let raw = points(&answers["raw"]);
    let samples = answers["samples"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or_default();
    let want = SERIES * POINTS as usize;
    ensure!(
        raw == want && samples == want.to_string(),
        "{tenant}: {raw} raw points and {samples} counted, want {want}"
    );
    Ok(())
}

/// What the reader saw while the compactor was killed over and over.
#[derive(Debug, Default)]
struct ReadLog {
    rounds: usize,
    answers: usize,
    failures: Vec<String>,
}

/// Queries every tenant in turn until `stop`, comparing each answer with `reference`.
async fn read_continuously(
    clients: Vec<AnswerClient>,
    queries: Vec<AnswerQuery>,
    reference: BTreeMap<String, BTreeMap<String, Value>>,
    stop: Arc<AtomicBool>,
) -> ReadLog {
    let mut log = ReadLog::default();
    while !stop.load(Ordering::Relaxed) {
        for client in &clients {
            let tenant = client.tenant();
            for query in &queries {
                let failure = match client.answer(query).await {
                    Ok(got) if got == reference[tenant][&query.name] => None,
                    Ok(got) => {
                        let before = BTreeMap::from([(
                            query.name.clone(),
                            reference[tenant][&query.name].clone(),
                        )]);
                        let after = BTreeMap::from([(query.name.clone(), got)]);
                        Some(differences(&before, &after).join("\n"))
                    }
                    Err(e) => Some(format!("{} error: {e:#}", query.name)),
                };
                log.answers += 1;
                if let Some(failure) = failure {
                    log.failures
                        .push(format!("{tenant}, round {}: {failure}", log.rounds));
                }
            }
        }
        log.rounds += 1;
    }
    log
}

/// The bucket at one kill: level-1 blocks not compacted yet, blocks marked for deletion, partial
/// blocks (of every tenant).
#[derive(Debug, Clone, Copy)]
struct AtKill {
    delay_ms: u64,
    level1: usize,
    marked: usize,
    partial: usize,
}

fn bucket_at_kill(bucket: &Path, tenants: &[String], delay_ms: u64) -> AtKill {
    let mut at = AtKill {
        delay_ms,
        level1: 0,
        marked: 0,
        partial: 0,
    };
    for tenant in tenants {
        let blocks = tenant_blocks(bucket, "metrics", tenant);
        at.level1 += blocks.complete.iter().filter(|b| b.level <= 1).count();
        at.marked += blocks
            .complete
            .iter()
            .filter(|b| b.marked_for_deletion)
            .count();
        at.partial += blocks.partial.len();
    }
    at
}

/// Starts, and kills at a random delay after it is ready, the compactor `KILLS` times; returns
/// what the bucket held at each kill.
async fn kill_loop(
    compactor: &mut SextantProcess,
    bucket: &Path,
    tenants: &[String],
) -> Result<Vec<AtKill>> {
    let delays: Vec<u64> = {
        let mut rng = rand::rng();
        (0..KILLS)
            .map(|_| rng.random_range(0..=MAX_KILL_DELAY_MS))
            .collect()
    };
    let mut kills = Vec::with_capacity(KILLS);
    for (kill, delay) in delays.into_iter().enumerate() {
        compactor
            .wait_ready(READY_TIMEOUT)
            .await
            .with_context(|| format!("compactor start #{}", kill + 1))?;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        compactor.kill9()?;
        kills.push(bucket_at_kill(bucket, tenants, delay));
        compactor.restart()?;
    }
    compactor.wait_ready(READY_TIMEOUT).await?;
    Ok(kills)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster and kills a compactor 20 times (make e2e)"]
async fn e2e_compactor_survives_kill9_loop() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    let flags = cluster_flags(&filesystem_storage(bucket.path()), "metrics");
    let cluster = Cluster::start(3, &flags).await?;
    cluster.wait_for_active_ingesters(3, TIMEOUT).await?;
    let seed = cluster.ingesters[0].memberlist_addr();
    let querier = start_process("querier", "querier", seed, &flags).await?;

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let first_ms = (now_ms - 65 * MINUTE_MS) / (20 * MINUTE_MS) * (20 * MINUTE_MS);
    let tenants = tenants();
    let writer = cluster.remote_write_client()?;
    for tenant in &tenants {
        push_metrics(&writer, tenant, METRIC, SERIES, first_ms, POINTS).await?;
    }
    upload_everything(&cluster, bucket.path(), &["metrics"], &tenants, TIMEOUT).await?;

    let queries = queries(first_ms);
    let clients: Vec<AnswerClient> = tenants
        .iter()
        .map(|t| AnswerClient::new(querier.url(""), t))
        .collect::<Result<_>>()?;
    let mut reference = BTreeMap::new();
    for client in &clients {
        let answers = wait_for(TIMEOUT, "complete reference answers", || async {
            let answers = client.answers(&queries).await?;
            check_reference(client.tenant(), &answers)?;
            Ok(Some(answers))
        })
        .await?;
        reference.insert(client.tenant().to_string(), answers);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_continuously(
        clients.clone(),
        queries.clone(),
        reference.clone(),
        stop.clone(),
    ));
    let mut compactor_flags = compactor_flags(&filesystem_storage(bucket.path()), "metrics");
    compactor_flags.push("-compactor.partial-block-deletion-delay=5s".into());
    let mut compactor = SextantProcess::spawn(compactor_spec("compactor", seed, &compactor_flags))?;
    let kills = kill_loop(&mut compactor, bucket.path(), &tenants).await;
    let compacted = match &kills {
        Ok(_) => wait_compacted(bucket.path(), "metrics", &tenants, COMPACTION_TIMEOUT).await,
        Err(_) => Ok(()),
    };
    stop.store(true, Ordering::Relaxed);
    let log = reader.await?;
    let kills = kills?;
    compacted.with_context(|| compactor.logs_tail())?;
    eprintln!("at each kill -9 (ms after ready; level-1, marked, partial blocks left):");
    for (i, at) in kills.iter().enumerate() {
        eprintln!(
            "  #{:02}: {:4} ms; {} level-1, {} marked, {} partial",
            i + 1,
            at.delay_ms,
            at.level1,
            at.marked,
            at.partial
        );
    }
    eprintln!(
        "{} kills; reader: {} rounds, {} answers, {} failures",
        kills.len(),
        log.rounds,
        log.answers,
        log.failures.len()
    );
    ensure!(
        log.failures.is_empty(),
        "{} of {} answers differed from the reference while the compactor was killed; first:\n{}",
        log.failures.len(),
        log.answers,
        log.failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    ensure!(log.rounds > 0, "the reader never finished a round");

    tokio::time::sleep(Duration::from_secs(2)).await;
    for client in &clients {
        let after = client.answers(&queries).await?;
        let diff = differences(&reference[client.tenant()], &after);
        ensure!(
            diff.is_empty(),
            "{} after the last run:\n{}",
            client.tenant(),
            diff.join("\n")
        );
    }
    Ok(())
}
