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

use prost::Message;
use sextant_model::ErrorKind;
use sextant_proto::otlp::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use sextant_proto::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{LogsDistributor, LogsPushInput, LogsPushReport, QUORUM_FAILURE_ID};
use crate::error::DistributorError;

/// How long a throttled exporter is told to wait before retrying (the byte-rate token bucket
/// refills continuously, so a second is enough to make progress).
const RETRY_DELAY_SECONDS: i64 = 1;

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
        let headers = request.metadata().clone().into_headers();
        let tenant = self
            .distributor
            .tenants
            .resolve(&headers)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
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

/// The gRPC status of a failed push, with the codes the OTLP specification gives.
fn grpc_status(error: &DistributorError) -> Status {
    let message = sextant_kit::error::ApiError::from(error.clone()).to_string();
    match error.kind {
        ErrorKind::TooManyRequests => throttled(message),
        ErrorKind::Internal if error.id == Some(QUORUM_FAILURE_ID) => Status::unavailable(message),
        kind => Status::new(sextant_kit::error::grpc_code(kind), message),
    }
}

/// `google.rpc.Status`, as carried in the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `ResourceExhausted` with a `RetryInfo` detail asking to retry after [`RETRY_DELAY_SECONDS`].
pub(crate) fn throttled(message: String) -> Status {
    let code = tonic::Code::ResourceExhausted;
    let retry = RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: RETRY_DELAY_SECONDS,
            nanos: 0,
        }),
    };
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: RETRY_INFO_TYPE_URL.to_string(),
            value: retry.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

#[cfg(test)]
mod tests;
