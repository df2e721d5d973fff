//! Remote read as Prometheus's client sends it: snappy-compressed protobuf both ways.

use axum::body::Body;
use http::{header, Request, StatusCode};
use prost::Message;
use sextant_proto::prometheus::{
    histogram, label_matcher, read_request::ResponseType, LabelMatcher, Query, ReadRequest,
    ReadResponse,
};

use super::{app, send, Reply, TENANT};

fn matcher(r#type: label_matcher::Type, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: r#type as i32,
        name: name.to_string(),
        value: value.to_string(),
    }
}

fn query(start_ms: i64, end_ms: i64, matchers: Vec<LabelMatcher>) -> Query {
    Query {
        start_timestamp_ms: start_ms,
        end_timestamp_ms: end_ms,
        matchers,
        hints: None,
    }
}

/// POSTs a request with the headers of Prometheus's remote-read client.
async fn read(request: &ReadRequest) -> Reply {
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy");
    let http = Request::post("/prometheus/api/v1/read")
        .header("X-Scope-OrgID", TENANT)
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(header::CONTENT_ENCODING, "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .header(header::USER_AGENT, "Prometheus/3.5.0")
        .body(Body::from(body))
        .expect("request");
    send(&app(), http).await
}

fn decode(reply: &Reply) -> ReadResponse {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/x-protobuf"
    );
    assert_eq!(reply.headers[header::CONTENT_ENCODING], "snappy");
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&reply.body)
        .expect("snappy");
    ReadResponse::decode(raw.as_slice()).expect("protobuf")
}

#[tokio::test]
async fn round_trip_samples_and_histograms() {
    let request = ReadRequest {
        queries: vec![
            query(
                0,
                60_000,
                vec![
                    matcher(label_matcher::Type::Eq, "__name__", "http_requests_total"),
                    matcher(label_matcher::Type::Re, "method", "G.*"),
                ],
            ),
            query(
                15_000,
                30_000,
                vec![matcher(
                    label_matcher::Type::Eq,
                    "__name__",
                    "request_duration_seconds",
                )],
            ),
            query(
                0,
                1000,
                vec![matcher(label_matcher::Type::Eq, "__name__", "missing")],
            ),
        ],
        accepted_response_types: vec![
            ResponseType::StreamedXorChunks as i32,
            ResponseType::Samples as i32,
        ],
    };
    let response = decode(&read(&request).await);
    assert_eq!(response.results.len(), 3);

    let floats = &response.results[0].timeseries;
    assert_eq!(floats.len(), 1);
    let names: Vec<(&str, &str)> = floats[0]
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("__name__", "http_requests_total"),
            ("instance", "a"),
            ("job", "api"),
            ("method", "GET")
        ]
    );
    let samples: Vec<(i64, f64)> = floats[0]
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value))
        .collect();
    assert_eq!(
        samples,
        [
            (0, 0.0),
            (15_000, 15.0),
            (30_000, 30.0),
            (45_000, 45.0),
            (60_000, 60.0)
        ]
    );

    let histograms = &response.results[1].timeseries[0].histograms;
    assert_eq!(histograms.len(), 2);
    let h = &histograms[1];
    assert_eq!(h.timestamp, 30_000);
    assert_eq!(h.count, Some(histogram::Count::CountFloat(4.0)));
    assert_eq!(h.sum, 5.0);
    assert_eq!(h.positive_counts, vec![2.0, 2.0]);
    assert_eq!(h.positive_spans.len(), 1);

    assert!(response.results[2].timeseries.is_empty());
}

#[tokio::test]
async fn chunked_responses_only_are_refused() {
    let request = ReadRequest {
        queries: vec![query(0, 1000, vec![])],
        accepted_response_types: vec![ResponseType::StreamedXorChunks as i32],
    };
    let reply = read(&request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.text().starts_with(
            "server does not support any of the requested response types: [STREAMED_XOR_CHUNKS]"
        ),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn bad_bodies_and_matchers_are_400() {
    let raw = Request::post("/prometheus/api/v1/read")
        .header("X-Scope-OrgID", TENANT)
        .body(Body::from("not snappy"))
        .expect("request");
    assert_eq!(send(&app(), raw).await.status, StatusCode::BAD_REQUEST);

    let request = ReadRequest {
        queries: vec![query(
            0,
            1000,
            vec![matcher(label_matcher::Type::Re, "job", "(")],
        )],
        accepted_response_types: vec![],
    };
    assert_eq!(read(&request).await.status, StatusCode::BAD_REQUEST);
}
