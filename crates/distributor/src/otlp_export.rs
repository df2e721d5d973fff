//! What the OTLP gRPC `Export` services of every signal share: the tenant from the request
//! metadata (the rules of the `X-Scope-OrgID` header, `Unauthenticated` otherwise) and the
//! status of a failed push with the codes the OTLP specification gives:
//! - rate limited: `ResourceExhausted` with a `google.rpc.RetryInfo` detail (exporters retry
//!   throttled requests only when it is there);
//! - a replica set missed its quorum: `Unavailable` (retryable);
//! - otherwise the code of the error's kind.

use prost::Message;
use sextant_kit::tenant::TenantResolver;
use sextant_model::{ErrorKind, TenantId};
use tonic::{Request, Status};

use crate::error::DistributorError;
use crate::push_common::QUORUM_FAILURE_ID;

/// How long a throttled exporter is told to wait before retrying (the byte-rate token bucket
/// refills continuously, so a second is enough to make progress).
const RETRY_DELAY_SECONDS: i64 = 1;

/// The tenant of an export, from its `x-scope-orgid` metadata.
pub(crate) fn export_tenant<T>(
    tenants: &TenantResolver,
    request: &Request<T>,
) -> Result<TenantId, Status> {
    let headers = request.metadata().clone().into_headers();
    tenants
        .resolve(&headers)
        .map_err(|e| Status::unauthenticated(e.to_string()))
}

/// The gRPC status of a failed push, with the codes the OTLP specification gives.
pub(crate) fn grpc_status(error: &DistributorError) -> Status {
    let message = sextant_kit::error::ApiError::from(error.clone()).to_string();
    match error.kind {
        ErrorKind::TooManyRequests => throttled(message),
        ErrorKind::Internal if error.id == Some(QUORUM_FAILURE_ID) => Status::unavailable(message),
        kind => Status::new(sextant_kit::error::grpc_code(kind), message),
    }
}

/// `google.rpc.Status`, as carried in the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<prost_types::Duration>,
}

pub(crate) const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `ResourceExhausted` with a `RetryInfo` detail asking to retry after [`RETRY_DELAY_SECONDS`].
fn throttled(message: String) -> Status {
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
mod tests {
    use super::*;

    #[test]
    fn failed_pushes_map_to_otlp_codes() {
        let quorum = |kind| DistributorError::with_id(kind, QUORUM_FAILURE_ID, "q");
        let cases = [
            (
                DistributorError::new(ErrorKind::BadRequest, "bad"),
                tonic::Code::InvalidArgument,
            ),
            (quorum(ErrorKind::Internal), tonic::Code::Unavailable),
            (quorum(ErrorKind::Unavailable), tonic::Code::Unavailable),
            (
                DistributorError::new(ErrorKind::Internal, "x"),
                tonic::Code::Internal,
            ),
            (
                DistributorError::new(ErrorKind::TooManyRequests, "slow"),
                tonic::Code::ResourceExhausted,
            ),
        ];
        for (error, want) in cases {
            let status = grpc_status(&error);
            assert_eq!(status.code(), want, "{error:?}");
            let throttled = want == tonic::Code::ResourceExhausted;
            assert_eq!(!status.details().is_empty(), throttled, "{error:?}");
        }
    }
}
