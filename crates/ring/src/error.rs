//! The crate's error enum and its mapping onto [`sextant_model::ErrorKind`].

use sextant_model::ErrorKind;

/// Everything that can go wrong in rings and gossip.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// The ring has no instance that could own a key.
    #[error("ring is empty")]
    EmptyRing,
    /// Fewer healthy instances than the quorum needs.
    #[error("too many unhealthy instances in the ring: {healthy} healthy of {wanted} wanted, quorum is {quorum}")]
    TooManyUnhealthy {
        /// Healthy instances found.
        healthy: usize,
        /// Instances wanted (the replication factor).
        wanted: usize,
        /// Minimum number of healthy instances.
        quorum: usize,
    },
    /// A gossip message or a tokens file could not be decoded.
    #[error("decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid ring config: {0}")]
    Config(String),
    /// The gossip transport failed.
    #[error("gossip: {0}")]
    Gossip(String),
    /// A file (tokens file) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl RingError {
    /// The error kind, for HTTP and gRPC status mapping.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RingError::EmptyRing | RingError::TooManyUnhealthy { .. } => ErrorKind::Unavailable,
            RingError::Config(_) => ErrorKind::BadRequest,
            RingError::Decode { .. } | RingError::Gossip(_) | RingError::Io { .. } => {
                ErrorKind::Internal
            }
        }
    }

    pub(crate) fn decode(what: &'static str, reason: impl ToString) -> Self {
        RingError::Decode {
            what,
            reason: reason.to_string(),
        }
    }
}
