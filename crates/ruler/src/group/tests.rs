use std::time::Duration;

use prometheus_client::registry::Registry;

use super::*;
use crate::client::build_http_client;
use crate::client::testing::{FakeQueryClient, FakeSampleWriter};
use crate::client::{is_stale_nan, LatestSample};
use crate::config::RulerConfig;
use crate::rule_file::RuleDesc;
use crate::state::AlertState;

struct Env {
    query: Arc<FakeQueryClient>,
    writer: Arc<FakeSampleWriter>,
    deps: Arc<GroupDeps>,
}

fn env(grace_period: Duration) -> Env {
    let query = Arc::new(FakeQueryClient::default());
    let writer = Arc::new(FakeSampleWriter::default());
    let metrics = RulerMetrics::new(&mut Registry::default());
    let client = build_http_client(Duration::from_secs(1)).unwrap();
    let notifier = Arc::new(Notifier::new(
        &RulerConfig::default(),
        client,
        metrics.clone(),
    ));
    let deps = Arc::new(GroupDeps {
        query: query.clone(),
        writer: writer.clone(),
        notifier,
        metrics,
        settings: GroupSettings {
            default_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            restore: RestoreSettings {
                outage_tolerance: Duration::from_secs(3600),
                grace_period,
            },
        },
    });
    Env {
        query,
        writer,
        deps,
    }
}

fn key() -> GroupKey {
    GroupKey {
        signal: Signal::Metrics,
        tenant: TenantId::parse("t").unwrap(),
        namespace: "ns".into(),
        name: "g".into(),
    }
}

fn desc(interval: Option<Duration>) -> RuleGroupDesc {
    RuleGroupDesc {
        name: "g".into(),
        interval,
        rules: vec![
            RuleDesc {
                record: Some("job:up:sum".into()),
                expr: "sum by (job) (up)".into(),
                ..RuleDesc::default()
            },
            RuleDesc {
                alert: Some("Down".into()),
                expr: "up == 0".into(),
                ..RuleDesc::default()
            },
        ],
        ..RuleGroupDesc::default()
    }
}

fn job(name: &str, v: f64) -> (Labels, f64) {
    (Labels::from_pairs([("job", name)]), v)
}

#[tokio::test]
async fn writes_results_stale_markers_and_health() {
    let env = env(Duration::from_secs(600));
    let mut group = RuleGroup::new(key(), desc(None), Duration::from_secs(30));
    assert_eq!(group.interval(), Duration::from_secs(30));

    env.query
        .set("sum by (job) (up)", vec![job("a", 1.0), job("b", 2.0)]);
    group.eval(&env.deps, 60_000).await;
    let written: Vec<(Option<String>, f64, i64)> = env
        .writer
        .take()
        .iter()
        .map(|s| {
            (
                s.labels.get("job").map(String::from),
                s.value,
                s.timestamp_ms,
            )
        })
        .collect();
    assert_eq!(
        written,
        [
            (Some("a".into()), 1.0, 60_000),
            (Some("b".into()), 2.0, 60_000)
        ]
    );

    env.query.set("sum by (job) (up)", vec![job("a", 3.0)]);
    group.eval(&env.deps, 90_000).await;
    let written = env.writer.take();
    assert_eq!(written.len(), 2);
    assert_eq!(
        (written[0].labels.get("job"), written[0].value),
        (Some("a"), 3.0)
    );
    assert_eq!(written[1].labels.get("job"), Some("b"));
    assert!(is_stale_nan(written[1].value), "job b went away");

    env.query.fail("sum by (job) (up)", "bad data");
    group.eval(&env.deps, 120_000).await;
    assert!(env.writer.take().is_empty());
    let state = group.state();
    let RuleStatus::Recording(recording) = &state.rules[0] else {
        panic!("first rule records")
    };
    assert_eq!(recording.health, RuleHealth::Err);
    assert!(
        recording.last_error.contains("bad data"),
        "{}",
        recording.last_error
    );
    let RuleStatus::Alerting(alerting) = &state.rules[1] else {
        panic!("second rule alerts")
    };
    assert_eq!(alerting.health, RuleHealth::Ok);
    assert!(state.last_evaluation_ms.is_some());
    let counts = env.deps.metrics.evaluation_counts(group.metric_labels());
    assert_eq!(counts, (6, 1));
}

#[tokio::test]
async fn a_changed_group_keeps_its_alerts() {
    let env = env(Duration::from_secs(600));
    let mut old = RuleGroup::new(key(), desc(None), Duration::from_secs(60));
    env.query.set("up == 0", vec![job("a", 0.0)]);
    old.eval(&env.deps, 60_000).await;
    assert_eq!(old.alerts().len(), 1);

    let mut changed = desc(Some(Duration::from_secs(10)));
    changed.rules.push(RuleDesc {
        alert: Some("New".into()),
        expr: "vector(1)".into(),
        ..RuleDesc::default()
    });
    let mut new = RuleGroup::new(key(), changed, Duration::from_secs(60));
    new.take_state_from(&mut old);
    let alerts = new.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(alerts[0].active_at_ms, Some(60_000));
    assert_eq!(new.interval(), Duration::from_secs(10));
}

#[tokio::test]
async fn the_loop_evaluates_restores_then_writes_alerts() {
    let env = env(Duration::ZERO);
    let group = RuleGroup::new(
        key(),
        desc(Some(Duration::from_millis(50))),
        Duration::from_secs(60),
    );
    env.query.set("up == 0", vec![job("a", 0.0)]);
    env.query.set_latest(
        "ALERTS_FOR_STATE{alertname=\"Down\"}",
        Vec::<LatestSample>::new(),
    );
    let snapshot = Arc::new(parking_lot::Mutex::new(GroupSnapshot::of(&group)));
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(run_group(
        group,
        env.deps.clone(),
        snapshot.clone(),
        cancel.clone(),
    ));

    let mut alerts_written = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        alerts_written = env
            .writer
            .written
            .lock()
            .iter()
            .any(|(_, s)| s.labels.metric_name() == Some("ALERTS"));
        if alerts_written {
            break;
        }
    }
    cancel.cancel();
    let group = task.await.unwrap();
    assert!(alerts_written, "ALERTS written after the restore");
    let calls = env.query.calls.lock().clone();
    let restore_at = calls
        .iter()
        .position(|c| c.2.starts_with("ALERTS_FOR_STATE"))
        .expect("restore queried ALERTS_FOR_STATE");
    assert_eq!(
        restore_at, 4,
        "after two evaluations of two rules: {calls:?}"
    );
    // Evaluation timestamps are on the group's grid.
    let offset = (key().hash() % 50) as i64;
    for (_, _, _, ts) in calls.iter().filter(|c| c.2 == "up == 0") {
        assert_eq!((ts - offset).rem_euclid(50), 0, "{ts}");
    }
    assert!(!group.needs_restore());
    assert_eq!(snapshot.lock().alerts.len(), 1);
}

/// The query API, remote write and Alertmanager of one fake server.
mod over_http {
    use axum::routing::post;
    use axum::Router;
    use prost::Message;
    use sextant_proto::prometheus::WriteRequest;

    use super::*;
    use crate::client::{HttpQueryClient, HttpSampleWriter};

    type Seen = Arc<parking_lot::Mutex<Vec<String>>>;

    async fn serve(pushed: Seen, alerted: Seen) -> String {
        let query = post(|| async {
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"0"]}]}}"#
        });
        let push = post(move |body: bytes::Bytes| async move {
            let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
            let request = WriteRequest::decode(raw.as_slice()).unwrap();
            for series in request.timeseries {
                let name = series.labels.iter().find(|l| l.name == "__name__").unwrap();
                pushed.lock().push(name.value.clone());
            }
        });
        let alerts = post(move |body: bytes::Bytes| async move {
            let alerts: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            for alert in alerts {
                alerted
                    .lock()
                    .push(alert["labels"]["alertname"].to_string());
            }
        });
        let app = Router::new()
            .route("/prometheus/api/v1/query", query)
            .route("/api/v1/push", push)
            .route("/api/v2/alerts", alerts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn records_alerts_and_notifies_through_http() {
        let (pushed, alerted) = (Seen::default(), Seen::default());
        let base = serve(pushed.clone(), alerted.clone()).await;
        let client = build_http_client(Duration::from_secs(5)).unwrap();
        let metrics = RulerMetrics::new(&mut Registry::default());
        let config = RulerConfig {
            alertmanager_url: vec![base.clone()],
            ..RulerConfig::default()
        };
        let notifier = Arc::new(Notifier::new(&config, client.clone(), metrics.clone()));
        let mut deps = Arc::try_unwrap(env(Duration::from_secs(600)).deps)
            .ok()
            .unwrap();
        deps.query = Arc::new(HttpQueryClient::new(client.clone(), base.clone()));
        deps.writer = Arc::new(HttpSampleWriter::new(client, &base));
        deps.notifier = notifier.clone();

        let mut group = RuleGroup::new(key(), desc(None), Duration::from_secs(60));
        group.eval(&deps, 60_000).await;
        // `for` (0) is under the grace period: the restore queries nothing.
        group.restore(&deps, 60_000).await;
        group.eval(&deps, 120_000).await;
        notifier.stop().await;

        assert_eq!(
            *pushed.lock(),
            ["job:up:sum", "job:up:sum", "ALERTS", "ALERTS_FOR_STATE"]
        );
        assert_eq!(
            *alerted.lock(),
            ["\"Down\""],
            "sent once within resend_delay"
        );
        for rule in group.state().rules {
            let health = match rule {
                RuleStatus::Alerting(r) => r.health,
                RuleStatus::Recording(r) => r.health,
            };
            assert_eq!(health, RuleHealth::Ok);
        }
    }
}
