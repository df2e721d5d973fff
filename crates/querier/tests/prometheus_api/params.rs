//! Parameters, validation errors with Prometheus's texts and status codes, GET/POST
//! equivalence, limits, tenants and failures of the data layer.

use std::time::Duration;

use axum::body::Body;
use http::{header, Request, StatusCode};
use serde_json::json;
use sextant_querier::QuerierError;

use super::fake::FakeSource;
use super::{app, app_with, app_with_config, dataset, get, post_form, send};
use sextant_querier::api::PrometheusApiConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_table() {
    // (path and query, status, errorType, error)
    let cases: &[(&str, StatusCode, &str, &str)] = &[
        (
            "/prometheus/api/v1/query_range?query=up&end=10&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
        ),
        (
            "/prometheus/api/v1/query_range?query=up&start=0&end=x&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"end\": cannot parse \"x\" to a valid timestamp",
        ),
        (
            "/prometheus/api/v1/query_range?query=up&start=10&end=0&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            "/prometheus/api/v1/query_range?query=up&start=0&end=11001&step=1",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "/prometheus/api/v1/query_range?query=up&start=0&end=10&step=0",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "/prometheus/api/v1/query_range?query=up&start=0&end=10&step=1&timeout=soon",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration",
        ),
        (
            "/prometheus/api/v1/query?query=up&time=yesterday",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"time\": invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp",
        ),
        (
            "/prometheus/api/v1/query?query=up&limit=-2",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"limit\": limit must be non-negative",
        ),
        (
            "/prometheus/api/v1/query?query=up&lookback_delta=x",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "error parsing lookback delta duration: cannot parse \"x\" to a valid duration",
        ),
        (
            "/prometheus/api/v1/series?start=0",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "no match[] parameter provided",
        ),
        (
            "/prometheus/api/v1/labels?start=abc",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "invalid parameter \"start\": invalid time value for 'start': cannot parse \"abc\" to a valid timestamp",
        ),
        (
            "/prometheus/api/v1/metadata?limit=many",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "limit must be a number",
        ),
        (
            "/prometheus/api/v1/query_exemplars?query=up&start=10&end=5",
            StatusCode::BAD_REQUEST,
            "bad_data",
            "end timestamp must not be before start timestamp",
        ),
    ];
    let app = app();
    for (uri, status, error_type, error) in cases {
        let reply = send(&app, get(uri)).await;
        let (got_type, got_error) = reply.error(*status);
        assert_eq!(
            (got_type.as_str(), got_error.as_str()),
            (*error_type, *error),
            "{uri}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parse_errors_name_the_query_parameter() {
    let app = app();
    for uri in [
        "/prometheus/api/v1/query?query=sum(&time=1",
        "/prometheus/api/v1/query_range?query=up%5B5m%5D&start=0&end=60&step=15",
        "/prometheus/api/v1/format_query?query=%29",
    ] {
        let (error_type, error) = send(&app, get(uri)).await.error(StatusCode::BAD_REQUEST);
        assert_eq!(error_type, "bad_data", "{uri}");
        assert!(
            error.starts_with("invalid parameter \"query\": "),
            "{uri}: {error}"
        );
    }
    let (_, selector) = send(&app, get("/prometheus/api/v1/series?match[]=sum(up)"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(!selector.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_form_equals_get() {
    let requests = [
        ("query", "query=http_requests_total&time=1200"),
        (
            "query_range",
            "query=rate%28http_requests_total%5B1m%5D%29&start=0&end=600&step=15s",
        ),
        ("labels", "start=0&end=3600&match%5B%5D=up"),
        ("series", "match%5B%5D=up&match%5B%5D=target_info"),
        ("query_exemplars", "query=up"),
        ("format_query", "query=sum%28up%29+by+%28job%29"),
    ];
    let app = app();
    for (endpoint, params) in requests {
        let uri = format!("/prometheus/api/v1/{endpoint}");
        let by_get = send(&app, get(&format!("{uri}?{params}"))).await;
        let by_post = send(&app, post_form(&uri, params)).await;
        assert_eq!(
            by_get.status,
            StatusCode::OK,
            "{endpoint}: {}",
            by_get.text()
        );
        assert_eq!(by_get.body, by_post.body, "{endpoint}");
    }
    // a charset in the content type is fine; body values win over the URL's
    let request = Request::post("/prometheus/api/v1/query?query=up&time=1")
        .header("X-Scope-OrgID", super::TENANT)
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(Body::from("query=vector%283%29"))
        .expect("request");
    let data = send(&app, request).await.data();
    assert_eq!(data["result"][0]["value"], json!([1, "3"]));
}

#[tokio::test]
async fn times_as_rfc3339_and_sentinels() {
    let app = app();
    let cases = [
        "start=1970-01-01T00:00:00Z&end=1970-01-01T01:00:00.000Z",
        "start=-292273086-05-16T16:47:06Z&end=292277025-08-18T07:12:54.999999999Z",
        "start=0.000&end=3600.5",
        "",
    ];
    for params in cases {
        let data = send(
            &app,
            get(&format!("/prometheus/api/v1/label/job/values?{params}")),
        )
        .await
        .data();
        assert_eq!(data, json!(["api", "prometheus"]), "{params}");
    }
    let none = send(
        &app,
        get("/prometheus/api/v1/label/job/values?start=7200&end=9000"),
    )
    .await
    .data();
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn limits_truncate_with_a_warning() {
    let app = app();
    let labels = send(&app, get("/prometheus/api/v1/labels?limit=2")).await;
    assert_eq!(
        labels.json(),
        json!({"status": "success", "data": ["__name__", "instance"], "warnings": ["results truncated due to limit"]})
    );
    let exact = send(&app, get("/prometheus/api/v1/label/job/values?limit=2")).await;
    assert_eq!(
        exact.json(),
        json!({"status": "success", "data": ["api", "prometheus"]})
    );
    let series = send(
        &app,
        get("/prometheus/api/v1/series?match[]=http_requests_total&limit=1"),
    )
    .await;
    assert_eq!(series.data().as_array().map(Vec::len), Some(1));
    assert_eq!(
        series.json()["warnings"],
        json!(["results truncated due to limit"])
    );
    let metadata = send(&app, get("/prometheus/api/v1/metadata?limit=1"))
        .await
        .data();
    assert_eq!(metadata.as_object().map(|m| m.len()), Some(1));
    let zero = send(&app, get("/prometheus/api/v1/metadata?limit=0"))
        .await
        .data();
    assert_eq!(zero, json!({}));
    let one_metric = send(&app, get("/prometheus/api/v1/metadata?metric=up"))
        .await
        .data();
    assert_eq!(
        one_metric
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["up".to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_limit_truncates_series() {
    let reply = send(
        &app(),
        get("/prometheus/api/v1/query?query=http_requests_total&time=60&limit=1"),
    )
    .await;
    assert_eq!(reply.data()["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        reply.json()["warnings"],
        json!(["results truncated due to limit"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_added_on_request() {
    let app = app();
    let plain = send(&app, get("/prometheus/api/v1/query?query=up&time=60"))
        .await
        .data();
    assert!(plain.get("stats").is_none());
    let with = send(
        &app,
        get("/prometheus/api/v1/query?query=up&time=60&stats=all"),
    )
    .await
    .data();
    assert_eq!(with["resultType"], "vector");
    assert!(
        with["stats"]["samples"]["totalQueryableSamples"].is_u64(),
        "{with}"
    );
}

#[tokio::test]
async fn tenants_are_required_and_isolated() {
    let app = app();
    let anonymous = Request::get("/prometheus/api/v1/labels")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, anonymous).await.status, StatusCode::UNAUTHORIZED);
    let other = Request::get("/prometheus/api/v1/labels")
        .header("X-Scope-OrgID", "team-b")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, other).await.data(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_layer_failures_keep_their_kind() {
    // (error, status, errorType)
    let cases = [
        (
            QuerierError::Ingesters("2 of 3 ingesters failed".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        ),
        (
            QuerierError::Blocks("corrupt block".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
        ),
        (
            QuerierError::BadRequest("the query time range exceeds the limit".into()),
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
    ];
    for (error, status, error_type) in cases {
        let mut source = dataset();
        source.fail = Some(error.clone());
        let app = app_with(source);
        for uri in [
            "/prometheus/api/v1/query?query=up&time=60",
            "/prometheus/api/v1/labels",
            "/prometheus/api/v1/series?match[]=up",
        ] {
            let (got_type, message) = send(&app, get(uri)).await.error(status);
            assert_eq!(got_type, error_type, "{uri}");
            assert_eq!(message, error.to_string(), "{uri}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_time_out() {
    let mut source = FakeSource::default();
    source.select_delay = Duration::from_millis(300);
    let app = app_with(source);
    let reply = send(
        &app,
        get("/prometheus/api/v1/query?query=up&time=60&timeout=0.05"),
    )
    .await;
    let (error_type, error) = reply.error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_type, "timeout");
    assert_eq!(error, "query timed out in query execution");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_queue_for_a_slot() {
    let mut source = FakeSource::default();
    source.select_delay = Duration::from_millis(600);
    let config = PrometheusApiConfig {
        max_concurrent_queries: 1,
        ..PrometheusApiConfig::default()
    };
    let app = app_with_config(source, config);
    let first = send(&app, get("/prometheus/api/v1/query?query=up&time=60"));
    let second = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        send(
            &app,
            get("/prometheus/api/v1/query?query=up&time=60&timeout=0.2"),
        )
        .await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.data()["result"], json!([]));
    let (error_type, error) = second.error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_type, "timeout");
    assert_eq!(error, "query timed out in query queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookback_delta_is_honoured() {
    // the last sample is at 3600 s: visible at 3800 s with the default 5m lookback only
    let app = app();
    let default = send(&app, get("/prometheus/api/v1/query?query=up&time=3800"))
        .await
        .data();
    assert_eq!(default["result"].as_array().map(Vec::len), Some(1));
    let short = send(
        &app,
        get("/prometheus/api/v1/query?query=up&time=3800&lookback_delta=1m"),
    )
    .await
    .data();
    assert_eq!(short["result"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_query_defaults_to_now() {
    let data = send(&app(), get("/prometheus/api/v1/query?query=time%28%29"))
        .await
        .data();
    assert_eq!(
        data,
        json!({"resultType": "scalar", "result": [3600, "3600"]})
    );
}

#[tokio::test]
async fn format_query_pretty_prints() {
    let data = send(
        &app(),
        get("/prometheus/api/v1/format_query?query=sum%28up%29by%28job%29"),
    )
    .await
    .data();
    assert_eq!(data, json!("sum by (job) (up)"));
}
