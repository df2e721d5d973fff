use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use tower::ServiceExt;

use super::*;
use crate::service::{BoxError, Service, ServiceManager};

struct Noop;

impl Service for Noop {
    fn name(&self) -> &str {
        "noop"
    }
    fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
    fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
}

fn state(services: ServiceStates, readiness: Readiness) -> OpsState {
    let mut registry = Registry::default();
    let counter: Counter = Counter::default();
    counter.inc_by(7);
    registry.register("sextant_test_things", "Things seen by the test.", counter);
    OpsState {
        readiness,
        registry: Arc::new(registry),
        services,
        config_yaml: Arc::from("target: all\n"),
    }
}

async fn get_text(router: Router, uri: &str) -> (StatusCode, String) {
    let resp = router
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn ready_follows_services_and_flags() {
    let manager = ServiceManager::new(vec![Arc::new(Noop)], Duration::from_secs(1));
    let readiness = Readiness::new();
    let flag = readiness.register("ring");
    let router = ops_router(state(manager.states(), readiness));

    let (status, body) = get_text(router.clone(), "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready:\nservice noop: New\nring: starting\n");

    manager.start_all().await.unwrap();
    flag.set_ready(true);
    assert_eq!(
        get_text(router.clone(), "/ready").await,
        (StatusCode::OK, "ready\n".to_string())
    );

    let (_, body) = get_text(router.clone(), "/services").await;
    assert_eq!(body, "noop => Running\n");

    manager.stop_all().await;
    assert_eq!(
        get_text(router, "/ready").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn metrics_and_config() {
    let router = ops_router(state(ServiceStates::default(), Readiness::new()));
    let (status, body) = get_text(router.clone(), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("sextant_test_things_total 7"), "{body}");
    assert_eq!(
        get_text(router, "/config").await,
        (StatusCode::OK, "target: all\n".to_string())
    );
}

#[tokio::test]
async fn serve_stops_on_cancel() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let router = ops_router(state(ServiceStates::default(), Readiness::new()));
    let server = tokio::spawn(serve(listener, router, shutdown.clone()));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
