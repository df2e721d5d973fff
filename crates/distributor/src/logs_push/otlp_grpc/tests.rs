//! OTLP logs over gRPC through a real listener and the generated tonic client, against the
//! scripted in-memory ingesters of the HTTP tests.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use sextant_kit::service::Service;
use sextant_model::TenantLimits;
use sextant_proto::otlp::collector::logs::v1::logs_service_client::LogsServiceClient;
use sextant_proto::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use sextant_proto::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sextant_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sextant_proto::otlp::resource::v1::Resource;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::Code;

use crate::logs_push::tests::{Behaviour, FakeIngesters, Setup};
use crate::logs_push::{now_ns, MIB};
use crate::otlp_export::{RetryInfo, RpcStatus, RETRY_INFO_TYPE_URL};
use crate::test_support::{assert_export, start_otlp_server, with_org, Want};
use crate::{DistributorConfig, DistributorOtlpGrpcServer};

/// A started OTLP gRPC server over the distributor `setup` builds, and a client of it.
struct Served {
    client: LogsServiceClient<Channel>,
    ingesters: Arc<FakeIngesters>,
    server: DistributorOtlpGrpcServer,
}

async fn serve(setup: Setup) -> Served {
    let (distributor, ingesters) = setup.distributor();
    let routes = Routes::new(distributor.otlp_grpc_service());
    let (server, endpoint) = start_otlp_server(routes).await;
    let client = LogsServiceClient::connect(endpoint).await.unwrap();
    Served {
        client,
        ingesters,
        server,
    }
}

fn string(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    })
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: string(value),
        ..KeyValue::default()
    }
}

/// One resource (`service.name=checkout`, `k8s.namespace.name=shop`, `host.name=h1`) with one
/// scope holding a record per body.
fn request(bodies: &[&str]) -> ExportLogsServiceRequest {
    let now = now_ns() as u64;
    let log_records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| LogRecord {
            time_unix_nano: now + i as u64,
            body: string(body),
            severity_text: "INFO".to_string(),
            attributes: vec![attribute("user.id", "alice")],
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            ..LogRecord::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    attribute("service.name", "checkout"),
                    attribute("k8s.namespace.name", "shop"),
                    attribute("host.name", "h1"),
                ],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "orders".to_string(),
                    ..InstrumentationScope::default()
                }),
                log_records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

#[tokio::test]
async fn export_writes_records_with_labels_and_metadata_on_every_replica() {
    let mut served = serve(Setup::default()).await;
    let response = served
        .client
        .export(request(&["order placed", "order paid"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response, ExportLogsServiceResponse::default());
    let received = served.ingesters.received.lock().clone();
    assert_eq!(received.len(), 3, "one push per replica");
    for (at, push) in received {
        let batch = sextant_logs::push::batch_from_push_request(push.push.unwrap()).unwrap();
        assert_eq!(batch.streams.len(), 1, "{at}");
        let stream = &batch.streams[0];
        assert_eq!(
            stream.labels.to_string(),
            r#"{k8s_namespace_name="shop", service_name="checkout"}"#,
            "{at}"
        );
        let lines: Vec<&str> = stream.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["order placed", "order paid"], "{at}");
        let metadata = &stream.entries[0].metadata;
        for (name, value) in [
            ("host_name", "h1"),
            ("scope_name", "orders"),
            ("user_id", "alice"),
            ("severity_text", "INFO"),
            ("trace_id", "abababababababababababababababab"),
            ("span_id", "cdcdcdcdcdcdcdcd"),
        ] {
            assert_eq!(
                metadata.get(name),
                Some(value),
                "{at}: {name} in {metadata}"
            );
        }
    }
    served.server.stop().await.unwrap();
}

/// A case of the failure table: name, setup, record bodies, org id, answer.
type Case<'a> = (&'a str, Setup, Vec<&'a str>, Option<&'a str>, Want);

#[tokio::test]
async fn failures_map_to_the_otlp_answers() {
    let long = "x".repeat(64);
    let short_lines = {
        let mut limits = TenantLimits::default();
        limits.logs.max_line_size = 32;
        limits
    };
    let throttled = {
        let mut limits = TenantLimits::default();
        limits.logs.ingestion_rate_mb = 1.0 / MIB;
        limits.logs.ingestion_burst_size_mb = 1.0 / MIB;
        limits
    };
    let down = Behaviour::Fail(Code::Unavailable, "connection refused");
    let cases: Vec<Case<'_>> = vec![
        (
            "one record too long",
            Setup {
                limits: short_lines.clone(),
                ..Setup::default()
            },
            vec!["fits", &long],
            None,
            Want::Partial {
                rejected: 1,
                message: "Max entry size '32' bytes exceeded",
            },
        ),
        (
            "every record too long",
            Setup {
                limits: short_lines,
                ..Setup::default()
            },
            vec![&long, &long],
            None,
            Want::Status(Code::InvalidArgument, "Max entry size '32' bytes exceeded"),
        ),
        (
            "rate limited",
            Setup {
                limits: throttled,
                ..Setup::default()
            },
            vec!["more than a byte"],
            None,
            Want::Status(Code::ResourceExhausted, "Ingestion rate limit exceeded"),
        ),
        (
            "quorum missed",
            Setup {
                behaviour: vec![down, down],
                ..Setup::default()
            },
            vec!["order placed"],
            None,
            Want::Status(Code::Unavailable, "failed to reach a quorum of ingesters"),
        ),
        (
            "no org id when multitenant",
            Setup {
                multitenancy: true,
                ..Setup::default()
            },
            vec!["order placed"],
            None,
            Want::Status(
                Code::Unauthenticated,
                "no org id: set the X-Scope-OrgID header",
            ),
        ),
        (
            "invalid org id",
            Setup {
                multitenancy: true,
                ..Setup::default()
            },
            vec!["order placed"],
            Some("a/b"),
            Want::Status(Code::Unauthenticated, "invalid X-Scope-OrgID header"),
        ),
    ];
    for (name, setup, bodies, org, want) in cases {
        let mut served = serve(setup).await;
        let answer = served.client.export(with_org(request(&bodies), org)).await;
        assert_export(name, answer, &want, |response| {
            let partial = response.partial_success.unwrap_or_default();
            (partial.rejected_log_records, partial.error_message)
        });
        served.server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn throttled_exports_carry_retry_info() {
    let mut limits = TenantLimits::default();
    limits.logs.ingestion_rate_mb = 1.0 / MIB;
    limits.logs.ingestion_burst_size_mb = 1.0 / MIB;
    let mut served = serve(Setup {
        limits,
        ..Setup::default()
    })
    .await;
    let status = served
        .client
        .export(request(&["more than a byte"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let details = RpcStatus::decode(status.details()).unwrap();
    assert_eq!(details.code, Code::ResourceExhausted as i32);
    assert_eq!(details.details.len(), 1);
    assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE_URL);
    let retry = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
    let delay = retry.retry_delay.unwrap();
    assert_eq!((delay.seconds, delay.nanos), (1, 0));
    assert_eq!(
        served.ingesters.push_count(),
        0,
        "a limited push is not forwarded"
    );
}

#[tokio::test]
async fn tenant_comes_from_the_org_id_metadata() {
    let mut served = serve(Setup {
        multitenancy: true,
        ..Setup::default()
    })
    .await;
    served
        .client
        .export(with_org(request(&["order placed"]), Some("team-a")))
        .await
        .unwrap();
    assert_eq!(served.ingesters.tenants(), vec!["team-a".to_string(); 3]);
}

#[tokio::test]
async fn gzip_requests_are_accepted() {
    let served = serve(Setup::default()).await;
    let mut client = served.client.send_compressed(CompressionEncoding::Gzip);
    let response = client.export(request(&["order placed"])).await.unwrap();
    assert_eq!(
        response.into_inner().partial_success,
        None::<ExportLogsPartialSuccess>
    );
    assert_eq!(served.ingesters.push_count(), 3);
}

#[tokio::test]
async fn messages_over_max_recv_msg_size_are_refused() {
    let mut served = serve(Setup {
        config: DistributorConfig {
            max_recv_msg_size: 1024,
            remote_timeout: Duration::from_millis(200),
            ..DistributorConfig::default()
        },
        ..Setup::default()
    })
    .await;
    let big = "y".repeat(4096);
    let status = served.client.export(request(&[&big])).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("the limit is: 1024 bytes"),
        "{status:?}"
    );
    assert_eq!(served.ingesters.push_count(), 0);
}

#[tokio::test]
async fn a_taken_address_fails_the_start_naming_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let (distributor, _) = Setup::default().distributor();
    let server = DistributorOtlpGrpcServer::new(
        "otlp-grpc",
        at.clone(),
        Routes::new(distributor.otlp_grpc_service()),
    );
    let error = server.start().await.unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "distributor.otlp_grpc_listen_address: cannot listen on {at}"
        )),
        "{error}"
    );
    assert!(server.stop().await.is_ok(), "stop after a failed start");
}

#[tokio::test]
async fn stop_closes_the_listener() {
    let served = serve(Setup::default()).await;
    let local = served.server.local_addr().unwrap();
    served.server.stop().await.unwrap();
    let refused = tokio::net::TcpStream::connect(local).await;
    assert!(refused.is_err(), "still listening on {local}");
    assert!(
        served.server.start().await.is_err(),
        "a stopped server does not start again"
    );
}
