//! The Prometheus HTTP API end to end, through the router, over an in-memory source:
//! Grafana's requests replayed as it sends them, parameter handling, errors, remote read.

mod fake;
mod grafana;
mod params;
mod remote_read;

#[path = "../common/reply.rs"]
mod reply;

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http::{header, Request, StatusCode};
use sextant_kit::tenant::TenantResolver;
use sextant_metrics::promql::histogram::Span;
use sextant_metrics::promql::{Engine, FloatHistogram};
use sextant_model::Labels;
use sextant_querier::api::{prometheus_api_router, ApiState, PrometheusApiConfig};
use sextant_querier::MetadataEntry;

pub use reply::{send, Reply};

use fake::FakeSource;

/// The tenant the test data belongs to.
pub const TENANT: &str = "team-a";

impl Reply {
    /// `(errorType, error)` of an error envelope with the given status.
    pub fn error(&self, status: StatusCode) -> (String, String) {
        assert_eq!(self.status, status, "{}", self.text());
        let json = self.json();
        assert_eq!(json["status"], "error", "{}", self.text());
        assert!(json.get("data").is_none(), "{}", self.text());
        (
            json["errorType"].as_str().unwrap_or_default().to_string(),
            json["error"].as_str().unwrap_or_default().to_string(),
        )
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("X-Scope-OrgID", TENANT)
        .body(Body::empty())
        .expect("request")
}

pub fn post_form(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header("X-Scope-OrgID", TENANT)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request")
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// The test data, all in [`TENANT`], one sample every 15 s from 0 to 3600 s:
/// - `up{instance="localhost:9090",job="prometheus"}` = 1
/// - `http_requests_total{instance="a",job="api",method="GET"}` = t (a rate of 1/s)
/// - `http_requests_total{instance="b",job="api",method="POST"}` = 2t (2/s)
/// - `target_info{service.name="checkout"}` = 1
/// - `request_duration_seconds{job="api"}`: a native histogram every 15 s
pub fn dataset() -> FakeSource {
    let mut source = FakeSource::default();
    let up = labels(&[
        ("__name__", "up"),
        ("instance", "localhost:9090"),
        ("job", "prometheus"),
    ]);
    let get = labels(&[
        ("__name__", "http_requests_total"),
        ("instance", "a"),
        ("job", "api"),
        ("method", "GET"),
    ]);
    let post = labels(&[
        ("__name__", "http_requests_total"),
        ("instance", "b"),
        ("job", "api"),
        ("method", "POST"),
    ]);
    let info = labels(&[("__name__", "target_info"), ("service.name", "checkout")]);
    let hist = labels(&[("__name__", "request_duration_seconds"), ("job", "api")]);
    for step in 0..=240 {
        let t = step * 15_000;
        let seconds = (t / 1000) as f64;
        source.add_float(TENANT, &up, t, 1.0);
        source.add_float(TENANT, &get, t, seconds);
        source.add_float(TENANT, &post, t, 2.0 * seconds);
        source.add_float(TENANT, &info, t, 1.0);
        source.add_histogram(TENANT, &hist, t, histogram(step as f64));
    }
    source.add_metadata(
        TENANT,
        "http_requests_total",
        MetadataEntry {
            metric_type: "counter".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        },
    );
    source.add_metadata(
        TENANT,
        "up",
        MetadataEntry {
            metric_type: "gauge".into(),
            help: "Whether the target is up.".into(),
            unit: String::new(),
        },
    );
    source
}

/// A schema-0 histogram with `n` observations in (0.5, 1] and `n` in (1, 2].
pub fn histogram(n: f64) -> FloatHistogram {
    FloatHistogram {
        schema: 0,
        count: 2.0 * n,
        sum: 2.5 * n,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![n, n],
        ..FloatHistogram::default()
    }
}

/// The router over `source` with multi-tenancy on, at a fixed "now" of 3600 s.
pub fn app_with(source: FakeSource) -> Router {
    app_with_config(source, PrometheusApiConfig::default())
}

pub fn app_with_config(source: FakeSource, config: PrometheusApiConfig) -> Router {
    let mut state = ApiState::with_config(
        Arc::new(source),
        Engine::default(),
        TenantResolver::new(true),
        config,
    );
    state.now_ms = || 3_600_000;
    prometheus_api_router(state)
}

pub fn app() -> Router {
    app_with(dataset())
}

/// A sample value string as a float (`"+Inf"` and `"NaN"` included).
pub fn value_of(v: &serde_json::Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    match s {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {s}")),
    }
}
