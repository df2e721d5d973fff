//! Loki log deletion requests end to end, in one `sextant -target=all` process: lines pushed
//! through the Loki API, a `POST /loki/api/v1/delete` for one stream's lines matching a line
//! filter, then
//! - the querier stops returning exactly those lines (log and metric queries) within seconds,
//!   while they still sit in the ingester (Loki's `filter-and-delete`);
//! - `GET /loki/api/v1/delete` lists the request;
//! - once the ingester flushed its block, the compactor (cancel period 1 s) rewrites it without
//!   them and reports the request `processed` with the number of entries it deleted; the
//!   answers stay the same after the ingester dropped its copy.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sextant_e2e::cluster::READY_TIMEOUT;
use sextant_e2e::compactor::LOGS_FLUSH_PATH;
use sextant_e2e::ring::INGESTER_LOGS_RING;
use sextant_e2e::{wait_for, ProcessSpec, SextantProcess};

const TENANT: &str = "deletions";
const TIMEOUT: Duration = Duration::from_secs(60);
const PROCESSING_TIMEOUT: Duration = Duration::from_secs(120);
/// Where the lines are: `(app, line)`; the request deletes `app="web"` lines with `secret`.
const LINES: [(&str, &str); 6] = [
    ("web", "GET /login token=secret-1"),
    ("web", "GET /home"),
    ("web", "POST /login token=secret-2"),
    ("web", "GET /about"),
    ("db", "query user secret-3"),
    ("db", "vacuum"),
];
const DELETED: [&str; 2] = ["GET /login token=secret-1", "POST /login token=secret-2"];

async fn start() -> Result<SextantProcess> {
    let spec = ProcessSpec::new("all", "all").flags([
        "-signals=logs",
        "-multitenancy-enabled=true",
        "-ingester.logs.replication-factor=1",
        "-ingester.lifecycler.heartbeat-period=1s",
        "-ingester.logs.block-check-interval=1s",
        "-ingester.logs.retain-after-upload=1s",
        "-querier.bucket-index-refresh=1s",
        "-compactor.compaction-interval=1s",
        "-compactor.delete-request-cancel-period=1s",
        "-compactor.ring.heartbeat-period=1s",
    ]);
    let mut process = SextantProcess::spawn(spec)?;
    process.wait_ready(READY_TIMEOUT).await?;
    process
        .wait_for_ring(INGESTER_LOGS_RING, TIMEOUT, "1 ACTIVE", |r| {
            r.active_healthy() == 1
        })
        .await?;
    Ok(process)
}

fn now_ms() -> Result<i64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64)
}

/// The tenant's Loki API on one process.
struct Loki<'a> {
    process: &'a SextantProcess,
    http: reqwest::Client,
    run: String,
    /// The query window, Unix seconds.
    start_s: i64,
    end_s: i64,
}

impl Loki<'_> {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, String)> {
        let response = request.header("X-Scope-OrgID", TENANT).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value> {
        let request = self.http.get(self.process.url(path)).query(params);
        let (status, body) = self.send(request).await?;
        ensure!(status == 200, "GET {path} {params:?}: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// Pushes [`LINES`] (JSON), one a second ending a minute ago.
    async fn push(&self, first_ns: i64) -> Result<()> {
        let mut streams: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for (i, (app, line)) in LINES.iter().enumerate() {
            let ts = first_ns + i as i64 * 1_000_000_000;
            streams
                .entry(app)
                .or_default()
                .push(json!([ts.to_string(), line]));
        }
        let body = json!({"streams": streams.iter().map(|(app, values)| json!({
            "stream": {"app": app, "run": self.run},
            "values": values,
        })).collect::<Vec<_>>()});
        let request = self
            .http
            .post(self.process.url("/loki/api/v1/push"))
            .json(&body);
        let (status, text) = self.send(request).await?;
        ensure!(status == 204, "push: {status} {text}");
        Ok(())
    }

    /// Every `(app, line)` of the run over the window, in time order.
    async fn lines(&self) -> Result<Vec<(String, String)>> {
        let params = [
            ("query", format!(r#"{{run="{}"}}"#, self.run)),
            ("start", self.start_s.to_string()),
            ("end", self.end_s.to_string()),
            ("limit", "1000".into()),
            ("direction", "forward".into()),
        ];
        let body = self.get("/loki/api/v1/query_range", &params).await?;
        let mut out = Vec::new();
        for stream in body["data"]["result"].as_array().context("no result")? {
            let app = stream["stream"]["app"].as_str().context("no app")?;
            for value in stream["values"].as_array().context("no values")? {
                let ts: i64 = value[0].as_str().context("no ts")?.parse()?;
                out.push((ts, app.to_string(), value[1].as_str().context("no line")?));
            }
        }
        out.sort();
        Ok(out
            .into_iter()
            .map(|(_, app, line)| (app, line.to_string()))
            .collect())
    }

    /// `sum by (app) (count_over_time(...))` over the window, at its end.
    async fn counts(&self) -> Result<BTreeMap<String, f64>> {
        let range = self.end_s - self.start_s;
        let params = [
            (
                "query",
                format!(
                    r#"sum by (app) (count_over_time({{run="{}"}}[{range}s]))"#,
                    self.run
                ),
            ),
            ("time", self.end_s.to_string()),
        ];
        let body = self.get("/loki/api/v1/query", &params).await?;
        let mut out = BTreeMap::new();
        for item in body["data"]["result"].as_array().context("no result")? {
            let app = item["metric"]["app"].as_str().context("no app")?;
            let value: f64 = item["value"][1].as_str().context("no value")?.parse()?;
            out.insert(app.to_string(), value);
        }
        Ok(out)
    }

    /// The tenant's deletion requests of this run's query.
    async fn requests(&self, query: &str) -> Result<Vec<Value>> {
        let body = self.get("/loki/api/v1/delete", &[]).await?;
        let all = body.as_array().context("not a list")?;
        Ok(all
            .iter()
            .filter(|r| r["query"] == query)
            .cloned()
            .collect())
    }
}

fn expected(deleted: bool) -> Vec<(String, String)> {
    LINES
        .iter()
        .filter(|(app, line)| !(deleted && *app == "web" && DELETED.contains(line)))
        .map(|(app, line)| (app.to_string(), line.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "spawns sextant (make e2e)"]
async fn e2e_log_deletion_filters_at_once_and_the_compactor_applies_it() -> Result<()> {
    let process = start().await?;
    let now_ms = now_ms()?;
    let loki = Loki {
        process: &process,
        http: reqwest::Client::new(),
        run: format!("r{now_ms}"),
        start_s: now_ms / 1000 - 600,
        end_s: now_ms / 1000 + 1,
    };
    loki.push((now_ms - 60_000) * 1_000_000).await?;
    let before = wait_for(TIMEOUT, "the pushed lines", || async {
        let lines = loki.lines().await?;
        Ok((lines == expected(false)).then_some(lines))
    })
    .await?;
    let counts_before = loki.counts().await?;
    ensure!(
        counts_before == BTreeMap::from([("db".into(), 2.0), ("web".into(), 4.0)]),
        "{counts_before:?}"
    );

    let query = format!(r#"{{app="web", run="{}"}} |= "secret""#, loki.run);
    let request = loki.http.post(process.url("/loki/api/v1/delete")).query(&[
        ("query", query.clone()),
        ("start", loki.start_s.to_string()),
        ("end", loki.end_s.to_string()),
    ]);
    let (status, body) = loki.send(request).await?;
    ensure!(status == 204, "delete: {status} {body}");

    // the querier re-reads the requests every second; the lines are still in the ingester
    wait_for(TIMEOUT, "the lines filtered at query time", || async {
        Ok((loki.lines().await? == expected(true)).then_some(()))
    })
    .await?;
    let counts = loki.counts().await?;
    ensure!(
        counts == BTreeMap::from([("db".into(), 2.0), ("web".into(), 2.0)]),
        "{counts:?}"
    );
    eprintln!(
        "before: {} lines, after the request: {:?}",
        before.len(),
        counts
    );
    ensure!(
        loki.requests(&query).await?.len() == 1,
        "the request is not listed"
    );

    let flush = loki.http.post(process.url(LOGS_FLUSH_PATH));
    let (status, body) = loki.send(flush).await?;
    ensure!(status == 204, "flush: {status} {body}");
    let processed = wait_for(
        PROCESSING_TIMEOUT,
        "the request processed with its 2 entries deleted",
        || async {
            let requests = loki.requests(&query).await?;
            let request = requests.first().context("request gone")?;
            let done = request["status"] == "processed" && request["entries_deleted"] == 2;
            Ok(done.then(|| request.clone()))
        },
    )
    .await
    .with_context(|| process.logs_tail())?;
    eprintln!("processed: {processed}");
    // the ingester dropped its copy a second after the upload: only the rewritten block is left
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(
        loki.lines().await? == expected(true),
        "lines after processing"
    );
    ensure!(loki.counts().await? == counts, "counts after processing");
    Ok(())
}
