//! Deletions: the passes on an in-memory bucket with real logs blocks, and the HTTP API
//! through `oneshot`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus_client::registry::Registry;
use sextant_kit::tenant::TenantResolver;
use sextant_model::{Signal, TenantId};
use sextant_storage::keys::{block_object_key, tenant_deletion_mark_key};
use sextant_storage::{list_blocks, new_block_id, update_bucket_index};
use tower::ServiceExt;

use super::*;
use crate::retention::CompactorRetentionMetrics;
use crate::signals::fixtures::{logs_block, TENANT};
use crate::signals::SourceBlock;

const S: i64 = 1_000_000_000;
const MIN_MS: i64 = 60_000;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn put_block(
    store: &dyn ObjectStore,
    signal: Signal,
    tenant: &TenantId,
    block: &SourceBlock,
) {
    for (file, bytes) in &block.files {
        let key = block_object_key(signal, tenant, &block.block_id, file);
        store
            .put(&key, PutPayload::from(bytes.clone()))
            .await
            .unwrap();
    }
    update_bucket_index(store, signal, tenant).await.unwrap();
}

/// Every (app, ts in s, line) of the tenant's listed logs blocks.
async fn all_entries(store: &dyn ObjectStore) -> Vec<(String, i64, String)> {
    let t = tenant(TENANT);
    let mut out = Vec::new();
    for b in list_blocks(store, Signal::Logs, &t).await.unwrap() {
        let mut block = SourceBlock {
            block_id: b.block_id.clone(),
            ..SourceBlock::default()
        };
        for file in ["meta.json", "index", "chunks"] {
            let key = block_object_key(Signal::Logs, &t, &b.block_id, file);
            let bytes = store.get(&key).await.unwrap().bytes().await.unwrap();
            block.files.insert(file.into(), bytes);
        }
        out.extend(crate::retention::tests::logs_entries(&block));
    }
    out.sort();
    out
}

fn request(id: &str, query: &str, range_s: (i64, i64), created_at_ms: i64) -> LogDeletionRequest {
    LogDeletionRequest {
        request_id: id.into(),
        query: query.into(),
        start_time_ms: range_s.0 * 1000,
        end_time_ms: range_s.1 * 1000,
        created_at_ms,
        status: LogDeletionStatus::Received,
        entries_deleted: 0,
        processed_at_ms: 0,
        applied_through_ms: 0,
    }
}

fn entries(list: &[(&str, i64, &str)]) -> Vec<(String, i64, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|&(a, t, l)| (a.to_owned(), t, l.to_owned()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn due_requests_are_applied_counted_and_stay_in_force_for_late_blocks() {
    let store = InMemory::new();
    let t = tenant(TENANT);
    let metrics = CompactorRetentionMetrics::new(&mut Registry::default());
    put_block(
        &store,
        Signal::Logs,
        &t,
        &logs_block(
            "b1",
            &[
                (
                    "api",
                    vec![
                        (100 * S, "secret 1"),
                        (110 * S, "ok"),
                        (300 * S, "secret late"),
                    ],
                ),
                ("web", vec![(100 * S, "secret web")]),
            ],
        ),
    )
    .await;
    put_block(
        &store,
        Signal::Logs,
        &t,
        &logs_block("b2", &[("api", vec![(500 * S, "secret far")])]),
    )
    .await;
    let now = now_ms();
    let due = request(
        "due",
        "{app=\"api\"} |= \"secret\"",
        (50, 200),
        now - 11 * MIN_MS,
    );
    let recent = request("recent", "{app=\"web\"}", (0, 1000), now - MIN_MS);
    for r in [&due, &recent] {
        put_log_deletion_request(&store, &t, r).await.unwrap();
    }
    let pass = |now| {
        process_log_deletions(
            &store,
            &t,
            now,
            DEFAULT_DELETE_REQUEST_CANCEL_PERIOD,
            "c-1",
            &metrics,
        )
    };
    let outcome = pass(now).await.unwrap();
    assert_eq!(outcome.requests_processed, ["due"]);
    assert_eq!(
        (
            outcome.entries_deleted,
            outcome.blocks_rewritten,
            outcome.failures
        ),
        (1, 1, 0)
    );
    assert_eq!(
        all_entries(&store).await,
        entries(&[
            ("api", 110, "ok"),
            ("api", 300, "secret late"),
            ("api", 500, "secret far"),
            ("web", 100, "secret web"),
        ])
    );
    let listed = list_log_deletion_requests(&store, &t).await.unwrap();
    let states: Vec<_> = listed
        .iter()
        .map(|r| (r.request_id.as_str(), r.status, r.entries_deleted))
        .collect();
    assert_eq!(
        states,
        [
            ("due", LogDeletionStatus::Processed, 1),
            ("recent", LogDeletionStatus::Received, 0)
        ]
    );

    // an ingester uploads a block holding more of the deleted range after the pass
    let late_id = new_block_id(SystemTime::now());
    put_block(
        &store,
        Signal::Logs,
        &t,
        &logs_block(
            &late_id,
            &[("api", vec![(150 * S, "secret 2"), (151 * S, "fine")])],
        ),
    )
    .await;
    let outcome = pass(now_ms()).await.unwrap();
    // checked: the late block, and the block the first pass wrote (within the upload grace)
    assert_eq!(
        (outcome.late_blocks_checked, outcome.entries_deleted),
        (2, 1)
    );
    assert_eq!(outcome.blocks_rewritten, 1);
    assert!(outcome.requests_processed.is_empty());
    assert!(!all_entries(&store).await.iter().any(|e| e.2 == "secret 2"));
    let due = &list_log_deletion_requests(&store, &t).await.unwrap()[0];
    assert_eq!(due.entries_deleted, 2);

    // once past its cancel period the second request empties the web stream's block part
    let outcome = pass(now + 10 * MIN_MS).await.unwrap();
    assert_eq!(outcome.requests_processed, ["recent"]);
    assert!(!all_entries(&store).await.iter().any(|e| e.0 == "web"));
}

#[tokio::test]
async fn marked_tenants_lose_every_block_and_late_uploads() {
    let store = InMemory::new();
    let (a, b) = (tenant("a"), tenant("b"));
    for t in [&a, &b] {
        put_block(
            &store,
            Signal::Logs,
            t,
            &logs_block("b1", &[("api", vec![(S, "x")])]),
        )
        .await;
    }
    put_log_deletion_request(&store, &a, &request("r", "{app=\"x\"}", (0, 1), 0))
        .await
        .unwrap();
    let metrics = CompactorRetentionMetrics::new(&mut Registry::default());
    let everyone = |_: &TenantId| true;
    mark_tenant_for_deletion(&store, &a, &[Signal::Logs, Signal::Metrics], 1)
        .await
        .unwrap();
    for signal in [Signal::Logs, Signal::Metrics] {
        store
            .head(&tenant_deletion_mark_key(signal, &a))
            .await
            .unwrap();
    }
    assert!(
        !tenant_deletion_status(&store, &a, &[Signal::Logs])
            .await
            .unwrap()
            .blocks_deleted
    );
    assert!(tenant_marked_for_deletion(&store, Signal::Logs, &a)
        .await
        .unwrap());
    assert!(!tenant_marked_for_deletion(&store, Signal::Logs, &b)
        .await
        .unwrap());
    let outcome = delete_marked_tenants(&store, Signal::Logs, &everyone, &metrics)
        .await
        .unwrap();
    assert_eq!(
        (outcome.tenants, outcome.blocks_deleted),
        (vec![a.clone()], 1)
    );
    assert!(
        tenant_deletion_status(&store, &a, &[Signal::Logs, Signal::Metrics])
            .await
            .unwrap()
            .blocks_deleted
    );
    assert!(list_log_deletion_requests(&store, &a)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        list_blocks(&store, Signal::Logs, &b).await.unwrap().len(),
        1,
        "b untouched"
    );
    // a late upload is deleted by the next pass; a pass that does not own the tenant skips it
    put_block(
        &store,
        Signal::Logs,
        &a,
        &logs_block("late", &[("api", vec![(S, "y")])]),
    )
    .await;
    let nobody = |_: &TenantId| false;
    let skipped = delete_marked_tenants(&store, Signal::Logs, &nobody, &metrics)
        .await
        .unwrap();
    assert_eq!(skipped, TenantDeletionOutcome::default());
    let outcome = delete_marked_tenants(&store, Signal::Logs, &everyone, &metrics)
        .await
        .unwrap();
    assert_eq!(outcome.blocks_deleted, 1);
    store
        .head(&tenant_deletion_mark_key(Signal::Logs, &a))
        .await
        .unwrap();
}

fn router(store: Arc<InMemory>) -> axum::Router {
    deletion_router(CompactorDeletionState {
        store,
        tenants: TenantResolver::new(true),
        signals: vec![Signal::Metrics, Signal::Logs, Signal::Traces],
    })
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    org: Option<&str>,
) -> (StatusCode, String) {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(org) = org {
        builder = builder.header("X-Scope-OrgID", org);
    }
    let response = router
        .clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    let r = router(Arc::new(InMemory::new()));
    let q = enc("{app=\"api\"}");
    // (uri, status, message prefix)
    let cases = [
        ("/loki/api/v1/delete?start=1".to_owned(), "query: required"),
        (
            format!("/loki/api/v1/delete?query={}&start=1", enc("{app=")),
            "query: invalid deletion query",
        ),
        (
            format!(
                "/loki/api/v1/delete?query={}&start=1",
                enc("{app=\"a\"} | json")
            ),
            "query: invalid deletion query: only line filters",
        ),
        (
            format!(
                "/loki/api/v1/delete?query={}&start=1",
                enc("rate({app=\"a\"}[1m])")
            ),
            "query: invalid deletion query",
        ),
        (
            format!(
                "/loki/api/v1/delete?query={}&start=1",
                enc("{app=\"a\"} |~ \"(\"")
            ),
            "query: invalid deletion query",
        ),
        (format!("/loki/api/v1/delete?query={q}"), "start: required"),
        (
            format!("/loki/api/v1/delete?query={q}&start=yesterday"),
            "start: not a Unix time",
        ),
        (
            format!("/loki/api/v1/delete?query={q}&start=10&end=soon"),
            "end: not a Unix time",
        ),
        (
            format!("/loki/api/v1/delete?query={q}&start=10&end=9"),
            "end: before start",
        ),
    ];
    for (uri, want) in cases {
        let (status, body) = call(&r, "POST", &uri, Some("a")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.starts_with(want), "{uri}: {body}");
    }
    let (status, body) = call(&r, "DELETE", "/loki/api/v1/delete", Some("a")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, "request_id: required")
    );
    let (status, _) = call(&r, "GET", "/loki/api/v1/delete", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn requests_are_listed_and_cancelled_per_tenant() {
    let store = Arc::new(InMemory::new());
    let r = router(store.clone());
    let uri = format!(
        "/loki/api/v1/delete?query={}&start=1591616227&end=2020-06-08T12:34:52.5Z",
        enc("{app=\"api\"} |= \"secret\"")
    );
    let (status, body) = call(&r, "POST", &uri, Some("a")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, listed) = call(&r, "GET", "/loki/api/v1/delete", Some("a")).await;
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let first = &listed[0];
    assert_eq!(first["query"], "{app=\"api\"} |= \"secret\"");
    assert_eq!(first["status"], "received");
    assert_eq!(first["start_time"], 1591616227.0);
    assert_eq!(first["end_time"], 1591619692.5);
    assert!(first["created_at"].as_f64().unwrap() > 1.7e9);
    let id = first["request_id"].as_str().unwrap().to_owned();

    // tenant b neither sees nor cancels a's request
    let (_, other) = call(&r, "GET", "/loki/api/v1/delete", Some("b")).await;
    assert_eq!(other, "[]");
    let cancel = format!("/loki/api/v1/delete?request_id={id}");
    let (status, body) = call(&r, "DELETE", &cancel, Some("b")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.starts_with("request_id: no deletion request"),
        "{body}"
    );

    // a processed request cannot be cancelled; a received one can
    let a = tenant("a");
    let mut processed = request("done", "{app=\"x\"}", (0, 1), 0);
    processed.status = LogDeletionStatus::Processed;
    put_log_deletion_request(&*store, &a, &processed)
        .await
        .unwrap();
    let (status, body) = call(
        &r,
        "DELETE",
        "/loki/api/v1/delete?request_id=done",
        Some("a"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.starts_with("request_id: "), "{body}");
    let (status, _) = call(&r, "DELETE", &cancel, Some("a")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let remaining = list_log_deletion_requests(&*store, &a).await.unwrap();
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].request_id, "done");
}

#[tokio::test]
async fn tenant_deletion_endpoints() {
    let store = Arc::new(InMemory::new());
    let r = router(store.clone());
    put_block(
        &*store,
        Signal::Logs,
        &tenant("a"),
        &logs_block("b1", &[("api", vec![(S, "x")])]),
    )
    .await;
    let (status, body) = call(&r, "GET", "/compactor/delete_tenant_status", Some("a")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"tenant_id":"a","blocks_deleted":false}"#);
    let (status, _) = call(&r, "POST", "/compactor/delete_tenant", Some("a")).await;
    assert_eq!(status, StatusCode::OK);
    for signal in [Signal::Metrics, Signal::Logs, Signal::Traces] {
        store
            .head(&tenant_deletion_mark_key(signal, &tenant("a")))
            .await
            .unwrap();
        assert!(store
            .head(&tenant_deletion_mark_key(signal, &tenant("b")))
            .await
            .is_err());
    }
    let metrics = CompactorRetentionMetrics::new(&mut Registry::default());
    delete_marked_tenants(&*store, Signal::Logs, &|_| true, &metrics)
        .await
        .unwrap();
    let (_, body) = call(&r, "GET", "/compactor/delete_tenant_status", Some("a")).await;
    assert_eq!(body, r#"{"tenant_id":"a","blocks_deleted":true}"#);
    let (status, _) = call(&r, "POST", "/compactor/delete_tenant", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn times_like_loki() {
    // (input, ms)
    let cases = [
        ("1591616227", Some(1_591_616_227_000)),
        ("1591616227.25", Some(1_591_616_227_250)),
        ("2020-06-08T11:37:07Z", Some(1_591_616_227_000)),
        ("2020-06-08T13:37:07.5+02:00", Some(1_591_616_227_500)),
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2020-13-08T11:37:07Z", None),
        ("2020-06-08", None),
        ("nan", None),
        ("", None),
    ];
    for (input, want) in cases {
        assert_eq!(api::parse_time_ms(input), want, "{input}");
    }
}

#[test]
fn the_passes_can_be_spawned() {
    fn send<T: Send>(_: T) {}
    let store = InMemory::new();
    let metrics = CompactorRetentionMetrics::default();
    let t = tenant("a");
    let period = DEFAULT_DELETE_REQUEST_CANCEL_PERIOD;
    send(process_log_deletions(&store, &t, 0, period, "c", &metrics));
    send(delete_marked_tenants(
        &store,
        Signal::Logs,
        &|_| true,
        &metrics,
    ));
    send(mark_tenant_for_deletion(&store, &t, &[Signal::Logs], 0));
}

/// Howard Hinnant's `civil_from_days`: (year, month, day) of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

proptest::proptest! {
    #[test]
    fn rfc3339_round_trips(ms in 0i64..4_000_000_000_000, offset_min in -720i64..=840) {
        let local = ms + offset_min * MIN_MS;
        let (secs, millis) = (local.div_euclid(1000), local.rem_euclid(1000));
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        let s = secs.rem_euclid(86_400);
        let zone = match offset_min {
            0 => "Z".to_owned(),
            o => format!("{}{:02}:{:02}", if o < 0 { '-' } else { '+' }, o.abs() / 60, o.abs() % 60),
        };
        let text = format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}{zone}",
            s / 3600,
            s / 60 % 60,
            s % 60
        );
        proptest::prop_assert_eq!(api::parse_time_ms(&text), Some(ms), "{}", text);
    }
}
