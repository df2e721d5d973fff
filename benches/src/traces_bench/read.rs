//! The read side of the traces benchmark, against the same running Sextant:
//!
//! - stored bytes: `POST /ingester/traces/flush` (every live trace cut into a block and
//!   uploaded), then the growth of the `traces/` directory of the filesystem bucket;
//! - trace by ID: `GET /api/traces/<id>` (`Accept: application/protobuf`, as Grafana asks)
//!   over random IDs the push accepted, one request at a time;
//! - TraceQL search: `GET /api/search?q=` over the push's time window, one at a time.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sextant_proto::otlp::trace::v1::TracesData;

use super::gen::SPANS_PER_TRACE;
use super::report::{LookupResult, SearchResult, StoredResult};
use crate::logs_bench::quantile;

/// The searches timed by default: a service and status, an attribute, a duration, a span
/// name with an attribute, a structural query.
pub const DEFAULT_QUERIES: [&str; 5] = [
    r#"{ resource.service.name = "payments" && status = error }"#,
    r#"{ span.customer.tier = "platinum" && span.http.response.status_code = 500 }"#,
    "{ duration > 1s }",
    r#"{ name = "GET /cart/{id}" && span.user.id = "u004242" }"#,
    r#"{ resource.service.name = "frontend" } >> { span.db.system = "redis" }"#,
];

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of every file under `dir` (0 when it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn get(client: &reqwest::Client, url: String, tenant: Option<&str>) -> reqwest::RequestBuilder {
    let request = client.get(url);
    match tenant {
        Some(t) => request.header("X-Scope-OrgID", t),
        None => request,
    }
}

/// Flushes the target's traces ingesters and measures what the `traces/` directory of the
/// bucket `storage_dir` grew by since `bytes_before`, per span accepted.
pub async fn flush_and_measure(
    client: &reqwest::Client,
    url: &str,
    storage_dir: &Path,
    bytes_before: u64,
    spans_acked: u64,
) -> anyhow::Result<StoredResult> {
    let t0 = Instant::now();
    let response = client
        .post(format!("{url}/ingester/traces/flush"))
        .timeout(Duration::from_secs(600))
        .send()
        .await?;
    let status = response.status();
    ensure!(
        status.is_success(),
        "POST /ingester/traces/flush: {status} {}",
        response.text().await?
    );
    let flush_s = t0.elapsed().as_secs_f64();
    let bytes_after = dir_bytes(&storage_dir.join("traces"));
    let stored = bytes_after.saturating_sub(bytes_before);
    Ok(StoredResult {
        storage_dir: storage_dir.display().to_string(),
        flush_s,
        bytes_before,
        bytes_after,
        bytes_per_span: stored as f64 / spans_acked.max(1) as f64,
    })
}

/// What one trace-by-ID request found: `Some(spans)`, `None` for a 404.
async fn lookup(
    client: &reqwest::Client,
    url: &str,
    tenant: Option<&str>,
    id: &[u8; 16],
) -> anyhow::Result<Option<usize>> {
    let response = get(client, format!("{url}/api/traces/{}", hex(id)), tenant)
        .header("Accept", "application/protobuf")
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if status == 404 {
        return Ok(None);
    }
    ensure!(
        status == 200,
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let trace = TracesData::decode(body.as_ref()).context("decode the trace")?;
    let spans = trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    Ok(Some(spans))
}

/// Times `n` lookups of IDs drawn at random from `ids`, one at a time.
pub async fn time_lookups(
    client: &reqwest::Client,
    url: &str,
    tenant: Option<&str>,
    ids: &[[u8; 16]],
    n: usize,
    seed: u64,
) -> LookupResult {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut r = LookupResult {
        traces_known: ids.len() as u64,
        ..LookupResult::default()
    };
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..if ids.is_empty() { 0 } else { n } {
        let id = &ids[rng.random_range(0..ids.len())];
        let t0 = Instant::now();
        let found = lookup(client, url, tenant, id).await;
        latencies.push(t0.elapsed().as_secs_f64() * 1e3);
        r.lookups += 1;
        match found {
            Ok(Some(SPANS_PER_TRACE)) => r.found_whole += 1,
            Ok(Some(_)) => r.found_partial += 1,
            Ok(None) => r.not_found += 1,
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    r.p50_ms = quantile(&latencies, 0.5);
    r.p99_ms = quantile(&latencies, 0.99);
    r
}

/// Traces found by one search.
async fn search(
    client: &reqwest::Client,
    url: &str,
    tenant: Option<&str>,
    params: &[(&str, String)],
) -> anyhow::Result<usize> {
    let response = get(client, format!("{url}/api/search"), tenant)
        .query(params)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    ensure!(status == 200, "{status}: {body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    body["traces"]
        .as_array()
        .map(Vec::len)
        .with_context(|| format!("no traces in {body}"))
}

/// Times each query `runs` times over `[start_s, end_s]` (Unix seconds), at most `limit`
/// traces each.
pub async fn time_searches(
    client: &reqwest::Client,
    url: &str,
    tenant: Option<&str>,
    queries: &[String],
    runs: usize,
    (start_s, end_s): (i64, i64),
    limit: usize,
) -> Vec<SearchResult> {
    let mut results = Vec::with_capacity(queries.len());
    for query in queries {
        let params = [
            ("q", query.clone()),
            ("limit", limit.to_string()),
            ("start", start_s.to_string()),
            ("end", end_s.to_string()),
        ];
        let mut r = SearchResult {
            query: query.clone(),
            runs,
            ..SearchResult::default()
        };
        let mut latencies = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t0 = Instant::now();
            let found = search(client, url, tenant, &params).await;
            latencies.push(t0.elapsed().as_secs_f64() * 1e3);
            match found {
                Ok(n) => r.traces_found = n,
                Err(e) => {
                    r.errors += 1;
                    r.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        r.p50_ms = quantile(&latencies, 0.5);
        r.p99_ms = quantile(&latencies, 0.99);
        results.push(r);
    }
    results
}
