//! The closed set of error kinds. Every crate's error enum maps onto one of these, and `kit`
//! maps a kind onto an HTTP status and a gRPC code in exactly one place.

/// What went wrong, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or violates a validation rule (HTTP 400).
    BadRequest,
    /// No tenant (or an invalid one) where one is required (HTTP 401).
    Unauthorized,
    /// The thing asked for does not exist (HTTP 404).
    NotFound,
    /// The body is larger than a configured limit (HTTP 413).
    PayloadTooLarge,
    /// Wrong `Content-Type` or `Content-Encoding` (HTTP 415).
    UnsupportedMediaType,
    /// The request is well-formed but cannot be carried out, e.g. a query that fails during
    /// evaluation (HTTP 422, Prometheus's `execution` error).
    Unprocessable,
    /// A per-tenant limit was hit; retrying later may succeed (HTTP 429).
    TooManyRequests,
    /// Not enough healthy replicas or the component is not ready (HTTP 503).
    Unavailable,
    /// A bug or an I/O failure on our side (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Unprocessable => 422,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// Whether a client should retry the same request later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::TooManyRequests | ErrorKind::Unavailable | ErrorKind::Internal
        )
    }
}
