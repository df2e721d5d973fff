//! Grafana's Loki requests (reference L1–L21) replayed as Grafana sends them, checking what
//! Grafana parses from each answer.

use http::{Request, StatusCode};

use super::*;

/// L1: save & test: exactly one sample, value 2, at `time` (10 digits: seconds).
#[tokio::test]
async fn l1_save_and_test() {
    let params = format!(
        "query={}&time=4000000000&direction=backward",
        enc("vector(1)+vector(1)")
    );
    let data = send(&app(), get("query", &params)).await.data();
    assert_eq!(data["resultType"], "vector");
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{data}");
    assert_eq!(result[0]["metric"], serde_json::json!({}));
    assert_eq!(result[0]["value"], serde_json::json!([4000000000u64, "2"]));
    assert!(data["stats"]["summary"].is_object(), "{data}");
}

/// L2: a log query over a range: newest first, every line once, structured metadata folded
/// into `stream` (splitting the stream), `step` ignored; the categorize flag is ignored.
#[tokio::test]
async fn l2_log_query_range() {
    for flags in [None, Some("categorize-labels")] {
        let params = format!(
            "query={}&{}&limit=1000&direction=backward&step=2000ms",
            enc(r#"{job="nginx"}"#),
            range(0, 600)
        );
        let mut request = get("query_range", &params);
        if let Some(flags) = flags {
            let value = flags.parse().unwrap();
            request
                .headers_mut()
                .insert("X-Loki-Response-Encoding-Flags", value);
        }
        let data = send(&app(), request).await.data();
        assert!(data.get("encodingFlags").is_none(), "{data}");
        let got = entries(&data);
        assert_eq!(got.len(), 60);
        assert_eq!(
            data["result"].as_array().unwrap().len(),
            4,
            "3 traced lines split off"
        );
        for (stream, ts, line) in &got {
            let i = (ts - T0) / (10 * SECOND);
            let want = nginx_entry(i);
            assert_eq!(line, &want.line);
            let trace = want.metadata.get("trace_id").map(str::to_string);
            assert_eq!(stream["trace_id"].as_str().map(str::to_string), trace);
            assert_eq!(stream["job"], "nginx");
        }
        for stream in data["result"].as_array().unwrap() {
            let times: Vec<i64> = stream["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v[0].as_str().unwrap().parse().unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
        }
        let summary = &data["stats"]["summary"];
        assert_eq!(summary["totalLinesProcessed"], 60);
        assert_eq!(summary["totalEntriesReturned"], 60);
    }
}

/// L2 with a limit: the limit applies across streams, to the oldest (forward) or newest
/// (backward) entries.
#[tokio::test]
async fn l2_limit_and_direction_across_streams() {
    let s = SECOND;
    let cases = [
        (
            "forward",
            5,
            vec![T0, T0 + 5 * s, T0 + 10 * s, T0 + 20 * s, T0 + 25 * s],
        ),
        (
            "backward",
            3,
            vec![T0 + 590 * s, T0 + 585 * s, T0 + 580 * s],
        ),
    ];
    for (direction, limit, want) in cases {
        let params = format!(
            "query={}&{}&limit={limit}&direction={direction}&step=2000ms",
            enc(r#"{env="prod"}"#),
            range(0, 600)
        );
        let data = send(&app(), get("query_range", &params)).await.data();
        let mut got: Vec<i64> = entries(&data).iter().map(|(_, ts, _)| *ts).collect();
        got.sort_unstable();
        let mut want = want.clone();
        want.sort_unstable();
        assert_eq!(got, want, "{direction}");
    }
}

/// L3: a metric range query: a matrix with float-second times and string values.
#[tokio::test]
async fn l3_metric_query_range() {
    let query = r#"sum by (status) (count_over_time({job="api"} | logfmt [1m]))"#;
    let params = format!(
        "query={}&{}&step=60000ms&direction=backward",
        enc(query),
        range(60, 600)
    );
    let data = send(&app(), get("query_range", &params)).await.data();
    assert_eq!(data["resultType"], "matrix");
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{data}");
    assert_eq!(result[0]["metric"], serde_json::json!({"status": "200"}));
    assert_eq!(result[1]["metric"], serde_json::json!({"status": "500"}));
    // (T0, T0+60s] holds api entries 0 (error), 1 and 2.
    assert_eq!(
        result[0]["values"][0],
        serde_json::json!([1_700_000_060u64, "2"])
    );
    assert_eq!(
        result[1]["values"][0],
        serde_json::json!([1_700_000_060u64, "1"])
    );
    assert_eq!(result[0]["values"].as_array().unwrap().len(), 10);
}

/// L3 without `step`: Loki's default of max(1 s, range / 250).
#[tokio::test]
async fn l3_default_step() {
    let params = format!(
        "query={}&{}",
        enc(r#"count_over_time({job="worker"}[1m])"#),
        range(0, 2500)
    );
    let data = send(&app(), get("query_range", &params)).await.data();
    let values = data["result"][0]["values"].as_array().unwrap();
    let first = values[0][0].as_f64().unwrap();
    let second = values[1][0].as_f64().unwrap();
    assert_eq!(second - first, 10.0, "{data}");
}

/// L4: an instant metric query: a vector at `time`.
#[tokio::test]
async fn l4_instant_metric_query() {
    let query = r#"sum by (app) (count_over_time({env="prod"}[10m]))"#;
    let params = format!(
        "query={}&time={}&direction=backward",
        enc(query),
        T0 + 600 * SECOND
    );
    let data = send(&app(), get("query", &params)).await.data();
    assert_eq!(data["resultType"], "vector");
    let got: Vec<(String, String)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["value"][0], serde_json::json!(1_700_000_600u64));
            (
                s["metric"]["app"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The window (T0, T0+600s] leaves out the nginx line at T0.
    let want = vec![
        ("backend".to_string(), "30".to_string()),
        ("frontend".to_string(), "59".to_string()),
    ];
    assert_eq!(got, want);
}

/// L4 with a log query: streams of the entries at `time`.
#[tokio::test]
async fn l4_instant_log_query() {
    let params = format!(
        "query={}&time={}",
        enc(r#"{job="nginx"}"#),
        T0 + 10 * SECOND
    );
    let data = send(&app(), get("query", &params)).await.data();
    let got = entries(&data);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, nginx_entry(1).line);
}

/// L5: the logs volume histogram, grouped by `detected_level` from structured metadata.
#[tokio::test]
async fn l5_logs_volume_histogram() {
    let query =
        r#"sum by (level, detected_level) (count_over_time({job="api"} | drop __error__[1m]))"#;
    let params = format!("query={}&{}&step=60000ms", enc(query), range(60, 600));
    let mut request = get("query_range", &params);
    let tag = "Source=logvolhist".parse().unwrap();
    request.headers_mut().insert("X-Query-Tags", tag);
    let data = send(&app(), request).await.data();
    let result = data["result"].as_array().unwrap();
    let metrics: Vec<&serde_json::Value> = result.iter().map(|s| &s["metric"]).collect();
    assert_eq!(
        metrics,
        vec![
            &serde_json::json!({"detected_level": "error"}),
            &serde_json::json!({"detected_level": "info"})
        ]
    );
}

/// L6–L9: samples, infinite scroll and context: small limits, shifted ranges, both
/// directions.
#[tokio::test]
async fn l6_to_l9_small_log_queries() {
    let s = SECOND;
    let context = r#"{app="frontend",env="prod",job="nginx",service_name="frontend"}"#;
    // (query, range, limit, direction, expected times)
    type Case<'a> = (&'a str, (i64, i64), usize, &'a str, Vec<i64>);
    let cases: Vec<Case<'_>> = vec![
        (
            r#"{job="api"}"#,
            (0, 600),
            2,
            "backward",
            vec![T0 + 585 * s, T0 + 565 * s],
        ),
        (
            r#"{job="nginx"}"#,
            (300, 600),
            3,
            "backward",
            vec![T0 + 590 * s, T0 + 580 * s, T0 + 570 * s],
        ),
        (
            context,
            (100, 600),
            3,
            "forward",
            vec![T0 + 100 * s, T0 + 110 * s, T0 + 120 * s],
        ),
        (
            context,
            (0, 100),
            2,
            "backward",
            vec![T0 + 90 * s, T0 + 80 * s],
        ),
    ];
    for (query, (from, to), limit, direction, want) in cases {
        let params = format!(
            "query={}&{}&limit={limit}&direction={direction}&step=1000ms",
            enc(query),
            range(from, to)
        );
        let data = send(&app(), get("query_range", &params)).await.data();
        let got: Vec<i64> = entries(&data).iter().map(|(_, ts, _)| *ts).collect();
        assert_eq!(got, want, "{query} {direction}");
    }
}

/// L11: shard values are empty, so Grafana queries without sharding.
#[tokio::test]
async fn l11_stream_shards() {
    let params = format!("{}&query={}", range(0, 600), enc(r#"{job="nginx"}"#));
    let data = send(&app(), get("label/__stream_shard__/values", &params))
        .await
        .data();
    assert_eq!(data, serde_json::json!([]));
}

/// L12, L13: label names and values, with and without a selector.
#[tokio::test]
async fn l12_l13_labels_and_values() {
    let cases: Vec<(&str, Option<&str>, serde_json::Value)> = vec![
        (
            "labels",
            None,
            serde_json::json!(["app", "env", "job", "service_name"]),
        ),
        (
            "labels",
            Some(r#"{env="dev"}"#),
            serde_json::json!(["app", "env", "job"]),
        ),
        (
            "label/app/values",
            Some(r#"{env="prod"}"#),
            serde_json::json!(["backend", "frontend"]),
        ),
        (
            "label/job/values",
            None,
            serde_json::json!(["api", "nginx", "worker"]),
        ),
    ];
    for (path, query, want) in cases {
        let mut params = range(0, 600);
        if let Some(query) = query {
            params.push_str(&format!("&query={}", enc(query)));
        }
        let data = send(&app(), get(path, &params)).await.data();
        assert_eq!(data, want, "{path} {query:?}");
    }
    // Outside the data: nothing.
    let data = send(&app(), get("labels", &range(700, 800))).await.data();
    assert_eq!(data, serde_json::json!([]));
}

/// L14: series for a selector.
#[tokio::test]
async fn l14_series() {
    let params = format!("match[]={}&{}", enc(r#"{env="prod"}"#), range(0, 600));
    let data = send(&app(), get("series", &params)).await.data();
    let want = serde_json::json!([
        {"app": "backend", "env": "prod", "job": "api"},
        {"app": "frontend", "env": "prod", "job": "nginx", "service_name": "frontend"},
    ]);
    assert_eq!(data, want);
}

/// L15: detected labels with their cardinality, unwrapped.
#[tokio::test]
async fn l15_detected_labels() {
    let reply = send(&app(), get("detected_labels", &range(0, 600))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let want = serde_json::json!({"detectedLabels": [
        {"label": "app", "cardinality": 3},
        {"label": "env", "cardinality": 2},
        {"label": "job", "cardinality": 3},
    ]});
    assert_eq!(reply.json(), want);
}

/// L18: the query size hint, unwrapped.
#[tokio::test]
async fn l18_index_stats() {
    let params = format!("query={}&{}", enc(r#"{job="nginx"}"#), range(0, 600));
    let reply = send(&app(), get("index/stats", &params)).await;
    let bytes: usize = (0..60).map(|i| nginx_entry(i).line.len()).sum();
    let want = serde_json::json!({"streams": 1, "chunks": 1, "entries": 60, "bytes": bytes});
    assert_eq!(reply.json(), want, "{}", reply.text());
}

/// L19: volume per label set, instant and over time.
#[tokio::test]
async fn l19_volume() {
    let params = format!(
        "query={}&{}&limit=100&targetLabels=app",
        enc(r#"{env=~".+"}"#),
        range(0, 600)
    );
    let data = send(&app(), get("index/volume", &params)).await.data();
    assert_eq!(data["resultType"], "vector");
    let nginx: usize = (0..60).map(|i| nginx_entry(i).line.len()).sum();
    let api: usize = (0..30).map(|i| api_entry(i).line.len()).sum();
    let worker: usize = (0..10).map(|i| worker_entry(i).line.len()).sum();
    let got: Vec<(serde_json::Value, serde_json::Value)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"].clone(), s["value"][1].clone()))
        .collect();
    let want = vec![
        (
            serde_json::json!({"app": "frontend"}),
            serde_json::json!(nginx.to_string()),
        ),
        (
            serde_json::json!({"app": "backend"}),
            serde_json::json!(api.to_string()),
        ),
        (
            serde_json::json!({"app": "worker"}),
            serde_json::json!(worker.to_string()),
        ),
    ];
    assert_eq!(got, want);

    let params = format!(
        "query={}&{}&step=60s",
        enc(r#"{job="worker"}"#),
        range(0, 600)
    );
    let data = send(&app(), get("index/volume_range", &params))
        .await
        .data();
    assert_eq!(data["resultType"], "matrix");
    let series = data["result"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["metric"], serde_json::json!({"job": "worker"}));
    assert_eq!(series[0]["values"].as_array().unwrap().len(), 10);
}

/// L20: no patterns.
#[tokio::test]
async fn l20_patterns() {
    let params = format!(
        "query={}&{}&step=60s",
        enc(r#"{job="nginx"}"#),
        range(0, 600)
    );
    let data = send(&app(), get("patterns", &params)).await.data();
    assert_eq!(data, serde_json::json!([]));
}

/// L21: the v2alpha tail probe must not answer 400, or Grafana would use it.
#[tokio::test]
async fn l21_v2alpha_tail_is_not_found() {
    let request = Request::get("/loki/api/v2alpha/tail?query=%7Bjob%3D%22nginx%22%7D")
        .header("X-Scope-OrgID", TENANT)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&app(), request).await.status, StatusCode::NOT_FOUND);
}

/// L16: detected fields of logfmt lines and structured metadata, unwrapped.
#[tokio::test]
async fn l16_detected_fields() {
    let params = format!(
        "query={}&{}&limit=1000&line_limit=1000",
        enc(r#"{job="api"}"#),
        range(0, 600)
    );
    let reply = send(&app(), get("detected_fields", &params)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let want = serde_json::json!({"fields": [
        {"label": "detected_level", "type": "string", "cardinality": 2, "parsers": null},
        {"label": "duration", "type": "duration", "cardinality": 30, "parsers": ["logfmt"]},
        {"label": "level", "type": "string", "cardinality": 2, "parsers": ["logfmt"]},
        {"label": "msg", "type": "string", "cardinality": 1, "parsers": ["logfmt"]},
        {"label": "path", "type": "string", "cardinality": 1, "parsers": ["logfmt"]},
        {"label": "status", "type": "int", "cardinality": 2, "parsers": ["logfmt"]},
    ], "limit": 1000});
    assert_eq!(reply.json(), want);

    let params = format!("query={}&{}", enc(r#"{job="worker"}"#), range(0, 600));
    let reply = send(&app(), get("detected_fields", &params)).await;
    let labels: Vec<String> = reply.json()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}:{}", f["label"], f["type"], f["parsers"]))
        .collect();
    assert_eq!(
        labels,
        vec![
            r#""attempt":"int":["json"]"#,
            r#""level":"string":["json"]"#,
            r#""msg":"string":["json"]"#
        ]
    );
}

/// L17: the values of one detected field; a line filter narrows the lines read.
#[tokio::test]
async fn l17_detected_field_values() {
    let cases = [
        (r#"{job="api"}"#, serde_json::json!(["200", "500"])),
        (r#"{job="api"} |= "error""#, serde_json::json!(["500"])),
    ];
    for (query, want) in cases {
        let params = format!("query={}&{}&limit=1000", enc(query), range(0, 600));
        let reply = send(&app(), get("detected_field/status/values", &params)).await;
        assert_eq!(
            reply.json(),
            serde_json::json!({"values": want, "limit": 1000}),
            "{query}"
        );
    }
}
