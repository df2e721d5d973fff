//! Building and pushing Prometheus remote-write requests (1.0 and 2.0).
//!
//! Builders keep labels in the order given so tests can also send invalid requests (unsorted,
//! duplicate); valid callers pass them sorted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use prost::Message;
use reqwest::header::HeaderMap;
use sextant_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use sextant_proto::write_v2;

pub const RW1_CONTENT_TYPE: &str = "application/x-protobuf";
pub const RW1_VERSION: &str = "0.1.0";
pub const RW2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
pub const RW2_VERSION: &str = "2.0.0";
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// A remote-write 1.0 series with `labels` in the given order.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
        histograms: Vec::new(),
    }
}

pub fn write_request(timeseries: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
}

/// Snappy block format (not the framed format), as remote write requires.
pub fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("snappy compression of an in-memory buffer cannot fail")
}

/// Builds a remote-write 2.0 request, interning label names and values in the symbol table.
#[derive(Debug)]
pub struct WriteRequestV2Builder {
    symbols: Vec<String>,
    refs: HashMap<String, u32>,
    timeseries: Vec<write_v2::TimeSeries>,
}

impl Default for WriteRequestV2Builder {
    fn default() -> Self {
        WriteRequestV2Builder {
            symbols: vec![String::new()],
            refs: HashMap::from([(String::new(), 0)]),
            timeseries: Vec::new(),
        }
    }
}

impl WriteRequestV2Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The reference of `s` in the symbol table, adding it if new.
    pub fn symbol(&mut self, s: &str) -> u32 {
        if let Some(&r) = self.refs.get(s) {
            return r;
        }
        let r = u32::try_from(self.symbols.len()).expect("fewer than 2^32 symbols");
        self.symbols.push(s.to_string());
        self.refs.insert(s.to_string(), r);
        r
    }

    pub fn add_series(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> &mut Self {
        let labels_refs = labels
            .iter()
            .flat_map(|(name, value)| [self.symbol(name), self.symbol(value)])
            .collect();
        self.add_series_refs(labels_refs, samples)
    }

    /// A series with raw label references (to build invalid requests).
    pub fn add_series_refs(&mut self, labels_refs: Vec<u32>, samples: &[(i64, f64)]) -> &mut Self {
        self.timeseries.push(write_v2::TimeSeries {
            labels_refs,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| write_v2::Sample { value, timestamp })
                .collect(),
            ..Default::default()
        });
        self
    }

    pub fn build(&self) -> write_v2::Request {
        write_v2::Request {
            symbols: self.symbols.clone(),
            timeseries: self.timeseries.clone(),
        }
    }
}

/// One HTTP push, headers and body spelled out, so tests can get each of them wrong.
#[derive(Debug, Clone)]
pub struct RawPush {
    pub content_type: String,
    pub content_encoding: Option<String>,
    pub version: Option<String>,
    pub tenant: Option<String>,
    pub body: Vec<u8>,
}

impl RawPush {
    /// A well-formed remote-write 1.0 push.
    pub fn v1(tenant: Option<&str>, request: &WriteRequest) -> Self {
        RawPush {
            content_type: RW1_CONTENT_TYPE.to_string(),
            content_encoding: Some("snappy".to_string()),
            version: Some(RW1_VERSION.to_string()),
            tenant: tenant.map(str::to_string),
            body: snappy(&request.encode_to_vec()),
        }
    }

    /// A well-formed remote-write 2.0 push.
    pub fn v2(tenant: Option<&str>, request: &write_v2::Request) -> Self {
        RawPush {
            content_type: RW2_CONTENT_TYPE.to_string(),
            content_encoding: Some("snappy".to_string()),
            version: Some(RW2_VERSION.to_string()),
            tenant: tenant.map(str::to_string),
            body: snappy(&request.encode_to_vec()),
        }
    }
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct PushResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl PushResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A response header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Pushes to `POST /api/v1/push` of one process.
#[derive(Debug, Clone)]
pub struct RemoteWriteClient {
    http: reqwest::Client,
    url: String,
}

impl RemoteWriteClient {
    pub fn new(http_addr: SocketAddr) -> Result<Self> {
        Self::for_url(format!("http://{http_addr}/api/v1/push"))
    }

    /// A client for any remote-write receiver URL (e.g. Prometheus' `/api/v1/write`).
    pub fn for_url(url: impl Into<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(RemoteWriteClient {
            http,
            url: url.into(),
        })
    }

    pub async fn push(&self, push: &RawPush) -> Result<PushResponse> {
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", &push.content_type)
            .body(push.body.clone());
        if let Some(encoding) = &push.content_encoding {
            request = request.header("Content-Encoding", encoding);
        }
        if let Some(version) = &push.version {
            request = request.header("X-Prometheus-Remote-Write-Version", version);
        }
        if let Some(tenant) = &push.tenant {
            request = request.header(TENANT_HEADER, tenant);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .context("read the push response body")?;
        Ok(PushResponse {
            status,
            headers,
            body,
        })
    }

    pub async fn push_v1(
        &self,
        tenant: Option<&str>,
        request: &WriteRequest,
    ) -> Result<PushResponse> {
        self.push(&RawPush::v1(tenant, request)).await
    }

    pub async fn push_v2(
        &self,
        tenant: Option<&str>,
        request: &write_v2::Request,
    ) -> Result<PushResponse> {
        self.push(&RawPush::v2(tenant, request)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_body_is_snappy_block_compressed_protobuf() {
        let request = write_request(vec![series(
            &[("__name__", "up"), ("job", "a")],
            &[(1, 2.0)],
        )]);
        let push = RawPush::v1(Some("t"), &request);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&push.body)
            .unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), request);
        assert_eq!(push.content_type, RW1_CONTENT_TYPE);
    }

    #[test]
    fn v2_builder_interns_symbols_with_empty_string_first() {
        let mut b = WriteRequestV2Builder::new();
        b.add_series(&[("__name__", "up"), ("job", "a")], &[(1, 1.0)])
            .add_series(&[("__name__", "up"), ("job", "b")], &[(2, 2.0)]);
        let request = b.build();
        assert_eq!(request.symbols, ["", "__name__", "up", "job", "a", "b"]);
        assert_eq!(request.timeseries[0].labels_refs, [1, 2, 3, 4]);
        assert_eq!(request.timeseries[1].labels_refs, [1, 2, 3, 5]);
        assert_eq!(request.timeseries[1].samples[0].timestamp, 2);
    }
}
