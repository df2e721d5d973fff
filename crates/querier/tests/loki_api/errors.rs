//! Errors as Loki reports them (plain text with its status), tenants, POST forms, limits.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{header, Request, StatusCode};
use sextant_querier::loki_api::LokiApiConfig;
use sextant_querier::source::QuerierError;

use super::*;

#[tokio::test]
async fn bad_requests_are_400_with_loki_texts() {
    let nginx = enc(r#"{job="nginx"}"#);
    let cases = vec![
        (
            "query_range",
            format!("query={}&{}", enc(r#"{job="nginx""#), range(0, 10)),
            "parse error at line 1",
        ),
        (
            "query_range",
            format!("query={nginx}&{}&limit=0", range(0, 10)),
            "limit must be a positive value",
        ),
        (
            "query_range",
            format!("query={nginx}&{}", range(10, 0)),
            "end timestamp must not be before or equal to start time",
        ),
        (
            "query_range",
            format!("query={nginx}&{}&direction=sideways", range(0, 10)),
            "invalid direction 'sideways'",
        ),
        (
            "query_range",
            format!("query={nginx}&{}&limit=6000", range(0, 10)),
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (6000 > 5000)",
        ),
        (
            "query",
            format!("query={nginx}&time=yesterday"),
            "strconv.ParseInt: parsing \"yesterday\": invalid syntax",
        ),
        (
            "query",
            format!(
                "query={}&time={}",
                enc(r#"count_over_time({job="nginx"} | json [1m])"#),
                T0 + 60 * SECOND
            ),
            "pipeline error: 'JSONParserErr'",
        ),
        (
            "labels",
            format!("query={}", enc(r#"{job="nginx"} |= "x""#)),
            "only label matchers are supported",
        ),
        (
            "index/volume",
            format!("query={nginx}&aggregateBy=pods"),
            "invalid aggregation option",
        ),
    ];
    for (path, params, want) in cases {
        let body = send(&app(), get(path, &params))
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(body.starts_with(want), "{path}?{params}: {body}");
    }
}

#[tokio::test]
async fn source_failures_keep_their_status() {
    let source = Arc::new(dataset());
    source.set_failure(Some(QuerierError::Ingesters(
        "2 of 3 ingesters down".into(),
    )));
    let app = app_with(source, LokiApiConfig::default());
    let nginx = enc(r#"{job="nginx"}"#);
    let requests = [
        ("query_range", format!("query={nginx}&{}", range(0, 600))),
        (
            "query",
            format!("query={}", enc(r#"rate({job="nginx"}[1m])"#)),
        ),
        ("labels", range(0, 600)),
        ("index/stats", format!("query={nginx}")),
    ];
    for (path, params) in requests {
        let body = send(&app, get(path, &params))
            .await
            .error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body, "failed to query ingesters: 2 of 3 ingesters down",
            "{path}"
        );
    }
}

#[tokio::test]
async fn timeouts_are_504() {
    let config = LokiApiConfig {
        query_timeout: Duration::ZERO,
        ..LokiApiConfig::default()
    };
    let app = app_with(Arc::new(dataset()), config);
    let params = format!("query={}&{}", enc(r#"{job="nginx"}"#), range(0, 600));
    let body = send(&app, get("query_range", &params))
        .await
        .error(StatusCode::GATEWAY_TIMEOUT);
    assert!(body.starts_with("request timed out"), "{body}");
}

#[tokio::test]
async fn tenants_are_required_and_isolated() {
    let request = Request::get("/loki/api/v1/labels")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app(), request).await.status, StatusCode::UNAUTHORIZED);
    let request = Request::get(format!("/loki/api/v1/label/job/values?{}", range(0, 600)))
        .header("X-Scope-OrgID", "team-b")
        .body(Body::empty())
        .unwrap();
    let data = send(&app(), request).await.data();
    assert_eq!(data, serde_json::json!(["worker"]));
}

#[tokio::test]
async fn post_forms_are_read() {
    let form = format!(
        "query={}&{}&limit=2&direction=forward",
        enc(r#"{job="worker"}"#),
        range(0, 600)
    );
    let request = Request::post("/loki/api/v1/query_range")
        .header("X-Scope-OrgID", TENANT)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let data = send(&app(), request).await.data();
    let got: Vec<i64> = entries(&data).iter().map(|(_, ts, _)| *ts).collect();
    assert_eq!(got, vec![T0 + 7 * SECOND, T0 + 67 * SECOND]);
}

/// Times as RFC3339 and float seconds select the same lines as nanoseconds.
#[tokio::test]
async fn time_formats() {
    let query = enc(r#"{job="worker"}"#);
    let forms = [
        range(0, 600),
        "start=2023-11-14T22:13:20Z&end=2023-11-14T22:23:20Z".to_string(),
        "start=1700000000.0&end=1700000600.0".to_string(),
        "start=1700000000&end=1700000600".to_string(),
    ];
    for times in forms {
        let params = format!("query={query}&{times}&limit=100");
        let data = send(&app(), get("query_range", &params)).await.data();
        assert_eq!(entries(&data).len(), 10, "{times}");
    }
}

/// `interval` keeps entries at least that far apart.
#[tokio::test]
async fn interval_thins_log_results() {
    let params = format!(
        "query={}&{}&interval=30s&direction=forward",
        enc(r#"{job="nginx"}"#),
        range(0, 600)
    );
    let data = send(&app(), get("query_range", &params)).await.data();
    let mut got: Vec<i64> = entries(&data).iter().map(|(_, ts, _)| *ts).collect();
    got.sort_unstable();
    let want: Vec<i64> = (0..20).map(|i| T0 + i * 30 * SECOND).collect();
    assert_eq!(got, want);
}
