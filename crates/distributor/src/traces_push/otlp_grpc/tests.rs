//! OTLP traces over gRPC through a real listener and the generated tonic client, against the
//! scripted in-memory ingesters of the HTTP tests.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use sextant_kit::service::Service;
use sextant_model::TenantLimits;
use sextant_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use sextant_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::Code;

use crate::test_support::{assert_export, start_otlp_server, with_org, Want};
use crate::traces_push::tests::{addr, request, span, two_traces, Behaviour, FakeIngesters, Setup};
use crate::DistributorOtlpGrpcServer;

/// A started OTLP gRPC server over the distributor `setup` builds, and a client of it.
struct Served {
    client: TraceServiceClient<Channel>,
    ingesters: Arc<FakeIngesters>,
    server: DistributorOtlpGrpcServer,
}

async fn serve(setup: Setup) -> Served {
    let (distributor, ingesters) = setup.distributor(&mut Registry::default());
    let routes = Routes::new(distributor.otlp_grpc_service());
    let (server, endpoint) = start_otlp_server(routes).await;
    let client = TraceServiceClient::connect(endpoint).await.unwrap();
    Served {
        client,
        ingesters,
        server,
    }
}

#[tokio::test]
async fn export_writes_every_trace_on_every_replica_gzip_or_not() {
    for gzip in [false, true] {
        let mut served = serve(Setup::default()).await;
        if gzip {
            served.client = served
                .client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let response = served.client.export(two_traces()).await.unwrap();
        assert_eq!(response.into_inner(), ExportTraceServiceResponse::default());
        for i in 1..=3 {
            let got = served.ingesters.traces_at(&addr(i));
            assert_eq!(got.len(), 2, "gzip={gzip}: ingester {i}: {got:?}");
            assert_eq!(got.values().map(Vec::len).sum::<usize>(), 4, "gzip={gzip}");
        }
        served.server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn failures_map_to_the_otlp_answers() {
    let throttled = {
        let mut limits = TenantLimits::default();
        limits.traces.ingestion_rate_limit_bytes = 1;
        limits.traces.ingestion_burst_size_bytes = 1;
        limits
    };
    let mut bad = span(2, 9, "bad");
    bad.span_id.clear();
    let some_bad = request(&[("checkout", vec![span(1, 1, "good"), bad.clone()])]);
    let all_bad = request(&[("checkout", vec![bad])]);
    let down = Behaviour::Fail(Code::Unavailable, "connection refused");
    let live = Behaviour::Refuse(
        "max_traces_per_user",
        "LIVE_TRACES_EXCEEDED: max live traces per tenant exceeded (max_traces_per_user)",
    );
    let setup = |behaviour: Vec<Behaviour>, limits: TenantLimits, multitenancy: bool| Setup {
        behaviour,
        limits,
        multitenancy,
        ..Setup::default()
    };
    let defaults = TenantLimits::default;
    // (name, setup, request, org id, answer)
    let cases = vec![
        (
            "an invalid span",
            setup(vec![], defaults(), false),
            some_bad,
            None,
            Want::Partial {
                rejected: 1,
                message: "spans[1].spanId: span ID is empty",
            },
        ),
        (
            "no valid span",
            setup(vec![], defaults(), false),
            all_bad,
            None,
            Want::Status(Code::InvalidArgument, "no valid span in the request"),
        ),
        (
            "rate limited",
            setup(vec![], throttled, false),
            two_traces(),
            None,
            Want::Status(Code::ResourceExhausted, "ingestion_rate_limit_bytes"),
        ),
        (
            "live traces exceeded",
            setup(vec![live, live], defaults(), false),
            two_traces(),
            None,
            Want::Status(Code::ResourceExhausted, "(max_traces_per_user)"),
        ),
        (
            "quorum missed",
            setup(vec![down, down], defaults(), false),
            two_traces(),
            None,
            Want::Status(Code::Unavailable, "failed to reach a quorum of ingesters"),
        ),
        (
            "no org id when multitenant",
            setup(vec![], defaults(), true),
            two_traces(),
            None,
            Want::Status(Code::Unauthenticated, "no org id"),
        ),
        (
            "an org id when multitenant",
            setup(vec![], defaults(), true),
            two_traces(),
            Some("team-a"),
            Want::Partial {
                rejected: 0,
                message: "",
            },
        ),
    ];
    for (name, setup, message, org, want) in cases {
        let mut served = serve(setup).await;
        let answer = served.client.export(with_org(message, org)).await;
        assert_export(name, answer, &want, |response| {
            let partial = response.partial_success.unwrap_or_default();
            (partial.rejected_spans, partial.error_message)
        });
        served.server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn messages_over_max_recv_msg_size_are_refused() {
    let mut served = serve(Setup {
        config: crate::DistributorConfig {
            max_recv_msg_size: 256,
            ..Setup::default().config
        },
        ..Setup::default()
    })
    .await;
    let big = request(&[("checkout", (1..=20).map(|n| span(1, n, "x")).collect())]);
    let status = served.client.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(served.ingesters.push_count(), 0);
    served.server.stop().await.unwrap();
}
