//! Acknowledged log lines survive a kill -9 of one of 3 logs ingesters (RF=3, quorum 2), and
//! the killed ingester gives back from its WAL what it acknowledged before the kill.
//!
//! A task pushes `ROUNDS` Loki JSON pushes (`STREAMS` streams, one unique line each); after
//! `KILL_AFTER_ROUNDS` acknowledged rounds ingester-1 is killed while pushes go on. Every push
//! must succeed, a querier must return every acknowledged line once, and after a restart
//! ingester-1 must hold every round acknowledged well before the kill.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use sextant_e2e::ring::INGESTER_LOGS_RING;
use sextant_e2e::{Cluster, ProcessSpec, SextantProcess};
use sextant_proto::ingester::logs_ingester_client::LogsIngesterClient;
use sextant_proto::ingester::LogsQueryRequest;
use sextant_proto::prometheus::{label_matcher, LabelMatcher};

const TENANT: &str = "logs-durability";
const STREAMS: usize = 20;
const ROUNDS: usize = 60;
const KILL_AFTER_ROUNDS: usize = 20;
const KILLED: usize = 1;
/// A round acknowledged this long before the kill had no write in flight to ingester-1.
const SETTLED: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(60);
/// Between pushes: the rounds before the kill must span more than `SETTLED`.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

fn flags() -> Vec<String> {
    [
        "-ingester.lifecycler.heartbeat-period=1s",
        "-ingester.lifecycler.heartbeat-timeout=10s",
        "-ingester.logs.replication-factor=3",
        "-multitenancy-enabled=true",
    ]
    .map(String::from)
    .to_vec()
}

fn line(round: usize, stream: usize) -> String {
    format!("round={round} stream={stream} msg=\"durable\"")
}

fn body(base_ns: i64, round: usize) -> Value {
    let ts = (base_ns + round as i64 * 1_000_000_000).to_string();
    let streams: Vec<Value> = (0..STREAMS)
        .map(|s| {
            json!({"stream": {"job": "dur", "stream": format!("{s:02}")},
                   "values": [[ts, line(round, s)]]})
        })
        .collect();
    json!({ "streams": streams })
}

struct Outcome {
    round: usize,
    finished: Instant,
    acked: bool,
    detail: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_lines_survive_kill9_and_wal_replay() -> Result<()> {
    let mut cluster = Cluster::start(3, &flags()).await?;
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
            .flags(flags()),
    )?;
    querier.wait_ready(TIMEOUT).await?;

    let base_ns =
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64 - 10 * 60 * 1_000_000_000;
    let push_url = cluster.distributor.url("/loki/api/v1/push");
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let pusher = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut outcomes = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            let result = http
                .post(&push_url)
                .header("X-Scope-OrgID", TENANT)
                .json(&body(base_ns, round))
                .send()
                .await;
            let (acked, detail) = match result {
                Ok(r) => (r.status().as_u16() == 204, r.status().to_string()),
                Err(e) => (false, e.to_string()),
            };
            outcomes.push(Outcome {
                round,
                finished: Instant::now(),
                acked,
                detail,
            });
            let _ = progress_tx.send(outcomes.iter().filter(|o| o.acked).count());
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        outcomes
    });
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
    let outcomes = tokio::time::timeout(Duration::from_secs(300), pusher).await??;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.acked)
        .map(|o| format!("round {}: {}", o.round, o.detail))
        .collect();
    ensure!(
        failed.is_empty(),
        "pushes failed although a quorum was up: {failed:#?}"
    );

    // Every acknowledged line comes back once through the querier (two of three replicas up).
    let http = reqwest::Client::new();
    let response: Value = http
        .get(querier.url("/loki/api/v1/query_range"))
        .header("X-Scope-OrgID", TENANT)
        .query(&[
            ("query", r#"{job="dur"}"#.to_string()),
            ("start", (base_ns - 1).to_string()),
            (
                "end",
                (base_ns + (ROUNDS as i64 + 1) * 1_000_000_000).to_string(),
            ),
            ("limit", "5000".to_string()),
            ("direction", "forward".to_string()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let mut got: Vec<String> = Vec::new();
    for stream in response["data"]["result"].as_array().context("result")? {
        for value in stream["values"].as_array().context("values")? {
            got.push(value[1].as_str().context("line")?.to_string());
        }
    }
    let unique: BTreeSet<&String> = got.iter().collect();
    ensure!(
        unique.len() == got.len(),
        "{} duplicate lines",
        got.len() - unique.len()
    );
    let expected: BTreeSet<String> = (0..ROUNDS)
        .flat_map(|r| (0..STREAMS).map(move |s| line(r, s)))
        .collect();
    let got: BTreeSet<String> = got.into_iter().collect();
    ensure!(
        got == expected,
        "querier returned {} of {} lines",
        got.len(),
        expected.len()
    );

    // The killed ingester replays its WAL: every round settled before the kill is back.
    let restarted = &mut cluster.ingesters[KILLED];
    restarted.restart()?;
    restarted.wait_ready(Duration::from_secs(120)).await?;
    let settled: BTreeSet<String> = outcomes
        .iter()
        .filter(|o| o.acked && o.finished + SETTLED < killed_at)
        .flat_map(|o| (0..STREAMS).map(move |s| line(o.round, s)))
        .collect();
    ensure!(!settled.is_empty(), "no round settled before the kill");
    let replayed = ingester_lines(restarted, base_ns).await?;
    let missing: Vec<&String> = settled.difference(&replayed).take(5).collect();
    ensure!(
        missing.is_empty(),
        "{} of {} settled lines missing after replay, e.g. {missing:?}",
        settled.difference(&replayed).count(),
        settled.len()
    );
    eprintln!(
        "acknowledged {} lines; querier returned all; ingester-{KILLED} replayed {} (settled before the kill: {})",
        expected.len(),
        replayed.len(),
        settled.len()
    );
    Ok(())
}

/// Every line the ingester holds for the tenant, asked over gRPC.
async fn ingester_lines(ingester: &SextantProcess, base_ns: i64) -> Result<BTreeSet<String>> {
    let mut client =
        LogsIngesterClient::connect(format!("http://{}", ingester.grpc_addr())).await?;
    let request = LogsQueryRequest {
        tenant: TENANT.into(),
        start_ns: base_ns - 1,
        end_ns: base_ns + (ROUNDS as i64 + 1) * 1_000_000_000,
        matchers: vec![LabelMatcher {
            r#type: label_matcher::Type::Eq as i32,
            name: "job".into(),
            value: "dur".into(),
        }],
        line_filters: String::new(),
    };
    let mut stream = client.query_stream(request).await?.into_inner();
    let mut lines = BTreeSet::new();
    while let Some(batch) = stream.message().await? {
        for s in batch.streams {
            lines.extend(s.entries.into_iter().map(|e| e.line));
        }
    }
    Ok(lines)
}
