//! Samples through Prometheus remote write 1.0 (protobuf, snappy block format).

use futures::future::BoxFuture;
use prost::Message;
use sextant_model::TenantId;
use sextant_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};

use super::{join_url, read_response, RuleSample, RulerQueryError, SampleWriter, TENANT_HEADER};

/// Posts samples to `{base}/api/v1/push`.
#[derive(Clone)]
pub struct HttpSampleWriter {
    client: object_store_reqwest::Client,
    url: String,
}

impl HttpSampleWriter {
    /// `base_url` is the distributor's HTTP root, e.g. `http://127.0.0.1:8080`.
    pub fn new(client: object_store_reqwest::Client, base_url: &str) -> Self {
        Self {
            client,
            url: join_url(base_url, "/api/v1/push"),
        }
    }

    async fn send(
        &self,
        tenant: &TenantId,
        samples: Vec<RuleSample>,
    ) -> Result<(), RulerQueryError> {
        if samples.is_empty() {
            return Ok(());
        }
        let body = encode_write_request(samples)?;
        let response = self
            .client
            .post(&self.url)
            .header(TENANT_HEADER, tenant.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header(http::header::CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await;
        read_response(&self.url, response).await.map(|_| ())
    }
}

impl SampleWriter for HttpSampleWriter {
    fn write<'a>(
        &'a self,
        tenant: &'a TenantId,
        samples: Vec<RuleSample>,
    ) -> BoxFuture<'a, Result<(), RulerQueryError>> {
        Box::pin(self.send(tenant, samples))
    }
}

/// One time series per sample (labels are already sorted), snappy-compressed protobuf.
fn encode_write_request(samples: Vec<RuleSample>) -> Result<Vec<u8>, RulerQueryError> {
    let timeseries = samples
        .into_iter()
        .map(|s| TimeSeries {
            labels: s
                .labels
                .iter()
                .map(|l| Label {
                    name: l.name.clone(),
                    value: l.value.clone(),
                })
                .collect(),
            samples: vec![Sample {
                value: s.value,
                timestamp: s.timestamp_ms,
            }],
            ..Default::default()
        })
        .collect();
    let request = WriteRequest {
        timeseries,
        ..Default::default()
    };
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(|e| RulerQueryError::Client(format!("snappy: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use parking_lot::Mutex;
    use sextant_model::Labels;

    use super::*;
    use crate::client::build_http_client;

    type Seen = Arc<Mutex<Vec<(String, WriteRequest)>>>;

    async fn push(State(seen): State<Seen>, headers: HeaderMap, body: bytes::Bytes) -> StatusCode {
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = WriteRequest::decode(raw.as_slice()).unwrap();
        let tenant = headers[TENANT_HEADER].to_str().unwrap().to_string();
        assert_eq!(headers["content-encoding"], "snappy");
        seen.lock().push((tenant, request));
        StatusCode::NO_CONTENT
    }

    #[tokio::test]
    async fn writes_snappy_protobuf_with_the_tenant() {
        let seen = Seen::default();
        let app = Router::new()
            .route("/api/v1/push", post(push))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let writer = HttpSampleWriter::new(
            build_http_client(std::time::Duration::from_secs(5)).unwrap(),
            &format!("http://{addr}"),
        );
        let tenant = TenantId::parse("t1").unwrap();
        let sample = RuleSample {
            labels: Labels::from_pairs([("__name__", "job:up:sum"), ("job", "a")]),
            value: 3.0,
            timestamp_ms: 42,
        };
        writer.write(&tenant, vec![sample]).await.unwrap();
        writer.write(&tenant, Vec::new()).await.unwrap();

        let seen = seen.lock();
        assert_eq!(seen.len(), 1, "an empty write sends nothing");
        assert_eq!(seen[0].0, "t1");
        let series = &seen[0].1.timeseries[0];
        let labels: Vec<_> = series
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(labels, [("__name__", "job:up:sum"), ("job", "a")]);
        assert_eq!(
            (series.samples[0].value, series.samples[0].timestamp),
            (3.0, 42)
        );
    }

    #[tokio::test]
    async fn a_refused_write_is_an_error() {
        let app = Router::new().route(
            "/api/v1/push",
            post(|| async { (StatusCode::TOO_MANY_REQUESTS, "rate limited") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let writer = HttpSampleWriter::new(
            build_http_client(std::time::Duration::from_secs(5)).unwrap(),
            &format!("http://{addr}"),
        );
        let sample = RuleSample {
            labels: Labels::from_pairs([("__name__", "x")]),
            value: 1.0,
            timestamp_ms: 1,
        };
        let err = writer
            .write(&TenantId::parse("t1").unwrap(), vec![sample])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), sextant_model::ErrorKind::TooManyRequests);
    }
}
