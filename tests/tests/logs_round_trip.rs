//! The logs path in one process (`-target=all`, RF=1): lines pushed the way Promtail
//! (protobuf + snappy) and python-logging-loki (JSON) send them come back through the Loki
//! API with their labels and structured metadata, and metric queries count them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use prost::Message;
use serde_json::{json, Value};
use sextant_e2e::cluster::start_single;
use sextant_e2e::ring::INGESTER_LOGS_RING;
use sextant_proto::loki::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};

const LINES: i64 = 50;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A Promtail-shaped push: snappy-compressed `logproto.PushRequest`, entries with metadata.
fn promtail_body(base_ns: i64) -> Vec<u8> {
    let entries = (0..LINES)
        .map(|i| {
            let ts = base_ns + i * 1_000_000_000;
            EntryAdapter {
                timestamp: Some(prost_types_timestamp(ts)),
                line: format!(
                    "level=info msg=\"request {i}\" status={}",
                    200 + i % 2 * 300
                ),
                structured_metadata: vec![LabelPairAdapter {
                    name: "trace_id".into(),
                    value: format!("t{i}"),
                }],
                parsed: Vec::new(),
            }
        })
        .collect();
    let request = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{app="e2e", source="promtail"}"#.into(),
            entries,
            hash: 0,
        }],
        format: String::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

fn prost_types_timestamp(ns: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ns / 1_000_000_000,
        nanos: (ns % 1_000_000_000) as i32,
    }
}

/// A python-logging-loki-shaped push: JSON with string nanosecond timestamps.
fn json_body(base_ns: i64) -> Value {
    let values: Vec<Value> = (0..LINES)
        .map(|i| {
            json!([
                (base_ns + i * 1_000_000_000).to_string(),
                format!("json line {i}")
            ])
        })
        .collect();
    json!({"streams": [{"stream": {"app": "e2e", "source": "python", "severity": "info"}, "values": values}]})
}

#[tokio::test]
async fn lines_pushed_like_promtail_and_python_come_back_through_the_loki_api() -> Result<()> {
    let process = start_single(&["-ingester.logs.replication-factor=1".to_string()]).await?;
    process
        .wait_for_ring(
            INGESTER_LOGS_RING,
            Duration::from_secs(30),
            "1 ACTIVE",
            |r| r.active_healthy() == 1,
        )
        .await?;
    let http = reqwest::Client::new();
    let base_ns = now_ns() - 10 * 60 * 1_000_000_000;

    let response = http
        .post(process.url("/loki/api/v1/push"))
        .header("Content-Type", "application/x-protobuf")
        .body(promtail_body(base_ns))
        .send()
        .await?;
    ensure!(
        response.status() == 204,
        "protobuf push: {} {}",
        response.status(),
        response.text().await?
    );
    let response = http
        .post(process.url("/loki/api/v1/push"))
        .json(&json_body(base_ns))
        .send()
        .await?;
    ensure!(
        response.status() == 204,
        "json push: {} {}",
        response.status(),
        response.text().await?
    );

    let (start, end) = (base_ns - 1, base_ns + (LINES + 1) * 1_000_000_000);
    let streams = query_range(
        &http,
        &process.url("/loki/api/v1/query_range"),
        r#"{app="e2e"}"#,
        start,
        end,
    )
    .await?;
    let result = streams["data"]["result"]
        .as_array()
        .context("streams result")?;
    let mut promtail_lines = 0;
    let mut python_lines = 0;
    for stream in result {
        let labels = &stream["stream"];
        let values = stream["values"].as_array().context("values")?;
        match labels["source"].as_str() {
            Some("promtail") => {
                // structured metadata is folded into the stream labels
                ensure!(labels["trace_id"].is_string(), "no trace_id in {labels}");
                promtail_lines += values.len();
            }
            Some("python") => {
                ensure!(labels["severity"] == "info", "{labels}");
                ensure!(
                    labels["service_name"] == "e2e",
                    "service_name discovered from app: {labels}"
                );
                python_lines += values.len();
            }
            other => anyhow::bail!("unexpected stream {other:?}: {labels}"),
        }
    }
    ensure!(
        promtail_lines == LINES as usize && python_lines == LINES as usize,
        "promtail {promtail_lines}, python {python_lines} of {LINES} each"
    );

    let counts = query_range(
        &http,
        &process.url("/loki/api/v1/query"),
        r#"sum by (source) (count_over_time({app="e2e"} |= "line" [1h]))"#,
        end,
        end,
    )
    .await?;
    let vector = counts["data"]["result"].as_array().context("vector")?;
    ensure!(
        vector.len() == 1 && vector[0]["value"][1].as_str() == Some(LINES.to_string().as_str()),
        "counts: {counts}"
    );

    let labels: Value = http
        .get(process.url("/loki/api/v1/labels"))
        .query(&[("start", start.to_string()), ("end", end.to_string())])
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        labels["data"]
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v == "source")),
        "{labels}"
    );
    Ok(())
}

async fn query_range(
    http: &reqwest::Client,
    url: &str,
    query: &str,
    start: i64,
    end: i64,
) -> Result<Value> {
    let response = http
        .get(url)
        .query(&[
            ("query", query.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("time", end.to_string()),
            ("limit", "1000".to_string()),
            ("direction", "forward".to_string()),
        ])
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    ensure!(status == 200, "{url} {query}: {status} {body}");
    Ok(serde_json::from_str(&body)?)
}
