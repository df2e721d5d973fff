//! The push path end to end through the router, against scripted in-memory ingesters and a
//! fixed three-instance ring.

use std::time::Duration;

use axum::http::Request;
use prost::Message;
use rand::SeedableRng;
use sextant_proto::prometheus as wire;
use sextant_proto::write_v2;
use tower::ServiceExt;

use super::*;
use crate::test_support::{self, random_tokens, test_config, test_ring, Answer, ScriptedIngesters};

const ADDRS: [&str; 3] = ["ingester-1:9095", "ingester-2:9095", "ingester-3:9095"];
const V2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// What one scripted ingester does with every push.
#[derive(Debug, Clone, Copy, Default)]
enum Behaviour {
    #[default]
    Ok,
    Fail(tonic::Code, &'static str),
    /// Never answers.
    Hang,
}

/// A series as an ingester received it: sorted label pairs and (timestamp, value) samples.
type ReceivedSeries = (Vec<(String, String)>, Vec<(i64, f64)>);

/// Ingesters whose answers are scripted per address; records every push it is given.
type FakeIngesters = ScriptedIngesters<Behaviour, MetricsPushRequest>;

impl FakeIngesters {
    /// The series `addr` received over all pushes, decoded from the forwarded bodies.
    fn series_at(&self, addr: &str) -> Vec<ReceivedSeries> {
        let received = self.received.lock();
        let mut out = Vec::new();
        for (_, request) in received.iter().filter(|(a, _)| a == addr) {
            let mut batch = WriteBatch::default();
            remote_write::decode_v1(&request.write_request, &mut batch).unwrap();
            for series in &batch.series {
                let labels = batch
                    .series_labels(series)
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                let samples = batch
                    .series_samples(series)
                    .iter()
                    .map(|s| (s.timestamp_ms, s.value))
                    .collect();
                out.push((labels, samples));
            }
        }
        out
    }
}

impl IngesterClientFactory for FakeIngesters {
    fn push(
        &self,
        addr: &str,
        request: MetricsPushRequest,
    ) -> BoxFuture<'static, Result<MetricsPushResponse, tonic::Status>> {
        let answer = match self.take(addr, request) {
            Behaviour::Ok => Answer::Respond(MetricsPushResponse::default()),
            Behaviour::Fail(code, message) => Answer::Fail(code, message),
            Behaviour::Hang => Answer::Hang,
        };
        answer.into_future()
    }
}

/// Three ACTIVE, healthy instances with 128 seeded random tokens each, RF 3.
fn three_instance_ring() -> Arc<TokenRing> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    test_ring(ADDRS.len(), "ingester", |_| random_tokens(&mut rng))
}

struct Setup {
    behaviour: [Behaviour; 3],
    config: DistributorConfig,
    limits: TenantLimits,
    multitenancy: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            behaviour: [Behaviour::Ok; 3],
            config: test_config(),
            limits: TenantLimits::default(),
            multitenancy: false,
        }
    }
}

impl Setup {
    fn build(self) -> (Router, Arc<FakeIngesters>) {
        let shared = test_support::Setup {
            instances: ADDRS.len(),
            behaviour: self.behaviour.to_vec(),
            config: self.config,
            limits: self.limits,
            multitenancy: self.multitenancy,
        };
        let addr = |i: usize| ADDRS[i - 1].to_string();
        let (distributor, ingesters) = shared.assemble(
            three_instance_ring(),
            addr,
            |config, tenants, overrides, ring, clients| {
                let registry = &mut Registry::default();
                Distributor::new(config, tenants, overrides, ring, clients, registry)
            },
        );
        (distributor.router(), ingesters)
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

fn owned(s: &wire::TimeSeries) -> ReceivedSeries {
    (
        s.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        s.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
    )
}

fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn v1_body(timeseries: &[wire::TimeSeries]) -> Vec<u8> {
    let request = wire::WriteRequest {
        timeseries: timeseries.to_vec(),
        ..Default::default()
    };
    compress(&request.encode_to_vec())
}

fn push_request(content_type: &str, body: Vec<u8>, org: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/api/v1/push")
        .header("content-type", content_type)
        .header("content-encoding", "snappy");
    if let Some(org) = org {
        builder = builder.header("X-Scope-OrgID", org);
    }
    builder.body(Body::from(body)).unwrap()
}

fn v1_request(timeseries: &[wire::TimeSeries]) -> Request<Body> {
    push_request("application/x-protobuf", v1_body(timeseries), None)
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Two valid series with recent samples.
fn two_series() -> Vec<wire::TimeSeries> {
    let now = now_ms();
    vec![
        series(
            &[("__name__", "up"), ("job", "api")],
            &[(now - 1000, 1.0), (now, 0.0)],
        ),
        series(
            &[("__name__", "http_requests_total"), ("code", "200")],
            &[(now, 42.0)],
        ),
    ]
}

#[tokio::test]
async fn replication_outcomes() {
    use tonic::Code;
    let ok = Behaviour::Ok;
    let unavailable = Behaviour::Fail(Code::Unavailable, "disk on fire");
    let invalid = Behaviour::Fail(Code::InvalidArgument, "out of order sample for series up");
    // (name, behaviours, status, the body must contain)
    let cases: &[(&str, [Behaviour; 3], StatusCode, &str)] = &[
        ("all ok", [ok, ok, ok], StatusCode::NO_CONTENT, ""),
        (
            "one fails",
            [ok, unavailable, ok],
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "two fail",
            [unavailable, ok, unavailable],
            StatusCode::SERVICE_UNAVAILABLE,
            "disk on fire",
        ),
        (
            "one hangs",
            [ok, ok, Behaviour::Hang],
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "one fails, one hangs past remote_timeout",
            [unavailable, Behaviour::Hang, ok],
            StatusCode::SERVICE_UNAVAILABLE,
            "no answer within 200ms",
        ),
        (
            "ingesters refuse a sample",
            [invalid, invalid, ok],
            StatusCode::BAD_REQUEST,
            "out of order sample for series up",
        ),
        (
            "no quorum stays retryable even when one ingester refused a sample",
            [invalid, unavailable, unavailable],
            StatusCode::SERVICE_UNAVAILABLE,
            "refused part of it: out of order sample",
        ),
        (
            "internal errors are not client errors",
            [
                Behaviour::Fail(Code::Internal, "wal broken"),
                ok,
                Behaviour::Fail(Code::Internal, "wal broken"),
            ],
            StatusCode::SERVICE_UNAVAILABLE,
            "ingester ingester-",
        ),
    ];
    let sent = two_series();
    for (name, behaviour, want_status, want_body) in cases {
        let (router, ingesters) = Setup {
            behaviour: *behaviour,
            ..Setup::default()
        }
        .build();
        let (status, _, body) = send(&router, v1_request(&sent)).await;
        assert_eq!(status, *want_status, "{name}: {body}");
        assert!(body.contains(want_body), "{name}: {body:?}");
        // RF 3 on 3 instances: every ingester is sent every series, whatever it answers.
        for addr in ADDRS {
            let got = ingesters.series_at(addr);
            let want: Vec<ReceivedSeries> = sent.iter().map(owned).collect();
            assert_eq!(got.len(), 2, "{name}: {addr}");
            for series in want {
                assert!(got.contains(&series), "{name}: {addr} lacks {series:?}");
            }
        }
        assert_eq!(
            ingesters.tenants(),
            vec!["anonymous".to_string(); 3],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_hanging_ingester_does_not_delay_the_answer() {
    let (router, _) = Setup {
        behaviour: [Behaviour::Hang, Behaviour::Ok, Behaviour::Ok],
        config: DistributorConfig {
            remote_timeout: Duration::from_secs(30),
            ..DistributorConfig::default()
        },
        ..Setup::default()
    }
    .build();
    let started = Instant::now();
    let (status, _, body) = send(&router, v1_request(&two_series())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for the hanging ingester"
    );
}

#[tokio::test]
async fn invalid_series_is_reported_and_the_valid_one_still_written() {
    let (router, ingesters) = Setup::default().build();
    let now = now_ms();
    let valid = series(&[("__name__", "up"), ("job", "api")], &[(now, 1.0)]);
    let invalid = series(&[("__name__", "0bad"), ("job", "api")], &[(now, 1.0)]);
    let (status, _, body) = send(&router, v1_request(&[invalid, valid.clone()])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("err-sextant-metric-name-invalid"), "{body}");
    assert!(body.contains("0bad"), "{body}");
    for addr in ADDRS {
        assert_eq!(ingesters.series_at(addr), vec![owned(&valid)], "{addr}");
    }
}

#[tokio::test]
async fn rate_limit_answers_429_naming_the_limit() {
    let (router, ingesters) = Setup {
        limits: TenantLimits {
            ingestion_rate: 1.0,
            ingestion_burst_size: 1,
            ..TenantLimits::default()
        },
        ..Setup::default()
    }
    .build();
    let one = [series(&[("__name__", "up")], &[(now_ms(), 1.0)])];
    let (status, _, body) = send(&router, v1_request(&one)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(ingesters.push_count(), 3);
    let (status, _, body) = send(&router, v1_request(&one)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("ingestion_rate"), "{body}");
    assert!(
        body.contains("err-sextant-tenant-max-ingestion-rate"),
        "{body}"
    );
    assert_eq!(
        ingesters.push_count(),
        3,
        "a limited push must not be forwarded"
    );
}

#[tokio::test]
async fn remote_write_2_reports_what_was_written() {
    let (router, ingesters) = Setup::default().build();
    let now = now_ms();
    let request = write_v2::Request {
        symbols: ["", "__name__", "up", "job", "api"]
            .map(String::from)
            .to_vec(),
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: (0..3)
                .map(|i| write_v2::Sample {
                    value: i as f64,
                    timestamp: now - 3 + i,
                })
                .collect(),
            ..Default::default()
        }],
    };
    let body = compress(&request.encode_to_vec());
    let (status, headers, body) = send(&router, push_request(V2_CONTENT_TYPE, body, None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("x-prometheus-remote-write-samples-written"), "3");
    assert_eq!(header("x-prometheus-remote-write-histograms-written"), "0");
    let want = series(
        &[("__name__", "up"), ("job", "api")],
        &[(now - 3, 0.0), (now - 2, 1.0), (now - 1, 2.0)],
    );
    for addr in ADDRS {
        assert_eq!(ingesters.series_at(addr), vec![owned(&want)], "{addr}");
    }
}

#[tokio::test]
async fn remote_write_2_partial_write_reports_the_written_part() {
    let (router, _ingesters) = Setup::default().build();
    let now = now_ms();
    let series = |name_ref: u32| write_v2::TimeSeries {
        labels_refs: vec![1, name_ref],
        samples: (0..3)
            .map(|i| write_v2::Sample {
                value: i as f64,
                timestamp: now - 3 + i,
            })
            .collect(),
        ..Default::default()
    };
    let request = write_v2::Request {
        symbols: ["", "__name__", "up", "0bad"].map(String::from).to_vec(),
        timeseries: vec![series(2), series(3)],
    };
    let body = compress(&request.encode_to_vec());
    let (status, headers, body) = send(&router, push_request(V2_CONTENT_TYPE, body, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let written = headers
        .get("x-prometheus-remote-write-samples-written")
        .and_then(|v| v.to_str().ok());
    assert_eq!(written, Some("3"), "the valid series was written: {body}");
}

#[tokio::test]
async fn tenant_comes_from_the_org_id_header_when_multitenant() {
    let (router, ingesters) = Setup {
        multitenancy: true,
        ..Setup::default()
    }
    .build();
    let body = v1_body(&two_series());
    let (status, _, _) = send(
        &router,
        push_request("application/x-protobuf", body.clone(), None),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(ingesters.push_count(), 0);
    let (status, _, body) = send(
        &router,
        push_request("application/x-protobuf", body, Some("team-a")),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(ingesters.tenants(), vec!["team-a".to_string(); 3]);
}

#[tokio::test]
async fn bad_requests_are_refused_before_forwarding() {
    let small = DistributorConfig {
        max_recv_msg_size: 16,
        ..DistributorConfig::default()
    };
    let body = v1_body(&two_series());
    assert!(body.len() > 16);
    // (name, config, content type, body, status, body must contain)
    let cases = [
        (
            "wrong content type",
            DistributorConfig::default(),
            "text/plain",
            body.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "body over max_recv_msg_size",
            small,
            "application/x-protobuf",
            body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "max_recv_msg_size",
        ),
        (
            "not snappy",
            DistributorConfig::default(),
            "application/x-protobuf",
            b"definitely not snappy".to_vec(),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
    ];
    for (name, config, content_type, body, want_status, want_body) in cases {
        let (router, ingesters) = Setup {
            config,
            ..Setup::default()
        }
        .build();
        let (status, _, text) = send(&router, push_request(content_type, body, None)).await;
        assert_eq!(status, want_status, "{name}: {text}");
        assert!(text.contains(want_body), "{name}: {text}");
        assert_eq!(ingesters.push_count(), 0, "{name}");
    }
}

#[test]
fn shard_token_is_stable_and_depends_on_tenant_and_labels() {
    let a = TenantId::parse("a").unwrap();
    let b = TenantId::parse("b").unwrap();
    let labels = |job: &'static str| {
        vec![
            LabelRef {
                name: "__name__",
                value: "up",
            },
            LabelRef {
                name: "job",
                value: job,
            },
        ]
    };
    let token = shard_token(&a, &labels("api"));
    assert_eq!(token, shard_token(&a, &labels("api")));
    assert_ne!(token, shard_token(&b, &labels("api")));
    assert_ne!(token, shard_token(&a, &labels("web")));
    // Label boundaries count: `ab=c` is not `a=bc`.
    let split = |n: &'static str, v: &'static str| [LabelRef { name: n, value: v }];
    assert_ne!(
        shard_token(&a, &split("ab", "c")),
        shard_token(&a, &split("a", "bc"))
    );
}
