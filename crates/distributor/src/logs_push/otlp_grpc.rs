//! OTLP logs over gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export`, served on
//! `distributor.otlp_grpc_listen_address` (see [`crate::DistributorOtlpGrpcServer`]).
//!
//! The request is already decoded by tonic, so it goes straight to the CPU half as
//! [`LogsPushInput::OtlpRequest`]: the same mapping, validation, limits and replication as
//! `POST /otlp/v1/logs`. The tenant comes from the `x-scope-orgid` metadata, with the rules of
//! the HTTP header. Answers follow the OTLP specification:
//! - all written: an empty `ExportLogsServiceResponse`;
//! - some records refused, the rest written: OK with `partial_success` (the number of records
//!   validation refused and the rejection messages);
//! - nothing written because the data is invalid: `InvalidArgument` with the messages;
//! - rate limited: `ResourceExhausted` with a `google.rpc.RetryInfo` detail (exporters retry
//!   throttled requests only when it is there);
//! - a replica set missed its quorum: `Unavailable` (retryable);
//! - no or a bad tenant: `Unauthenticated`.

use std::sync::Arc;

use sextant_model::ErrorKind;
use sextant_proto::otlp::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use sextant_proto::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{LogsDistributor, LogsPushInput, LogsPushReport};
use crate::otlp_export::{export_tenant, grpc_status};

impl LogsDistributor {
    /// The OTLP `LogsService` over gRPC. Accepts gzip-compressed requests; a message larger
    /// than `distributor.max_recv_msg_size` (compressed or not) is refused by tonic with
    /// `OutOfRange`.
    pub fn otlp_grpc_service(self: Arc<Self>) -> LogsServiceServer<DistributorOtlpLogsService> {
        let limit = self.config.max_recv_msg_size;
        LogsServiceServer::new(DistributorOtlpLogsService { distributor: self })
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit)
    }
}

/// The `LogsService` implementation over a [`LogsDistributor`].
pub struct DistributorOtlpLogsService {
    distributor: Arc<LogsDistributor>,
}

#[tonic::async_trait]
impl LogsService for DistributorOtlpLogsService {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let tenant = export_tenant(&self.distributor.tenants, &request)?;
        let request = request.into_inner();
        let records = log_record_count(&request);
        let report = self
            .distributor
            .push_logs(&tenant, LogsPushInput::OtlpRequest(request))
            .await;
        export_answer(records, report).map(Response::new)
    }
}

/// The log records of a request, across resources and scopes.
fn log_record_count(request: &ExportLogsServiceRequest) -> u64 {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// The gRPC answer of a push of `records` log records.
fn export_answer(
    records: u64,
    report: LogsPushReport,
) -> Result<ExportLogsServiceResponse, Status> {
    let Some(error) = report.error else {
        return Ok(ExportLogsServiceResponse::default());
    };
    if error.kind == ErrorKind::BadRequest && report.written.entries > 0 {
        // Entries refused by an ingester (e.g. too far behind) were counted as written by
        // validation, so the count is of the records validation refused.
        let rejected = records.saturating_sub(report.written.entries);
        return Ok(ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: error.message,
            }),
        });
    }
    Err(grpc_status(&error))
}

#[cfg(test)]
mod tests;
