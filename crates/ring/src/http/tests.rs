use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::gossip::InMemoryCluster;
use crate::token_ring::InstanceState;

const RING: &str = "ingester-metrics";

fn setup() -> (Arc<GossipKv>, Router) {
    let kv = InMemoryCluster::new().join("node-1");
    kv.cas(RING, |d| {
        let inst = InstanceDesc {
            id: "ing-<1>".into(),
            addr: "10.0.0.1:9095".into(),
            zone: "z1".into(),
            state: InstanceState::Active,
            tokens: vec![1, 2, 3],
            heartbeat_ms: now_ms(),
            registered_ms: 0,
        };
        d.instances.insert(inst.id.clone(), inst);
    });
    let state =
        RingHttpState::new(Arc::clone(&kv)).with_ring("ingester-logs", Duration::from_secs(60));
    (kv, ring_router(state))
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, location, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn pages() {
    let (_kv, router) = setup();
    // (uri, status, substring expected in the body)
    let cases = [
        ("/ring", StatusCode::OK, r#"<a href="/ring/ingester-logs">"#),
        (
            "/ring?format=json",
            StatusCode::OK,
            r#"{"rings":["ingester-logs","ingester-metrics"]}"#,
        ),
        (
            "/ring/ingester-metrics",
            StatusCode::OK,
            "<td>ing-&lt;1&gt;</td><td>10.0.0.1:9095</td><td>z1</td><td>ACTIVE</td><td>3</td>",
        ),
        (
            "/ring/ingester-metrics",
            StatusCode::OK,
            r#"action="/ring/ingester-metrics/forget""#,
        ),
        (
            "/ring/ingester-logs",
            StatusCode::OK,
            "<h1>Ring ingester-logs</h1>",
        ),
        ("/ring/nope", StatusCode::NOT_FOUND, "unknown ring"),
        ("/memberlist", StatusCode::OK, "<td>node-1</td>"),
        (
            "/memberlist?format=json",
            StatusCode::OK,
            r#""name":"node-1","state":"alive""#,
        ),
    ];
    for (uri, want_status, want_body) in cases {
        let (status, _, body) = call(&router, get(uri)).await;
        assert_eq!(status, want_status, "{uri}");
        assert!(body.contains(want_body), "{uri}: {body}");
    }
}

#[tokio::test]
async fn ring_json_has_the_documented_shape() {
    let (kv, router) = setup();
    let (status, _, body) = call(&router, get("/ring/ingester-metrics?format=json")).await;
    assert_eq!(status, StatusCode::OK);
    let heartbeat_ms = kv.get(RING).instances["ing-<1>"].heartbeat_ms;
    let want = serde_json::json!({
        "name": "ingester-metrics",
        "instances": [{"id": "ing-<1>", "addr": "10.0.0.1:9095", "zone": "z1", "state": "ACTIVE",
                       "tokens": 3, "heartbeat_ms": heartbeat_ms, "healthy": true}]
    });
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        want
    );
}

#[tokio::test]
async fn forget_writes_a_tombstone_and_redirects() {
    let (kv, router) = setup();
    let form = |id: &str| {
        Request::post("/ring/ingester-metrics/forget")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("id={id}")))
            .unwrap()
    };
    let (status, location, _) = call(&router, form("ing-%3C1%3E")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ring/ingester-metrics"));
    assert_eq!(kv.get(RING).instances["ing-<1>"].state, InstanceState::Left);
    // the tombstone stays in gossip but not on the status page
    let (_, _, json) = call(&router, get("/ring/ingester-metrics?format=json")).await;
    assert!(!json.contains("ing-<1>"), "{json}");
    let (status, _, _) = call(&router, form("unknown")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
