//! The Loki HTTP API end to end, through the router, over an in-memory source: Grafana's
//! requests replayed as it sends them (`grafana.rs`), errors, tenants and parameters
//! (`errors.rs`).

#[path = "loki_api/errors.rs"]
mod errors;
#[path = "loki_api/grafana.rs"]
mod grafana;

#[path = "common/reply.rs"]
mod reply;

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http::{header, Request, StatusCode};
use sextant_kit::tenant::TenantResolver;
use sextant_logs::logql::eval::Entry;
use sextant_model::Labels;
use sextant_querier::loki_api::{loki_api_router, LokiApiConfig, LokiApiState, MemLogsSource};

pub use reply::{send, Reply};

/// The tenant of the test data (multi-tenancy is on).
pub const TENANT: &str = "team-a";
/// 2023-11-14T22:13:20Z, the first entry, in nanoseconds.
pub const T0: i64 = 1_700_000_000_000_000_000;
pub const SECOND: i64 = 1_000_000_000;

impl Reply {
    /// The plain-text body of an error with this status.
    pub fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        self.text()
    }
}

/// A GET as Grafana sends it: URL parameters (already encoded), the tenant header.
pub fn get(path: &str, params: &str) -> Request<Body> {
    Request::get(format!("/loki/api/v1/{path}?{params}"))
        .header("X-Scope-OrgID", TENANT)
        .header(header::USER_AGENT, "Grafana/12.1.0")
        .body(Body::empty())
        .expect("request")
}

/// Percent-encodes a parameter value.
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `start` and `end` in nanoseconds, from `T0 + from` to `T0 + to` seconds.
pub fn range(from: i64, to: i64) -> String {
    format!("start={}&end={}", T0 + from * SECOND, T0 + to * SECOND)
}

pub fn nginx_labels() -> Labels {
    Labels::from_pairs([
        ("app", "frontend"),
        ("env", "prod"),
        ("job", "nginx"),
        ("service_name", "frontend"),
    ])
}

/// Entry `i` of the nginx stream (every 10 s from `T0`, 60 of them); every tenth is a 500,
/// every twentieth carries a `trace_id`.
pub fn nginx_entry(i: i64) -> Entry {
    let status = if i % 10 == 0 { 500 } else { 200 };
    let metadata = if i % 20 == 0 {
        Labels::from_pairs([("trace_id", format!("abc{i}"))])
    } else {
        Labels::default()
    };
    Entry {
        ts_ns: T0 + i * 10 * SECOND,
        line: format!(
            "10.0.0.{} - - [14/Nov/2023:22:13:20 +0000] \"GET /api/items/{i} HTTP/1.1\" {status} {} \"-\" \"curl/8.4.0\"",
            i % 5,
            100 + i
        ),
        metadata,
    }
}

pub fn api_labels() -> Labels {
    Labels::from_pairs([("app", "backend"), ("env", "prod"), ("job", "api")])
}

/// Entry `i` of the api stream (logfmt, every 20 s from `T0 + 5 s`, 30 of them); every
/// third is an error with status 500. `detected_level` is structured metadata.
pub fn api_entry(i: i64) -> Entry {
    let (level, status) = if i % 3 == 0 {
        ("error", 500)
    } else {
        ("info", 200)
    };
    Entry {
        ts_ns: T0 + 5 * SECOND + i * 20 * SECOND,
        line: format!(
            "level={level} msg=\"request done\" path=/api/items duration={i}ms status={status}"
        ),
        metadata: Labels::from_pairs([("detected_level", level)]),
    }
}

pub fn worker_labels() -> Labels {
    Labels::from_pairs([("app", "worker"), ("env", "dev"), ("job", "worker")])
}

/// Entry `i` of the worker stream (JSON, every 60 s from `T0 + 7 s`, 10 of them).
pub fn worker_entry(i: i64) -> Entry {
    Entry {
        ts_ns: T0 + 7 * SECOND + i * 60 * SECOND,
        line: format!("{{\"level\":\"warn\",\"msg\":\"job retried\",\"attempt\":{i}}}"),
        metadata: Labels::default(),
    }
}

/// The three streams in [`TENANT`], and one line in `team-b`.
pub fn dataset() -> MemLogsSource {
    let source = MemLogsSource::new();
    for i in 0..60 {
        source.push(TENANT, &nginx_labels(), nginx_entry(i));
    }
    for i in 0..30 {
        source.push(TENANT, &api_labels(), api_entry(i));
    }
    for i in 0..10 {
        source.push(TENANT, &worker_labels(), worker_entry(i));
    }
    source.push("team-b", &worker_labels(), worker_entry(0));
    source
}

/// The router over `source` with multi-tenancy on, "now" at `T0 + 3600 s`.
pub fn app_with(source: Arc<MemLogsSource>, config: LokiApiConfig) -> Router {
    let mut state = LokiApiState::new(source, TenantResolver::new(true), config);
    state.now_ns = || T0 + 3600 * SECOND;
    loki_api_router(state)
}

pub fn app() -> Router {
    app_with(Arc::new(dataset()), LokiApiConfig::default())
}

/// Every `[ts, line]` of a streams result, in answer order, with its stream.
pub fn entries(data: &serde_json::Value) -> Vec<(serde_json::Value, i64, String)> {
    assert_eq!(data["resultType"], "streams", "{data}");
    let mut out = Vec::new();
    for stream in data["result"].as_array().expect("result") {
        for value in stream["values"].as_array().expect("values") {
            let pair = value.as_array().expect("pair");
            assert_eq!(pair.len(), 2, "{value}");
            let ts: i64 = pair[0].as_str().expect("ts string").parse().expect("ts");
            let line = pair[1].as_str().expect("line").to_string();
            out.push((stream["stream"].clone(), ts, line));
        }
    }
    out
}
