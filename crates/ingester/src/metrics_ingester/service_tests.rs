//! The ingester's lifecycle, push and query against a tempdir WAL and a fake ring membership.

use std::path::Path;

use axum::body::Body;
use prost::Message;
use sextant_kit::http::Readiness;
use sextant_proto::prometheus::label_matcher::Type as MatchType;
use tower::ServiceExt;

use super::*;
use crate::config::IngesterMetricsConfig;
use crate::test_support::TestRing;

const TENANT: &str = "team-a";

struct Fixture {
    ingester: Arc<MetricsIngester>,
    store: Arc<dyn ObjectStore>,
    ring: Arc<TestRing>,
    ready: ReadyFlag,
    shutdown: CancellationToken,
}

impl Fixture {
    fn new(wal_dir: &Path) -> Self {
        Self::with_limits(wal_dir, TenantLimits::default(), 1, 1)
    }

    fn with_limits(wal_dir: &Path, limits: TenantLimits, rf: usize, healthy: usize) -> Self {
        let metrics = IngesterMetricsConfig {
            replication_factor: rf,
            ..IngesterMetricsConfig::default()
        };
        let store = Arc::new(object_store::memory::InMemory::new());
        Self::build(wal_dir, limits, metrics, healthy, store)
    }

    fn with_store(
        wal_dir: &Path,
        metrics: IngesterMetricsConfig,
        store: Arc<dyn ObjectStore>,
    ) -> Self {
        Self::build(wal_dir, TenantLimits::default(), metrics, 1, store)
    }

    fn build(
        wal_dir: &Path,
        limits: TenantLimits,
        metrics: IngesterMetricsConfig,
        healthy: usize,
        store: Arc<dyn ObjectStore>,
    ) -> Self {
        let config = IngesterConfig {
            wal_dir: wal_dir.to_string_lossy().into_owned(),
            metrics,
            ..IngesterConfig::default()
        };
        let ring = Arc::new(TestRing::new(healthy));
        let ready = Readiness::new().register("x");
        let shutdown = CancellationToken::new();
        let ingester = MetricsIngester::new(
            config,
            Overrides::fixed(limits),
            ring.clone(),
            store.clone(),
            ready.clone(),
            shutdown.clone(),
            &mut Registry::default(),
        );
        Fixture {
            ingester,
            store,
            ring,
            ready,
            shutdown,
        }
    }

    async fn started(self) -> Self {
        self.ingester.service().start().await.unwrap();
        self
    }

    fn joins(&self) -> usize {
        self.ring.joins()
    }

    fn leaves(&self) -> usize {
        self.ring.leaves()
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> wire::TimeSeries {
    wire::TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| wire::Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| wire::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn push_request(timeseries: &[wire::TimeSeries]) -> MetricsPushRequest {
    let request = wire::WriteRequest {
        timeseries: timeseries.to_vec(),
        ..Default::default()
    };
    MetricsPushRequest {
        tenant: TENANT.to_string(),
        write_request: request.encode_to_vec(),
    }
}

fn matcher(op: MatchType, name: &str, value: &str) -> wire::LabelMatcher {
    wire::LabelMatcher {
        r#type: op as i32,
        name: name.to_string(),
        value: value.to_string(),
    }
}

async fn query(
    ingester: &MetricsIngester,
    matchers: Vec<wire::LabelMatcher>,
) -> Vec<wire::TimeSeries> {
    let mut out = ingester
        .query(MetricsQueryRequest {
            tenant: TENANT.to_string(),
            start_ms: 0,
            end_ms: i64::MAX,
            matchers,
        })
        .await
        .unwrap();
    out.sort_by(|a, b| {
        a.labels
            .iter()
            .map(|l| (&l.name, &l.value))
            .cmp(b.labels.iter().map(|l| (&l.name, &l.value)))
    });
    out
}

fn up_a() -> wire::TimeSeries {
    series(
        &[("__name__", "up"), ("job", "a")],
        &[(1000, 1.0), (2000, 0.0)],
    )
}

fn up_b() -> wire::TimeSeries {
    series(&[("__name__", "up"), ("job", "b")], &[(1500, 1.0)])
}

fn down_a() -> wire::TimeSeries {
    series(&[("__name__", "down"), ("job", "a")], &[(1000, 5.0)])
}

#[tokio::test]
async fn start_replays_joins_and_becomes_ready() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path());
    assert!(!f.ready.is_ready(), "ready before start");
    assert_eq!(f.joins(), 0);
    let f = f.started().await;
    assert!(f.ready.is_ready());
    assert_eq!(f.joins(), 1);
    assert_eq!(f.leaves(), 0);
}

#[tokio::test]
async fn query_returns_exactly_what_was_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path()).started().await;
    let written = f
        .ingester
        .push(push_request(&[up_a(), up_b(), down_a()]))
        .await
        .unwrap();
    assert_eq!(written.samples_written, 4);
    // (matchers, expected series in label order)
    let cases = [
        (
            vec![matcher(MatchType::Eq, "__name__", "up")],
            vec![up_a(), up_b()],
        ),
        (
            vec![
                matcher(MatchType::Eq, "__name__", "up"),
                matcher(MatchType::Neq, "job", "b"),
            ],
            vec![up_a()],
        ),
        (
            vec![matcher(MatchType::Re, "job", "a|z")],
            vec![down_a(), up_a()],
        ),
        (vec![matcher(MatchType::Eq, "__name__", "missing")], vec![]),
    ];
    for (matchers, want) in cases {
        let got = query(&f.ingester, matchers.clone()).await;
        assert_eq!(got, want, "{matchers:?}");
    }
}

#[tokio::test]
async fn out_of_order_sample_is_invalid_argument_naming_the_series() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path()).started().await;
    f.ingester.push(push_request(&[up_a()])).await.unwrap();
    let late = series(&[("__name__", "up"), ("job", "a")], &[(1500, 9.0)]);
    let status = f.ingester.push(push_request(&[late])).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(r#"up{job="a"}"#), "{status:?}");
    // the refused sample was not stored
    let got = query(&f.ingester, vec![matcher(MatchType::Eq, "job", "a")]).await;
    assert_eq!(got, vec![up_a()]);
}

#[tokio::test]
async fn series_limit_is_resource_exhausted_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = TenantLimits {
        max_global_series_per_user: 2,
        ..TenantLimits::default()
    };
    let f = Fixture::with_limits(dir.path(), limits, 1, 1)
        .started()
        .await;
    f.ingester.push(push_request(&[up_a()])).await.unwrap();
    f.ingester.push(push_request(&[up_b()])).await.unwrap();
    let status = f
        .ingester
        .push(push_request(&[down_a()]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_global_series_per_user"),
        "{status:?}"
    );
    assert!(status.message().contains("limit of 2"), "{status:?}");
    assert!(status.message().contains(r#"down{job="a"}"#), "{status:?}");
    // existing series still take samples
    let more = series(&[("__name__", "up"), ("job", "a")], &[(3000, 1.0)]);
    f.ingester.push(push_request(&[more])).await.unwrap();
}

#[tokio::test]
async fn restart_replays_the_wal() {
    // (name, stop cleanly before the restart)
    for (name, clean) in [("clean stop", true), ("no stop, as after a crash", false)] {
        let dir = tempfile::tempdir().unwrap();
        let first = Fixture::new(dir.path()).started().await;
        first
            .ingester
            .push(push_request(&[up_a(), down_a()]))
            .await
            .unwrap();
        let pushed = query(&first.ingester, vec![matcher(MatchType::Re, "job", ".+")]).await;
        assert_eq!(pushed.len(), 2, "{name}");
        if clean {
            first.ingester.service().stop().await.unwrap();
        }
        drop(first);
        let second = Fixture::new(dir.path()).started().await;
        let replayed = query(&second.ingester, vec![matcher(MatchType::Re, "job", ".+")]).await;
        assert_eq!(replayed, pushed, "{name}");
        // and the replayed series keep rejecting what is now out of order
        let late = series(&[("__name__", "up"), ("job", "a")], &[(500, 1.0)]);
        let status = second
            .ingester
            .push(push_request(&[late]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{name}");
    }
}

#[tokio::test]
async fn stop_leaves_the_ring_once_and_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path()).started().await;
    let service = f.ingester.service();
    service.stop().await.unwrap();
    assert_eq!(f.leaves(), 1);
    assert!(!f.ready.is_ready());
    service.stop().await.unwrap();
    assert_eq!(f.leaves(), 1, "stop is idempotent");
    assert!(
        !f.shutdown.is_cancelled(),
        "a service stop does not ask the process to exit"
    );
}

#[tokio::test]
async fn shutdown_endpoint_leaves_and_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new(dir.path()).started().await;
    f.ingester.push(push_request(&[up_a()])).await.unwrap();
    let request = axum::http::Request::post("/ingester/shutdown")
        .body(Body::empty())
        .unwrap();
    let response = f.ingester.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(f.leaves(), 1);
    assert!(!f.ready.is_ready());
    assert!(f.shutdown.is_cancelled());
    // the service stop that follows does not leave a second time
    f.ingester.service().stop().await.unwrap();
    assert_eq!(f.leaves(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_pushes_of_a_tenant_share_one_wal() {
    let dir = tempfile::tempdir().unwrap();
    let first = Fixture::new(dir.path()).started().await;
    let pushes = (0..16).map(|i| {
        let ingester = first.ingester.clone();
        let job = format!("job-{i}");
        tokio::spawn(async move {
            let s = series(
                &[("__name__", "up"), ("job", job.as_str())],
                &[(1000, i as f64)],
            );
            ingester.push(push_request(&[s])).await
        })
    });
    for push in futures::future::join_all(pushes).await {
        push.unwrap().unwrap();
    }
    let pushed = query(&first.ingester, vec![matcher(MatchType::Re, "job", ".+")]).await;
    assert_eq!(pushed.len(), 16);
    drop(first);
    // every acknowledged push is in the one WAL that replay reads
    let second = Fixture::new(dir.path()).started().await;
    let replayed = query(&second.ingester, vec![matcher(MatchType::Re, "job", ".+")]).await;
    assert_eq!(replayed, pushed);
}

#[cfg(test)]
mod read_tests;

#[cfg(test)]
mod shipper_tests;
