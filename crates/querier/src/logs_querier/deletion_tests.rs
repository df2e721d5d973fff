//! Log deletion requests filtered at query time: the logs querier over in-memory ingesters
//! and logs blocks in an in-memory bucket holding the requests, directly and through the
//! Loki API (log and metric queries).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use sextant_kit::tenant::TenantResolver;
use sextant_logs::logql::eval::{Entry, Stream};
use sextant_model::{Labels, MatchOp, Matcher, TenantId};
use sextant_storage::LogDeletionStatus;
use tower::ServiceExt;

use super::fakes::{tenant, FakeLogsIngester, FakeLogsIngesters, NOW_MS, SECOND, T0};
use super::LogsQuerier;
use crate::config::QuerierConfig;
use crate::logs_blocks::testing::upload_logs_block;
use crate::logs_deletions::testing::store_deletion_request;
use crate::loki_api::{loki_api_router, LogsSource, LokiApiConfig, LokiApiState, MemLogsSource};

const T0_MS: i64 = T0 / 1_000_000;

fn web() -> Labels {
    Labels::from_pairs([("app", "web"), ("env", "prod")])
}

fn api() -> Labels {
    Labels::from_pairs([("app", "api"), ("env", "prod")])
}

fn entry(s: i64, line: &str) -> Entry {
    Entry {
        ts_ns: T0 + s * SECOND,
        line: line.to_string(),
        metadata: Labels::default(),
    }
}

fn team_b() -> TenantId {
    TenantId::parse("team-b").unwrap()
}

/// team-a's web at 0..=2 s and api at 1 s shipped in one block per replica; web at 3, 5 and
/// 6 s still in the ingesters' heads. team-b's web at 1 s in the heads.
async fn querier(store: Arc<dyn ObjectStore>) -> LogsQuerier {
    let shipped = [
        Stream {
            labels: api(),
            entries: vec![entry(1, "api secret")],
        },
        Stream {
            labels: web(),
            entries: vec![
                entry(0, "GET /a"),
                entry(1, "GET /secret"),
                entry(2, "GET /b"),
            ],
        },
    ];
    for replica in 1..=3 {
        let streams = shipped.iter().map(|s| (&s.labels, s.entries.as_slice()));
        let (id, source) = (format!("01BLOCK{replica}"), format!("ingester-{replica}"));
        upload_logs_block(&*store, &tenant(), (&id, &source), 1 << 10, streams).await;
    }
    let ingesters = (1..=3)
        .map(|_| {
            let data = MemLogsSource::new();
            data.push("team-a", &web(), entry(3, "GET /secret 2"));
            data.push("team-a", &web(), entry(5, "GET /secret late"));
            data.push("team-a", &web(), entry(6, "GET /c"));
            data.push("team-b", &web(), entry(1, "GET /secret"));
            FakeLogsIngester {
                data: Arc::new(data),
                fail: false,
            }
        })
        .collect();
    let (fakes, ring) = FakeLogsIngesters::numbered(ingesters, "logs", NOW_MS);
    // refresh 0: every select reads the requests again
    let config = QuerierConfig {
        bucket_index_refresh: Duration::ZERO,
        ..QuerierConfig::default()
    };
    let mut registry = Registry::default();
    LogsQuerier::new(ring, Arc::new(fakes), &mut registry)
        .with_clock(Arc::new(|| NOW_MS))
        .with_blocks(&config, store, &mut registry)
}

/// team-a's request deleting web lines with "secret" in [0 s, 4 s].
async fn delete_secrets(store: &dyn ObjectStore, status: LogDeletionStatus) {
    let query = r#"{app="web"} |= "secret""#;
    let range = (T0_MS, T0_MS + 4_000);
    store_deletion_request(store, &tenant(), "r1", query, range, status).await;
}

/// `(labels, [(second, line)])` of every stream of `tenant` in [0 s, 10 s).
async fn select_all(q: &LogsQuerier, tenant: &TenantId) -> Vec<(Labels, Vec<(i64, String)>)> {
    let any = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
    let streams = q.select(tenant, &any, T0, T0 + 10 * SECOND).await.unwrap();
    streams
        .into_iter()
        .map(|s| {
            let entries = s.entries.into_iter();
            let entries = entries.map(|e| ((e.ts_ns - T0) / SECOND, e.line));
            (s.labels, entries.collect())
        })
        .collect()
}

fn owned(entries: &[(i64, &str)]) -> Vec<(i64, String)> {
    entries.iter().map(|&(s, l)| (s, l.to_string())).collect()
}

#[tokio::test]
async fn select_drops_exactly_the_selected_entries() {
    let all_web = owned(&[
        (0, "GET /a"),
        (1, "GET /secret"),
        (2, "GET /b"),
        (3, "GET /secret 2"),
        (5, "GET /secret late"),
        (6, "GET /c"),
    ]);
    // the line filter, the stream selector (api keeps its line) and the end of the range
    // (5 s is after it), over blocks (1 s) and ingesters (3 s)
    let kept_web = owned(&[
        (0, "GET /a"),
        (2, "GET /b"),
        (5, "GET /secret late"),
        (6, "GET /c"),
    ]);
    let api_entries = owned(&[(1, "api secret")]);
    let cases = [
        (None, all_web.clone()),
        (Some(LogDeletionStatus::Received), kept_web.clone()),
        (Some(LogDeletionStatus::Processed), kept_web),
    ];
    for (status, web_entries) in cases {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        if let Some(status) = status {
            delete_secrets(&*store, status).await;
        }
        let q = querier(Arc::clone(&store)).await;
        let want = vec![(api(), api_entries.clone()), (web(), web_entries)];
        assert_eq!(select_all(&q, &tenant()).await, want, "{status:?}");
        // another tenant's streams are untouched
        let b = select_all(&q, &team_b()).await;
        assert_eq!(b, vec![(web(), owned(&[(1, "GET /secret")]))], "{status:?}");
    }
}

#[tokio::test]
async fn streams_left_empty_are_dropped_and_new_requests_are_seen() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let q = querier(Arc::clone(&store)).await;
    assert_eq!(select_all(&q, &tenant()).await.len(), 2);
    let query = r#"{app="api"}"#;
    let range = (T0_MS, T0_MS + 1_000);
    store_deletion_request(
        &*store,
        &tenant(),
        "r2",
        query,
        range,
        LogDeletionStatus::Received,
    )
    .await;
    let got = select_all(&q, &tenant()).await;
    let apps: Vec<&Labels> = got.iter().map(|(l, _)| l).collect();
    assert_eq!(apps, [&web()]);
}

/// GET `path` of the Loki API over `querier` as team-a; the `data` of the answer.
async fn loki_get(querier: LogsQuerier, path_and_query: &str) -> serde_json::Value {
    let state = LokiApiState::new(
        Arc::new(querier),
        TenantResolver::new(true),
        LokiApiConfig::default(),
    );
    let request = Request::get(path_and_query)
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

#[tokio::test]
async fn metric_queries_count_without_the_deleted_entries() {
    let query: String =
        form_urlencoded::byte_serialize(br#"sum by (app) (count_over_time({env="prod"}[1m]))"#)
            .collect();
    let path = format!("/loki/api/v1/query?query={query}&time={}", T0 + 10 * SECOND);
    // (request stored, web's count)
    for (deleted, web_count) in [(false, "6"), (true, "4")] {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        if deleted {
            delete_secrets(&*store, LogDeletionStatus::Received).await;
        }
        let data = loki_get(querier(Arc::clone(&store)).await, &path).await;
        assert_eq!(data["resultType"], "vector", "{data}");
        let counts: Vec<(String, String)> = data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let app = r["metric"]["app"].as_str().unwrap().to_string();
                (app, r["value"][1].as_str().unwrap().to_string())
            })
            .collect();
        let want = [("api", "1"), ("web", web_count)].map(|(a, c)| (a.into(), c.into()));
        assert_eq!(counts, want, "deleted: {deleted}");
    }
}
