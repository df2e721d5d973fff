//! Every Prometheus request of `reference/grafana-requests.md` (P1-P15), with the method,
//! parameters and headers Grafana sends, and the response shape it parses.

use axum::body::Body;
use http::{header, Request, StatusCode};
use serde_json::json;

use super::{app, send, value_of, Reply, TENANT};

/// A request as Grafana's backend sends it: its headers, a form body for POST.
fn grafana(method: &str, path: &str, params: &str) -> Request<Body> {
    let base = Request::builder()
        .method(method)
        .header(header::USER_AGENT, "Grafana/12.1.0")
        .header(header::ACCEPT_ENCODING, "gzip")
        .header("X-Scope-OrgID", TENANT)
        .header("X-Dashboard-Uid", "abc123")
        .header("X-Panel-Id", "4")
        .header("X-Grafana-Org-Id", "1");
    let prefixed = format!("/prometheus{path}");
    let request = if method == "POST" {
        base.uri(prefixed)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(params.to_string()))
    } else if params.is_empty() {
        base.uri(prefixed).body(Body::empty())
    } else {
        base.uri(format!("{prefixed}?{params}")).body(Body::empty())
    };
    request.expect("request")
}

async fn replay(method: &str, path: &str, params: &str) -> Reply {
    let reply = send(&app(), grafana(method, path, params)).await;
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/json",
        "{method} {path}"
    );
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_save_and_test() {
    for method in ["POST", "GET"] {
        let reply = replay(method, "/api/v1/query", "query=1%2B1&time=4").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.text(),
            r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
        );
    }
}

#[tokio::test]
async fn p2_buildinfo() {
    let data = replay("GET", "/api/v1/status/buildinfo", "").await.data();
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));
    for field in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(data[field].is_string(), "{field}: {data}");
    }
    assert!(
        data.get("features").is_none(),
        "features make Grafana see Mimir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_range_query() {
    for method in ["POST", "GET"] {
        let params = "query=sum%28rate%28http_requests_total%5B5m%5D%29%29&start=600&end=1200&step=60&timeout=30s";
        let data = replay(method, "/api/v1/query_range", params).await.data();
        assert_eq!(data["resultType"], "matrix");
        let result = data["result"].as_array().expect("result");
        assert_eq!(result.len(), 1, "{data}");
        assert_eq!(result[0]["metric"], json!({}));
        let values = result[0]["values"].as_array().expect("values");
        assert_eq!(values.len(), 11);
        for (i, point) in values.iter().enumerate() {
            assert_eq!(point[0], json!(600 + 60 * i as i64), "{point}");
            assert!((value_of(&point[1]) - 3.0).abs() < 1e-9, "{point}");
        }
        assert!(result[0].get("histograms").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_range_query_native_histograms() {
    let params = "query=request_duration_seconds&start=0&end=30&step=15";
    let data = replay("POST", "/api/v1/query_range", params).await.data();
    let series = &data["result"][0];
    assert_eq!(
        series["metric"],
        json!({"__name__": "request_duration_seconds", "job": "api"})
    );
    assert!(series.get("values").is_none(), "{series}");
    let histograms = series["histograms"].as_array().expect("histograms");
    assert_eq!(histograms.len(), 3);
    assert_eq!(
        histograms[2],
        json!([30, {"count": "4", "sum": "5", "buckets": [[0, "0.5", "1", "2"], [0, "1", "2", "2"]]}])
    );
    // step 0 has no observations: no buckets at all
    assert_eq!(histograms[0], json!([0, {"count": "0", "sum": "0"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_instant_query() {
    let data = replay(
        "POST",
        "/api/v1/query",
        "query=http_requests_total&time=1200",
    )
    .await
    .data();
    assert_eq!(data["resultType"], "vector");
    assert_eq!(
        data["result"],
        json!([
            {"metric": {"__name__": "http_requests_total", "instance": "a", "job": "api", "method": "GET"},
             "value": [1200, "1200"]},
            {"metric": {"__name__": "http_requests_total", "instance": "b", "job": "api", "method": "POST"},
             "value": [1200, "2400"]},
        ])
    );
    let hist = replay(
        "POST",
        "/api/v1/query",
        "query=request_duration_seconds&time=15.5",
    )
    .await
    .data();
    assert_eq!(
        hist["result"][0]["histogram"],
        json!([15.5, {"count": "2", "sum": "2.5", "buckets": [[0, "0.5", "1", "1"], [0, "1", "2", "1"]]}])
    );
    assert!(hist["result"][0].get("value").is_none());
}

#[tokio::test]
async fn p5_exemplars() {
    let params = "query=http_requests_total&start=600&end=1200";
    let data = replay("POST", "/api/v1/query_exemplars", params)
        .await
        .data();
    assert_eq!(data, json!([]));
}

#[tokio::test]
async fn p6_exemplar_probe_with_millisecond_times() {
    let params = "query=test&start=1700000000000&end=1700003600000";
    let data = replay("GET", "/api/v1/query_exemplars", params)
        .await
        .data();
    assert_eq!(data, json!([]));
}

#[tokio::test]
async fn p8_metric_names() {
    let data = replay(
        "GET",
        "/api/v1/label/__name__/values",
        "start=0&end=3600&limit=40000",
    )
    .await
    .data();
    assert_eq!(
        data,
        json!([
            "http_requests_total",
            "request_duration_seconds",
            "target_info",
            "up"
        ])
    );
    let matched = replay(
        "GET",
        "/api/v1/label/__name__/values",
        "start=0&end=3600&match%5B%5D=%7Bjob%3D%22api%22%7D&limit=40000",
    )
    .await
    .data();
    assert_eq!(
        matched,
        json!(["http_requests_total", "request_duration_seconds"])
    );
}

#[tokio::test]
async fn p9_label_names() {
    let params = "start=0&end=3600&match%5B%5D=http_requests_total&limit=40000";
    let data = replay("POST", "/api/v1/labels", params).await.data();
    assert_eq!(data, json!(["__name__", "instance", "job", "method"]));
    let all = replay("POST", "/api/v1/labels", "start=0&end=3600")
        .await
        .data();
    assert_eq!(
        all,
        json!(["__name__", "instance", "job", "method", "service.name"])
    );
}

#[tokio::test]
async fn p10_label_values_with_escaped_names() {
    let data = replay(
        "GET",
        "/api/v1/label/U__service_2e_name/values",
        "start=0&end=3600",
    )
    .await
    .data();
    assert_eq!(data, json!(["checkout"]));
    let job = replay(
        "GET",
        "/api/v1/label/job/values",
        "start=0&end=3600&match%5B%5D=up&limit=40000",
    )
    .await
    .data();
    assert_eq!(job, json!(["prometheus"]));
}

#[tokio::test]
async fn p11_series() {
    let params = "match%5B%5D=%7B__name__%21%3D%22%22%7D&start=0&end=3600&limit=40000";
    let data = replay("POST", "/api/v1/series", params).await.data();
    let series = data.as_array().expect("array");
    assert_eq!(series.len(), 5, "{data}");
    assert!(series
        .contains(&json!({"__name__": "up", "instance": "localhost:9090", "job": "prometheus"})));
    assert!(series.contains(&json!({"__name__": "target_info", "service.name": "checkout"})));
}

#[tokio::test]
async fn p12_metadata() {
    let data = replay("GET", "/api/v1/metadata", "").await.data();
    assert_eq!(
        data,
        json!({
            "http_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}],
            "up": [{"type": "gauge", "help": "Whether the target is up.", "unit": ""}],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p13_query_result_variable() {
    let data = replay("POST", "/api/v1/query", "query=count%28up%29&time=1800")
        .await
        .data();
    assert_eq!(
        data,
        json!({"resultType": "vector", "result": [{"metric": {}, "value": [1800, "1"]}]})
    );
    let string = replay("POST", "/api/v1/query", "query=%22hello%22&time=1800.25")
        .await
        .data();
    assert_eq!(
        string,
        json!({"resultType": "string", "result": [1800.25, "hello"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p14_annotation_range_query() {
    let params = "query=up+%3E+0&start=0&end=600&step=60s";
    let data = replay("POST", "/api/v1/query_range", params).await.data();
    let values = data["result"][0]["values"].as_array().expect("values");
    assert_eq!(values.len(), 11);
    assert_eq!(values[10], json!([600, "1"]));
}

#[tokio::test]
async fn get_only_endpoints_answer_post_with_405() {
    // Grafana retries resource calls with GET on 400 or 405.
    for path in [
        "/api/v1/label/job/values",
        "/api/v1/metadata",
        "/api/v1/status/buildinfo",
    ] {
        let reply = send(&app(), grafana("POST", path, "")).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}
