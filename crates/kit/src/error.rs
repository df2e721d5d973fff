//! The one place where an [`ErrorKind`] becomes an HTTP status or a gRPC code, and back.

use std::fmt;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sextant_model::ErrorKind;

/// An error as a client sees it: a kind (the status), an optional stable id and a message that
/// says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// Stable identifier of a user-facing rejection, e.g. `err-sextant-max-label-names-per-series`.
    pub id: Option<&'static str>,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            id: None,
            message: message.into(),
        }
    }

    pub fn with_id(mut self, id: &'static str) -> Self {
        self.id = Some(id);
        self
    }
}

/// The message, followed by ` (<id>)` when the error has an id the message does not already
/// carry (Mimir-style messages name their id inline, before the advice).
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match self.id {
            Some(id) if !self.message.contains(id) => write!(f, " ({id})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> Self {
        tonic::Status::new(grpc_code(err.kind), err.to_string())
    }
}

/// A gRPC status from another component, seen as an API error (its message kept as is).
impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        ApiError::new(kind_from_grpc(status.code()), status.message())
    }
}

/// The gRPC code of a kind. Distinct kinds get distinct codes, so the kind survives a hop.
pub fn grpc_code(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::BadRequest => tonic::Code::InvalidArgument,
        ErrorKind::Unauthorized => tonic::Code::Unauthenticated,
        ErrorKind::NotFound => tonic::Code::NotFound,
        // gRPC has no "too large"; OutOfRange is otherwise unused here.
        ErrorKind::PayloadTooLarge => tonic::Code::OutOfRange,
        ErrorKind::UnsupportedMediaType => tonic::Code::FailedPrecondition,
        ErrorKind::Unprocessable => tonic::Code::Aborted,
        ErrorKind::TooManyRequests => tonic::Code::ResourceExhausted,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Internal => tonic::Code::Internal,
    }
}

/// The kind of a gRPC code; codes Sextant never sends map to the closest kind.
pub fn kind_from_grpc(code: tonic::Code) -> ErrorKind {
    use tonic::Code;
    match code {
        Code::InvalidArgument | Code::AlreadyExists => ErrorKind::BadRequest,
        Code::Unauthenticated | Code::PermissionDenied => ErrorKind::Unauthorized,
        Code::NotFound => ErrorKind::NotFound,
        Code::OutOfRange => ErrorKind::PayloadTooLarge,
        Code::FailedPrecondition => ErrorKind::UnsupportedMediaType,
        Code::ResourceExhausted => ErrorKind::TooManyRequests,
        Code::Aborted => ErrorKind::Unprocessable,
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => ErrorKind::Unavailable,
        Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
            ErrorKind::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    const KINDS: [(ErrorKind, Code, u16); 9] = [
        (ErrorKind::BadRequest, Code::InvalidArgument, 400),
        (ErrorKind::Unauthorized, Code::Unauthenticated, 401),
        (ErrorKind::NotFound, Code::NotFound, 404),
        (ErrorKind::PayloadTooLarge, Code::OutOfRange, 413),
        (
            ErrorKind::UnsupportedMediaType,
            Code::FailedPrecondition,
            415,
        ),
        (ErrorKind::Unprocessable, Code::Aborted, 422),
        (ErrorKind::TooManyRequests, Code::ResourceExhausted, 429),
        (ErrorKind::Unavailable, Code::Unavailable, 503),
        (ErrorKind::Internal, Code::Internal, 500),
    ];

    #[test]
    fn kind_to_code_and_back() {
        for (kind, code, _) in KINDS {
            assert_eq!(grpc_code(kind), code, "{kind:?}");
            assert_eq!(kind_from_grpc(code), kind, "{code:?}");
        }
    }

    #[test]
    fn foreign_codes() {
        let cases = [
            (Code::DeadlineExceeded, ErrorKind::Unavailable),
            (Code::Cancelled, ErrorKind::Unavailable),
            (Code::PermissionDenied, ErrorKind::Unauthorized),
            (Code::Unknown, ErrorKind::Internal),
            (Code::Unimplemented, ErrorKind::Internal),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_from_grpc(code), kind, "{code:?}");
        }
    }

    #[tokio::test]
    async fn http_response() {
        for (kind, _, status) in KINDS {
            let resp = ApiError::new(kind, "bad thing").into_response();
            assert_eq!(resp.status().as_u16(), status);
        }
        let resp = ApiError::new(ErrorKind::BadRequest, "too many labels")
            .with_id("err-sextant-max-label-names")
            .into_response();
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"too many labels (err-sextant-max-label-names)");
        // an id already named in the message is not repeated
        let inline = ApiError::new(ErrorKind::BadRequest, "x (err-sextant-a). Raise it.")
            .with_id("err-sextant-a");
        assert_eq!(inline.to_string(), "x (err-sextant-a). Raise it.");
    }

    #[test]
    fn grpc_status_round_trip() {
        let status: tonic::Status = ApiError::new(ErrorKind::TooManyRequests, "slow down").into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let back = ApiError::from(status);
        assert_eq!(back, ApiError::new(ErrorKind::TooManyRequests, "slow down"));
    }
}
