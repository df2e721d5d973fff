//! Traces durability across the whole path: 1 distributor, 3 traces ingesters (RF=3, quorum
//! 2), 1 querier and one shared bucket (a filesystem directory).
//!
//! 1. A task pushes `ROUNDS` OTLP/HTTP exports (`TRACES_PER_PUSH` new traces of
//!    `SPANS_PER_TRACE` spans over two services each); after `KILL_AFTER_ROUNDS` acknowledged
//!    rounds ingester-1 gets `kill -9` while the pushes go on. Every push must be
//!    acknowledged (two replicas are up) and every acknowledged trace comes back whole, each
//!    span once, by ID through the querier.
//! 2. Ingester-1 restarts (WAL replay), every ingester flushes its traces into blocks
//!    (`POST /ingester/traces/flush`), then all of them get `kill -9` and restart on empty
//!    WAL directories: every acknowledged trace, all older than that cut, is served whole from
//!    the bucket.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Result};
use sextant_e2e::traces::{
    check_same_spans, group_by_trace, spans_of_traces_data, SpanRecord, TempoApi, TempoClient,
    TempoFormat, INGESTER_TRACES_RING,
};
use sextant_e2e::{Cluster, ProcessSpec, SextantProcess};
use sextant_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};

const TENANT: &str = "traces-durability";
const TRACES_PER_PUSH: usize = 20;
const SPANS_PER_TRACE: usize = 6;
const ROUNDS: usize = 60;
const KILL_AFTER_ROUNDS: usize = 20;
const KILLED: usize = 1;
const ROUND_PAUSE: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_secs(120);
/// How long reads may take to see every acknowledged trace.
const FIND_TIMEOUT: Duration = Duration::from_secs(60);

fn flags(bucket: &Path) -> Vec<String> {
    let mut flags = [
        "-ingester.lifecycler.heartbeat-period=1s",
        "-ingester.lifecycler.heartbeat-timeout=10s",
        "-ingester.traces.replication-factor=3",
        "-ingester.traces.trace-idle-period=1s",
        "-ingester.traces.block-check-interval=1s",
        "-ingester.traces.retain-after-upload=0s",
        "-querier.bucket-index-refresh=1s",
        "-multitenancy-enabled=true",
    ]
    .map(String::from)
    .to_vec();
    flags.push(format!("-storage.filesystem.dir={}", bucket.display()));
    flags
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Trace `i` of `round` of this run: unique across runs through `nonce`.
fn trace_id(nonce: u64, round: usize, i: usize) -> Vec<u8> {
    let mut id = nonce.to_be_bytes().to_vec();
    id.extend((round as u32).to_be_bytes());
    id.extend((i as u32).to_be_bytes());
    id
}

fn span_id(round: usize, i: usize, s: usize) -> Vec<u8> {
    let mut id = (round as u16).to_be_bytes().to_vec();
    id.extend((i as u32).to_be_bytes());
    id.extend([s as u8, 1]);
    id
}

/// One export as a collector batches it: a resource per service, holding the spans of every
/// trace of the round (a chain: `step-0` is the root, `step-s` the child of `step-(s-1)`;
/// the first half in `gateway`, the rest in `ledger`).
fn export(nonce: u64, round: usize, base_ns: u64) -> TracesData {
    let services = ["gateway", "ledger"];
    let mut by_service: [Vec<Span>; 2] = [Vec::new(), Vec::new()];
    for i in 0..TRACES_PER_PUSH {
        let start = base_ns + round as u64 * 1_000_000_000 + i as u64 * 1_000_000;
        for s in 0..SPANS_PER_TRACE {
            let span_start = start + s as u64 * 100_000;
            by_service[s * 2 / SPANS_PER_TRACE].push(Span {
                trace_id: trace_id(nonce, round, i),
                span_id: span_id(round, i, s),
                parent_span_id: if s == 0 {
                    Vec::new()
                } else {
                    span_id(round, i, s - 1)
                },
                name: format!("step-{s}"),
                kind: if s == 0 { 2 } else { 1 },
                start_time_unix_nano: span_start,
                end_time_unix_nano: span_start + (SPANS_PER_TRACE - s) as u64 * 1_000_000,
                attributes: vec![
                    kv("round", any_value::Value::IntValue(round as i64)),
                    kv("trace.index", any_value::Value::IntValue(i as i64)),
                ],
                ..Default::default()
            });
        }
    }
    let resource_spans = services
        .iter()
        .zip(by_service)
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue(service.to_string()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    TracesData { resource_spans }
}

struct Outcome {
    round: usize,
    acked: bool,
    detail: String,
}

/// Pushes every round, pausing between them; reports the acknowledged rounds on `progress`.
async fn push_rounds(
    tempo: TempoClient,
    nonce: u64,
    base_ns: u64,
    progress: tokio::sync::watch::Sender<usize>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (acked, detail) = match tempo.push(&export(nonce, round, base_ns)).await {
            Ok(o) => (o.acknowledged(), format!("{o:?}")),
            Err(e) => (false, format!("{e:#}")),
        };
        outcomes.push(Outcome {
            round,
            acked,
            detail,
        });
        let _ = progress.send(outcomes.iter().filter(|o| o.acked).count());
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    outcomes
}

/// Reads every expected trace by ID until each comes back whole (each span once) or
/// `timeout` passes; returns how many spans were found, or the first mismatch.
async fn find_all(
    tempo: &TempoClient,
    expected: &BTreeMap<String, Vec<SpanRecord>>,
    timeout: Duration,
) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&String> = expected.keys().collect();
    loop {
        let mut still = Vec::new();
        let mut first_error = None;
        for id in pending {
            let got = tempo
                .trace_by_id(TempoApi::V1, TempoFormat::Protobuf, id)
                .await?
                .unwrap_or_default();
            if let Err(e) = check_same_spans(&format!("trace {id}"), &expected[id], &got) {
                first_error.get_or_insert(e);
                still.push(id);
            }
        }
        pending = still;
        let Some(error) = first_error else {
            return Ok(expected.values().map(Vec::len).sum());
        };
        if Instant::now() >= deadline {
            bail!(
                "{} of {} traces not whole after {timeout:?}; first: {error:#}",
                pending.len(),
                expected.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Block metas of the tenant in the bucket.
fn blocks_in_bucket(bucket: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(bucket.join("traces").join(TENANT)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path().join("meta.json").is_file())
        .count()
}

async fn flush(http: &reqwest::Client, ingester: &SextantProcess) -> Result<()> {
    let response = http
        .post(ingester.url("/ingester/traces/flush"))
        .send()
        .await?;
    let status = response.status();
    ensure!(
        status.is_success(),
        "{}: POST /ingester/traces/flush: {status} {}",
        ingester.name(),
        response.text().await?
    );
    Ok(())
}

async fn wait_for_three(process: &SextantProcess) -> Result<()> {
    process
        .wait_for_ring(
            INGESTER_TRACES_RING,
            TIMEOUT,
            "3 ACTIVE traces ingesters",
            |r| r.instances.len() == 3 && r.active_healthy() == 3,
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster (make e2e)"]
async fn e2e_traces_survive_kill_and_restart() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    let flags = flags(bucket.path());
    let mut cluster = Cluster::start(3, &flags).await?;
    wait_for_three(&cluster.distributor).await?;
    let mut querier = SextantProcess::spawn(
        ProcessSpec::new("querier", "querier")
            .join([cluster.ingesters[0].memberlist_addr()])
            .flags(flags.iter().cloned()),
    )?;
    querier.wait_ready(TIMEOUT).await?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let nonce = now.as_nanos() as u64;
    let base_ns = now.as_nanos() as u64 - 120 * 1_000_000_000;
    let pusher_client = TempoClient::new(cluster.distributor.url(""), Some(TENANT))?;
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let pusher = tokio::spawn(push_rounds(pusher_client, nonce, base_ns, progress_tx));
    // The borrow `wait_for` returns is dropped at once: held, it would block the pusher's
    // next `send`.
    let reached = tokio::time::timeout(
        TIMEOUT,
        progress.wait_for(|&acked| acked >= KILL_AFTER_ROUNDS),
    )
    .await
    .map(|r| r.map(|_| ()));
    if !matches!(reached, Ok(Ok(()))) {
        pusher.abort();
        bail!("{KILL_AFTER_ROUNDS} rounds were not acknowledged within {TIMEOUT:?}");
    }
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
    let acked: Vec<SpanRecord> = outcomes
        .iter()
        .filter(|o| o.acked)
        .flat_map(|o| spans_of_traces_data(&export(nonce, o.round, base_ns)))
        .collect();
    let expected = group_by_trace(&acked);
    ensure!(
        expected.len() == ROUNDS * TRACES_PER_PUSH,
        "trace IDs collide"
    );

    let reader = TempoClient::new(querier.url(""), Some(TENANT))?;
    let found = find_all(&reader, &expected, FIND_TIMEOUT).await?;
    eprintln!(
        "after kill -9 of ingester-{KILLED} mid-export: {} spans of {} traces acknowledged, {found} found by ID",
        acked.len(),
        expected.len()
    );

    // Replay, then cut everything into blocks and lose every disk but the bucket.
    let restarted = &mut cluster.ingesters[KILLED];
    restarted.restart()?;
    restarted.wait_ready(TIMEOUT).await?;
    wait_for_three(&cluster.distributor).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    for ingester in &cluster.ingesters {
        flush(&http, ingester).await?;
    }
    let blocks = blocks_in_bucket(bucket.path());
    ensure!(blocks > 0, "no traces blocks in the bucket after the flush");
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
    wait_for_three(&querier).await?;
    let found = find_all(&reader, &expected, FIND_TIMEOUT).await?;
    eprintln!(
        "after restarting all ingesters on empty disks: {found} of {} acknowledged spans found by ID in {blocks} blocks",
        acked.len()
    );
    Ok(())
}
