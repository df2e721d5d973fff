use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use prometheus_client::registry::Registry;

use super::*;
use crate::client::build_http_client;

/// What the fake Alertmanager received: (tenant, alert) pairs and the size of each request.
type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;
type BatchSizes = Arc<Mutex<Vec<usize>>>;

async fn alertmanager(
    State((received, sizes)): State<(Received, BatchSizes)>,
    headers: HeaderMap,
    Json(alerts): Json<Vec<serde_json::Value>>,
) -> StatusCode {
    let tenant = headers[TENANT_HEADER].to_str().unwrap().to_string();
    sizes.lock().push(alerts.len());
    let mut received = received.lock();
    received.extend(alerts.into_iter().map(|a| (tenant.clone(), a)));
    StatusCode::OK
}

async fn fake_alertmanager() -> (String, Received, BatchSizes) {
    let (received, sizes) = (Received::default(), BatchSizes::default());
    let app = Router::new()
        .route("/api/v2/alerts", post(alertmanager))
        .with_state((received.clone(), sizes.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/"), received, sizes)
}

fn alert(name: &str, labels: &[(&str, &str)]) -> PostableAlert {
    let mut labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    labels.insert("alertname".into(), name.into());
    PostableAlert {
        labels,
        annotations: BTreeMap::from([("summary".into(), "s".into())]),
        starts_at_ms: 1_000,
        ends_at_ms: 61_500,
        generator_url: "/graph?g0.expr=up&g0.tab=1".into(),
    }
}

fn notifier(config: &RulerConfig) -> (Notifier, RulerMetrics) {
    let metrics = RulerMetrics::new(&mut Registry::default());
    let client = build_http_client(Duration::from_secs(2)).unwrap();
    (Notifier::new(config, client, metrics.clone()), metrics)
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 5s");
}

#[tokio::test]
async fn posts_v2_json_with_external_labels_per_tenant() {
    let (global, global_received, _) = fake_alertmanager().await;
    let (own, own_received, _) = fake_alertmanager().await;
    let config = RulerConfig {
        alertmanager_url: vec![global],
        tenant_alertmanager_urls: BTreeMap::from([("b".into(), vec![own])]),
        external_labels: BTreeMap::from([
            ("cluster".into(), "eu1".into()),
            ("env".into(), "prod".into()),
        ]),
        ..RulerConfig::default()
    };
    let (notifier, _) = notifier(&config);
    let a = TenantId::parse("a").unwrap();
    let b = TenantId::parse("b").unwrap();
    notifier.send(&a, vec![alert("A", &[("env", "dev")])]);
    notifier.send(&b, vec![alert("B", &[])]);
    wait_for(|| global_received.lock().len() == 1 && own_received.lock().len() == 1).await;
    notifier.stop().await;

    let (tenant, json) = global_received.lock()[0].clone();
    assert_eq!(tenant, "a");
    assert_eq!(
        json,
        serde_json::json!({
            "labels": {"alertname": "A", "cluster": "eu1", "env": "dev"},
            "annotations": {"summary": "s"},
            "startsAt": "1970-01-01T00:00:01Z",
            "endsAt": "1970-01-01T00:01:01.5Z",
            "generatorURL": "/graph?g0.expr=up&g0.tab=1"
        })
    );
    let (tenant, json) = own_received.lock()[0].clone();
    assert_eq!(
        (tenant.as_str(), &json["labels"]["alertname"]),
        ("b", &serde_json::json!("B"))
    );
}

#[tokio::test]
async fn batches_of_64() {
    let (url, received, batch_sizes) = fake_alertmanager().await;
    let config = RulerConfig {
        alertmanager_url: vec![url],
        ..RulerConfig::default()
    };
    let (notifier, metrics) = notifier(&config);
    let tenant = TenantId::parse("t").unwrap();
    let alerts: Vec<_> = (0..150)
        .map(|i| alert("A", &[("i", &i.to_string())]))
        .collect();
    notifier.send(&tenant, alerts);
    wait_for(|| received.lock().len() == 150).await;
    notifier.stop().await;
    assert_eq!(metrics.dropped("t"), 0);
    assert_eq!(*batch_sizes.lock(), [64, 64, 22]);
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_when_alertmanager_is_down() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = RulerConfig {
        alertmanager_url: vec![dead],
        notification_queue_capacity: 3,
        ..RulerConfig::default()
    };
    let (notifier, metrics) = notifier(&config);
    let tenant = TenantId::parse("t").unwrap();
    // The current-thread runtime runs no sender until this test yields: all five are queued
    // together and the two oldest dropped.
    let alerts: Vec<_> = (0..5)
        .map(|i| alert("A", &[("i", &i.to_string())]))
        .collect();
    notifier.send(&tenant, alerts);
    assert_eq!(metrics.dropped("t"), 2);
    let queued: Vec<String> = notifier
        .queues
        .lock()
        .values()
        .next()
        .unwrap()
        .alerts
        .lock()
        .iter()
        .map(|a| a.labels["i"].clone())
        .collect();
    assert_eq!(queued, ["2", "3", "4"]);
    notifier.stop().await;
    assert_eq!(metrics.dropped("t"), 2);
    assert_eq!(
        metrics.notification_errors("t"),
        3,
        "the queued ones failed on stop"
    );
}

#[tokio::test]
async fn no_alertmanager_means_nothing_queued() {
    let (notifier, metrics) = notifier(&RulerConfig::default());
    notifier.send(&TenantId::parse("t").unwrap(), vec![alert("A", &[])]);
    assert!(notifier.queues.lock().is_empty());
    assert_eq!(metrics.dropped("t"), 0);
}
