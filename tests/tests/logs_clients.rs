//! Real logging clients against one `sextant -target=all` (RF=1), run by `make e2e`:
//! - python-logging-loki's `LokiHandler` (JSON to `/loki/api/v1/push`, tags and extra tags);
//! - the OpenTelemetry Python SDK (`LoggerProvider`, `BatchLogRecordProcessor`,
//!   `OTLPLogExporter`) over OTLP/HTTP (`/otlp/v1/logs`) and over OTLP gRPC (gzip, the tenant
//!   in the `x-scope-orgid` metadata).
//!
//! Each line sent comes back through `/loki/api/v1/query_range` with its stream labels and its
//! structured metadata (merged into the stream, as Loki 3 answers without the
//! `categorize-labels` flag), and `/loki/api/v1/series` shows which of them are stream labels.
//! The Promtail-shaped protobuf + snappy push is covered by `logs_round_trip.rs`.
//!
//! The scripts live in `tests/python/`; their Python is `$SEXTANT_E2E_PYTHON`, by default the
//! venv `tests/setup-e2e.sh` creates (`target/e2e-venv/bin/python`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use sextant_e2e::cluster::READY_TIMEOUT;
use sextant_e2e::ring::INGESTER_LOGS_RING;
use sextant_e2e::{python, wait_for, ProcessSpec, SextantProcess};

/// Lines each client sends.
const LINES: usize = 20;
const TENANT: &str = "team-otel";
/// How long a query may take to see every line.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

/// Labels of one returned entry (stream labels and structured metadata), its line.
type Entry = (BTreeMap<String, String>, String);

/// Runs `tests/python/<script>` and returns the JSON objects it printed, one per line sent.
async fn run_script(script: &str, args: Vec<String>) -> Result<Vec<Value>> {
    let stdout = python::run_script(script, args).await?;
    let sent = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()
        .with_context(|| format!("{script} printed {stdout}"))?;
    ensure!(
        sent.len() == LINES,
        "{script} sent {} lines:\n{stdout}",
        sent.len()
    );
    Ok(sent)
}

/// `sextant -target=all` with every logs and metrics ring at RF=1, its logs ingester ACTIVE.
async fn start(multitenant: bool) -> Result<SextantProcess> {
    let spec = ProcessSpec::new("all", "all").flags([
        "-ingester.metrics.replication-factor=1",
        "-ingester.logs.replication-factor=1",
        "-ingester.lifecycler.heartbeat-period=1s",
        if multitenant {
            "-multitenancy-enabled=true"
        } else {
            "-multitenancy-enabled=false"
        },
    ]);
    let mut process = SextantProcess::spawn(spec)?;
    process.wait_ready(READY_TIMEOUT).await?;
    process
        .wait_for_ring(
            INGESTER_LOGS_RING,
            Duration::from_secs(30),
            "1 ACTIVE",
            |r| r.active_healthy() == 1,
        )
        .await?;
    Ok(process)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The last and next ten minutes, in nanoseconds.
fn window() -> (String, String) {
    let ten_minutes = 600 * 1_000_000_000;
    let now = now_ns();
    (
        (now - ten_minutes).to_string(),
        (now + ten_minutes).to_string(),
    )
}

/// A Loki API client of one process, as one tenant (or none).
struct Loki<'a> {
    process: &'a SextantProcess,
    org: Option<&'a str>,
    http: reqwest::Client,
}

impl<'a> Loki<'a> {
    fn new(process: &'a SextantProcess, org: Option<&'a str>) -> Self {
        Loki {
            process,
            org,
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value> {
        let mut request = self.http.get(self.process.url(path)).query(params);
        if let Some(org) = self.org {
            request = request.header("X-Scope-OrgID", org);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status == 200, "GET {path} {params:?}: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// Every entry `query` returns over the window, forward.
    async fn query_range(&self, query: &str) -> Result<Vec<Entry>> {
        let (start, end) = window();
        let params = [
            ("query", query),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("limit", "1000"),
            ("direction", "forward"),
        ];
        let body = self.get("/loki/api/v1/query_range", &params).await?;
        let streams = body["data"]["result"].as_array().context("no result")?;
        let mut entries = Vec::new();
        for stream in streams {
            let labels: BTreeMap<String, String> =
                serde_json::from_value(stream["stream"].clone())?;
            for value in stream["values"].as_array().context("no values")? {
                let line = value[1].as_str().context("no line")?;
                entries.push((labels.clone(), line.to_string()));
            }
        }
        Ok(entries)
    }

    /// Polls `query` until it returns `n` entries.
    async fn wait_for_entries(&self, query: &str, n: usize) -> Result<Vec<Entry>> {
        wait_for(QUERY_TIMEOUT, &format!("{n} lines for {query}"), || async {
            let entries = self.query_range(query).await?;
            ensure!(
                entries.len() <= n,
                "{} lines for {query}: {entries:#?}",
                entries.len()
            );
            Ok((entries.len() == n).then_some(entries))
        })
        .await
    }

    /// The stream label sets of `/loki/api/v1/series` for one matcher.
    async fn series(&self, matcher: &str) -> Result<Vec<BTreeMap<String, String>>> {
        let (start, end) = window();
        let params = [("match[]", matcher), ("start", &start), ("end", &end)];
        let body = self.get("/loki/api/v1/series", &params).await?;
        Ok(serde_json::from_value(body["data"].clone())?)
    }
}

fn run_id() -> String {
    format!("{:x}", now_ns())
}

/// The entry whose line is `line`, and that it is the only one.
fn entry_for<'e>(entries: &'e [Entry], line: &str) -> Result<&'e BTreeMap<String, String>> {
    let found: Vec<&Entry> = entries.iter().filter(|(_, l)| l == line).collect();
    ensure!(
        found.len() == 1,
        "{} entries with the line {line:?}",
        found.len()
    );
    Ok(&found[0].0)
}

fn field<'v>(record: &'v Value, name: &str) -> Result<&'v str> {
    record[name]
        .as_str()
        .with_context(|| format!("no {name} in {record}"))
}

fn label_names(labels: &BTreeMap<String, String>) -> Vec<&str> {
    labels.keys().map(String::as_str).collect()
}

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and the Python venv of tests/setup-e2e.sh"]
async fn e2e_logs_clients_python_logging_loki() -> Result<()> {
    let process = start(false).await?;
    let run = run_id();
    let url = process.url("/loki/api/v1/push");
    let lines = LINES.to_string();
    let args = ["--url", &url, "--run", &run, "--lines", &lines];
    let sent = run_script("loki_handler.py", args.map(String::from).to_vec()).await?;

    let loki = Loki::new(&process, None);
    let query = format!(r#"{{application="e2e-loki-handler", run="{run}"}}"#);
    let entries = loki.wait_for_entries(&query, LINES).await?;
    for record in &sent {
        let line = field(record, "line")?;
        let labels = entry_for(&entries, line)?;
        let want: BTreeMap<String, String> = [
            ("application", "e2e-loki-handler"),
            ("logger", "e2e.orders"),
            ("request_id", field(record, "request_id")?),
            ("run", run.as_str()),
            // discovered from `application`, as Loki 3 does
            ("service_name", "e2e-loki-handler"),
            ("severity", field(record, "severity")?),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ensure!(*labels == want, "{line}: got {labels:?}, want {want:?}");
    }
    // Every tag is a stream label: one stream per request id.
    let series = loki.series(&query).await?;
    ensure!(
        series.len() == LINES,
        "{} series: {series:#?}",
        series.len()
    );
    let warnings = loki
        .query_range(&format!(
            r#"{{run="{run}", severity="warning"}} |= "handler line""#
        ))
        .await?;
    ensure!(warnings.len() == LINES / 2, "{} warnings", warnings.len());
    Ok(())
}

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and the Python venv of tests/setup-e2e.sh"]
async fn e2e_logs_clients_otel_sdk_http() -> Result<()> {
    let process = start(true).await?;
    let endpoint = process.url("/otlp/v1/logs");
    otel_sdk_round_trip(&process, "http", &endpoint, false).await
}

#[tokio::test]
#[ignore = "e2e: needs target/debug/sextant and the Python venv of tests/setup-e2e.sh"]
async fn e2e_logs_clients_otel_sdk_grpc() -> Result<()> {
    let process = start(true).await?;
    let endpoint = format!("http://{}", process.otlp_grpc_addr());
    otel_sdk_round_trip(&process, "grpc", &endpoint, true).await
}

/// Exports `LINES` records as tenant [`TENANT`] and reads them back as Loki 3 maps OTLP:
/// the indexed resource attributes as stream labels, everything else as structured metadata.
async fn otel_sdk_round_trip(
    process: &SextantProcess,
    protocol: &str,
    endpoint: &str,
    gzip: bool,
) -> Result<()> {
    let run = run_id();
    let service = format!("checkout-{protocol}");
    let lines = LINES.to_string();
    let mut args: Vec<String> = [
        "--protocol",
        protocol,
        "--endpoint",
        endpoint,
        "--service",
        &service,
        "--run",
        &run,
        "--lines",
        &lines,
        "--org-id",
        TENANT,
    ]
    .map(String::from)
    .to_vec();
    if gzip {
        args.push("--gzip".to_string());
    }
    let sent = run_script("otel_logs.py", args).await?;

    let loki = Loki::new(process, Some(TENANT));
    let query = format!(r#"{{service_name="{service}"}}"#);
    let entries = loki.wait_for_entries(&query, LINES).await?;
    for (i, record) in sent.iter().enumerate() {
        check_otel_entry(&entries, record, i, &service)?;
    }

    // Only the indexed resource attributes are stream labels; the rest is metadata.
    let series = loki.series(&query).await?;
    ensure!(series.len() == 1, "{series:#?}");
    let names = label_names(&series[0]);
    let want = [
        "deployment_environment",
        "service_instance_id",
        "service_name",
    ];
    ensure!(names == want, "stream labels {names:?}, want {want:?}");

    // Structured metadata is queryable: one line per trace id.
    let traced = field(&sent[0], "trace_id")?;
    let by_trace = loki
        .query_range(&format!(r#"{query} | trace_id="{traced}""#))
        .await?;
    ensure!(
        by_trace.len() == 1 && by_trace[0].1 == field(&sent[0], "line")?,
        "{by_trace:#?}"
    );
    // The tenant came from the exporter's header / metadata.
    let other = Loki::new(process, Some("someone-else"));
    ensure!(
        other.query_range(&query).await?.is_empty(),
        "another tenant sees the lines"
    );
    Ok(())
}

/// The labels and metadata of record `i` as the SDK sent it (see `tests/python/otel_logs.py`).
fn check_otel_entry(entries: &[Entry], record: &Value, i: usize, service: &str) -> Result<()> {
    let line = field(record, "line")?;
    let labels = entry_for(entries, line)?;
    let order = format!("o{i}");
    let attempt = i.to_string();
    let mut want: Vec<(&str, &str)> = vec![
        ("service_name", service),
        ("deployment_environment", "e2e"),
        ("host_name", "e2e-host"),
        ("telemetry_sdk_language", "python"),
        ("telemetry_sdk_name", "opentelemetry"),
        ("scope_name", "e2e.checkout"),
        ("scope_version", "1.2.3"),
        ("severity_text", "INFO"),
        ("severity_number", "9"),
        ("order_id", &order),
        ("attempt", &attempt),
    ];
    let trace_id = field(record, "trace_id")?;
    let span_id = field(record, "span_id")?;
    if trace_id.is_empty() {
        ensure!(
            !labels.contains_key("trace_id") && !labels.contains_key("span_id"),
            "{line}: ids outside a span: {labels:?}"
        );
    } else {
        want.extend([("trace_id", trace_id), ("span_id", span_id)]);
    }
    for (name, value) in want {
        ensure!(
            labels.get(name).map(String::as_str) == Some(value),
            "{line}: {name} is {:?}, want {value:?}, in {labels:?}",
            labels.get(name)
        );
    }
    ensure!(
        labels
            .get("service_instance_id")
            .is_some_and(|id| !id.is_empty()),
        "{line}: no service_instance_id in {labels:?}"
    );
    Ok(())
}
