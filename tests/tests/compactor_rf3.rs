//! Compaction of RF=3 uploads changes no answer and leaves about one copy of the data.
//!
//! 1 distributor, 3 ingesters (RF=3, one-minute blocks), 1 querier, one bucket: a directory,
//! and in the second test an S3 server (`s3s-fs`). A known data set of metrics (remote
//! write), logs (Loki push) and traces (OTLP/HTTP), twenty minutes ending at least 25 minutes
//! ago, is written, flushed into blocks by every ingester and dropped from their heads. The
//! querier's answers are recorded (and checked against the distinct input); then a compactor
//! starts and runs until no level-1 block, deletion mark or partial block is left for any
//! signal. Every answer must be identical (the data part, order-normalized), and each
//! signal's stored bytes at most 1.1 × one ingester's copy.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sextant_e2e::answers::{differences, points, AnswerApi, AnswerClient, AnswerQuery};
use sextant_e2e::bucket::{bytes_by_source, tenant_blocks, COMPACTOR_METRICS_RING};
use sextant_e2e::compactor::{
    cluster_flags, compactor_flags, filesystem_storage, start_compactor, start_process,
    upload_everything, wait_compacted,
};
use sextant_e2e::prometheus::metric_sum;
use sextant_e2e::remote_write::{series, write_request};
use sextant_e2e::ring::{INGESTER_LOGS_RING, INGESTER_METRICS_RING};
use sextant_e2e::s3::S3sFs;
use sextant_e2e::traces::{
    check_same_spans, group_by_trace, kv, spans_of_traces_data, SpanRecord, TempoApi, TempoClient,
    TempoFormat, INGESTER_TRACES_RING,
};
use sextant_e2e::{wait_for, Cluster, RawPush};
use sextant_proto::otlp::common::v1::any_value::Value as AttrValue;
use sextant_proto::otlp::resource::v1::Resource;
use sextant_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};

const TENANT: &str = "compactor-rf3";
const SIGNALS: [&str; 3] = ["metrics", "logs", "traces"];
const MINUTE_MS: i64 = 60_000;
/// The data covers one 20-minute range (the compactor's largest), starting on its boundary.
const WINDOW_MS: i64 = 20 * MINUTE_MS;
const STEP_MS: i64 = 15_000;
const POINTS: i64 = WINDOW_MS / STEP_MS;
const INSTANCES: usize = 10;
const CODES: [&str; 4] = ["200", "404", "500", "503"];
const LOG_STREAMS: usize = 10;
const LOG_STEP_MS: i64 = 5_000;
const LOG_STEPS: i64 = WINDOW_MS / LOG_STEP_MS;
const TRACES: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(120);
const COMPACTION_TIMEOUT: Duration = Duration::from_secs(300);
/// Stored bytes after compaction, at most this times one ingester's copy.
const MAX_BYTES_RATIO: f64 = 1.1;

/// The start of the data: a 20-minute boundary between 65 and 45 minutes ago, so the whole
/// range ended at least 25 minutes ago and every compaction range holding it is complete.
fn first_ms() -> Result<i64> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    Ok((now_ms - 45 * MINUTE_MS) / WINDOW_MS * WINDOW_MS)
}

fn counter(instance: usize, code: usize, i: i64) -> f64 {
    ((instance + 1) * (code + 1)) as f64 * i as f64
}

fn temperature(instance: usize, i: i64) -> f64 {
    20.0 + ((instance as i64 * 7 + i * 3) % 17) as f64 / 4.0
}

async fn write_metrics(cluster: &Cluster, first_ms: i64) -> Result<()> {
    let client = cluster.remote_write_client()?;
    for chunk in (0..POINTS).collect::<Vec<_>>().chunks(20) {
        let at = |f: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
            chunk
                .iter()
                .map(|&i| (first_ms + i * STEP_MS, f(i)))
                .collect()
        };
        let mut batch = Vec::new();
        for instance in 0..INSTANCES {
            let name = format!("i{instance:02}");
            for (c, code) in CODES.iter().enumerate() {
                let labels = [
                    ("__name__", "e2e_compactor_requests_total"),
                    ("code", *code),
                    ("instance", &name),
                ];
                batch.push(series(&labels, &at(&|i| counter(instance, c, i))));
            }
            let labels = [
                ("__name__", "e2e_compactor_temperature"),
                ("instance", &name),
            ];
            batch.push(series(&labels, &at(&|i| temperature(instance, i))));
        }
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
    Ok(())
}

fn log_line(stream: usize, step: i64) -> String {
    let status = CODES[(stream + step as usize) % CODES.len()];
    format!("stream={stream} step={step} status={status} msg=\"compacted once\"")
}

async fn write_logs(cluster: &Cluster, first_ms: i64) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = cluster.distributor.url("/loki/api/v1/push");
    for from in (0..LOG_STEPS).step_by(60) {
        let streams: Vec<Value> = (0..LOG_STREAMS)
            .map(|s| {
                let values: Vec<Value> = (from..(from + 60).min(LOG_STEPS))
                    .map(|i| {
                        let ns = (first_ms + i * LOG_STEP_MS) as i128 * 1_000_000;
                        json!([ns.to_string(), log_line(s, i)])
                    })
                    .collect();
                json!({"stream": {"job": "compactor", "stream": format!("{s:02}")}, "values": values})
            })
            .collect();
        let response = http
            .post(&url)
            .header("X-Scope-OrgID", TENANT)
            .json(&json!({ "streams": streams }))
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status.as_u16() == 204,
            "logs push: {status} {}",
            response.text().await?
        );
    }
    Ok(())
}

/// Trace `i`: a `checkout` root in `gateway`, `reserve` and `charge` in `ledger`, `notify` in
/// `mailer`, starting `i` × 12 s into the window.
fn trace(nonce: u64, i: usize, first_ms: i64) -> Vec<ResourceSpans> {
    let trace_id: Vec<u8> = [nonce.to_be_bytes(), (i as u64).to_be_bytes()].concat();
    let span_id = |s: u32| [(i as u32).to_be_bytes(), (s + 1).to_be_bytes()].concat();
    let start = (first_ms as u64 + i as u64 * 12_000) * 1_000_000;
    let tier = ["gold", "silver"][i % 2];
    let span = |s: u32, name: &str| Span {
        trace_id: trace_id.clone(),
        span_id: span_id(s),
        parent_span_id: if s == 0 { Vec::new() } else { span_id(0) },
        name: name.into(),
        kind: if s == 0 { 2 } else { 3 },
        start_time_unix_nano: start + u64::from(s) * 1_000_000,
        end_time_unix_nano: start + (40 - u64::from(s)) * 1_000_000,
        attributes: vec![
            kv("order.id", AttrValue::IntValue(i as i64)),
            kv("tier", AttrValue::StringValue(tier.into())),
        ],
        ..Default::default()
    };
    let service = |name: &str, spans: Vec<Span>| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", AttrValue::StringValue(name.into()))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    };
    vec![
        service("gateway", vec![span(0, "checkout")]),
        service("ledger", vec![span(1, "reserve"), span(2, "charge")]),
        service("mailer", vec![span(3, "notify")]),
    ]
}

/// Pushes every trace (25 per export); returns the spans pushed, by trace.
async fn write_traces(
    cluster: &Cluster,
    first_ms: i64,
) -> Result<BTreeMap<String, Vec<SpanRecord>>> {
    let tempo = TempoClient::new(cluster.distributor.url(""), Some(TENANT))?;
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let mut spans = Vec::new();
    for from in (0..TRACES).step_by(25) {
        let data = TracesData {
            resource_spans: (from..from + 25)
                .flat_map(|i| trace(nonce, i, first_ms))
                .collect(),
        };
        let outcome = tempo.push(&data).await?;
        ensure!(outcome.acknowledged(), "traces push: {outcome:?}");
        spans.extend(spans_of_traces_data(&data));
    }
    Ok(group_by_trace(&spans))
}

fn queries(first_ms: i64) -> Vec<AnswerQuery> {
    use AnswerApi::{Loki, Prometheus, TempoSearch};
    let last_ms = first_ms + WINDOW_MS - 1;
    let s = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let ns = |ms: i64| (ms as i128 * 1_000_000).to_string();
    let range = "/prometheus/api/v1/query_range";
    let instant = "/prometheus/api/v1/query";
    let prom_range = |q: &str, step: &str| {
        [
            ("query", q.to_string()),
            ("start", s(first_ms)),
            ("end", s(last_ms)),
            ("step", step.to_string()),
        ]
    };
    let prom_at = |q: &str, at: i64| [("query", q.to_string()), ("time", s(at))];
    let loki_range = |q: &str| {
        [
            ("query", q.to_string()),
            ("start", ns(first_ms)),
            ("end", ns(last_ms + 1)),
            ("limit", "5000".to_string()),
            ("direction", "forward".to_string()),
            ("step", "60s".to_string()),
        ]
    };
    let search = |q: &str| {
        [
            ("q", q.to_string()),
            ("limit", "1000".to_string()),
            ("start", (first_ms / 1000 - 1).to_string()),
            ("end", (last_ms / 1000 + 60).to_string()),
        ]
    };
    vec![
        AnswerQuery::new(
            "raw",
            Prometheus,
            range,
            &prom_range(r#"{__name__=~"e2e_compactor_.+"}"#, "15s"),
        ),
        AnswerQuery::new(
            "rate by code",
            Prometheus,
            range,
            &prom_range(
                "sum by (code) (rate(e2e_compactor_requests_total[2m]))",
                "60s",
            ),
        ),
        AnswerQuery::new(
            "count_over_time",
            Prometheus,
            instant,
            &prom_at(
                "count_over_time(e2e_compactor_requests_total[10m])",
                first_ms + 10 * MINUTE_MS,
            ),
        ),
        AnswerQuery::new(
            "sum by instance",
            Prometheus,
            instant,
            &prom_at("sum by (instance) (e2e_compactor_temperature)", last_ms),
        ),
        AnswerQuery::new(
            "count series",
            Prometheus,
            instant,
            &prom_at(r#"count({__name__=~"e2e_compactor_.+"})"#, last_ms),
        ),
        AnswerQuery::new(
            "log lines",
            Loki,
            "/loki/api/v1/query_range",
            &loki_range(r#"{job="compactor"}"#),
        ),
        AnswerQuery::new(
            "log line filter",
            Loki,
            "/loki/api/v1/query_range",
            &loki_range(r#"{job="compactor", stream="03"} |= "status=500""#),
        ),
        AnswerQuery::new(
            "log counts",
            Loki,
            "/loki/api/v1/query_range",
            &loki_range(r#"sum by (stream) (count_over_time({job="compactor"}[1m]))"#),
        ),
        AnswerQuery::new(
            "search mailer",
            TempoSearch,
            "/api/search",
            &search(r#"{ resource.service.name = "mailer" }"#),
        ),
        AnswerQuery::new(
            "search gold",
            TempoSearch,
            "/api/search",
            &search(r#"{ span.tier = "gold" }"#),
        ),
        AnswerQuery::new(
            "search charge",
            TempoSearch,
            "/api/search",
            &search(r#"{ name = "charge" }"#),
        ),
    ]
}

/// What the distinct input implies for some answers: `(query, what is counted, expected)`.
fn expected_counts(answers: &BTreeMap<String, Value>) -> Vec<(String, usize, usize)> {
    let traces = |name: &str| answers[name]["traces"].as_array().map_or(0, Vec::len);
    let cases = [
        (
            "raw points",
            points(&answers["raw"]),
            INSTANCES * 5 * POINTS as usize,
        ),
        (
            "log lines",
            points(&answers["log lines"]),
            LOG_STREAMS * LOG_STEPS as usize,
        ),
        ("traces with mailer", traces("search mailer"), TRACES),
        ("gold traces", traces("search gold"), TRACES / 2),
        ("traces with charge", traces("search charge"), TRACES),
    ];
    cases
        .into_iter()
        .map(|(what, got, want)| (what.to_string(), got, want))
        .collect()
}

/// Every trace by ID, checked against what was pushed; the number of spans read.
async fn check_traces_by_id(
    tempo: &TempoClient,
    expected: &BTreeMap<String, Vec<SpanRecord>>,
) -> Result<usize> {
    let mut spans = 0;
    for (id, want) in expected {
        let got = tempo
            .trace_by_id(TempoApi::V2, TempoFormat::Protobuf, id)
            .await?
            .unwrap_or_default();
        check_same_spans(&format!("trace {id}"), want, &got)?;
        spans += got.len();
    }
    Ok(spans)
}

/// Bytes of the tenant's complete blocks per signal and source.
fn stored_bytes(bucket: &Path) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
    SIGNALS
        .iter()
        .map(|signal| {
            let blocks = tenant_blocks(bucket, signal, TENANT).complete;
            (*signal, bytes_by_source(&blocks))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster and a compactor (make e2e)"]
async fn e2e_compactor_rf3_answers_unchanged_and_one_copy_stored() -> Result<()> {
    let bucket = tempfile::tempdir()?;
    answers_unchanged_and_one_copy_stored(&filesystem_storage(bucket.path()), bucket.path()).await
}

/// The same on a real S3 server (`s3s-fs`) standing in for MinIO: listing, deletion marks,
/// partial blocks and deletes through the S3 API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns a cluster, s3s-fs and a compactor (make e2e)"]
async fn e2e_compactor_rf3_on_s3_answers_unchanged_and_one_copy_stored() -> Result<()> {
    let server = S3sFs::start("blocks").await?;
    let storage = server.storage_flags("blocks");
    answers_unchanged_and_one_copy_stored(&storage, &server.root().join("blocks")).await
}

/// The test on the bucket of the `storage` flags, whose objects appear as files under
/// `bucket` (read to check blocks, marks and bytes).
async fn answers_unchanged_and_one_copy_stored(storage: &[String], bucket: &Path) -> Result<()> {
    let flags = cluster_flags(storage, "metrics,logs,traces");
    let cluster = Cluster::start(3, &flags).await?;
    for ring in [
        INGESTER_METRICS_RING,
        INGESTER_LOGS_RING,
        INGESTER_TRACES_RING,
    ] {
        cluster
            .distributor
            .wait_for_ring(ring, TIMEOUT, "3 ACTIVE ingesters", |r| {
                r.instances.len() == 3 && r.active_healthy() == 3
            })
            .await?;
    }
    let seed = cluster.ingesters[0].memberlist_addr();
    let querier = start_process("querier", "querier", seed, &flags).await?;

    let first_ms = first_ms()?;
    write_metrics(&cluster, first_ms).await?;
    write_logs(&cluster, first_ms).await?;
    let expected_traces = write_traces(&cluster, first_ms).await?;
    // traces are complete once idle for a second
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tenants = [TENANT.to_string()];
    upload_everything(&cluster, bucket, &SIGNALS, &tenants, TIMEOUT).await?;

    let queries = queries(first_ms);
    let client = AnswerClient::new(querier.url(""), TENANT)?;
    let tempo = TempoClient::new(querier.url(""), Some(TENANT))?;
    // the querier re-reads bucket indexes every second: wait until it sees every block
    let before = wait_for(TIMEOUT, "complete answers before compaction", || async {
        let answers = client.answers(&queries).await?;
        let wrong: Vec<_> = expected_counts(&answers)
            .into_iter()
            .filter(|(_, got, want)| got != want)
            .collect();
        ensure!(wrong.is_empty(), "(what, got, want): {wrong:?}");
        Ok(Some(answers))
    })
    .await?;
    let spans = check_traces_by_id(&tempo, &expected_traces).await?;
    let bytes_before = stored_bytes(bucket);
    eprintln!("before compaction: {spans} spans by ID; bytes per source {bytes_before:?}");

    let compactor_flags = compactor_flags(storage, "metrics,logs,traces");
    let compactor = start_compactor("compactor", seed, &compactor_flags).await?;
    compactor
        .wait_for_ring(COMPACTOR_METRICS_RING, TIMEOUT, "1 ACTIVE compactor", |r| {
            r.active_healthy() == 1
        })
        .await?;
    for signal in SIGNALS {
        wait_compacted(bucket, signal, &tenants, COMPACTION_TIMEOUT)
            .await
            .with_context(|| compactor.logs_tail())?;
    }
    // marks are gone, so the sources were deleted ≥ 3 s after the querier stopped using them
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = client.answers(&queries).await?;
    let diff = differences(&before, &after);
    ensure!(
        diff.is_empty(),
        "answers changed by compaction:\n{}",
        diff.join("\n")
    );
    let spans_after = check_traces_by_id(&tempo, &expected_traces).await?;
    eprintln!(
        "after compaction: {} answers identical, {spans_after} spans by ID",
        after.len()
    );
    let bytes_after = stored_bytes(bucket);
    for (signal, sources) in &bytes_after {
        ensure!(
            sources.keys().all(|s| s == "compactor"),
            "{signal}: blocks left by {:?}, want only the compactor's",
            sources.keys().collect::<Vec<_>>()
        );
    }
    report_and_check_bytes(&bytes_before, &bytes_after)?;
    let metrics = compactor.metrics_text().await?;
    for name in [
        "sextant_compactor_runs_total",
        "sextant_compactor_blocks_compacted_total",
        "sextant_compactor_bytes_saved_total",
    ] {
        eprintln!("{name}: {:?}", metric_sum(&metrics, name));
    }
    Ok(())
}

/// Prints per signal the bytes of each ingester's copy, their sum and what compaction left,
/// and checks the rest is at most [`MAX_BYTES_RATIO`] × the largest copy.
fn report_and_check_bytes(
    before: &BTreeMap<&'static str, BTreeMap<String, u64>>,
    after: &BTreeMap<&'static str, BTreeMap<String, u64>>,
) -> Result<()> {
    let mut failures = Vec::new();
    eprintln!("| signal | one copy (largest) | before (3 copies) | after | after / one copy |");
    eprintln!("|---|---|---|---|---|");
    for signal in SIGNALS {
        let one_copy = before[signal].values().copied().max().unwrap_or(0);
        let total_before: u64 = before[signal].values().sum();
        let total_after: u64 = after[signal].values().sum();
        let ratio = total_after as f64 / one_copy.max(1) as f64;
        eprintln!("| {signal} | {one_copy} | {total_before} | {total_after} | {ratio:.3} |");
        if ratio > MAX_BYTES_RATIO || total_after == 0 {
            failures.push(format!(
                "{signal}: {total_after} bytes after compaction, one copy is {one_copy}"
            ));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("; "));
    Ok(())
}
