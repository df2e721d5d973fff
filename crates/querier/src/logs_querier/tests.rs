//! The logs querier over in-memory ingesters behind a fake ring.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::registry::Registry;
use sextant_kit::tenant::TenantResolver;
use sextant_model::{ErrorKind, MatchOp};
use tower::ServiceExt;

use super::fakes::{tenant, FakeLogsIngester, FakeLogsIngesters, NOW_MS, SECOND, T0};
use super::*;
use crate::loki_api::{loki_api_router, LokiApiConfig, LokiApiState, MemLogsSource};

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn entry(ts_ns: i64, line: &str) -> Entry {
    Entry {
        ts_ns,
        line: line.to_string(),
        metadata: Labels::default(),
    }
}

/// `(stream labels, entry)` as pushed to one ingester.
type Pushed = (Labels, Entry);

fn ingester(tenant: &str, data: &[Pushed], fail: bool) -> FakeLogsIngester {
    let source = MemLogsSource::new();
    for (l, e) in data {
        source.push(tenant, l, e.clone());
    }
    FakeLogsIngester {
        data: Arc::new(source),
        fail,
    }
}

struct Setup {
    ingesters: Arc<FakeLogsIngesters>,
    querier: LogsQuerier,
    registry: Registry,
}

fn setup(ingesters: Vec<FakeLogsIngester>) -> Setup {
    let (fakes, ring) = FakeLogsIngesters::numbered(ingesters, "logs", NOW_MS);
    let fakes = Arc::new(fakes);
    let mut registry = Registry::default();
    let querier =
        LogsQuerier::new(ring, fakes.clone(), &mut registry).with_clock(Arc::new(|| NOW_MS));
    Setup {
        ingesters: fakes,
        querier,
        registry,
    }
}

/// Three ingesters holding `data`, the first `failing` of them failing.
fn replicas(data: &[Pushed], failing: usize) -> Setup {
    setup(
        (0..3)
            .map(|i| ingester("team-a", data, i < failing))
            .collect(),
    )
}

fn web() -> Labels {
    labels(&[("app", "web"), ("env", "prod")])
}

fn api() -> Labels {
    labels(&[("app", "api"), ("env", "dev")])
}

/// Web entries at T0 + 0..3 s, two lines at T0 + 1 s, one line twice with different metadata.
fn web_data() -> Vec<Pushed> {
    let traced = Entry {
        metadata: labels(&[("trace_id", "abc")]),
        ..entry(T0 + 2 * SECOND, "GET /b")
    };
    vec![
        (web(), entry(T0 + 2 * SECOND, "GET /b")),
        (web(), traced),
        (web(), entry(T0, "GET /a")),
        (web(), entry(T0 + SECOND, "GET /z")),
        (web(), entry(T0 + SECOND, "GET /c")),
    ]
}

fn lines(stream: &Stream) -> Vec<(i64, &str, usize)> {
    stream
        .entries
        .iter()
        .map(|e| ((e.ts_ns - T0) / SECOND, e.line.as_str(), e.metadata.len()))
        .collect()
}

#[tokio::test]
async fn replicas_give_each_entry_once_in_time_order() {
    let s = replicas(&web_data(), 0);
    let got = s
        .querier
        .select(&tenant(), &[eq("app", "web")], T0, T0 + 10 * SECOND)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, web());
    let want = vec![
        (0, "GET /a", 0),
        (1, "GET /c", 0),
        (1, "GET /z", 0),
        (2, "GET /b", 0),
        (2, "GET /b", 1),
    ];
    assert_eq!(lines(&got[0]), want);
    assert_eq!(s.ingesters.requests.lock().len(), 3);
}

#[tokio::test]
async fn streams_spread_over_ingesters_are_merged() {
    let a = |ts: i64| (web(), entry(T0 + ts * SECOND, &format!("web {ts}")));
    let b = |ts: i64| (api(), entry(T0 + ts * SECOND, &format!("api {ts}")));
    let s = setup(vec![
        ingester("team-a", &[a(1), a(3), b(1)], false),
        ingester("team-a", &[a(2), a(3)], false),
        ingester("team-a", &[b(2), a(4)], false),
        ingester("other", &[a(5)], false),
    ]);
    let any_app = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
    let cases = [
        // (start s, end s, streams with their entry seconds)
        (0, 10, vec![(api(), vec![1, 2]), (web(), vec![1, 2, 3, 4])]),
        (2, 4, vec![(api(), vec![2]), (web(), vec![2, 3])]),
        (4, 5, vec![(web(), vec![4])]),
        (5, 10, vec![]),
    ];
    for (start, end, want) in cases {
        let got = s
            .querier
            .select(&tenant(), &any_app, T0 + start * SECOND, T0 + end * SECOND)
            .await
            .unwrap();
        let got: Vec<(Labels, Vec<i64>)> = got
            .iter()
            .map(|st| {
                let secs = st.entries.iter().map(|e| (e.ts_ns - T0) / SECOND);
                (st.labels.clone(), secs.collect())
            })
            .collect();
        assert_eq!(got, want, "{start}..{end}");
    }
}

#[tokio::test]
async fn large_answers_are_merged_off_the_runtime() {
    let data: Vec<Pushed> = (0..2 * INLINE_MERGE_ENTRIES as i64)
        .map(|i| (web(), entry(T0 + i, "x")))
        .collect();
    let s = replicas(&data, 0);
    let got = s
        .querier
        .select(&tenant(), &[eq("app", "web")], T0, T0 + SECOND)
        .await
        .unwrap();
    assert_eq!(got[0].entries.len(), data.len());
    assert!(got[0].entries.is_sorted_by_key(|e| e.ts_ns));
}

#[tokio::test]
async fn tolerates_rf_over_two_failures() {
    let matchers = [eq("app", "web")];
    for (failing, ok) in [(0, true), (1, true), (2, false), (3, false)] {
        let s = replicas(&web_data(), failing);
        let q = &s.querier;
        let t = tenant();
        let end = T0 + 10 * SECOND;
        let results = [
            q.select(&t, &matchers, T0, end).await.map(|r| r.len()),
            q.label_names(&t, T0, end, None).await.map(|r| r.len()),
            q.label_values(&t, "app", T0, end, None)
                .await
                .map(|r| r.len()),
            q.series(&t, &[], T0, end).await.map(|r| r.len()),
            q.stats(&t, &matchers, T0, end)
                .await
                .map(|r| r.streams as usize),
        ];
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(n) => assert!(ok && n > 0, "{failing} failing, call {i}: {n}"),
                Err(e) => {
                    assert!(!ok, "{failing} failing, call {i}: {e}");
                    assert_eq!(e.kind(), ErrorKind::Unavailable);
                    assert!(e.to_string().contains("ingester-logs ring"), "{e}");
                }
            }
        }
    }
}

#[tokio::test]
async fn stale_heartbeats_count_as_failures() {
    let s = replicas(&web_data(), 0);
    let querier = s.querier.with_clock(Arc::new(|| NOW_MS + 120_000));
    let err = querier
        .label_names(&tenant(), T0, T0 + SECOND, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unhealthy"), "{err}");
    assert!(s.ingesters.requests.lock().is_empty());
}

#[tokio::test]
async fn labels_and_series_are_sorted_unions() {
    let s = setup(vec![
        ingester("team-a", &[(web(), entry(T0, "a"))], false),
        ingester("team-a", &[(api(), entry(T0, "b"))], false),
        ingester(
            "team-a",
            &[(labels(&[("app", "web"), ("pod", "p1")]), entry(T0, "c"))],
            false,
        ),
    ]);
    let q = &s.querier;
    let t = tenant();
    let end = T0 + SECOND;
    let web_only = [eq("app", "web")];
    let names = q.label_names(&t, T0, end, None).await.unwrap();
    assert_eq!(names, vec!["app", "env", "pod"]);
    let names = q.label_names(&t, T0, end, Some(&web_only)).await.unwrap();
    assert_eq!(names, vec!["app", "env", "pod"]);
    let values = q.label_values(&t, "env", T0, end, None).await.unwrap();
    assert_eq!(values, vec!["dev", "prod"]);
    let values = q
        .label_values(&t, "app", T0, end, Some(&[eq("env", "dev")]))
        .await
        .unwrap();
    assert_eq!(values, vec!["api"]);
    assert!(q
        .label_names(&t, end, end + SECOND, None)
        .await
        .unwrap()
        .is_empty());

    let all = q.series(&t, &[], T0, end).await.unwrap();
    assert_eq!(
        all,
        vec![api(), web(), labels(&[("app", "web"), ("pod", "p1")])]
    );
    let sets = [vec![eq("env", "dev")], vec![eq("pod", "p1")]];
    let some = q.series(&t, &sets, T0, end).await.unwrap();
    assert_eq!(some, vec![api(), labels(&[("app", "web"), ("pod", "p1")])]);
}

#[tokio::test]
async fn stats_count_each_replica_once() {
    let any_app = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
    let end = T0 + 10 * SECOND;
    // four streams of two 4-byte lines; stream i is on every ingester but i (RF 3 of 4)
    let stream = |i: usize| labels(&[("app", ["a", "b", "c", "d"][i])]);
    let data = |skip: usize| -> Vec<Pushed> {
        (0..4)
            .filter(|&i| i != skip)
            .flat_map(|i| {
                [
                    (stream(i), entry(T0, "line")),
                    (stream(i), entry(T0 + 1, "line")),
                ]
            })
            .collect()
    };
    let spread = setup(
        (0..4)
            .map(|i| ingester("team-a", &data(i), false))
            .collect(),
    );
    let want = LogsStats {
        streams: 4,
        chunks: 4,
        entries: 8,
        bytes: 32,
    };
    let got = spread
        .querier
        .stats(&tenant(), &any_app, T0, end)
        .await
        .unwrap();
    assert_eq!(got, want);
    // three full replicas, one of them down
    let s = replicas(&data(usize::MAX), 1);
    let got = s.querier.stats(&tenant(), &any_app, T0, end).await.unwrap();
    assert_eq!(got, want);
}

#[test]
fn stats_are_scaled_by_the_copies_answering() {
    let answer = |n: u64| LogsStatsResponse {
        streams: n,
        chunks: n,
        entries: 10 * n,
        bytes: 100 * n,
    };
    let stats = |n: u64| LogsStats {
        streams: n,
        chunks: n,
        entries: 10 * n,
        bytes: 100 * n,
    };
    let cases = [
        ("3 of 3, RF 3", vec![answer(5); 3], 3, 3, stats(5)),
        ("2 of 3, RF 3", vec![answer(5); 2], 3, 3, stats(5)),
        ("1 of 1, RF 3", vec![answer(5)], 1, 3, stats(5)),
        ("6 of 6, RF 3", vec![answer(2); 6], 6, 3, stats(4)),
        ("5 of 6, RF 3", vec![answer(3); 5], 6, 3, stats(6)),
        ("no answers", vec![], 3, 3, stats(0)),
        ("RF 0 read as 1", vec![answer(1), answer(2)], 2, 0, stats(3)),
        (
            "saturates",
            vec![answer(u64::MAX / 100); 3],
            3,
            1,
            LogsStats {
                streams: u64::MAX / 100 * 3,
                chunks: u64::MAX / 100 * 3,
                entries: u64::MAX / 100 * 30,
                bytes: u64::MAX,
            },
        ),
    ];
    for (name, answers, instances, rf, want) in cases {
        assert_eq!(deduplicate_stats(&answers, instances, rf), want, "{name}");
    }
}

#[tokio::test]
async fn counts_requests_by_operation_and_outcome() {
    let s = replicas(&web_data(), 1);
    s.querier
        .select(&tenant(), &[eq("app", "web")], T0, T0 + SECOND)
        .await
        .unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.registry).unwrap();
    for (status, n) in [("success", 2), ("failure", 1)] {
        let line = format!(
            "sextant_querier_logs_ingester_requests_total{{signal=\"logs\",operation=\"query_stream\",status=\"{status}\"}} {n}"
        );
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
}

/// The Loki API over the querier over three replicas.
async fn loki_get(querier: LogsQuerier, params: &str) -> serde_json::Value {
    let state = LokiApiState::new(
        Arc::new(querier),
        TenantResolver::new(true),
        LokiApiConfig::default(),
    );
    let request = Request::get(format!("/loki/api/v1/query_range?{params}"))
        .header("X-Scope-OrgID", "team-a")
        .body(Body::empty())
        .unwrap();
    let response = loki_api_router(state).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    json["data"].clone()
}

fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn loki_api_answers_over_the_ingesters() {
    // web: one line every 10 s for 2 min, the first minute also on a lagging api stream
    let mut data: Vec<Pushed> = (0..12)
        .map(|i| (web(), entry(T0 + i * 10 * SECOND, &format!("GET /{i}"))))
        .collect();
    data.extend((0..6).map(|i| (api(), entry(T0 + i * 10 * SECOND, "ok"))));
    let range = format!("start={T0}&end={}", T0 + 120 * SECOND);

    let query = enc(r#"{app="web"}"#);
    let params = format!("query={query}&{range}&limit=3&direction=forward");
    let data_json = loki_get(replicas(&data, 1).querier, &params).await;
    assert_eq!(data_json["resultType"], "streams");
    let result = data_json["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{data_json}");
    assert_eq!(
        result[0]["stream"],
        serde_json::json!({"app": "web", "env": "prod"})
    );
    let want: Vec<serde_json::Value> = (0..3)
        .map(|i| serde_json::json!([(T0 + i * 10 * SECOND).to_string(), format!("GET /{i}")]))
        .collect();
    assert_eq!(result[0]["values"], serde_json::Value::Array(want));

    let query = enc(r#"sum by (app) (count_over_time({env=~".+"}[1m]))"#);
    let params = format!("query={query}&{range}&step=60s");
    let data_json = loki_get(replicas(&data, 0).querier, &params).await;
    assert_eq!(data_json["resultType"], "matrix");
    let result = data_json["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{data_json}");
    assert_eq!(result[0]["metric"], serde_json::json!({"app": "api"}));
    assert_eq!(result[1]["metric"], serde_json::json!({"app": "web"}));
    // steps at T0, T0 + 60 s, T0 + 120 s over (t - 1m, t]; replicas count once
    let t0 = T0 / SECOND;
    let api_counts = serde_json::json!([[t0, "1"], [t0 + 60, "5"]]);
    let web_counts = serde_json::json!([[t0, "1"], [t0 + 60, "6"], [t0 + 120, "5"]]);
    assert_eq!(result[0]["values"], api_counts);
    assert_eq!(result[1]["values"], web_counts);
}
