//! OTLP traces over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, served
//! on `distributor.otlp_grpc_listen_address` beside `LogsService` (see
//! [`crate::DistributorOtlpGrpcServer`]).
//!
//! The request is already decoded by tonic, so it goes straight to the CPU half as
//! [`TracesPushInput::OtlpRequest`]: the same validation, limits and replication as
//! `POST /v1/traces`. The tenant comes from the `x-scope-orgid` metadata, with the rules of
//! the HTTP header. Answers:
//! - written: an `ExportTraceServiceResponse`, with `partial_success` when spans were refused;
//! - nothing valid: `InvalidArgument` naming the field;
//! - rate limited or live traces exceeded: `ResourceExhausted` with a `google.rpc.RetryInfo`
//!   detail (exporters retry throttled requests only when it is there);
//! - a replica set missed its quorum: `Unavailable` (retryable);
//! - no or a bad tenant: `Unauthenticated`.

use std::sync::Arc;

use sextant_proto::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use sextant_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{TracesDistributor, TracesPushInput, TracesPushReport};
use crate::otlp_export::{export_tenant, grpc_status};

impl TracesDistributor {
    /// The OTLP `TraceService` over gRPC. Accepts gzip-compressed requests; a message larger
    /// than `distributor.max_recv_msg_size` (compressed or not) is refused by tonic with
    /// `OutOfRange`.
    pub fn otlp_grpc_service(self: Arc<Self>) -> TraceServiceServer<DistributorOtlpTracesService> {
        let limit = self.config.max_recv_msg_size;
        TraceServiceServer::new(DistributorOtlpTracesService { distributor: self })
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit)
    }
}

/// The `TraceService` implementation over a [`TracesDistributor`].
pub struct DistributorOtlpTracesService {
    distributor: Arc<TracesDistributor>,
}

#[tonic::async_trait]
impl TraceService for DistributorOtlpTracesService {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let tenant = export_tenant(&self.distributor.tenants, &request)?;
        let input = TracesPushInput::OtlpRequest(request.into_inner());
        let report = self.distributor.push_traces(&tenant, input).await;
        export_answer(report).map(Response::new)
    }
}

/// The gRPC answer of a push.
fn export_answer(report: TracesPushReport) -> Result<ExportTraceServiceResponse, Status> {
    match report.error {
        None => Ok(ExportTraceServiceResponse {
            partial_success: report.partial_success,
        }),
        Some(error) => Err(grpc_status(&error)),
    }
}

#[cfg(test)]
mod tests;
